//! The hash table of one database in one shard: open addressing with linear probing, one tag
//! byte per bucket kept beside the slots, keys inline in the slot (up to 24 bytes).
//!
//! Why not hashbrown: a pipelined batch prefetches the buckets its keys hash to before it runs
//! its commands ([`super::Store::prefetch_table`], [`super::Store::prefetch_bucket`]), so the
//! cache misses of a batch of lookups overlap instead of following one another. That needs a
//! bucket's address from the key's hash alone; this table publishes what it takes
//! ([`Layout`]); hashbrown does not expose it.
//!
//! The caller hashes the key once ([`KeyHasher`]) and passes the hash: its low bits pick the
//! home bucket, bits 47..54 are the tag, the top ten bits pick the shard (see `Store`), so the
//! three are independent. Removal leaves a tombstone; tombstones are purged when the table is
//! rebuilt, which an insert does once full buckets plus tombstones would pass 7/8 of the table.

use super::entry::Entry;
use smallvec::SmallVec;
use std::hash::BuildHasher;

/// A key, stored inline in its slot up to 24 bytes (most keys): comparing a probed key then
/// costs no pointer chase to a separate allocation.
pub type Key = SmallVec<[u8; 24]>;

/// A bucket's content: `Some` exactly when its tag says full.
pub type Slot = Option<(Key, Entry)>;

/// A slot on its own cache lines (two, with an inline value), so reading one touches no more
/// lines than it must and a prefetch of its first and last byte brings all of it.
#[repr(align(64))]
struct Bucket(Slot);

/// Bytes per bucket.
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

const EMPTY: u8 = 0;
const TOMBSTONE: u8 = 1;
/// Full buckets have the top bit set (and seven bits of the hash below it).
const FULL: u8 = 0x80;
const MIN_BUCKETS: usize = 8;

/// The key hash every table of a store uses (seeded once per store).
#[derive(Clone, Debug)]
pub struct KeyHasher(foldhash::fast::FixedState);

