//! The `geo` command group: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE,
//! GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms, with Redis 7.0.15's replies, errors,
//! notifications and propagation.
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit geohashes (see [`crate::geohash`]
//! for the arithmetic); this module owns only the commands' parsing, the search over the score
//! ranges of the nine covering cells, the ordering and the replies. It must never keep a geo
//! type of its own or change a sorted set except through the zset module (GEOADD is ZADD with
//! computed scores, as in Redis, and the STORE forms write a whole new sorted set), so every
//! zset command keeps working on geo sets and vice versa.

use crate::args::parse_i64;
use crate::ctx::Ctx;
use crate::errors;
use crate::geohash::{self, HashBits, Shape, ShapeKind};
use crate::notify::{NOTIFY_GENERIC, NOTIFY_ZSET};
use crate::registry::{Kind, Registry};
use crate::zset::{parse_score, zadd_generic, zs_from, zset_ref};
use keyspace::{Score, Sds, Value, ZSetValue};
use resp::ReplyBuf;
use std::io::Write;
use std::ops::Bound;

pub fn register(r: &mut Registry) {
    r.add("geoadd", Kind::Data(geoadd));
    r.add("geodist", Kind::Data(geodist));
    r.add("geohash", Kind::Data(geohash_cmd));
    r.add("geopos", Kind::Data(geopos));
    r.add("georadius", Kind::Data(georadius));
    r.add("georadius_ro", Kind::Data(georadius_ro));
    r.add("georadiusbymember", Kind::Data(georadiusbymember));
    r.add("georadiusbymember_ro", Kind::Data(georadiusbymember_ro));
    r.add("geosearch", Kind::Data(geosearch));
    r.add("geosearchstore", Kind::Data(geosearchstore));
}

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

/// The argument as C's string functions see it: Redis compares keywords with `strcasecmp`, which
/// stops at the first NUL byte.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(n) => &arg[..n],
        None => arg,
    }
}

fn kw(arg: &[u8], keyword: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(keyword.as_bytes())
}

/// `getDoubleFromObjectOrReply`: `ERR <msg>` (or the generic float error) when not a number.
fn double_or_reply(out: &mut ReplyBuf, arg: &[u8], msg: Option<&str>) -> Option<f64> {
    let v = parse_score(arg);
    if v.is_none() {
        match msg {
            Some(m) => {
                let mut text = [0u8; 64];
                let mut w = &mut text[..];
                let _ = write!(w, "ERR {m}");
                let left = w.len();
                out.error(&text[..64 - left]);
            }
            None => out.error(errors::NOT_FLOAT),
        }
    }
    v
}

/// Two arguments as a longitude,latitude pair within the geohash limits.
fn lonlat_or_reply(out: &mut ReplyBuf, args: &[&[u8]]) -> Option<(f64, f64)> {
    let lon = double_or_reply(out, args[0], None)?;
    let lat = double_or_reply(out, args[1], None)?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat) {
        // C's "%f" and Rust's "{:.6}" agree, infinities included ("inf", "-inf").
        out.error(&format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"));
        return None;
    }
    Some((lon, lat))
}

/// Metres per unit, or the unit error.
fn unit_or_reply(out: &mut ReplyBuf, arg: &[u8]) -> Option<f64> {
    let v = if kw(arg, "m") {
        1.0
    } else if kw(arg, "km") {
        1000.0
    } else if kw(arg, "ft") {
        0.3048
    } else if kw(arg, "mi") {
        1609.34
    } else {
        out.error("ERR unsupported unit provided. please use M, KM, FT, MI");
        return None;
    };
    Some(v)
}

/// `<radius> <unit>`: (radius, metres per unit).
fn distance_or_reply(out: &mut ReplyBuf, args: &[&[u8]]) -> Option<(f64, f64)> {
    let r = double_or_reply(out, args[0], Some("need numeric radius"))?;
    if r < 0.0 {
        out.error("ERR radius cannot be negative");
        return None;
    }
    Some((r, unit_or_reply(out, args[1])?))
}

