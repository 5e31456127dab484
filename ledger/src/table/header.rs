//! The 64-bit header word of a table slot.
//!
//! ```text
//! bits 0..3    state: EMPTY, CLAIMING, LIVE, TOMBSTONE, ORPHAN
//! bit  3       WRITING: a writer is rewriting the record (per-record sequence lock, "odd")
//! bit  4       UNCOMMITTED: inserted by a batch that has not committed; invisible to readers
//! bits 5..17   partition that inserted the record (12 bits)
//! bits 17..33  fingerprint: 16 bits of the id's hash, to skip most id comparisons
//! bits 33..64  version: bumped by every record rewrite (the sequence lock's counter)
//! ```

pub(crate) const STATE_MASK: u64 = 0b111;
pub(crate) const EMPTY: u64 = 0;
/// An inserter owns the slot and is writing the id; other inserters wait, readers skip it.
pub(crate) const CLAIMING: u64 = 1;
pub(crate) const LIVE: u64 = 2;
/// Rolled back: never reused, skipped by every probe.
pub(crate) const TOMBSTONE: u64 = 3;
/// The id of a transfer that failed for a state-dependent reason (`id_already_failed`).
pub(crate) const ORPHAN: u64 = 4;

pub(crate) const WRITING: u64 = 1 << 3;
pub(crate) const UNCOMMITTED: u64 = 1 << 4;
const PARTITION_SHIFT: u32 = 5;
const PARTITION_BITS: u32 = 12;
const FINGERPRINT_SHIFT: u32 = 17;
const VERSION_SHIFT: u32 = 33;

/// Most partitions a table can tag (12 bits).
pub const MAX_PARTITIONS: usize = 1 << PARTITION_BITS;

#[inline(always)]
pub(crate) fn state(h: u64) -> u64 {
    h & STATE_MASK
}

#[inline(always)]
pub(crate) fn partition(h: u64) -> usize {
    ((h >> PARTITION_SHIFT) & ((1 << PARTITION_BITS) - 1)) as usize
}

#[inline(always)]
pub(crate) fn fingerprint(h: u64) -> u16 {
    (h >> FINGERPRINT_SHIFT) as u16
}

/// The header bits holding the fingerprint.
pub(crate) const FINGERPRINT_MASK: u64 = (u16::MAX as u64) << FINGERPRINT_SHIFT;

/// `fingerprint` where a header holds it (to compare with a masked header).
#[inline(always)]
pub(crate) fn fingerprint_bits(fingerprint: u16) -> u64 {
    u64::from(fingerprint) << FINGERPRINT_SHIFT
}

#[inline]
pub(crate) fn make(state: u64, partition: usize, fingerprint: u16) -> u64 {
    debug_assert!(state <= ORPHAN && partition < MAX_PARTITIONS);
    state | ((partition as u64) << PARTITION_SHIFT) | fingerprint_bits(fingerprint)
}

/// The same header with a new state (flags, partition, fingerprint and version kept).
#[inline]
pub(crate) fn with_state(h: u64, state: u64) -> u64 {
    (h & !STATE_MASK) | state
}

/// The header after a completed rewrite: WRITING cleared, version bumped (wrapping).
#[inline]
pub(crate) fn bumped(h: u64) -> u64 {
    let low = h & ((1 << VERSION_SHIFT) - 1) & !WRITING;
    let version = (h >> VERSION_SHIFT).wrapping_add(1) & ((1 << (64 - VERSION_SHIFT)) - 1);
    low | (version << VERSION_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let h = make(LIVE, 4095, 0xBEEF) | UNCOMMITTED;
        assert_eq!(state(h), LIVE);
        assert_eq!(partition(h), 4095);
        assert_eq!(fingerprint(h), 0xBEEF);
        let b = bumped(h | WRITING);
        assert_eq!(b & WRITING, 0);
        assert_eq!(
            (state(b), partition(b), fingerprint(b)),
            (LIVE, 4095, 0xBEEF)
        );
        assert_ne!(b, h, "the version changed");
        assert_eq!(state(with_state(b, TOMBSTONE)), TOMBSTONE);
        // The version wraps without disturbing the other fields.
        let top = h | (((1u64 << 31) - 1) << 33);
        assert_eq!(bumped(top) >> 33, 0);
        assert_eq!(partition(bumped(top)), 4095);
    }
}
