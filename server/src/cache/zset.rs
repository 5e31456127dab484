//! A sorted set value in Redis 7.0's two encodings. A small one is a listpack of alternating
//! members and scores kept in order (score, then member bytes), as Redis keeps it; one that
//! gets more than `zset-max-listpack-entries` members, or a member longer than
//! `zset-max-listpack-value` bytes, becomes an ordered `Index` (Redis's `skiplist`) and stays
//! one, except that results of ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE/ZRANGESTORE are encoded
//! from scratch by the same thresholds, as Redis does.
//!
//! Everything positional goes through ranks: a range by score or by lex is the ranks
//! `count_before(min)..count_before(max)`, then visited or removed by rank. That is O(log n)
//! on the index and a linear pass on a listpack (at most 128 entries by default).
//!
//! A score in the listpack is an integer (zigzag, little-endian, 0 to 7 bytes) when it is one
//! below 2^53 in magnitude, else the f64's 8 bytes: small integer scores, the common case, take
//! one or two bytes as in Redis's listpack.

use super::listpack::Listpack;
use super::zset_index::{cmp_keys, Index};
use super::Limits;
use std::cmp::Ordering;

#[derive(Clone, Debug)]
pub enum ZSet {
    Listpack { lp: Listpack, len: u32 },
    Skiplist(Box<Index>),
}

/// An owned member and its score.
pub type Scored = (Vec<u8>, f64);

/// Orders owned elements as a zset orders them.
pub fn cmp_scored(a: &Scored, b: &Scored) -> Ordering {
    cmp_keys((a.1, &a.0), (b.1, &b.0))
}

fn encode_score(score: f64, buf: &mut [u8; 8]) -> &[u8] {
    // -0 is stored as the integer 0: Redis's listpack turns "-0" into an integer too, so a
    // small zset reports 0 where a skiplist keeps -0.
    if score.fract() == 0.0 && score.abs() < (1u64 << 53) as f64 {
        let n = score as i64;
        let z = ((n << 1) ^ (n >> 63)) as u64;
        let bytes = (64 - z.leading_zeros() as usize).div_ceil(8);
        buf.copy_from_slice(&z.to_le_bytes());
        return &buf[..bytes];
    }
    *buf = score.to_bits().to_le_bytes();
    &buf[..]
}

fn decode_score(b: &[u8]) -> f64 {
    if b.len() == 8 {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        return f64::from_bits(u64::from_le_bytes(a));
    }
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    let z = u64::from_le_bytes(a);
    (((z >> 1) as i64) ^ -((z & 1) as i64)) as f64
}

