//! Fuzzes the cluster-bus codec (`cluster::bus::{frame, decode, encode}`); see `check_cluster_bus`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_cluster_bus(data));
