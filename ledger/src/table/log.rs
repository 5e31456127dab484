//! The transfer log: a fixed-capacity array of 128-byte records handed out in chunks, each chunk
//! to one partition, which fills it in timestamp order.
//!
//! Why a log and not records in hash slots: a transfer is written once and never changed (the
//! state of a pending transfer lives in its partition). Appending it streams the record into
//! the next slot of the partition's chunk (lines the prefetcher and the write-combining buffers
//! handle well), and only a compact 8-byte index entry (see [`super::transfers`]) goes to a
//! random place; a record in a hash slot costs two random lines per insert. Measured, that
//! halves the memory cost of an insert (docs/BENCHMARKS.md).
//!
//! Records are read and written as atomic words so a reader racing a writer never causes a
//! data race in Rust's memory model. A record is complete before its partition's committed
//! length (released at commit) covers it, so a reader that acquires that length sees the whole
//! record; the index entry pointing to it may be visible earlier, which is why nobody reads a
//! record through another partition's uncommitted entry (see [`super::transfers`]). A
//! record's slot is rewritten only when the batch that wrote it rolls it back (before anyone
//! could see it committed).

use super::storage::AtomicArray;
use super::sync::AtomicU64;
use super::{load16, store16};
use crate::types::{from_words, to_words, Transfer};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

/// Records per chunk (512 KiB): small enough that a partition's unfilled last chunk wastes
/// little, large enough that chunk hand-outs are rare.
#[cfg(not(loom))]
pub(crate) const CHUNK: usize = 4096;
/// Model checking wants tiny tables (every atomic is a model object).
#[cfg(loom)]
pub(crate) const CHUNK: usize = 2;

const WORDS: usize = 16;

pub(crate) struct RecordLog {
    words: AtomicArray,
    /// Per chunk: the partition that took it (high half) and its place among that
    /// partition's chunks (low half), so a slot maps back to a position in its partition.
    owners: AtomicArray,
    chunks: usize,
    next_chunk: AtomicUsize,
}

impl RecordLog {
    /// A log that can hold `capacity` records however they are spread over `partitions`
    /// partitions (each partition may leave one chunk partly filled).
    pub fn new(capacity: usize, partitions: usize, prefault: bool) -> Result<RecordLog, String> {
        let chunks = capacity.div_ceil(CHUNK) + partitions.max(1);
        let slots = chunks
            .checked_mul(CHUNK)
            .filter(|&s| s <= u32::MAX as usize)
            .ok_or_else(|| format!("transfer capacity {capacity} is too large"))?;
        Ok(RecordLog {
            words: AtomicArray::new(slots * WORDS, prefault)?,
            owners: AtomicArray::new(chunks, prefault)?,
            chunks,
            next_chunk: AtomicUsize::new(0),
        })
    }

    /// Hands a fresh chunk to `partition` as its `seq`-th; `None` when every chunk is taken
    /// (the ledger's capacity accounting makes that unreachable).
    pub fn take_chunk(&self, partition: usize, seq: usize) -> Option<u32> {
        let c = self.next_chunk.fetch_add(1, AcqRel);
        if c < self.chunks {
            // Relaxed: the chunk's records are published later by index entries (release).
            self.owners
                .get(c)
                .store(((partition as u64) << 32) | seq as u64, Relaxed);
            Some(c as u32)
        } else {
            self.next_chunk.fetch_sub(1, AcqRel);
            None
        }
    }

    /// The position of `slot` in the log of the partition that took its chunk (the caller has
    /// acquired an index entry pointing to the slot, so the chunk's owner is visible).
    #[inline]
    pub fn position(&self, slot: u32) -> usize {
        let seq = self.owners.get(slot as usize / CHUNK).load(Relaxed) as u32;
        seq as usize * CHUNK + slot as usize % CHUNK
    }

    #[inline(always)]
    fn record(&self, slot: u32) -> &[AtomicU64; WORDS] {
        self.words.block16(slot as usize * WORDS)
    }

    /// Writes a record into a slot its partition owns and nobody can see yet.
    #[inline]
    pub fn write(&self, slot: u32, t: &Transfer) {
        store16(self.record(slot), &to_words(t));
    }

