//! Recovery: read a core's log back, keep every whole group, and refuse damaged logs.
//!
//! **Walk.** Segments are read in order (numbered from 1, no gaps, all `segment_size` long) and
//! each record is checked ([`format::decode`], then identity, position and chain in
//! `validate`). At the end of a segment's records (an all-zero header, no room, or bytes that are
//! not the next record) the log continues at the next segment's offset 0 only if the record there
//! continues the chain *and* did not fit where the previous segment's records stopped: the writer
//! moves on only then, so anything else in the rest of the segment was never part of the log.
//!
//! **Where the walk stops**, the tail is either torn or damaged. A group is written only after
//! the previous one is durable, so a crash can leave at most the group after the last whole one
//! (`expected`) incomplete. The rest of the log (the rest of this segment, the later segments,
//! and the skipped ends of earlier segments) is scanned every 16 bytes for checksum-valid records:
//! - one of another data directory or core → [`RecoveryError::Corrupt`] (foreign data in the log);
//! - one of a group after `expected`, wherever it sits (even at the wrong place: a misdirected
//!   write still proves that its group was written) → `Corrupt`: its existence proves that
//!   `expected` and everything before it had been acknowledged, so the bytes at the stop are
//!   damage, not a tear. Never skipped over.
//! - otherwise the tail is torn: the records of the incomplete group are dropped (the GROUP_END
//!   flag tells a whole group from a partial one) and the log ends after the last whole group.
//!
//! Residual risk (as in TigerBeetle's single-replica case and RocksDB's tolerated tail): damage
//! to acknowledged groups that leaves no intact record of any later group (typically: the last
//! acknowledged group damaged, nothing written after it) looks exactly like a torn tail, and
//! those groups are lost. A log that ends with a `CleanShutdown` record was not cut short.
//!
//! **Seal.** Before new writes, [`seal`] zeroes every non-zero byte after the valid end (in its
//! segment and all later ones) and syncs, so that stale records of a torn group can never be
//! taken for new ones, and the invariant "nothing but zeros after the end" holds at every start.
//!
//! Recovery holds two segments in memory at a time.

use crate::config::{WalConfig, FIRST_SEGMENT};
use crate::format::{self, Defect, Position, RecordKind, RECORD_ALIGN};
use crate::store::{SegmentInfo, SegmentStore, StoreError};
use crate::validate::{check_identity, check_next, Chain};
use std::fmt;

mod error;
pub use error::{CorruptReason, RecoveryError};

/// [`seal`] writes zeros in pieces of at most this many bytes.
pub const SEAL_CHUNK: usize = 1 << 20;

/// One record of a whole group, as recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredRecord {
    /// What it holds.
    pub kind: RecordKind,
    /// Its group.
    pub group: u64,
    /// Where it sits.
    pub at: Position,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What was cut off the end of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the walk stopped.
    pub at: Position,
    /// What was wrong there.
    pub defect: Defect,
    /// The incomplete group that was dropped.
    pub group: u64,
    /// Valid records of it that were dropped.
    pub dropped_records: u32,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail at {} ({}): dropped {} records of unacknowledged group {}",
            self.at, self.defect, self.dropped_records, self.group
        )
    }
}

/// A recovered log: whole groups only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    records: Vec<RecoveredRecord>,
    end: Position,
    next_group: u64,
    last_checksum: u32,
    clean_shutdown: bool,
    last_segment: u64,
    torn: Option<TornTail>,
    tail_block: Vec<u8>,
    dirty: Vec<(u64, u64, u64)>,
    segment_size: u64,
    write_align: usize,
}

