//! The byte buffer of a listpack or an intset: up to [`INLINE`] bytes inside the key's slot
//! (a hash of two short fields, a set of a dozen small integers: no allocation at all),
//! longer in one exact-size allocation. Every change goes through [`SmallBuf::splice`], which
//! keeps the buffer in the smallest form that holds it, so the memory estimate
//! ([`SmallBuf::heap_size`]) is exact: 0 inline, else the length.

/// Bytes held inline. Sized so that a hash or set handle stays within the slot's value space
/// (a test checks the slot's size).
pub const INLINE: usize = 46;

#[derive(Clone, Debug)]
pub enum SmallBuf {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Default for SmallBuf {
    fn default() -> Self {
        SmallBuf::Inline {
            len: 0,
            data: [0; INLINE],
        }
    }
}

impl PartialEq for SmallBuf {
    fn eq(&self, other: &SmallBuf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBuf {}

impl SmallBuf {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBuf::Inline { len, data } => &data[..usize::from(*len)],
            SmallBuf::Heap(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held (exact: the allocation is always the length).
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBuf::Inline { .. } => 0,
            SmallBuf::Heap(b) => b.len(),
        }
    }

    /// Replaces the bytes in `range` with `with`, rebuilding in the smallest form (one copy,
    /// as Redis's listpack and intset realloc and memmove on every change).
    pub fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        let old = self.as_slice();
        let len = old.len() - range.len() + with.len();
        let parts = [&old[..range.start], with, &old[range.end..]];
        let next = if len <= INLINE {
            let mut data = [0u8; INLINE];
            let mut at = 0;
            for p in parts {
                data[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            SmallBuf::Inline {
                len: len as u8,
                data,
            }
        } else {
            let mut v = Vec::with_capacity(len);
            for p in parts {
                v.extend_from_slice(p);
            }
            SmallBuf::Heap(v.into_boxed_slice())
        };
        *self = next;
    }

    /// Inline exactly when it fits (for tests).
    pub fn verify(&self) -> Result<(), String> {
        match self {
            SmallBuf::Heap(b) if b.len() <= INLINE => {
                Err(format!("{} bytes on the heap would fit inline", b.len()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_between_inline_and_heap_as_it_grows_and_shrinks() {
        let mut b = SmallBuf::default();
        assert_eq!(std::mem::size_of::<SmallBuf>(), 48);
        b.splice(0..0, b"hello");
        b.splice(5..5, &[b'x'; INLINE - 5]);
        assert!(matches!(b, SmallBuf::Inline { .. }) && b.heap_size() == 0);
        b.splice(0..0, b"!");
        assert!(matches!(b, SmallBuf::Heap(_)));
        assert_eq!(b.heap_size(), INLINE + 1);
        assert_eq!(&b.as_slice()[..6], b"!hello");
        b.splice(1..INLINE + 1, b"");
        assert_eq!(b.as_slice(), b"!");
        assert!(matches!(b, SmallBuf::Inline { .. }));
        b.verify().unwrap();
    }
}