/// `<width> <height> <unit>`: (width, height, metres per unit).
fn box_or_reply(out: &mut ReplyBuf, args: &[&[u8]]) -> Option<(f64, f64, f64)> {
    let w = double_or_reply(out, args[0], Some("need numeric width"))?;
    let h = double_or_reply(out, args[1], Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        out.error("ERR height or width cannot be negative");
        return None;
    }
    Some((w, h, unit_or_reply(out, args[2])?))
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// A distance with four decimals, always a bulk string (`addReplyDoubleDistance`).
fn reply_distance(out: &mut ReplyBuf, d: f64) {
    let mut buf = [0u8; 32];
    let n = geohash::format_distance(d, &mut buf);
    out.bulk(&buf[..n]);
}

/// A coordinate as Redis's `addReplyHumanLongDouble`: `%.17Lf` without trailing zeros, a bulk
/// string in RESP2 and a double in RESP3. A double widened to long double prints the same
/// digits as the double itself, so f64 formatting is exact here.
fn reply_coord(out: &mut ReplyBuf, d: f64) {
    // Coordinates are within ±180, so 64 bytes hold any of them; a failed write (impossible)
    // would only shorten the text.
    let mut buf = [0u8; 64];
    let mut w = &mut buf[..];
    let _ = write!(w, "{d:.17}");
    let mut n = 64 - w.len();
    if buf[..n].contains(&b'.') {
        while n > 0 && buf[n - 1] == b'0' {
            n -= 1;
        }
        if n > 0 && buf[n - 1] == b'.' {
            n -= 1;
        }
    }
    let text: &[u8] = if &buf[..n] == b"-0" { b"0" } else { &buf[..n] };
    if out.is_resp3() {
        out.raw(b",");
        out.raw(text);
        out.raw(b"\r\n");
    } else {
        out.bulk(text);
    }
}

// ---------------------------------------------------------------------------------------------
// GEOADD
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: checked here, then run as the
/// ZADD Redis rewrites it into (so ZADD's own checks, reply, `zadd` event and propagation apply).
fn geoadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        let a = args[first];
        if kw(a, "nx") {
            nx = true;
        } else if kw(a, "xx") {
            xx = true;
        } else if !kw(a, "ch") {
            break;
        }
        first += 1;
    }
    let triples = &args[first..];
    if !triples.len().is_multiple_of(3) || (xx && nx) {
        return ctx.out.error(errors::SYNTAX);
    }
    // Scores as decimal text, as ZADD will read them back (integers below 2^52, so exact).
    let mut scores: Vec<([u8; 20], usize)> = Vec::with_capacity(triples.len() / 3);
    for t in triples.chunks_exact(3) {
        let Some((lon, lat)) = lonlat_or_reply(ctx.out, &t[..2]) else { return };
        // A validated pair always encodes; 0 is never used.
        let score = geohash::lonlat_to_score(lon, lat).unwrap_or(0);
        let mut buf = [0u8; 20];
        let mut w = &mut buf[..];
        let _ = write!(w, "{score}");
        let len = 20 - w.len();
        scores.push((buf, len));
    }
    let mut zargs: Vec<&[u8]> = Vec::with_capacity(first + triples.len() / 3 * 2);
    zargs.push(b"zadd");
    zargs.extend_from_slice(&args[1..first]);
    for (t, (s, n)) in triples.chunks_exact(3).zip(&scores) {
        zargs.push(&s[..*n]);
        zargs.push(t[2]);
    }
    let dirty_before = ctx.effects.dirty;
    zadd_generic(ctx, &zargs, false);
    if ctx.effects.dirty > dirty_before {
        // Redis replaced the command vector with this ZADD before running it.
        ctx.propagate_as(|| zargs.iter().map(|a| a.to_vec()).collect());
    }
}

