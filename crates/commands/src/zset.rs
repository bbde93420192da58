//! The `sorted-set` command group: ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF (and
//! their STORE forms), the pops (blocking ones included), ZRANDMEMBER, ZSCAN and the rest, with
//! Redis 7.0.15's replies and errors in RESP2 and RESP3.
//!
//! A sorted set is a [`ZSetValue`]: member → score for lookups and a `BTreeSet<(Score, Sds)>`
//! for order, so members with equal scores order by their bytes, as in Redis. Both halves are
//! kept in step by the `zs_*` helpers here and nowhere else. A sorted set that becomes empty is
//! deleted. Scores are never NaN, and -0 is stored as 0 (as Redis's listpack encoding, used for
//! every small set, stores it), so the total order of `Score` agrees with `==` on scores.
//!
//! Rank operations (ZRANK, ZRANGE by index, ZREMRANGEBYRANK, ZCOUNT) walk the BTreeSet and cost
//! O(rank) rather than Redis's O(log n). The better structure is an order-statistic tree (a
//! B-tree whose nodes keep subtree counts) or Redis's own skiplist with spans; ZSetValue lives
//! in the keyspace crate, so that change belongs there.
//!
//! Every command that adds members reports the key with `ctx.signal_ready` for blocked
//! BZPOPMIN/BZPOPMAX/BZMPOP clients (on every addition, not only on key creation as Redis does;
//! see the list module for why). This module never leaves an empty sorted set behind, never
//! waits and never reads a clock; it draws random numbers (ZRANDMEMBER) from the thread's
//! generator, since `Ctx` carries no seeded one.

use crate::args::eq_ic;
use crate::ctx::Ctx;
use crate::errors;
use crate::list::{
    block_or_deny, deny_null_array, is_c_space, long_or_reply, normalize_range, parse_c_number, parse_mpop,
    positive_long_or_reply, range_long_or_reply, timeout_or_reply, NumKind, WrongType,
};
use crate::notify::{NOTIFY_GENERIC, NOTIFY_ZSET};
use crate::registry::{Kind, Registry};
use keyspace::value::FastMap;
use keyspace::{Score, Sds, SlotTable, Value, ZSetValue};
use resp::{format_double, ReplyBuf};
use std::cmp::Ordering;
use std::ops::Bound;

pub fn register(r: &mut Registry) {
    r.add("zadd", Kind::Data(zadd));
    r.add("zincrby", Kind::Data(zincrby));
    r.add("zcard", Kind::Data(zcard));
    r.add("zscore", Kind::Data(zscore));
    r.add("zmscore", Kind::Data(zmscore));
    r.add("zrank", Kind::Data(zrank));
    r.add("zrevrank", Kind::Data(zrevrank));
    r.add("zcount", Kind::Data(zcount));
    r.add("zlexcount", Kind::Data(zlexcount));
    r.add("zrem", Kind::Data(zrem));
    r.add("zremrangebyrank", Kind::Data(zremrangebyrank));
    r.add("zremrangebyscore", Kind::Data(zremrangebyscore));
    r.add("zremrangebylex", Kind::Data(zremrangebylex));
    r.add("zrange", Kind::Data(zrange));
    r.add("zrangestore", Kind::Data(zrangestore));
    r.add("zrevrange", Kind::Data(zrevrange));
    r.add("zrangebyscore", Kind::Data(zrangebyscore));
    r.add("zrevrangebyscore", Kind::Data(zrevrangebyscore));
    r.add("zrangebylex", Kind::Data(zrangebylex));
    r.add("zrevrangebylex", Kind::Data(zrevrangebylex));
    r.add("zunion", Kind::Data(zunion));
    r.add("zinter", Kind::Data(zinter));
    r.add("zdiff", Kind::Data(zdiff));
    r.add("zunionstore", Kind::Data(zunionstore));
    r.add("zinterstore", Kind::Data(zinterstore));
    r.add("zdiffstore", Kind::Data(zdiffstore));
    r.add("zintercard", Kind::Data(zintercard));
    r.add("zpopmin", Kind::Data(zpopmin));
    r.add("zpopmax", Kind::Data(zpopmax));
    r.add("bzpopmin", Kind::Data(bzpopmin));
    r.add("bzpopmax", Kind::Data(bzpopmax));
    r.add("zmpop", Kind::Data(zmpop));
    r.add("bzmpop", Kind::Data(bzmpop));
    r.add("zrandmember", Kind::Data(zrandmember));
    r.add("zscan", Kind::Data(zscan));
}

// ---------------------------------------------------------------------------------------------
// The value: lookups and the only code that changes a ZSetValue.
// ---------------------------------------------------------------------------------------------

/// -0 becomes 0: Redis's listpack stores a zero score as the integer 0, and our `Score` order
/// (total_cmp) would otherwise put -0 before 0 although they compare equal.
#[inline]
fn norm(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Sets `member`'s score, adding the member if new.
fn zs_set(z: &mut ZSetValue, member: &[u8], score: f64) {
    let score = norm(score);
    match z.scores.get_key_value(member) {
        Some((_, &old)) if old == score => {}
        Some((k, &old)) => {
            let probe = (Score(old), k.clone());
            z.ordered.remove(&probe);
            let k = probe.1;
            z.ordered.insert((Score(score), k.clone()));
            z.scores.insert(k, score);
        }
        None => {
            let k = Sds::new(member);
            z.ordered.insert((Score(score), k.clone()));
            z.scores.insert(k, score);
        }
    }
}

/// Removes `member`, returning its score if it was there.
fn zs_remove(z: &mut ZSetValue, member: &[u8]) -> Option<f64> {
    let (k, score) = z.scores.remove_entry(member)?;
    z.ordered.remove(&(Score(score), k));
    Some(score)
}

/// Builds a sorted set from members and scores (later duplicates overwrite earlier ones).
pub(crate) fn zs_from<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>) -> ZSetValue {
    let mut z = ZSetValue::default();
    for (m, s) in items {
        zs_set(&mut z, m, s);
    }
    z
}

/// 0-based rank of `member` from the lowest score. O(rank): see the module doc for the
/// order-statistic structure that would make it O(log n).
fn zs_rank(z: &ZSetValue, member: &[u8]) -> Option<usize> {
    let &score = z.scores.get(member)?;
    Some(z.ordered.range(..(Score(score), Sds::new(member))).count())
}

pub(crate) fn zset_ref<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t ZSetValue>, WrongType> {
    match t.get(key, now_ms) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(WrongType),
    }
}

fn zset_mut<'t>(t: &'t mut SlotTable, key: &[u8], now_ms: i64) -> Result<Option<&'t mut ZSetValue>, WrongType> {
    match t.get_mut(key, now_ms) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(WrongType),
    }
}

