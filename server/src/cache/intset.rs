//! An intset, as Redis's: a sorted array of distinct integers, all stored at the narrowest
//! width (2, 4 or 8 bytes, little-endian) that holds every member, upgraded in place when a
//! wider member arrives and never narrowed. Held in a [`SmallBuf`] (inside the key's slot up
//! to 23 small integers, else one exact-size allocation); lookups are binary searches.

use super::smallbuf::SmallBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntSet {
    data: SmallBuf,
    width: u8,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::new()
    }
}

fn width_for(n: i64) -> u8 {
    if i64::from(n as i16) == n {
        2
    } else if i64::from(n as i32) == n {
        4
    } else {
        8
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet {
            data: SmallBuf::default(),
            width: 2,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len() / usize::from(self.width)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn heap_size(&self) -> usize {
        self.data.heap_size()
    }

    /// The member at position `i` (ascending order).
    pub fn get(&self, i: usize) -> i64 {
        let w = usize::from(self.width);
        let b = &self.data.as_slice()[i * w..(i + 1) * w];
        match self.width {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    fn search(&self, n: i64) -> Result<usize, usize> {
        if width_for(n) > self.width {
            // Wider than every member: beyond one end.
            return Err(if n < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, n: i64) -> bool {
        self.search(n).is_ok()
    }

    fn encode(n: i64, width: u8) -> [u8; 8] {
        let mut out = [0u8; 8];
        match width {
            2 => out[..2].copy_from_slice(&(n as i16).to_le_bytes()),
            4 => out[..4].copy_from_slice(&(n as i32).to_le_bytes()),
            _ => out = n.to_le_bytes(),
        }
        out
    }

    /// Adds `n`; true when it was not a member.
    pub fn insert(&mut self, n: i64) -> bool {
        let pos = match self.search(n) {
            Ok(_) => return false,
            Err(pos) => pos,
        };
        let need = width_for(n);
        if need > self.width {
            let members: Vec<i64> = (0..self.len()).map(|i| self.get(i)).collect();
            let mut data = Vec::with_capacity((members.len() + 1) * usize::from(need));
            for m in members {
                data.extend_from_slice(&IntSet::encode(m, need)[..usize::from(need)]);
            }
            self.data = SmallBuf::default();
            self.data.splice(0..0, &data);
            self.width = need;
        }
        let w = usize::from(self.width);
        let at = pos * w;
        let bytes = IntSet::encode(n, self.width);
        self.data.splice(at..at, &bytes[..w]);
        true
    }

    /// Removes `n`; true if it was a member.
    pub fn remove(&mut self, n: i64) -> bool {
        match self.search(n) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes and returns the member at position `i`.
    pub fn remove_at(&mut self, i: usize) -> i64 {
        let n = self.get(i);
        let w = usize::from(self.width);
        self.data.splice(i * w..(i + 1) * w, &[]);
        n
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Sorted, distinct, at the narrowest width that some member needs (or the initial
    /// one), no slack (for tests).
    pub fn verify(&self) -> Result<(), String> {
        if self.data.len() % usize::from(self.width) != 0 {
            return Err("intset length not a multiple of its width".into());
        }
        self.data.verify()?;
        let members: Vec<i64> = self.iter().collect();
        if members.windows(2).any(|w| w[0] >= w[1]) {
            return Err("intset not strictly ascending".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_upgrade_and_order_holds() {
        let mut s = IntSet::new();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.heap_size(), 0, "held inline");
        assert!(s.insert(100_000));
        assert_eq!(s.width, 4);
        assert!(s.insert(i64::MIN));
        assert!(s.insert(i64::MAX));
        assert_eq!(s.width, 8);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -3, 5, 100_000, i64::MAX]
        );
        assert!(s.contains(100_000) && !s.contains(6) && !s.contains(1 << 40));
        assert!(s.remove(-3) && !s.remove(-3));
        s.verify().unwrap();
        assert_eq!(s.len(), 4);
    }
}
