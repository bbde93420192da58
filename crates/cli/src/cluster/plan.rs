//! Pure planning for the cluster manager: how `create` splits slots and assigns replicas (with
//! redis-cli's anti-affinity by host), which slots `reshard` takes from which source, how
//! `rebalance` pairs givers with takers, and how `fix` classifies an open slot.
//!
//! Everything here is a function of its arguments (the only randomness, the anti-affinity swaps,
//! comes from a seeded [`Rng`]), so the arithmetic redis-cli does in C floats can be unit-tested
//! without servers. It must never do I/O or print: results come back as values and log lines.

use super::model::SLOTS;

/// A log line's level; the manager colours them as redis-cli does when TERM names an xterm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Plain,
    Info,
    Warn,
    Err,
    Ok,
}

/// A small linear congruential generator: the anti-affinity search only needs "some" randomness,
/// like redis-cli's `rand()` seeded with the time; a dependency on `rand` would buy nothing.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// One node as `create` sees it: its host (anti-affinity compares these), `ip:port` for the log,
/// and its id (known after `CLUSTER NODES`).
#[derive(Debug, Clone)]
pub struct CreateNode {
    pub ip: String,
    pub addr: String,
    pub id: String,
}

/// The layout `create` will apply.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    /// Indexes (into the input) of the masters, in slot order.
    pub masters: Vec<usize>,
    /// Inclusive slot range of each master, parallel to `masters`.
    pub ranges: Vec<(usize, usize)>,
    /// For each input node: the index of the master it will replicate, if any.
    pub replica_of: Vec<Option<usize>>,
    /// What redis-cli prints while planning, in order.
    pub log: Vec<(Level, String)>,
}

/// `CLUSTER_MANAGER_MASTERS_COUNT`: how many masters `nodes` nodes with `replicas` each give.
pub fn masters_count(nodes: usize, replicas: usize) -> usize {
    nodes / replicas.saturating_add(1)
}

/// Plans a new cluster as redis-cli's `clusterManagerCommandCreate` does: nodes interleaved by host,
/// the first `masters` of them get equal slot ranges, the rest become replicas preferring another
/// host than their master's, then random swaps lower the anti-affinity score.
pub fn plan_create(nodes: &[CreateNode], replicas: usize, rng: &mut Rng) -> CreatePlan {
    let mut log = Vec::new();
    let masters_n = masters_count(nodes.len(), replicas);
    // Group by host in order of first appearance, then take one from each host in turn.
    let mut hosts: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match hosts.iter_mut().find(|(ip, _)| *ip == n.ip) {
            Some((_, v)) => v.push(i),
            None => hosts.push((&n.ip, vec![i])),
        }
    }
    let mut interleaved = Vec::with_capacity(nodes.len());
    let mut cursors = vec![0usize; hosts.len()];
    while interleaved.len() < nodes.len() {
        for (h, (_, members)) in hosts.iter().enumerate() {
            if let Some(&i) = members.get(cursors[h]) {
                interleaved.push(i);
                cursors[h] += 1;
            }
        }
    }
    let masters: Vec<usize> = interleaved[..masters_n.min(interleaved.len())].to_vec();
    let mut ranges = Vec::new();
    // redis-cli computes the split in C floats and rounds with lround; the same here.
    let slots_per_node = SLOTS as f32 / masters_n.max(1) as f32;
    let mut first: i64 = 0;
    let mut cursor: f32 = 0.0;
    for i in 0..masters.len() {
        let mut last = (cursor + slots_per_node - 1.0).round() as i64;
        if last > SLOTS as i64 || i == masters.len() - 1 {
            last = SLOTS as i64 - 1;
        }
        if last < first {
            last = first;
        }
        log.push((Level::Plain, format!("Master[{i}] -> Slots {first} - {last}")));
        ranges.push((first as usize, last as usize));
        first = last + 1;
        cursor += slots_per_node;
    }
    // The remaining nodes, rotated by one ("sometimes helps to get better initial anti-affinity").
    let mut pool: Vec<Option<usize>> = interleaved[masters.len()..].iter().map(|&i| Some(i)).collect();
    if !pool.is_empty() {
        pool.rotate_left(1);
    }
    let mut replica_of: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut available = pool.len();
    let mut assign_unused = false;
    loop {
        for &m in &masters {
            let mut assigned = 0;
            while assigned < replicas && available > 0 {
                let other_host = pool.iter().position(|p| p.is_some_and(|i| nodes[i].ip != nodes[m].ip));
                let pick = other_host.or_else(|| pool.iter().position(Option::is_some));
                let Some(slot) = pick else { break };
                let Some(r) = pool[slot].take() else { break };
                assigned += 1;
                available -= 1;
                replica_of[r] = Some(m);
                log.push((Level::Plain, format!("Adding replica {} to {}", addr_of(nodes, r), addr_of(nodes, m))));
                if assign_unused {
                    break;
                }
            }
        }
        if !assign_unused && available > 0 {
            assign_unused = true;
            log.push((Level::Plain, "Adding extra replicas...".to_string()));
            continue;
        }
        break;
    }
    optimize_anti_affinity(nodes, &mut replica_of, rng, &mut log);
    CreatePlan { masters, ranges, replica_of, log }
}

