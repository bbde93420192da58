//! Fuzzes `resp::split_args` (inline requests, redis.conf lines); see `check_split_args`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_split_args(data));