/// Stores a computed sorted set at `dst` as Redis's `setKey` does (replacing any value and its
/// TTL), or deletes `dst` when the result is empty. Replies the result's size and accounts the
/// change; signals `dst` when it now has members.
fn store_result(ctx: &mut Ctx<'_, '_>, dst: &[u8], result: ZSetValue, event: &'static str) {
    let now = ctx.now_ms;
    let len = result.scores.len();
    let t = ctx.locks.table(ctx.ks, ctx.db, dst);
    if len > 0 {
        t.set(dst, Value::ZSet(Box::new(result)));
        ctx.out.int(len as i64);
        ctx.dirty(1);
        ctx.notify(NOTIFY_ZSET, event, dst);
        ctx.signal_ready(dst);
    } else {
        let existed = t.remove(dst, now).is_some();
        ctx.out.int(0);
        if existed {
            ctx.dirty(1);
            ctx.notify(NOTIFY_GENERIC, "del", dst);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Argument parsing with C's number rules.
// ---------------------------------------------------------------------------------------------

/// A score or weight as Redis's `string2d` reads it: strtod syntax (hex and `inf` included),
/// no leading space, nothing left over, no overflow, no underflow to zero, no NaN.
pub(crate) fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return None;
    }
    let n = parse_c_number(arg)?;
    let magnitude = match n.kind {
        NumKind::Nan => return None,
        NumKind::Inf => f64::INFINITY,
        NumKind::Decimal(d) => {
            let v = d.to_f64();
            if v.is_infinite() || (v == 0.0 && !d.digits.is_empty()) {
                return None;
            }
            v
        }
        NumKind::Hex { magnitude, lead_exp2 } => {
            if magnitude.is_infinite() || (magnitude == 0.0 && lead_exp2.is_some()) {
                return None;
            }
            magnitude
        }
    };
    Some(if n.negative { -magnitude } else { magnitude })
}

fn score_or_reply(out: &mut ReplyBuf, arg: &[u8], msg: &str) -> Option<f64> {
    let v = parse_score(arg);
    if v.is_none() {
        out.error(msg);
    }
    v
}

/// A range bound's number as `zslParseRange` reads it with plain `strtod`: the argument is a C
/// string (it ends at a NUL), leading space is skipped, overflow gives ±inf and underflow 0,
/// an empty string is 0; only NaN and bytes left over are refused.
fn parse_range_number(arg: &[u8]) -> Option<f64> {
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if arg.is_empty() {
        return Some(0.0);
    }
    let start = arg.iter().position(|&c| !is_c_space(c))?;
    let n = parse_c_number(&arg[start..])?;
    let magnitude = match n.kind {
        NumKind::Nan => return None,
        NumKind::Inf => f64::INFINITY,
        NumKind::Decimal(d) => d.to_f64(),
        NumKind::Hex { magnitude, .. } => magnitude,
    };
    Some(if n.negative { -magnitude } else { magnitude })
}

/// A score interval: `(` makes a bound exclusive.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    /// `zslParseRange`; None is "min or max is not a float".
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (minex, min) = match min.first() {
            Some(b'(') => (true, &min[1..]),
            _ => (false, min),
        };
        let (maxex, max) = match max.first() {
            Some(b'(') => (true, &max[1..]),
            _ => (false, max),
        };
        Some(ScoreRange { min: norm(parse_range_number(min)?), max: norm(parse_range_number(max)?), minex, maxex })
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Ranges that can hold nothing whatever the set (Redis checks this first).
    fn never_matches(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    /// The BTreeSet bounds covering exactly this interval. Only for ranges that can match.
    fn bounds(&self) -> (Bound<Entry>, Bound<Entry>) {
        let empty = Sds::new(b"");
        let lo = if self.minex { next_up(self.min) } else { self.min };
        let lower = Bound::Included((Score(lo), empty.clone()));
        let upper = if self.maxex {
            Bound::Excluded((Score(self.max), empty))
        } else if self.max == f64::INFINITY {
            Bound::Unbounded
        } else {
            Bound::Excluded((Score(next_up(self.max)), empty))
        };
        (lower, upper)
    }
}

/// The smallest f64 above `x` (IEEE nextUp); +inf and NaN map to themselves.
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// One end of a lexicographic range: `-`, `+`, or a string.
#[derive(Clone, Debug)]
enum LexItem {
    Min,
    Max,
    Str(Sds),
}

#[derive(Clone, Debug)]
struct LexRange {
    min: LexItem,
    minex: bool,
    max: LexItem,
    maxex: bool,
}

/// `sdscmplex` with a member on the left.
fn lex_cmp(v: &[u8], item: &LexItem) -> Ordering {
    match item {
        LexItem::Min => Ordering::Greater,
        LexItem::Max => Ordering::Less,
        LexItem::Str(s) => v.cmp(s.as_bytes()),
    }
}

impl LexRange {
    /// `zslParseLexRange`; None is "min or max not valid string range item".
    fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        let (min, minex) = Self::item(min)?;
        let (max, maxex) = Self::item(max)?;
        Some(LexRange { min, minex, max, maxex })
    }

    fn item(arg: &[u8]) -> Option<(LexItem, bool)> {
        match arg.first() {
            Some(b'+') if arg.len() == 1 => Some((LexItem::Max, true)),
            Some(b'-') if arg.len() == 1 => Some((LexItem::Min, true)),
            Some(b'(') => Some((LexItem::Str(Sds::new(&arg[1..])), true)),
            Some(b'[') => Some((LexItem::Str(Sds::new(&arg[1..])), false)),
            _ => None,
        }
    }

    fn gte_min(&self, v: &[u8]) -> bool {
        let c = lex_cmp(v, &self.min);
        if self.minex {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    fn lte_max(&self, v: &[u8]) -> bool {
        let c = lex_cmp(v, &self.max);
        if self.maxex {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }

    fn never_matches(&self) -> bool {
        use LexItem::*;
        let c = match (&self.min, &self.max) {
            (Min, Min) | (Max, Max) => Ordering::Equal,
            (Min, _) | (_, Max) => Ordering::Less,
            (Max, _) | (_, Min) => Ordering::Greater,
            (Str(a), Str(b)) => a.as_bytes().cmp(b.as_bytes()),
        };
        c == Ordering::Greater || (c == Ordering::Equal && (self.minex || self.maxex))
    }
}

/// A score or lex interval, for the commands that take either.
enum Interval {
    Score(ScoreRange),
    Lex(LexRange),
}

type Entry = (Score, Sds);
type EntryIter<'z> = Box<dyn Iterator<Item = &'z Entry> + 'z>;

impl Interval {
    /// Whether `e` is still in range when walking up (forward) or down (reverse). Redis checks
    /// only this side after finding the first element in range.
    fn continues(&self, e: &Entry, reverse: bool) -> bool {
        match (self, reverse) {
            (Interval::Score(r), false) => r.lte_max(e.0 .0),
            (Interval::Score(r), true) => r.gte_min(e.0 .0),
            (Interval::Lex(r), false) => r.lte_max(&e.1),
            (Interval::Lex(r), true) => r.gte_min(&e.1),
        }
    }

    /// The elements from the first one in range (lowest for forward, highest for reverse)
    /// onward to the end of the set, or None when nothing is in range. Callers stop with
    /// [`Interval::continues`].
    fn start<'z>(&self, z: &'z ZSetValue, reverse: bool) -> Option<EntryIter<'z>> {
        let (first, last) = (z.ordered.first()?, z.ordered.last()?);
        match self {
            Interval::Score(r) => {
                if r.never_matches() || !r.gte_min(last.0 .0) || !r.lte_max(first.0 .0) {
                    return None;
                }
                let (lower, upper) = r.bounds();
                let mut it: EntryIter<'z> = if reverse {
                    Box::new(z.ordered.range((Bound::Unbounded, upper)).rev())
                } else {
                    Box::new(z.ordered.range((lower, Bound::Unbounded)))
                };
                // The first element at or past the bound must also satisfy the other side.
                let head = it.next()?;
                let inside = if reverse { r.gte_min(head.0 .0) } else { r.lte_max(head.0 .0) };
                inside.then(|| Box::new(std::iter::once(head).chain(it)) as EntryIter<'z>)
            }
            Interval::Lex(r) => {
                if r.never_matches() || !r.gte_min(&last.1) || !r.lte_max(&first.1) {
                    return None;
                }
                let mut it: EntryIter<'z> = if first.0 == last.0 {
                    // All scores equal: set order is byte order, so the bounds can seek.
                    let score = first.0;
                    if reverse {
                        let upper = match &r.max {
                            LexItem::Min => return None,
                            LexItem::Max => Bound::Unbounded,
                            LexItem::Str(s) if r.maxex => Bound::Excluded((score, s.clone())),
                            LexItem::Str(s) => Bound::Included((score, s.clone())),
                        };
                        Box::new(z.ordered.range((Bound::Unbounded, upper)).rev())
                    } else {
                        let lower = match &r.min {
                            LexItem::Max => return None,
                            LexItem::Min => Bound::Unbounded,
                            LexItem::Str(s) if r.minex => Bound::Excluded((score, s.clone())),
                            LexItem::Str(s) => Bound::Included((score, s.clone())),
                        };
                        Box::new(z.ordered.range((lower, Bound::Unbounded)))
                    }
                } else if reverse {
                    // Mixed scores: Redis's result is unspecified; we scan as its listpack does.
                    let r2 = r.clone();
                    Box::new(z.ordered.iter().rev().skip_while(move |e| !r2.lte_max(&e.1)))
                } else {
                    let r2 = r.clone();
                    Box::new(z.ordered.iter().skip_while(move |e| !r2.gte_min(&e.1)))
                };
                let head = it.next()?;
                let inside = if reverse { r.gte_min(&head.1) } else { r.lte_max(&head.1) };
                inside.then(|| Box::new(std::iter::once(head).chain(it)) as EntryIter<'z>)
            }
        }
    }

    /// The members in range, lowest first (for counting and removal).
    fn members<'z>(&'z self, z: &'z ZSetValue) -> impl Iterator<Item = &'z Entry> + 'z {
        self.start(z, false).into_iter().flatten().take_while(move |e| self.continues(e, false))
    }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// A ZRANGE-style list of members, with scores: a flat array in RESP2, [member, score] pairs in
/// RESP3 (an array, not a map, so the order survives).
fn reply_members<'a>(out: &mut ReplyBuf, len: usize, items: impl Iterator<Item = (&'a [u8], f64)>, withscores: bool) {
    let pairs = withscores && out.is_resp3();
    out.array(if withscores && !pairs { len * 2 } else { len });
    for (member, score) in items {
        if pairs {
            out.array(2);
        }
        out.bulk(member);
        if withscores {
            out.double(score);
        }
    }
}