fn addr_of(nodes: &[CreateNode], i: usize) -> String {
    nodes[i].addr.clone()
}

/// The anti-affinity score of an assignment (`clusterManagerGetAntiAffinityScore`): per host and per
/// master, 10000 for each replica sharing the master's host, else 1 per replica when several
/// replicas of one master share a host. Also returns the offending replicas, one per group.
pub fn anti_affinity_score(nodes: &[CreateNode], replica_of: &[Option<usize>]) -> (usize, Vec<usize>) {
    let mut score = 0;
    let mut offenders = Vec::new();
    let mut hosts: Vec<&str> = Vec::new();
    for n in nodes {
        if !hosts.contains(&n.ip.as_str()) {
            hosts.push(&n.ip);
        }
    }
    for host in hosts {
        // master index -> (master on this host, replicas on this host)
        let mut groups: Vec<(usize, bool, usize)> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.ip != host {
                continue;
            }
            let key = replica_of[i].unwrap_or(i);
            let g = match groups.iter_mut().position(|g| g.0 == key) {
                Some(p) => p,
                None => {
                    groups.push((key, false, 0));
                    groups.len() - 1
                }
            };
            if replica_of[i].is_some() {
                groups[g].2 += 1;
            } else {
                groups[g].1 = true;
            }
        }
        for (master, has_master, reps) in groups {
            let len = reps + usize::from(has_master);
            if len < 2 {
                continue;
            }
            score += if has_master { 10000 * (len - 1) } else { len };
            if let Some(o) = (0..nodes.len()).find(|&j| replica_of[j] == Some(master) && nodes[j].ip == host) {
                offenders.push(o);
            }
        }
    }
    (score, offenders)
}

fn optimize_anti_affinity(
    nodes: &[CreateNode],
    replica_of: &mut [Option<usize>],
    rng: &mut Rng,
    log: &mut Vec<(Level, String)>,
) {
    let (score, _) = anti_affinity_score(nodes, replica_of);
    if score == 0 {
        return;
    }
    log.push((Level::Info, ">>> Trying to optimize slaves allocation for anti-affinity".to_string()));
    let mut iterations = 500 * nodes.len();
    while iterations > 0 {
        let (score, offenders) = anti_affinity_score(nodes, replica_of);
        if score == 0 || offenders.is_empty() {
            break;
        }
        let first = offenders[rng.below(offenders.len())];
        let others: Vec<usize> = (0..nodes.len()).filter(|&j| j != first && replica_of[j].is_some()).collect();
        if others.is_empty() {
            break;
        }
        let second = others[rng.below(others.len())];
        replica_of.swap(first, second);
        let (new_score, _) = anti_affinity_score(nodes, replica_of);
        // Keep swaps that do not make things worse: the best layout may need several.
        if new_score > score {
            replica_of.swap(first, second);
        }
        iterations -= 1;
    }
    let (score, _) = anti_affinity_score(nodes, replica_of);
    let line = if score == 0 {
        (Level::Ok, "[OK] Perfect anti-affinity obtained!")
    } else if score >= 10000 {
        (Level::Warn, "[WARNING] Some slaves are in the same host as their master")
    } else {
        (Level::Warn, "[WARNING] Some slaves of the same master are in the same host")
    };
    log.push((line.0, line.1.to_string()));
}

