//! A listpack: a sequence of short byte strings in one allocation, each a LEB128 length
//! followed by its bytes. Small hashes keep their fields and values here, alternating, as
//! Redis keeps them in its listpack: one allocation instead of two per entry plus a table,
//! which is what makes a million small hashes cheap. Lookups are linear, which is fine for
//! the few dozen entries a listpack holds before its owner converts it (Redis's thresholds).
//!
//! The buffer is a [`SmallBuf`]: inside the key's slot while it is short, else one exact-size
//! allocation (as Redis reallocs its listpack to the exact size on every change).

use super::smallbuf::SmallBuf;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: SmallBuf,
}

/// Bytes of the LEB128 form of `n`.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the entry at `pos`: (start of its bytes, end of its bytes).
fn entry_at(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = buf[i];
        len |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (i, i + len)
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.heap_size()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes an entry of `len` bytes takes.
    pub fn entry_size(len: usize) -> usize {
        varint_len(len) + len
    }

    /// Entries with their positions (the offset of each entry's length prefix).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: self.buf.as_slice(),
            pos: 0,
        }
    }

    /// Appends entries at the end, growing the buffer exactly.
    pub fn push_all(&mut self, items: &[&[u8]]) {
        let extra: usize = items.iter().map(|i| Listpack::entry_size(i.len())).sum();
        let mut encoded = Vec::with_capacity(extra);
        for item in items {
            put_varint(&mut encoded, item.len());
            encoded.extend_from_slice(item);
        }
        let end = self.buf.len();
        self.buf.splice(end..end, &encoded);
    }

    /// Inserts entries before the entry at `pos` (or at the end when `pos` is the length).
    pub fn insert_at(&mut self, pos: usize, items: &[&[u8]]) {
        let mut encoded =
            Vec::with_capacity(items.iter().map(|i| Listpack::entry_size(i.len())).sum());
        for item in items {
            put_varint(&mut encoded, item.len());
            encoded.extend_from_slice(item);
        }
        self.buf.splice(pos..pos, &encoded);
    }

    /// Bytes held (the end position).
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Replaces the entry at `pos` with `item`.
    pub fn replace(&mut self, pos: usize, item: &[u8]) {
        let (_, end) = entry_at(self.buf.as_slice(), pos);
        let mut encoded = Vec::with_capacity(Listpack::entry_size(item.len()));
        put_varint(&mut encoded, item.len());
        encoded.extend_from_slice(item);
        self.buf.splice(pos..end, &encoded);
    }

    /// Removes `count` consecutive entries starting at `pos`.
    pub fn remove(&mut self, pos: usize, count: usize) {
        let mut end = pos;
        for _ in 0..count {
            end = entry_at(self.buf.as_slice(), end).1;
        }
        self.buf.splice(pos..end, &[]);
    }

    /// Checks that the entries parse to the end exactly and the buffer is in its smallest form.
    pub fn verify(&self) -> Result<usize, String> {
        self.buf.verify()?;
        let buf = self.buf.as_slice();
        let mut pos = 0;
        let mut n = 0;
        while pos < buf.len() {
            let mut i = pos;
            while i < buf.len() && buf[i] & 0x80 != 0 {
                i += 1;
            }
            if i >= buf.len() {
                return Err(format!("truncated length at {pos}"));
            }
            let (_, end) = entry_at(buf, pos);
            if end > buf.len() {
                return Err(format!("entry at {pos} runs past the end"));
            }
            pos = end;
            n += 1;
        }
        Ok(n)
    }
}

/// Entries of a listpack: (position, bytes).
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let (start, end) = entry_at(self.buf, at);
        self.pos = end;
        Some((at, &self.buf[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_push_replace_and_remove() {
        let mut lp = Listpack::new();
        let long = vec![b'x'; 300];
        lp.push_all(&[b"a", b"", &long, b"bc"]);
        let items: Vec<Vec<u8>> = lp.iter().map(|(_, b)| b.to_vec()).collect();
        assert_eq!(
            items,
            vec![b"a".to_vec(), vec![], long.clone(), b"bc".to_vec()]
        );
        assert_eq!(lp.verify(), Ok(4));
        let pos = lp.iter().nth(2).map(|(p, _)| p).unwrap();
        lp.replace(pos, b"short");
        assert_eq!(
            lp.iter().nth(2).map(|(_, b)| b.to_vec()),
            Some(b"short".to_vec())
        );
        let pos = lp.iter().nth(1).map(|(p, _)| p).unwrap();
        lp.replace(pos, &long);
        assert_eq!(lp.verify(), Ok(4));
        lp.remove(0, 2);
        let items: Vec<Vec<u8>> = lp.iter().map(|(_, b)| b.to_vec()).collect();
        assert_eq!(items, vec![b"short".to_vec(), b"bc".to_vec()]);
        assert_eq!(lp.verify(), Ok(2));
        assert_eq!(lp.heap_size(), 0, "9 bytes are held inline");
    }
}
