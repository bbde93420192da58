//! Moving many slots from one node to another with pipelined commands: the path `reshard` and
//! `rebalance` take for their runs of slots.
//!
//! redis-cli moves one slot at a time (`clusterManagerMoveSlot`): IMPORTING on the target,
//! MIGRATING on the source, GETKEYSINSLOT and MIGRATE until the slot is empty, then NODE on the
//! target, the source and every other master, each a command that waits for its reply. That is
//! about ten round trips per slot whatever the slot holds, and with a few dozen keys per slot the
//! round trips, not the keys, set the pace. Here each step is sent for up to [`BATCH_SLOTS`] slots
//! at once, as one pipeline per node, so a batch costs about as many round trips as one slot did.
//!
//! Every slot still goes through the same steps in the same order (IMPORTING before MIGRATING,
//! the keys before NODE, NODE on the target before the source), so a client sees for each slot
//! what redis-cli's reshard would show it: ASK while it moves, MOVED after. The alternative of
//! moving the keys of several slots in one MIGRATE was rejected: MIGRATE's keys must share a slot
//! in cluster mode (CROSSSLOT), so one MIGRATE per slot is pipelined instead.
//!
//! This module must never finalize a slot (NODE) that may still hold keys on the source: every
//! slot is checked empty with a GETKEYSINSLOT after its MIGRATEs, as redis-cli's loop ends. On an
//! error the move stops, as redis-cli's does, with only the failing slot open for `--cluster fix`:
//! when IMPORTING or MIGRATING is refused, the batch's earlier slots are finished and its later
//! ones set back to stable; when a slot's keys cannot move (BUSYKEY...), the batch's other slots,
//! whose keys were moved by the same pipeline, are finished too.

use super::{argv, err_text, Manager, MoveOpts};
use crate::client::Connection;
use crate::reply::Reply;

/// Slots per batch. 64 keeps a batch's key names (at most 64 × `--cluster-pipeline`) and its
/// pipelines small, while a reshard of 5461 slots needs only ~86 batches.
pub(super) const BATCH_SLOTS: usize = 64;

/// One batch's endpoints and options: slots go from node `src` to node `dst`.
#[derive(Debug, Clone, Copy)]
struct Move {
    src: usize,
    dst: usize,
    opts: MoveOpts,
}

/// The error redis-cli reports when a node gives no reply at all.
const NO_REPLY: &str = "CLUSTER SETSLOT failed to run";

