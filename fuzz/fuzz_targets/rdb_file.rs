//! Fuzzes the RDB file reader (`persist::rdb::RdbReader`); see `restore::check_rdb_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::restore::check_rdb_file(data));
