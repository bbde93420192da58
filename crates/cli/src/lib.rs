//! The library half of `redoxide-cli`, our drop-in for Redis 7.0.15's `redis-cli`.
//!
//! It owns: the client side of the wire (`reply`: RESP2/RESP3 replies read into a typed [`Reply`],
//! with hiredis's error texts; `client`: a blocking TCP connection that sends a command and reads its
//! reply), the output formats of redis-cli (`format`: pure functions from a reply to the exact bytes
//! redis-cli prints in its tty, raw and CSV modes) and the command line (`options`). The binary
//! (`main.rs`) wires these to stdin/stdout; `cluster`: redis-cli's `--cluster` manager, on top of `client`.
//! The interactive prompt: `help` (the COMMAND DOCS help table, hints, completions), `prompt` (the
//! loop's pure rules) and `lineedit` (the raw-mode line editor, the one module that writes to the
//! terminal itself, and only to the stream it is handed while a line is edited). `modes`: the
//! tool modes (`--scan`, `--bigkeys`, `--memkeys`, `--hotkeys`, `--stat`, `--latency*`), writing to
//! the handles the binary gives them.
//!
//! It must never: panic on anything a server sends (a malformed reply is a typed error), print from
//! the library (only the binary writes to stdout/stderr, so output stays testable), or encode requests
//! or format numbers with a second codec of its own (requests are plain multibulk; `resp` owns the
//! server-side encoder and `split_args`).

pub mod client;
pub mod cluster;
pub mod format;
pub mod help;
pub mod lineedit;
pub mod modes;
pub mod options;
pub mod prompt;
pub mod reply;

pub use client::{ClientError, Connection};
pub use reply::{parse_reply, ProtocolError, Reply};