/// How Redis's listpack stores a score (`zzlInsertAt`): integral values in the `long long` safe
/// range as integers, others as `%.17g`. ZSCAN of a small set returns these strings.
fn listpack_score_text(score: f64) -> String {
    const SAFE: f64 = (i64::MAX / 2) as f64;
    if score.is_finite() && (-SAFE..=SAFE).contains(&score) && score == score.trunc() {
        (score as i64).to_string()
    } else {
        format_double(score)
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What `zset_add` did to one member.
#[derive(Default)]
struct AddOutcome {
    added: bool,
    updated: bool,
    /// Nothing was done because of NX/XX/GT/LT.
    nop: bool,
    /// The member's score afterwards (meaningful unless `nop`).
    score: f64,
}

/// Redis's `zsetAdd`: adds or updates one member under the flags. Err means the increment made
/// the score NaN (nothing changed).
fn zset_add(z: &mut ZSetValue, score: f64, member: &[u8], f: AddFlags) -> Result<AddOutcome, ()> {
    match z.scores.get(member).copied() {
        Some(cur) => {
            if f.nx {
                return Ok(AddOutcome { nop: true, ..Default::default() });
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(());
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(AddOutcome { nop: true, ..Default::default() });
            }
            let updated = new != cur;
            if updated {
                zs_set(z, member, new);
            }
            // The reply shows the score as computed (-0 included), though -0 is stored as 0.
            Ok(AddOutcome { updated, score: new, ..Default::default() })
        }
        None if f.xx => Ok(AddOutcome { nop: true, ..Default::default() }),
        None => {
            zs_set(z, member, score);
            Ok(AddOutcome { added: true, score, ..Default::default() })
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...], and ZINCRBY (the same
/// parser with INCR preset, as in Redis: ZINCRBY's increment slot is read for options too).
pub(crate) fn zadd_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], incr_preset: bool) {
    let key = args[1];
    let mut f = AddFlags { incr: incr_preset, ..Default::default() };
    let mut ch = false;
    let mut idx = 2;
    while idx < args.len() {
        let a = args[idx];
        if eq_ic(a, "nx") {
            f.nx = true;
        } else if eq_ic(a, "xx") {
            f.xx = true;
        } else if eq_ic(a, "ch") {
            ch = true;
        } else if eq_ic(a, "incr") {
            f.incr = true;
        } else if eq_ic(a, "gt") {
            f.gt = true;
        } else if eq_ic(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &args[idx..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return ctx.out.error(errors::SYNTAX);
    }
    if f.nx && f.xx {
        return ctx.out.error("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return ctx.out.error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && rest.len() > 2 {
        return ctx.out.error("ERR INCR option supports a single increment-element pair");
    }
    // Every score is parsed before anything changes: the command applies fully or not at all.
    let mut scores = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        let Some(s) = score_or_reply(ctx.out, pair[0], errors::NOT_FLOAT) else { return };
        scores.push(s);
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let z = match t.get_mut(key, now) {
        Some(Value::ZSet(z)) => z,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
        // No key and XX: nothing to do.
        None if f.xx => return if f.incr { ctx.out.null() } else { ctx.out.int(0) },
        None => match t.insert_new(key, Value::ZSet(Box::default())) {
            Value::ZSet(z) => z,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last_score = 0.0;
    let mut nan = false;
    for (pair, &score) in rest.chunks_exact(2).zip(&scores) {
        match zset_add(z, score, pair[1], f) {
            Err(()) => {
                nan = true;
                break;
            }
            Ok(o) => {
                added += o.added as u64;
                updated += o.updated as u64;
                if !o.nop {
                    processed += 1;
                    last_score = o.score;
                }
            }
        }
    }
    // Only an increment can fail, and never on a member just created, but an empty set must
    // never be left behind.
    if z.scores.is_empty() {
        t.remove(key, now);
    }
    if nan {
        ctx.out.error("ERR resulting score is not a number (NaN)");
    } else {
        ctx.dirty(added + updated);
        if added + updated > 0 {
            ctx.notify(NOTIFY_ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        }
        if f.incr {
            if processed > 0 {
                ctx.out.double(last_score);
            } else {
                ctx.out.null();
            }
        } else {
            ctx.out.int((if ch { added + updated } else { added }) as i64);
        }
    }
    if added > 0 {
        ctx.signal_ready(key);
    }
}

fn zadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zadd_generic(ctx, args, false)
}

/// ZINCRBY key increment member
fn zincrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zadd_generic(ctx, args, true)
}

// ---------------------------------------------------------------------------------------------
// Single-member reads
// ---------------------------------------------------------------------------------------------

/// ZCARD key
fn zcard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    match zset_ref(ctx.locks.table(ctx.ks, ctx.db, args[1]), args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(z)) => ctx.out.int(z.scores.len() as i64),
    }
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    match zset_ref(ctx.locks.table(ctx.ks, ctx.db, args[1]), args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(z) => match z.and_then(|z| z.scores.get(args[2])) {
            Some(&s) => ctx.out.double(s),
            None => ctx.out.null(),
        },
    }
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    match zset_ref(ctx.locks.table(ctx.ks, ctx.db, args[1]), args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(z) => {
            ctx.out.array(args.len() - 2);
            for m in &args[2..] {
                match z.and_then(|z| z.scores.get(*m)) {
                    Some(&s) => ctx.out.double(s),
                    None => ctx.out.null(),
                }
            }
        }
    }
}

/// ZRANK/ZREVRANK key member
fn rank_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], reverse: bool) {
    let now = ctx.now_ms;
    match zset_ref(ctx.locks.table(ctx.ks, ctx.db, args[1]), args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(None) => ctx.out.null(),
        Ok(Some(z)) => match zs_rank(z, args[2]) {
            Some(r) if reverse => ctx.out.int((z.scores.len() - 1 - r) as i64),
            Some(r) => ctx.out.int(r as i64),
            None => ctx.out.null(),
        },
    }
}

fn zrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rank_generic(ctx, args, true)
}

/// ZCOUNT/ZLEXCOUNT key min max — the range is parsed before the key is looked up.
fn count_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], lex: bool) {
    let interval = if lex {
        match LexRange::parse(args[2], args[3]) {
            Some(r) => Interval::Lex(r),
            None => return ctx.out.error(errors::MIN_MAX_NOT_STRING),
        }
    } else {
        match ScoreRange::parse(args[2], args[3]) {
            Some(r) => Interval::Score(r),
            None => return ctx.out.error(errors::MIN_MAX_NOT_FLOAT),
        }
    };
    let now = ctx.now_ms;
    match zset_ref(ctx.locks.table(ctx.ks, ctx.db, args[1]), args[1], now) {
        Err(WrongType) => ctx.out.error(errors::WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(z)) => {
            let n = interval.members(z).count();
            ctx.out.int(n as i64)
        }
    }
}