impl KeyHasher {
    pub fn with_seed(seed: u64) -> KeyHasher {
        KeyHasher(foldhash::fast::FixedState::with_seed(seed))
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

fn tag_of(hash: u64) -> u8 {
    FULL | ((hash >> 47) as u8 & 0x7F)
}

/// Where a table's buckets are, for prefetching (addresses as integers: a prefetch of a stale
/// address after the table moved is harmless, see [`prefetch`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub tags: usize,
    pub slots: usize,
    /// Buckets - 1; 0 with no buckets (a table has 0 or at least 8).
    pub mask: usize,
}

impl Layout {
    /// The addresses of the tag and the slot where a probe for `hash` starts.
    pub fn bucket(&self, hash: u64) -> (usize, usize) {
        let i = hash as usize & self.mask;
        (self.tags + i, self.slots + i * BUCKET_BYTES)
    }
}

/// Asks the CPU to bring the cache line holding `addr` into its caches.
#[inline(always)]
pub fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is only a hint: it never faults and changes no architectural state,
    // whatever the address (unmapped, freed or null alike), so any integer is a valid argument.
    // SSE, which the intrinsic requires, is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

pub struct Table {
    tags: Vec<u8>,
    slots: Vec<Bucket>,
    /// Full buckets.
    len: usize,
    /// Full buckets plus tombstones.
    used: usize,
    hasher: KeyHasher,
}

impl Table {
    /// An empty table (no allocation until the first insert).
    pub fn new(hasher: KeyHasher) -> Table {
        Table {
            tags: Vec::new(),
            slots: Vec::new(),
            len: 0,
            used: 0,
            hasher,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn layout(&self) -> Layout {
        Layout {
            tags: self.tags.as_ptr() as usize,
            slots: self.slots.as_ptr() as usize,
            mask: self.tags.len().saturating_sub(1),
        }
    }

    fn mask(&self) -> usize {
        self.tags.len().wrapping_sub(1)
    }

    /// Index of the bucket holding `key` (whose hash is `hash`).
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.tags.is_empty() {
            return None;
        }
        let mask = self.mask();
        let tag = tag_of(hash);
        let mut i = hash as usize & mask;
        // At least one bucket in eight is empty, so the probe ends.
        loop {
            let t = self.tags[i];
            if t == EMPTY {
                return None;
            }
            if t == tag {
                if let Some((k, _)) = &self.slots[i].0 {
                    if k.as_slice() == key {
                        return Some(i);
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        let i = self.find(hash, key)?;
        self.slots[i].0.as_ref().map(|(_, e)| e)
    }

    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find(hash, key)?;
        self.slots[i].0.as_mut().map(|(_, e)| e)
    }

    /// The entry in bucket `index` (from [`find`](Self::find)).
    pub fn at_mut(&mut self, index: usize) -> Option<&mut Entry> {
        self.slots.get_mut(index)?.0.as_mut().map(|(_, e)| e)
    }

    /// Removes `key`, returning its stored key and entry.
    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<(Key, Entry)> {
        let i = self.find(hash, key)?;
        self.remove_at(i)
    }

    /// Empties bucket `index`, leaving a tombstone so later probes pass it.
    pub fn remove_at(&mut self, index: usize) -> Option<(Key, Entry)> {
        let taken = self.slots.get_mut(index)?.0.take()?;
        self.tags[index] = TOMBSTONE;
        self.len -= 1;
        Some(taken)
    }

    /// Adds `key`, which must not be present (the caller looked it up first).
    pub fn insert_new(&mut self, hash: u64, key: Key, entry: Entry) {
        debug_assert!(
            self.find(hash, &key).is_none(),
            "insert_new of a present key"
        );
        let mut i = self.free_bucket(hash);
        if i.is_none_or(|i| self.tags[i] == EMPTY && self.used + 1 > max_used(self.tags.len())) {
            self.rebuild_for(self.len + 1);
            i = self.free_bucket(hash);
        }
        let Some(i) = i else {
            // rebuild_for always leaves free buckets; unreachable.
            debug_assert!(false, "no free bucket after a rebuild");
            return;
        };
        if self.tags[i] == EMPTY {
            self.used += 1;
        }
        self.tags[i] = tag_of(hash);
        self.slots[i] = Bucket(Some((key, entry)));
        self.len += 1;
    }

    /// The first empty or tombstone bucket on `hash`'s probe path.
    fn free_bucket(&self, hash: u64) -> Option<usize> {
        if self.tags.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            if self.tags[i] < FULL {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Rebuilds the table without tombstones, big enough for `items` with room to grow:
    /// twice the buckets when `items` would fill more than half of 7/8 of the current ones.
    fn rebuild_for(&mut self, items: usize) {
        let current = self.tags.len();
        let mut buckets = current;
        if current == 0 || items > max_used(current) / 2 {
            buckets = (current * 2).max(MIN_BUCKETS);
            while items > max_used(buckets) {
                buckets *= 2;
            }
        }
        let old = std::mem::take(&mut self.slots);
        self.tags = vec![EMPTY; buckets];
        self.slots = std::iter::repeat_with(|| Bucket(None))
            .take(buckets)
            .collect();
        self.len = 0;
        self.used = 0;
        let mask = buckets - 1;
        for (k, e) in old.into_iter().filter_map(|b| b.0) {
            let hash = self.hasher.hash(&k);
            let mut i = hash as usize & mask;
            while self.tags[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.tags[i] = tag_of(hash);
            self.slots[i] = Bucket(Some((k, e)));
            self.len += 1;
            self.used += 1;
        }
    }

    /// Removes every entry and frees the buckets.
    pub fn clear(&mut self) {
        self.tags = Vec::new();
        self.slots = Vec::new();
        self.len = 0;
        self.used = 0;
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(self.slots.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> {
        self.iter().map(|(_, e)| e)
    }

    /// Keeps the entries for which `keep` is true; `keep` sees every entry exactly once.
    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut Entry) -> bool) {
        for i in 0..self.slots.len() {
            let drop = match &mut self.slots[i].0 {
                Some((k, e)) => !keep(k, e),
                None => false,
            };
            if drop {
                self.remove_at(i);
            }
        }
    }

    /// Checks the table's invariants (for tests): tags agree with slots and hashes, counts
    /// are right, every key is found from its home bucket, at least one bucket in eight is free.
    pub fn verify(&self) -> Result<(), String> {
        if self.tags.len() != self.slots.len() {
            return Err("tags and slots differ in length".into());
        }
        if !self.tags.is_empty() && !self.tags.len().is_power_of_two() {
            return Err(format!("{} buckets: not a power of two", self.tags.len()));
        }
        let mut len = 0;
        let mut used = 0;
        for (i, (t, s)) in self.tags.iter().zip(&self.slots).enumerate() {
            match (*t, &s.0) {
                (EMPTY, None) => {}
                (TOMBSTONE, None) => used += 1,
                (t, Some((k, _))) if t >= FULL => {
                    len += 1;
                    used += 1;
                    let hash = self.hasher.hash(k);
                    if t != tag_of(hash) {
                        return Err(format!("bucket {i}: tag {t:#x} does not match its key"));
                    }
                    if self.find(hash, k) != Some(i) {
                        return Err(format!("bucket {i}: its key is not found by a probe"));
                    }
                }
                (t, _) => return Err(format!("bucket {i}: tag {t:#x} disagrees with its slot")),
            }
        }
        if len != self.len || used != self.used {
            return Err(format!(
                "counts: len {} used {}, recount {len} / {used}",
                self.len, self.used
            ));
        }
        if !self.tags.is_empty() && used > max_used(self.tags.len()) {
            return Err(format!("{used} of {} buckets used", self.tags.len()));
        }
        Ok(())
    }
}

/// The entries of a table, in bucket order.
pub struct Iter<'a>(std::slice::Iter<'a, Bucket>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .by_ref()
            .find_map(|b| b.0.as_ref().map(|(k, e)| (k, e)))
    }
}

impl<'a> IntoIterator for &'a Table {
    type Item = (&'a Key, &'a Entry);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Most buckets that may be full or tombstones: 7/8 of them, so probes always meet an empty one.
fn max_used(buckets: usize) -> usize {
    buckets - buckets / 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::Value;

    fn key(n: u64) -> Vec<u8> {
        format!("key:{n:012}").into_bytes()
    }

    fn entry(n: i64) -> Entry {
        Entry::new(Value::Int(n))
    }

    /// A model (std HashMap) and the table, driven by the same random operations.
    #[test]
    fn matches_a_model_under_random_inserts_updates_and_removals() {
        let hasher = KeyHasher::with_seed(7);
        let mut table = Table::new(hasher.clone());
        let mut model = std::collections::HashMap::new();
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..200_000u64 {
            let r = next();
            let k = key(r % 3000);
            let h = hasher.hash(&k);
            match (r >> 32) % 4 {
                0 | 1 => {
                    let v = (step as i64) ^ 0x55;
                    match table.get_mut(h, &k) {
                        Some(e) => *e = entry(v),
                        None => table.insert_new(h, Key::from_slice(&k), entry(v)),
                    }
                    model.insert(k, v);
                }
                2 => {
                    let got = table.remove(h, &k).map(|(kk, e)| (kk.to_vec(), e.value));
                    let want = model.remove(&k).map(|v| (k.clone(), Value::Int(v)));
                    assert_eq!(got, want, "remove at step {step}");
                }
                _ => {
                    let got = table.get(h, &k).map(|e| e.value.clone());
                    assert_eq!(got, model.get(&k).map(|&v| Value::Int(v)), "get at {step}");
                }
            }
            if step % 10_000 == 0 {
                table.verify().unwrap();
                assert_eq!(table.len(), model.len());
            }
        }
        table.verify().unwrap();
        let mut seen: Vec<(Vec<u8>, Value)> = table
            .iter()
            .map(|(k, e)| (k.to_vec(), e.value.clone()))
            .collect();
        let mut want: Vec<(Vec<u8>, Value)> = model
            .iter()
            .map(|(k, &v)| (k.clone(), Value::Int(v)))
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen, want);
    }

    #[test]
    fn tombstones_are_purged_so_churn_does_not_grow_the_table() {
        let hasher = KeyHasher::with_seed(1);
        let mut table = Table::new(hasher.clone());
        for round in 0..1000u64 {
            for i in 0..50 {
                let k = key(round * 50 + i);
                table.insert_new(hasher.hash(&k), Key::from_slice(&k), entry(1));
            }
            for i in 0..50 {
                let k = key(round * 50 + i);
                assert!(table.remove(hasher.hash(&k), &k).is_some());
            }
        }
        table.verify().unwrap();
        assert!(table.is_empty());
        // 50 live keys at most: 64 buckets hold them at under 7/16; churn must not double it.
        assert!(table.layout().mask < 128, "mask {}", table.layout().mask);
    }

    #[test]
    fn retain_sees_each_entry_once_and_keeps_the_rest_findable() {
        let hasher = KeyHasher::with_seed(3);
        let mut table = Table::new(hasher.clone());
        for i in 0..1000 {
            let k = key(i);
            table.insert_new(hasher.hash(&k), Key::from_slice(&k), entry(i as i64));
        }
        let mut visits = 0;
        table.retain(|_, e| {
            visits += 1;
            matches!(e.value, Value::Int(n) if n % 3 == 0)
        });
        assert_eq!(visits, 1000);
        assert_eq!(table.len(), 334);
        table.verify().unwrap();
        for i in 0..1000 {
            let k = key(i);
            assert_eq!(table.get(hasher.hash(&k), &k).is_some(), i % 3 == 0);
        }
    }

    #[test]
    fn empty_table_allocates_nothing_and_finds_nothing() {
        let hasher = KeyHasher::with_seed(0);
        let mut table = Table::new(hasher.clone());
        assert_eq!((table.layout().mask, table.tags.capacity()), (0, 0));
        assert!(table.get(hasher.hash(b"k"), b"k").is_none());
        assert!(table.remove(hasher.hash(b"k"), b"k").is_none());
        table.verify().unwrap();
        table.insert_new(hasher.hash(b"k"), Key::from_slice(b"k"), entry(5));
        assert_eq!(table.layout().mask, MIN_BUCKETS - 1);
        table.clear();
        assert_eq!((table.layout().mask, table.tags.capacity()), (0, 0));
    }

    #[test]
    fn prefetch_accepts_any_address() {
        let data = vec![7u8; 4096];
        prefetch(data.as_ptr() as usize);
        prefetch(0);
        prefetch(usize::MAX);
        let freed = {
            let v: Box<[u8]> = Box::new([1u8; 64]);
            v.as_ptr() as usize
        };
        prefetch(freed);
        assert!(data.iter().all(|&b| b == 7));
    }

    #[test]
    fn layout_points_at_the_probe_start() {
        let hasher = KeyHasher::with_seed(9);
        let mut table = Table::new(hasher.clone());
        for i in 0..100 {
            let k = key(i);
            table.insert_new(hasher.hash(&k), Key::from_slice(&k), entry(0));
        }
        let layout = table.layout();
        let h = hasher.hash(&key(5));
        let (tag, slot) = layout.bucket(h);
        let i = h as usize & layout.mask;
        assert_eq!(tag, &table.tags[i] as *const u8 as usize);
        assert_eq!(slot, &table.slots[i] as *const Bucket as usize);
        assert_eq!(slot % 64, 0, "buckets start on a cache line");
    }
}
