//! Fuzzes the aclfile parser (`acl::parse_aclfile`, Redis's ACLLoadFromFile); see `check_acl_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_acl_file(data));
