//! The on-disk record format.
//!
//! A core's log is a sequence of segment files `00000001.seg`, `00000002.seg`, … of equal,
//! fixed length, zero-filled before first use. Each holds records back to back from offset 0;
//! a record never spans segments. Integers are little-endian. A record is a 64-byte header, the
//! payload, and zero padding to a multiple of 16 bytes:
//!
//! ```text
//! off size field
//!   0   4  header_checksum  CRC32C of header bytes [4, 64)  (so it covers body_checksum too)
//!   4   4  body_checksum    CRC32C of bytes [64, size): the payload and its zero padding
//!   8   4  magic            "RLW1" (the 1 is the format version)
//!  12   1  kind             1 = Batch (payload is ledger effects), 2 = CleanShutdown
//!  13   1  flags            bit 0 = GROUP_END: the last record of its group; others must be 0
//!  14   2  core             the worker whose log this is
//!  16   4  size             padded record length: round_up(64 + payload_len, 16)
//!  20   4  payload_len
//!  24   8  segment          where this record must sit: segment number …
//!  32   8  offset           … and byte offset in it (catches misdirected and misplaced writes)
//!  40   8  group            the group-commit write it belongs to: 1, 2, 3, … per core
//!  48   4  prev             header_checksum of the previous record of this core (0 for the first):
//!                           a hash chain, so a stale or foreign record cannot splice in
//!  52   4  index            position of the record within its group, from 0
//!  56   8  dir_id           the data directory's random id (catches a segment from another one)
//! ```
//!
//! An all-zero header ends the records of a segment (segments are zero-filled, and recovery seals
//! the bytes after the end with zeros). The writer moves on to the next segment only when the next
//! record does not fit in the rest of the current one, and never in the middle of a group.
//!
//! **Why two checksums rather than one over the whole record.** Recovery must trust `size` before
//! it reads a body: with a header checksum it validates a fixed 64 bytes first, so the scan for
//! later records after a damaged one (every 16 bytes through the rest of the log) costs one
//! 64-byte CRC per candidate instead of a CRC over whatever length a garbage header claims. A
//! damaged body is reported as such, separate from a damaged header. And since the header checksum
//! covers `body_checksum`, it alone identifies the whole record: it is the link in the hash chain.
//! The body checksum covers the padding, so every bit of a record on disk is checked.
//!
//! CRC32C detects every single-bit and every burst error up to 32 bits. It is not a MAC; the
//! integrity argument against stale, misplaced and foreign data rests on the location fields,
//! `dir_id` and the chain, not on the checksum's width.

use crate::config::SECTOR_SIZE;
use std::fmt;

/// Bytes of a record header.
pub const HEADER_SIZE: usize = 64;
/// Records start and end on multiples of this.
pub const RECORD_ALIGN: usize = 16;
/// "RLW1": Ringledger WAL, format version 1.
pub const MAGIC: u32 = u32::from_le_bytes(*b"RLW1");
/// Flag bit: this record is the last of its group, so the group is whole.
pub const FLAG_GROUP_END: u8 = 1;

const O_BODY_CHECKSUM: usize = 4;
const O_MAGIC: usize = 8;
const O_KIND: usize = 12;
const O_FLAGS: usize = 13;
const O_CORE: usize = 14;
const O_SIZE: usize = 16;
const O_PAYLOAD_LEN: usize = 20;
const O_SEGMENT: usize = 24;
const O_OFFSET: usize = 32;
const O_GROUP: usize = 40;
const O_PREV: usize = 48;
const O_INDEX: usize = 52;
const O_DIR_ID: usize = 56;

/// Zeros for padding, without allocating.
const ZEROS: [u8; RECORD_ALIGN] = [0; RECORD_ALIGN];

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Opaque payload: the committed effects of ledger batches.
    Batch = 1,
    /// Written as the last record on an orderly stop: a log ending with it was not cut short.
    CleanShutdown = 2,
}