impl Recovered {
    /// Records of every whole group, in log order.
    pub fn records(&self) -> &[RecoveredRecord] {
        &self.records
    }
    /// Moves the records out (the rest is still needed by [`seal`] and
    /// [`WalWriter::resume`](crate::WalWriter::resume)).
    pub fn take_records(&mut self) -> Vec<RecoveredRecord> {
        std::mem::take(&mut self.records)
    }
    /// Where the next record goes: the end of the last whole group.
    pub fn end(&self) -> Position {
        self.end
    }
    /// The number of the next group (1 for an empty log).
    pub fn next_group(&self) -> u64 {
        self.next_group
    }
    /// Header checksum of the last record kept (0 for an empty log): the chain's head.
    pub fn last_checksum(&self) -> u32 {
        self.last_checksum
    }
    /// Whether the last record kept is a `CleanShutdown`.
    pub fn clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }
    /// Highest segment present (0 if none).
    pub fn last_segment(&self) -> u64 {
        self.last_segment
    }
    /// What was cut off, if the log did not end cleanly after a whole group.
    pub fn torn(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }
    /// The durable bytes of the end's block before the end (`end.offset % write_align` of them).
    pub fn tail_block(&self) -> &[u8] {
        &self.tail_block
    }
    /// Ranges `(segment, from, to)` after the end that hold non-zero bytes: what [`seal`] zeroes.
    pub fn dirty_ranges(&self) -> &[(u64, u64, u64)] {
        &self.dirty
    }
    /// The `(segment_size, write_align)` it was recovered with; resuming needs the same.
    pub fn geometry(&self) -> (u64, usize) {
        (self.segment_size, self.write_align)
    }
}

/// The highest group seen outside the chain, and where.
#[derive(Clone, Copy, Debug)]
struct Later {
    group: u64,
    at: Position,
}

/// What lies outside the chain: checked every 16 bytes.
struct Outside {
    later: Option<Later>,
    /// Per segment (index `segment - 1`): end of the last non-zero 16-byte slot seen, so that
    /// [`seal`] knows what to zero.
    nonzero_end: Vec<u64>,
}

impl Outside {
    /// Scans `buf[from..]` of `segment` for checksum-valid records: a foreign one is an error (its
    /// position and defect); the highest group among ours is remembered.
    fn scan(
        &mut self,
        buf: &[u8],
        segment: u64,
        from: usize,
        config: &WalConfig,
    ) -> Result<(), (Position, Defect)> {
        let base = from.next_multiple_of(RECORD_ALIGN).min(buf.len());
        for (i, slot) in buf[base..].chunks_exact(RECORD_ALIGN).enumerate() {
            let mut word = [0u8; RECORD_ALIGN];
            word.copy_from_slice(slot);
            if u128::from_ne_bytes(word) == 0 {
                continue; // the common case: zero-filled space
            }
            let q = base + i * RECORD_ALIGN;
            let end = &mut self.nonzero_end[(segment - FIRST_SEGMENT) as usize];
            *end = (*end).max((q + RECORD_ALIGN) as u64);
            let bytes = &buf[q..];
            if !format::has_magic(bytes) {
                continue;
            }
            if let Ok(h) = format::decode(bytes) {
                let at = Position {
                    segment,
                    offset: q as u64,
                };
                check_identity(&h, config).map_err(|d| (at, d))?;
                if self.later.is_none_or(|l| h.meta.group > l.group) {
                    self.later = Some(Later {
                        group: h.meta.group,
                        at,
                    });
                }
            }
        }
        Ok(())
    }
}

/// One recovery in progress.
struct Recovery<'a, S: ?Sized> {
    store: &'a mut S,
    config: &'a WalConfig,
    last_segment: u64,
    records: Vec<RecoveredRecord>,
    chain: Chain,
    /// Records kept, end and chain after the last whole group.
    whole: (usize, Position, Chain),
    outside: Outside,
}

