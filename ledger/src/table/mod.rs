//! Fixed-capacity, open-addressing, lock-free hash tables of 128-byte records keyed by u128 id.
//!
//! Each slot is a header word (see [`header`]) and 16 record words, all atomics, in two
//! separately allocated arrays (headers are dense, so a probe sequence is a few cache lines).
//!
//! - **Insert** claims an empty slot with a compare-and-swap on its header, so an id is inserted
//!   at most once even when several partitions race: the loser finds the winner's id.
//! - **One writer per record**: only the partition that inserted a record rewrites it (account
//!   balances at commit), under the per-record sequence lock: header gets WRITING, the words are
//!   stored, then the header gets a new version. Readers on any thread read the words with
//!   atomic loads between two header loads and retry when the header changed: no locks, no data
//!   race in Rust's memory model.
//! - **Visibility**: records inserted by a batch carry UNCOMMITTED until the batch commits;
//!   rolled-back records become tombstones, which are never reused.

pub mod header;
mod storage;
pub(crate) mod sync;

use crate::types::{from_words, to_words, Record};
use header::{CLAIMING, EMPTY, LIVE, ORPHAN, TOMBSTONE, UNCOMMITTED, WRITING};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use storage::AtomicArray;
use sync::{fence, spin, AtomicU64};

/// Where an id stands in a table, as seen by a writer of partition `me`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A live record (committed, or uncommitted but inserted by the caller's partition).
    Live(u32),
    /// An orphaned id (committed, or the caller's own).
    Orphan(u32),
    /// Another partition's uncommitted record has this id: its batch may still roll back.
    Foreign(u32),
    /// Absent; the first empty slot of the probe sequence (where an insert would go).
    Absent(u32),
}

/// Why an insert did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The id appeared meanwhile (another partition won the race): probe again.
    Raced,
}

pub(crate) struct RecordTable {
    headers: AtomicArray,
    words: AtomicArray,
    mask: usize,
}