fn zcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_generic(ctx, args, false)
}

fn zlexcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_generic(ctx, args, true)
}

// ---------------------------------------------------------------------------------------------
// Removals
// ---------------------------------------------------------------------------------------------

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let z = match zset_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let mut deleted = 0u64;
    for m in &args[2..] {
        deleted += zs_remove(z, m).is_some() as u64;
        if z.scores.is_empty() {
            break;
        }
    }
    let emptied = z.scores.is_empty();
    if emptied {
        t.remove(key, now);
    }
    ctx.dirty(deleted);
    if deleted > 0 {
        ctx.notify(NOTIFY_ZSET, "zrem", key);
        if emptied {
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted as i64);
}

enum RemoveBy {
    Rank(i64, i64),
    Range(Interval),
}

/// ZREMRANGEBYRANK/BYSCORE/BYLEX key min max
fn zremrange_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], kind: u8) {
    let by = match kind {
        b'r' => {
            let Some(start) = long_or_reply(ctx.out, args[2]) else { return };
            let Some(end) = long_or_reply(ctx.out, args[3]) else { return };
            RemoveBy::Rank(start, end)
        }
        b's' => match ScoreRange::parse(args[2], args[3]) {
            Some(r) => RemoveBy::Range(Interval::Score(r)),
            None => return ctx.out.error(errors::MIN_MAX_NOT_FLOAT),
        },
        _ => match LexRange::parse(args[2], args[3]) {
            Some(r) => RemoveBy::Range(Interval::Lex(r)),
            None => return ctx.out.error(errors::MIN_MAX_NOT_STRING),
        },
    };
    let key = args[1];
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let z = match zset_mut(t, key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let doomed: Vec<Sds> = match &by {
        RemoveBy::Rank(start, end) => match normalize_range(*start, *end, z.scores.len()) {
            None => return ctx.out.int(0),
            Some((s, e)) => z.ordered.iter().skip(s).take(e - s + 1).map(|(_, m)| m.clone()).collect(),
        },
        RemoveBy::Range(interval) => interval.members(z).map(|(_, m)| m.clone()).collect(),
    };
    for m in &doomed {
        zs_remove(z, m);
    }
    let emptied = z.scores.is_empty();
    if emptied {
        t.remove(key, now);
    }
    ctx.dirty(doomed.len() as u64);
    if !doomed.is_empty() {
        let event = match kind {
            b'r' => "zremrangebyrank",
            b's' => "zremrangebyscore",
            _ => "zremrangebylex",
        };
        ctx.notify(NOTIFY_ZSET, event, key);
        if emptied {
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
    }
    ctx.out.int(doomed.len() as i64);
}

fn zremrangebyrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zremrange_generic(ctx, args, b'r')
}

fn zremrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zremrange_generic(ctx, args, b's')
}

