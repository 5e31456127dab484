//! The ordered index of a large sorted set (Redis's `skiplist` encoding): members ordered by
//! (score, member bytes), with rank and position lookups in O(log n), plus a member -> node
//! table for O(1) score lookups, as Redis pairs its skiplist with a dict.
//!
//! The order is a treap (a binary search tree balanced by random priorities) whose nodes
//! count their subtree, which gives ranks and the i-th element in expected O(log n); it is
//! simpler than a skiplist with spans and needs no per-node level arrays. Nodes live in one
//! dense `Vec` linked by u32 indices: no allocation per member (short members are held
//! inline, see [`Short`]), and a uniformly random member is a random position (ZRANDMEMBER).
//! Removal swaps the last node into the hole and re-points its parent and its table entry.
//!
//! The priority of a node is taken from its member's hash under a per-set random seed, so
//! nobody can choose members that unbalance the tree.

use super::hashtable::ALLOC_OVERHEAD;
use super::short::Short;
use hashbrown::HashTable;
use std::cmp::Ordering;
use std::hash::BuildHasher;

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    member: Short,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in this subtree, this one included.
    size: u32,
    prio: u32,
}

#[derive(Clone, Debug)]
pub struct Index {
    nodes: Vec<Node>,
    root: u32,
    /// Node positions, found by their member's hash.
    by_member: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Heap bytes the members own beyond their nodes (long members).
    payload: usize,
}

/// Redis's order: by score, then by member bytes (memcmp, a prefix first).
pub fn cmp_keys(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    match a.0.partial_cmp(&b.0) {
        Some(Ordering::Equal) | None => a.1.cmp(b.1),
        Some(o) => o,
    }
}

/// Bytes per entry of the member table: the u32 and its control byte, with hashbrown's
/// load factor (7/8) rounded up.
const TABLE_ENTRY: usize = 6;

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