    /// Writes `t` as created at `timestamp` (the one field a plain transfer's record changes).
    ///
    /// On x86-64 the first 112 bytes go as seven 16-byte moves instead of fourteen 8-byte
    /// stores (paired A/B: +5-6% per batch when the host's memory is not contended, no
    /// change when it is; docs/BENCHMARKS.md).
    #[inline(always)]
    pub fn write_created(&self, slot: u32, t: &Transfer, timestamp: u64) {
        let words: &[u64; WORDS] = zerocopy::transmute_ref!(t);
        let r = self.record(slot);
        #[cfg(all(not(loom), target_arch = "x86_64"))]
        {
            const _: () = assert!(std::mem::align_of::<Transfer>() >= 16);
            // SAFETY: `words` is the 128-byte `t`, 16-byte aligned (asserted above); `r` is a
            // record's 16 words in the log's mapping, 128-byte aligned (the mapping is page
            // aligned and records are 128 bytes). The block reads words 0..14 of `t` and writes
            // words 0..14 of `r`, nothing else. Each aligned 16-byte store writes both of its
            // 8-byte halves single-copy atomically on x86-64 (as two relaxed `AtomicU64`
            // stores would; the record is published later by a release store, as with those),
            // so a reader's atomic loads of the words never race a non-atomic write.
            unsafe {
                std::arch::asm!(
                    "movaps {x}, [{src}]",
                    "movaps [{dst}], {x}",
                    "movaps {x}, [{src} + 16]",
                    "movaps [{dst} + 16], {x}",
                    "movaps {x}, [{src} + 32]",
                    "movaps [{dst} + 32], {x}",
                    "movaps {x}, [{src} + 48]",
                    "movaps [{dst} + 48], {x}",
                    "movaps {x}, [{src} + 64]",
                    "movaps [{dst} + 64], {x}",
                    "movaps {x}, [{src} + 80]",
                    "movaps [{dst} + 80], {x}",
                    "movaps {x}, [{src} + 96]",
                    "movaps [{dst} + 96], {x}",
                    src = in(reg) words.as_ptr(),
                    dst = in(reg) r.as_ptr(),
                    x = out(xmm_reg) _,
                    options(nostack, preserves_flags)
                );
            }
            r[WORDS - 2].store(words[WORDS - 2], Relaxed);
        }
        #[cfg(any(loom, not(target_arch = "x86_64")))]
        for i in 0..WORDS - 1 {
            r[i].store(words[i], Relaxed);
        }
        r[WORDS - 1].store(timestamp, Relaxed);
    }

    /// Reads a record. The caller has acquired the index entry that points to it (or holds
    /// the partition that wrote it), so the words are those of the committed record.
    #[inline]
    pub fn read(&self, slot: u32) -> Transfer {
        from_words(&load16(self.record(slot)))
    }

    /// The id of the record at `slot` (words 0 and 1).
    #[inline(always)]
    pub fn id(&self, slot: u32) -> u128 {
        let r = self.record(slot);
        u128::from(r[0].load(Relaxed)) | (u128::from(r[1].load(Relaxed)) << 64)
    }

    /// The timestamp of the record at `slot` (word 15).
    #[inline(always)]
    pub fn timestamp(&self, slot: u32) -> u64 {
        self.record(slot)[15].load(Relaxed)
    }
}

/// A partition's part of the log: its chunks in order, and how many records it holds. Position
/// `i` is the partition's `i`-th transfer, so positions are in timestamp order.
pub(crate) struct PartitionLog {
    partition: usize,
    chunks: Vec<u32>,
    len: usize,
    /// The slot of position `len` while it is in a chunk already taken (`next < chunk_end`),
    /// so the fast path's append computes nothing; `next == chunk_end` when a chunk is due.
    next: u32,
    chunk_end: u32,
}

