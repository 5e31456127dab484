//! What makes the bytes at a position the next record of the log: the checks recovery applies
//! record by record, on top of [`format::decode`].

use crate::config::{WalConfig, FIRST_GROUP};
use crate::format::{self, Defect, Header, Position};

/// The chain so far: what the next record must continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    /// Group of the last accepted record (0 before the first).
    pub group: u64,
    /// Whether that record ended its group (true before the first record).
    pub group_ended: bool,
    /// Its index within its group.
    pub index: u32,
    /// Its header checksum (0 before the first record).
    pub checksum: u32,
}

impl Chain {
    /// The state before the first record of a log.
    pub const START: Chain = Chain {
        group: FIRST_GROUP - 1,
        group_ended: true,
        index: 0,
        checksum: 0,
    };

    /// Moves the chain past an accepted record.
    pub fn advance(&mut self, h: &Header) {
        *self = Chain {
            group: h.meta.group,
            group_ended: h.meta.group_end,
            index: h.meta.index,
            checksum: h.checksum,
        };
    }
}

/// Checks that the record at the start of `bytes` (which run to the end of the segment) is a
/// whole, valid record of this log that sits at `at` and continues `chain`.
pub(crate) fn check_next(
    bytes: &[u8],
    at: Position,
    config: &WalConfig,
    chain: &Chain,
) -> Result<Header, Defect> {
    if bytes.len() < format::HEADER_SIZE {
        return Err(Defect::NoRoom { left: bytes.len() });
    }
    if format::is_zero_header(bytes) {
        return Err(Defect::ZeroHeader);
    }
    let h = format::decode(bytes)?;
    check_identity(&h, config)?;
    let m = &h.meta;
    if m.at != at {
        return Err(Defect::Misplaced { claims: m.at });
    }
    let (group, index) = if chain.group_ended {
        (chain.group + 1, 0)
    } else {
        (chain.group, chain.index + 1)
    };
    if m.group != group {
        return Err(Defect::GroupSequence {
            found: m.group,
            expected: group,
        });
    }
    if m.index != index {
        return Err(Defect::IndexSequence {
            found: m.index,
            expected: index,
        });
    }
    if m.prev != chain.checksum {
        return Err(Defect::BrokenChain {
            found: m.prev,
            expected: chain.checksum,
        });
    }
    Ok(h)
}

/// Checks that a checksum-valid record belongs to this data directory and core.
pub(crate) fn check_identity(h: &Header, config: &WalConfig) -> Result<(), Defect> {
    if h.meta.dir_id != config.dir_id {
        return Err(Defect::ForeignDir {
            found: h.meta.dir_id,
            expected: config.dir_id,
        });
    }
    if h.meta.core != config.core {
        return Err(Defect::WrongCore {
            found: h.meta.core,
            expected: config.core,
        });
    }
    Ok(())
}