// ---------------------------------------------------------------------------------------------
// GEODIST / GEOHASH / GEOPOS
// ---------------------------------------------------------------------------------------------

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut to_meter = 1.0;
    if args.len() == 5 {
        let Some(u) = unit_or_reply(ctx.out, args[4]) else { return };
        to_meter = u;
    } else if args.len() > 5 {
        return ctx.out.error(errors::SYNTAX);
    }
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let z = match zset_ref(t, args[1], now) {
        Err(_) => return ctx.out.error(errors::WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(z)) => z,
    };
    let (Some(&s1), Some(&s2)) = (z.scores.get(args[2]), z.scores.get(args[3])) else {
        return ctx.out.null();
    };
    let (lon1, lat1) = geohash::score_to_lonlat(s1);
    let (lon2, lat2) = geohash::score_to_lonlat(s2);
    reply_distance(ctx.out, geohash::distance(lon1, lat1, lon2, lat2) / to_meter);
}

/// GEOHASH key [member ...]: the 11-character standard geohash of each member, or null.
fn geohash_cmd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    reply_per_member(ctx, args, ReplyBuf::null, |out, lon, lat| out.bulk(&geohash::geohash_string(lon, lat)));
}

/// GEOPOS key [member ...]: [longitude, latitude] of each member, or a null array.
fn geopos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    reply_per_member(ctx, args, ReplyBuf::null_array, |out, lon, lat| {
        out.array(2);
        reply_coord(out, lon);
        reply_coord(out, lat);
    });
}

