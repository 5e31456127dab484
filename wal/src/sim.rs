//! A simulated disk for deterministic tests: [`SimStore`], and the [`SimRng`] that drives it.
//!
//! The model follows FoundationDB's `AsyncFileNonDurable` and LazyFS:
//! - A write lands in a volatile layer (a page cache of 512-byte sectors); reads see it.
//! - `sync(segment)` makes that segment's volatile sectors durable.
//! - [`SimStore::crash`] throws the volatile layer away sector by sector: each unsynced sector is
//!   independently dropped (old content), applied (new content) or torn (a random split: new bytes
//!   on one side, old on the other). [`SimStore::crash_with`] lets a test choose each fate.
//! - Injected faults: EIO from the next write or sync (the caller must then treat the process as
//!   crashed), a misdirected write (the bytes land at another place, the intended one is left
//!   alone), and bit flips in durable data.
//!
//! Segment creation is atomic (the real store creates, zero-fills and syncs before a rename).
//! Everything is deterministic given the seed and the sequence of calls.

use crate::config::SECTOR_SIZE;
use crate::format::Position;
use crate::store::{SegmentInfo, SegmentStore, StoreError, StoreOp};
use std::collections::BTreeMap;
use std::io;

/// SplitMix64: small, fast, and good enough to drive a simulation reproducibly.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed ^ 0x5EED_5EED_5EED)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// What a crash does to one unsynced sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectorFate {
    /// Lost: the durable sector keeps its old content.
    Drop,
    /// Written in full.
    Apply,
    /// Torn: new content for bytes `..split` and old after it (`new_first`), or the reverse.
    Tear {
        /// Byte where new and old content meet.
        split: usize,
        /// Whether the new content comes first.
        new_first: bool,
    },
    /// Garbage: random bytes from the store's generator (a sector the device mangled).
    Garbage,
}

/// One pending write fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    WriteEio,
    SyncEio,
    Misdirect(Position),
}

/// An in-memory [`SegmentStore`] that loses, tears and corrupts writes. See the module docs.
#[derive(Clone, Debug)]
pub struct SimStore {
    name: String,
    rng: SimRng,
    durable: BTreeMap<u64, Vec<u8>>,
    /// Unsynced sectors by (segment, sector index): their full new content.
    volatile: BTreeMap<(u64, u64), Vec<u8>>,
    faults: Vec<Fault>,
    crashes: u64,
}

impl SimStore {
    /// An empty store whose crash outcomes follow `seed`; `name` prefixes segment names.
    pub fn new(seed: u64, name: &str) -> SimStore {
        SimStore {
            name: name.to_string(),
            rng: SimRng::new(seed),
            durable: BTreeMap::new(),
            volatile: BTreeMap::new(),
            faults: Vec::new(),
            crashes: 0,
        }
    }

    /// Simulates power loss: every unsynced sector is dropped, applied or torn at random (a
    /// third each). Pending faults are forgotten.
    pub fn crash(&mut self) {
        let mut rng = self.rng.clone();
        self.crash_with(|_, _, len| match rng.below(3) {
            0 => SectorFate::Drop,
            1 => SectorFate::Apply,
            _ => SectorFate::Tear {
                split: rng.range(1, len as u64 - 1) as usize,
                new_first: rng.chance(50),
            },
        });
        self.rng = rng;
    }

    /// Simulates power loss with each unsynced sector's fate chosen by
    /// `fate(segment, sector_index, sector_len)`, in ascending order.
    pub fn crash_with(&mut self, mut fate: impl FnMut(u64, u64, usize) -> SectorFate) {
        let volatile = std::mem::take(&mut self.volatile);
        for ((segment, sector), new) in volatile {
            let Some(seg) = self.durable.get_mut(&segment) else {
                continue;
            };
            let start = sector as usize * SECTOR_SIZE;
            let old = &mut seg[start..start + new.len()];
            match fate(segment, sector, new.len()) {
                SectorFate::Drop => {}
                SectorFate::Apply => old.copy_from_slice(&new),
                SectorFate::Tear { split, new_first } => {
                    let split = split.min(new.len());
                    if new_first {
                        old[..split].copy_from_slice(&new[..split]);
                    } else {
                        old[split..].copy_from_slice(&new[split..]);
                    }
                }
                SectorFate::Garbage => self.rng.fill(old),
            }
        }
        self.faults.clear();
        self.crashes += 1;
    }

    /// The next write fails with EIO (after some of its sectors reach the volatile layer).
    pub fn fail_next_write(&mut self) {
        self.faults.push(Fault::WriteEio);
    }

    /// The next sync fails with EIO (its sectors stay volatile, for the crash to decide).
    pub fn fail_next_sync(&mut self) {
        self.faults.push(Fault::SyncEio);
    }

    /// The next write lands at `to` instead of where it was aimed (clipped to the segment), and
    /// reports success.
    pub fn misdirect_next_write(&mut self, to: Position) {
        self.faults.push(Fault::Misdirect(to));
    }

