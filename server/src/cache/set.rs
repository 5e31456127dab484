//! A set value in Redis 7.0's two encodings: an intset while every member is an integer (in
//! the canonical form Redis's `string2ll` accepts) and there are at most
//! `set-max-intset-entries` of them, else a hashtable (Redis 7.0 has no listpack sets; 7.2
//! added them). The conversion is one way, as in Redis.
//!
//! The hashtable is an `IndexSet` for O(1) random picks (SPOP, SRANDMEMBER) and swap-removal.
//! [`Set::heap_size`] is O(1): the intset's buffer, or the table's capacity times a per-slot
//! cost plus `payload` (member bytes plus an allocator overhead each), kept by every mutation.

use super::hashtable::{scan_step, ALLOC_OVERHEAD, EXACT_CAPACITY_UP_TO};
use super::intset::IntSet;
use super::short::Short;
use super::Limits;
use indexmap::IndexSet;
use protocol::resp::parse_i64;

type Table = IndexSet<Short, foldhash::fast::RandomState>;

#[derive(Clone, Debug)]
pub enum Set {
    Ints(IntSet),
    Table(Box<SetTable>),
}

#[derive(Clone, Debug)]
pub struct SetTable {
    set: Table,
    payload: usize,
}

const TABLE_SLOT: usize = std::mem::size_of::<(u64, Short)>() + 8 + 1;

fn member_cost(m: &[u8]) -> usize {
    Short::heap_cost(m.len())
}

/// A member as stored: an integer of an intset or bytes of a hashtable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => {
                let mut buf = [0u8; 20];
                f(super::entry::format_i64(*n, &mut buf))
            }
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

impl Set {
    /// An empty set (an intset, as Redis creates one for a first integer member; a first
    /// non-integer member converts it at once).
    pub fn new() -> Set {
        Set::Ints(IntSet::new())
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Table(t) => t.set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(s) => s.heap_size(),
            Set::Table(t) => {
                std::mem::size_of::<SetTable>()
                    + ALLOC_OVERHEAD
                    + t.set.capacity() * TABLE_SLOT
                    + t.payload
            }
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64(member).is_some_and(|n| s.contains(n)),
            Set::Table(t) => t.set.contains(member),
        }
    }

    /// Adds `member`; true when it is new.
    pub fn add(&mut self, member: &[u8], limits: &Limits) -> bool {
        match self {
            Set::Ints(s) => {
                if let Some(n) = parse_i64(member) {
                    let added = s.insert(n);
                    if s.len() > limits.set_max_intset_entries {
                        *self = Set::Table(to_table(s));
                    }
                    return added;
                }
                let mut t = to_table(s);
                let added = t.insert(member);
                *self = Set::Table(t);
                added
            }
            Set::Table(t) => t.insert(member),
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64(member).is_some_and(|n| s.remove(n)),
            Set::Table(t) => {
                let removed = t.set.swap_remove(member);
                if removed {
                    t.payload -= member_cost(member);
                    t.shrink_if_sparse();
                }
                removed
            }
        }
    }

    /// The member at position `i` (0..len), O(1).
    pub fn nth(&self, i: usize) -> Member<'_> {
        match self {
            Set::Ints(s) => Member::Int(s.get(i)),
            Set::Table(t) => Member::Bytes(t.set.get_index(i).map_or(&[][..], |m| &**m)),
        }
    }

    /// Removes and returns the member at position `i` (0..len).
    pub fn remove_nth(&mut self, i: usize) -> Vec<u8> {
        match self {
            Set::Ints(s) => Member::Int(s.remove_at(i)).to_vec(),
            Set::Table(t) => {
                let m = t
                    .set
                    .swap_remove_index(i)
                    .map(|m| m.to_vec())
                    .unwrap_or_default();
                t.payload -= member_cost(&m);
                t.shrink_if_sparse();
                m
            }
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(s) => Box::new(s.iter().map(Member::Int)),
            Set::Table(t) => Box::new(t.set.iter().map(|m| Member::Bytes(m))),
        }
    }

    /// One SSCAN step: an intset whole with cursor 0 (as Redis), a hashtable as in
    /// `scan_step`.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Member<'_>>) {
        match self {
            Set::Ints(_) => (0, self.iter().collect()),
            Set::Table(t) => {
                let hasher = t.set.hasher();
                scan_step(
                    t.set.iter().map(|m| Member::Bytes(m)),
                    |m| match m {
                        Member::Bytes(b) => std::hash::BuildHasher::hash_one(hasher, b),
                        Member::Int(n) => *n as u64,
                    },
                    t.set.len(),
                    cursor,
                    count,
                )
            }
        }
    }

    /// Encoding and byte estimate against a recount (for tests).
    pub fn verify(&self, limits: &Limits) -> Result<(), String> {
        match self {
            Set::Ints(s) => {
                s.verify()?;
                if s.len() > limits.set_max_intset_entries {
                    return Err(format!("intset of {} members", s.len()));
                }
            }
            Set::Table(t) => {
                let payload: usize = t.set.iter().map(|m| member_cost(m)).sum();
                if payload != t.payload {
                    return Err(format!("payload {} != recount {payload}", t.payload));
                }
            }
        }
        Ok(())
    }
}

