//! Fuzzes the RESTORE and FUNCTION RESTORE payload decoders (`persist::restore_payload`,
//! `persist::rdb::function_restore_payload`); see `restore::check_restore_payload`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::restore::check_restore_payload(data));
