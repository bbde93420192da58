//! Fuzzes the failover rules of the cluster state machine (`cluster::failover`) with
//! structured events; see `check_cluster_failover`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_cluster_failover(data));
