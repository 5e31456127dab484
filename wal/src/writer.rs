//! The group-commit writer: a state machine that builds group writes and does no I/O.
//!
//! The server appends records to the *open group* as batches commit. At the end of its
//! event-loop turn, if no write is in flight, [`WalWriter::take_write`] turns the open group into
//! one [`GroupWrite`]: contiguous bytes at one offset of one segment. The server writes and syncs
//! it (O_DSYNC write, write+fsync, or pwrite+fdatasync) and on success calls
//! [`WalWriter::complete`]; replies waiting for that group may then leave. Records appended
//! meanwhile form the next group, so group g+1 is written only after group g is durable. That
//! ordering is what lets recovery tell a torn tail (only the last group can be incomplete) from
//! damage (a valid record of a later group proves every earlier one was acknowledged).
//!
//! **Alignment.** A write starts at the `write_align` boundary at or below the group's first
//! record and is padded with zeros to the next boundary, as `O_DIRECT` requires. Its head is the
//! durable tail of the previous group's last block, rewritten unchanged; that is safe only because
//! writes never overlap in time (one in flight). The buffer is aligned in memory as well.
//!
//! **Segments.** A group never spans segments: the first record of a group goes to the next
//! segment when it does not fit in the rest of the current one; a record that does not fit
//! behind others of the open group is refused with [`WalError::SegmentFull`] until the open group
//! is taken. The writer asks for segments one ahead of need ([`WalWriter::needs_segment`]).
//!
//! **Buffers.** Two staging buffers of fixed capacity, allocated at construction, swap between
//! "open" and "in flight": no allocation per record or per group.

use crate::config::{ConfigError, WalConfig, FIRST_GROUP, FIRST_SEGMENT, SPARE_SEGMENTS};
use crate::format::{self, Position, RecordKind, RecordMeta};
use crate::recover::Recovered;
use std::fmt;
use std::mem;

/// Where an appended record went: the reply that depends on it may leave once
/// [`WalWriter::durable_group`] reaches `group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef {
    /// Group the record belongs to.
    pub group: u64,
    /// Segment and offset of the record.
    pub at: Position,
}

/// One group, ready to be written: `bytes()` at `offset()` of `segment()`, then synced.
/// Hand it back to [`WalWriter::complete`] once durable (its buffer is reused).
#[derive(Debug)]
pub struct GroupWrite {
    group: u64,
    segment: u64,
    offset: u64,
    buf: Vec<u8>,
    lead: usize,
    records: u32,
    first: u64,
    end: u64,
}

impl GroupWrite {
    /// The group number.
    pub fn group(&self) -> u64 {
        self.group
    }
    /// Segment to write into.
    pub fn segment(&self) -> u64 {
        self.segment
    }
    /// Offset to write at (a multiple of `write_align`).
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// The bytes to write (length a multiple of `write_align`, start aligned in memory to it).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.lead..]
    }
    /// Number of records in the group.
    pub fn records(&self) -> u32 {
        self.records
    }
    /// The group's records proper: `[first, end)` of the segment (the rest of `bytes()` is the
    /// rewritten head of the first block and zero padding).
    pub fn record_range(&self) -> std::ops::Range<u64> {
        self.first..self.end
    }
}

/// Why a record was not appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalError {
    /// The payload can never fit in one record.
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// Largest payload (`max_group_bytes` minus the header).
        max: usize,
    },
    /// The open group is full: take it (once no write is in flight) and append again.
    GroupFull {
        /// The open group.
        group: u64,
        /// Record bytes already in it.
        used: usize,
        /// Bytes the new record needs.
        needed: usize,
        /// `max_group_bytes`.
        max: usize,
    },
    /// The record does not fit in the rest of the open group's segment, and a group never spans
    /// segments: take the open group, then append again (it will start the next segment).
    SegmentFull {
        /// The open group.
        group: u64,
        /// Where the record would have gone.
        at: Position,
        /// Bytes the record needs.
        needed: usize,
    },
    /// The next record goes into a segment that has not been prepared yet.
    SegmentNotReady {
        /// The segment to create.
        segment: u64,
    },
    /// The configuration is invalid or does not match the recovered log.
    Config(ConfigError),
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::PayloadTooLarge { len, max } => {
                write!(f, "WAL record payload of {len} bytes exceeds the limit of {max} bytes")
            }
            WalError::GroupFull { group, used, needed, max } => write!(
                f,
                "WAL group {group} is full ({used} of {max} bytes used, the record needs {needed}); \
                 submit it and append after it is taken"
            ),
            WalError::SegmentFull { group, at, needed } => write!(
                f,
                "WAL record of {needed} bytes does not fit at {at}, and group {group} cannot span \
                 segments; submit the group and append again"
            ),
            WalError::SegmentNotReady { segment } => {
                write!(f, "WAL segment {segment} is not prepared yet")
            }
            WalError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WalError {}

impl From<ConfigError> for WalError {
    fn from(e: ConfigError) -> WalError {
        WalError::Config(e)
    }
}