impl PartitionLog {
    pub fn new(partition: usize) -> PartitionLog {
        PartitionLog {
            partition,
            chunks: Vec::new(),
            len: 0,
            next: 0,
            chunk_end: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The log slot of position `pos` (< len).
    #[inline(always)]
    pub fn slot(&self, pos: usize) -> u32 {
        debug_assert!(pos < self.chunks.len() * CHUNK);
        (self.chunks[pos / CHUNK] as usize * CHUNK + pos % CHUNK) as u32
    }

    /// The slot the next append will use, taking a chunk when the current one is full.
    #[inline(always)]
    pub fn next_slot(&mut self, log: &RecordLog) -> Option<u32> {
        if self.next == self.chunk_end {
            self.take_chunk(log)?;
        }
        debug_assert_eq!(self.next, self.slot(self.len));
        Some(self.next)
    }

    #[inline(never)]
    fn take_chunk(&mut self, log: &RecordLog) -> Option<()> {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks
                .push(log.take_chunk(self.partition, self.chunks.len())?);
        }
        self.seek();
        Some(())
    }

    /// Points `next` at the slot of position `len` (in a chunk taken already).
    fn seek(&mut self) {
        let chunk = self.chunks[self.len / CHUNK] as usize;
        self.next = (chunk * CHUNK + self.len % CHUNK) as u32;
        self.chunk_end = ((chunk + 1) * CHUNK) as u32;
    }

    /// Appends the record just written at [`PartitionLog::next_slot`].
    #[inline(always)]
    pub fn push(&mut self) {
        debug_assert!(self.len < self.chunks.len() * CHUNK && self.next < self.chunk_end);
        self.len += 1;
        self.next += 1;
    }

    /// Drops the records from position `len` on (a rolled-back chain or attempt); their slots
    /// are reused by the next appends.
    pub fn truncate(&mut self, len: usize) {
        debug_assert!(len <= self.len);
        self.len = len;
        if len < self.chunks.len() * CHUNK {
            self.seek();
        } else {
            // Every chunk taken is full: the next append takes one.
            self.next = 0;
            self.chunk_end = 0;
        }
    }
}

/// The first index in `0..len` for which `pred` is false (`pred` is true then false).
pub(crate) fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn t(id: u128, timestamp: u64) -> Transfer {
        Transfer {
            id,
            amount: id * 3,
            timestamp,
            ..Transfer::default()
        }
    }

    #[test]
    fn partitions_fill_their_own_chunks_in_order() {
        let log = RecordLog::new(3 * CHUNK, 2, false).unwrap();
        let (mut a, mut b) = (PartitionLog::new(0), PartitionLog::new(1));
        for i in 0..(CHUNK + 10) as u128 {
            let s = a.next_slot(&log).unwrap();
            log.write(s, &t(i + 1, 100 + i as u64 * 2));
            a.push();
            if i < 5 {
                let s = b.next_slot(&log).unwrap();
                log.write(s, &t(1_000_000 + i, 101 + i as u64 * 2));
                b.push();
            }
        }
        assert_eq!((a.len(), b.len()), (CHUNK + 10, 5));
        assert_eq!(
            a.chunks,
            vec![0, 2],
            "a took a second chunk after b took one"
        );
        assert_eq!(
            log.read(a.slot(CHUNK + 3)),
            t(CHUNK as u128 + 4, 100 + (CHUNK as u64 + 3) * 2)
        );
        assert_eq!(log.id(b.slot(4)), 1_000_004);
        assert!((1..a.len()).all(|p| log.timestamp(a.slot(p - 1)) < log.timestamp(a.slot(p))));
        // Slots map back to their positions, across chunks and partitions.
        for pos in [0, 1, CHUNK - 1, CHUNK, CHUNK + 9] {
            assert_eq!(log.position(a.slot(pos)), pos);
        }
        assert_eq!(log.position(b.slot(4)), 4);
        // Rolled-back positions are reused.
        a.truncate(3);
        let s = a.next_slot(&log).unwrap();
        assert_eq!(s, a.slot(3));
    }

