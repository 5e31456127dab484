//! The transfers table: a fixed-capacity, open-addressing, lock-free hash index from transfer id
//! to the record's slot in the [`RecordLog`], plus the ids of failed transfers ("orphans").
//!
//! An index entry is one 64-bit word:
//!
//! ```text
//! bits 0..2    state: EMPTY, LIVE (a transfer), ORPHAN (a burned id), TOMBSTONE (rolled back)
//! bit  2       UNCOMMITTED (orphans only): written by a batch that has not committed
//! bits 3..11   partition that wrote it
//! bits 11..32  fingerprint: 21 bits of the id's hash, to skip most id comparisons
//! bits 32..64  payload: the record's log slot (LIVE) or the orphan's slot (ORPHAN)
//! ```
//!
//! - **Insert**: the writer claims an EMPTY entry with one compare-and-swap (release), so an id
//!   is inserted at most once even when partitions race: the loser sees the winner's entry. A
//!   burned id is written before its entry is claimed. A transfer's record is written before
//!   the claim, or (the fast path, `Exec::write_deferred_records`) after it and before its
//!   partition commits or reads it. So nobody compares an id through another holder's
//!   uncommitted entry: a writer that meets one with the id's fingerprint waits for it to
//!   settle (it may be the id), and a reader passes over it (uncommitted, it is invisible).
//! - **Commit** of a partition's transfers is one store: its committed log length (release,
//!   inside the partition's commit window). A LIVE entry is committed when its record's
//!   position in its partition's log is below that length, so commit never touches the
//!   batch's index entries again (they are long out of cache by then). Orphans, rare, carry an
//!   UNCOMMITTED bit cleared one by one. **Rollback** turns the entry into a TOMBSTONE, never
//!   reused (capacity accounting counts it), and the log positions are reused.
//! - **Readers** (and writers meeting another partition's entry) acquire an entry, then the
//!   partition's committed length, then read the id the entry points to, then the entry again:
//!   the id read after the length is final (a committed record is never rewritten), and an
//!   entry that was rolled back (its slot possibly rewritten and committed since) shows as
//!   changed, so the probe starts over.

use super::hash_id;
use super::log::RecordLog;
use super::storage::{AtomicArray, BlockArray};
use super::sync::{spin, AtomicU64};
use crate::types::Transfer;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

pub(crate) const EMPTY: u64 = 0;
pub(crate) const LIVE: u64 = 1;
pub(crate) const ORPHAN: u64 = 2;
pub(crate) const TOMBSTONE: u64 = 3;
const STATE_MASK: u64 = 0b11;
pub(crate) const UNCOMMITTED: u64 = 1 << 2;
const PARTITION_SHIFT: u32 = 3;
const PARTITION_BITS: u32 = 8;
const FINGERPRINT_SHIFT: u32 = 11;
const FINGERPRINT_BITS: u32 = 21;
const PAYLOAD_SHIFT: u32 = 32;

/// Most partitions an entry can name.
pub(crate) const MAX_PARTITIONS: usize = 1 << PARTITION_BITS;

#[inline(always)]
pub(crate) fn state(e: u64) -> u64 {
    e & STATE_MASK
}

#[inline(always)]
pub(crate) fn partition(e: u64) -> usize {
    ((e >> PARTITION_SHIFT) & ((1 << PARTITION_BITS) - 1)) as usize
}

#[inline(always)]
fn fingerprint_field(e: u64) -> u64 {
    (e >> FINGERPRINT_SHIFT) & ((1 << FINGERPRINT_BITS) - 1)
}

#[inline(always)]
pub(crate) fn payload(e: u64) -> u32 {
    (e >> PAYLOAD_SHIFT) as u32
}

#[inline(always)]
fn fingerprint_of(hash: u64) -> u64 {
    hash >> (64 - FINGERPRINT_BITS)
}

#[inline(always)]
fn make(state: u64, partition: usize, fingerprint: u64, payload: u32) -> u64 {
    debug_assert!(state <= TOMBSTONE && partition < MAX_PARTITIONS);
    state
        | ((partition as u64) << PARTITION_SHIFT)
        | (fingerprint << FINGERPRINT_SHIFT)
        | (u64::from(payload) << PAYLOAD_SHIFT)
}