/// The open group's staging buffer: `[lead junk][prefix: head of the first block][records]`.
#[derive(Debug)]
struct Staging {
    buf: Vec<u8>,
    /// Bytes skipped at the start so that `buf[lead..]` is aligned in memory.
    lead: usize,
    /// Bytes of the tail block copied in front of the records.
    prefix: usize,
    /// Position of the first record (meaningful when `records > 0`).
    start: Position,
    records: u32,
    /// Index in `buf` of the last record's header.
    last: usize,
    /// The chain value before the group's first record (for `verify`).
    prev_before: u32,
}

impl Staging {
    fn new(mut buf: Vec<u8>, align: usize) -> Staging {
        buf.clear();
        // Casting the address is how alignment is measured in safe code; the pointer is stable
        // because the buffer never grows past its capacity.
        let misalign = buf.as_ptr() as usize % align;
        let lead = (align - misalign) % align;
        buf.resize(lead, 0);
        Staging {
            buf,
            lead,
            prefix: 0,
            start: Position::default(),
            records: 0,
            last: 0,
            prev_before: 0,
        }
    }

    fn record_bytes(&self) -> usize {
        self.buf.len() - self.lead - self.prefix
    }

    fn end(&self) -> Position {
        Position {
            segment: self.start.segment,
            offset: self.start.offset + self.record_bytes() as u64,
        }
    }
}

#[derive(Debug)]
enum State {
    /// No write in flight; the second buffer waits here.
    Idle { spare: Vec<u8> },
    /// `group` is being written; its buffer is in the caller's [`GroupWrite`].
    InFlight { group: u64 },
}

/// The group-commit writer of one core's log. See the module documentation.
#[derive(Debug)]
pub struct WalWriter {
    config: WalConfig,
    /// Capacity reserved in each staging buffer; no group needs more.
    capacity: usize,
    /// Where the next group starts: the end of the last taken group.
    tail: Position,
    /// The bytes of `tail`'s block before `tail` (`tail.offset % write_align` of them).
    tail_block: Vec<u8>,
    open: Staging,
    open_group: u64,
    durable_group: u64,
    state: State,
    /// Header checksum of the last appended record (the chain's head).
    last_checksum: u32,
    /// Highest segment the caller has reported ready.
    prepared_through: u64,
}

impl WalWriter {
    /// A writer for a brand-new, empty log (no segments yet).
    pub fn new(config: WalConfig) -> Result<WalWriter, WalError> {
        config.validate()?;
        Ok(WalWriter::build(
            config,
            Position {
                segment: FIRST_SEGMENT,
                offset: 0,
            },
            Vec::new(),
            FIRST_GROUP,
            0,
            0,
        ))
    }

    /// A writer continuing a recovered log. Call [`seal`](crate::seal) before the first write.
    pub fn resume(config: WalConfig, recovered: &Recovered) -> Result<WalWriter, WalError> {
        config.validate()?;
        let tail = recovered.end();
        let tail_block = recovered.tail_block().to_vec();
        if recovered.geometry() != (config.segment_size, config.write_align) {
            return Err(WalError::Config(ConfigError {
                reason: format!(
                    "the log was recovered with (segment_size, write_align) {:?}, resumed with ({}, {})",
                    recovered.geometry(),
                    config.segment_size,
                    config.write_align
                ),
            }));
        }
        Ok(WalWriter::build(
            config,
            tail,
            tail_block,
            recovered.next_group(),
            recovered.last_checksum(),
            recovered.last_segment(),
        ))
    }