    #[test]
    fn a_created_record_is_the_event_with_its_timestamp_and_nothing_else_changes() {
        let log = RecordLog::new(8, 1, false).unwrap();
        let mut p = PartitionLog::new(0);
        let slots: Vec<u32> = (0..3)
            .map(|_| {
                let s = p.next_slot(&log).unwrap();
                p.push();
                s
            })
            .collect();
        log.write(slots[0], &t(7, 70));
        log.write(slots[2], &t(9, 90));
        // Every field distinct, so a word written to the wrong place shows.
        let event = Transfer {
            id: u128::MAX - 1,
            debit_account_id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
            credit_account_id: 0x1112_1314_1516_1718_191a_1b1c_1d1e_1f20,
            amount: 0x2122_2324_2526_2728_292a_2b2c_2d2e_2f30,
            pending_id: 0x3132_3334_3536_3738_393a_3b3c_3d3e_3f40,
            user_data_128: 0x4142_4344_4546_4748_494a_4b4c_4d4e_4f50,
            user_data_64: 0x5152_5354_5556_5758,
            user_data_32: 0x595a_5b5c,
            timeout: 0x5d5e_5f60,
            ledger: 0x6162_6364,
            code: 0x6566,
            flags: 0x6768,
            timestamp: 0,
        };
        log.write_created(slots[1], &event, 123);
        assert_eq!(
            log.read(slots[1]),
            Transfer {
                timestamp: 123,
                ..event
            }
        );
        assert_eq!(
            log.read(slots[0]),
            t(7, 70),
            "the record before is untouched"
        );
        assert_eq!(
            log.read(slots[2]),
            t(9, 90),
            "the record after is untouched"
        );
    }

    #[test]
    fn the_log_has_room_for_its_capacity_whatever_the_spread() {
        // 2 partitions, capacity 5: each may leave one chunk partly filled.
        let log = RecordLog::new(5, 2, false).unwrap();
        assert!(log.take_chunk(0, 0).is_some());
        assert!(log.take_chunk(1, 0).is_some());
        assert!(log.take_chunk(0, 1).is_some());
        assert_eq!(log.take_chunk(1, 1), None, "chunks are bounded");
        assert_eq!(
            log.take_chunk(1, 1),
            None,
            "and a refused take does not leak"
        );
    }

    #[test]
    fn the_next_slot_follows_truncation_across_chunk_boundaries() {
        // Two partitions interleave chunk hand-outs, so a partition's chunks are not adjacent.
        let log = RecordLog::new(4 * CHUNK, 2, false).unwrap();
        let (mut a, mut b) = (PartitionLog::new(0), PartitionLog::new(1));
        let append = |p: &mut PartitionLog| {
            let s = p.next_slot(&log).unwrap();
            p.push();
            s
        };
        let mut slots = Vec::new();
        for i in 0..2 * CHUNK + 3 {
            slots.push(append(&mut a));
            if i % CHUNK == 0 {
                append(&mut b);
            }
        }
        for (pos, &slot) in slots.iter().enumerate() {
            assert_eq!(a.slot(pos), slot);
        }
        // Back into the middle of a chunk, to a boundary, to the start, into the last chunk:
        // each time the appends reuse the slots of the positions from `len` on.
        for len in [CHUNK + 5, CHUNK, 0, 2 * CHUNK, CHUNK - 1] {
            a.truncate(len);
            while a.len() < slots.len() {
                let pos = a.len();
                assert_eq!(append(&mut a), slots[pos], "after truncating to {len}");
            }
        }
        // Fill the third chunk and "truncate" at its end (an attempt that appended nothing
        // aborting there): the next append takes a fourth chunk.
        while a.len() < 3 * CHUNK {
            slots.push(append(&mut a));
        }
        a.truncate(3 * CHUNK);
        let s = append(&mut a);
        assert_eq!(s, a.slot(3 * CHUNK));
        assert!(!slots.contains(&s), "a fresh chunk");
        for (pos, &slot) in slots.iter().enumerate() {
            assert_eq!(a.slot(pos), slot);
        }
    }

    #[test]
    fn partition_point_finds_the_boundary() {
        let xs = [1, 3, 3, 5, 8];
        for probe in 0..10 {
            assert_eq!(
                partition_point(xs.len(), |i| xs[i] < probe),
                xs.partition_point(|&x| x < probe)
            );
        }
    }
}
