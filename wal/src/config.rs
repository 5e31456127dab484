//! The log's parameters and every limit, as constants.
//!
//! A log's `segment_size` is fixed when its first segment is created: recovery refuses segments of
//! another length. `max_group_bytes` and `write_align` may change between runs (recovery and
//! [`seal`](crate::seal) do not depend on the previous run's values).

use crate::format::{HEADER_SIZE, RECORD_ALIGN};
use std::fmt;

/// The unit a disk writes atomically (at best), and the unit [`SimStore`](crate::SimStore) tears.
pub const SECTOR_SIZE: usize = 512;
/// Segment files are this long by default: big enough that creating one is rare, small enough to
/// zero-fill in the background in well under a second.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// Smallest segment accepted (tests use 16-64 KiB).
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest segment accepted; recovery holds one whole segment (plus the next) in memory.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;
/// Default bound on one group's records: about four 8189-transfer batches.
pub const DEFAULT_MAX_GROUP_BYTES: usize = 4 << 20;
/// Default alignment of a group write's offset and length, and of its buffer in memory:
/// what `O_DIRECT` needs on a 4 KiB-block file system.
pub const DEFAULT_WRITE_ALIGN: usize = 4096;
/// Largest accepted `write_align`.
pub const MAX_WRITE_ALIGN: usize = 4096;
/// The first segment of every log is numbered 1 (file `00000001.seg`).
pub const FIRST_SEGMENT: u64 = 1;
/// The first group of every log is numbered 1; 0 means "none yet".
pub const FIRST_GROUP: u64 = 1;
/// How many prepared segments the writer wants beyond the one it writes into, so that a
/// rollover never waits for a segment to be zero-filled.
pub const SPARE_SEGMENTS: u64 = 1;

/// Parameters of one core's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// The worker (core) this log belongs to; every record carries it.
    pub core: u16,
    /// Random id of the data directory (from its `META`); every record carries it, so a segment
    /// copied from another data directory is refused. Must not be 0.
    pub dir_id: u64,
    /// Length of every segment file, a multiple of `write_align`.
    pub segment_size: u64,
    /// Most record bytes (headers and padding included) in one group, so also the largest
    /// record: a payload may be at most `max_group_bytes - HEADER_SIZE` long.
    pub max_group_bytes: usize,
    /// Group writes start and end on this boundary (a power of two, 16..=4096), rewriting the
    /// durable head of their first block; their buffer is aligned to it in memory too.
    pub write_align: usize,
}

impl WalConfig {
    /// The defaults (64 MiB segments, 4 MiB groups, 4 KiB alignment) for `core` in data
    /// directory `dir_id`.
    pub fn new(core: u16, dir_id: u64) -> WalConfig {
        WalConfig {
            core,
            dir_id,
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_group_bytes: DEFAULT_MAX_GROUP_BYTES,
            write_align: DEFAULT_WRITE_ALIGN,
        }
    }

    /// The largest payload one record can carry.
    pub fn max_payload(&self) -> usize {
        self.max_group_bytes.saturating_sub(HEADER_SIZE)
    }

    /// Checks every parameter against the limits above.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |reason: String| Err(ConfigError { reason });
        let align = self.write_align;
        if !align.is_power_of_two() || !(RECORD_ALIGN..=MAX_WRITE_ALIGN).contains(&align) {
            return fail(format!(
                "write_align {align} must be a power of two between {RECORD_ALIGN} and {MAX_WRITE_ALIGN}"
            ));
        }
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return fail(format!(
                "segment_size {} must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}",
                self.segment_size
            ));
        }
        if self.segment_size % align as u64 != 0 {
            return fail(format!(
                "segment_size {} must be a multiple of write_align {align}",
                self.segment_size
            ));
        }
        let min_group = HEADER_SIZE + RECORD_ALIGN;
        if self.max_group_bytes % RECORD_ALIGN != 0
            || self.max_group_bytes < min_group
            || self.max_group_bytes as u64 > self.segment_size
        {
            return fail(format!(
                "max_group_bytes {} must be a multiple of {RECORD_ALIGN} between {min_group} and segment_size {}",
                self.max_group_bytes, self.segment_size
            ));
        }
        if self.dir_id == 0 {
            return fail(
                "dir_id 0 is reserved for \"unset\"; use the data directory's random id".into(),
            );
        }
        Ok(())
    }
}

/// A [`WalConfig`] outside the limits, or not matching the log it is used with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// What is wrong, naming the parameter and its value.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid WAL configuration: {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_enforced() {
        let ok = WalConfig::new(3, 42);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.max_payload(), DEFAULT_MAX_GROUP_BYTES - HEADER_SIZE);
        let bad = [
            WalConfig {
                write_align: 24,
                ..ok.clone()
            },
            WalConfig {
                write_align: 8192,
                ..ok.clone()
            },
            WalConfig {
                segment_size: 1000,
                ..ok.clone()
            },
            WalConfig {
                segment_size: (64 << 10) + 512,
                ..ok.clone()
            },
            WalConfig {
                max_group_bytes: 72,
                ..ok.clone()
            },
            WalConfig {
                max_group_bytes: 4097,
                ..ok.clone()
            },
            WalConfig {
                max_group_bytes: 128 << 20,
                ..ok.clone()
            },
            WalConfig {
                dir_id: 0,
                ..ok.clone()
            },
        ];
        for c in bad {
            let e = c.validate().unwrap_err();
            assert!(
                e.to_string().starts_with("invalid WAL configuration: "),
                "{e}"
            );
        }
    }
}