/// Recovers one core's log from `store`. See the module documentation.
pub fn recover<S: SegmentStore + ?Sized>(
    store: &mut S,
    config: &WalConfig,
) -> Result<Recovered, RecoveryError> {
    config.validate()?;
    let segments = store.list_segments()?;
    check_layout(store, config, &segments)?;
    let start = Position {
        segment: FIRST_SEGMENT,
        offset: 0,
    };
    let mut r = Recovery {
        store,
        config,
        last_segment: segments.last().map_or(0, |s| s.segment),
        records: Vec::new(),
        chain: Chain::START,
        whole: (0, start, Chain::START),
        outside: Outside {
            later: None,
            nonzero_end: vec![0; segments.len()],
        },
    };
    let stop = if segments.is_empty() {
        (start, Defect::ZeroHeader)
    } else {
        r.walk()?
    };
    r.finish(stop)
}

impl<S: SegmentStore + ?Sized> Recovery<'_, S> {
    fn load(&mut self, segment: u64, buf: &mut Vec<u8>) -> Result<(), StoreError> {
        if buf.len() != self.config.segment_size as usize {
            *buf = vec![0; self.config.segment_size as usize];
        }
        self.store.read(segment, 0, buf)
    }

    fn scan(&mut self, buf: &[u8], segment: u64, from: usize) -> Result<(), RecoveryError> {
        self.outside
            .scan(buf, segment, from, self.config)
            .map_err(|(at, defect)| RecoveryError::Corrupt {
                file: self.store.segment_name(at.segment),
                segment: at.segment,
                offset: at.offset,
                reason: CorruptReason::Foreign { defect },
            })
    }

    /// Follows the chain from the first segment, then scans everything after where it stops.
    /// Returns the stop and what is wrong there.
    fn walk(&mut self) -> Result<(Position, Defect), RecoveryError> {
        let (mut cur, mut next) = (Vec::new(), Vec::new());
        let (mut seg, mut off) = (FIRST_SEGMENT, 0usize);
        let mut next_loaded = false;
        self.load(seg, &mut cur)?;
        let stop = loop {
            let at = Position {
                segment: seg,
                offset: off as u64,
            };
            let defect = match check_next(&cur[off..], at, self.config, &self.chain) {
                Ok(h) => {
                    let payload = format::payload(&cur[off..], &h).to_vec();
                    self.records.push(RecoveredRecord {
                        kind: h.meta.kind,
                        group: h.meta.group,
                        at,
                        payload,
                    });
                    self.chain.advance(&h);
                    off += h.size as usize;
                    if h.meta.group_end {
                        self.whole = (
                            self.records.len(),
                            Position {
                                segment: seg,
                                offset: off as u64,
                            },
                            self.chain,
                        );
                    }
                    continue;
                }
                Err(defect) => defect,
            };
            if seg < self.last_segment {
                self.load(seg + 1, &mut next)?;
                next_loaded = true;
                // The writer starts a segment only with a group whose first record did not fit.
                let room = cur.len() - off;
                let first = Position {
                    segment: seg + 1,
                    offset: 0,
                };
                let rolls = self.chain.group_ended
                    && check_next(&next, first, self.config, &self.chain)
                        .is_ok_and(|h| h.size as usize > room);
                if rolls {
                    self.scan(&cur, seg, off)?;
                    std::mem::swap(&mut cur, &mut next);
                    (seg, off, next_loaded) = (seg + 1, 0, false);
                    continue;
                }
            }
            break (at, defect);
        };
        // The incomplete group's records, if any, lie before the stop: beyond the end.
        let end = &mut self.outside.nonzero_end[(seg - FIRST_SEGMENT) as usize];
        *end = (*end).max(off as u64);
        // Scan everything after the stop for records that prove it is damage, not a tear.
        self.scan(&cur, seg, off)?;
        for s in seg + 1..=self.last_segment {
            if !(next_loaded && s == seg + 1) {
                self.load(s, &mut next)?;
            }
            self.scan(&next, s, 0)?;
        }
        Ok(stop)
    }

    /// Decides torn or damaged, and builds the result.
    fn finish(mut self, (stop_at, defect): (Position, Defect)) -> Result<Recovered, RecoveryError> {
        let (kept, end, last) = self.whole;
        let expected = last.group + 1;
        if let Some(l) = self.outside.later.filter(|l| l.group > expected) {
            return Err(RecoveryError::Corrupt {
                file: self.store.segment_name(stop_at.segment),
                segment: stop_at.segment,
                offset: stop_at.offset,
                reason: CorruptReason::Damaged {
                    defect,
                    expected_group: expected,
                    later_group: l.group,
                    later_at: l.at,
                    later_file: self.store.segment_name(l.at.segment),
                },
            });
        }
        let dropped = self.records.len() - kept;
        self.records.truncate(kept);
        let torn = (dropped > 0 || !defect.is_end()).then_some(TornTail {
            at: stop_at,
            defect,
            group: expected,
            dropped_records: dropped as u32,
        });
        let mut tail_block = vec![0u8; (end.offset % self.config.write_align as u64) as usize];
        if !tail_block.is_empty() {
            self.store.read(
                end.segment,
                end.offset - tail_block.len() as u64,
                &mut tail_block,
            )?;
        }
        let mut dirty = Vec::new();
        for s in end.segment..=self.last_segment {
            let from = if s == end.segment { end.offset } else { 0 };
            let to = self.outside.nonzero_end[(s - FIRST_SEGMENT) as usize];
            if to > from {
                dirty.push((s, from, to));
            }
        }
        Ok(Recovered {
            clean_shutdown: self
                .records
                .last()
                .is_some_and(|r| r.kind == RecordKind::CleanShutdown),
            records: self.records,
            end,
            next_group: expected,
            last_checksum: last.checksum,
            last_segment: self.last_segment,
            torn,
            tail_block,
            dirty,
            segment_size: self.config.segment_size,
            write_align: self.config.write_align,
        })
    }
}