/// Where an id stands, as seen by a writer (entry positions are `pos`, log slots `slot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TProbe {
    /// A transfer: committed, or uncommitted but written by a partition the caller holds.
    Live { pos: u32, slot: u32 },
    /// A burned id (committed, or the caller's own).
    Orphan { pos: u32 },
    /// Another holder's uncommitted entry has this id: its batch may still roll back.
    Foreign { pos: u32 },
    /// Absent; the first empty entry of the probe sequence (where an insert would go).
    Absent { pos: u32 },
}

/// The entry was claimed by someone else between the probe and the insert: probe again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raced;

/// A partition's committed log length, on a line of its own.
#[repr(align(128))]
struct Committed(AtomicU64);

pub(crate) struct TransferTable {
    index: BlockArray<1>,
    mask: usize,
    pub log: RecordLog,
    /// Per partition: how many positions of its log are committed.
    committed: Box<[Committed]>,
    /// Burned ids, two words each, handed out by `orphans_used`.
    orphans: AtomicArray,
    orphans_used: AtomicUsize,
}

impl TransferTable {
    /// A table for `capacity` transfers (live, orphaned and rolled back together) written by
    /// up to `partitions` partitions. Index entries: the next power of two of capacity / 0.75.
    pub fn new(
        capacity: usize,
        partitions: usize,
        prefault: bool,
    ) -> Result<TransferTable, String> {
        assert!(partitions <= MAX_PARTITIONS);
        let entries = (capacity.max(1) * 4 / 3 + 1).next_power_of_two().max(8);
        if entries > u32::MAX as usize {
            return Err(format!("transfer capacity {capacity} is too large"));
        }
        Ok(TransferTable {
            index: BlockArray::new(entries, prefault)?,
            mask: entries - 1,
            log: RecordLog::new(capacity, partitions, prefault)?,
            committed: (0..partitions.max(1))
                .map(|_| Committed(AtomicU64::new(0)))
                .collect(),
            // Orphans are rare: their pages are touched only when used.
            orphans: AtomicArray::new(capacity.max(1) * 2, false)?,
            orphans_used: AtomicUsize::new(0),
        })
    }

