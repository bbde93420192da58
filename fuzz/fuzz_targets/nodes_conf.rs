//! Fuzzes the nodes.conf parser and writer (`cluster::NodesConf`); see `check_nodes_conf`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| redoxide_fuzz::check_nodes_conf(data));