/// Segments must run 1, 2, … without gaps, all `segment_size` long.
fn check_layout<S: SegmentStore + ?Sized>(
    store: &S,
    config: &WalConfig,
    segments: &[SegmentInfo],
) -> Result<(), RecoveryError> {
    for (i, s) in segments.iter().enumerate() {
        let want = FIRST_SEGMENT + i as u64;
        if s.segment != want {
            return Err(RecoveryError::MissingSegment {
                file: store.segment_name(want),
                segment: want,
            });
        }
        if s.len != config.segment_size {
            return Err(RecoveryError::SegmentLength {
                file: store.segment_name(s.segment),
                segment: s.segment,
                len: s.len,
                expected: config.segment_size,
            });
        }
    }
    Ok(())
}

/// Zeroes every non-zero byte after the recovered end and syncs each segment touched. Writes are
/// aligned to the `write_align` recovery used; the first one rewrites the durable head of the
/// end's block. Idempotent: a crash during the seal leaves a log that recovers to the same state.
pub fn seal<S: SegmentStore + ?Sized>(
    store: &mut S,
    recovered: &Recovered,
) -> Result<(), StoreError> {
    let align = recovered.write_align as u64;
    let longest = recovered
        .dirty
        .iter()
        .map(|&(_, from, to)| to - from + 2 * align)
        .max()
        .unwrap_or(0);
    // A multiple of the alignment, so every write is aligned in offset and length.
    let zeros = vec![0u8; longest.next_multiple_of(align).min(SEAL_CHUNK as u64) as usize];
    for &(segment, from, to) in &recovered.dirty {
        let mut pos = from - from % align;
        let stop = to.next_multiple_of(align).min(recovered.segment_size);
        let head = (from - pos) as usize;
        if head > 0 {
            // The end's block: its durable head, rewritten unchanged, then zeros.
            let mut block = vec![0u8; align as usize];
            block[..head].copy_from_slice(&recovered.tail_block[..head]);
            store.write(segment, pos, &block)?;
            pos += align;
        }
        while pos < stop {
            let n = (stop - pos).min(zeros.len() as u64) as usize;
            store.write(segment, pos, &zeros[..n])?;
            pos += n as u64;
        }
        store.sync(segment)?;
    }
    Ok(())
}