impl RecordKind {
    fn from_u8(b: u8) -> Option<RecordKind> {
        match b {
            1 => Some(RecordKind::Batch),
            2 => Some(RecordKind::CleanShutdown),
            _ => None,
        }
    }
}

/// A place in the log: segment number and byte offset inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment number (the file `{segment:08}.seg`), from 1.
    pub segment: u64,
    /// Byte offset inside the segment.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// The header fields a writer chooses; sizes and checksums are derived from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// What the record holds.
    pub kind: RecordKind,
    /// Last record of its group.
    pub group_end: bool,
    /// Owning core.
    pub core: u16,
    /// Where the record sits.
    pub at: Position,
    /// Group number.
    pub group: u64,
    /// Header checksum of the previous record of this core (0 before the first).
    pub prev: u32,
    /// Position within the group, from 0.
    pub index: u32,
    /// Data directory id.
    pub dir_id: u64,
}

/// A decoded header whose checksums were verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The writer-chosen fields.
    pub meta: RecordMeta,
    /// Padded record length (header included).
    pub size: u32,
    /// Payload length.
    pub payload_len: u32,
    /// The header checksum: the record's link in the hash chain.
    pub checksum: u32,
}

/// Padded length of a record carrying `payload_len` bytes (saturating: callers bound it first).
pub const fn record_size(payload_len: usize) -> usize {
    let unpadded = HEADER_SIZE.saturating_add(payload_len);
    unpadded.saturating_add(RECORD_ALIGN - 1) / RECORD_ALIGN * RECORD_ALIGN
}

/// Appends the record (header, payload, zero padding) to `buf` and returns its header checksum.
/// The caller guarantees `record_size(payload.len())` fits in a `u32` (the config bounds it).
pub fn encode_into(buf: &mut Vec<u8>, meta: &RecordMeta, payload: &[u8]) -> u32 {
    let size = record_size(payload.len());
    debug_assert!(u32::try_from(size).is_ok(), "record of {size} bytes");
    let pad = size - HEADER_SIZE - payload.len();
    let body_checksum = crc32c::crc32c_append(crc32c::crc32c(payload), &ZEROS[..pad]);
    let mut h = [0u8; HEADER_SIZE];
    h[O_BODY_CHECKSUM..O_MAGIC].copy_from_slice(&body_checksum.to_le_bytes());
    h[O_MAGIC..O_KIND].copy_from_slice(&MAGIC.to_le_bytes());
    h[O_KIND] = meta.kind as u8;
    h[O_FLAGS] = if meta.group_end { FLAG_GROUP_END } else { 0 };
    h[O_CORE..O_SIZE].copy_from_slice(&meta.core.to_le_bytes());
    h[O_SIZE..O_PAYLOAD_LEN].copy_from_slice(&(size as u32).to_le_bytes());
    h[O_PAYLOAD_LEN..O_SEGMENT].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[O_SEGMENT..O_OFFSET].copy_from_slice(&meta.at.segment.to_le_bytes());
    h[O_OFFSET..O_GROUP].copy_from_slice(&meta.at.offset.to_le_bytes());
    h[O_GROUP..O_PREV].copy_from_slice(&meta.group.to_le_bytes());
    h[O_PREV..O_INDEX].copy_from_slice(&meta.prev.to_le_bytes());
    h[O_INDEX..O_DIR_ID].copy_from_slice(&meta.index.to_le_bytes());
    h[O_DIR_ID..HEADER_SIZE].copy_from_slice(&meta.dir_id.to_le_bytes());
    let checksum = crc32c::crc32c(&h[O_BODY_CHECKSUM..]);
    h[..O_BODY_CHECKSUM].copy_from_slice(&checksum.to_le_bytes());
    buf.extend_from_slice(&h);
    buf.extend_from_slice(payload);
    buf.extend_from_slice(&ZEROS[..pad]);
    checksum
}