/// The hashtable form of an intset's members.
fn to_table(s: &IntSet) -> Box<SetTable> {
    let mut t = SetTable {
        set: Table::with_capacity_and_hasher(s.len() + 1, Default::default()),
        payload: 0,
    };
    for n in s.iter() {
        t.insert(&Member::Int(n).to_vec());
    }
    Box::new(t)
}

impl SetTable {
    fn insert(&mut self, member: &[u8]) -> bool {
        let added = self.set.insert(Short::new(member));
        if added {
            self.payload += member_cost(member);
            if self.set.len() <= EXACT_CAPACITY_UP_TO {
                self.set.shrink_to_fit();
            }
        }
        added
    }

    /// Gives memory back as the set shrinks (Redis's dict shrinks too).
    fn shrink_if_sparse(&mut self) {
        let len = self.set.len();
        if len <= EXACT_CAPACITY_UP_TO || len * 8 < self.set.capacity() {
            self.set.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Random adds, removals and positional pops against a BTreeSet, many seeds, small
    /// thresholds; invariants after every mutation.
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
                set_max_intset_entries: 1 + (seed % 30) as usize,
                ..Limits::default()
            };
            let strings = seed % 4 == 0;
            let mut s = Set::new();
            let mut model = BTreeSet::new();
            let mut ever_big = false;
            for _ in 0..200 {
                let r = next();
                let member = if strings && r % 7 == 0 {
                    format!("m{}", r % 40).into_bytes()
                } else {
                    format!(
                        "{}",
                        (r % 60) as i64 - 30 + if r % 11 == 0 { 1 << 40 } else { 0 }
                    )
                    .into_bytes()
                };
                match (r >> 40) % 5 {
                    0 | 1 => {
                        assert_eq!(s.remove(&member), model.remove(&member));
                    }
                    2 if !model.is_empty() => {
                        let i = (r >> 20) as usize % s.len();
                        let m = s.remove_nth(i);
                        assert!(model.remove(&m), "popped a non-member");
                    }
                    _ => {
                        assert_eq!(s.add(&member, &l), model.insert(member.clone()));
                        ever_big |=
                            parse_i64(&member).is_none() || model.len() > l.set_max_intset_entries;
                    }
                }
                s.verify(&l).unwrap();
                assert_eq!(s.len(), model.len());
                assert_eq!(s.encoding() == "hashtable", ever_big);
                assert_eq!(s.contains(&member), model.contains(&member));
                let got: BTreeSet<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
                assert_eq!(got, model);
            }
        }
    }
}