fn zremrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zremrange_generic(ctx, args, b'l')
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its older forms
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// Redis's `zrangeGenericCommand`: ZRANGE, ZRANGESTORE and Z[REV]RANGE[BYSCORE|BYLEX].
/// `args[src_idx]` is the source key; `dst` is ZRANGESTORE's destination.
fn zrange_generic(
    ctx: &mut Ctx<'_, '_>,
    args: &[&[u8]],
    src_idx: usize,
    dst: Option<&[u8]>,
    mut rangetype: RangeType,
    mut direction: Direction,
) {
    let store = dst.is_some();
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1; // -1: not given (LIMIT x -1 counts as not given, as in Redis)
    let mut j = src_idx + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if !store && eq_ic(a, "withscores") {
            withscores = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            let Some(o) = long_or_reply(ctx.out, args[j + 1]) else { return };
            let Some(l) = long_or_reply(ctx.out, args[j + 2]) else { return };
            offset = o;
            limit = l;
            j += 2;
        } else if direction == Direction::Auto && eq_ic(a, "rev") {
            direction = Direction::Reverse;
        } else if rangetype == RangeType::Auto && eq_ic(a, "bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && eq_ic(a, "byscore") {
            rangetype = RangeType::Score;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    if direction == Direction::Auto {
        direction = Direction::Forward;
    }
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        return ctx.out.error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if withscores && rangetype == RangeType::Lex {
        return ctx.out.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let reverse = direction == Direction::Reverse;
    let (mut min_arg, mut max_arg) = (args[src_idx + 1], args[src_idx + 2]);
    if reverse && rangetype != RangeType::Rank {
        // The reverse forms take max before min.
        std::mem::swap(&mut min_arg, &mut max_arg);
    }
    enum Spec {
        Rank(i64, i64),
        Range(Interval),
    }
    let spec = match rangetype {
        RangeType::Score => match ScoreRange::parse(min_arg, max_arg) {
            Some(r) => Spec::Range(Interval::Score(r)),
            None => return ctx.out.error(errors::MIN_MAX_NOT_FLOAT),
        },
        RangeType::Lex => match LexRange::parse(min_arg, max_arg) {
            Some(r) => Spec::Range(Interval::Lex(r)),
            None => return ctx.out.error(errors::MIN_MAX_NOT_STRING),
        },
        _ => {
            let Some(start) = long_or_reply(ctx.out, min_arg) else { return };
            let Some(end) = long_or_reply(ctx.out, max_arg) else { return };
            Spec::Rank(start, end)
        }
    };
    let src = args[src_idx];
    let now = ctx.now_ms;
    let z = match zset_ref(ctx.locks.table(ctx.ks, ctx.db, src), src, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => {
            return match dst {
                Some(dst) => store_result(ctx, dst, ZSetValue::default(), "zrangestore"),
                None => ctx.out.array(0),
            };
        }
        Ok(Some(z)) => z,
    };
    let picked: Vec<&Entry> = match &spec {
        Spec::Rank(start, end) => match normalize_range(*start, *end, z.scores.len()) {
            None => Vec::new(),
            Some((s, e)) => {
                let n = e - s + 1;
                if reverse {
                    z.ordered.iter().rev().skip(s).take(n).collect()
                } else {
                    z.ordered.iter().skip(s).take(n).collect()
                }
            }
        },
        Spec::Range(interval) => {
            // Redis skips `offset` elements without checking them, then stops at the first
            // element out of range; a negative offset walks off the end (empty result) and a
            // negative limit means no limit.
            if offset < 0 || (offset > 0 && offset as u64 >= z.scores.len() as u64) {
                Vec::new()
            } else {
                match interval.start(z, reverse) {
                    None => Vec::new(),
                    Some(it) => {
                        let taken = it.skip(offset as usize).take_while(|e| interval.continues(e, reverse));
                        match usize::try_from(limit) {
                            Ok(l) => taken.take(l).collect(),
                            Err(_) => taken.collect(),
                        }
                    }
                }
            }
        }
    };
    match dst {
        None => reply_members(ctx.out, picked.len(), picked.iter().map(|(s, m)| (m.as_bytes(), s.0)), withscores),
        Some(dst) => {
            let result = zs_from(picked.iter().map(|(s, m)| (m.as_bytes(), s.0)));
            store_result(ctx, dst, result, "zrangestore")
        }
    }
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, Direction::Auto)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 2, Some(args[1]), RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Direction::Reverse)
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE) and ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`: inf + -inf is 0 in a sum, by Redis's convention.
fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// One input of a set operation: a copy of a sorted set's scores, or of a set's members with
/// score 1 (the inputs live in different tables, so they are copied before combining).
struct Source {
    members: FastMap<Sds, f64>,
    weight: f64,
}

/// The common body of ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD.
fn set_op_generic(
    ctx: &mut Ctx<'_, '_>,
    args: &[&[u8]],
    name: &'static str,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) {
    let Some(setnum) = long_or_reply(ctx.out, args[numkeys_idx]) else { return };
    if setnum < 1 {
        return ctx.out.error(&format!("ERR at least 1 input key is needed for '{name}' command"));
    }
    if setnum as u64 > (args.len() - numkeys_idx - 1) as u64 {
        return ctx.out.error(errors::SYNTAX);
    }
    let setnum = setnum as usize;
    let keys = &args[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    let now = ctx.now_ms;
    // Types first (Redis reads every input before looking at the options).
    for &k in keys {
        match ctx.locks.table(ctx.ks, ctx.db, k).get(k, now) {
            None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
            Some(_) => return ctx.out.error(errors::WRONGTYPE),
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = args[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && eq_ic(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                let Some(v) = score_or_reply(ctx.out, args[j], "ERR weight value is not a float") else { return };
                *w = v;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq_ic(a, "aggregate") {
            let b = args[j + 1];
            how = if eq_ic(b, "sum") {
                Aggregate::Sum
            } else if eq_ic(b, "min") {
                Aggregate::Min
            } else if eq_ic(b, "max") {
                Aggregate::Max
            } else {
                return ctx.out.error(errors::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq_ic(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq_ic(a, "limit") {
            let Some(l) = positive_long_or_reply(ctx.out, args[j + 1], Some("LIMIT can't be negative")) else {
                return;
            };
            limit = l;
            j += 2;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
    }
    let mut sources: Vec<Source> = Vec::with_capacity(setnum);
    for (&k, &weight) in keys.iter().zip(&weights) {
        let members = match ctx.locks.table(ctx.ks, ctx.db, k).get(k, now) {
            Some(Value::ZSet(z)) => z.scores.clone(),
            Some(Value::Set(s)) => s.iter().map(|m| (m.clone(), 1.0)).collect(),
            _ => FastMap::default(),
        };
        sources.push(Source { members, weight });
    }
    if op != SetOp::Diff {
        // Smallest first, as Redis does (its qsort is glibc's stable merge sort, and the order
        // decides sums such as inf + -inf + x).
        sources.sort_by_key(|s| s.members.len());
    }
    let mut result: Vec<(Sds, f64)> = Vec::new();
    let mut cardinality: u64 = 0;
    match op {
        SetOp::Inter => {
            if let Some((first, others)) = sources.split_first() {
                for (m, &s) in &first.members {
                    let mut score = first.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut everywhere = true;
                    for o in others {
                        match o.members.get(m) {
                            Some(&v) => aggregate(&mut score, v * o.weight, how),
                            None => {
                                everywhere = false;
                                break;
                            }
                        }
                    }
                    if !everywhere {
                        continue;
                    }
                    if card_only {
                        cardinality += 1;
                        if limit != 0 && cardinality >= limit as u64 {
                            break;
                        }
                    } else {
                        result.push((m.clone(), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: FastMap<Sds, f64> = FastMap::default();
            for src in &sources {
                for (m, &s) in &src.members {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(m.clone(), score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            if let Some((first, others)) = sources.split_first() {
                for (m, &s) in &first.members {
                    if !others.iter().any(|o| o.members.contains_key(m)) {
                        result.push((m.clone(), s));
                    }
                }
            }
        }
    }
    if card_only {
        return ctx.out.int(cardinality as i64);
    }
    match dst {
        Some(dst) => {
            let z = zs_from(result.iter().map(|(m, s)| (m.as_bytes(), *s)));
            store_result(ctx, dst, z, name)
        }
        None => {
            // Ordered with -0 equal to 0, but replied as computed: Redis replies from a skiplist
            // that keeps -0 (only a stored result becomes a listpack that turns it into 0).
            let mut sorted: Vec<(Score, Sds, f64)> = result.into_iter().map(|(m, s)| (Score(norm(s)), m, s)).collect();
            sorted.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            reply_members(ctx.out, sorted.len(), sorted.iter().map(|(_, m, s)| (m.as_bytes(), *s)), withscores)
        }
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zunion", None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zinter", None, 1, SetOp::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zdiff", None, 1, SetOp::Diff, false)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zunionstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zunionstore", Some(args[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zinterstore", Some(args[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zdiffstore", Some(args[1]), 2, SetOp::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_op_generic(ctx, args, "zintercard", None, 1, SetOp::Inter, true)
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum PopEnd {
    Min,
    Max,
}

fn parse_pop_end(arg: &[u8]) -> Option<PopEnd> {
    if eq_ic(arg, "min") {
        Some(PopEnd::Min)
    } else if eq_ic(arg, "max") {
        Some(PopEnd::Max)
    } else {
        None
    }
}

/// The reply shapes of the pop commands (Redis's `genericZpopCommand` flags).
#[derive(Clone, Copy)]
struct PopShape {
    /// Name the key in the reply (BZPOP*, ZMPOP, BZMPOP).
    emit_key: bool,
    /// [member, score] pairs instead of a flat list.
    nested: bool,
    /// Reply a null array (not an empty one) when there is nothing to pop.
    nil_when_empty: bool,
}

/// Pops up to `count` members (-1: one, the plain form) from the first existing key among
/// `keys`, replying in `shape`.
fn zpop_generic(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], end: PopEnd, count: i64, shape: PopShape) {
    let now = ctx.now_ms;
    let mut found = None;
    for &k in keys {
        match zset_ref(ctx.locks.table(ctx.ks, ctx.db, k), k, now) {
            Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
            Ok(None) => continue,
            Ok(Some(_)) => {
                found = Some(k);
                break;
            }
        }
    }
    let Some(key) = found else {
        return if shape.nil_when_empty { ctx.out.null_array() } else { ctx.out.array(0) };
    };
    if count == 0 {
        return ctx.out.array(0);
    }
    let count_given = count != -1;
    let count = if count == -1 { 1 } else { count };
    let t = ctx.locks.table(ctx.ks, ctx.db, key);
    let Ok(Some(z)) = zset_mut(t, key, now) else {
        return ctx.out.null_array();
    };
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(z.scores.len());
    match (shape.emit_key, shape.nested) {
        (false, false) => ctx.out.array(n * 2),
        (false, true) => ctx.out.array(n),
        (true, false) => {
            ctx.out.array(n * 2 + 1);
            ctx.out.bulk(key);
        }
        (true, true) => {
            ctx.out.array(2);
            ctx.out.bulk(key);
            ctx.out.array(n);
        }
    }
    for _ in 0..n {
        let entry = match end {
            PopEnd::Min => z.ordered.pop_first(),
            PopEnd::Max => z.ordered.pop_last(),
        };
        let Some((score, member)) = entry else { break };
        z.scores.remove(member.as_bytes());
        if shape.nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(&member);
        ctx.out.double(score.0);
    }
    let emptied = z.scores.is_empty();
    if emptied {
        t.remove(key, now);
    }
    ctx.dirty(n as u64);
    // The forms that name their key (BZPOPMIN/MAX, ZMPOP, BZMPOP) propagate as the plain pop
    // of the key they served; ZPOPMIN/MAX propagate as they are.
    if shape.emit_key && n > 0 {
        let pop: &[u8] = if matches!(end, PopEnd::Min) { b"ZPOPMIN" } else { b"ZPOPMAX" };
        ctx.propagate_as(|| {
            let mut argv = vec![pop.to_vec(), key.to_vec()];
            if count_given {
                argv.push(n.to_string().into_bytes());
            }
            argv
        });
    }
    if n > 0 {
        ctx.notify(NOTIFY_ZSET, if matches!(end, PopEnd::Min) { "zpopmin" } else { "zpopmax" }, key);
        if emptied {
            ctx.notify(NOTIFY_GENERIC, "del", key);
        }
    }
}

/// ZPOPMIN/ZPOPMAX key [count]
fn zpop_minmax(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: PopEnd) {
    if args.len() > 3 {
        return ctx.out.error(errors::SYNTAX);
    }
    let mut count = -1;
    if args.len() == 3 {
        let Some(c) = positive_long_or_reply(ctx.out, args[2], None) else { return };
        count = c;
    }
    // RESP3 nests [member, score] pairs, but only when a count was given.
    let nested = ctx.out.is_resp3() && count != -1;
    zpop_generic(ctx, &args[1..2], end, count, PopShape { emit_key: false, nested, nil_when_empty: false })
}

fn zpopmin(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zpop_minmax(ctx, args, PopEnd::Min)
}

fn zpopmax(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zpop_minmax(ctx, args, PopEnd::Max)
}

/// The blocking pops once parsed: serve the first non-empty key now, else block or deny.
fn blocking_zpop(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], end: PopEnd, count: i64, timeout_ms: i64, shape: PopShape) {
    let now = ctx.now_ms;
    for &k in keys {
        match zset_ref(ctx.locks.table(ctx.ks, ctx.db, k), k, now) {
            Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
            Ok(Some(z)) if !z.scores.is_empty() => return zpop_generic(ctx, &[k], end, count, shape),
            Ok(_) => continue,
        }
    }
    block_or_deny(ctx, keys, timeout_ms, deny_null_array);
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout
fn bzpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: PopEnd) {
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[args.len() - 1]) else { return };
    let shape = PopShape { emit_key: true, nested: false, nil_when_empty: false };
    blocking_zpop(ctx, &args[1..args.len() - 1], end, -1, timeout_ms, shape)
}

fn bzpopmin(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bzpop(ctx, args, PopEnd::Min)
}

fn bzpopmax(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bzpop(ctx, args, PopEnd::Max)
}

const MPOP_SHAPE: PopShape = PopShape { emit_key: true, nested: true, nil_when_empty: true };

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 1, parse_pop_end) else { return };
    zpop_generic(ctx, &m.keys, m.where_, m.count, MPOP_SHAPE)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count] — timeout checked last.
fn bzmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 2, parse_pop_end) else { return };
    let Some(timeout_ms) = timeout_or_reply(ctx.out, args[1]) else { return };
    blocking_zpop(ctx, &m.keys, m.where_, m.count, timeout_ms, MPOP_SHAPE)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

/// A negative count asks for that many samples with repetition. Redis would try to produce
/// all of them (and fill memory for absurd counts); we stop at this many, which no real client
/// asks for, so the loop has a bound.
const MAX_SAMPLES_WITH_REPETITION: u64 = 1 << 26;

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    use rand::Rng;
    let now = ctx.now_ms;
    let key = args[1];
    if args.len() == 2 {
        let z = match zset_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
            Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
            Ok(None) => return ctx.out.null(),
            Ok(Some(z)) => z,
        };
        let i = rand::rng().random_range(0..z.ordered.len().max(1));
        return match z.ordered.iter().nth(i) {
            Some((_, m)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        };
    }
    let Some(l) = range_long_or_reply(ctx.out, args[2], -i64::MAX, i64::MAX, None) else { return };
    if args.len() > 4 || (args.len() == 4 && !eq_ic(args[3], "withscores")) {
        return ctx.out.error(errors::SYNTAX);
    }
    let withscores = args.len() == 4;
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
        return ctx.out.error("ERR value is out of range");
    }
    let z = match zset_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(z)) => z,
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return ctx.out.array(0);
    }
    let size = z.ordered.len();
    let mut rng = rand::rng();
    if l < 0 || count == 1 {
        // With repetition (and the single-member case): independent samples in random order.
        let all: Vec<&Entry> = z.ordered.iter().collect();
        let n = count.min(MAX_SAMPLES_WITH_REPETITION) as usize;
        let picks = (0..n).map(|_| all[rng.random_range(0..all.len())]);
        return reply_members(ctx.out, n, picks.map(|(s, m)| (m.as_bytes(), s.0)), withscores);
    }
    if count >= size as u64 {
        // The whole set, highest first: Redis's set-operation iterator walks from the tail.
        return reply_members(ctx.out, size, z.ordered.iter().rev().map(|(s, m)| (m.as_bytes(), s.0)), withscores);
    }
    // Distinct members: a uniform random subset, replied in set order (as Redis's listpack
    // sampling does).
    let mut picked = rand::seq::index::sample(&mut rng, size, count as usize).into_vec();
    picked.sort_unstable();
    let mut want = picked.into_iter().peekable();
    let chosen = z.ordered.iter().enumerate().filter_map(move |(i, e)| {
        if want.peek() == Some(&i) {
            want.next();
            Some(e)
        } else {
            None
        }
    });
    reply_members(ctx.out, count as usize, chosen.map(|(s, m)| (m.as_bytes(), s.0)), withscores)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

/// Redis's `parseScanCursorOrReply`: `strtoul` in base 10 over a C string, refusing leading
/// space, bytes left over and overflow ("-1" wraps, as strtoul does).
fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if arg.is_empty() {
        return Some(0);
    }
    if is_c_space(arg[0]) {
        return None;
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// The position of a member in a large set's scan order: a fixed hash of its bytes, in
/// 1..2^63 (0 is the cursor that starts and ends a scan; Redis prints the cursor as a signed
/// long long, so staying below 2^63 keeps it positive).
fn scan_position(member: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() always starts from the same keys, so positions are stable across
    // calls (unlike a RandomState hasher).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    member.hash(&mut h);
    (h.finish() >> 1).max(1)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
///
/// A set small enough for Redis's listpack encoding is returned whole with cursor 0, in order,
/// with scores as the listpack stores them, exactly as Redis does. A larger set is walked in the
/// order of a fixed hash of each member, the cursor being the next hash to return: a member
/// present for the whole scan is returned exactly once whatever else changes, which is the
/// guarantee Redis's reverse-binary cursor gives. Each call costs O(n) and returns at least
/// COUNT members and at least 1/64 of the set, so a full scan costs O(64·n).
fn zscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(cursor) = parse_scan_cursor(args[2]) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let key = args[1];
    let now = ctx.now_ms;
    let z = match zset_ref(ctx.locks.table(ctx.ks, ctx.db, key), key, now) {
        Err(WrongType) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => {
            ctx.out.array(2);
            ctx.out.bulk(b"0");
            return ctx.out.array(0);
        }
        Ok(Some(z)) => z,
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - j >= 2;
        if eq_ic(args[j], "count") && more {
            let Some(c) = long_or_reply(ctx.out, args[j + 1]) else { return };
            if c < 1 {
                return ctx.out.error(errors::SYNTAX);
            }
            count = c;
        } else if eq_ic(args[j], "match") && more {
            // "*" matches everything, so it is no filter at all.
            pattern = if args[j + 1] == b"*" { None } else { Some(args[j + 1]) };
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 2;
    }
    let keep = |m: &[u8]| pattern.is_none_or(|p| glob_match(p, m));
    let cfg = ctx.config;
    let small = z.scores.len() as i64 <= cfg.zset_max_listpack_entries
        && z.scores.keys().all(|m| m.len() as i64 <= cfg.zset_max_listpack_value);
    let (next_cursor, items): (u64, Vec<(&[u8], String)>) = if small {
        (0, z.ordered.iter().filter(|(_, m)| keep(m)).map(|(s, m)| (m.as_bytes(), listpack_score_text(s.0))).collect())
    } else {
        let start = cursor.max(1);
        let mut candidates: Vec<(u64, &Sds, f64)> = z
            .scores
            .iter()
            .filter_map(|(m, &s)| {
                let pos = scan_position(m);
                (pos >= start).then_some((pos, m, s))
            })
            .collect();
        let batch = usize::try_from(count).unwrap_or(usize::MAX).max(z.scores.len().div_ceil(64));
        let next = if candidates.len() > batch {
            candidates.select_nth_unstable_by_key(batch, |c| c.0);
            let boundary = candidates[batch].0;
            candidates.retain(|c| c.0 < boundary);
            if candidates.is_empty() {
                // Every remaining candidate shares one position (a hash collision): take them
                // all so the scan moves on.
                0
            } else {
                boundary
            }
        } else {
            0
        };
        candidates.sort_unstable_by_key(|c| c.0);
        let items =
            candidates.into_iter().filter(|c| keep(c.1)).map(|(_, m, s)| (m.as_bytes(), format_double(s))).collect();
        (next, items)
    };
    ctx.out.array(2);
    ctx.out.bulk(next_cursor.to_string().as_bytes());
    ctx.out.array(items.len() * 2);
    for (m, s) in items {
        ctx.out.bulk(m);
        ctx.out.bulk(s.as_bytes());
    }
}

/// Redis's `stringmatchlen` (case-sensitive glob: `*`, `?`, `[...]` with `^` and ranges, `\`
/// escapes), iterative so that no pattern can exhaust the stack.
fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Any,
        Lit(u8),
        Class { negate: bool, items: Vec<(u8, u8)> },
    }
    // Redis loops only while both pattern and string are left, so an empty string matches only
    // an empty pattern ("*" does not match "").
    if s.is_empty() {
        return pattern.is_empty();
    }
    let mut toks = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
                i += 1;
            }
            b'?' => {
                toks.push(Tok::Any);
                i += 1;
            }
            b'[' => {
                i += 1;
                let negate = pattern.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut items = Vec::new();
                loop {
                    if i >= pattern.len() {
                        break;
                    }
                    if pattern[i] == b'\\' && pattern.len() - i >= 2 {
                        items.push((pattern[i + 1], pattern[i + 1]));
                        i += 2;
                    } else if pattern[i] == b']' {
                        i += 1;
                        break;
                    } else if pattern.len() - i >= 3 && pattern[i + 1] == b'-' {
                        items.push((pattern[i], pattern[i + 2]));
                        i += 3;
                    } else {
                        items.push((pattern[i], pattern[i]));
                        i += 1;
                    }
                }
                toks.push(Tok::Class { negate, items });
            }
            b'\\' if pattern.len() - i >= 2 => {
                toks.push(Tok::Lit(pattern[i + 1]));
                i += 2;
            }
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    let one = |t: &Tok, c: u8| -> bool {
        match t {
            Tok::Star => true,
            Tok::Any => true,
            Tok::Lit(l) => *l == c,
            Tok::Class { negate, items } => {
                // C compares `char`s, which are signed on the platforms Redis ships on.
                let c = c as i8;
                let hit = items.iter().any(|&(a, b)| {
                    let (a, b) = (a as i8, b as i8);
                    let (lo, hi) = if a > b { (b, a) } else { (a, b) };
                    c >= lo && c <= hi
                });
                hit != *negate
            }
        }
    };
    // Classic wildcard matching with one backtrack point (every token but `*` eats exactly one
    // byte, so the last star is the only choice worth revisiting).
    let (mut p, mut k) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while k < s.len() {
        if p < toks.len() && toks[p] == Tok::Star {
            backtrack = Some((p + 1, k));
            p += 1;
        } else if p < toks.len() && one(&toks[p], s[k]) {
            p += 1;
            k += 1;
        } else if let Some((bp, bk)) = backtrack {
            p = bp;
            k = bk + 1;
            backtrack = Some((bp, bk + 1));
        } else {
            return false;
        }
    }
    while p < toks.len() && toks[p] == Tok::Star {
        p += 1;
    }
    p == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_like_string2d() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e-310"), Some(1e-310));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"abc", b"1\x000", b"0x"] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_bounds_parse_like_strtod() {
        assert_eq!(parse_range_number(b""), Some(0.0));
        assert_eq!(parse_range_number(b" 1"), Some(1.0));
        assert_eq!(parse_range_number(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_number(b"1e-400"), Some(0.0));
        assert_eq!(parse_range_number(b"2\x00junk"), Some(2.0));
        assert_eq!(parse_range_number(b"1 "), None);
        assert_eq!(parse_range_number(b"  "), None);
        assert_eq!(parse_range_number(b"nan"), None);
    }

    #[test]
    fn glob_like_stringmatchlen() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("*", "abc"));
        assert!(!m("*", ""));
        assert!(m("", ""));
        assert!(m("a*", "a"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbb"));
        assert!(m("h?llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("[abc", "b"));
        assert!(!m("[]", "a"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*d", "xxaxxbxxcxx"));
        assert!(m("\\", "\\"));
    }

    #[test]
    fn scan_cursor_like_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Some(0));
        assert_eq!(parse_scan_cursor(b""), Some(0));
        assert_eq!(parse_scan_cursor(b"+7"), Some(7));
        assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_scan_cursor(b" 1"), None);
        assert_eq!(parse_scan_cursor(b"1x"), None);
        assert_eq!(parse_scan_cursor(b"-"), None);
    }

    #[test]
    fn listpack_scores() {
        assert_eq!(listpack_score_text(3.0), "3");
        assert_eq!(listpack_score_text(1e17), "100000000000000000");
        assert_eq!(listpack_score_text(1e19), "1e+19");
        assert_eq!(listpack_score_text(2.5), "2.5");
        assert_eq!(listpack_score_text(f64::INFINITY), "inf");
    }

    #[test]
    fn zset_halves_stay_in_step() {
        let mut z = ZSetValue::default();
        zs_set(&mut z, b"b", 1.0);
        zs_set(&mut z, b"a", 1.0);
        zs_set(&mut z, b"c", -0.0);
        zs_set(&mut z, b"b", 0.0);
        let order: Vec<&[u8]> = z.ordered.iter().map(|(_, m)| m.as_bytes()).collect();
        assert_eq!(order, vec![&b"b"[..], b"c", b"a"]);
        assert_eq!(zs_rank(&z, b"a"), Some(2));
        assert_eq!(zs_remove(&mut z, b"b"), Some(0.0));
        assert_eq!(z.scores.len(), z.ordered.len());
        assert_eq!(zs_rank(&z, b"b"), None);
    }
}
