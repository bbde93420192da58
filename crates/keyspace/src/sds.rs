//! `Sds`: the byte string used for keys and small values, stored inline when short.
//!
//! Most keys and many values are under 23 bytes; storing them inline in the hash table entry
//! saves one allocation and one pointer chase per entry, which is the largest share of per-key
//! memory in small-key workloads. The alternative, `Box<[u8]>` everywhere, costs 16 bytes of
//! pointer plus an allocator block per key.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

const INLINE_CAP: usize = 22;

/// A byte string, inline up to 22 bytes (24 bytes in all), heap-allocated beyond.
#[derive(Clone)]
pub enum Sds {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl Sds {
    #[inline]
    pub fn new(bytes: &[u8]) -> Sds {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            Sds::Inline { len: bytes.len() as u8, buf }
        } else {
            Sds::Heap(bytes.into())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Sds::Inline { len, buf } => &buf[..*len as usize],
            Sds::Heap(b) => b,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes this value owns on the heap (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Sds::Inline { .. } => 0,
            Sds::Heap(b) => b.len(),
        }
    }
}

impl From<Vec<u8>> for Sds {
    fn from(v: Vec<u8>) -> Sds {
        if v.len() <= INLINE_CAP {
            Sds::new(&v)
        } else {
            Sds::Heap(v.into_boxed_slice())
        }
    }
}

impl From<&[u8]> for Sds {
    fn from(v: &[u8]) -> Sds {
        Sds::new(v)
    }
}

impl Borrow<[u8]> for Sds {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Sds {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::Deref for Sds {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and Eq must agree with `[u8]`'s so maps keyed by Sds can be queried with `&[u8]`.
impl Hash for Sds {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Sds {
    #[inline]
    fn eq(&self, other: &Sds) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Sds {}

impl PartialOrd for Sds {
    fn partial_cmp(&self, other: &Sds) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sds {
    fn cmp(&self, other: &Sds) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for Sds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_round_trip() {
        assert_eq!(std::mem::size_of::<Sds>(), 24);
        for len in [0, 1, 22, 23, 100] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert_eq!(Sds::new(&v).as_bytes(), &v[..]);
            assert_eq!(Sds::from(v.clone()).as_bytes(), &v[..]);
        }
    }
}
