//! The geohash arithmetic behind the GEO commands, reproducing Redis 7.0.15's results bit for
//! bit: the 52-bit interleaved score of a longitude/latitude pair (latitude limited to the
//! Web-Mercator ±85.05112878), its decoding back to the centre of its cell, the neighbouring
//! cells, the search-step estimate, the 3×3 box cover of a search shape, and haversine
//! distances with Redis's earth radius.
//!
//! Owns: pure numbers only. It must never touch the keyspace, replies or allocation: every
//! function here is a few arithmetic operations on `Copy` values, so the commands can call it
//! per point without cost. The arithmetic follows geohash.c / geohash_helper.c operation for
//! operation (same order, same casts, same libm calls) because any reordering changes the last
//! bit of a coordinate or distance, and Redis's replies print those bits.

use std::f64::consts::PI;

pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// 26 steps of two bits each: a 52-bit score, which a double holds exactly.
pub const STEP_MAX: u8 = 26;
/// Redis's (quadratic mean) earth radius in metres.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians exactly as Redis computes it (`M_PI / 180.0`, multiplied).
const D_R: f64 = PI / 180.0;

#[inline]
fn deg_rad(d: f64) -> f64 {
    d * D_R
}

#[inline]
fn rad_deg(r: f64) -> f64 {
    r / D_R
}

/// A geohash of `step` bit pairs; `bits == 0 && step == 0` is the "no cell" marker Redis uses
/// for neighbours it discards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    fn is_zero(self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// The cell a hash stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

pub const WGS84_LON: Range = Range { min: LON_MIN, max: LON_MAX };
pub const WGS84_LAT: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// Spreads the 32 bits of `v` over the even bits of a u64.
#[inline]
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into a u32 (the inverse of [`spread`]).
#[inline]
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// C's implicit double → uint32_t conversion as gcc emits it on x86-64 (a 64-bit truncating
/// convert, then the low 32 bits). Only ever called with values in [0, 2^32].
#[inline]
fn c_to_u32(v: f64) -> u32 {
    (v as i64) as u32
}

/// Encodes a point into `step` bit pairs within the given ranges (latitude on the even bits,
/// longitude on the odd ones). None when the point or the arguments are out of range.
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 || lat_r.is_zero() || lon_r.is_zero() {
        return None;
    }
    // NaN fails every comparison, so it is refused explicitly (Redis never lets one get here).
    if lon.is_nan() || lat.is_nan() || !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(HashBits { bits: spread(c_to_u32(lat_off)) | (spread(c_to_u32(lon_off)) << 1), step })
}

pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(WGS84_LON, WGS84_LAT, lon, lat, step)
}

/// The cell of `hash` within the given ranges; None for the zero hash.
pub fn decode(lon_r: Range, lat_r: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() || lat_r.is_zero() || lon_r.is_zero() {
        return None;
    }
    let ilat = squash(hash.bits);
    let ilon = squash(hash.bits >> 1);
    // `1ull << step` in C; a step above 63 cannot come from our callers.
    let div = (1u64 << (hash.step & 63)) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Some(Area {
        lat: Range {
            min: lat_r.min + (ilat as f64 / div) * lat_scale,
            // `ilato + 1` is 32-bit unsigned arithmetic in C: it wraps for an all-ones cell.
            max: lat_r.min + (ilat.wrapping_add(1) as f64 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (ilon as f64 / div) * lon_scale,
            max: lon_r.min + (ilon.wrapping_add(1) as f64 / div) * lon_scale,
        },
    })
}

/// The centre of `hash`'s cell, clamped to the valid coordinates: (longitude, latitude).
pub fn decode_to_lonlat(hash: HashBits) -> Option<(f64, f64)> {
    let a = decode(WGS84_LON, WGS84_LAT, hash)?;
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// Redis's `(uint64_t)score` on x86-64 (gcc's sequence: a signed convert below 2^63, a biased
/// one above; out-of-range values give the "integer indefinite" pattern). Any zset score may
/// reach here through ZADD, so every double must map to what Redis computes.
pub fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    fn cvtt(v: f64) -> u64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            0x8000_0000_0000_0000
        } else {
            (v as i64) as u64
        }
    }
    if d < TWO63 {
        cvtt(d)
    } else {
        cvtt(d - TWO63) ^ 0x8000_0000_0000_0000
    }
}

