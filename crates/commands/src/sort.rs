//! SORT and SORT_RO: the elements of a list, set or sorted set sorted numerically or byte-wise,
//! optionally by weights read from other keys (`BY pattern`), answered as other keys' values
//! (`GET pattern`), cut with `LIMIT`, and stored as a list (`STORE`, SORT only).
//!
//! This module owns those two commands' exact replies, errors and side effects; sort.c of Redis
//! 7.0.15 is the specification. Clients can observe several of Redis's implementation details,
//! so they are reproduced on purpose:
//! - patterns, keywords and weights are read as C strings: a NUL byte ends them (except the
//!   hash field after `->`, the key suffix and the substituted element, which keep their NULs);
//! - numeric weights follow `strtod` (leading space, hex floats, `inf`; NaN, overflow and inexact
//!   underflow refused) and an empty weight is 0;
//! - ALPHA compares like `strcoll` in the C locale (bytes up to the first NUL) when replying,
//!   and like `memcmp` + length when storing;
//! - a full sort is stable (glibc's `qsort` is a merge sort), but BY + LIMIT uses Redis's own
//!   partial quicksort, whose order of equal weights differs, so that algorithm is reproduced;
//! - BY nosort keeps a list's or sorted set's own order (DESC walks it backwards, LIMIT cuts it
//!   directly), and a set sorted BY nosort with STORE is sorted ALPHA instead.
//!
//! It must never write a key other than the STORE destination and never panic on client input.
//!
//! Locking caveat: the dispatcher locks the sorted key and the STORE destination (the key
//! specs). Keys reached through BY/GET patterns are not known in advance; they are locked on
//! demand through [`LockSet::table`], outside the ascending slot order every other command
//! keeps, so a SORT with patterns can deadlock with a multi-key command that holds those slots
//! and waits for the sorted key's. This is accepted for SORT: cluster mode refuses BY/GET
//! patterns altogether (as Redis 7.0 does), so only standalone servers are exposed.

use crate::args::eq_ic;
use crate::ctx::Ctx;
use crate::errors;
use crate::list::{is_c_space, parse_c_number, NumKind};
use crate::registry::{Kind, Registry};
use keyspace::{Keyspace, LockSet, Sds, StrValue, Value};
use std::cmp::Ordering;
use std::collections::VecDeque;

const BY_DENIED_IN_CLUSTER: &str = "ERR BY option of SORT denied in Cluster mode.";
const GET_DENIED_IN_CLUSTER: &str = "ERR GET option of SORT denied in Cluster mode.";
const BY_DENIED_BY_ACL: &str = "ERR BY option of SORT denied due to insufficient ACL permissions.";
const GET_DENIED_BY_ACL: &str = "ERR GET option of SORT denied due to insufficient ACL permissions.";

thread_local! {
    /// Set by the server around a SORT of a client whose ACL user may not read every key:
    /// BY and GET patterns name keys the ACL check never saw, so Redis refuses them then.
    static KEY_READ_RESTRICTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the next SORT on this thread runs for a user without full read access to keys
/// (Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess`); the caller resets it afterwards.
pub fn set_key_read_restricted(restricted: bool) {
    KEY_READ_RESTRICTED.with(|r| r.set(restricted));
}

fn key_read_restricted() -> bool {
    KEY_READ_RESTRICTED.with(|r| r.get())
}
const NOT_A_DOUBLE: &str = "ERR One or more scores can't be converted into double";

pub fn register(r: &mut Registry) {
    r.add("sort", Kind::Data(sort));
    r.add("sort_ro", Kind::Data(sort_ro));
}

fn sort(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    sort_generic(ctx, args, false);
}

fn sort_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    sort_generic(ctx, args, true);
}

// ---------------------------------------------------------------------------------------------
// C-string helpers
// ---------------------------------------------------------------------------------------------

/// The bytes C would see in `s`: everything before the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    }
}

/// `strcasecmp(arg, keyword) == 0`: the argument as a C string, ASCII case-insensitively.
fn is_keyword(arg: &[u8], keyword: &str) -> bool {
    eq_ic(c_str(arg), keyword)
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    /// Some BY pattern had no `*`: keep the collection's own order. Sticky, as in Redis: a later
    /// BY with a real pattern does not undo it.
    dont_sort: bool,
    /// The last BY pattern given.
    by: Option<&'a [u8]>,
    gets: Vec<Pattern<'a>>,
    store: Option<&'a [u8]>,
}