/// One reply per member of `args[2..]` (GEOHASH, GEOPOS): `found` with its decoded position,
/// `missing` for a member (or key) that is not there; WRONGTYPE for a key of another type.
fn reply_per_member(
    ctx: &mut Ctx<'_, '_>,
    args: &[&[u8]],
    missing: fn(&mut ReplyBuf),
    found: fn(&mut ReplyBuf, f64, f64),
) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    let z = match zset_ref(t, args[1], now) {
        Err(_) => return ctx.out.error(errors::WRONGTYPE),
        Ok(z) => z,
    };
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.scores.get(*m)) {
            None => missing(ctx.out),
            Some(&score) => {
                let (lon, lat) = geohash::score_to_lonlat(score);
                found(ctx.out, lon, lat);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GEORADIUS* / GEOSEARCH*
// ---------------------------------------------------------------------------------------------

const BY_COORDS: u8 = 1;
const BY_MEMBER: u8 = 2;
const NO_STORE: u8 = 4;
const SEARCH: u8 = 8;
const SEARCH_STORE: u8 = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search request.
struct Query {
    shape: Shape,
    /// Argument index of the destination key (STORE/STOREDIST, GEOSEARCHSTORE's first key).
    store: Option<usize>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: no limit.
    count: i64,
}

/// One point found.
#[derive(Clone, Copy)]
struct Found<'z> {
    member: &'z [u8],
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
}

/// Parses the request as `georadiusGeneric` does, in its order: the centre of GEORADIUS /
/// GEORADIUSBYMEMBER and their radius first, then the options left to right (a FROMMEMBER is
/// looked up when met), then the cross-option checks. None: an error was replied.
fn parse_query(out: &mut ReplyBuf, args: &[&[u8]], flags: u8, z: Option<&ZSetValue>) -> Option<Query> {
    let mut q = Query {
        shape: Shape { lon: 0.0, lat: 0.0, conversion: 0.0, kind: ShapeKind::Circle { radius: 0.0 } },
        store: None,
        storedist: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let base;
    if flags & BY_COORDS != 0 {
        base = 6;
        (q.shape.lon, q.shape.lat) = lonlat_or_reply(out, &args[2..4])?;
        let (r, conv) = distance_or_reply(out, &args[4..6])?;
        q.shape.kind = ShapeKind::Circle { radius: r };
        q.shape.conversion = conv;
    } else if flags & BY_MEMBER != 0 {
        base = 5;
        // Without the key the centre and radius are not even parsed: only the options are, to
        // know whether the reply is STORE's 0 or an empty array.
        if let Some(z) = z {
            let Some(&score) = z.scores.get(args[2]) else {
                out.error("ERR could not decode requested zset member");
                return None;
            };
            (q.shape.lon, q.shape.lat) = geohash::score_to_lonlat(score);
            let (r, conv) = distance_or_reply(out, &args[3..5])?;
            q.shape.kind = ShapeKind::Circle { radius: r };
            q.shape.conversion = conv;
        }
    } else if flags & SEARCH_STORE != 0 {
        base = 3;
        q.store = Some(1);
    } else {
        base = 2;
    }
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let may_store = flags & (NO_STORE | SEARCH) == 0;
    let search = flags & SEARCH != 0;
    let rest = args.len().saturating_sub(base);
    let mut i = 0;
    while i < rest {
        let arg = args[base + i];
        let after = rest - i - 1; // arguments after this one
        if kw(arg, "withdist") {
            q.withdist = true;
        } else if kw(arg, "withhash") {
            q.withhash = true;
        } else if kw(arg, "withcoord") {
            q.withcoord = true;
        } else if kw(arg, "any") {
            q.any = true;
        } else if kw(arg, "asc") {
            q.sort = Sort::Asc;
        } else if kw(arg, "desc") {
            q.sort = Sort::Desc;
        } else if kw(arg, "count") && after >= 1 {
            let Some(n) = parse_i64(args[base + i + 1]) else {
                out.error(errors::NOT_INTEGER);
                return None;
            };
            if n <= 0 {
                out.error("ERR COUNT must be > 0");
                return None;
            }
            q.count = n;
            i += 1;
        } else if kw(arg, "store") && after >= 1 && may_store {
            q.store = Some(base + i + 1);
            q.storedist = false;
            i += 1;
        } else if kw(arg, "storedist") && after >= 1 && may_store {
            q.store = Some(base + i + 1);
            q.storedist = true;
            i += 1;
        } else if kw(arg, "storedist") && flags & SEARCH_STORE != 0 {
            q.storedist = true;
        } else if kw(arg, "frommember") && after >= 1 && search && !fromloc {
            if let Some(z) = z {
                let Some(&score) = z.scores.get(args[base + i + 1]) else {
                    out.error("ERR could not decode requested zset member");
                    return None;
                };
                (q.shape.lon, q.shape.lat) = geohash::score_to_lonlat(score);
            }
            frommember = true;
            i += 1;
        } else if kw(arg, "fromlonlat") && after >= 2 && search && !frommember {
            (q.shape.lon, q.shape.lat) = lonlat_or_reply(out, &args[base + i + 1..base + i + 3])?;
            fromloc = true;
            i += 2;
        } else if kw(arg, "byradius") && after >= 2 && search && !bybox {
            let (r, conv) = distance_or_reply(out, &args[base + i + 1..base + i + 3])?;
            q.shape.kind = ShapeKind::Circle { radius: r };
            q.shape.conversion = conv;
            byradius = true;
            i += 2;
        } else if kw(arg, "bybox") && after >= 3 && search && !byradius {
            let (w, h, conv) = box_or_reply(out, &args[base + i + 1..base + i + 4])?;
            q.shape.kind = ShapeKind::Box { width: w, height: h };
            q.shape.conversion = conv;
            bybox = true;
            i += 3;
        } else {
            out.error(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        out.error(if flags & SEARCH_STORE != 0 {
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        } else {
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        });
        return None;
    }
    let name = String::from_utf8_lossy(c_str(args[0]));
    if search && !(frommember || fromloc) {
        out.error(&format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"));
        return None;
    }
    if search && !(byradius || bybox) {
        out.error(&format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"));
        return None;
    }
    if q.any && q.count == 0 {
        out.error("ERR the ANY argument requires COUNT argument");
        return None;
    }
    Some(q)
}

/// Appends the points of `z` in the nine covering cells that lie within the shape, cell by cell
/// in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), each cell in score order. With a
/// `limit` (ANY), stops as soon as that many were found.
fn collect<'z>(z: &'z ZSetValue, shape: &Shape, limit: usize, found: &mut Vec<Found<'z>>) {
    let c = geohash::cover(shape);
    let n = c.neighbors;
    let cells = [c.hash, n.north, n.south, n.east, n.west, n.north_east, n.north_west, n.south_east, n.south_west];
    let empty = Sds::new(b"");
    // Redis's `last_processed` is an index where 0 also means "none yet", so a cell equal to
    // the centre is searched again; kept as is for identical results.
    let mut last = 0usize;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() || (last != 0 && cell == cells[last]) {
            continue;
        }
        if limit != 0 && found.len() >= limit {
            break;
        }
        let min = geohash::align52(cell) as f64;
        let max = geohash::align52(HashBits { bits: cell.bits + 1, step: cell.step }) as f64;
        let lower = Bound::Included((Score(min), empty.clone()));
        for (Score(score), member) in z.ordered.range((lower, Bound::Unbounded)) {
            if *score >= max {
                break;
            }
            let (lon, lat) = geohash::score_to_lonlat(*score);
            if let Some(dist) = geohash::within(shape, lon, lat) {
                found.push(Found { member: member.as_bytes(), lon, lat, dist, score: *score });
            }
            if limit != 0 && found.len() >= limit {
                break;
            }
        }
        last = i;
    }
}

/// Redis's `sort_gp_asc`: a three-way comparison in which NaN is below everything.
fn cmp_asc(a: &Found, b: &Found) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

/// glibc 2.36's `qsort` for arrays that fit in memory (`msort_with_tmp`): a top-down merge sort
/// splitting at n/2 and taking from the left run unless it compares greater. `tmp` is at least
/// as long as `v`.
fn merge_sort<'z>(v: &mut [Found<'z>], tmp: &mut [Found<'z>], cmp: fn(&Found, &Found) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (left, right) = v.split_at_mut(n1);
        merge_sort(left, tmp, cmp);
        merge_sort(right, tmp, cmp);
    }
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            tmp[k] = v[i];
            i += 1;
        } else {
            tmp[k] = v[j];
            j += 1;
        }
        k += 1;
    }
    // What is left of the right run is already in place.
    tmp[k..k + (n1 - i)].copy_from_slice(&v[i..n1]);
    let filled = k + (n1 - i);
    v[..filled].copy_from_slice(&tmp[..filled]);
}

