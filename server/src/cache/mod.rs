//! The cache store: concurrent, sharded, shared by all workers, with no global lock.
//!
//! Keys are spread over a fixed number of shards by a hash of the key (not the database, so a
//! key's copies in every database live in one shard and MOVE/COPY lock one shard). Each shard
//! is a `parking_lot::Mutex` around per-database hash maps. Commands on one key lock one shard;
//! multi-key commands that Redis makes atomic (MSET, MSETNX, MGET, RENAME, COPY) lock every
//! shard involved in index order ([`Store::lock_keys`]), so they are atomic here too and cannot
//! deadlock.
//!
//! Expiry is lazy (a key is checked whenever it is touched) plus an active sweep
//! ([`Store::active_expire`]) over shards that have keys with a TTL. Memory is an estimate kept
//! exact per shard and summed over striped counters; eviction samples keys like Redis.

mod counter;
pub mod entry;
mod evict;
pub mod glob;
pub mod hash;
mod hashtable;
mod intset;
mod listpack;
pub mod set;
mod shard;
mod short;
mod smallbuf;
mod table;
pub mod zset;
mod zset_index;

pub use entry::{Entry, Value};
pub use evict::{idle_seconds, lfu_decayed_counter, lru_clock, EvictionPolicy, Oom};
pub use hash::Hash;
pub use set::{Member, Set};
pub use zset::{Scored, ZSet};

use crate::state::StateOptions;
use counter::StripedCounter;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use shard::{Delta, Shard};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use table::{prefetch, KeyHasher, Layout, Table};

/// Number of shards: a power of two. Many shards keep lock contention and SCAN steps small.
pub const SHARDS: usize = 1024;

pub struct Store {
    databases: usize,
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Where each table is, index `db * SHARDS + shard`, read without the lock to prefetch.
    hints: Box<[Hint]>,
    hasher: KeyHasher,
    used: StripedCounter,
    volatile: StripedCounter,
    expired_keys: StripedCounter,
    evicted_keys: StripedCounter,
    max_memory: AtomicU64,
    policy: AtomicU8,
    /// Where the next active-expiry sweep starts.
    sweep_cursor: AtomicUsize,
    /// The encoding thresholds of collections (CONFIG SET changes them; existing values keep
    /// their encoding, as in Redis).
    hash_max_listpack_entries: AtomicUsize,
    hash_max_listpack_value: AtomicUsize,
    set_max_intset_entries: AtomicUsize,
    zset_max_listpack_entries: AtomicUsize,
    zset_max_listpack_value: AtomicUsize,
}

/// The encoding thresholds a collection command works with (read once per command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

/// Redis 7.0.15's compiled-in defaults (its sample redis.conf sets hash-max-listpack-entries
/// to 128, but a server started without that file, as the Tcl suite starts it, has 512).
impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