/// The master ids a create plan gives each node (`None` for masters).
pub fn replicate_ids(nodes: &[CreateNode], plan: &CreatePlan) -> Vec<Option<String>> {
    plan.replica_of.iter().map(|m| m.map(|m| nodes[m].id.clone())).collect()
}

/// A reshard source: its index, its slot count and its slot map.
pub struct Source<'a> {
    pub index: usize,
    pub slots_count: usize,
    pub slots: &'a [bool],
}

/// Which slots move from which source (`clusterManagerComputeReshardTable`): sources by slot count,
/// largest first; each gives its share of `numslots` (the first rounded up, the others down),
/// lowest slots first, never more than `numslots` in all. Returns (source index, slot).
pub fn reshard_table(sources: &[Source<'_>], numslots: usize) -> Vec<(usize, usize)> {
    let total: usize = sources.iter().map(|s| s.slots_count).sum();
    let mut moved = Vec::new();
    if total == 0 {
        return moved;
    }
    let mut sorted: Vec<&Source<'_>> = sources.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.slots_count));
    for (i, src) in sorted.iter().enumerate() {
        let share = numslots as f32 / total as f32 * src.slots_count as f32;
        let max = if i == 0 { share.ceil() } else { share.floor() } as usize;
        let mut count = 0;
        for (slot, owned) in src.slots.iter().enumerate() {
            if !owned {
                continue;
            }
            if count >= max || moved.len() >= numslots {
                break;
            }
            moved.push((src.index, slot));
            count += 1;
        }
    }
    moved
}

/// A node taking part in a rebalance.
#[derive(Debug, Clone)]
pub struct Weighted {
    pub index: usize,
    pub weight: f32,
    pub slots_count: usize,
}

/// What `rebalance` will do.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalancePlan {
    pub total_weight: f32,
    /// False: every node is within the threshold, nothing to do.
    pub threshold_reached: bool,
    /// (node index, balance) after sorting: negative gets slots, positive gives.
    pub balances: Vec<(usize, i64)>,
    /// (source index, destination index, slots), in order.
    pub moves: Vec<(usize, usize, usize)>,
}