impl Index {
    pub fn new() -> Index {
        Index {
            nodes: Vec::new(),
            root: NIL,
            by_member: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            payload: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Heap bytes held, including the boxed `Index` itself: O(1).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Index>()
            + ALLOC_OVERHEAD
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.by_member.capacity() * TABLE_ENTRY
            + self.payload
    }

    /// The hash the member table files `member` under (ZSCAN's order).
    pub fn hash_of(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.by_member
            .find(self.hash_of(member), |&i| {
                nodes[i as usize].member.as_slice() == member
            })
            .copied()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|i| self.nodes[i as usize].score)
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn pull(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[t as usize].size = size;
    }

    fn cmp_nodes(&self, a: u32, b: u32) -> Ordering {
        let (a, b) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        cmp_keys((a.score, &a.member), (b.score, &b.member))
    }

    /// Splits subtree `t` into the nodes ordered before `pivot` (and `pivot` itself when
    /// `inclusive`) and the rest.
    fn split(&mut self, t: u32, pivot: u32, inclusive: bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let ord = self.cmp_nodes(t, pivot);
        if ord == Ordering::Less || (inclusive && ord == Ordering::Equal) {
            let (a, b) = self.split(self.nodes[t as usize].right, pivot, inclusive);
            self.nodes[t as usize].right = a;
            self.pull(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, pivot, inclusive);
            self.nodes[t as usize].left = b;
            self.pull(t);
            (a, t)
        }
    }

    /// Joins two subtrees where every node of `a` is ordered before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.pull(b);
            b
        }
    }

    /// Links the unlinked node `x` into the tree at its place in the order.
    fn attach(&mut self, x: u32) {
        let (l, r) = self.split(self.root, x, false);
        let l = self.merge(l, x);
        self.root = self.merge(l, r);
    }

    /// Unlinks node `x` from the tree (it stays in the arena).
    fn detach(&mut self, x: u32) {
        let (l, r) = self.split(self.root, x, false);
        let (m, r) = self.split(r, x, true);
        debug_assert_eq!(m, x, "detached node not found at its key");
        self.root = self.merge(l, r);
        let n = &mut self.nodes[x as usize];
        n.left = NIL;
        n.right = NIL;
        n.size = 1;
    }

    /// Inserts `member`, which must be absent.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        debug_assert!(self.find(member).is_none() && !score.is_nan());
        let hash = self.hash_of(member);
        let x = self.nodes.len() as u32;
        self.nodes.push(Node {
            member: Short::new(member),
            score,
            left: NIL,
            right: NIL,
            size: 1,
            prio: (hash >> 32) as u32,
        });
        self.payload += Short::heap_cost(member.len());
        let Index {
            nodes,
            by_member,
            hasher,
            ..
        } = self;
        by_member.insert_unique(hash, x, |&i| {
            hasher.hash_one(nodes[i as usize].member.as_slice())
        });
        self.attach(x);
    }

    /// Gives `member` (present) a new score; returns the old one.
    pub fn set_score(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let x = self.find(member)?;
        let old = self.nodes[x as usize].score;
        if old != score || old.is_sign_negative() != score.is_sign_negative() {
            self.detach(x);
            self.nodes[x as usize].score = score;
            self.attach(x);
        }
        Some(old)
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        self.detach(x);
        let hash = self.hash_of(member);
        let nodes = &self.nodes;
        if let Ok(e) = self
            .by_member
            .find_entry(hash, |&i| nodes[i as usize].member.as_slice() == member)
        {
            e.remove();
        }
        let last = (self.nodes.len() - 1) as u32;
        if x != last {
            self.repoint(last, x);
        }
        let gone = self.nodes.swap_remove(x as usize);
        self.payload -= Short::heap_cost(gone.member.len());
        if self.nodes.len() * 4 < self.nodes.capacity() {
            self.nodes.shrink_to_fit();
            self.by_member.shrink_to_fit(|&i| {
                self.hasher
                    .hash_one(self.nodes[i as usize].member.as_slice())
            });
        }
        Some(gone.score)
    }

    /// Makes whatever points at node `from` (its parent or the root, and its table entry)
    /// point at `to`, before `from` is moved there.
    fn repoint(&mut self, from: u32, to: u32) {
        if self.root == from {
            self.root = to;
        } else {
            let mut t = self.root;
            while t != NIL {
                let go_left = self.cmp_nodes(from, t) == Ordering::Less;
                let n = &mut self.nodes[t as usize];
                let child = if go_left { &mut n.left } else { &mut n.right };
                if *child == from {
                    *child = to;
                    break;
                }
                t = *child;
            }
        }
        let hash = self.hash_of(&self.nodes[from as usize].member);
        if let Some(slot) = self.by_member.find_mut(hash, |&i| i == from) {
            *slot = to;
        }
    }

    /// Members ordered before the first for which `before` is false (`before` must hold for
    /// a prefix of the order): the rank where a range starts or ends.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut n = 0usize;
        while t != NIL {
            let node = &self.nodes[t as usize];
            if before(node.score, &node.member) {
                n += self.size(node.left) as usize + 1;
                t = node.right;
            } else {
                t = node.left;
            }
        }
        n
    }

    /// The rank of `member` (0 = lowest) and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let x = self.find(member)?;
        let (score, m) = (self.nodes[x as usize].score, &self.nodes[x as usize].member);
        let r = self.count_before(|s, o| cmp_keys((s, o), (score, m)) == Ordering::Less);
        Some((r, score))
    }

    /// Members in order from rank `start`.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        let mut stack = Vec::new();
        let mut t = self.root;
        let mut i = start as u32;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left);
            if i < ls {
                stack.push(t);
                t = n.left;
            } else if i == ls {
                stack.push(t);
                break;
            } else {
                i -= ls + 1;
                t = n.right;
            }
        }
        Iter { index: self, stack }
    }

    /// The element of rank `i` (< len).
    pub fn get(&self, i: usize) -> Option<(&[u8], f64)> {
        self.iter_from(i).next()
    }

    /// The element at arena position `i` (< len): a uniform pick for a uniform `i`.
    pub fn at(&self, i: usize) -> (&[u8], f64) {
        let n = &self.nodes[i];
        (&n.member, n.score)
    }

    /// Checks the tree's order, subtree counts, heap property and links, the member table,
    /// and the payload against a recount (for tests).
    pub fn verify(&self) -> Result<(), String> {
        let mut seen = 0usize;
        if self.root != NIL {
            seen = self.verify_node(self.root)? as usize;
        }
        if seen != self.nodes.len() {
            return Err(format!("tree holds {seen} of {} nodes", self.nodes.len()));
        }
        if self.by_member.len() != self.nodes.len() {
            return Err("member table size differs".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if self.find(&n.member) != Some(i as u32) {
                return Err(format!("member table misses node {i}"));
            }
        }
        let mut prev: Option<(f64, &[u8])> = None;
        for (m, s) in self.iter_from(0) {
            if prev.is_some_and(|p| cmp_keys(p, (s, m)) != Ordering::Less) {
                return Err("order broken".into());
            }
            prev = Some((s, m));
        }
        let payload: usize = self
            .nodes
            .iter()
            .map(|n| Short::heap_cost(n.member.len()))
            .sum();
        if payload != self.payload {
            return Err(format!("payload {} != recount {payload}", self.payload));
        }
        Ok(())
    }

    fn verify_node(&self, t: u32) -> Result<u32, String> {
        let n = &self.nodes[t as usize];
        let mut size = 1;
        for child in [n.left, n.right] {
            if child != NIL {
                if self.nodes[child as usize].prio > n.prio {
                    return Err(format!("heap order broken below {t}"));
                }
                size += self.verify_node(child)?;
            }
        }
        if size != n.size {
            return Err(format!("node {t} counts {} but has {size}", n.size));
        }
        Ok(size)
    }
}

