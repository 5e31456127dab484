//! Where segments live: the only I/O boundary of the crate.
//!
//! One store holds one core's segments. Implementations: [`FileStore`](crate::FileStore) (files
//! under `data_dir/wal/core-NN/`) and [`SimStore`](crate::SimStore) (memory, with faults). The
//! server's io_uring path writes group bytes itself and needs a store only for start-up
//! (recovery, seal) and segment preparation.
//!
//! Contract, which recovery relies on:
//! - `create_segment` makes a segment of the given length, all zeros, durable *before* it is
//!   visible to `list_segments` (so a crash leaves either no segment or a whole zeroed one).
//! - A `write` is durable only after a later `sync` of its segment returns `Ok`. After any error
//!   from `write` or `sync`, the caller stops using the log and recovers from scratch (a failed
//!   sync may have lost data that a retry would then claim durable: the "fsyncgate" lesson).
//! - A segment never changes length after creation; writes past its end are errors.
//! - Writes from this crate ([`GroupWrite`](crate::GroupWrite)s and [`seal`](crate::seal)) start
//!   and end on `write_align` boundaries. Only `GroupWrite::bytes` is also aligned in memory: an
//!   `O_DIRECT` implementation copies other buffers into an aligned one.

use std::fmt;
use std::io;

/// A segment present in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment number.
    pub segment: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Storage for one core's segments.
pub trait SegmentStore {
    /// Every segment, in ascending order of number.
    fn list_segments(&mut self) -> Result<Vec<SegmentInfo>, StoreError>;
    /// Creates segment `segment` with `len` zero bytes, durably, then makes it visible.
    /// An already existing segment is an error.
    fn create_segment(&mut self, segment: u64, len: u64) -> Result<(), StoreError>;
    /// Fills `buf` from `offset` in `segment`.
    fn read(&mut self, segment: u64, offset: u64, buf: &mut [u8]) -> Result<(), StoreError>;
    /// Writes `bytes` at `offset` in `segment` (not durable until [`sync`](Self::sync)).
    fn write(&mut self, segment: u64, offset: u64, bytes: &[u8]) -> Result<(), StoreError>;
    /// Makes every completed write to `segment` durable.
    fn sync(&mut self, segment: u64) -> Result<(), StoreError>;
    /// The name shown to operators for `segment`: its file path, or the simulated equivalent.
    fn segment_name(&self, segment: u64) -> String;
}

/// The operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Listing the segment directory.
    List,
    /// Creating (zero-filling) a segment.
    Create,
    /// Reading.
    Read,
    /// Writing.
    Write,
    /// Syncing.
    Sync,
}

impl fmt::Display for StoreOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreOp::List => "listing",
            StoreOp::Create => "creating",
            StoreOp::Read => "reading",
            StoreOp::Write => "writing",
            StoreOp::Sync => "syncing",
        })
    }
}

/// A failed storage operation, naming the file, offset and length.
#[derive(Debug)]
pub struct StoreError {
    /// What was being done.
    pub op: StoreOp,
    /// The file (or directory, for [`StoreOp::List`]).
    pub file: String,
    /// Byte offset of the operation (0 where it has none).
    pub offset: u64,
    /// Bytes involved (0 where none).
    pub len: u64,
    /// The operating system's (or the simulator's) error.
    pub source: io::Error,
}

impl StoreError {
    /// Builds an error for `op` on `file`.
    pub fn new(
        op: StoreOp,
        file: impl Into<String>,
        offset: u64,
        len: u64,
        source: io::Error,
    ) -> StoreError {
        StoreError {
            op,
            file: file.into(),
            offset,
            len,
            source,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            StoreOp::List | StoreOp::Sync => {
                write!(f, "WAL {} {} failed: {}", self.op, self.file, self.source)
            }
            StoreOp::Create => write!(
                f,
                "WAL {} {} ({} bytes) failed: {}",
                self.op, self.file, self.len, self.source
            ),
            StoreOp::Read | StoreOp::Write => write!(
                f,
                "WAL {} {} at offset {} ({} bytes) failed: {}",
                self.op, self.file, self.offset, self.len, self.source
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
