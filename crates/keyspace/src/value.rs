//! The value types a key can hold.
//!
//! Representations are chosen for the common case first and compactness second; Redis's
//! listpack/intset encodings are not copied (OBJECT ENCODING reports what Redis would choose
//! for the same contents, which is computed, not stored).

use crate::stream::Stream;
use crate::Sds;
use foldhash::fast::RandomState;
use std::collections::{BTreeSet, VecDeque};

pub type FastMap<K, V> = hashbrown::HashMap<K, V, RandomState>;

/// A set's members, and a hash's fields. Insertion-indexed tables rather than plain hash sets,
/// because SPOP, SRANDMEMBER and HRANDFIELD must pick random elements in O(1) as Redis does
/// (a plain `HashSet` can only reach its i-th element by iterating: SPOP on a 600 000-member
/// set took milliseconds). Removal is `swap_remove`, O(1), which is fine since sets and hashes
/// have no order to keep. The price is an index word and a cached hash per element.
pub type SetMembers = indexmap::IndexSet<Sds, RandomState>;
pub type HashFields = indexmap::IndexMap<Sds, Sds, RandomState>;

/// A string value: kept as an integer when it is the canonical form of one (as Redis's `int`
/// encoding), otherwise as bytes.
#[derive(Clone, Debug)]
pub enum StrValue {
    Int(i64),
    Raw(Sds),
}

/// A score with a total order (NaN never enters a sorted set; Redis rejects it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    /// Redis compares scores with `<` and `==`, so -0 and 0 tie (and the member decides);
    /// `total_cmp` alone would order -0 first. NaN never gets here; `total_cmp` keeps the
    /// order total even if it did.
    fn cmp(&self, other: &Score) -> std::cmp::Ordering {
        self.0.partial_cmp(&other.0).unwrap_or_else(|| self.0.total_cmp(&other.0))
    }
}

/// A sorted set: member → score for lookups, (score, member) in order for ranges.
#[derive(Clone, Debug, Default)]
pub struct ZSetValue {
    pub scores: FastMap<Sds, f64>,
    pub ordered: BTreeSet<(Score, Sds)>,
}

/// Everything a key can hold. Collections are boxed so a string entry stays small.
#[derive(Clone, Debug)]
pub enum Value {
    Str(StrValue),
    List(Box<VecDeque<Sds>>),
    Hash(Box<HashFields>),
    Set(Box<SetMembers>),
    ZSet(Box<ZSetValue>),
    Stream(Box<Stream>),
}

impl Value {
    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Builds a string value from bytes, storing canonical integers as integers.
    pub fn string(bytes: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(bytes))
    }
}

impl StrValue {
    pub fn from_bytes(bytes: &[u8]) -> StrValue {
        // Only the canonical decimal form may become Int, so GET returns exactly what was set.
        if bytes.len() <= 20 {
            if let Some(n) = parse_canonical_i64(bytes) {
                return StrValue::Int(n);
            }
        }
        StrValue::Raw(Sds::new(bytes))
    }

    /// Appends the string's bytes to `out` (integers in decimal).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            StrValue::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            StrValue::Raw(s) => out.extend_from_slice(s),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => {
                let mut len = if *n < 0 { 1 } else { 0 };
                let mut v = n.unsigned_abs();
                loop {
                    len += 1;
                    v /= 10;
                    if v == 0 {
                        break len;
                    }
                }
            }
            StrValue::Raw(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(d)? } else { v.checked_mul(10)?.checked_add(d)? };
    }
    Some(v)
}

#[cfg(test)]
mod tests {

    #[test]
    fn scores_compare_as_redis_does() {
        use super::Score;
        use std::cmp::Ordering;
        assert_eq!(Score(-0.0).cmp(&Score(0.0)), Ordering::Equal, "-0 and 0 tie; the member decides");
        assert_eq!(Score(-1.0).cmp(&Score(0.0)), Ordering::Less);
        assert_eq!(Score(f64::INFINITY).cmp(&Score(1e308)), Ordering::Greater);
    }

    use super::*;

    #[test]
    fn canonical_integers_only() {
        assert!(matches!(StrValue::from_bytes(b"123"), StrValue::Int(123)));
        assert!(matches!(StrValue::from_bytes(b"-9223372036854775808"), StrValue::Int(i64::MIN)));
        for s in [&b"0123"[..], b"+1", b"-0", b" 1", b"9223372036854775808", b""] {
            assert!(matches!(StrValue::from_bytes(s), StrValue::Raw(_)), "{s:?}");
            assert_eq!(StrValue::from_bytes(s).to_vec(), s);
        }
        assert_eq!(StrValue::from_bytes(b"-42").len(), 3);
    }

    #[test]
    fn values_pack_into_24_bytes() {
        // Key (24) + value (24) per entry is the memory budget the per-key target rests on;
        // the enum tags must keep fitting in Sds's niche.
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
}
