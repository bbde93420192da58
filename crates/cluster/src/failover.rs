//! Failover: replica elections, votes, promotion, manual failover (CLUSTER FAILOVER and its
//! MFSTART / PAUSED handshake) and replica migration, following Redis 7.0.15's `cluster.c`
//! (`clusterHandleSlaveFailover`, `clusterGetSlaveRank`, `clusterSendFailoverAuthIfNeeded`,
//! `clusterFailoverReplaceYourMaster`, `clusterHandleManualFailover`,
//! `clusterHandleSlaveMigration`). Functions carry Redis's names in snake case.
//!
//! Why the rules are safe (the argument the simulator in `tests/failover_sim.rs` checks):
//! - A replica wins only with votes from a majority of the masters that hold slots, each in
//!   the epoch it asked in, and a master votes at most once per epoch (`lastVoteEpoch`, saved
//!   and fsynced before the ACK leaves: see `Action::SaveConfig`). Two majorities intersect, so
//!   at most one replica wins a given epoch, and the winner's configEpoch is unique.
//! - Slot ownership is settled by configEpoch (`cluster_update_slots_config_with`): the winner's
//!   fresh, greatest epoch beats the failed master's claim wherever both are heard, and a voter
//!   refuses a request whose claimed slots are held at a greater epoch than the requester's.
//! - Timing (election delays, vote spacing, auth timeouts) affects only liveness and the odds
//!   of electing the most up-to-date replica; no delay value can make two winners.

use std::collections::{BTreeMap, BTreeSet};

use crate::bus::{mflag0, Body, Header, Message};
use crate::machine::{Action, LinkId, Machine, PingKind};
use crate::types::{NodeFlags, NodeName};

/// How long a manual failover may take before it is aborted (`CLUSTER_MF_TIMEOUT`).
pub const MF_TIMEOUT_MS: u64 = 5000;
/// The master pauses writes for this many manual-failover timeouts (`CLUSTER_MF_PAUSE_MULT`),
/// so the pause outlives the failover attempt even if the resume is lost.
pub const MF_PAUSE_MULT: u64 = 2;
/// A master must stay orphaned this long before a replica migrates to it
/// (`CLUSTER_SLAVE_MIGRATION_DELAY`), so that its own replicas, busy failing over, can
/// announce their new role first.
pub const SLAVE_MIGRATION_DELAY_MS: u64 = 5000;
/// The automatic election delay unit is node timeout / this, at most `ELECTION_DELAY_MAX_MS`.
pub const ELECTION_DELAY_TIMEOUT_DIVISOR: u64 = 30;
/// The cap of the automatic election delay unit (Redis 7.0's fixed delay).
pub const ELECTION_DELAY_MAX_MS: u64 = 500;

/// The `cluster-*` settings of failover. Kept apart from `Config` (and set with
/// `Machine::set_failover_config`) so that callers that build `Config` field by field keep
/// compiling; the defaults are Redis 7.0.15's, but for the election delay (see below).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverConfig {
    /// `cluster-replica-validity-factor` (0 = a replica always tries, however old its data).
    pub replica_validity_factor: u64,
    /// `repl-ping-replica-period`, in ms (part of the data-age allowance).
    pub repl_ping_replica_period_ms: u64,
    /// `cluster-replica-no-failover`: never start an automatic failover (manual ones still run).
    pub replica_no_failover: bool,
    /// `cluster-migration-barrier`: a replica migrates only if its master keeps more than this
    /// many working replicas.
    pub migration_barrier: u64,
    /// The election delay unit `d`, in ms: a replica asks for votes `d + random(0..d)` after it
    /// sees its master FAIL, plus `2d` per replica of its master with a better offset (its
    /// rank), plus `d` per failed master whose name sorts before its own master's (so that
    /// elections for masters lost together do not ask the same voters in one epoch and split
    /// them). `None` takes `min(500, node timeout / 30)`, as Valkey 8 does.
    ///
    /// Redis 7.0 uses 500 + random(0..500) + 1000 per rank: its fixed 500 ms lets the FAIL
    /// message reach every master before the request, since a master refuses to vote while it
    /// still sees the failed master up. We do not need that wait: a replica re-broadcasts FAIL
    /// just before its request, on the same links, so every master that gets the request has
    /// seen FAIL first. Safe at any value, including 0: votes are one per epoch per master and
    /// need a majority, so the delay cannot create a second winner; too short a delay only
    /// costs liveness (replicas of one master asking in the same epoch split the votes and
    /// retry after 2 × max(2 × node timeout, 2 s)).
    pub election_delay_ms: Option<u64>,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            replica_validity_factor: 10,
            repl_ping_replica_period_ms: 10_000,
            replica_no_failover: false,
            migration_barrier: 1,
            election_delay_ms: None,
        }
    }
}