impl Store {
    pub fn new(options: &StateOptions) -> Result<Self, String> {
        if options.databases == 0 {
            return Err("databases must be at least 1".into());
        }
        let policy = EvictionPolicy::from_name(&options.eviction)
            .ok_or_else(|| format!("unknown eviction policy {:?}", options.eviction))?;
        // A seed per process, so nobody can aim many keys at one shard and bucket.
        let seed = std::hash::BuildHasher::hash_one(&foldhash::fast::RandomState::default(), 0u64);
        let hasher = KeyHasher::with_seed(seed);
        let shards: Box<[CachePadded<Mutex<Shard>>]> = (0..SHARDS)
            .map(|_| CachePadded::new(Mutex::new(Shard::new(options.databases, hasher.clone()))))
            .collect();
        let hints: Box<[Hint]> = (0..options.databases * SHARDS)
            .map(|_| Hint::default())
            .collect();
        for (index, shard) in shards.iter().enumerate() {
            let shard = shard.lock();
            for (db, table) in shard.dbs.iter().enumerate() {
                // The tables never move (see `Shard::dbs`); their buckets do, on growth.
                hints[db * SHARDS + index]
                    .table
                    .store(table as *const Table as usize, Ordering::Relaxed);
            }
        }
        Ok(Store {
            databases: options.databases,
            shards,
            hints,
            hasher,
            used: StripedCounter::default(),
            volatile: StripedCounter::default(),
            expired_keys: StripedCounter::default(),
            evicted_keys: StripedCounter::default(),
            max_memory: AtomicU64::new(options.max_memory),
            policy: AtomicU8::new(policy as u8),
            sweep_cursor: AtomicUsize::new(0),
            hash_max_listpack_entries: AtomicUsize::new(
                Limits::default().hash_max_listpack_entries,
            ),
            hash_max_listpack_value: AtomicUsize::new(Limits::default().hash_max_listpack_value),
            set_max_intset_entries: AtomicUsize::new(Limits::default().set_max_intset_entries),
            zset_max_listpack_entries: AtomicUsize::new(
                Limits::default().zset_max_listpack_entries,
            ),
            zset_max_listpack_value: AtomicUsize::new(Limits::default().zset_max_listpack_value),
        })
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shard_of(&self, key: &[u8]) -> usize {
        shard_of_hash(self.hasher.hash(key))
    }

    /// The hash the store files `key` under; pass it to the prefetches.
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// First step of prefetching a key's bucket: brings in its table's location and its
    /// shard's lock. Call it for every key of a batch, then [`prefetch_bucket`](Self::prefetch_bucket)
    /// for each, then run the commands: their cache misses then overlap.
    pub fn prefetch_table(&self, db: usize, hash: u64) {
        let shard = shard_of_hash(hash);
        if let Some(hint) = self.hints.get(db * SHARDS + shard) {
            prefetch(hint as *const Hint as usize);
        }
        prefetch(&self.shards[shard] as *const _ as usize);
    }

    /// Second step (see [`prefetch_table`](Self::prefetch_table)): the table header, and the
    /// tag and slot where the probe for `hash` starts. Addresses come from the hints, which
    /// may be stale by the time the prefetch runs: then it is wasted, nothing worse.
    pub fn prefetch_bucket(&self, db: usize, hash: u64) {
        let Some(hint) = self.hints.get(db * SHARDS + shard_of_hash(hash)) else {
            return;
        };
        let layout = hint.layout();
        prefetch(hint.table.load(Ordering::Relaxed));
        if layout.mask == 0 {
            return;
        }
        let (tag, slot) = layout.bucket(hash);
        prefetch(tag);
        prefetch(slot);
        prefetch(slot + table::BUCKET_BYTES - 1);
    }

    /// Publishes where `shard`'s table of `db` keeps its buckets, if that changed (called with
    /// the shard locked, after anything that may have grown or cleared the table).
    fn publish_layout(&self, index: usize, db: usize, shard: &Shard) {
        if let Some(hint) = self.hints.get(db * SHARDS + index) {
            hint.set(shard.dbs[db].layout());
        }
    }

    fn record(&self, shard: usize, delta: Delta, expired: bool) {
        self.used.add(shard, delta.bytes);
        self.volatile.add(shard, delta.volatile);
        if expired {
            self.expired_keys.add(shard, 1);
        }
    }

    /// Reads `key` (expired keys are removed first and read as absent) and updates its access
    /// stamp, unless `touch` is false (OBJECT, TYPE-like peeks).
    pub fn read<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        touch: bool,
        f: impl FnOnce(Option<&Entry>) -> R,
    ) -> R {
        debug_assert!(db < self.databases);
        let hash = self.hasher.hash(key);
        let index = shard_of_hash(hash);
        let policy = self.policy();
        let mut shard = self.shards[index].lock();
        match shard.dbs[db].get_mut(hash, key) {
            Some(e) if !e.is_expired(now_ms) => {
                if touch {
                    policy.touch(e, now_ms);
                }
                f(Some(e))
            }
            Some(_) => {
                if let Some(delta) = shard.expire_if_due(db, hash, key, now_ms) {
                    drop(shard);
                    self.record(index, delta, true);
                }
                f(None)
            }
            None => f(None),
        }
    }