/// Plans a rebalance as `clusterManagerCommandRebalance`: each node's balance is its slots minus
/// its weighted share; rounding leftovers are pushed onto takers; then the biggest taker and the
/// biggest giver are paired until all balances are zero.
pub fn plan_rebalance(nodes: &[Weighted], threshold_pct: f32) -> RebalancePlan {
    let total_weight: f32 = nodes.iter().map(|n| n.weight).sum();
    let mut balances: Vec<(usize, i64)> = Vec::new();
    let mut total_balance: i64 = 0;
    let mut threshold_reached = false;
    for n in nodes {
        let expected = ((SLOTS as f32 / total_weight) * n.weight) as i64;
        let balance = n.slots_count as i64 - expected;
        total_balance += balance;
        balances.push((n.index, balance));
        if threshold_pct > 0.0 {
            let over = if n.slots_count > 0 {
                let err_perc = (100.0 - (100.0 * expected as f64 / n.slots_count as f64)).abs();
                err_perc > f64::from(threshold_pct)
            } else {
                expected > 1
            };
            threshold_reached |= over;
        }
    }
    let mut plan = RebalancePlan { total_weight, threshold_reached, balances: Vec::new(), moves: Vec::new() };
    if !threshold_reached {
        plan.balances = balances;
        return plan;
    }
    while total_balance > 0 {
        let before = total_balance;
        for b in balances.iter_mut() {
            if b.1 <= 0 && total_balance > 0 {
                b.1 -= 1;
                total_balance -= 1;
            }
        }
        if before == total_balance {
            // No taker at all (every node gives): nothing can absorb the surplus.
            break;
        }
    }
    balances.sort_by_key(|b| b.1);
    plan.balances = balances.clone();
    if balances.is_empty() {
        return plan;
    }
    let mut dst = 0usize;
    let mut src = balances.len() - 1;
    // Each round zeroes one side or both; the bound only guards against a malformed input.
    let mut rounds = 0;
    while dst < src && rounds < 4 * balances.len() + 16 {
        rounds += 1;
        let numslots = balances[dst].1.unsigned_abs().min(balances[src].1.unsigned_abs()) as usize;
        if numslots > 0 {
            plan.moves.push((balances[src].0, balances[dst].0, numslots));
        }
        balances[dst].1 += numslots as i64;
        balances[src].1 -= numslots as i64;
        if balances[dst].1 == 0 {
            dst += 1;
        }
        if balances[src].1 == 0 {
            src -= 1;
        }
    }
    plan
}

/// How `fix` repairs an open slot, from the nodes migrating/importing it (`clusterManagerFixOpenSlot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenSlotCase {
    /// One migrating node, one importing node: finish the move.
    MoveOne,
    /// Importing nodes only: move their keys to the owner without opening the slot.
    ColdToOwner,
    /// One migrating node and several importing ones.
    ManyImporting,
    /// Only a migrating node (or nothing to move): close the slot if it holds no keys.
    CloseOrUnhandled,
}

