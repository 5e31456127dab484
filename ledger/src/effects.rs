//! A committed batch's effects, as the write-ahead log keeps them: per partition the batch
//! changed, the accounts and transfers it created (their final records), the transfer ids it
//! burned and the pending transfers that expired. These are facts, not requests: replaying them
//! ([`Ledger::replay`](crate::Ledger::replay)) needs no checks and cannot decide differently
//! from the original execution, which re-running requests could (partitions race on ids and
//! read each other's records).
//!
//! Encoding (little-endian), one *part* per partition with effects, back to back:
//!
//! ```text
//! 0  seq u64          the partition's effect sequence: 1, 2, 3, ... in commit order
//! 8  clock u64        the ledger's clock at the commit: at or above every timestamp the
//!                     batch handed out, failed events' included (replay resumes above it)
//! 16 partition u32
//! 20 accounts u32     then the counts of the four arrays that follow the header
//! 24 transfers u32
//! 28 burned u32
//! 32 expired u32
//! 36 flags u32        bit 0: the last part of its commit (a commit's parts, one per
//!                     partition it changed, must be logged and replayed together)
//! 40 accounts         128 bytes each, as created
//!    transfers        128 bytes each, as created (actual amount, inherited fields), in
//!                     commit order, which is timestamp order
//!    burned           16 bytes each: transfer ids of state-dependent failures
//!    expired          16 bytes each: ids of pending transfers that expired
//! ```
//!
//! A part's effects touch its partition only (a transfer's accounts and pending transfer share
//! its ledger, and so its partition), so a partition's parts replay in `seq` order regardless
//! of other partitions. Burned ids belong to no partition's state; a batch lists them in its
//! first part.

use crate::types::{Account, Record, Transfer};

/// Bytes of a part's header.
pub const PART_HEADER: usize = 40;
/// Part flag: the last part of its commit.
const LAST_OF_COMMIT: u32 = 1;
/// Part flag: a *resume* part, written by a recovery that dropped parts beyond a gap (never
/// acknowledged): the partition's effects continue at this seq, and the seqs between the
/// recovered prefix and this one are void (see `Ledger::replay_batches`).
const RESUME: u32 = 2;

/// Appends a resume part for `partition` at `seq` (with the clock at recovery) to `out`.
pub fn encode_resume(out: &mut Vec<u8>, partition: usize, seq: u64, clock: u64) {
    let start = out.len();
    PartWriter::begin(out, seq, clock, partition).keep();
    let at = start + 36;
    out[at..at + 4].copy_from_slice(&(LAST_OF_COMMIT | RESUME).to_le_bytes());
}

/// The byte ranges of a payload's commits (each one or more parts that must stay together),
/// in order; an error if the payload is malformed or does not end on a commit's last part.
pub fn commits(payload: &[u8]) -> Result<Vec<std::ops::Range<usize>>, String> {
    let mut out = Vec::new();
    let (mut start, mut at) = (0, 0);
    for part in decode(payload)? {
        at += part.encoded_len();
        if part.last_of_commit {
            out.push(start..at);
            start = at;
        }
    }
    if start != payload.len() {
        return Err("effects end inside a commit".into());
    }
    Ok(out)
}

/// One partition's share of a committed batch, borrowed from an encoded payload.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    pub seq: u64,
    /// The ledger's clock when the part was committed.
    pub clock: u64,
    /// The last part of its commit.
    pub last_of_commit: bool,
    /// A resume part (see [`encode_resume`]): no effects, a jump in the partition's seqs.
    pub resume: bool,
    pub partition: usize,
    accounts: &'a [u8],
    transfers: &'a [u8],
    burned: &'a [u8],
    expired: &'a [u8],
}

fn records<R: Record>(bytes: &[u8]) -> impl Iterator<Item = R> + '_ {
    // Lengths are whole records (checked by `decode`): every chunk converts.
    bytes
        .chunks_exact(R::SIZE)
        .filter_map(|c| R::read_from_bytes(c).ok())
}

fn ids(bytes: &[u8]) -> impl Iterator<Item = u128> + '_ {
    bytes
        .chunks_exact(16)
        .map(|c| u128::from_le_bytes(c.try_into().unwrap_or([0; 16])))
}

impl<'a> Part<'a> {
    pub fn accounts(&self) -> impl Iterator<Item = Account> + 'a {
        records(self.accounts)
    }
    pub fn transfers(&self) -> impl Iterator<Item = Transfer> + 'a {
        records(self.transfers)
    }
    pub fn burned(&self) -> impl Iterator<Item = u128> + 'a {
        ids(self.burned)
    }
    pub fn expired(&self) -> impl Iterator<Item = u128> + 'a {
        ids(self.expired)
    }
    /// Bytes of the encoded part.
    pub fn encoded_len(&self) -> usize {
        PART_HEADER
            + self.accounts.len()
            + self.transfers.len()
            + self.burned.len()
            + self.expired.len()
    }

    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.accounts.len() / Account::SIZE,
            self.transfers.len() / Transfer::SIZE,
            self.burned.len() / 16,
            self.expired.len() / 16,
        )
    }
    /// The newest timestamp the part's batch could have handed out: its records', and the
    /// clock at its commit (failed events have timestamps too, and are not logged).
    pub fn max_timestamp(&self) -> u64 {
        let a = self.accounts().map(|a| a.timestamp).max().unwrap_or(0);
        let t = self.transfers().map(|t| t.timestamp).max().unwrap_or(0);
        a.max(t).max(self.clock)
    }
}