impl Manager<'_> {
    /// Whether a move with these options can be batched: the per-slot output of redis-cli (the
    /// "Moving slot" lines and dots) and `fix`'s cold moves keep the one-slot path.
    fn can_batch(opts: MoveOpts) -> bool {
        opts.progress && !opts.dots && !opts.cold
    }

    /// Moves `slots`, all served by `src`, to `dst`: the effect of `move_slot` on each in turn,
    /// with one pipeline per node and step for every [`BATCH_SLOTS`] slots.
    pub(super) fn move_slots(
        &mut self,
        src: usize,
        dst: usize,
        slots: &[usize],
        opts: MoveOpts,
    ) -> Result<(), Option<String>> {
        if !Self::can_batch(opts) {
            return slots.iter().try_for_each(|&slot| self.move_slot(src, dst, slot, opts));
        }
        let mv = Move { src, dst, opts };
        slots.chunks(BATCH_SLOTS).try_for_each(|batch| self.move_slot_batch(mv, batch))
    }

    /// Sends `cmds` to node `i` in one write and reads one reply per command. `None` when there is
    /// no connection or it broke (the connection is then dropped, as `cmd` does).
    fn pipeline(&mut self, i: usize, cmds: &[Vec<Vec<u8>>]) -> Option<Vec<Reply>> {
        let conn = self.conns.get_mut(i)?.as_mut()?;
        let bytes: Vec<u8> = cmds.iter().flat_map(|c| Connection::encode(c)).collect();
        let replies =
            conn.send_raw(&bytes).and_then(|()| cmds.iter().map(|_| conn.read_reply()).collect::<Result<Vec<_>, _>>());
        match replies {
            Ok(r) => Some(r),
            Err(_) => {
                self.conns[i] = None;
                None
            }
        }
    }

    /// `CLUSTER SETSLOT <slot> <status> <id of other>` for each slot, pipelined to node `i`.
    /// The index of the first slot refused and the error, if one was.
    pub(super) fn set_slots(
        &mut self,
        i: usize,
        other: usize,
        slots: &[usize],
        status: &str,
    ) -> Result<(), (usize, String)> {
        let id = self.nodes[other].name.clone();
        let cmds: Vec<_> =
            slots.iter().map(|s| argv(&["CLUSTER", "SETSLOT", &s.to_string(), status, id.as_str()])).collect();
        let Some(replies) = self.pipeline(i, &cmds) else { return Err((0, NO_REPLY.into())) };
        match replies.iter().enumerate().find_map(|(k, r)| err_text(r).map(|e| (k, e))) {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// `CLUSTER SETSLOT <slot> STABLE` on node `i` for slots whose move was set up but will not
    /// happen, so a failed batch leaves only its failing slot open. Best effort: the error that
    /// stopped the batch is what gets reported.
    fn abandon_slots(&mut self, i: usize, slots: &[usize]) {
        if slots.is_empty() {
            return;
        }
        let cmds: Vec<_> = slots.iter().map(|s| argv(&["CLUSTER", "SETSLOT", &s.to_string(), "STABLE"])).collect();
        let _ = self.pipeline(i, &cmds);
    }

    /// One batch: IMPORTING on `dst` and MIGRATING on `src` for every slot, the first
    /// GETKEYSINSLOT of each, one MIGRATE per slot with keys, the slots that may hold more drained
    /// one at a time, an emptiness check, then NODE on `dst`, `src` and the other masters.
    fn move_slot_batch(&mut self, mv: Move, slots: &[usize]) -> Result<(), Option<String>> {
        let Move { src, dst, .. } = mv;
        if let Err((k, e)) = self.set_slots(dst, src, slots, "importing") {
            self.abandon_slots(dst, &slots[k + 1..]);
            self.finish_slot_batch(mv, &slots[..k])?;
            return Err(Some(e));
        }
        if let Err((k, e)) = self.set_slots(src, dst, slots, "migrating") {
            self.abandon_slots(dst, &slots[k + 1..]);
            self.abandon_slots(src, &slots[k + 1..]);
            self.finish_slot_batch(mv, &slots[..k])?;
            return Err(Some(e));
        }
        self.finish_slot_batch(mv, slots)
    }

    /// The keys and the NODE step of a batch whose slots are all importing on `dst` and migrating
    /// on `src`. Also finishes the slots of a batch before one whose setup was refused, so the
    /// batch fails where redis-cli's slot-by-slot loop would.
    fn finish_slot_batch(&mut self, mv: Move, slots: &[usize]) -> Result<(), Option<String>> {
        if slots.is_empty() {
            return Ok(());
        }
        let Move { src, dst, .. } = mv;
        let pipeline = self.args.pipeline;
        let first_keys = self.keys_in_slots(src, slots, &pipeline.to_string())?;
        // One MIGRATE per slot that has keys, all in one pipeline to the source.
        let with_keys: Vec<usize> = (0..slots.len()).filter(|&k| !first_keys[k].is_empty()).collect();
        let cmds: Vec<_> = with_keys.iter().map(|&k| self.migrate_argv(dst, &first_keys[k], false)).collect();
        let replies = if cmds.is_empty() { Vec::new() } else { self.pipeline(src, &cmds).ok_or(None)? };
        let mut moved_keys = 0u64;
        // The slots redis-cli's loop must finish one at a time: a MIGRATE refused (BUSYKEY, an
        // unserved slot...: the loop decides on the slot alone) or a full batch of keys.
        let mut drain = vec![false; slots.len()];
        for (&k, reply) in with_keys.iter().zip(&replies) {
            if err_text(reply).is_some() {
                drain[k] = true;
            } else {
                moved_keys += first_keys[k].len() as u64;
                drain[k] = first_keys[k].len() as i64 >= pipeline;
            }
        }
        if let Some(p) = self.progress.as_mut() {
            p.keys_done += moved_keys;
        }
        // redis-cli's loop ends on an empty GETKEYSINSLOT: the other slots get that check here,
        // in one pipeline, and one that is not empty is drained too.
        let unchecked: Vec<usize> = (0..slots.len()).filter(|&k| !drain[k]).collect();
        let unchecked_slots: Vec<usize> = unchecked.iter().map(|&k| slots[k]).collect();
        let left = self.keys_in_slots(src, &unchecked_slots, "1")?;
        for (&k, keys) in unchecked.iter().zip(&left) {
            drain[k] = !keys.is_empty();
        }
        // In order. A slot that fails stays open; the others, whose keys the pipelined MIGRATEs
        // may already have moved, are still drained and finished, so the batch leaves only its
        // failing slots half-migrated (for `--cluster fix`) and the first failure ends the move.
        let mut failure = None;
        let mut finished = Vec::with_capacity(slots.len());
        for (k, &slot) in slots.iter().enumerate() {
            if drain[k] {
                if let Err(e) = self.migrate_keys_in_slot(src, dst, slot, false) {
                    failure.get_or_insert(e);
                    continue;
                }
            }
            finished.push(slot);
        }
        self.set_slots_node(mv, &finished)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `CLUSTER GETKEYSINSLOT <slot> <count>` for each slot, pipelined to `src`.
    fn keys_in_slots(&mut self, src: usize, slots: &[usize], count: &str) -> Result<Vec<Vec<Vec<u8>>>, Option<String>> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let cmds: Vec<_> = slots.iter().map(|s| argv(&["CLUSTER", "GETKEYSINSLOT", &s.to_string(), count])).collect();
        let replies = self.pipeline(src, &cmds).ok_or(None)?;
        let mut out = Vec::with_capacity(replies.len());
        for r in replies {
            match super::keys_of_reply(r) {
                Ok(keys) => out.push(keys),
                Err(Some(e)) => {
                    self.print_reply_error(src, &e);
                    return Err(Some(e));
                }
                Err(None) => return Err(None),
            }
        }
        Ok(out)
    }

    /// NODE for `slots` on the target first (it then tells the cluster itself, redis#7116), then
    /// on the source, which may have become a replica after giving away its last slot
    /// (redis#9223), then on every other master. `move_slot` does this for its one slot too.
    pub(super) fn assign_slots(&mut self, src: usize, dst: usize, slots: &[usize]) -> Result<(), Option<String>> {
        self.set_slots(dst, dst, slots, "node").map_err(|(_, e)| Some(e))?;
        if let Err((_, e)) = self.set_slots(src, dst, slots, "node") {
            if !e.starts_with("ERR Please use SETSLOT only with masters.") {
                return Err(Some(e));
            }
        }
        for n in 0..self.nodes.len() {
            if n == src || n == dst || self.nodes[n].slave {
                continue;
            }
            self.set_slots(n, dst, slots, "node").map_err(|(_, e)| Some(e))?;
        }
        Ok(())
    }

    /// The bookkeeping after `slots` moved: the manager's slot maps (when `opts.update`) and the
    /// progress line.
    pub(super) fn note_moved(&mut self, src: usize, dst: usize, slots: &[usize], opts: MoveOpts) {
        if opts.update {
            for &slot in slots {
                self.nodes[src].slots[slot] = false;
                self.nodes[dst].slots[slot] = true;
            }
        }
        if let Some(p) = self.progress.as_mut() {
            p.slots_done += slots.len();
        }
        self.tick_progress(false);
    }

    /// The NODE step of a batch and its bookkeeping.
    fn set_slots_node(&mut self, mv: Move, slots: &[usize]) -> Result<(), Option<String>> {
        if slots.is_empty() {
            return Ok(());
        }
        self.assign_slots(mv.src, mv.dst, slots)?;
        self.note_moved(mv.src, mv.dst, slots, mv.opts);
        Ok(())
    }
}
