//! Fuzzes the AOF's manifest parser and command-stream reader (`persist::aof`); see `check_aof`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_aof(data));