/// Median of three elements by index, with Bentley & McIlroy's comparison order.
fn med3(v: &[Found], a: usize, b: usize, c: usize, cmp: fn(&Found, &Found) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Redis's `pqsort`: Bentley & McIlroy's three-way quicksort that only recurses into the parts
/// overlapping positions `lo..=hi`, so those end up sorted (the rest in some order). Ported as
/// an algorithm, for the identical order of ties.
///
/// The two partitions of a step are disjoint, so the order they are sorted in does not matter:
/// an explicit stack replaces Redis's recursion, and no input can exhaust the thread's stack.
fn partial_quicksort(v: &mut [Found], lo: usize, hi: usize, cmp: fn(&Found, &Found) -> i32) {
    // Whether the elements a..a+len hold any of the positions wanted.
    let overlaps = |a: usize, len: usize| hi >= a && lo < a + len;
    let mut pending = vec![(0usize, v.len())];
    while let Some((a, n)) = pending.pop() {
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) > 0 {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            continue;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        for i in 0..r {
            v.swap(a + i, pb - r + i);
        }
        let r = (pd - pc).min(pn - pd - 1);
        for i in 0..r {
            v.swap(pb + i, pn - r + i);
        }
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            pending.push((a, r));
        }
        let r = pd - pc;
        if r > 1 && overlaps(pn - r, r) {
            pending.push((pn - r, r));
        }
    }
}

/// Deletes the destination of a search that stored nothing, as Redis does.
fn delete_store_key(ctx: &mut Ctx<'_, '_>, dst: &[u8]) {
    let now = ctx.now_ms;
    if ctx.locks.table(ctx.ks, ctx.db, dst).remove(dst, now).is_some() {
        ctx.dirty(1);
        ctx.notify(NOTIFY_GENERIC, "del", dst);
    }
}