/// A replica's election in progress (Redis's `failover_auth_*` fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Election {
    /// When the current attempt may start / started (`failover_auth_time`); `None` before the
    /// first attempt (Redis starts at 0, which only works with a Unix-time clock).
    pub(crate) auth_time_ms: Option<u64>,
    pub(crate) auth_sent: bool,
    /// The attempt's start has not been reached by `run_failover_timer` yet.
    pub(crate) timer_pending: bool,
    /// The delay unit this attempt was scheduled with (a worse rank found later adds 2 units).
    pub(crate) delay_unit_ms: u64,
    pub(crate) auth_rank: u64,
    pub(crate) auth_epoch: u64,
    /// Masters whose ACK counted in this attempt. A set rather than Redis's counter: TCP never
    /// duplicates a packet, but a set makes a duplicated ACK harmless by construction.
    pub(crate) voters: BTreeSet<NodeName>,
}

/// Manual failover state, for both roles (Redis's `mf_*` fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ManualFailover {
    /// When it is aborted; 0 = none in progress (`mf_end`).
    pub(crate) end_ms: u64,
    /// Replica: the election may start (`mf_can_start`).
    pub(crate) can_start: bool,
    /// Master: the replica that asked (`mf_slave`); writes are paused while it is set.
    pub(crate) replica: Option<NodeName>,
    /// Replica: the master's offset from its first PAUSED header (`mf_master_offset`).
    pub(crate) master_offset: Option<u64>,
    /// Master: the server confirmed the pause and its offset (`writes_paused`). Headers carry
    /// PAUSED only from then on: an offset read before the pause took effect could be passed
    /// by later writes, and a replica matching it would fail over without them. (Redis pauses
    /// and reads the offset in one thread, so it needs no such step.)
    pub(crate) paused_confirmed: bool,
}

impl Machine {
    /// Replaces the failover settings (CONFIG SET of the directives above). With
    /// `replica_no_failover` our flags carry NOFAILOVER, so the other replicas leave us out of
    /// their rank (`clusterUpdateMyselfFlags`); returns the save that calls for.
    pub fn set_failover_config(&mut self, config: FailoverConfig, now_ms: u64) -> Vec<Action> {
        let me = self.myself();
        let nofailover = config.replica_no_failover;
        self.failover_config = config;
        if let Some(node) = self.state.nodes.get_mut(&me) {
            if node.flags.contains(NodeFlags::NOFAILOVER) != nofailover {
                if nofailover {
                    node.flags.insert(NodeFlags::NOFAILOVER);
                } else {
                    node.flags.remove(NodeFlags::NOFAILOVER);
                }
                self.do_before_sleep(true, false, false);
            }
        }
        self.take_actions(now_ms)
    }

    pub fn failover_config(&self) -> &FailoverConfig {
        &self.failover_config
    }

    /// The replica's view of its replication link, for the data-age check: the time (caller's
    /// clock, ms) we last heard from our master on the replication link while it is up
    /// (Redis's `master->lastinteraction`), or when it went down (`repl_down_since`); `None`
    /// when it was never up since start, which makes an automatic failover impossible while the
    /// validity factor is non-zero, as in Redis. Call it whenever it changes (at least before
    /// each `tick`).
    pub fn set_master_link_time(&mut self, last_ms: Option<u64>) {
        self.master_link_ms = last_ms;
    }

    /// The server paused writes for the manual failover it was asked to (`Action::PauseWrites`),
    /// and `offset` is its replication offset with the pause in effect. From now on our headers
    /// carry PAUSED and this offset; the PING returned tells the waiting replica at once.
    /// Ignored when no manual failover is in progress on this master.
    pub fn writes_paused(&mut self, offset: u64, now_ms: u64) -> Vec<Action> {
        let me = self.myself();
        if self.mf.end_ms != 0 && self.is_master(&me) {
            if let Some(replica) = self.mf.replica {
                self.my_repl_offset = offset;
                self.mf.paused_confirmed = true;
                if let Some(link) = self.runtime.get(&replica).and_then(|rt| rt.link) {
                    self.send_ping(LinkId::Out(link.id), Some(replica), PingKind::Ping, now_ms);
                }
            }
        }
        self.take_actions(now_ms)
    }