/// In-order traversal: the stack holds the nodes still to visit, each with its right subtree.
pub struct Iter<'a> {
    index: &'a Index,
    stack: Vec<u32>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.stack.pop()?;
        let nodes = &self.index.nodes;
        let mut c = nodes[t as usize].right;
        while c != NIL {
            self.stack.push(c);
            c = nodes[c as usize].left;
        }
        let n = &nodes[t as usize];
        Some((&n.member, n.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Ordered like the index: scores here are small integers, so the tuple order agrees.
    type Model = BTreeSet<(i64, Vec<u8>)>;

    #[test]
    fn matches_a_model_over_many_seeds() {
        for seed in 1..=200u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut ix = Index::new();
            let mut model = Model::new();
            for _ in 0..300 {
                let r = next();
                let member = format!("m{}", r % 60).into_bytes();
                let score = ((r >> 8) % 20) as i64 - 10;
                let old = model.iter().find(|(_, m)| *m == member).cloned();
                match (r >> 20) % 4 {
                    0 => {
                        assert_eq!(ix.remove(&member), old.as_ref().map(|o| o.0 as f64));
                        if let Some(o) = old {
                            model.remove(&o);
                        }
                    }
                    _ => {
                        match old {
                            Some(o) => {
                                assert_eq!(ix.set_score(&member, score as f64), Some(o.0 as f64));
                                model.remove(&o);
                            }
                            None => ix.insert(&member, score as f64),
                        }
                        model.insert((score, member.clone()));
                    }
                }
                ix.verify().unwrap();
                let got: Vec<(i64, Vec<u8>)> = ix
                    .iter_from(0)
                    .map(|(m, s)| (s as i64, m.to_vec()))
                    .collect();
                let want: Vec<(i64, Vec<u8>)> = model.iter().cloned().collect();
                assert_eq!(got, want);
                for (rank, (s, m)) in want.iter().enumerate() {
                    assert_eq!(ix.rank(m), Some((rank, *s as f64)));
                    assert_eq!(ix.get(rank), Some((&m[..], *s as f64)));
                }
                let below = want.iter().filter(|(s, _)| *s < 0).count();
                assert_eq!(ix.count_before(|s, _| s < 0.0), below);
            }
        }
    }
}
