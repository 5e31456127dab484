//! The ledger's lock-free tables.
//!
//! - [`RecordTable`] (this module): a fixed-capacity, open-addressing, lock-free hash table of
//!   128-byte records keyed by u128 id, rewritten in place: the accounts.
//! - [`transfers::TransferTable`]: the same kind of hash index, with 8-byte entries that point
//!   into the append-only [`log::RecordLog`] of 128-byte transfer records (transfers never
//!   change once written), plus the ids of failed transfers.
//! - [`account_meta::AccountMeta`]: owner-side words per account slot.
//! - [`lists::ListArena`]: the blocks of the accounts' transfer lists.
//!
//! The rest of this page is about [`RecordTable`].
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

pub mod account_meta;
pub mod header;
pub mod lists;
pub mod log;
pub(crate) mod storage;
pub(crate) mod sync;
pub mod transfers;

use crate::types::{from_words, to_words, Account, Record};
use header::{CLAIMING, EMPTY, LIVE, ORPHAN, STATE_MASK, TOMBSTONE, UNCOMMITTED, WRITING};
use std::mem::offset_of;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use storage::BlockArray;
use sync::{fence, spin, AtomicU64};

/// The record words holding an account's four balances (debits_pending .. credits_posted).
const ACCOUNT_BALANCE_WORDS: std::ops::Range<usize> =
    offset_of!(Account, debits_pending) / 8..(offset_of!(Account, credits_posted) + 16) / 8;
/// The record word holding an account's ledger (low 32 bits), code (next 16) and flags (top 16).
const ACCOUNT_FLAGS_WORD: usize = offset_of!(Account, flags) / 8;
const _: () = assert!(
    offset_of!(Account, ledger) == ACCOUNT_FLAGS_WORD * 8
        && offset_of!(Account, code) == ACCOUNT_FLAGS_WORD * 8 + 4
        && offset_of!(Account, flags) == ACCOUNT_FLAGS_WORD * 8 + 6
        && ACCOUNT_BALANCE_WORDS.start == 2
        && ACCOUNT_BALANCE_WORDS.end == 10
);

/// The fields of an account that executing transfers read and change: its balances and the
/// record word with its ledger, code and flags (closing transfers set and clear CLOSED). The
/// rest of a record (id, user data, timestamp) never changes once it is created, so a batch
/// works on this much (9 of the record's 16 words) and writes back only it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AccountState {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub ledger: u32,
    pub code: u16,
    pub flags: u16,
}

impl AccountState {
    /// The state part of a whole account.
    pub fn of(a: &Account) -> AccountState {
        AccountState {
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
            ledger: a.ledger,
            code: a.code,
            flags: a.flags,
        }
    }

    /// `a` with this state in place of its own.
    pub fn applied_to(&self, a: Account) -> Account {
        Account {
            debits_pending: self.debits_pending,
            debits_posted: self.debits_posted,
            credits_pending: self.credits_pending,
            credits_posted: self.credits_posted,
            ledger: self.ledger,
            code: self.code,
            flags: self.flags,
            ..a
        }
    }

    #[inline(always)]
    fn flags_word(&self) -> u64 {
        u64::from(self.ledger) | u64::from(self.code) << 32 | u64::from(self.flags) << 48
    }
}

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
    headers: BlockArray<1>,
    words: BlockArray<16>,
    mask: usize,
}