    /// Whether a manual failover is in progress here (either role).
    pub fn manual_failover_in_progress(&self) -> bool {
        self.mf.end_ms != 0
    }

    /// The epoch of our latest election attempt (0 if none).
    pub fn failover_auth_epoch(&self) -> u64 {
        self.election.auth_epoch
    }

    /// The `mflags[0]` bits our headers carry: PAUSED while we are a master paused for a
    /// manual failover (`clusterBuildMessageHdr`).
    pub(crate) fn header_mflags0(&self) -> u8 {
        if self.mf.end_ms != 0 && self.mf.paused_confirmed && self.is_master(&self.myself()) {
            mflag0::PAUSED
        } else {
            0
        }
    }

    /// Writes nodes.conf (fsynced) now, before whatever the caller sends next: the state
    /// update first, as `clusterSaveConfigOrDie` follows `clusterUpdateState`.
    pub(crate) fn save_config_now(&mut self, now_ms: u64) {
        if self.todo.update_state {
            self.todo.update_state = false;
            self.cluster_update_state(now_ms);
        }
        self.todo.save = false;
        self.todo.fsync = false;
        self.actions.push(Action::SaveConfig { fsync: true });
    }

    /// Our master, if we are a replica of a known node.
    pub(crate) fn my_master(&self) -> Option<NodeName> {
        let me = self.myself();
        if !self.flags(&me).contains(NodeFlags::SLAVE) {
            return None;
        }
        self.state.nodes.get(&me).and_then(|n| n.master).filter(|m| self.state.nodes.contains_key(m))
    }

    /// Known replicas of `master` (nodes flagged SLAVE naming it), ourselves included.
    pub(crate) fn replicas_of(&self, master: &NodeName) -> Vec<NodeName> {
        self.state
            .nodes
            .iter()
            .filter(|(_, n)| n.flags.contains(NodeFlags::SLAVE) && n.master.as_ref() == Some(master))
            .map(|(name, _)| *name)
            .collect()
    }

    /// `clusterGetSlaveRank`: how many other replicas of our master, able to fail over, announced
    /// a greater replication offset than ours, or the same offset under a smaller name (when
    /// they are not failing themselves).
    ///
    /// The tie-break is Valkey's, not Redis 7.0's: replicas of an idle master all hold the same
    /// offset, and Redis gives them all rank 0, leaving only the random delay to keep them from
    /// asking in one epoch and splitting the votes (then nobody wins until the auth retry, 2 ×
    /// max(2 × node timeout, 2 s) later). With our short random delay that would happen often
    /// enough to matter; distinct ranks keep the askers apart by two delay units.
    pub(crate) fn cluster_get_slave_rank(&self) -> u64 {
        let me = self.myself();
        let Some(master) = self.my_master() else { return 0 };
        let my_offset = self.my_repl_offset;
        self.replicas_of(&master)
            .iter()
            .filter(|r| **r != me && !self.flags(r).contains(NodeFlags::NOFAILOVER))
            .filter(|r| {
                let offset = self.node_repl_offset(r);
                let flags = self.flags(r);
                let failing = flags.contains(NodeFlags::PFAIL) || flags.contains(NodeFlags::FAIL);
                offset > my_offset || (offset == my_offset && **r < me && !failing)
            })
            .count() as u64
    }

    /// `failed` was just marked FAIL: if it is our master, schedule the election now rather
    /// than at the next cron run (up to `CRON_PERIOD_MS` later; Redis waits for it).
    pub(crate) fn start_failover_if_my_master(&mut self, failed: &NodeName, now_ms: u64) {
        if self.my_master() == Some(*failed) && !self.is_master(&self.myself()) {
            self.cluster_handle_slave_failover(now_ms);
        }
    }

    /// When the election that is scheduled but not yet asked for may ask: the server calls
    /// `run_failover_timer` then rather than waiting for the next cron run (Redis asks at the
    /// first cron run after the delay, up to 100 ms late).
    pub fn failover_timer_ms(&self) -> Option<u64> {
        if !self.election.timer_pending || self.election.auth_sent || self.is_master(&self.myself()) {
            return None;
        }
        self.election.auth_time_ms
    }

    /// Runs the election step due at `failover_timer_ms` (Redis's `clusterHandleSlaveFailover`
    /// from `clusterBeforeSleep`).
    pub fn run_failover_timer(&mut self, now_ms: u64) -> Vec<Action> {
        self.cluster_handle_slave_failover(now_ms);
        // Disarmed once due, whatever happened: an attempt that could not ask (its master
        // recovered, say) is left to the cron, and the server never spins on a past time.
        if self.election.auth_time_ms.is_none_or(|t| t <= now_ms) {
            self.election.timer_pending = false;
        }
        self.take_actions(now_ms)
    }