    /// Read-modify-write of one key under its shard's lock. `f` gets the live entry (None if
    /// absent or expired) and leaves what should be stored (None deletes).
    pub fn update<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        f: impl FnOnce(&mut Option<Entry>) -> R,
    ) -> R {
        debug_assert!(db < self.databases);
        let hash = self.hasher.hash(key);
        let index = shard_of_hash(hash);
        let mut shard = self.shards[index].lock();
        let policy = self.policy();
        let (r, delta, expired) = shard.update(db, hash, key, now_ms, |slot| {
            let r = f(slot);
            if let Some(e) = slot {
                policy.touch(e, now_ms);
            }
            r
        });
        self.publish_layout(index, db, &shard);
        drop(shard);
        self.record(index, delta, expired);
        r
    }

    /// Deletes `key`; true if it existed (and had not expired).
    pub fn remove(&self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.update(db, key, now_ms, |slot| slot.take().is_some())
    }

    /// Locks the shards of all `keys` (index order) for an atomic multi-key command.
    pub fn lock_keys<'a>(&'a self, keys: impl IntoIterator<Item = &'a [u8]>) -> MultiLock<'a> {
        let mut indexes: Vec<usize> = keys.into_iter().map(|k| self.shard_of(k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let guards = indexes
            .iter()
            .map(|&i| (i, self.shards[i].lock()))
            .collect();
        MultiLock {
            store: self,
            guards,
        }
    }

    /// Keys in `db`, counting ones that expired but were not reclaimed yet (as Redis's DBSIZE).
    pub fn dbsize(&self, db: usize) -> usize {
        self.shards.iter().map(|s| s.lock().dbs[db].len()).sum()
    }

    /// (keys, keys with an expiry) for every non-empty database.
    pub fn keyspace(&self) -> Vec<(usize, usize, usize)> {
        let mut keys = vec![0usize; self.databases];
        let mut expires = vec![0usize; self.databases];
        for s in self.shards.iter() {
            let s = s.lock();
            for db in 0..self.databases {
                keys[db] += s.dbs[db].len();
                expires[db] += s.volatile[db];
            }
        }
        (0..self.databases)
            .filter(|&db| keys[db] > 0)
            .map(|db| (db, keys[db], expires[db]))
            .collect()
    }

    pub fn flush_db(&self, db: usize) {
        for (i, s) in self.shards.iter().enumerate() {
            let mut shard = s.lock();
            let delta = shard.clear(db);
            self.publish_layout(i, db, &shard);
            drop(shard);
            self.record(i, delta, false);
        }
    }

    pub fn flush_all(&self) {
        for db in 0..self.databases {
            self.flush_db(db);
        }
    }

    /// Live keys of `db` matching `pattern`.
    pub fn keys(&self, db: usize, pattern: &[u8], now_ms: u64) -> Vec<Vec<u8>> {
        let all = pattern == b"*";
        let mut out = Vec::new();
        for s in self.shards.iter() {
            s.lock()
                .collect_keys(db, (!all).then_some(pattern), now_ms, &mut out);
        }
        out
    }

    /// One SCAN step from `cursor` (a shard index): whole shards are visited until at least
    /// `count` keys were gathered; the returned cursor is 0 when the scan is complete. Every key
    /// present for the whole scan is returned, because a key never changes shard.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        now_ms: u64,
    ) -> (u64, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let mut shard = cursor as usize;
        // Bound the work of one call even when most shards are empty or filtered out.
        let mut visited = 0;
        while shard < SHARDS && out.len() < count.max(1) && visited < count.max(1) * 16 + 16 {
            self.shards[shard]
                .lock()
                .collect_keys(db, pattern, now_ms, &mut out);
            shard += 1;
            visited += 1;
        }
        let next = if shard >= SHARDS { 0 } else { shard as u64 };
        (next, out)
    }

    /// A random live key of `db`.
    pub fn random_key(&self, db: usize, now_ms: u64, seed: u64) -> Option<Vec<u8>> {
        let mut rng = evict::Rng::new(seed);
        let start = rng.below(SHARDS);
        for i in 0..SHARDS {
            let s = self.shards[(start + i) % SHARDS].lock();
            let m = &s.dbs[db];
            let live = m.len();
            if live == 0 {
                continue;
            }
            // A few random picks first; fall back to the first live key of the shard.
            for _ in 0..8 {
                if let Some((k, e)) = m.iter().nth(rng.below(live)) {
                    if !e.is_expired(now_ms) {
                        return Some(k.to_vec());
                    }
                }
            }
            if let Some((k, _)) = m.iter().find(|(_, e)| !e.is_expired(now_ms)) {
                return Some(k.to_vec());
            }
        }
        None
    }

    /// Removes expired keys from shards that have any, visiting at most `max_shards` shards
    /// with volatile keys; returns the number removed.
    pub fn active_expire(&self, now_ms: u64, max_shards: usize) -> usize {
        if self.volatile.sum() <= 0 {
            return 0;
        }
        let start = self.sweep_cursor.load(Ordering::Relaxed);
        let mut removed = 0;
        let mut swept = 0;
        let mut i = 0;
        while i < SHARDS && swept < max_shards {
            let index = (start + i) % SHARDS;
            let mut s = self.shards[index].lock();
            if s.volatile.iter().any(|&v| v > 0) {
                let (n, delta) = s.sweep_expired(now_ms);
                drop(s);
                self.used.add(index, delta.bytes);
                self.volatile.add(index, delta.volatile);
                self.expired_keys.add(index, n as i64);
                removed += n;
                swept += 1;
            }
            i += 1;
        }
        self.sweep_cursor
            .store((start + i) % SHARDS, Ordering::Relaxed);
        removed
    }

    pub fn used_memory(&self) -> u64 {
        self.used.sum().max(0) as u64
    }

    pub fn expired_keys(&self) -> u64 {
        self.expired_keys.sum().max(0) as u64
    }

    pub fn evicted_keys(&self) -> u64 {
        self.evicted_keys.sum().max(0) as u64
    }

    pub fn reset_stats(&self) {
        self.expired_keys.reset();
        self.evicted_keys.reset();
    }

    pub fn max_memory(&self) -> u64 {
        self.max_memory.load(Ordering::Relaxed)
    }

    pub fn set_max_memory(&self, bytes: u64) {
        self.max_memory.store(bytes, Ordering::Relaxed);
    }

    pub fn limits(&self) -> Limits {
        Limits {
            hash_max_listpack_entries: self.hash_max_listpack_entries.load(Ordering::Relaxed),
            hash_max_listpack_value: self.hash_max_listpack_value.load(Ordering::Relaxed),
            set_max_intset_entries: self.set_max_intset_entries.load(Ordering::Relaxed),
            zset_max_listpack_entries: self.zset_max_listpack_entries.load(Ordering::Relaxed),
            zset_max_listpack_value: self.zset_max_listpack_value.load(Ordering::Relaxed),
        }
    }

    pub fn set_limits(&self, limits: Limits) {
        let l = limits;
        let s = self;
        s.hash_max_listpack_entries
            .store(l.hash_max_listpack_entries, Ordering::Relaxed);
        s.hash_max_listpack_value
            .store(l.hash_max_listpack_value, Ordering::Relaxed);
        s.set_max_intset_entries
            .store(l.set_max_intset_entries, Ordering::Relaxed);
        s.zset_max_listpack_entries
            .store(l.zset_max_listpack_entries, Ordering::Relaxed);
        s.zset_max_listpack_value
            .store(l.zset_max_listpack_value, Ordering::Relaxed);
    }

    pub fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub fn set_policy(&self, p: EvictionPolicy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }

    /// Checks every shard's bookkeeping and the store-wide sums (for tests).
    pub fn verify(&self) -> Result<(), String> {
        let mut used = 0usize;
        let mut volatile = 0usize;
        for s in self.shards.iter() {
            let s = s.lock();
            s.verify()?;
            used += s.used;
            volatile += s.volatile.iter().sum::<usize>();
        }
        if used as i64 != self.used.sum() {
            return Err(format!(
                "store memory {} != shard sum {used}",
                self.used.sum()
            ));
        }
        if volatile as i64 != self.volatile.sum() {
            return Err(format!(
                "store volatile {} != shard sum {volatile}",
                self.volatile.sum()
            ));
        }
        Ok(())
    }
}