/// A mixer for u128 ids (ids are often sequential): splitmix-style finalizer of both halves.
#[inline]
pub(crate) fn hash_id(id: u128) -> u64 {
    let mut x = (id as u64) ^ ((id >> 64) as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[inline]
fn fingerprint_of(hash: u64) -> u16 {
    (hash >> 48) as u16
}

impl RecordTable {
    /// A table for at most `capacity` records, with slots = the next power of two of
    /// capacity / 0.75 so probe sequences stay short.
    pub fn new(capacity: usize, prefault: bool) -> Result<RecordTable, String> {
        let slots = (capacity.max(1) * 4 / 3 + 1).next_power_of_two().max(8);
        if slots > u32::MAX as usize {
            return Err(format!("table capacity {capacity} is too large"));
        }
        Ok(RecordTable {
            headers: AtomicArray::new(slots, prefault)?,
            words: AtomicArray::new(slots * 16, prefault)?,
            mask: slots - 1,
        })
    }

    pub fn slots(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    fn header(&self, slot: u32) -> &AtomicU64 {
        self.headers.get(slot as usize)
    }

    #[inline]
    fn word(&self, slot: u32, i: usize) -> &AtomicU64 {
        self.words.get(slot as usize * 16 + i)
    }

    /// Prefetches the lines an operation on `id` touches when the id sits in its home slot:
    /// the header and both lines of the 128-byte record (an insert writes all of it, and a
    /// store to a line not in cache stalls the core once the store buffer fills; fetching the
    /// second line too made create_transfers 15% faster).
    #[inline]
    pub fn prefetch(&self, id: u128) {
        let slot = hash_id(id) as usize & self.mask;
        self.headers.prefetch(slot);
        self.words.prefetch(slot * 16);
        self.words.prefetch(slot * 16 + 8);
    }

    #[inline]
    fn id_at(&self, slot: u32) -> u128 {
        let lo = self.word(slot, 0).load(Relaxed);
        let hi = self.word(slot, 1).load(Relaxed);
        u128::from(lo) | (u128::from(hi) << 64)
    }

    /// Waits while an inserter holds `slot` in CLAIMING; returns the settled header.
    fn settled(&self, slot: u32) -> u64 {
        loop {
            let h = self.header(slot).load(Acquire);
            if header::state(h) != CLAIMING {
                return h;
            }
            spin();
        }
    }

    /// Finds `id` as a writer sees it: `mine(p)` says whether the caller holds partition `p`
    /// (its own uncommitted records are visible to it).
    pub fn probe(&self, id: u128, mine: impl Fn(usize) -> bool) -> Probe {
        let hash = hash_id(id);
        let fp = fingerprint_of(hash);
        let mut slot = (hash as usize & self.mask) as u32;
        for _ in 0..=self.mask {
            let h = self.settled(slot);
            match header::state(h) {
                EMPTY => return Probe::Absent(slot),
                TOMBSTONE => {}
                s if header::fingerprint(h) == fp && self.id_at(slot) == id => {
                    let own = mine(header::partition(h));
                    if h & UNCOMMITTED != 0 && !own {
                        return Probe::Foreign(slot);
                    }
                    return if s == ORPHAN {
                        Probe::Orphan(slot)
                    } else {
                        Probe::Live(slot)
                    };
                }
                _ => {}
            }
            slot = ((slot as usize + 1) & self.mask) as u32;
        }
        // Unreachable with a load factor below 1 (capacity is enforced by the ledger).
        Probe::Absent(u32::MAX)
    }

    /// Finds `id` as a reader sees it: only committed live records. Returns the slot and the
    /// partition of any record carrying the id (committed or not), for consistency checks.
    pub fn find_committed(&self, id: u128) -> (Option<u32>, Option<usize>) {
        let hash = hash_id(id);
        let fp = fingerprint_of(hash);
        let mut slot = (hash as usize & self.mask) as u32;
        for _ in 0..=self.mask {
            let h = self.header(slot).load(Acquire);
            match header::state(h) {
                EMPTY => return (None, None),
                // An inserter is writing this slot's id: if it is ours it is uncommitted, so
                // invisible either way; keep probing.
                CLAIMING | TOMBSTONE => {}
                s if header::fingerprint(h) == fp && self.id_at(slot) == id => {
                    let p = Some(header::partition(h));
                    if s == LIVE && h & UNCOMMITTED == 0 {
                        return (Some(slot), p);
                    }
                    return (None, p);
                }
                _ => {}
            }
            slot = ((slot as usize + 1) & self.mask) as u32;
        }
        (None, None)
    }

    /// Inserts `record` (whose id is `id`) at `at`, the slot a probe reported absent, as
    /// uncommitted `state` (LIVE or ORPHAN) of partition `me`.
    pub fn insert<R: Record>(
        &self,
        at: u32,
        id: u128,
        record: &R,
        state: u64,
        me: usize,
    ) -> Result<(), InsertError> {
        debug_assert!(state == LIVE || state == ORPHAN);
        let fp = fingerprint_of(hash_id(id));
        let claiming = header::make(CLAIMING, me, fp);
        if self
            .header(at)
            .compare_exchange(EMPTY, claiming, Acquire, Relaxed)
            .is_err()
        {
            return Err(InsertError::Raced);
        }
        for (i, w) in to_words(record).iter().enumerate() {
            self.word(at, i).store(*w, Relaxed);
        }
        // Release: the id and record words are visible to whoever sees the new state.
        self.header(at)
            .store(header::make(state, me, fp) | UNCOMMITTED, Release);
        Ok(())
    }

    /// Makes an uncommitted record visible (inside the partition's commit window).
    pub fn commit(&self, slot: u32) {
        let h = self.header(slot).load(Relaxed);
        debug_assert!(h & UNCOMMITTED != 0);
        self.header(slot).store(h & !UNCOMMITTED, Release);
    }

    /// Turns a rolled-back record into a tombstone (it was never visible).
    pub fn tombstone(&self, slot: u32) {
        let h = self.header(slot).load(Relaxed);
        debug_assert!(
            h & UNCOMMITTED != 0,
            "only uncommitted records are rolled back"
        );
        self.header(slot)
            .store(header::with_state(h, TOMBSTONE) & !UNCOMMITTED, Release);
    }

    /// Rewrites the record at `slot` under its sequence lock (single writer: the owner).
    pub fn write<R: Record>(&self, slot: u32, record: &R) {
        let h = self.header(slot).load(Relaxed);
        debug_assert_eq!(h & WRITING, 0, "one writer per record");
        self.header(slot).store(h | WRITING, Relaxed);
        fence(Release);
        for (i, w) in to_words(record).iter().enumerate() {
            self.word(slot, i).store(*w, Relaxed);
        }
        self.header(slot).store(header::bumped(h), Release);
    }

    /// Reads the record at `slot` consistently (retrying while it is being rewritten), with
    /// the header it was read under.
    pub fn read<R: Record + Default>(&self, slot: u32) -> (R, u64) {
        loop {
            let h1 = self.header(slot).load(Acquire);
            if h1 & WRITING != 0 {
                spin();
                continue;
            }
            let mut words = [0u64; 16];
            for (i, w) in words.iter_mut().enumerate() {
                *w = self.word(slot, i).load(Relaxed);
            }
            fence(Acquire);
            let h2 = self.header(slot).load(Relaxed);
            if h1 == h2 {
                return (from_words(&words), h1);
            }
            spin();
        }
    }

    /// The record at `slot` for its owner, who is its only writer (no retry needed).
    pub fn read_owned<R: Record + Default>(&self, slot: u32) -> R {
        let mut words = [0u64; 16];
        for (i, w) in words.iter_mut().enumerate() {
            *w = self.word(slot, i).load(Relaxed);
        }
        from_words(&words)
    }

    /// The header of `slot` (state, partition, flags).
    pub fn header_of(&self, slot: u32) -> u64 {
        self.header(slot).load(Acquire)
    }

    /// Waits until the record at `slot` is no longer uncommitted (committed or rolled back).
    pub fn wait_settled(&self, slot: u32) {
        while self.header(slot).load(Acquire) & UNCOMMITTED != 0 {
            spin();
            #[cfg(not(loom))]
            std::thread::yield_now();
        }
    }

    /// The slots of every committed live record, in slot order (for `verify` and tests).
    pub fn committed_slots(&self) -> Vec<u32> {
        (0..self.slots() as u32)
            .filter(|&s| {
                let h = self.header(s).load(Acquire);
                header::state(h) == LIVE && h & UNCOMMITTED == 0
            })
            .collect()
    }

    /// Every slot's state, for `verify` and tests: (live, orphan, tombstone) counts.
    pub fn census(&self) -> (usize, usize, usize) {
        let (mut live, mut orphan, mut tomb) = (0, 0, 0);
        for s in 0..self.slots() {
            match header::state(self.header(s as u32).load(Acquire)) {
                LIVE => live += 1,
                ORPHAN => orphan += 1,
                TOMBSTONE => tomb += 1,
                _ => {}
            }
        }
        (live, orphan, tomb)
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;
