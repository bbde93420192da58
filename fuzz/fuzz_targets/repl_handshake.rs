//! Fuzzes the replica's parsing of the master's PSYNC reply, RDB preamble and EOF-mark search
//! (`persist::repl`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_repl_handshake(data));
