//! The ledger's per-core write-ahead log: record format, group-commit writer, recovery, and a
//! simulated disk to test them on.
//!
//! Pure: no threads, no sockets, no io_uring. File I/O happens only behind [`SegmentStore`]; the
//! writer itself does no I/O at all, it only hands out byte ranges to write.
//!
//! - [`format`](mod@format): the on-disk record (64-byte header, two CRC32C checksums, location and hash
//!   chain fields, 16-byte padding) and what makes one valid ([`Defect`]).
//! - [`config`](mod@config): [`WalConfig`] and every limit as a constant.
//! - [`writer`]: [`WalWriter`], the group-commit state machine. Records are appended to an open
//!   group; `take_write` turns it into one [`GroupWrite`] (contiguous bytes at one segment
//!   offset) when no write is in flight; `complete` marks it durable.
//! - [`store`]: the [`SegmentStore`] trait; [`FileStore`] (real files, `wal/core-NN/NNNNNNNN.seg`)
//!   and [`SimStore`] (in memory; loses, tears and corrupts writes on command, deterministic from a
//!   seed).
//! - [`recover`](mod@recover): [`recover()`] validates the log and returns the records of every whole
//!   group, truncating a torn tail but refusing ([`RecoveryError::Corrupt`]) when damage hits data
//!   that was acknowledged; [`seal`] zeroes what lies beyond the valid end before writing resumes
//!   with [`WalWriter::resume`].
//!
//! The life of a log, in the order a server calls things:
//!
//! ```
//! use wal::{recover, seal, RecordKind, SegmentStore, SimStore, WalConfig, WalWriter};
//! let config = WalConfig { segment_size: 64 << 10, max_group_bytes: 16 << 10, write_align: 512,
//!                          ..WalConfig::new(0, 0xD1) };
//! let mut store = SimStore::new(7, "core-00");
//! let recovered = recover(&mut store, &config).unwrap();  // empty log
//! seal(&mut store, &recovered).unwrap();
//! let mut writer = WalWriter::resume(config.clone(), &recovered).unwrap();
//! while let Some(n) = writer.needs_segment() {             // keep a spare segment ready
//!     store.create_segment(n, config.segment_size).unwrap();
//!     writer.segment_ready(n);
//! }
//! let at = writer.append(RecordKind::Batch, b"effects of one batch").unwrap();
//! let write = writer.take_write().unwrap();               // at the end of the event-loop turn
//! store.write(write.segment(), write.offset(), write.bytes()).unwrap();
//! store.sync(write.segment()).unwrap();
//! assert_eq!(writer.complete(write), at.group);            // replies for group 1 may leave
//! store.crash();
//! let again = recover(&mut store, &config).unwrap();
//! assert_eq!(again.records()[0].payload, b"effects of one batch");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod file_store;
pub mod format;
pub mod recover;
pub mod sim;
pub mod store;
mod validate;
pub mod writer;

pub use config::{ConfigError, WalConfig};
pub use file_store::FileStore;
pub use format::{Defect, Position, RecordKind};
pub use recover::{
    recover, seal, CorruptReason, Recovered, RecoveredRecord, RecoveryError, TornTail,
};
pub use sim::{SectorFate, SimRng, SimStore};
pub use store::{SegmentInfo, SegmentStore, StoreError, StoreOp};
pub use writer::{GroupWrite, RecordRef, WalError, WalWriter};