/// C's `(long long)d` on x86-64: truncation, or i64::MIN when out of range or NaN.
pub fn c_double_to_i64(d: f64) -> i64 {
    const TWO63: f64 = 9223372036854775808.0;
    if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// The (longitude, latitude) a sorted-set score stands for (Redis's `decodeGeohash`).
pub fn score_to_lonlat(score: f64) -> (f64, f64) {
    let hash = HashBits { bits: c_double_to_u64(score), step: STEP_MAX };
    // A step-26 hash is never the zero marker, so decoding cannot fail.
    decode_to_lonlat(hash).unwrap_or((0.0, 0.0))
}

/// The 52-bit score of a hash (its bits moved to the top of 52).
pub fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

/// The sorted-set score of a valid point.
pub fn lonlat_to_score(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(align52)
}

fn move_x(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    h.bits = x | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    h.bits = x | y;
}

fn moved(h: HashBits, dx: i8, dy: i8) -> HashBits {
    let mut n = h;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// The eight neighbours of a cell, wrapping around at the edges of the hash space.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Neighbors {
    pub north: HashBits,
    pub south: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub north_east: HashBits,
    pub north_west: HashBits,
    pub south_east: HashBits,
    pub south_west: HashBits,
}

pub fn neighbors(h: HashBits) -> Neighbors {
    Neighbors {
        east: moved(h, 1, 0),
        west: moved(h, -1, 0),
        south: moved(h, 0, -1),
        north: moved(h, 0, 1),
        north_west: moved(h, -1, 1),
        north_east: moved(h, 1, 1),
        south_east: moved(h, 1, -1),
        south_west: moved(h, -1, -1),
    }
}

/// The step whose cells are about the size of `range_m` metres at latitude `lat`.
pub fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    // Bounded: a positive range doubles past MERCATOR_MAX within ~1100 rounds, and +inf or NaN
    // (which Redis would also meet) never enters the loop.
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers around its centre (sizes in the request's unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    /// Metres per unit of the request.
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// [min_lon, min_lat, max_lon, max_lat] of the shape's bounding box.
pub fn bounding_box(s: &Shape) -> [f64; 4] {
    let (height, width) = match s.kind {
        ShapeKind::Circle { radius } => (s.conversion * radius, s.conversion * radius),
        ShapeKind::Box { width, height } => (s.conversion * (height / 2.0), s.conversion * (width / 2.0)),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(s.lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(s.lat - lat_delta).cos());
    // The widest edge is the one nearer the equator.
    let delta = if s.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
    [s.lon - delta, s.lat - lat_delta, s.lon + delta, s.lat + lat_delta]
}

/// The centre cell and the neighbours to search (zeroed ones are skipped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cover {
    pub hash: HashBits,
    pub neighbors: Neighbors,
}

/// The 3×3 cells covering a search shape, at the step Redis picks for it.
pub fn cover(s: &Shape) -> Cover {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(s);
    let radius_m = s.conversion
        * match s.kind {
            ShapeKind::Circle { radius } => radius,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
    let mut steps = estimate_steps(radius_m, s.lat);
    let at = |steps: u8| {
        let hash = encode_wgs84(s.lon, s.lat, steps).unwrap_or_default();
        (hash, neighbors(hash), decode(WGS84_LON, WGS84_LAT, hash).unwrap_or_default())
    };
    let (mut hash, mut nb, mut area) = at(steps);
    // One step coarser when a neighbour does not reach the edge of the bounding box.
    let cell = |h: HashBits| decode(WGS84_LON, WGS84_LAT, h).unwrap_or_default();
    let decrease = cell(nb.north).lat.max < max_lat
        || cell(nb.south).lat.min > min_lat
        || cell(nb.east).lon.max < max_lon
        || cell(nb.west).lon.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, nb, area) = at(steps);
    }
    // Drop the rows and columns of neighbours the shape cannot reach.
    if steps >= 2 {
        let zero = HashBits::default();
        if area.lat.min < min_lat {
            (nb.south, nb.south_west, nb.south_east) = (zero, zero, zero);
        }
        if area.lat.max > max_lat {
            (nb.north, nb.north_east, nb.north_west) = (zero, zero, zero);
        }
        if area.lon.min < min_lon {
            (nb.west, nb.south_west, nb.north_west) = (zero, zero, zero);
        }
        if area.lon.max > max_lon {
            (nb.east, nb.south_east, nb.north_east) = (zero, zero, zero);
        }
    }
    Cover { hash, neighbors: nb }
}

/// Distance along a meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine great-circle distance in metres.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The point's distance from the shape's centre, if the point lies within the shape.
pub fn within(s: &Shape, lon: f64, lat: f64) -> Option<f64> {
    match s.kind {
        ShapeKind::Circle { radius } => {
            let d = distance(s.lon, s.lat, lon, lat);
            // `d > r` refuses; NaN distances are kept, as in Redis.
            if d > radius * s.conversion {
                None
            } else {
                Some(d)
            }
        }
        ShapeKind::Box { width, height } => {
            if lat_distance(lat, s.lat) > height * s.conversion / 2.0 {
                return None;
            }
            if distance(lon, lat, s.lon, lat) > width * s.conversion / 2.0 {
                return None;
            }
            Some(distance(s.lon, s.lat, lon, lat))
        }
    }
}

/// The standard 11-character geohash string of a point (re-encoded with latitude ±90; the last
/// character is always '0' since only 52 bits exist).
pub fn geohash_string(lon: f64, lat: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let bits = encode(Range { min: -180.0, max: 180.0 }, Range { min: -90.0, max: 90.0 }, lon, lat, 26)
        .map(|h| h.bits)
        .unwrap_or(0);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Redis's `fixedpoint_d2string(d, 4)`: `llrint(d * 10^4)` printed with four decimals.
pub fn format_distance(d: f64, out: &mut [u8; 32]) -> usize {
    if d == 0.0 {
        out[..6].copy_from_slice(b"0.0000");
        return 6;
    }
    let scaled = (d * 10000.0).round_ties_even();
    // llrint of NaN or an out-of-range value gives LLONG_MIN on x86-64.
    let sv = if scaled.is_nan() || !(-9223372036854775808.0..9223372036854775808.0).contains(&scaled) {
        i64::MIN
    } else {
        scaled as i64
    };
    let mut n = 0;
    if sv < 0 {
        out[0] = b'-';
        n = 1;
    }
    let mag = sv.unsigned_abs();
    let (int_part, frac) = (mag / 10000, mag % 10000);
    let mut digits = [0u8; 20];
    let mut k = 0;
    let mut v = int_part;
    loop {
        digits[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..k).rev() {
        out[n] = digits[i];
        n += 1;
    }
    out[n] = b'.';
    n += 1;
    let f = [frac / 1000, frac / 100 % 10, frac / 10 % 10, frac % 10];
    for d in f {
        out[n] = b'0' + d as u8;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist_text(d: f64) -> String {
        let mut b = [0u8; 32];
        let n = format_distance(d, &mut b);
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn distance_formatting() {
        assert_eq!(dist_text(0.0), "0.0000");
        assert_eq!(dist_text(166274.15156960033), "166274.1516");
        assert_eq!(dist_text(0.00004), "0.0000");
        assert_eq!(dist_text(-0.00004), "0.0000");
        assert_eq!(dist_text(-1.5), "-1.5000");
        assert_eq!(dist_text(f64::NAN), "-922337203685477.5808");
    }

    // Expected values are redis-server 7.0.15's replies (ZSCORE, GEOHASH, GEODIST, GEOPOS).
    #[test]
    fn scores_match_redis() {
        assert_eq!(lonlat_to_score(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(lonlat_to_score(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(lonlat_to_score(180.0, 85.05112878), Some(13510798882111488));
        assert_eq!(lonlat_to_score(-180.0, -85.05112878), Some(0));
        assert_eq!(lonlat_to_score(0.0, 0.0), Some(3377699720527872));
        assert_eq!(lonlat_to_score(179.9999, -85.0), Some(3002400025540839));
        assert_eq!(lonlat_to_score(180.1, 0.0), None);
        assert_eq!(lonlat_to_score(0.0, 85.06), None);
        assert_eq!(lonlat_to_score(f64::NAN, 0.0), None);
    }

    #[test]
    fn geohash_strings_match_redis() {
        let s = |lon, lat| String::from_utf8(geohash_string(lon, lat).to_vec()).unwrap();
        let (lon, lat) = score_to_lonlat(3479099956230698.0);
        assert_eq!(s(lon, lat), "sqc8b49rny0");
        let (lon, lat) = score_to_lonlat(13510798882111488.0);
        assert_eq!(s(lon, lat), "bp05b5048p0");
        let (lon, lat) = score_to_lonlat(0.0);
        assert_eq!(s(lon, lat), "00bh0hbj200");
    }

    #[test]
    fn decoding_and_distances_match_redis() {
        let (lon, lat) = score_to_lonlat(0.0);
        assert_eq!(format!("{lon:.17}"), "-179.99999731779098511");
        assert_eq!(format!("{lat:.17}"), "-85.05112751263942528");
        let (a, b) = (score_to_lonlat(3479099956230698.0), score_to_lonlat(3479447370796909.0));
        assert_eq!(dist_text(distance(a.0, a.1, b.0, b.1)), "166274.1516");
        let (a, b) = (score_to_lonlat(13510798882111488.0), score_to_lonlat(0.0));
        assert_eq!(dist_text(distance(a.0, a.1, b.0, b.1)), "18919844.5891");
    }

    #[test]
    fn odd_scores_decode_without_panicking() {
        for s in [-5.0, 1e300, -1e300, f64::INFINITY, f64::NEG_INFINITY, 4503599627370496.0, f64::NAN] {
            let (lon, lat) = score_to_lonlat(s);
            assert!((LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat));
        }
        assert_eq!(c_double_to_u64(-5.0), (-5i64) as u64);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(-1e300), 0x8000_0000_0000_0000);
    }

    #[test]
    fn huge_and_odd_radii_terminate() {
        for r in [0.0, 1e-300, 5e-324, 1.0, 1e300, f64::INFINITY] {
            let shape = Shape { lon: 179.9, lat: 85.0, conversion: 1.0, kind: ShapeKind::Circle { radius: r } };
            let _ = cover(&shape);
            let shape = Shape {
                lon: -180.0,
                lat: -85.05112878,
                conversion: 1609.34,
                kind: ShapeKind::Box { width: r, height: r },
            };
            let _ = cover(&shape);
        }
    }

    #[test]
    fn interleave_roundtrip() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX, 1 << 26] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }
}