    pub fn entries(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn entry(&self, pos: u32) -> &AtomicU64 {
        &self.index.block(pos as usize)[0]
    }

    /// The entry at `pos`, acquired.
    #[inline]
    pub fn entry_at(&self, pos: u32) -> u64 {
        self.entry(pos).load(Acquire)
    }

    /// Hints the CPU to fetch the index line of the home entry of an id with `hash`, and the
    /// next line when the home entry is one of its line's last three.
    ///
    /// Why the second: an insert probes from the home entry to the first empty one, about
    /// 3.6 entries on average at the index's highest load (0.6 of 2^24 entries for 10M
    /// transfers), so at a line's end the probe often runs into the next line, a miss the
    /// prefetch did not cover; batches grew slower as the index filled. The entry three on
    /// is in the next line only when the home entry is among its line's last three;
    /// otherwise the hint names the line already on its way (an instruction, no memory
    /// traffic). Paired A/B: +2.6% to +4.5% per batch; five on instead of three: no
    /// difference.
    #[inline(always)]
    pub fn prefetch_hash(&self, hash: u64) {
        self.index.prefetch(hash as usize, 0);
        self.index.prefetch(hash as usize + 3, 0);
    }

    /// The fast path's probe: the empty entry where an id with `hash` would go when no entry
    /// on the way could be it (no fingerprint match), or None (take the general path).
    #[inline(always)]
    pub fn absent_at(&self, hash: u64) -> Option<u32> {
        let fp = fingerprint_of(hash);
        let mut pos = (hash as usize & self.mask) as u32;
        for _ in 0..=self.mask {
            let e = self.entry(pos).load(Acquire);
            if e == EMPTY {
                return Some(pos);
            }
            if state(e) != TOMBSTONE && fingerprint_field(e) == fp {
                return None;
            }
            pos = ((pos as usize + 1) & self.mask) as u32;
        }
        None
    }

    fn orphan_id(&self, o: u32) -> u128 {
        let lo = self.orphans.get(o as usize * 2).load(Relaxed);
        let hi = self.orphans.get(o as usize * 2 + 1).load(Relaxed);
        u128::from(lo) | (u128::from(hi) << 64)
    }

    /// Whether a LIVE entry (acquired) is committed: its record's position is below its
    /// partition's committed length.
    #[inline]
    fn live_committed(&self, e: u64) -> bool {
        let pos = self.log.position(payload(e)) as u64;
        pos < self.committed[partition(e)].0.load(Acquire)
    }

    /// Where `id` stands: `mine(p)` says whether the caller holds partition `p` (a holder sees
    /// its own uncommitted entries; everyone else sees committed ones only). A `writer` is
    /// told of another holder's uncommitted entry that may carry the id (`Foreign`: it must
    /// wait for it to settle); a reader passes over such entries, invisible to it.
    #[inline]
    fn find(&self, id: u128, mine: impl Fn(usize) -> bool, writer: bool) -> TProbe {
        let hash = hash_id(id);
        let fp = fingerprint_of(hash);
        'again: loop {
            let mut pos = (hash as usize & self.mask) as u32;
            for _ in 0..=self.mask {
                let e = self.entry(pos).load(Acquire);
                if e == EMPTY {
                    return TProbe::Absent { pos };
                }
                if state(e) == TOMBSTONE || fingerprint_field(e) != fp {
                    pos = ((pos as usize + 1) & self.mask) as u32;
                    continue;
                }
                let own = mine(partition(e));
                if state(e) == ORPHAN {
                    // A burned id is written before its entry is claimed.
                    if self.orphan_id(payload(e)) == id {
                        if e & UNCOMMITTED != 0 && !own {
                            return TProbe::Foreign { pos };
                        }
                        return TProbe::Orphan { pos };
                    }
                } else if own {
                    // The caller's own records are written before it reads them (see
                    // `Exec::write_deferred_records`).
                    if self.log.id(payload(e)) == id {
                        return TProbe::Live {
                            pos,
                            slot: payload(e),
                        };
                    }
                } else if !self.live_committed(e) {
                    // Another holder's uncommitted transfer: its record may not be written
                    // yet (the fast path writes a batch's records after claiming their
                    // entries), so the id cannot be compared. It may be this id: a writer
                    // waits for it to settle; to a reader it does not exist yet.
                    if writer {
                        return TProbe::Foreign { pos };
                    }
                } else if self.log.id(payload(e)) == id {
                    // The id was read after the committed length was acquired, so it is the
                    // final one if the entry was committed and not rolled back (its slot
                    // reused and committed since): unchanged, it was; a rolled-back entry
                    // shows as a tombstone now.
                    if self.entry(pos).load(Relaxed) != e {
                        continue 'again;
                    }
                    return TProbe::Live {
                        pos,
                        slot: payload(e),
                    };
                }
                pos = ((pos as usize + 1) & self.mask) as u32;
            }
            // Unreachable with a load factor below 1 (capacity is enforced by the ledger).
            return TProbe::Absent { pos: u32::MAX };
        }
    }

    /// Finds `id` as a writer sees it: `mine(p)` says whether the caller holds partition `p`
    /// (its own uncommitted entries are visible to it).
    #[inline]
    pub fn probe(&self, id: u128, mine: impl Fn(usize) -> bool) -> TProbe {
        self.find(id, mine, true)
    }

    /// Finds `id` as a reader sees it: only committed transfers. Returns the log slot, and the
    /// partition of the id's committed entry (a transfer or a burned id), for consistency
    /// checks.
    pub fn find_committed(&self, id: u128) -> (Option<u32>, Option<usize>) {
        match self.find(id, |_| false, false) {
            TProbe::Live { pos, slot } => (Some(slot), Some(partition(self.entry_at(pos)))),
            TProbe::Orphan { pos } | TProbe::Foreign { pos } => {
                (None, Some(partition(self.entry_at(pos))))
            }
            TProbe::Absent { .. } => (None, None),
        }
    }

    /// Whether `id` is a committed burned id, as a reader sees it (passing over other
    /// holders' uncommitted entries, which a writer's probe would report as `Foreign`).
    pub fn is_committed_orphan(&self, id: u128) -> bool {
        matches!(self.find(id, |_| false, false), TProbe::Orphan { .. })
    }

    /// Publishes the transfer already written at log `slot` under entry `pos` (which a probe
    /// reported absent) for partition `me`; it is committed with `me`'s log.
    #[inline]
    pub fn insert(&self, pos: u32, id: u128, slot: u32, me: usize) -> Result<(), Raced> {
        debug_assert_eq!(self.log.id(slot), id);
        self.insert_hashed(pos, id, hash_id(id), slot, me)
    }