/// Parses the options after the key, in Redis's order of checks: the first bad option decides
/// the error, and all of this happens before the key is looked up.
fn parse_options<'a>(
    args: &[&'a [u8]],
    readonly: bool,
    cluster_enabled: bool,
) -> Result<SortOptions<'a>, &'static str> {
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        dont_sort: false,
        by: None,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let arg = args[j];
        let left = args.len() - j - 1;
        if is_keyword(arg, "asc") {
            o.desc = false;
        } else if is_keyword(arg, "desc") {
            o.desc = true;
        } else if is_keyword(arg, "alpha") {
            o.alpha = true;
        } else if is_keyword(arg, "limit") && left >= 2 {
            o.limit_start = crate::args::parse_i64(args[j + 1]).ok_or(errors::NOT_INTEGER)?;
            o.limit_count = crate::args::parse_i64(args[j + 2]).ok_or(errors::NOT_INTEGER)?;
            j += 2;
        } else if !readonly && is_keyword(arg, "store") && left >= 1 {
            o.store = Some(args[j + 1]);
            j += 1;
        } else if is_keyword(arg, "by") && left >= 1 {
            let pattern = args[j + 1];
            o.by = Some(pattern);
            if !c_str(pattern).contains(&b'*') {
                o.dont_sort = true;
            } else if cluster_enabled {
                // Redis 7.0 refuses any real pattern in cluster mode (the keys it forms may live
                // on other nodes); later versions only refuse patterns of another slot.
                return Err(BY_DENIED_IN_CLUSTER);
            } else if key_read_restricted() {
                return Err(BY_DENIED_BY_ACL);
            }
            j += 1;
        } else if is_keyword(arg, "get") && left >= 1 {
            // Refused in cluster mode even for `GET #`, as Redis 7.0 does.
            if cluster_enabled {
                return Err(GET_DENIED_IN_CLUSTER);
            }
            if key_read_restricted() {
                return Err(GET_DENIED_BY_ACL);
            }
            o.gets.push(Pattern::compile(args[j + 1]));
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// A BY/GET pattern, split once so each element's lookup is a concatenation.
#[derive(Debug, PartialEq)]
enum Pattern<'a> {
    /// `#`: the element itself.
    Element,
    /// No `*` before the first NUL: names no key, finds nothing.
    Nothing,
    /// `prefix*suffix`, or `prefix*suffix->field` for a hash field.
    Key { prefix: &'a [u8], suffix: &'a [u8], field: Option<&'a [u8]> },
}

impl<'a> Pattern<'a> {
    /// Splits `pattern` as `lookupKeyByPattern` reads it: the `*` and the `->` are searched in
    /// the C string (up to the first NUL), the first `*` is the substitution point, the first
    /// `->` after it starts the field, and a `->` with nothing (or a NUL) after it is part of
    /// the key name. The suffix and the field keep any bytes after a NUL.
    fn compile(pattern: &'a [u8]) -> Pattern<'a> {
        if pattern.first() == Some(&b'#') && pattern.get(1).copied().unwrap_or(0) == 0 {
            return Pattern::Element;
        }
        let visible = c_str(pattern);
        let Some(star) = visible.iter().position(|&c| c == b'*') else {
            return Pattern::Nothing;
        };
        let after_star = &visible[star + 1..];
        let arrow = after_star.windows(2).position(|w| w == b"->").map(|i| star + 1 + i);
        match arrow {
            Some(f) if pattern.get(f + 2).is_some_and(|&c| c != 0) => {
                Pattern::Key { prefix: &pattern[..star], suffix: &pattern[star + 1..f], field: Some(&pattern[f + 2..]) }
            }
            _ => Pattern::Key { prefix: &pattern[..star], suffix: &pattern[star + 1..], field: None },
        }
    }
}

/// What a pattern found for one element: bytes, or a string key's integer value.
#[derive(Clone, Copy)]
enum Found<'v> {
    Bytes(&'v [u8]),
    Int(i64),
}

impl Found<'_> {
    fn to_sds(self) -> Sds {
        match self {
            Found::Bytes(b) => Sds::new(b),
            Found::Int(n) => Sds::new(n.to_string().as_bytes()),
        }
    }
}

/// Looks `pattern` up for `element` and hands the result to `f` while the value is borrowed
/// (no copy for GET replies). A missing key, a key of the wrong type (not a string, or not a
/// hash for `->field`) and a missing field all find nothing. The key's slot is locked on
/// demand (see the module's locking caveat); expired keys are reclaimed by the lookup, as
/// Redis's `lookupKeyRead` does.
#[allow(clippy::too_many_arguments)]
fn with_lookup<'k, R>(
    locks: &mut LockSet<'k>,
    ks: &'k Keyspace,
    db: u32,
    now_ms: i64,
    pattern: &Pattern<'_>,
    element: &[u8],
    key_buf: &mut Vec<u8>,
    f: impl FnOnce(Option<Found<'_>>) -> R,
) -> R {
    let (prefix, suffix, field) = match pattern {
        Pattern::Element => return f(Some(Found::Bytes(element))),
        Pattern::Nothing => return f(None),
        Pattern::Key { prefix, suffix, field } => (*prefix, *suffix, *field),
    };
    key_buf.clear();
    key_buf.extend_from_slice(prefix);
    key_buf.extend_from_slice(element);
    key_buf.extend_from_slice(suffix);
    let table = locks.table(ks, db, key_buf);
    let found = match (table.get(key_buf, now_ms), field) {
        (Some(Value::Hash(h)), Some(field)) => h.get(field).map(|v| Found::Bytes(v)),
        (Some(Value::Str(StrValue::Raw(s))), None) => Some(Found::Bytes(s)),
        (Some(Value::Str(StrValue::Int(n))), None) => Some(Found::Int(*n)),
        _ => None,
    };
    f(found)
}

// ---------------------------------------------------------------------------------------------
// Weights and comparison
// ---------------------------------------------------------------------------------------------

/// A numeric weight as sort.c reads it: `strtod` on the C string, refused (None) when bytes
/// are left over, on NaN, and when strtod reports ERANGE: overflow, or a result below the
/// smallest normal double that is not exact. The empty string is 0 (strtod consumes nothing
/// and stops at the terminator); only-whitespace is refused.
///
/// A decimal below the normal range is always taken as inexact: the exceptions are decimals
/// spelling a subnormal's full ~750-digit expansion.
fn numeric_weight(raw: &[u8]) -> Option<f64> {
    let s = c_str(raw);
    if s.is_empty() {
        return Some(0.0);
    }
    let from = s.iter().position(|&c| !is_c_space(c))?;
    let body = &s[from..];
    let n = parse_c_number(body)?;
    let magnitude = match n.kind {
        NumKind::Nan => return None,
        NumKind::Inf => f64::INFINITY,
        NumKind::Decimal(d) => {
            let v = d.to_f64();
            if v.is_infinite() || (!d.digits.is_empty() && v < f64::MIN_POSITIVE) {
                return None;
            }
            v
        }
        NumKind::Hex { magnitude, .. } => {
            if magnitude.is_infinite() {
                return None;
            }
            if magnitude <= f64::MIN_POSITIVE && HexBits::parse(body).is_some_and(|h| h.tiny_and_inexact()) {
                return None;
            }
            magnitude
        }
    };
    Some(if n.negative { -magnitude } else { magnitude })
}

/// The exact bits of a hex float that `parse_c_number` accepted (`[sign]0x` digits
/// `[.digits]` `[p[sign]digits]`), for the two questions strtod's ERANGE depends on below the
/// normal range.
struct HexBits {
    digits: Vec<u32>,
    /// Binary exponent of the lowest bit of the first digit.
    first_digit_exp2: i64,
}

impl HexBits {
    fn parse(s: &[u8]) -> Option<HexBits> {
        let s = match s.first() {
            Some(b'+' | b'-') => &s[1..],
            _ => s,
        };
        let s = s.get(2..)?; // "0x"
        let mantissa_end = s.iter().position(|&c| c == b'p' || c == b'P').unwrap_or(s.len());
        let mantissa = &s[..mantissa_end];
        let int_digits = mantissa.iter().take_while(|&&c| c != b'.').count() as i64;
        let digits = mantissa.iter().filter(|&&c| c != b'.').map(|&c| (c as char).to_digit(16).unwrap_or(0)).collect();
        let p_exp = s.get(mantissa_end + 1..).map_or(0, parse_exponent);
        Some(HexBits { digits, first_digit_exp2: (int_digits - 1).saturating_mul(4).saturating_add(p_exp) })
    }

    /// Whether the bit of weight 2^exp2 is set.
    fn bit(&self, exp2: i64) -> bool {
        let from_first = self.first_digit_exp2.saturating_sub(exp2).saturating_add(3); // bits below the first digit's top
        if from_first < 0 {
            return false;
        }
        let (index, shift) = ((from_first / 4) as usize, 3 - (from_first % 4) as u32);
        self.digits.get(index).is_some_and(|d| d >> shift & 1 == 1)
    }

    /// (highest, lowest) set bit exponents; None for zero.
    fn span(&self) -> Option<(i64, i64)> {
        let exp_of = |i: usize, bit: u32| self.first_digit_exp2 - 4 * i as i64 + bit as i64;
        let hi = self.digits.iter().position(|&d| d != 0)?;
        let lo = self.digits.iter().rposition(|&d| d != 0)?;
        Some((exp_of(hi, 31 - self.digits[hi].leading_zeros()), exp_of(lo, self.digits[lo].trailing_zeros())))
    }

    /// glibc's ERANGE below the normal range: the value is tiny (below 2^-1022 even after
    /// rounding to 53 bits with an unbounded exponent: x86 detects tininess after rounding)
    /// and inexact (has a set bit finer than the subnormal grid, 2^-1074).
    fn tiny_and_inexact(&self) -> bool {
        let Some((hi, lo)) = self.span() else {
            return false;
        };
        let inexact = lo < -1074;
        // Only a value with its top bit at 2^-1023 can round up to 2^-1022 at 53 bits: all 53
        // bits set and the next one set (the last kept bit is odd, so a tie rounds up too).
        let rounds_to_normal = hi == -1023 && (-1076..=-1023).all(|e| self.bit(e));
        hi < -1022 && !rounds_to_normal && inexact
    }
}

/// A `p` exponent's value (`[sign]digits`, saturating; 0 if absent, as strtod then leaves the
/// `p` unread and `parse_c_number` would have refused it).
fn parse_exponent(s: &[u8]) -> i64 {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut e: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        e = e.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if negative {
        -e
    } else {
        e
    }
}

/// One element being sorted with its weight.
struct Item {
    element: Sds,
    /// Numeric weight (0 when the BY key is missing).
    score: f64,
    /// ALPHA BY weight; None when the BY key is missing (sorts first).
    weight: Option<Sds>,
}

/// How two items compare (before DESC).
#[derive(Clone, Copy)]
enum Order {
    /// By score, equal scores by the elements' bytes (so the result is deterministic).
    Numeric,
    /// By the BY weights; `binary` (STORE) compares whole byte strings, otherwise C strings.
    AlphaByWeight { binary: bool },
    /// By the elements themselves, likewise.
    AlphaByElement { binary: bool },
}

/// Compares as `strcoll` in the C locale (`strcmp`) or as Redis's binary comparison
/// (`memcmp` of the common prefix, then the shorter first): Rust's slice order is the latter.
fn compare_bytes(a: &[u8], b: &[u8], binary: bool) -> Ordering {
    if binary {
        a.cmp(b)
    } else {
        c_str(a).cmp(c_str(b))
    }
}

fn compare_items(order: Order, a: &Item, b: &Item) -> Ordering {
    match order {
        Order::Numeric => {
            if a.score > b.score {
                Ordering::Greater
            } else if a.score < b.score {
                Ordering::Less
            } else {
                a.element.as_bytes().cmp(b.element.as_bytes())
            }
        }
        Order::AlphaByWeight { binary } => match (&a.weight, &b.weight) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => compare_bytes(x, y, binary),
        },
        Order::AlphaByElement { binary } => compare_bytes(&a.element, &b.element, binary),
    }
}

// ---------------------------------------------------------------------------------------------
// Redis's partial quicksort
// ---------------------------------------------------------------------------------------------

/// Sorts enough of `v` that positions `keep_lo..=keep_hi` hold what a full sort would put there
/// (up to the order of equal elements). This is the Bentley–McIlroy quicksort Redis uses for
/// SORT ... BY ... LIMIT (pqsort.c), step for step, because clients see where it puts equal
/// elements: median-of-three pivot (ninther above 40 elements), three-way partition with the
/// equal elements swapped to the ends and back to the middle, insertion sort below 7 elements,
/// and no work on partitions entirely outside the wanted range. Partitions are kept on an
/// explicit stack instead of recursing: they are disjoint, so the order they are finished in
/// does not change the result, and a bad pivot sequence cannot exhaust the thread's stack.
fn partial_quicksort<T>(v: &mut [T], keep_lo: i64, keep_hi: i64, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    // Whether absolute positions [start, start + len) touch the wanted range, as pqsort's
    // pointer test reads when the range is given as its first element and last byte.
    let wanted = |start: usize, len: usize| {
        let (s, e) = (start as i64, (start + len) as i64);
        !((keep_lo < s && keep_hi < s) || (keep_lo >= e && keep_hi >= e))
    };
    let mut pending: Vec<(usize, usize)> = vec![(0, v.len())];
    // Each partition step either sorts a small partition or splits off at least one element
    // (the pivot), so there are fewer than 2 × len steps.
    let mut steps_left = 2 * v.len() + 2;
    while let Some((base, n)) = pending.pop() {
        debug_assert!(steps_left > 0, "partial quicksort did not converge");
        steps_left = steps_left.saturating_sub(1);
        let a = &mut v[base..base + n];
        if n < 7 {
            for m in 1..n {
                let mut l = m;
                while l > 0 && cmp(&a[l - 1], &a[l]) == Ordering::Greater {
                    a.swap(l, l - 1);
                    l -= 1;
                }
            }
            continue;
        }
        let mut pm = n / 2;
        if n > 7 {
            let mut pl = 0;
            let mut pn = n - 1;
            if n > 40 {
                let d = n / 8;
                pl = median_of_three(a, pl, pl + d, pl + 2 * d, &mut cmp);
                pm = median_of_three(a, pm - d, pm, pm + d, &mut cmp);
                pn = median_of_three(a, pn - 2 * d, pn - d, pn, &mut cmp);
            }
            pm = median_of_three(a, pl, pm, pn, &mut cmp);
        }
        a.swap(0, pm);
        // a[1..pa] and a[pd+1..] hold elements equal to the pivot a[0]; a[pa..pb] smaller ones,
        // a[pc+1..=pd] larger ones. pb >= 1 and pc >= pb - 1 hold throughout, so no underflow.
        let (mut pa, mut pb) = (1usize, 1usize);
        let (mut pc, mut pd) = (n - 1, n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&a[pb], &a[0]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    a.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&a[pc], &a[0]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    a.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            a.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let r = pa.min(pb - pa);
        swap_blocks(a, 0, pb - r, r);
        let r = (pd - pc).min(n - pd - 1);
        swap_blocks(a, pb, n - r, r);
        let smaller = pb - pa;
        if smaller > 1 && wanted(base, smaller) {
            pending.push((base, smaller));
        }
        let larger = pd - pc;
        if larger > 1 && wanted(base + n - larger, larger) {
            pending.push((base + n - larger, larger));
        }
    }
}

/// pqsort's `med3`: the index of the median of a[i], a[j], a[k], with its exact tie rules.
fn median_of_three<T>(a: &[T], i: usize, j: usize, k: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) -> usize {
    if cmp(&a[i], &a[j]) == Ordering::Less {
        if cmp(&a[j], &a[k]) == Ordering::Less {
            j
        } else if cmp(&a[i], &a[k]) == Ordering::Less {
            k
        } else {
            i
        }
    } else if cmp(&a[j], &a[k]) == Ordering::Greater {
        j
    } else if cmp(&a[i], &a[k]) == Ordering::Less {
        i
    } else {
        k
    }
}

/// Swaps a[x + t] with a[y + t] for t in 0..n (the blocks never overlap in pqsort).
fn swap_blocks<T>(a: &mut [T], x: usize, y: usize, n: usize) {
    for t in 0..n {
        a.swap(x + t, y + t);
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// Members of a set in the order Redis iterates them: ascending numbers for a set Redis would
/// hold as an intset (what SMEMBERS replies too), the table's order otherwise.
fn set_members_in_redis_order<'s>(members: impl Iterator<Item = &'s Sds>, max_intset: i64) -> Vec<Sds> {
    let mut out: Vec<Sds> = members.cloned().collect();
    let numbers: Option<Vec<i64>> =
        if (out.len() as i64) <= max_intset { out.iter().map(|m| crate::args::parse_i64(m)).collect() } else { None };
    if let Some(numbers) = numbers {
        let mut paired: Vec<(i64, Sds)> = numbers.into_iter().zip(out).collect();
        paired.sort_by_key(|p| p.0);
        out = paired.into_iter().map(|p| p.1).collect();
    }
    out
}

fn item(element: Sds) -> Item {
    Item { element, score: 0.0, weight: None }
}

/// The rows SORT outputs: elements `start..=end` of `items` (empty when `end < start`).
struct Selection {
    items: Vec<Item>,
    start: i64,
    end: i64,
}

/// sortCommandGeneric.
fn sort_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], readonly: bool) {
    let opts = match parse_options(args, readonly, ctx.config.cluster_enabled) {
        Ok(o) => o,
        Err(e) => return ctx.error(e),
    };
    let now_ms = ctx.now_ms;
    let max_intset = ctx.config.set_max_intset_entries;
    let mut dont_sort = opts.dont_sort;
    let mut alpha = opts.alpha;
    let mut by = opts.by;
    let desc = opts.desc;

    // Copy out the elements to sort (or, for BY nosort on a list or sorted set, just the
    // LIMIT range): pattern lookups below need other tables, possibly this one.
    let selection = {
        let table = ctx.locks.table(ctx.ks, ctx.db, args[1]);
        let value = match table.get(args[1], now_ms) {
            None => None,
            Some(v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => Some(v),
            Some(_) => {
                ctx.out.error(errors::WRONGTYPE);
                return;
            }
        };
        // Sorting a set "BY nosort" into a key would store the table's arbitrary order, which
        // would differ on replicas and after a reload: Redis sorts it ALPHA instead, and so it
        // does for a script (whose output must not depend on the table's order either).
        if dont_sort && matches!(value, Some(Value::Set(_))) && (opts.store.is_some() || crate::ctx::from_script()) {
            dont_sort = false;
            alpha = true;
            by = None;
        }
        let len = match value {
            None => 0,
            Some(Value::List(l)) => l.len(),
            Some(Value::Set(s)) => s.len(),
            Some(Value::ZSet(z)) => z.scores.len(),
            Some(_) => 0,
        } as i64;

        // LIMIT, clamped to the collection first so the sums below cannot overflow.
        let mut start = opts.limit_start.max(0).min(len);
        let count = opts.limit_count.max(-1).min(len);
        let mut end = if count < 0 { len - 1 } else { start + count - 1 };
        if start >= len {
            start = len - 1;
            end = len - 2;
        }
        if end >= len {
            end = len - 1;
        }
        let ranged = start != 0 || end != len - 1;
        let range_len = if ranged { (end - start + 1).max(0) as usize } else { len as usize };
        let skip = start.max(0) as usize;

        let items: Vec<Item> = match value {
            None => Vec::new(),
            Some(Value::List(l)) if dont_sort => {
                if end >= start {
                    let taken: Vec<Item> = if desc {
                        l.iter().rev().skip(skip).take(range_len).cloned().map(item).collect()
                    } else {
                        l.iter().skip(skip).take(range_len).cloned().map(item).collect()
                    };
                    end -= start;
                    start = 0;
                    taken
                } else {
                    Vec::new()
                }
            }
            Some(Value::List(l)) => l.iter().cloned().map(item).collect(),
            Some(Value::Set(s)) => set_members_in_redis_order(s.iter(), max_intset).into_iter().map(item).collect(),
            Some(Value::ZSet(z)) if dont_sort => {
                let members = z.ordered.iter().map(|(_, m)| m);
                let taken: Vec<Item> = if desc {
                    members.rev().skip(skip).take(range_len).cloned().map(item).collect()
                } else {
                    members.skip(skip).take(range_len).cloned().map(item).collect()
                };
                end -= start;
                start = 0;
                taken
            }
            // Redis loads a sorted set from its hash table here; only the order of equal ALPHA
            // BY weights can show the difference.
            Some(Value::ZSet(z)) => z.ordered.iter().map(|(_, m)| item(m.clone())).collect(),
            Some(_) => Vec::new(),
        };
        Selection { items, start, end }
    };
    let Selection { mut items, start, end } = selection;

    let mut key_buf = Vec::new();
    if !dont_sort {
        let order = match (alpha, by.is_some()) {
            (false, _) => Order::Numeric,
            (true, true) => Order::AlphaByWeight { binary: opts.store.is_some() },
            (true, false) => Order::AlphaByElement { binary: opts.store.is_some() },
        };
        let by_pattern = by.map(Pattern::compile);
        for it in items.iter_mut() {
            let ok = match &by_pattern {
                Some(pattern) => {
                    with_lookup(ctx.locks, ctx.ks, ctx.db, now_ms, pattern, &it.element, &mut key_buf, |found| {
                        match (found, alpha) {
                            (None, _) => true,
                            (Some(f), true) => {
                                it.weight = Some(f.to_sds());
                                true
                            }
                            (Some(Found::Int(n)), false) => {
                                it.score = n as f64;
                                true
                            }
                            (Some(Found::Bytes(b)), false) => match numeric_weight(b) {
                                Some(v) => {
                                    it.score = v;
                                    true
                                }
                                None => false,
                            },
                        }
                    })
                }
                None if alpha => true,
                None => match numeric_weight(&it.element) {
                    Some(v) => {
                        it.score = v;
                        true
                    }
                    None => false,
                },
            };
            if !ok {
                return ctx.error(NOT_A_DOUBLE);
            }
        }
        let cmp = |a: &Item, b: &Item| {
            let c = compare_items(order, a, b);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        if by.is_some() && (start != 0 || end != items.len() as i64 - 1) {
            partial_quicksort(&mut items, start, end, cmp);
        } else {
            items.sort_by(cmp);
        }
    }

    let rows = if end >= start { (start as usize)..(end as usize + 1) } else { 0..0 };
    let output_len = rows.len() * opts.gets.len().max(1);
    let (ks, db) = (ctx.ks, ctx.db);
    match opts.store {
        None => {
            ctx.out.array(output_len);
            for it in &items[rows] {
                if opts.gets.is_empty() {
                    ctx.out.bulk(&it.element);
                }
                for pattern in &opts.gets {
                    let out = &mut *ctx.out;
                    with_lookup(ctx.locks, ks, db, now_ms, pattern, &it.element, &mut key_buf, |found| match found {
                        None => out.null(),
                        Some(Found::Bytes(b)) => out.bulk(b),
                        Some(Found::Int(n)) => out.bulk_i64(n),
                    });
                }
            }
        }
        Some(dst) => {
            let mut list: VecDeque<Sds> = VecDeque::with_capacity(output_len);
            for it in &items[rows] {
                if opts.gets.is_empty() {
                    list.push_back(it.element.clone());
                }
                for pattern in &opts.gets {
                    let element = with_lookup(ctx.locks, ks, db, now_ms, pattern, &it.element, &mut key_buf, |found| {
                        found.map_or_else(|| Sds::new(b""), Found::to_sds)
                    });
                    list.push_back(element);
                }
            }
            let table = ctx.table(dst);
            if output_len > 0 {
                table.set(dst, Value::List(Box::new(list)));
                ctx.dirty(output_len as u64);
                ctx.notify(crate::notify::NOTIFY_LIST, "sortstore", dst);
                ctx.signal_ready(dst);
            } else {
                // Redis deletes the destination without checking its expiry: an expired
                // destination still counts as a change.
                let expired = table.is_expired(dst, now_ms);
                if table.remove(dst, now_ms).is_some() || expired {
                    ctx.dirty(1);
                    ctx.notify(crate::notify::NOTIFY_GENERIC, "del", dst);
                }
            }
            ctx.out.int(output_len as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_split_like_lookup_key_by_pattern() {
        assert_eq!(Pattern::compile(b"#"), Pattern::Element);
        assert_eq!(Pattern::compile(b"#\0zz"), Pattern::Element);
        assert_eq!(Pattern::compile(b"#x"), Pattern::Nothing);
        assert_eq!(Pattern::compile(b"k\0*"), Pattern::Nothing);
        assert_eq!(Pattern::compile(b"w_*"), Pattern::Key { prefix: b"w_", suffix: b"", field: None });
        assert_eq!(Pattern::compile(b"h*->f"), Pattern::Key { prefix: b"h", suffix: b"", field: Some(b"f") });
        assert_eq!(Pattern::compile(b"h*x->f->g"), Pattern::Key { prefix: b"h", suffix: b"x", field: Some(b"f->g") });
        assert_eq!(Pattern::compile(b"h*->f\0g"), Pattern::Key { prefix: b"h", suffix: b"", field: Some(b"f\0g") });
        // "->" at the end, or followed by a NUL, is part of the key name.
        assert_eq!(Pattern::compile(b"x:*->"), Pattern::Key { prefix: b"x:", suffix: b"->", field: None });
        assert_eq!(Pattern::compile(b"h*->\0z"), Pattern::Key { prefix: b"h", suffix: b"->\0z", field: None });
        // An arrow before the star is part of the prefix; a NUL hides a later arrow.
        assert_eq!(Pattern::compile(b"a->*"), Pattern::Key { prefix: b"a->", suffix: b"", field: None });
        assert_eq!(Pattern::compile(b"a*b\0->f"), Pattern::Key { prefix: b"a", suffix: b"b\0->f", field: None });
        assert_eq!(Pattern::compile(b"**"), Pattern::Key { prefix: b"", suffix: b"*", field: None });
    }

    #[test]
    fn numeric_weights_follow_strtod_as_redis_uses_it() {
        // Verdicts captured from redis-server 7.0.15 (SORT of a one-element list).
        let accepted: &[(&[u8], f64)] = &[
            (b"", 0.0),
            (b"  7", 7.0),
            (b"12\0junk", 12.0),
            (b".5", 0.5),
            (b"5.", 5.0),
            (b"+.5e1", 5.0),
            (b"0x10", 16.0),
            (b"0x1P+3", 8.0),
            (b"infinity", f64::INFINITY),
            (b"-INF", f64::NEG_INFINITY),
            (b"0e999999", 0.0),
            (b"1e308", 1e308),
            (b"2.2250738585072014e-308", f64::MIN_POSITIVE),
            (b"2.2250738585072013e-308", f64::MIN_POSITIVE),
            (b"0x1p-1030", f64::from_bits(1 << 44)),
            (b"0x1p-1074", f64::from_bits(1)),
            (b"0x0.0000000000001p-1022", f64::from_bits(1)),
            (b"0x1.8p-1073", f64::from_bits(3)),
            (b"0x1.00000000000008p-1022", f64::MIN_POSITIVE),
            // Tiny before rounding to 53 bits, 2^-1022 after: not tiny for x86's glibc.
            (b"0x1.fffffffffffff8p-1023", f64::MIN_POSITIVE),
            (b"0x1.fffffffffffffcp-1023", f64::MIN_POSITIVE),
        ];
        for (raw, want) in accepted {
            assert_eq!(numeric_weight(raw), Some(*want), "{:?}", String::from_utf8_lossy(raw));
        }
        let refused: &[&[u8]] = &[
            b" ",
            b"7 ",
            b"x",
            b"1e",
            b"1e+",
            b".",
            b"0x",
            b"1_0",
            b"nan",
            b"-nan",
            b"nan(123)",
            b"1e400",
            b"1e-400",
            b"1e-310",
            b"1e-320",
            b"4.9406564584124654e-324",
            b"2.2250738585072011e-308",
            b"0x1p1024",
            b"0x1.fffffffffffff8p1023",
            b"0x1.8p-1074",
            b"0x1p-1075",
            b"0x3p-1075",
            b"0x1.fffffffffffffp-1023",
            b"0x0.fffffffffffff8p-1022",
            b"0x1.fffffffffffff4p-1023",
        ];
        for raw in refused {
            assert_eq!(numeric_weight(raw), None, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn partial_quicksort_places_the_wanted_range() {
        // A deterministic pseudo-random sequence; distinct keys make the wanted range unique.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for n in [0usize, 1, 2, 6, 7, 8, 40, 41, 100, 1000] {
            let mut v: Vec<u64> = (0..n as u64).collect();
            for i in (1..n).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                v.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for (lo, hi) in
                [(0i64, 0i64), (0, 9), (5, 9), (n as i64 / 2, n as i64 / 2 + 3), (n as i64 - 1, n as i64 - 2)]
            {
                let mut w = v.clone();
                partial_quicksort(&mut w, lo, hi, |a, b| a.cmp(b));
                let mut sorted = w.clone();
                sorted.sort();
                for i in lo.max(0)..=hi.min(n as i64 - 1) {
                    assert_eq!(w[i as usize], i as u64, "n={n} range={lo}..={hi}");
                }
                assert_eq!(sorted, (0..n as u64).collect::<Vec<_>>());
            }
            let mut all = v.clone();
            partial_quicksort(&mut all, 0, n as i64 - 1, |a, b| a.cmp(b));
            assert_eq!(all, (0..n as u64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn c_string_comparison_stops_at_nul() {
        assert_eq!(compare_bytes(b"a\0c", b"a\0b", false), Ordering::Equal);
        assert_eq!(compare_bytes(b"a\0c", b"a\0b", true), Ordering::Greater);
        assert_eq!(compare_bytes(b"a", b"a\0a", false), Ordering::Equal);
        assert_eq!(compare_bytes(b"a", b"a\0a", true), Ordering::Less);
        assert_eq!(compare_bytes(b"\xff", b"a", false), Ordering::Greater);
    }
}