/// A mixer for u128 ids (ids are often sequential): splitmix-style finalizer of both halves.
/// (A cheaper two-multiply mixer saved 8 instructions a transfer but clustered ids that
/// differ only in their top bits: the spread test in `tests.rs` keeps that from coming back.)
#[inline(always)]
pub(crate) fn hash_id(id: u128) -> u64 {
    let mut x = (id as u64) ^ ((id >> 64) as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[inline(always)]
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
            headers: BlockArray::new(slots, prefault)?,
            words: BlockArray::new(slots, prefault)?,
            mask: slots - 1,
        })
    }

    pub fn slots(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn header(&self, slot: u32) -> &AtomicU64 {
        &self.headers.block(slot as usize)[0]
    }

    /// The 16 words of the record at `slot`.
    #[inline(always)]
    fn record(&self, slot: u32) -> &[AtomicU64; 16] {
        self.words.block(slot as usize)
    }

    /// Hints the CPU to fetch both lines of the record at `slot`.
    #[inline(always)]
    pub fn prefetch_record(&self, slot: u32) {
        self.words.prefetch(slot as usize, 0);
        self.words.prefetch(slot as usize, 8);
    }

    /// Hints the CPU to fetch, for writing, the lines a balance write-back stores to: the
    /// record's two and its header's.
    #[inline(always)]
    pub fn prefetch_record_for_write(&self, slot: u32) {
        self.headers.prefetch_for_write(slot as usize, 0);
        self.words.prefetch_for_write(slot as usize, 0);
        self.words.prefetch_for_write(slot as usize, 8);
    }

    /// The id of the record at `slot` (its owner's view, or any record's settled id).
    #[inline(always)]
    pub fn id_at(&self, slot: u32) -> u128 {
        let r = self.record(slot);
        u128::from(r[0].load(Relaxed)) | (u128::from(r[1].load(Relaxed)) << 64)
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

    /// Hints the CPU to fetch the header and record of the home slot of an id with `hash`;
    /// returns that slot.
    #[inline(always)]
    pub fn prefetch_hash(&self, hash: u64) -> u32 {
        let slot = hash as usize & self.mask;
        self.headers.prefetch(slot, 0);
        self.prefetch_record(slot as u32);
        slot as u32
    }

    /// The fast path's probe: the slot of the committed live record with `id` (whose hash is
    /// `hash`) and its header, or None when the id is absent or anything is unusual (an
    /// insert in progress, an uncommitted or orphan record): the caller then takes the
    /// general path.
    ///
    /// The home slot and the next one are looked at without a branch on which holds the id
    /// (a record is in its home slot about two times in three, at random: a loop exit there
    /// mispredicts a third of the time); the loop handles the rest.
    #[inline(always)]
    pub fn find_live(&self, id: u128, hash: u64) -> Option<(u32, u64)> {
        const KEY: u64 = STATE_MASK | UNCOMMITTED | header::FINGERPRINT_MASK;
        let want = LIVE | header::fingerprint_bits(fingerprint_of(hash));
        let home = (hash as usize & self.mask) as u32;
        let next = ((home as usize + 1) & self.mask) as u32;
        let (h0, h1) = (
            self.header(home).load(Acquire),
            self.header(next).load(Acquire),
        );
        let at_home = h0 & KEY == want;
        // The next slot counts only if the probe gets past home: not EMPTY or CLAIMING there.
        let at_next = h1 & KEY == want && header::state(h0) > CLAIMING;
        let (slot, h) = if at_home { (home, h0) } else { (next, h1) };
        if (at_home || at_next) && self.id_at(slot) == id {
            return Some((slot, h));
        }
        self.find_live_probing(id, hash)
    }

    /// [`Self::find_live`]'s loop over the whole probe sequence.
    #[inline(never)]
    fn find_live_probing(&self, id: u128, hash: u64) -> Option<(u32, u64)> {
        let fp = fingerprint_of(hash);
        let mut slot = (hash as usize & self.mask) as u32;
        for _ in 0..=self.mask {
            let h = self.header(slot).load(Acquire);
            match header::state(h) {
                EMPTY | CLAIMING => return None,
                TOMBSTONE => {}
                s if header::fingerprint(h) == fp && self.id_at(slot) == id => {
                    return (s == LIVE && h & UNCOMMITTED == 0).then_some((slot, h));
                }
                _ => {}
            }
            slot = ((slot as usize + 1) & self.mask) as u32;
        }
        None
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
        store16(self.record(at), &to_words(record));
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

    /// Rewrites the whole record at `slot` under its sequence lock (single writer: the
    /// owner). Tests only: the ledger rewrites accounts with [`Self::write_account_state`].
    #[cfg(test)]
    pub fn write<R: Record>(&self, slot: u32, record: &R) {
        let h = self.header(slot).load(Relaxed);
        debug_assert_eq!(h & WRITING, 0, "one writer per record");
        self.header(slot).store(h | WRITING, Relaxed);
        fence(Release);
        store16(self.record(slot), &to_words(record));
        self.header(slot).store(header::bumped(h), Release);
    }

    /// Rewrites, under the record's sequence lock, the words of the account at `slot` that
    /// executing transfers change ([`AccountState`]): 9 of a whole record's 16 word stores.
    #[inline(always)]
    pub fn write_account_state(&self, slot: u32, state: &AccountState) {
        let r = self.record(slot);
        let h = self.header(slot).load(Relaxed);
        debug_assert_eq!(h & WRITING, 0, "one writer per record");
        self.header(slot).store(h | WRITING, Relaxed);
        fence(Release);
        let balances = [
            state.debits_pending,
            state.debits_posted,
            state.credits_pending,
            state.credits_posted,
        ];
        for (i, b) in balances.into_iter().enumerate() {
            r[ACCOUNT_BALANCE_WORDS.start + 2 * i].store(b as u64, Relaxed);
            r[ACCOUNT_BALANCE_WORDS.start + 2 * i + 1].store((b >> 64) as u64, Relaxed);
        }
        r[ACCOUNT_FLAGS_WORD].store(state.flags_word(), Relaxed);
        self.header(slot).store(header::bumped(h), Release);
    }

    /// The state of the account at `slot` for its owner, who is its only writer (no retry
    /// needed): 9 word loads.
    #[inline(always)]
    pub fn read_account_state(&self, slot: u32) -> AccountState {
        let r = self.record(slot);
        let word = |i: usize| r[i].load(Relaxed);
        let balance = |i: usize| {
            u128::from(word(ACCOUNT_BALANCE_WORDS.start + 2 * i))
                | u128::from(word(ACCOUNT_BALANCE_WORDS.start + 2 * i + 1)) << 64
        };
        let f = word(ACCOUNT_FLAGS_WORD);
        AccountState {
            debits_pending: balance(0),
            debits_posted: balance(1),
            credits_pending: balance(2),
            credits_posted: balance(3),
            ledger: f as u32,
            code: (f >> 32) as u16,
            flags: (f >> 48) as u16,
        }
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
            let words = load16(self.record(slot));
            fence(Acquire);
            let h2 = self.header(slot).load(Relaxed);
            if h1 == h2 {
                return (from_words(&words), h1);
            }
            spin();
        }
    }

    /// The record at `slot` for its owner, who is its only writer (no retry needed).
    #[inline(always)]
    pub fn read_owned<R: Record + Default>(&self, slot: u32) -> R {
        from_words(&load16(self.record(slot)))
    }

    /// The header of `slot` (state, partition, flags).
    #[inline(always)]
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

/// Loads a record's words (relaxed: the caller orders them with its own protocol).
#[inline(always)]
pub(crate) fn load16(r: &[AtomicU64; 16]) -> [u64; 16] {
    std::array::from_fn(|i| r[i].load(Relaxed))
}

/// Stores a record's words (relaxed: the caller publishes them with its own protocol).
#[inline(always)]
pub(crate) fn store16(r: &[AtomicU64; 16], words: &[u64; 16]) {
    for (a, w) in r.iter().zip(words) {
        a.store(*w, Relaxed);
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;
