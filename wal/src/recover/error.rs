//! Why recovery refuses: every message names the segment file, the offset and what is wrong,
//! for operators at start-up.

use crate::config::ConfigError;
use crate::format::{Defect, Position};
use crate::store::StoreError;
use std::fmt;

/// Why a damaged log was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The bytes are not the next record, and a valid record of a later group exists.
    Damaged {
        /// What is wrong at the position.
        defect: Defect,
        /// The group that must come at the position (it and all before were acknowledged).
        expected_group: u64,
        /// The later group found.
        later_group: u64,
        /// Where it was found.
        later_at: Position,
        /// The file it was found in.
        later_file: String,
    },
    /// A whole, valid record of another data directory or core.
    Foreign {
        /// [`Defect::ForeignDir`] or [`Defect::WrongCore`].
        defect: Defect,
    },
}

/// Why recovery refused to produce a log.
#[derive(Debug)]
pub enum RecoveryError {
    /// Acknowledged data is damaged, or foreign data is in the log.
    Corrupt {
        /// File of the position.
        file: String,
        /// Segment of the position.
        segment: u64,
        /// Offset of the position.
        offset: u64,
        /// What was found.
        reason: CorruptReason,
    },
    /// A segment is missing from the sequence 1, 2, … up to the last present.
    MissingSegment {
        /// The file that should exist.
        file: String,
        /// Its number.
        segment: u64,
    },
    /// A segment has the wrong length.
    SegmentLength {
        /// The file.
        file: String,
        /// Its number.
        segment: u64,
        /// Its length.
        len: u64,
        /// `segment_size`.
        expected: u64,
    },
    /// Reading failed.
    Store(StoreError),
    /// The configuration is invalid.
    Config(ConfigError),
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Corrupt {
                file,
                segment,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "WAL corrupt in {file} (segment {segment}) at offset {offset}: "
                )?;
                match reason {
                    CorruptReason::Damaged { defect, expected_group, later_group, later_at, later_file } => write!(
                        f,
                        "{defect}. This is not a torn write: a valid record of group {later_group} lies \
                         beyond it ({later_file} offset {}), and a group is written only after every \
                         earlier one is durable, so acknowledged data (group {expected_group} or \
                         earlier) is damaged. Refusing to recover; restore the data directory from a copy",
                        later_at.offset
                    ),
                    CorruptReason::Foreign { defect } => write!(f, "{defect}. Refusing to recover"),
                }
            }
            RecoveryError::MissingSegment { file, segment } => write!(
                f,
                "WAL segment {segment} ({file}) is missing: segments run from 1 without gaps. \
                 Refusing to recover"
            ),
            RecoveryError::SegmentLength {
                file,
                segment,
                len,
                expected,
            } => write!(
                f,
                "WAL segment {segment} ({file}) is {len} bytes long, not the log's segment size \
                 {expected}. Refusing to recover"
            ),
            RecoveryError::Store(e) => e.fmt(f),
            RecoveryError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RecoveryError {}

impl From<StoreError> for RecoveryError {
    fn from(e: StoreError) -> RecoveryError {
        RecoveryError::Store(e)
    }
}

impl From<ConfigError> for RecoveryError {
    fn from(e: ConfigError) -> RecoveryError {
        RecoveryError::Config(e)
    }
}