/// Redis's `georadiusGeneric`: every search command, `src` being the source key's index.
fn search_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], src: usize, flags: u8) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[src]);
    let z = match zset_ref(t, args[src], now) {
        Err(_) => return ctx.out.error(errors::WRONGTYPE),
        Ok(z) => z,
    };
    let Some(mut q) = parse_query(ctx.out, args, flags, z) else { return };
    let Some(z) = z else {
        if let Some(d) = q.store {
            delete_store_key(ctx, args[d]);
            ctx.out.int(0);
        } else {
            ctx.out.array(0);
        }
        return;
    };
    if q.count != 0 && q.sort == Sort::None && !q.any {
        q.sort = Sort::Asc;
    }
    let limit = if q.any { usize::try_from(q.count).unwrap_or(usize::MAX) } else { 0 };
    let mut found = Vec::new();
    collect(z, &q.shape, limit, &mut found);
    let returned =
        if q.count == 0 { found.len() } else { found.len().min(usize::try_from(q.count).unwrap_or(usize::MAX)) };
    // Redis sorts with glibc's qsort (a merge sort, so ties keep the order found) when every
    // result is returned, and with its partial quicksort when COUNT cuts the list: both are
    // reproduced step for step, as the order of equal distances (and of NaN ones, which its
    // comparator ranks inconsistently) shows in the replies.
    let cmp: fn(&Found, &Found) -> i32 = match q.sort {
        Sort::None => |_, _| 0,
        Sort::Asc => cmp_asc,
        Sort::Desc => |a, b| -cmp_asc(a, b),
    };
    if q.sort != Sort::None {
        if returned == found.len() {
            let mut tmp = found.clone();
            merge_sort(&mut found, &mut tmp, cmp);
        } else if returned > 0 {
            partial_quicksort(&mut found, 0, returned - 1, cmp);
        }
    }
    let conv = q.shape.conversion;
    let Some(dst_idx) = q.store else {
        let opts = q.withdist as usize + q.withhash as usize + q.withcoord as usize;
        ctx.out.array(returned);
        for p in &found[..returned] {
            if opts > 0 {
                ctx.out.array(opts + 1);
            }
            ctx.out.bulk(p.member);
            if q.withdist {
                reply_distance(ctx.out, p.dist / conv);
            }
            if q.withhash {
                ctx.out.int(geohash::c_double_to_i64(p.score));
            }
            if q.withcoord {
                ctx.out.array(2);
                reply_coord(ctx.out, p.lon);
                reply_coord(ctx.out, p.lat);
            }
        }
        return;
    };
    let dst = args[dst_idx];
    if returned == 0 {
        drop(found);
        delete_store_key(ctx, dst);
        ctx.out.int(0);
        return;
    }
    // A NaN distance (haversine's asin argument rounded just above 1, for an exactly antipodal
    // pair) would make Redis assert in zslInsert; a sorted set never holds NaN here, so such a
    // point is stored at the antipodal distance it stands for.
    let stored_dist =
        |d: f64| if d.is_nan() { std::f64::consts::PI * geohash::EARTH_RADIUS_M / conv } else { d / conv };
    let result =
        zs_from(found[..returned].iter().map(|p| (p.member, if q.storedist { stored_dist(p.dist) } else { p.score })));
    drop(found);
    ctx.locks.table(ctx.ks, ctx.db, dst).set(dst, Value::ZSet(Box::new(result)));
    ctx.dirty(returned as u64);
    ctx.notify(NOTIFY_ZSET, if flags & SEARCH != 0 { "geosearchstore" } else { "georadiusstore" }, dst);
    ctx.signal_ready(dst);
    ctx.out.int(returned as i64);
}

/// GEORADIUS key longitude latitude radius unit [options]
fn georadius(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 1, BY_COORDS)
}

fn georadius_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 1, BY_COORDS | NO_STORE)
}

