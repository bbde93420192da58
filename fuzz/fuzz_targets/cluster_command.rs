//! Fuzzes CLUSTER subcommands as a client could send them (`cluster::command::cluster_command`);
//! see `check_cluster_command`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_cluster_command(data));