    /// The election delay unit (see `FailoverConfig::election_delay_ms`).
    pub(crate) fn election_delay_unit_ms(&self) -> u64 {
        self.failover_config.election_delay_ms.unwrap_or_else(|| {
            (self.config.node_timeout_ms / ELECTION_DELAY_TIMEOUT_DIVISOR).min(ELECTION_DELAY_MAX_MS)
        })
    }

    /// Our master's place among the failed masters with slots, by name (0 when it comes first
    /// or is the only one): elections for masters lost together start one delay unit apart.
    pub(crate) fn cluster_get_failed_master_rank(&self) -> u64 {
        let Some(master) = self.my_master() else { return 0 };
        self.state
            .nodes
            .iter()
            .filter(|(name, node)| {
                **name < master
                    && node.flags.contains(NodeFlags::FAIL)
                    && node.flags.contains(NodeFlags::MASTER)
                    && self.node_slot_count(name) > 0
            })
            .count() as u64
    }

    /// `clusterHandleSlaveFailover`: called from the cron and whenever an ACK or the manual
    /// failover's go-ahead arrives.
    pub(crate) fn cluster_handle_slave_failover(&mut self, now_ms: u64) {
        let me = self.myself();
        let timeout_ms = self.config.node_timeout_ms;
        let needed_quorum = self.cluster_size() / 2 + 1;
        let manual = self.mf.end_ms != 0 && self.mf.can_start;
        let auth_timeout_ms = timeout_ms.saturating_mul(2).max(2000);
        let auth_retry_ms = auth_timeout_ms.saturating_mul(2);
        // Signed, as Redis's mstime_t: the attempt's start is in the future while we wait.
        let auth_age_ms: i128 = match self.election.auth_time_ms {
            Some(t) => i128::from(now_ms) - i128::from(t),
            None => i128::MAX,
        };

        let Some(master) = self.my_master() else { return };
        if self.is_master(&me)
            || (!self.flags(&master).contains(NodeFlags::FAIL) && !manual)
            || (self.failover_config.replica_no_failover && !manual)
            || self.node_slot_count(&master) == 0
        {
            return;
        }

        // Data age: how long since we heard from our master, minus the node timeout it took to
        // declare it failed.
        let mut data_age_ms = match self.master_link_ms {
            Some(t) => now_ms.saturating_sub(t),
            None => u64::MAX,
        };
        if data_age_ms > timeout_ms {
            data_age_ms -= timeout_ms;
        }
        let factor = self.failover_config.replica_validity_factor;
        let allowed_ms =
            self.failover_config.repl_ping_replica_period_ms.saturating_add(timeout_ms.saturating_mul(factor));
        if factor != 0 && data_age_ms > allowed_ms && !manual {
            return;
        }

        if auth_age_ms > i128::from(auth_retry_ms) {
            // A new attempt: after the fixed and random delays, later for a worse rank and
            // for failed masters that come first.
            // A retry right after an attempt that won no majority (replicas that asked in the
            // same epoch, say: their offsets had not reached each other within the short
            // delay) falls back to Redis's timing, so it cannot keep colliding.
            let retry = auth_age_ms <= i128::from(auth_retry_ms.saturating_mul(2));
            let delay_ms = if retry {
                self.election_delay_unit_ms().max(ELECTION_DELAY_MAX_MS)
            } else {
                self.election_delay_unit_ms()
            };
            let random_ms = self.rng.below(delay_ms);
            let rank = self.cluster_get_slave_rank();
            let failed_master_rank = self.cluster_get_failed_master_rank();
            let mut start_ms = now_ms
                .saturating_add(delay_ms)
                .saturating_add(random_ms)
                .saturating_add(rank.saturating_mul(delay_ms.saturating_mul(2)))
                .saturating_add(failed_master_rank.saturating_mul(delay_ms));
            let mut rank = rank;
            if self.mf.end_ms != 0 {
                start_ms = now_ms;
                rank = 0;
            }
            self.election = Election {
                auth_time_ms: Some(start_ms),
                auth_sent: false,
                timer_pending: true,
                delay_unit_ms: delay_ms,
                auth_rank: rank,
                auth_epoch: self.election.auth_epoch,
                voters: BTreeSet::new(),
            };
            // Tell the other replicas of our master our offset, so they rank themselves.
            self.broadcast_pong_local_replicas(now_ms);
            if self.mf.end_ms == 0 {
                return;
            }
            // A manual failover asks at once (Redis re-runs this in clusterBeforeSleep).
        }
        let auth_time_ms = self.election.auth_time_ms.unwrap_or(now_ms);
        let auth_age_ms = i128::from(now_ms) - i128::from(auth_time_ms);

        // Offsets may have arrived since the delay was set: a worse rank waits longer.
        if !self.election.auth_sent && self.mf.end_ms == 0 {
            let new_rank = self.cluster_get_slave_rank();
            if new_rank > self.election.auth_rank {
                let added = (new_rank - self.election.auth_rank).saturating_mul(self.election.delay_unit_ms * 2);
                self.election.auth_time_ms = Some(auth_time_ms.saturating_add(added));
                self.election.auth_rank = new_rank;
            }
        }
        let auth_time_ms = self.election.auth_time_ms.unwrap_or(now_ms);
        if now_ms < auth_time_ms {
            return;
        }
        if auth_age_ms > i128::from(auth_timeout_ms) {
            return;
        }

        if !self.election.auth_sent {
            // Saturating: a peer can announce any epoch, and a panic is not an answer to it.
            self.state.current_epoch = self.state.current_epoch.saturating_add(1);
            self.election.auth_epoch = self.state.current_epoch;
            self.election.auth_sent = true;
            // Saved before the request leaves (Redis saves in beforeSleep, just after): a
            // restart must never ask again in an epoch it already used, nor lower currentEpoch.
            self.do_before_sleep(true, true, true);
            self.save_config_now(now_ms);
            if self.flags(&master).contains(NodeFlags::FAIL) {
                // FAIL first, on the links the request takes: a voter that had not heard it
                // yet would refuse ("its master is up") and cost us an auth retry.
                self.broadcast(Body::Fail { node: master });
            }
            self.cluster_request_failover_auth();
            return;
        }

        if self.election.voters.len() >= needed_quorum {
            let epoch = self.election.auth_epoch;
            if let Some(node) = self.state.nodes.get_mut(&me) {
                if node.config_epoch < epoch {
                    node.config_epoch = epoch;
                }
            }
            self.cluster_failover_replace_your_master(now_ms);
        }
    }