    /// [`TransferTable::insert`] for a caller that has the id's hash and may write the record
    /// after the claim: it must then be written before `me` commits (or reads it).
    #[inline(always)]
    pub fn insert_hashed(
        &self,
        pos: u32,
        id: u128,
        hash: u64,
        slot: u32,
        me: usize,
    ) -> Result<(), Raced> {
        debug_assert_eq!(hash, hash_id(id));
        let e = make(LIVE, me, fingerprint_of(hash), slot);
        self.entry(pos)
            .compare_exchange(EMPTY, e, AcqRel, Acquire)
            .map(|_| ())
            .map_err(|_| Raced)
    }

    /// Takes an orphan slot (the ledger's capacity accounting bounds them by the capacity).
    pub fn take_orphan_slot(&self) -> Option<u32> {
        let o = self.orphans_used.fetch_add(1, AcqRel);
        if o * 2 < self.orphans_len() {
            Some(o as u32)
        } else {
            self.orphans_used.fetch_sub(1, AcqRel);
            None
        }
    }

    fn orphans_len(&self) -> usize {
        self.orphans.len()
    }

    /// Burns `id` under entry `pos` (reported absent), using orphan slot `o`.
    pub fn insert_orphan(&self, pos: u32, id: u128, o: u32, me: usize) -> Result<(), Raced> {
        self.orphans.get(o as usize * 2).store(id as u64, Relaxed);
        self.orphans
            .get(o as usize * 2 + 1)
            .store((id >> 64) as u64, Relaxed);
        let e = make(ORPHAN, me, fingerprint_of(hash_id(id)), o) | UNCOMMITTED;
        self.entry(pos)
            .compare_exchange(EMPTY, e, AcqRel, Acquire)
            .map(|_| ())
            .map_err(|_| Raced)
    }

    /// Makes an uncommitted orphan visible (inside its partition's commit window).
    #[inline]
    pub fn commit_orphan(&self, pos: u32) {
        let e = self.entry(pos).load(Relaxed);
        debug_assert!(state(e) == ORPHAN && e & UNCOMMITTED != 0);
        self.entry(pos).store(e & !UNCOMMITTED, Release);
    }

    /// Makes the first `len` positions of `partition`'s log committed (inside its commit
    /// window; the records were published by their entries already).
    #[inline]
    pub fn publish(&self, partition: usize, len: usize) {
        let c = &self.committed[partition].0;
        debug_assert!(
            len as u64 >= c.load(Relaxed),
            "a committed transfer never goes"
        );
        c.store(len as u64, Release);
    }

    /// Turns a rolled-back entry into a tombstone (it was never visible).
    pub fn tombstone(&self, pos: u32) {
        let e = self.entry(pos).load(Relaxed);
        debug_assert!(
            (state(e) == LIVE && !self.live_committed(e)) || e & UNCOMMITTED != 0,
            "only uncommitted entries are rolled back"
        );
        self.entry(pos)
            .store((e & !(STATE_MASK | UNCOMMITTED)) | TOMBSTONE, Release);
    }

    /// Whether the entry at `pos` is settled: committed or rolled back.
    pub fn settled(&self, pos: u32) -> bool {
        let e = self.entry(pos).load(Acquire);
        match state(e) {
            LIVE => self.live_committed(e),
            ORPHAN => e & UNCOMMITTED == 0,
            _ => true,
        }
    }

    /// Waits until the entry at `pos` is settled.
    pub fn wait_settled(&self, pos: u32) {
        while !self.settled(pos) {
            spin();
            #[cfg(not(loom))]
            std::thread::yield_now();
        }
    }

    /// The transfer at a log slot.
    #[inline]
    pub fn read(&self, slot: u32) -> Transfer {
        self.log.read(slot)
    }

    /// The log slots of every committed transfer, in index order (for `verify` and tests).
    pub fn committed_slots(&self) -> Vec<u32> {
        (0..self.entries() as u32)
            .filter_map(|pos| {
                let e = self.entry(pos).load(Acquire);
                (state(e) == LIVE && self.live_committed(e)).then(|| payload(e))
            })
            .collect()
    }