    fn build(
        config: WalConfig,
        tail: Position,
        tail_block: Vec<u8>,
        next_group: u64,
        last_checksum: u32,
        prepared_through: u64,
    ) -> WalWriter {
        let align = config.write_align;
        // Room for: alignment lead, the rewritten block head, the records, the zero padding.
        let capacity = config.max_group_bytes + 3 * align;
        let mut block = Vec::with_capacity(align);
        block.extend_from_slice(&tail_block);
        WalWriter {
            open: Staging::new(Vec::with_capacity(capacity), align),
            state: State::Idle {
                spare: Vec::with_capacity(capacity),
            },
            capacity,
            tail,
            tail_block: block,
            open_group: next_group,
            durable_group: next_group - 1,
            last_checksum,
            prepared_through,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// Appends a record to the open group. On error nothing changed.
    pub fn append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<RecordRef, WalError> {
        let size = self.record_size(payload.len())?;
        let at = self.place(size)?;
        if self.open.records == 0 {
            self.open.start = at;
            self.open.prev_before = self.last_checksum;
            if at == self.tail {
                self.open.buf.extend_from_slice(&self.tail_block);
                self.open.prefix = self.tail_block.len();
            }
        }
        let meta = RecordMeta {
            kind,
            group_end: false,
            core: self.config.core,
            at,
            group: self.open_group,
            prev: self.last_checksum,
            index: self.open.records,
            dir_id: self.config.dir_id,
        };
        self.open.last = self.open.buf.len();
        self.last_checksum = format::encode_into(&mut self.open.buf, &meta, payload);
        self.open.records += 1;
        // Within the capacity reserved at construction, so never reallocated.
        debug_assert!(self.open.buf.len() <= self.capacity);
        Ok(RecordRef {
            group: self.open_group,
            at,
        })
    }

    /// Whether [`append`](Self::append) of a payload of `len` bytes would succeed now.
    pub fn fits(&self, len: usize) -> bool {
        self.record_size(len)
            .and_then(|size| self.place(size))
            .is_ok()
    }

    fn record_size(&self, len: usize) -> Result<usize, WalError> {
        let max = self.config.max_payload();
        if len > max {
            return Err(WalError::PayloadTooLarge { len, max });
        }
        Ok(format::record_size(len))
    }

    /// Where a record of `size` bytes would go, or why it cannot go now.
    fn place(&self, size: usize) -> Result<Position, WalError> {
        let segment_size = self.config.segment_size;
        if self.open.records > 0 {
            let used = self.open.record_bytes();
            if used + size > self.config.max_group_bytes {
                return Err(WalError::GroupFull {
                    group: self.open_group,
                    used,
                    needed: size,
                    max: self.config.max_group_bytes,
                });
            }
            let at = self.open.end();
            if at.offset + size as u64 > segment_size {
                return Err(WalError::SegmentFull {
                    group: self.open_group,
                    at,
                    needed: size,
                });
            }
            return Ok(at);
        }
        let mut at = self.tail;
        if at.offset + size as u64 > segment_size {
            at = Position {
                segment: at.segment + 1,
                offset: 0,
            };
        }
        if at.segment > self.prepared_through {
            return Err(WalError::SegmentNotReady {
                segment: at.segment,
            });
        }
        Ok(at)
    }

    /// Turns the open group into the write to submit, if it holds records and no write is in
    /// flight. Marks its last record as the group's end.
    pub fn take_write(&mut self) -> Option<GroupWrite> {
        if self.open.records == 0 {
            return None;
        }
        let spare = match &mut self.state {
            State::Idle { spare } => mem::take(spare),
            State::InFlight { .. } => return None,
        };
        let align = self.config.write_align;
        let last = self.open.last;
        self.last_checksum = format::mark_group_end(&mut self.open.buf[last..]);
        let end = self.open.end();
        // Keep the head of the last block: the next write starts by rewriting it.
        let data_len = self.open.buf.len() - self.open.lead;
        let block = (end.offset % align as u64) as usize;
        self.tail_block.clear();
        self.tail_block
            .extend_from_slice(&self.open.buf[self.open.buf.len() - block..]);
        self.open
            .buf
            .resize(self.open.lead + data_len.next_multiple_of(align), 0);
        self.tail = end;
        let staged = mem::replace(&mut self.open, Staging::new(spare, align));
        let group = self.open_group;
        self.open_group += 1;
        self.state = State::InFlight { group };
        Some(GroupWrite {
            group,
            segment: staged.start.segment,
            offset: staged.start.offset - staged.prefix as u64,
            buf: staged.buf,
            lead: staged.lead,
            records: staged.records,
            first: staged.start.offset,
            end: end.offset,
        })
    }

    /// Marks the in-flight group durable and takes its buffer back; returns the durable group.
    ///
    /// # Panics
    /// If `write` is not the write in flight (a caller bug, not something the disk can cause).
    pub fn complete(&mut self, write: GroupWrite) -> u64 {
        match self.state {
            State::InFlight { group } if group == write.group => {}
            _ => panic!(
                "WalWriter::complete: group {} is not the write in flight",
                write.group
            ),
        }
        self.durable_group = write.group;
        self.state = State::Idle { spare: write.buf };
        self.durable_group
    }

    /// Highest group known durable (0 before the first).
    pub fn durable_group(&self) -> u64 {
        self.durable_group
    }

    /// The group the next appended record joins.
    pub fn open_group(&self) -> u64 {
        self.open_group
    }

    /// Record bytes in the open group.
    pub fn open_bytes(&self) -> usize {
        if self.open.records == 0 {
            0
        } else {
            self.open.record_bytes()
        }
    }

    /// The group being written, if any.
    pub fn in_flight(&self) -> Option<u64> {
        match self.state {
            State::InFlight { group } => Some(group),
            State::Idle { .. } => None,
        }
    }

    /// The next segment to create (then report with [`segment_ready`](Self::segment_ready)), if
    /// fewer than [`SPARE_SEGMENTS`] are prepared beyond the one being written.
    pub fn needs_segment(&self) -> Option<u64> {
        let current = if self.open.records > 0 {
            self.open.start.segment
        } else {
            self.tail.segment
        };
        (self.prepared_through < current + SPARE_SEGMENTS).then_some(self.prepared_through + 1)
    }

    /// Reports that `segment` (the one [`needs_segment`](Self::needs_segment) asked for) now
    /// exists, zero-filled and durable.
    ///
    /// # Panics
    /// If `segment` is not the next one after those already reported.
    pub fn segment_ready(&mut self, segment: u64) {
        assert_eq!(
            segment,
            self.prepared_through + 1,
            "segments must be prepared in order"
        );
        self.prepared_through = segment;
    }
}

mod verify;

#[cfg(test)]
mod tests;
