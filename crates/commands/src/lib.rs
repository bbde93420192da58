//! Commands: the table of every command Redis 7.0 has (arity, flags, key specs, docs) and the
//! implementations of the data commands, executed against the keyspace.
//!
//! A command reads its arguments, works on the tables the dispatcher locked for it, and writes
//! its reply into a [`resp::ReplyBuf`]; side effects the server must act on (blocking, waking
//! blocked clients, dirtiness) are recorded in the [`Ctx`]'s [`Effects`]. Nothing here touches
//! sockets, threads, clocks or the file system.

pub mod args;
pub mod ctx;
pub mod errors;
pub mod meta;
pub mod notify;
pub mod registry;
pub mod tree;

mod bitops;
mod dump;
mod generic;
mod geo;
pub mod geohash;
mod hash;
pub mod hll;
mod introspect;
mod list;
mod long_double;
mod set;
pub mod sort;
mod stream;
mod string;
mod zset;

pub use ctx::{
    reply_over_limit, set_reply_stop_len, set_verbose_log, BlockRequest, Ctx, DataConfig, Effects, Notification,
    Propagation,
};
pub use dump::{encode_limits, SKIP_CHECKSUM_VALIDATION};
pub use generic::{string_match, LAZYFREED_OBJECTS};
pub use introspect::redis_encoding;
pub use meta::{flag, key_positions, keys_and_flags, CommandMeta, KeysError};
pub use registry::{Entry, Handler, Kind, LookupError, Registry};
pub use tree::Tree;

/// Registers every data command group.
fn register_all(r: &mut Registry) {
    string::register(r);
    bitops::register(r);
    dump::register(r);
    generic::register(r);
    geo::register(r);
    hash::register(r);
    hll::register(r);
    introspect::register(r);
    list::register(r);
    set::register(r);
    sort::register(r);
    stream::register(r);
    zset::register(r);
}