    /// The ids of committed orphan entries, sorted (for tests and tools).
    pub fn committed_orphan_ids(&self) -> Vec<u128> {
        let mut ids: Vec<u128> = (0..self.entries() as u32)
            .filter_map(|pos| {
                let e = self.entry(pos).load(Acquire);
                (state(e) == ORPHAN && e & UNCOMMITTED == 0).then(|| self.orphan_id(payload(e)))
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// (live, orphan, tombstone) entry counts, for `verify` and tests.
    pub fn census(&self) -> (usize, usize, usize) {
        let (mut live, mut orphan, mut tomb) = (0, 0, 0);
        for pos in 0..self.entries() as u32 {
            let e = self.entry(pos).load(Acquire);
            if e == EMPTY {
                continue;
            }
            match state(e) {
                LIVE => live += 1,
                ORPHAN => orphan += 1,
                _ => tomb += 1,
            }
        }
        (live, orphan, tomb)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::table::log::PartitionLog;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    fn transfer(id: u128, v: u128) -> Transfer {
        // Every amount-like field equals `v`: a reader seeing mixed values saw a torn record.
        Transfer {
            id,
            debit_account_id: v,
            credit_account_id: v,
            amount: v,
            user_data_128: v,
            ledger: 1,
            code: 1,
            timestamp: v as u64,
            ..Transfer::default()
        }
    }

    /// The empty index position where a holder of `partition` would insert `id`; panics when
    /// the probe finds anything else (test set-up: the id must be new).
    fn absent_pos(t: &TransferTable, id: u128, partition: usize) -> u32 {
        match t.probe(id, |p| p == partition) {
            TProbe::Absent { pos } => pos,
            other => panic!("id {id} is not new: {other:?}"),
        }
    }

    /// Writes `r` at the partition's next log slot (the insert publishes it).
    fn append(t: &TransferTable, part: &mut PartitionLog, r: &Transfer) -> u32 {
        let slot = part.next_slot(&t.log).unwrap();
        t.log.write(slot, r);
        part.push();
        slot
    }

    /// Inserts transfer `id` at index position `pos` of partition 0, then commits it when `id`
    /// is odd and rolls it back (entry tombstoned, log slot given back) when it is even.
    fn insert_committing_odd_ids(t: &TransferTable, part: &mut PartitionLog, pos: u32, id: u128) {
        let slot = append(t, part, &transfer(id, id));
        t.insert(pos, id, slot, 0).unwrap();
        if id % 2 == 0 {
            t.tombstone(pos);
            part.truncate(part.len() - 1);
        } else {
            t.publish(0, part.len());
        }
    }

    #[test]
    fn insert_probe_commit_tombstone() {
        let t = TransferTable::new(100, 2, false).unwrap();
        let mut part = PartitionLog::new(0);
        let pos = absent_pos(&t, 42, 0);
        let slot = append(&t, &mut part, &transfer(42, 1));
        t.insert(pos, 42, slot, 0).unwrap();
        assert_eq!(
            t.probe(42, |p| p == 0),
            TProbe::Live { pos, slot },
            "own uncommitted transfer is visible to its partition"
        );
        assert_eq!(
            t.probe(42, |p| p == 1),
            TProbe::Foreign { pos },
            "but not settled for another partition"
        );
        assert_eq!(t.find_committed(42), (None, None), "readers pass over it");
        assert!(!t.settled(pos));
        t.publish(0, part.len());
        assert!(t.settled(pos));
        assert_eq!(t.probe(42, |p| p == 1), TProbe::Live { pos, slot });
        assert_eq!(t.find_committed(42), (Some(slot), Some(0)));
        assert_eq!(t.read(slot), transfer(42, 1));

        let pos2 = absent_pos(&t, 43, 0);
        let slot2 = append(&t, &mut part, &transfer(43, 2));
        t.insert(pos2, 43, slot2, 0).unwrap();
        t.tombstone(pos2);
        assert!(t.settled(pos2), "a tombstone is settled");
        part.truncate(1);
        assert!(
            matches!(t.probe(43, |p| p == 0), TProbe::Absent { pos } if pos != pos2),
            "tombstones are never reused"
        );
        assert_eq!(t.find_committed(43), (None, None));
        // The rolled-back slot is reused by the next record, and the tombstone stays dead
        // even though its slot now holds another transfer.
        assert_eq!(append(&t, &mut part, &transfer(44, 3)), slot2);
        t.publish(0, part.len());
        assert_eq!(t.find_committed(44), (None, None), "44 was never indexed");
        assert_eq!(t.find_committed(43), (None, None), "nor is 43 back");
        assert_eq!(t.census(), (1, 0, 1));
    }

    #[test]
    fn an_entry_claimed_before_its_record_is_written_is_foreign_to_writers_and_unseen_by_readers() {
        let t = TransferTable::new(100, 2, false).unwrap();
        let mut part = PartitionLog::new(0);
        let pos = absent_pos(&t, 42, 0);
        // The fast path's order: claim the entry, write the record later (the slot still
        // reads as zeros, a record of id 0).
        let slot = part.next_slot(&t.log).unwrap();
        t.insert_hashed(pos, 42, hash_id(42), slot, 0).unwrap();
        part.push();
        assert_eq!(t.log.id(slot), 0, "not written yet");
        assert_eq!(
            t.probe(42, |p| p == 1),
            TProbe::Foreign { pos },
            "another writer waits for it (the id cannot be compared yet)"
        );
        assert_eq!(
            t.find_committed(42),
            (None, None),
            "a reader passes over it"
        );
        t.log.write(slot, &transfer(42, 5));
        t.publish(0, part.len());
        assert_eq!(t.probe(42, |p| p == 1), TProbe::Live { pos, slot });
        assert_eq!(t.find_committed(42), (Some(slot), Some(0)));
        assert_eq!(t.read(slot), transfer(42, 5));
    }

    #[test]
    fn an_uncommitted_entry_with_an_ids_fingerprint_does_not_hide_it_from_readers() {
        let t = TransferTable::new(100, 2, false).unwrap();
        let (mut p0, mut p1) = (PartitionLog::new(0), PartitionLog::new(1));
        let hash = hash_id(42);
        let home = (hash as usize & t.mask) as u32;
        // Partition 1 has claimed id 42's home entry for another id whose fingerprint is
        // 42's, in a log slot that still holds a rolled-back transfer 42 (the new record is
        // not written yet); partition 0 then created and committed 42.
        let other = p1.next_slot(&t.log).unwrap();
        t.log.write(other, &transfer(42, 9));
        t.entry(home)
            .store(make(LIVE, 1, fingerprint_of(hash), other), Release);
        p1.push();
        let slot = append(&t, &mut p0, &transfer(42, 3));
        let next = ((home as usize + 1) & t.mask) as u32;
        t.insert(next, 42, slot, 0).unwrap();
        t.publish(0, p0.len());
        assert_eq!(t.find_committed(42), (Some(slot), Some(0)));
        assert_eq!(
            t.probe(42, |p| p == 0),
            TProbe::Foreign { pos: home },
            "a writer cannot tell the entry is not 42's: it waits for it"
        );
        t.log.write(other, &transfer(7, 1));
        t.publish(1, p1.len());
        assert_eq!(t.probe(42, |p| p == 1), TProbe::Live { pos: next, slot });
    }

    #[test]
    fn an_uncommitted_entry_with_an_ids_fingerprint_does_not_hide_its_burned_id_from_readers() {
        let t = TransferTable::new(100, 2, false).unwrap();
        let mut p1 = PartitionLog::new(1);
        let hash = hash_id(42);
        let home = (hash as usize & t.mask) as u32;
        let next = ((home as usize + 1) & t.mask) as u32;
        // Partition 1's uncommitted transfer (another id, 42's fingerprint, record not written)
        // at 42's home; 42 burned and committed by partition 0 just after it.
        let other = p1.next_slot(&t.log).unwrap();
        t.entry(home)
            .store(make(LIVE, 1, fingerprint_of(hash), other), Release);
        p1.push();
        let o = t.take_orphan_slot().unwrap();
        t.insert_orphan(next, 42, o, 0).unwrap();
        t.commit_orphan(next);
        assert!(
            t.is_committed_orphan(42),
            "a reader passes over the uncommitted entry"
        );
        assert_eq!(t.probe(42, |p| p == 0), TProbe::Foreign { pos: home });
    }

    #[test]
    fn orphans_are_found_and_insert_races_are_reported() {
        let t = TransferTable::new(16, 4, false).unwrap();
        let pos = absent_pos(&t, 9, 3);
        let o = t.take_orphan_slot().unwrap();
        t.insert_orphan(pos, 9, o, 3).unwrap();
        assert_eq!(t.probe(9, |p| p == 3), TProbe::Orphan { pos });
        assert_eq!(t.probe(9, |p| p == 0), TProbe::Foreign { pos });
        t.commit_orphan(pos);
        assert_eq!(t.probe(9, |p| p == 0), TProbe::Orphan { pos });
        assert_eq!(
            t.find_committed(9),
            (None, Some(3)),
            "orphans are not transfers"
        );
        let o2 = t.take_orphan_slot().unwrap();
        assert_eq!(t.insert_orphan(pos, 10, o2, 0), Err(Raced));
        assert_eq!(t.census(), (0, 1, 0));
    }

    #[test]
    fn orphan_slots_are_bounded_by_the_capacity() {
        let t = TransferTable::new(3, 1, false).unwrap();
        for _ in 0..3 {
            assert!(t.take_orphan_slot().is_some());
        }
        assert_eq!(t.take_orphan_slot(), None);
    }

    #[test]
    fn colliding_ids_probe_past_each_other() {
        // A tiny index forces long probe chains through every state.
        let t = TransferTable::new(5, 1, false).unwrap();
        let mut part = PartitionLog::new(0);
        for id in 1..=6u128 {
            let pos = absent_pos(&t, id, 0);
            insert_committing_odd_ids(&t, &mut part, pos, id);
        }
        for id in 1..=6u128 {
            assert_eq!(t.find_committed(id).0.is_some(), id % 2 == 1, "{id}");
        }
    }

    #[test]
    fn concurrent_inserts_of_the_same_ids_have_one_winner_each() {
        let t = Arc::new(TransferTable::new(20_000, 2, false).unwrap());
        let wins = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|p| {
                let (t, wins) = (t.clone(), wins.clone());
                std::thread::spawn(move || {
                    let mut part = PartitionLog::new(p);
                    for id in 1..=10_000u128 {
                        loop {
                            match t.probe(id, |q| q == p) {
                                TProbe::Absent { pos } => {
                                    let slot = append(&t, &mut part, &transfer(id, id));
                                    if t.insert(pos, id, slot, p).is_ok() {
                                        wins.fetch_add(1, Ordering::Relaxed);
                                        t.publish(p, part.len());
                                        break;
                                    }
                                    part.truncate(part.len() - 1);
                                }
                                TProbe::Foreign { pos } => t.wait_settled(pos),
                                _ => break,
                            }
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(wins.load(Ordering::Relaxed), 10_000);
        assert_eq!(t.census().0, 10_000, "no id was inserted twice");
        for id in 1..=10_000u128 {
            let (Some(slot), _) = t.find_committed(id) else {
                panic!("{id} lost")
            };
            assert_eq!(t.read(slot), transfer(id, id));
        }
    }

    #[test]
    fn readers_see_committed_transfers_whole_while_slots_are_recycled() {
        // One writer inserts transfers, rolling every second one back and reusing its slot;
        // readers look ids up all the while and must only ever see whole committed records.
        let t = Arc::new(TransferTable::new(300_000, 1, false).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (t, stop, seen) = (t.clone(), stop.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut id = 1u128 + r;
                    while !stop.load(Ordering::Relaxed) {
                        if let (Some(slot), _) = t.find_committed(id) {
                            let got = t.read(slot);
                            assert_eq!(got, transfer(id, id), "torn or wrong record");
                            assert_eq!(id % 2, 1, "a rolled-back transfer was seen");
                            seen.fetch_add(1, Ordering::Relaxed);
                        }
                        id = if id > 200_000 { 1 + r } else { id + 2 };
                    }
                })
            })
            .collect();
        let mut part = PartitionLog::new(0);
        let mut id = 0u128;
        while id < 200_000 || seen.load(Ordering::Relaxed) < 10_000 {
            id += 1;
            if id > 250_000 {
                break;
            }
            let pos = absent_pos(&t, id, 0);
            insert_committing_odd_ids(&t, &mut part, pos, id);
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert!(
            seen.load(Ordering::Relaxed) >= 10_000,
            "readers read while writes went on"
        );
    }
}