/// Sets GROUP_END on the record whose header starts `record` and returns its new header
/// checksum. `record` must hold a header written by [`encode_into`].
pub fn mark_group_end(record: &mut [u8]) -> u32 {
    debug_assert!(record.len() >= HEADER_SIZE);
    record[O_FLAGS] |= FLAG_GROUP_END;
    let checksum = crc32c::crc32c(&record[O_BODY_CHECKSUM..HEADER_SIZE]);
    record[..O_BODY_CHECKSUM].copy_from_slice(&checksum.to_le_bytes());
    checksum
}

/// Whether the 64 bytes at the start of `bytes` are all zero (the end of a segment's records).
pub fn is_zero_header(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_SIZE && bytes[..HEADER_SIZE].iter().all(|&b| b == 0)
}

/// Cheap pre-check before [`decode`]: does a header at the start of `bytes` carry the magic?
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_SIZE && read_u32(bytes, O_MAGIC) == MAGIC
}

/// Decodes and checks the record at the start of `bytes`, which runs to the end of its segment:
/// magic, header checksum, sizes, kind, flags, body checksum. Where it sits and whether it
/// continues the chain are the caller's checks. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Header, Defect> {
    if bytes.len() < HEADER_SIZE {
        return Err(Defect::NoRoom { left: bytes.len() });
    }
    let magic = read_u32(bytes, O_MAGIC);
    if magic != MAGIC {
        return Err(Defect::BadMagic { found: magic });
    }
    let checksum = read_u32(bytes, 0);
    let computed = crc32c::crc32c(&bytes[O_BODY_CHECKSUM..HEADER_SIZE]);
    if checksum != computed {
        return Err(Defect::HeaderChecksum {
            stored: checksum,
            computed,
        });
    }
    let size = read_u32(bytes, O_SIZE);
    let payload_len = read_u32(bytes, O_PAYLOAD_LEN);
    if record_size(payload_len as usize) != size as usize {
        return Err(Defect::BadSize { size, payload_len });
    }
    if size as usize > bytes.len() {
        return Err(Defect::PastSegmentEnd {
            size,
            left: bytes.len(),
        });
    }
    let kind = RecordKind::from_u8(bytes[O_KIND]).ok_or(Defect::UnknownKind(bytes[O_KIND]))?;
    let flags = bytes[O_FLAGS];
    if flags & !FLAG_GROUP_END != 0 {
        return Err(Defect::UnknownFlags(flags));
    }
    let stored = read_u32(bytes, O_BODY_CHECKSUM);
    let computed = crc32c::crc32c(&bytes[HEADER_SIZE..size as usize]);
    if stored != computed {
        return Err(Defect::BodyChecksum { stored, computed });
    }
    Ok(Header {
        meta: RecordMeta {
            kind,
            group_end: flags & FLAG_GROUP_END != 0,
            core: u16::from_le_bytes([bytes[O_CORE], bytes[O_CORE + 1]]),
            at: Position {
                segment: read_u64(bytes, O_SEGMENT),
                offset: read_u64(bytes, O_OFFSET),
            },
            group: read_u64(bytes, O_GROUP),
            prev: read_u32(bytes, O_PREV),
            index: read_u32(bytes, O_INDEX),
            dir_id: read_u64(bytes, O_DIR_ID),
        },
        size,
        payload_len,
        checksum,
    })
}