    /// `clusterRequestFailoverAuth`: FAILOVER_AUTH_REQUEST to everyone, FORCEACK during a
    /// manual failover.
    fn cluster_request_failover_auth(&mut self) {
        let mut header = self.build_header();
        if self.mf.end_ms != 0 {
            header.mflags[0] |= mflag0::FORCEACK;
        }
        self.broadcast_with_header(header, Body::FailoverAuthRequest);
    }

    /// `clusterBroadcastPong(CLUSTER_BROADCAST_LOCAL_SLAVES)`: to the replicas of our master.
    fn broadcast_pong_local_replicas(&mut self, now_ms: u64) {
        let me = self.myself();
        let my_master = self.state.nodes.get(&me).and_then(|n| n.master);
        let targets: Vec<(NodeName, u64)> = self
            .state
            .nodes
            .iter()
            .filter(|(name, n)| {
                **name != me
                    && !n.flags.contains(NodeFlags::HANDSHAKE)
                    && n.flags.contains(NodeFlags::SLAVE)
                    && n.master.is_some()
                    && (n.master == Some(me) || n.master == my_master)
            })
            .filter_map(|(name, _)| self.runtime.get(name).and_then(|rt| rt.link).map(|l| (*name, l.id)))
            .collect();
        for (name, link) in targets {
            self.send_ping(LinkId::Out(link), Some(name), PingKind::Pong, now_ms);
        }
    }

