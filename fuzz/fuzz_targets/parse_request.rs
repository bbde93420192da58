//! Fuzzes `resp::parse_request` with random limits and split points; see `check_parse_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_parse_request(data));