/// The payload of a record that [`decode`] accepted at the start of `bytes`.
pub fn payload<'a>(bytes: &'a [u8], header: &Header) -> &'a [u8] {
    &bytes[HEADER_SIZE..HEADER_SIZE + header.payload_len as usize]
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Why the bytes at a position are not the record that must be there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// Fewer than a header's bytes are left in the segment.
    NoRoom {
        /// Bytes left.
        left: usize,
    },
    /// The header is all zeros: nothing was ever written here.
    ZeroHeader,
    /// Not a record header.
    BadMagic {
        /// The four bytes found where the magic belongs.
        found: u32,
    },
    /// The header's checksum does not match its bytes.
    HeaderChecksum {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// `size` and `payload_len` disagree.
    BadSize {
        /// Padded size field.
        size: u32,
        /// Payload length field.
        payload_len: u32,
    },
    /// The record would run past the end of its segment.
    PastSegmentEnd {
        /// Padded size field.
        size: u32,
        /// Bytes left in the segment.
        left: usize,
    },
    /// A kind this version does not know.
    UnknownKind(u8),
    /// Flag bits this version does not know.
    UnknownFlags(u8),
    /// The payload or padding does not match the body checksum.
    BodyChecksum {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// A whole, valid record of another data directory.
    ForeignDir {
        /// `dir_id` in the record.
        found: u64,
        /// This data directory's id.
        expected: u64,
    },
    /// A whole, valid record of another core's log.
    WrongCore {
        /// `core` in the record.
        found: u16,
        /// This log's core.
        expected: u16,
    },
    /// A whole, valid record that says it belongs somewhere else (a misdirected write).
    Misplaced {
        /// Where the record says it belongs.
        claims: Position,
    },
    /// The group number does not follow the previous record's.
    GroupSequence {
        /// Group in the record.
        found: u64,
        /// Group that must come here.
        expected: u64,
    },
    /// The index within the group does not follow the previous record's.
    IndexSequence {
        /// Index in the record.
        found: u32,
        /// Index that must come here.
        expected: u32,
    },
    /// `prev` is not the previous record's checksum: the chain is broken.
    BrokenChain {
        /// `prev` in the record.
        found: u32,
        /// Header checksum of the previous record.
        expected: u32,
    },
}

impl Defect {
    /// Whether this is the plain end of a segment's records (nothing written, or no room left),
    /// as opposed to bytes that are wrong.
    pub fn is_end(&self) -> bool {
        matches!(self, Defect::ZeroHeader | Defect::NoRoom { .. })
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Defect::NoRoom { left } => {
                write!(f, "only {left} bytes left in the segment, less than a {HEADER_SIZE}-byte header")
            }
            Defect::ZeroHeader => write!(f, "all-zero header (nothing written here)"),
            Defect::BadMagic { found } => {
                write!(f, "no record header (magic 0x{found:08x}, expected 0x{MAGIC:08x} \"RLW1\")")
            }
            Defect::HeaderChecksum { stored, computed } => write!(
                f,
                "header checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
            ),
            Defect::BadSize { size, payload_len } => write!(
                f,
                "inconsistent size {size} for payload length {payload_len} (want {})",
                record_size(payload_len as usize)
            ),
            Defect::PastSegmentEnd { size, left } => {
                write!(f, "record of {size} bytes runs past the segment end ({left} bytes left)")
            }
            Defect::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            Defect::UnknownFlags(b) => write!(f, "unknown flag bits 0x{b:02x}"),
            Defect::BodyChecksum { stored, computed } => write!(
                f,
                "payload checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
            ),
            Defect::ForeignDir { found, expected } => write!(
                f,
                "record belongs to data directory 0x{found:016x}, not this one (0x{expected:016x}): \
                 a segment file copied from another data directory?"
            ),
            Defect::WrongCore { found, expected } => write!(
                f,
                "record belongs to core {found}'s log, not core {expected}'s: a segment file moved \
                 between core directories?"
            ),
            Defect::Misplaced { claims } => {
                write!(f, "a valid record that belongs at {claims} (a misdirected write)")
            }
            Defect::GroupSequence { found, expected } => {
                write!(f, "group {found} where group {expected} must come")
            }
            Defect::IndexSequence { found, expected } => {
                write!(f, "record index {found} within its group where {expected} must come")
            }
            Defect::BrokenChain { found, expected } => write!(
                f,
                "hash chain broken (prev 0x{found:08x}, previous record's checksum 0x{expected:08x})"
            ),
        }
    }
}