    /// `clusterSendFailoverAuthIfNeeded`: vote for `requester` if every rule allows. The vote
    /// is recorded and saved with fsync before the ACK is queued (the order of the actions).
    pub(crate) fn cluster_send_failover_auth_if_needed(&mut self, requester: NodeName, hdr: &Header, now_ms: u64) {
        let me = self.myself();
        // Only masters with slots vote: they are the cluster's size.
        if !self.is_master(&me) || self.node_slot_count(&me) == 0 {
            return;
        }
        // Our currentEpoch was already raised to the request's if it was greater.
        if hdr.current_epoch < self.state.current_epoch {
            return;
        }
        if self.state.last_vote_epoch == self.state.current_epoch {
            return;
        }
        let force_ack = hdr.mflags[0] & mflag0::FORCEACK != 0;
        let requester_flags = self.flags(&requester);
        let master = self.state.nodes.get(&requester).and_then(|n| n.master);
        let Some(master) = master.filter(|m| self.state.nodes.contains_key(m)) else { return };
        if requester_flags.contains(NodeFlags::MASTER) || (!self.flags(&master).contains(NodeFlags::FAIL) && !force_ack)
        {
            return;
        }
        // Not twice for replicas of one master within 2 × node timeout: not needed for safety,
        // but it keeps a second replica from winning right after the first.
        let voted_ms = self.runtime.get(&master).map_or(0, |rt| rt.voted_time_ms);
        if voted_ms != 0 && now_ms.saturating_sub(voted_ms) < self.config.node_timeout_ms.saturating_mul(2) {
            return;
        }
        // Every slot it claims must not be held at a greater configEpoch than it claims.
        let claims_stale_slot = hdr.myslots.iter().any(|slot| {
            if self.owner_not_claiming.get(slot) {
                return false;
            }
            match self.state.slot_owner[usize::from(slot)] {
                Some(owner) => self.state.nodes.get(&owner).map_or(0, |n| n.config_epoch) > hdr.config_epoch,
                None => false,
            }
        });
        if claims_stale_slot {
            return;
        }
        self.state.last_vote_epoch = self.state.current_epoch;
        if let Some(rt) = self.runtime.get_mut(&master) {
            rt.voted_time_ms = now_ms;
        }
        self.save_config_now(now_ms);
        if let Some(link) = self.runtime.get(&requester).and_then(|rt| rt.link) {
            let msg = Message { header: self.build_header(), body: Body::FailoverAuthAck };
            self.actions.push(Action::Send { link: LinkId::Out(link.id), msg: Box::new(msg) });
        }
    }

    /// A FAILOVER_AUTH_ACK from a known `sender`: it counts if a master with slots sent it in
    /// our election's epoch or later, and only once our request is out. (Redis counts an ACK
    /// that arrives between scheduling an attempt and sending its request, when
    /// `failover_auth_epoch` still holds the previous attempt's epoch, so a late vote from the
    /// old attempt could count toward the new one; requiring `auth_sent` rules that out.)
    pub(crate) fn handle_failover_auth_ack(&mut self, sender: NodeName, hdr: &Header, now_ms: u64) {
        if self.is_master(&sender)
            && self.node_slot_count(&sender) > 0
            && hdr.current_epoch >= self.election.auth_epoch
            && self.election.auth_sent
        {
            self.election.voters.insert(sender);
            self.cluster_handle_slave_failover(now_ms);
        }
    }

    /// MFSTART from a known `sender`: accepted from our own replicas only; pause writes and
    /// answer with a PING (PAUSED once the server confirms the pause, see `writes_paused`).
    pub(crate) fn handle_mfstart(&mut self, link: LinkId, sender: NodeName, now_ms: u64) {
        let me = self.myself();
        let senders_master = self.state.nodes.get(&sender).and_then(|n| n.master);
        if senders_master != Some(me) || !self.is_master(&me) {
            return;
        }
        self.reset_manual_failover();
        self.mf.end_ms = now_ms + MF_TIMEOUT_MS;
        self.mf.replica = Some(sender);
        self.actions.push(Action::PauseWrites { until_ms: now_ms + MF_TIMEOUT_MS * MF_PAUSE_MULT });
        self.send_ping(link, None, PingKind::Ping, now_ms);
    }

    /// A header from our master carrying PAUSED during our manual failover gives the offset
    /// we must reach (the first one only, as Redis).
    pub(crate) fn note_paused_master_offset(&mut self, sender: NodeName, hdr: &Header, now_ms: u64) {
        if self.mf.end_ms != 0
            && self.my_master() == Some(sender)
            && hdr.mflags[0] & mflag0::PAUSED != 0
            && self.mf.master_offset.is_none()
        {
            self.mf.master_offset = Some(hdr.repl_offset);
            self.cluster_handle_manual_failover(now_ms);
        }
    }

    /// `resetManualFailover`: a master paused for one resumes writes.
    pub(crate) fn reset_manual_failover(&mut self) {
        if self.mf.replica.is_some() {
            self.actions.push(Action::ResumeWrites);
        }
        self.mf = ManualFailover::default();
    }

    /// `manualFailoverCheckTimeout`.
    fn manual_failover_check_timeout(&mut self, now_ms: u64) {
        if self.mf.end_ms != 0 && self.mf.end_ms < now_ms {
            self.reset_manual_failover();
        }
    }

