//! The byte strings a hashtable-encoded hash or set holds: up to [`INLINE`] bytes inside the
//! value itself (most fields, values and members are short), longer ones in an exact-size
//! allocation. A boxed slice for every element would cost an allocation (and its allocator
//! header) per element; inline they cost nothing beyond the table's entry.

use super::hashtable::ALLOC_OVERHEAD;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest string held inline: what fits in 24 bytes beside the length and the tag.
pub const INLINE: usize = 22;

#[derive(Clone)]
pub enum Short {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Short {
    pub fn new(bytes: &[u8]) -> Short {
        if bytes.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..bytes.len()].copy_from_slice(bytes);
            Short::Inline {
                len: bytes.len() as u8,
                data,
            }
        } else {
            Short::Heap(bytes.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Short::Inline { len, data } => &data[..usize::from(*len)],
            Short::Heap(b) => b,
        }
    }

    /// Heap bytes a string of `len` bytes owns when held as a `Short`.
    pub fn heap_cost(len: usize) -> usize {
        if len <= INLINE {
            0
        } else {
            len + ALLOC_OVERHEAD
        }
    }
}

impl std::ops::Deref for Short {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Lookups by `&[u8]` need Borrow, with Hash and Eq agreeing with the slice's.
impl Borrow<[u8]> for Short {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for Short {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for Short {
    fn eq(&self, other: &Short) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Short {}

impl std::fmt::Debug for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn short_strings_are_inline_and_hash_like_slices() {
        assert_eq!(std::mem::size_of::<Short>(), 24);
        let s = Short::new(b"member:1");
        assert!(matches!(s, Short::Inline { .. }));
        let long = vec![b'x'; INLINE + 1];
        assert!(matches!(Short::new(&long), Short::Heap(_)));
        assert_eq!(Short::new(&long).as_slice(), &long[..]);
        assert_eq!(Short::heap_cost(INLINE), 0);
        assert_eq!(Short::heap_cost(INLINE + 1), INLINE + 1 + ALLOC_OVERHEAD);
        let h = foldhash::fast::FixedState::with_seed(1);
        assert_eq!(h.hash_one(&s), h.hash_one(&b"member:1"[..]));
    }
}