/// GEORADIUSBYMEMBER key member radius unit [options]
fn georadiusbymember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 1, BY_MEMBER)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 1, BY_MEMBER | NO_STORE)
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
fn geosearch(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 1, SEARCH)
}

/// GEOSEARCHSTORE dst src ... [STOREDIST]
fn geosearchstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search_generic(ctx, args, 2, SEARCH | SEARCH_STORE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn points(dists: &[f64]) -> Vec<Found<'static>> {
        const NAMES: [&[u8]; 8] = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"];
        dists
            .iter()
            .enumerate()
            .map(|(i, &dist)| Found { member: NAMES[i % 8], lon: i as f64, lat: 0.0, dist, score: 0.0 })
            .collect()
    }

    #[test]
    fn merge_sort_is_stable() {
        let mut v = points(&[3.0, 1.0, 3.0, 1.0, 2.0, 1.0]);
        let mut tmp = v.clone();
        merge_sort(&mut v, &mut tmp, cmp_asc);
        let order: Vec<f64> = v.iter().map(|p| p.lon).collect();
        assert_eq!(order, [1.0, 3.0, 5.0, 4.0, 0.0, 2.0]);
    }

    #[test]
    fn partial_quicksort_sorts_the_wanted_prefix() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let n = rng.random_range(1..200);
            let dists: Vec<f64> = (0..n).map(|_| rng.random_range(0..12) as f64).collect();
            let want = rng.random_range(1..=n);
            let mut v = points(&dists);
            partial_quicksort(&mut v, 0, want - 1, cmp_asc);
            let mut sorted = dists.clone();
            sorted.sort_by(f64::total_cmp);
            let got: Vec<f64> = v[..want].iter().map(|p| p.dist).collect();
            assert_eq!(got, sorted[..want]);
            // Nothing lost or duplicated.
            let mut all: Vec<f64> = v.iter().map(|p| p.lon).collect();
            all.sort_by(f64::total_cmp);
            assert_eq!(all, (0..n).map(|i| i as f64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn partial_quicksort_orders_ties_as_redis() {
        // redis-server 7.0.15: 45 members on three points, in the order GEORADIUS found them
        // (member:distance, from the unsorted reply), then the COUNT 5 DESC and COUNT 9 ASC replies.
        const FOUND: &str = "12:7.3263 13:7.3263 16:7.3263 17:7.3263 21:7.3263 29:7.3263 31:7.3263 33:7.3263 \
            34:7.3263 35:7.3263 36:7.3263 37:7.3263 39:7.3263 44:7.3263 6:7.3263 7:7.3263 1:11.1227 10:11.1227 \
            11:11.1227 18:11.1227 19:11.1227 20:11.1227 22:11.1227 25:11.1227 26:11.1227 27:11.1227 28:11.1227 \
            30:11.1227 32:11.1227 38:11.1227 4:11.1227 43:11.1227 5:11.1227 8:11.1227 0:13.3147 14:13.3147 \
            15:13.3147 2:13.3147 23:13.3147 24:13.3147 3:13.3147 40:13.3147 41:13.3147 42:13.3147 9:13.3147";
        let found: Vec<Found<'static>> = FOUND
            .split_whitespace()
            .map(|item| {
                let (m, d) = item.split_once(':').unwrap();
                Found { member: m.as_bytes(), lon: 0.0, lat: 0.0, dist: d.parse().unwrap(), score: 0.0 }
            })
            .collect();
        let names =
            |v: &[Found]| v.iter().map(|p| std::str::from_utf8(p.member).unwrap()).collect::<Vec<_>>().join(" ");
        let mut v = found.clone();
        partial_quicksort(&mut v, 0, 4, |a, b| -cmp_asc(a, b));
        assert_eq!(names(&v[..5]), "14 9 42 41 40");
        let mut v = found.clone();
        partial_quicksort(&mut v, 0, 8, cmp_asc);
        assert_eq!(names(&v[..9]), "16 21 29 31 33 34 35 36 37");
    }
}