fn shard_of_hash(hash: u64) -> usize {
    (hash >> 54) as usize & (SHARDS - 1)
}

/// Where one table is (see [`Store::prefetch_bucket`]): written under the shard's lock when it
/// changes, read without it. Only ever used as prefetch addresses, never dereferenced.
#[derive(Default)]
#[repr(align(32))]
struct Hint {
    tags: AtomicUsize,
    slots: AtomicUsize,
    mask: AtomicUsize,
    /// The `Table` itself (fixed for the store's life).
    table: AtomicUsize,
}

impl Hint {
    fn layout(&self) -> Layout {
        Layout {
            tags: self.tags.load(Ordering::Relaxed),
            slots: self.slots.load(Ordering::Relaxed),
            mask: self.mask.load(Ordering::Relaxed),
        }
    }

    /// Stores `layout` unless it is already there (a write only when a table moves, so readers
    /// on other cores keep their copy of the line).
    fn set(&self, layout: Layout) {
        if self.layout() != layout {
            self.tags.store(layout.tags, Ordering::Relaxed);
            self.slots.store(layout.slots, Ordering::Relaxed);
            self.mask.store(layout.mask, Ordering::Relaxed);
        }
    }
}

/// Several shards held at once (see [`Store::lock_keys`]).
pub struct MultiLock<'a> {
    store: &'a Store,
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl MultiLock<'_> {
    fn shard(&mut self, hash: u64) -> (usize, &mut Shard) {
        let index = shard_of_hash(hash);
        let pos = self
            .guards
            .binary_search_by_key(&index, |(i, _)| *i)
            .unwrap_or_else(|_| {
                // lock_keys was given every key this lock is used for; anything else is a bug.
                panic!("key not covered by this MultiLock")
            });
        let (i, g) = &mut self.guards[pos];
        (*i, &mut **g)
    }

    pub fn read<R>(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        f: impl FnOnce(Option<&Entry>) -> R,
    ) -> R {
        let store = self.store;
        let policy = store.policy();
        let hash = store.hasher.hash(key);
        let (index, shard) = self.shard(hash);
        if let Some(delta) = shard.expire_if_due(db, hash, key, now_ms) {
            store.record(index, delta, true);
        }
        match shard.dbs[db].get_mut(hash, key) {
            Some(e) => {
                policy.touch(e, now_ms);
                f(Some(e))
            }
            None => f(None),
        }
    }

    pub fn update<R>(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        f: impl FnOnce(&mut Option<Entry>) -> R,
    ) -> R {
        let store = self.store;
        let policy = store.policy();
        let hash = store.hasher.hash(key);
        let (index, shard) = self.shard(hash);
        let (r, delta, expired) = shard.update(db, hash, key, now_ms, |slot| {
            let r = f(slot);
            if let Some(e) = slot {
                policy.touch(e, now_ms);
            }
            r
        });
        store.publish_layout(index, db, shard);
        store.record(index, delta, expired);
        r
    }
}