/// (position of the member entry, member, score) of each element of a listpack zset.
fn pairs(lp: &Listpack) -> impl Iterator<Item = (usize, &[u8], f64)> {
    let mut it = lp.iter();
    std::iter::from_fn(move || {
        let (pos, m) = it.next()?;
        let (_, s) = it.next()?;
        Some((pos, m, decode_score(s)))
    })
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::Listpack {
            lp: Listpack::new(),
            len: 0,
        }
    }

    /// A zset of `sorted` (ascending, distinct members) encoded by `limits`, as Redis encodes
    /// a computed result (`zsetConvertToListpackIfNeeded`).
    pub fn from_sorted(sorted: &[Scored], limits: &Limits) -> ZSet {
        let small = sorted.len() <= limits.zset_max_listpack_entries
            && sorted
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        let mut z = if small {
            ZSet::new()
        } else {
            ZSet::Skiplist(Box::default())
        };
        match &mut z {
            ZSet::Listpack { lp, len } => {
                let mut buf = [0u8; 8];
                let mut items: Vec<&[u8]> = Vec::with_capacity(sorted.len() * 2);
                let mut scores = Vec::with_capacity(sorted.len());
                for (_, s) in sorted {
                    scores.push(encode_score(*s, &mut buf).to_vec());
                }
                for ((m, _), s) in sorted.iter().zip(&scores) {
                    items.push(m);
                    items.push(s);
                }
                lp.push_all(&items);
                *len = sorted.len() as u32;
            }
            ZSet::Skiplist(ix) => {
                for (m, s) in sorted {
                    ix.insert(m, *s);
                }
            }
        }
        z
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack { len, .. } => *len as usize,
            ZSet::Skiplist(ix) => ix.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack { .. } => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    /// Heap bytes held: O(1).
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Listpack { lp, .. } => lp.heap_size(),
            ZSet::Skiplist(ix) => ix.heap_size(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack { lp, .. } => pairs(lp).find(|p| p.1 == member).map(|p| p.2),
            ZSet::Skiplist(ix) => ix.score(member),
        }
    }

    /// Rank (0 = lowest score) and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Listpack { lp, .. } => pairs(lp)
                .enumerate()
                .find(|(_, p)| p.1 == member)
                .map(|(i, p)| (i, p.2)),
            ZSet::Skiplist(ix) => ix.rank(member),
        }
    }

    /// Sets `member`'s score, adding it if absent (true then). Converts to the index when the
    /// listpack would pass the thresholds, as Redis's `zsetAdd` does.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> bool {
        debug_assert!(!score.is_nan());
        let existed = self.remove(member).is_some();
        if let ZSet::Listpack { len, .. } = self {
            if *len as usize + 1 > limits.zset_max_listpack_entries
                || member.len() > limits.zset_max_listpack_value
            {
                self.convert();
            }
        }
        match self {
            ZSet::Listpack { lp, len } => {
                let at = pairs(lp)
                    .find(|&(_, m, s)| cmp_keys((s, m), (score, member)) == Ordering::Greater)
                    .map_or(lp.byte_len(), |p| p.0);
                let mut buf = [0u8; 8];
                lp.insert_at(at, &[member, encode_score(score, &mut buf)]);
                *len += 1;
            }
            ZSet::Skiplist(ix) => ix.insert(member, score),
        }
        !existed
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack { lp, len } => {
                let (pos, score) = pairs(lp).find(|p| p.1 == member).map(|p| (p.0, p.2))?;
                lp.remove(pos, 2);
                *len -= 1;
                Some(score)
            }
            ZSet::Skiplist(ix) => ix.remove(member),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Listpack { lp, .. } = self {
            let mut ix = Index::new();
            for (_, m, s) in pairs(lp) {
                ix.insert(m, s);
            }
            *self = ZSet::Skiplist(Box::new(ix));
        }
    }

    /// Elements ordered before the first for which `before(score, member)` is false
    /// (`before` holds for a prefix of the order).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack { lp, .. } => pairs(lp).take_while(|&(_, m, s)| before(s, m)).count(),
            ZSet::Skiplist(ix) => ix.count_before(before),
        }
    }

    /// The ranks `start..end` of a lex range, given as "ordered before the range's start" and
    /// "within the range's end" tests of a member. When all scores are equal (the case Redis
    /// documents) that is the members between the bounds. Otherwise a listpack answers as
    /// Redis's does (`zzlFirstInLexRange`/`zzlLastInLexRange`: after a check of the first and
    /// last members, the first member at or past the start, scanning from the head, then the
    /// run of members within the end; from the tail when `rev`), and the index as a search
    /// that assumes the order, as Redis's skiplist does (whose answer then depends on its
    /// random levels).
    pub fn lex_ranks(
        &self,
        before_start: impl Fn(&[u8]) -> bool,
        within_end: impl Fn(&[u8]) -> bool,
        rev: bool,
    ) -> (usize, usize) {
        let ZSet::Listpack { lp, .. } = self else {
            let start = self.count_before(|_, m| before_start(m));
            let end = self.count_before(|_, m| within_end(m));
            return (start, end.max(start));
        };
        let members: Vec<&[u8]> = pairs(lp).map(|p| p.1).collect();
        let (Some(first), Some(last)) = (members.first(), members.last()) else {
            return (0, 0);
        };
        if before_start(last) || !within_end(first) {
            return (0, 0);
        }
        if rev {
            let Some(hi) = members.iter().rposition(|m| within_end(m)) else {
                return (0, 0);
            };
            let run = members[..=hi]
                .iter()
                .rev()
                .take_while(|m| !before_start(m))
                .count();
            (hi + 1 - run, hi + 1)
        } else {
            let Some(lo) = members.iter().position(|m| !before_start(m)) else {
                return (0, 0);
            };
            let run = members[lo..].iter().take_while(|m| within_end(m)).count();
            (lo, lo + run)
        }
    }

    /// Visits the elements of ranks `start..end` in order (reversed when `rev`).
    pub fn visit(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match self {
            ZSet::Listpack { lp, .. } => {
                let items: Vec<(&[u8], f64)> = pairs(lp)
                    .skip(start)
                    .take(end - start)
                    .map(|(_, m, s)| (m, s))
                    .collect();
                if rev {
                    items.iter().rev().for_each(|&(m, s)| f(m, s));
                } else {
                    items.iter().for_each(|&(m, s)| f(m, s));
                }
            }
            ZSet::Skiplist(ix) if !rev => {
                ix.iter_from(start)
                    .take(end - start)
                    .for_each(|(m, s)| f(m, s));
            }
            ZSet::Skiplist(ix) => {
                for i in (start..end).rev() {
                    if let Some((m, s)) = ix.get(i) {
                        f(m, s);
                    }
                }
            }
        }
    }

    /// The elements of ranks `start..end`, in order (reversed when `rev`).
    pub fn range(&self, start: usize, end: usize, rev: bool) -> Vec<Scored> {
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(self.len()));
        self.visit(start, end, rev, |m, s| out.push((m.to_vec(), s)));
        out
    }

    /// Every element in order.
    pub fn to_vec(&self) -> Vec<Scored> {
        self.range(0, self.len(), false)
    }

    /// Removes the elements of ranks `start..end`; how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match self {
            ZSet::Listpack { lp, len } => {
                let pos = pairs(lp).nth(start).map(|p| p.0);
                if let Some(pos) = pos {
                    lp.remove(pos, 2 * (end - start));
                    *len -= (end - start) as u32;
                }
            }
            ZSet::Skiplist(_) => {
                for (m, _) in self.range(start, end, false) {
                    self.remove(&m);
                }
            }
        }
        end - start
    }

    /// Removes and returns up to `count` elements from the low end (or the high end when
    /// `max`), in pop order: the core of ZPOPMIN/ZPOPMAX/ZMPOP, which the blocking variants
    /// call as well once a key has elements.
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<Scored> {
        let n = count.min(self.len());
        let len = self.len();
        let (start, end) = if max { (len - n, len) } else { (0, n) };
        let popped = self.range(start, end, max);
        self.remove_range(start, end);
        popped
    }

    /// A random element, uniformly, for a uniform `i` in 0..len.
    pub fn pick(&self, i: usize) -> Scored {
        match self {
            ZSet::Listpack { .. } => {
                let picked = self.range(i, i + 1, false).pop();
                debug_assert!(picked.is_some(), "pick {i} of {}", self.len());
                picked.unwrap_or_default()
            }
            ZSet::Skiplist(ix) => {
                let (m, s) = ix.at(i);
                (m.to_vec(), s)
            }
        }
    }

    /// One ZSCAN step: a listpack whole with cursor 0 (as Redis), the index in hash order
    /// (see `hashtable::scan_step`).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Scored>) {
        match self {
            ZSet::Listpack { .. } => (0, self.to_vec()),
            ZSet::Skiplist(ix) => {
                let (next, picked) = super::hashtable::scan_step(
                    (0..ix.len()).map(|i| ix.at(i)),
                    |(m, _)| ix.hash_of(m),
                    ix.len(),
                    cursor,
                    count,
                );
                (
                    next,
                    picked.into_iter().map(|(m, s)| (m.to_vec(), s)).collect(),
                )
            }
        }
    }

    /// Structure, order, encoding thresholds and byte estimate against a recount (for tests).
    pub fn verify(&self, limits: &Limits) -> Result<(), String> {
        match self {
            ZSet::Listpack { lp, len } => {
                let entries = lp.verify()?;
                if entries != 2 * *len as usize {
                    return Err(format!("listpack of {entries} entries for {len} members"));
                }
                if *len as usize > limits.zset_max_listpack_entries {
                    return Err(format!("listpack of {len} members"));
                }
                let mut prev: Option<(f64, &[u8])> = None;
                for (_, m, s) in pairs(lp) {
                    if s.is_nan() || m.len() > limits.zset_max_listpack_value {
                        return Err("bad listpack element".into());
                    }
                    if prev.is_some_and(|p| cmp_keys(p, (s, m)) != Ordering::Less) {
                        return Err("listpack out of order".into());
                    }
                    prev = Some((s, m));
                }
                Ok(())
            }
            ZSet::Skiplist(ix) => ix.verify(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn scores_round_trip_through_the_listpack_encoding() {
        for s in [
            0.0,
            1.0,
            -1.0,
            127.0,
            1e15,
            -9007199254740991.0,
            9007199254740992.0,
            0.1,
            f64::INFINITY,
            f64::NEG_INFINITY,
            5e-324,
        ] {
            let mut buf = [0u8; 8];
            let d = decode_score(encode_score(s, &mut buf));
            assert_eq!(d.to_bits(), s.to_bits(), "{s}");
        }
        let mut buf = [0u8; 8];
        assert_eq!(decode_score(encode_score(-0.0, &mut buf)).to_bits(), 0);
        assert_eq!(encode_score(0.0, &mut buf).len(), 0);
        assert_eq!(encode_score(-64.0, &mut buf).len(), 1);
        assert_eq!(encode_score(100.0, &mut buf).len(), 1);
    }

    /// Random inserts, score changes, removals, range removals and pops against a model
    /// (member -> score, ordered through a sort), over many seeds and small thresholds; the
    /// structure, order, encoding and byte estimate are checked after every mutation.
    #[test]
    fn matches_a_model_over_many_seeds() {
        for seed in 1..=300u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let l = Limits {
                zset_max_listpack_entries: 1 + (seed % 20) as usize,
                zset_max_listpack_value: 4 + (seed % 30) as usize,
                ..Limits::default()
            };
            let mut z = ZSet::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut ever_big = false;
            for _ in 0..200 {
                let r = next();
                let member = if r % 13 == 0 {
                    format!("long-member-{}", r % 7).into_bytes()
                } else {
                    format!("m{}", r % 40).into_bytes()
                };
                let score = match (r >> 8) % 6 {
                    0 => ((r >> 12) % 7) as f64 * 0.25,
                    1 => f64::INFINITY,
                    _ => ((r >> 12) % 9) as f64 - 4.0,
                };
                match (r >> 40) % 8 {
                    0 | 1 => assert_eq!(z.remove(&member), model.remove(&member)),
                    2 if !model.is_empty() => {
                        let a = (r >> 20) as usize % model.len();
                        let b = (r >> 28) as usize % (model.len() + 1);
                        let mut sorted = sorted_model(&model);
                        let removed = b.saturating_sub(a);
                        assert_eq!(z.remove_range(a, b), removed);
                        for (m, _) in sorted.drain(a..b.max(a)) {
                            model.remove(&m);
                        }
                    }
                    3 if !model.is_empty() => {
                        let max = r & (1 << 50) != 0;
                        let n = 1 + (r >> 20) as usize % 3;
                        let mut sorted = sorted_model(&model);
                        if max {
                            sorted.reverse();
                        }
                        sorted.truncate(n);
                        assert_eq!(z.pop(max, n), sorted);
                        for (m, _) in sorted {
                            model.remove(&m);
                        }
                    }
                    _ => {
                        assert_eq!(z.insert(&member, score, &l), !model.contains_key(&member));
                        model.insert(member.clone(), score);
                        ever_big |= model.len() > l.zset_max_listpack_entries
                            || member.len() > l.zset_max_listpack_value;
                    }
                }
                z.verify(&l).unwrap();
                assert_eq!(z.encoding() == "skiplist", ever_big);
                assert_eq!(z.len(), model.len());
                let sorted = sorted_model(&model);
                assert_eq!(z.to_vec(), sorted);
                if let Some((i, (m, s))) = sorted.iter().enumerate().nth((r >> 44) as usize % 5) {
                    assert_eq!(z.rank(m), Some((i, *s)));
                    assert_eq!(z.score(m), Some(*s));
                }
                let below = sorted.iter().filter(|(_, s)| *s < 1.0).count();
                assert_eq!(z.count_before(|s, _| s < 1.0), below);
                let mut rev = sorted.clone();
                rev.reverse();
                assert_eq!(z.range(0, sorted.len(), true), rev);
                let fresh = ZSet::from_sorted(&sorted, &l);
                fresh.verify(&l).unwrap();
                assert_eq!(fresh.to_vec(), sorted);
            }
        }
    }

    fn sorted_model(model: &BTreeMap<Vec<u8>, f64>) -> Vec<Scored> {
        let mut v: Vec<Scored> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_keys((a.1, &a.0), (b.1, &b.0)));
        v
    }
}