    /// `clusterHandleManualFailover`: once our offset reaches the paused master's, the election
    /// may start.
    pub(crate) fn cluster_handle_manual_failover(&mut self, now_ms: u64) {
        if self.mf.end_ms == 0 || self.mf.can_start {
            return;
        }
        let Some(offset) = self.mf.master_offset else { return };
        if offset == self.my_repl_offset {
            self.mf.can_start = true;
            self.cluster_handle_slave_failover(now_ms);
        }
    }

    /// CLUSTER FAILOVER's state change, after its checks: TAKEOVER promotes at once with a new
    /// epoch and no votes; FORCE runs an election (FORCEACK) without the offset handshake;
    /// the default asks the master to pause (MFSTART) first.
    pub(crate) fn start_manual_failover(&mut self, force: bool, takeover: bool, now_ms: u64) {
        self.reset_manual_failover();
        self.mf.end_ms = now_ms + MF_TIMEOUT_MS;
        if takeover {
            self.cluster_bump_config_epoch_without_consensus();
            self.cluster_failover_replace_your_master(now_ms);
        } else if force {
            self.mf.can_start = true;
            self.cluster_handle_slave_failover(now_ms);
        } else if let Some(master) = self.my_master() {
            if let Some(link) = self.runtime.get(&master).and_then(|rt| rt.link) {
                let msg = Message { header: self.build_header(), body: Body::MfStart };
                self.actions.push(Action::Send { link: LinkId::Out(link.id), msg: Box::new(msg) });
            }
        }
    }

    /// The failover part of `clusterCron`: manual failover timeout, our election, replica
    /// migration; and, as a master in a manual failover, whether to ping the replica.
    pub(crate) fn failover_cron(&mut self, now_ms: u64) {
        self.manual_failover_check_timeout(now_ms);
        let me = self.myself();
        if !self.flags(&me).contains(NodeFlags::SLAVE) {
            return;
        }
        self.cluster_handle_manual_failover(now_ms);
        self.cluster_handle_slave_failover(now_ms);

        // Orphaned masters, the most working replicas any master has, and our master's count.
        let mut ok_replicas: BTreeMap<NodeName, usize> = BTreeMap::new();
        for node in self.state.nodes.values() {
            if let Some(m) = node.master {
                if node.flags.contains(NodeFlags::SLAVE) && !node.flags.contains(NodeFlags::FAIL) {
                    *ok_replicas.entry(m).or_default() += 1;
                }
            }
        }
        let my_master = self.state.nodes.get(&me).and_then(|n| n.master);
        let (mut orphaned, mut max_replicas, mut this_replicas) = (0usize, 0usize, 0usize);
        for (name, node) in &self.state.nodes {
            let f = node.flags;
            if f.contains(NodeFlags::MYSELF) || f.contains(NodeFlags::NOADDR) || f.contains(NodeFlags::HANDSHAKE) {
                continue;
            }
            if !f.contains(NodeFlags::MASTER) || f.contains(NodeFlags::FAIL) {
                continue;
            }
            let ok = ok_replicas.get(name).copied().unwrap_or(0);
            if ok == 0 && self.node_slot_count(name) > 0 && f.contains(NodeFlags::MIGRATE_TO) {
                orphaned += 1;
            }
            max_replicas = max_replicas.max(ok);
            if my_master == Some(*name) {
                this_replicas = ok;
            }
        }
        if orphaned > 0 && max_replicas >= 2 && this_replicas == max_replicas && self.config.allow_replica_migration {
            self.cluster_handle_slave_migration(max_replicas, &ok_replicas, now_ms);
        }
    }