// A sector must hold whole 16-byte units, or a record's alignment would not survive tearing
// analysis; this is a compile-time check of the constants' relationship.
const _: () = assert!(SECTOR_SIZE % RECORD_ALIGN == 0 && HEADER_SIZE % RECORD_ALIGN == 0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimRng;

    fn meta() -> RecordMeta {
        RecordMeta {
            kind: RecordKind::Batch,
            group_end: true,
            core: 7,
            at: Position {
                segment: 3,
                offset: 4096,
            },
            group: 12,
            prev: 0xDEAD_BEEF,
            index: 2,
            dir_id: 0x1234_5678_9ABC_DEF0,
        }
    }

    #[test]
    fn round_trip() {
        for len in [0usize, 1, 15, 16, 17, 100, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let mut buf = Vec::new();
            let sum = encode_into(&mut buf, &meta(), &payload);
            assert_eq!(buf.len(), record_size(len));
            assert_eq!(buf.len() % RECORD_ALIGN, 0);
            let h = decode(&buf).unwrap();
            assert_eq!(h.meta, meta());
            assert_eq!(h.checksum, sum);
            assert_eq!(h.payload_len as usize, len);
            assert_eq!(payload_of(&buf, &h), &payload[..]);
        }
    }

    fn payload_of<'a>(b: &'a [u8], h: &Header) -> &'a [u8] {
        payload(b, h)
    }

    #[test]
    fn group_end_mark_changes_the_checksum_and_keeps_the_record_valid() {
        let mut buf = Vec::new();
        let m = RecordMeta {
            group_end: false,
            ..meta()
        };
        let before = encode_into(&mut buf, &m, b"abc");
        let after = mark_group_end(&mut buf);
        assert_ne!(before, after);
        let h = decode(&buf).unwrap();
        assert!(h.meta.group_end);
        assert_eq!(h.checksum, after);
        let mut again = Vec::new();
        assert_eq!(encode_into(&mut again, &meta(), b"abc"), after);
        assert_eq!(again, buf);
    }

    /// Every single-bit flip anywhere in a record (header, payload, padding) is detected.
    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode_into(&mut buf, &meta(), b"twenty bytes of data");
        assert_eq!(buf.len(), 96); // 4 bytes of padding are covered too
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&b).is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    /// Truncated input, garbage, and headers with valid checksums but absurd sizes: errors, never
    /// panics.
    #[test]
    fn decode_never_panics() {
        let mut rng = SimRng::new(99);
        let mut rec = Vec::new();
        encode_into(&mut rec, &meta(), &[5u8; 200]);
        for cut in 0..rec.len() {
            assert!(decode(&rec[..cut]).is_err());
        }
        for _ in 0..20_000 {
            let len = rng.below(300) as usize;
            let mut b = vec![0u8; len];
            rng.fill(&mut b);
            if len >= HEADER_SIZE && rng.chance(50) {
                // A valid-looking header with random sizes, re-checksummed.
                b[O_MAGIC..O_KIND].copy_from_slice(&MAGIC.to_le_bytes());
                if rng.chance(50) {
                    b[O_SIZE..O_PAYLOAD_LEN].copy_from_slice(&u32::MAX.to_le_bytes());
                    b[O_PAYLOAD_LEN..O_SEGMENT].copy_from_slice(&(u32::MAX - 40).to_le_bytes());
                }
                let c = crc32c::crc32c(&b[O_BODY_CHECKSUM..HEADER_SIZE]);
                b[..4].copy_from_slice(&c.to_le_bytes());
            }
            let _ = decode(&b);
        }
    }

    #[test]
    fn zero_and_magic_prechecks() {
        assert!(is_zero_header(&[0u8; 64]));
        assert!(!is_zero_header(&[0u8; 63]));
        let mut rec = Vec::new();
        encode_into(&mut rec, &meta(), b"");
        assert!(has_magic(&rec) && !is_zero_header(&rec));
        assert_eq!(decode(&[0u8; 64]), Err(Defect::BadMagic { found: 0 }));
    }
}