pub fn classify_open_slot(migrating: usize, importing: usize) -> OpenSlotCase {
    match (migrating, importing) {
        (1, 1) => OpenSlotCase::MoveOne,
        (0, i) if i > 0 => OpenSlotCase::ColdToOwner,
        (1, i) if i > 1 => OpenSlotCase::ManyImporting,
        _ => OpenSlotCase::CloseOrUnhandled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(hosts: &[&str]) -> Vec<CreateNode> {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| CreateNode { ip: h.to_string(), addr: format!("{h}:{}", 7000 + i), id: format!("id{i}") })
            .collect()
    }

    #[test]
    fn create_three_masters_splits_like_redis_cli() {
        let n = nodes(&["127.0.0.1"; 6]);
        let plan = plan_create(&n, 1, &mut Rng::new(1));
        assert_eq!(plan.masters, vec![0, 1, 2]);
        // redis-cli prints these three ranges for a 3-master cluster.
        assert_eq!(plan.ranges, vec![(0, 5460), (5461, 10922), (10923, 16383)]);
        assert_eq!(plan.log[0].1, "Master[0] -> Slots 0 - 5460");
        // Every master got exactly one replica, never itself.
        for m in 0..3 {
            assert_eq!(plan.replica_of.iter().filter(|r| **r == Some(m)).count(), 1);
        }
        assert!(plan.replica_of[..3].iter().all(Option::is_none));
        assert_eq!(plan.log.last().unwrap().1, "[WARNING] Some slaves are in the same host as their master");
    }

    #[test]
    fn create_uses_other_hosts_when_it_can() {
        let n = nodes(&["a", "a", "a", "b", "b", "b"]);
        let plan = plan_create(&n, 1, &mut Rng::new(7));
        // Interleaving a,b,a,b,...: masters on both hosts.
        assert_eq!(plan.masters, vec![0, 3, 1]);
        for (i, r) in plan.replica_of.iter().enumerate() {
            if let Some(m) = r {
                assert_ne!(n[i].ip, n[*m].ip, "replica {i} on its master's host");
            }
        }
        assert_eq!(anti_affinity_score(&n, &plan.replica_of).0, 0);
        assert_eq!(plan.log.last().unwrap().1, "Adding replica b:7004 to a:7001");
    }

    #[test]
    fn create_extra_replicas_and_uneven_split() {
        let n = nodes(&["h"; 8]);
        let plan = plan_create(&n, 1, &mut Rng::new(3));
        assert_eq!(plan.masters.len(), 4);
        assert_eq!(plan.ranges, vec![(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]);
        let n = nodes(&["h"; 7]);
        let plan = plan_create(&n, 1, &mut Rng::new(3));
        assert_eq!(plan.masters.len(), 3);
        assert!(plan.log.iter().any(|l| l.1 == "Adding extra replicas..."));
        assert_eq!(plan.replica_of.iter().filter(|r| r.is_some()).count(), 4);
    }

    #[test]
    fn reshard_table_shares_by_size() {
        let mut a = vec![false; SLOTS];
        let mut b = vec![false; SLOTS];
        (0..300).for_each(|s| a[s] = true);
        (1000..1100).for_each(|s| b[s] = true);
        let srcs = [Source { index: 1, slots_count: 100, slots: &b }, Source { index: 0, slots_count: 300, slots: &a }];
        let t = reshard_table(&srcs, 10);
        // 7.5 rounded up from the biggest, 2.5 rounded down from the other.
        assert_eq!(t.iter().filter(|m| m.0 == 0).count(), 8);
        assert_eq!(t.iter().filter(|m| m.0 == 1).count(), 2);
        assert_eq!(t[0], (0, 0));
        assert_eq!(t[8], (1, 1000));
        assert!(reshard_table(&[], 5).is_empty());
    }

    #[test]
    fn rebalance_moves_to_empty_master() {
        let nodes = vec![
            Weighted { index: 0, weight: 1.0, slots_count: 5461 },
            Weighted { index: 1, weight: 1.0, slots_count: 5462 },
            Weighted { index: 2, weight: 1.0, slots_count: 5461 },
            Weighted { index: 3, weight: 1.0, slots_count: 0 },
        ];
        let p = plan_rebalance(&nodes, 2.0);
        assert!(p.threshold_reached);
        let moved: usize = p.moves.iter().map(|m| m.2).sum();
        assert_eq!(moved, 4096);
        assert!(p.moves.iter().all(|m| m.1 == 3));
        // Balanced already: nothing to do.
        let even = vec![
            Weighted { index: 0, weight: 1.0, slots_count: 8192 },
            Weighted { index: 1, weight: 1.0, slots_count: 8192 },
        ];
        let p = plan_rebalance(&even, 2.0);
        assert!(!p.threshold_reached && p.moves.is_empty());
        // Weights: a node of weight 3 ends with three quarters.
        let w = vec![
            Weighted { index: 0, weight: 3.0, slots_count: 8192 },
            Weighted { index: 1, weight: 1.0, slots_count: 8192 },
        ];
        let p = plan_rebalance(&w, 2.0);
        assert_eq!(p.moves, vec![(1, 0, 4096)]);
    }

    #[test]
    fn open_slot_cases() {
        assert_eq!(classify_open_slot(1, 1), OpenSlotCase::MoveOne);
        assert_eq!(classify_open_slot(0, 2), OpenSlotCase::ColdToOwner);
        assert_eq!(classify_open_slot(1, 3), OpenSlotCase::ManyImporting);
        assert_eq!(classify_open_slot(1, 0), OpenSlotCase::CloseOrUnhandled);
        assert_eq!(classify_open_slot(2, 0), OpenSlotCase::CloseOrUnhandled);
    }
}