    /// Flips one bit of durable data (and of its unsynced copy, if any). False if out of range.
    pub fn flip_bit(&mut self, segment: u64, offset: u64, bit: u8) -> bool {
        let Some(seg) = self.durable.get_mut(&segment) else {
            return false;
        };
        let Some(byte) = seg.get_mut(offset as usize) else {
            return false;
        };
        *byte ^= 1 << (bit % 8);
        let key = (segment, offset / SECTOR_SIZE as u64);
        if let Some(v) = self.volatile.get_mut(&key) {
            v[offset as usize % SECTOR_SIZE] ^= 1 << (bit % 8);
        }
        true
    }

    /// Durable content of a segment (what a crash now would leave, before unsynced sectors).
    pub fn durable(&self, segment: u64) -> Option<&[u8]> {
        self.durable.get(&segment).map(Vec::as_slice)
    }

    /// Replaces (or adds) a segment's durable content, e.g. with one from another store.
    pub fn put_segment(&mut self, segment: u64, bytes: Vec<u8>) {
        self.volatile.retain(|&(s, _), _| s != segment);
        self.durable.insert(segment, bytes);
    }

    /// Removes a segment.
    pub fn remove_segment(&mut self, segment: u64) {
        self.volatile.retain(|&(s, _), _| s != segment);
        self.durable.remove(&segment);
    }

    /// Number of unsynced sectors.
    pub fn unsynced_sectors(&self) -> usize {
        self.volatile.len()
    }

    /// Number of crashes so far.
    pub fn crashes(&self) -> u64 {
        self.crashes
    }

    fn take_fault(&mut self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let i = self.faults.iter().position(pred)?;
        Some(self.faults.remove(i))
    }

    fn err(
        &self,
        op: StoreOp,
        segment: u64,
        offset: u64,
        len: usize,
        kind: io::ErrorKind,
        what: &str,
    ) -> StoreError {
        StoreError::new(
            op,
            self.segment_name(segment),
            offset,
            len as u64,
            io::Error::new(kind, what.to_string()),
        )
    }

    /// Writes `bytes` at `offset` into the volatile layer, sector by sector.
    fn stage(&mut self, segment: u64, offset: u64, bytes: &[u8]) {
        let Some(seg) = self.durable.get(&segment) else {
            return;
        };
        let seg_len = seg.len();
        let mut pos = offset as usize;
        let mut rest = bytes;
        while !rest.is_empty() {
            let sector = pos / SECTOR_SIZE;
            let start = sector * SECTOR_SIZE;
            let len = SECTOR_SIZE.min(seg_len - start);
            let entry = self
                .volatile
                .entry((segment, sector as u64))
                .or_insert_with(|| seg[start..start + len].to_vec());
            let within = pos - start;
            let n = rest.len().min(len - within);
            entry[within..within + n].copy_from_slice(&rest[..n]);
            pos += n;
            rest = &rest[n..];
        }
    }

    fn check_range(
        &self,
        op: StoreOp,
        segment: u64,
        offset: u64,
        len: usize,
    ) -> Result<(), StoreError> {
        let Some(seg) = self.durable.get(&segment) else {
            return Err(self.err(
                op,
                segment,
                offset,
                len,
                io::ErrorKind::NotFound,
                "no such segment",
            ));
        };
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > seg.len() as u64)
        {
            return Err(self.err(
                op,
                segment,
                offset,
                len,
                io::ErrorKind::InvalidInput,
                "past the segment end",
            ));
        }
        Ok(())
    }
}

impl SegmentStore for SimStore {
    fn list_segments(&mut self) -> Result<Vec<SegmentInfo>, StoreError> {
        Ok(self
            .durable
            .iter()
            .map(|(&segment, b)| SegmentInfo {
                segment,
                len: b.len() as u64,
            })
            .collect())
    }

    fn create_segment(&mut self, segment: u64, len: u64) -> Result<(), StoreError> {
        if self.durable.contains_key(&segment) {
            return Err(self.err(
                StoreOp::Create,
                segment,
                0,
                len as usize,
                io::ErrorKind::AlreadyExists,
                "exists",
            ));
        }
        self.durable.insert(segment, vec![0; len as usize]);
        Ok(())
    }

    fn read(&mut self, segment: u64, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.check_range(StoreOp::Read, segment, offset, buf.len())?;
        let Some(seg) = self.durable.get(&segment) else {
            return Ok(());
        };
        let start = offset as usize;
        buf.copy_from_slice(&seg[start..start + buf.len()]);
        let first = (start / SECTOR_SIZE) as u64;
        let last = ((start + buf.len()).div_ceil(SECTOR_SIZE)) as u64;
        for (&(_, sector), v) in self.volatile.range((segment, first)..(segment, last)) {
            // Overlay the overlap of the unsynced sector and the read.
            let s_start = sector as usize * SECTOR_SIZE;
            let from = s_start.max(start);
            let to = (s_start + v.len()).min(start + buf.len());
            buf[from - start..to - start].copy_from_slice(&v[from - s_start..to - s_start]);
        }
        Ok(())
    }

