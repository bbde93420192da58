//! Redis Cluster, as a deterministic state machine, and the formats it shares with Redis 7.0.
//!
//! This crate owns the exact bytes of the cluster bus (`bus`: every Redis 7.0 message type, the
//! 2256-byte header, gossip entries, ping extensions, the framing rule for a buffered stream) and
//! the exact text of `nodes.conf` (`nodes_conf`), so that redoxide nodes and real `redis-server`
//! 7.0 nodes can form one cluster and read each other's files. `state` holds what a node knows
//! (node table, slot owners, epochs, open migrations, loaded from and saved to nodes.conf as
//! Redis does), `machine` is the cluster state machine over it (joining, gossip, failure
//! detection, cluster state, slot ownership by configEpoch), `failover` its elections, votes,
//! manual failover and replica migration, `command` the
//! CLUSTER subcommands over the machine (parsing, errors and replies of Redis 7.0.15), and
//! `types` the vocabulary everything shares.
//!
//! It must never perform I/O, read a clock, or draw random numbers: callers pass bytes, "now"
//! and an RNG seed in, and get bytes, values or `machine::Action`s out. That is what lets a
//! whole cluster run in one deterministic process under test (see `shared/DESIGN.md`, Cluster).

pub mod bus;
pub mod command;
pub mod failover;
pub mod machine;
pub mod nodes_conf;
pub mod state;
pub mod types;

pub use bus::{decode, encode, frame, BusError, Framing, Message};
pub use command::{cluster_command, key_hash_slot, EmptyKeyspace, Environment, Reply};
pub use failover::FailoverConfig;
pub use machine::{Action, Command, CommandError, Config, EndpointType, LinkAddrs, LinkId, LinkInfo, Machine};
pub use nodes_conf::{NodesConf, NodesConfError};
pub use state::{ClusterState, Node};
pub use types::{NodeFlags, NodeName, SlotBitmap, CLUSTER_SLOTS};