    /// `clusterHandleSlaveMigration`: if our master has more working replicas than the barrier
    /// and we are the smallest-named replica among the masters with the most, move to a master
    /// orphaned for longer than `SLAVE_MIGRATION_DELAY_MS`.
    fn cluster_handle_slave_migration(
        &mut self,
        max_replicas: usize,
        ok_replicas: &BTreeMap<NodeName, usize>,
        now_ms: u64,
    ) {
        if !self.cluster_ok {
            return;
        }
        let me = self.myself();
        let Some(my_master) = self.my_master() else { return };
        let my_ok = self
            .replicas_of(&my_master)
            .iter()
            .filter(|r| {
                let f = self.flags(r);
                !f.contains(NodeFlags::FAIL) && !f.contains(NodeFlags::PFAIL)
            })
            .count();
        if my_ok as u64 <= self.failover_config.migration_barrier {
            return;
        }
        let mut target: Option<NodeName> = None;
        let mut candidate = me;
        let names: Vec<NodeName> = self.state.nodes.keys().copied().collect();
        for name in names {
            let f = self.flags(&name);
            let ok = if f.contains(NodeFlags::MASTER) { ok_replicas.get(&name).copied().unwrap_or(0) } else { 0 };
            let orphaned = !f.contains(NodeFlags::SLAVE)
                && !f.contains(NodeFlags::FAIL)
                && f.contains(NodeFlags::MIGRATE_TO)
                && ok == 0;
            if orphaned {
                if target.is_none() && self.node_slot_count(&name) > 0 {
                    target = Some(name);
                }
                if let Some(rt) = self.runtime.get_mut(&name) {
                    if rt.orphaned_time_ms == 0 {
                        rt.orphaned_time_ms = now_ms;
                    }
                }
            } else if let Some(rt) = self.runtime.get_mut(&name) {
                rt.orphaned_time_ms = 0;
            }
            // Redis walks every replica of such a master, failing ones included.
            if ok == max_replicas && f.contains(NodeFlags::MASTER) {
                for r in self.replicas_of(&name) {
                    if r < candidate {
                        candidate = r;
                    }
                }
            }
        }
        let Some(target) = target else { return };
        let orphaned_since = self.runtime.get(&target).map_or(now_ms, |rt| rt.orphaned_time_ms);
        if candidate == me && now_ms.saturating_sub(orphaned_since) > SLAVE_MIGRATION_DELAY_MS {
            self.cluster_set_master(target);
            self.do_before_sleep(true, true, true);
        }
    }

    /// `clusterSetMaster`: become a replica of `master`: a master drops its role and open
    /// migrations, any manual failover is abandoned, and the server starts replicating.
    pub(crate) fn cluster_set_master(&mut self, master: NodeName) {
        let me = self.myself();
        let was_master = self.is_master(&me);
        let old_master = self.state.nodes.get(&me).and_then(|n| n.master);
        if let Some(node) = self.state.nodes.get_mut(&me) {
            if was_master {
                node.flags.remove(NodeFlags::MASTER);
                node.flags.remove(NodeFlags::MIGRATE_TO);
                node.flags.insert(NodeFlags::SLAVE);
            }
            node.master = Some(master);
        }
        if was_master {
            self.state.migrating_to.clear();
            self.state.importing_from.clear();
        }
        if let Some(old) = old_master.filter(|o| *o != master) {
            self.clear_migrate_to_if_no_replicas(&old);
        }
        if let Some(node) = self.state.nodes.get_mut(&master) {
            node.flags.insert(NodeFlags::MIGRATE_TO);
        }
        self.actions.push(Action::ReplicateFrom { master });
        self.reset_manual_failover();
    }

    /// `clusterNodeRemoveSlave`'s flag rule: a master left with no replica at all is no longer
    /// a migration target.
    pub(crate) fn clear_migrate_to_if_no_replicas(&mut self, master: &NodeName) {
        if self.replicas_of(master).is_empty() {
            if let Some(node) = self.state.nodes.get_mut(master) {
                node.flags.remove(NodeFlags::MIGRATE_TO);
            }
        }
    }

    /// `clusterFailoverReplaceYourMaster`: become a master with all of our master's slots, save
    /// (fsync) before anyone hears of it, then tell everyone at once.
    pub(crate) fn cluster_failover_replace_your_master(&mut self, now_ms: u64) {
        let me = self.myself();
        let Some(old_master) = self.state.nodes.get(&me).and_then(|n| n.master) else { return };
        if self.is_master(&me) {
            return;
        }
        if let Some(node) = self.state.nodes.get_mut(&me) {
            node.flags.remove(NodeFlags::SLAVE);
            node.flags.insert(NodeFlags::MASTER);
            node.master = None;
        }
        self.clear_migrate_to_if_no_replicas(&old_master);
        // The promotion: stop replicating and keep the data (psync2 style).
        self.actions.push(Action::StopReplication { flush_data: false });
        let slots: Vec<u16> = self.node_slots.get(&old_master).map(|b| b.iter().collect()).unwrap_or_default();
        self.reassign_slots(me, &slots);
        self.do_before_sleep(true, true, true);
        self.save_config_now(now_ms);
        self.broadcast_pong(now_ms);
        self.reset_manual_failover();
        self.election.auth_sent = false;
    }
}