    fn write(&mut self, segment: u64, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.check_range(StoreOp::Write, segment, offset, bytes.len())?;
        if self.take_fault(|f| *f == Fault::WriteEio).is_some() {
            // A failed write may still have reached the cache in part.
            let part = self.rng.below(bytes.len() as u64 + 1) as usize;
            self.stage(segment, offset, &bytes[..part]);
            return Err(self.err(
                StoreOp::Write,
                segment,
                offset,
                bytes.len(),
                io::ErrorKind::Other,
                "injected EIO",
            ));
        }
        if let Some(Fault::Misdirect(to)) = self.take_fault(|f| matches!(f, Fault::Misdirect(_))) {
            if let Some(seg) = self.durable.get(&to.segment) {
                let len = bytes.len().min(seg.len());
                let at = to.offset.min((seg.len() - len) as u64);
                self.stage(to.segment, at, &bytes[..len]);
            }
            return Ok(());
        }
        self.stage(segment, offset, bytes);
        Ok(())
    }

    fn sync(&mut self, segment: u64) -> Result<(), StoreError> {
        self.check_range(StoreOp::Sync, segment, 0, 0)?;
        if self.take_fault(|f| *f == Fault::SyncEio).is_some() {
            return Err(self.err(
                StoreOp::Sync,
                segment,
                0,
                0,
                io::ErrorKind::Other,
                "injected EIO",
            ));
        }
        let keys: Vec<(u64, u64)> = self
            .volatile
            .range((segment, 0)..(segment + 1, 0))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let (Some(v), Some(seg)) =
                (self.volatile.remove(&key), self.durable.get_mut(&segment))
            {
                let start = key.1 as usize * SECTOR_SIZE;
                seg[start..start + v.len()].copy_from_slice(&v);
            }
        }
        Ok(())
    }

    fn segment_name(&self, segment: u64) -> String {
        format!("sim:{}/{segment:08}.seg", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_writes_are_visible_then_lost_or_kept_by_sector() {
        let mut s = SimStore::new(1, "t");
        s.create_segment(1, 4096).unwrap();
        s.write(1, 100, &[7u8; 1000]).unwrap(); // sectors 0, 1, 2
        let mut buf = [0u8; 4096];
        s.read(1, 0, &mut buf).unwrap();
        assert!(buf[100..1100].iter().all(|&b| b == 7) && buf[1100] == 0);
        assert_eq!(s.unsynced_sectors(), 3);
        s.crash_with(|_, sector, _| {
            if sector == 1 {
                SectorFate::Apply
            } else {
                SectorFate::Drop
            }
        });
        s.read(1, 0, &mut buf).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 0));
        assert!(buf[512..1024].iter().all(|&b| b == 7));
        assert!(buf[1024..].iter().all(|&b| b == 0));
        s.write(1, 0, &[9u8; 512]).unwrap();
        s.sync(1).unwrap();
        s.crash();
        assert_eq!(s.durable(1).unwrap()[..512], [9u8; 512]);
    }

    #[test]
    fn tearing_splits_a_sector_between_old_and_new() {
        let mut s = SimStore::new(1, "t");
        s.create_segment(1, 1024).unwrap();
        s.write(1, 0, &[1u8; 512]).unwrap();
        s.crash_with(|_, _, _| SectorFate::Tear {
            split: 100,
            new_first: true,
        });
        let d = s.durable(1).unwrap();
        assert!(d[..100].iter().all(|&b| b == 1) && d[100..512].iter().all(|&b| b == 0));
    }

    #[test]
    fn faults() {
        let mut s = SimStore::new(3, "t");
        s.create_segment(1, 4096).unwrap();
        s.create_segment(2, 4096).unwrap();
        s.fail_next_write();
        assert!(s.write(1, 0, &[1; 16]).is_err());
        s.fail_next_sync();
        s.write(1, 0, &[1; 16]).unwrap();
        let e = s.sync(1).unwrap_err();
        assert!(e.to_string().contains("sim:t/00000001.seg"), "{e}");
        s.sync(1).unwrap();
        s.misdirect_next_write(Position {
            segment: 2,
            offset: 512,
        });
        s.write(1, 1024, &[5; 16]).unwrap();
        s.sync(2).unwrap();
        assert_eq!(s.durable(2).unwrap()[512..528], [5; 16]);
        assert_eq!(s.durable(1).unwrap()[1024], 0);
        assert!(s.flip_bit(1, 0, 3));
        assert_eq!(s.durable(1).unwrap()[0], 1 ^ 8);
        assert!(!s.flip_bit(9, 0, 0));
        assert!(s.write(1, 4090, &[0; 16]).is_err());
        assert!(s.write(3, 0, &[0; 1]).is_err());
    }

    #[test]
    fn same_seed_same_crash() {
        let run = || {
            let mut s = SimStore::new(42, "t");
            s.create_segment(1, 8192).unwrap();
            s.write(1, 0, &[3u8; 8192]).unwrap();
            s.crash();
            s.durable(1).unwrap().to_vec()
        };
        assert_eq!(run(), run());
    }
}