/// Decodes a payload into its parts; an error says what is malformed (the payload comes from
/// disk: its checksum passed, but a bug or a foreign file must not become a wrong ledger).
pub fn decode(payload: &[u8]) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        if rest.len() < PART_HEADER {
            return Err(format!(
                "effects part header cut short: {} bytes",
                rest.len()
            ));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([rest[o], rest[o + 1], rest[o + 2], rest[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rest[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let (seq, clock) = (u64_at(0), u64_at(8));
        let partition = u32_at(16) as usize;
        let counts = [u32_at(20), u32_at(24), u32_at(28), u32_at(32)].map(|n| n as usize);
        let flags = u32_at(36);
        if flags & !(LAST_OF_COMMIT | RESUME) != 0 {
            return Err(format!(
                "effects part of partition {partition}: unknown flags {flags:#x}"
            ));
        }
        if flags & RESUME != 0 && counts != [0; 4] {
            return Err(format!(
                "resume part of partition {partition} holds records"
            ));
        }
        let sizes = [
            counts[0].checked_mul(Account::SIZE),
            counts[1].checked_mul(Transfer::SIZE),
            counts[2].checked_mul(16),
            counts[3].checked_mul(16),
        ];
        let total = sizes
            .iter()
            .try_fold(PART_HEADER, |acc, s| s.and_then(|s| acc.checked_add(s)))
            .filter(|&t| t <= rest.len())
            .ok_or_else(|| {
                format!(
                    "effects part of partition {partition} claims {counts:?} records, more than \
                     its {} bytes",
                    rest.len()
                )
            })?;
        if seq == 0 {
            return Err(format!("effects part of partition {partition} has seq 0"));
        }
        let mut at = PART_HEADER;
        let mut take = |n: Option<usize>| {
            let n = n.unwrap_or(0);
            let s = &rest[at..at + n];
            at += n;
            s
        };
        let part = Part {
            seq,
            clock,
            last_of_commit: flags & LAST_OF_COMMIT != 0,
            resume: flags & RESUME != 0,
            partition,
            accounts: take(sizes[0]),
            transfers: take(sizes[1]),
            burned: take(sizes[2]),
            expired: take(sizes[3]),
        };
        debug_assert_eq!(at, total);
        parts.push(part);
        rest = &rest[total..];
    }
    Ok(parts)
}

/// Writes a part: the header, then the records the closures append.
pub(crate) struct PartWriter<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> PartWriter<'b> {
    pub fn begin(out: &'b mut Vec<u8>, seq: u64, clock: u64, partition: usize) -> PartWriter<'b> {
        let start = out.len();
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&clock.to_le_bytes());
        out.extend_from_slice(&(partition as u32).to_le_bytes());
        out.extend_from_slice(&[0u8; PART_HEADER - 20]);
        PartWriter { out, start }
    }

    fn count(&mut self, field: usize) {
        let at = self.start + 20 + 4 * field;
        let mut n = [0u8; 4];
        n.copy_from_slice(&self.out[at..at + 4]);
        let n = u32::from_le_bytes(n) + 1;
        self.out[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    // The sections are written in order: accounts, transfers, burned, expired.
    pub fn account(&mut self, a: &Account) {
        self.out.extend_from_slice(a.bytes());
        self.count(0);
    }
    pub fn transfer(&mut self, t: &Transfer) {
        self.out.extend_from_slice(t.bytes());
        self.count(1);
    }
    pub fn burned(&mut self, id: u128) {
        self.out.extend_from_slice(&id.to_le_bytes());
        self.count(2);
    }
    pub fn expired(&mut self, id: u128) {
        self.out.extend_from_slice(&id.to_le_bytes());
        self.count(3);
    }

    /// The part's offset in the buffer when it holds any effect; None when it holds none (it
    /// is taken back out).
    /// Keeps the part even if it holds no effect; returns its offset.
    pub fn keep(self) -> usize {
        self.start
    }

    pub fn finish(self) -> Option<usize> {
        if self.out.len() == self.start + PART_HEADER {
            self.out.truncate(self.start);
            return None;
        }
        Some(self.start)
    }
}

/// Marks the part at `offset` of `out` as the last of its commit.
pub(crate) fn mark_last_of_commit(out: &mut [u8], offset: usize) {
    let at = offset + 36;
    out[at..at + 4].copy_from_slice(&LAST_OF_COMMIT.to_le_bytes());
}
