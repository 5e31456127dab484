//! The shared ledger: the two record tables, the global clock, and the partitions.
//!
//! A caller executes batches while *holding* partitions ([`Ledger::lock`]): one partition for the
//! usual batch whose events all belong to one ledger's partition, several for a batch (or a
//! linked chain) that spans them. Holding is a mutex per partition, taken in ascending order, so
//! several holders never deadlock; in the server each partition is held by its owning worker
//! only, so the mutex is uncontended except for index reads.

use crate::partition::{partition_of_ledger, Partition};
use crate::table::account_meta::AccountMeta;
use crate::table::lists::ListArena;
use crate::table::transfers::TransferTable;
use crate::table::RecordTable;
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Most events in one create/lookup request, and the largest query limit (TigerBeetle's batch
/// limit for 128-byte events in a 1 MiB message).
pub const BATCH_MAX: usize = 8189;

/// Most partitions a ledger can have.
pub const MAX_PARTITIONS: usize = 256;

/// Sizes of a ledger, fixed at start-up.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    pub partitions: usize,
    pub max_accounts: usize,
    /// Transfers, including the ids of failed transfers that are remembered ("orphaned") and
    /// the slots of rolled-back chains.
    pub max_transfers: usize,
    /// Touch every page of the tables at start-up instead of on first use.
    pub prefault: bool,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            partitions: 1,
            max_accounts: 1 << 16,
            max_transfers: 1 << 20,
            prefault: false,
        }
    }
}

/// Why a whole batch was refused; nothing of it was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// More than [`BATCH_MAX`] events.
    TooManyEvents(usize),
    /// The accounts table cannot take this many more accounts.
    AccountsFull { capacity: usize },
    /// The transfers table cannot take this many more transfers.
    TransfersFull { capacity: usize },
    /// The batch touches partitions the caller does not hold: lock these too and retry.
    NeedPartitions(Vec<usize>),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::TooManyEvents(n) => {
                write!(f, "too many events: {n} (at most {BATCH_MAX} per request)")
            }
            BatchError::AccountsFull { capacity } => {
                write!(f, "accounts table is full (max_accounts = {capacity})")
            }
            BatchError::TransfersFull { capacity } => {
                write!(f, "transfers table is full (max_transfers = {capacity})")
            }
            BatchError::NeedPartitions(p) => write!(f, "batch needs partitions {p:?}"),
        }
    }
}

impl std::error::Error for BatchError {}

/// A cache-line-padded atomic, so partitions' commit counters do not share lines.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub T);

pub struct Ledger {
    pub(crate) config: LedgerConfig,
    pub(crate) accounts: RecordTable,
    /// Owner-side words per account slot (list ids, working-set stamps).
    pub(crate) account_meta: AccountMeta,
    pub(crate) transfers: TransferTable,
    /// The accounts' transfer lists.
    pub(crate) lists: ListArena,
    /// Attempts started so far: each attempt's working-set stamp (never 0).
    pub(crate) attempts: AtomicU64,
    /// Slots claimed (live, orphaned or rolled back) plus those reserved by running batches.
    pub(crate) accounts_used: AtomicUsize,
    pub(crate) transfers_used: AtomicUsize,
    /// The last timestamp handed out (ns since the epoch).
    pub(crate) clock: Padded<AtomicU64>,
    /// Latest committed account / transfer timestamps (imported events must not regress).
    pub(crate) last_account_timestamp: AtomicU64,
    pub(crate) last_transfer_timestamp: AtomicU64,
    /// Per partition: odd while a batch's effects are being made visible (a sequence lock
    /// readers check around multi-record reads).
    pub(crate) commit_seq: Box<[Padded<AtomicU64>]>,
    /// Per partition: the `seq` of its newest effects part (see `effects`), written by the
    /// holder that made the part, before the commit that makes its effects visible.
    pub(crate) effect_seq: Box<[Padded<AtomicU64>]>,
    /// Per partition: the lowest partition held by the batch now holding it. Decides who waits
    /// when two batches meet each other's uncommitted ids (see `exec`).
    pub(crate) holder_tag: Box<[AtomicUsize]>,
    pub(crate) partitions: Box<[Mutex<Partition>]>,
}

/// Partitions held by one caller, in ascending order.
pub struct Held<'a> {
    pub(crate) ledger: &'a Ledger,
    pub(crate) indexes: Vec<usize>,
    pub(crate) guards: Vec<MutexGuard<'a, Partition>>,
    /// Where commits append their effects (see `effects`), when the caller asked for them.
    pub(crate) effects: Option<Vec<u8>>,
}

impl Held<'_> {
    /// The indexes of the held partitions, ascending.
    pub fn partitions(&self) -> &[usize] {
        &self.indexes
    }

    #[inline]
    pub(crate) fn holds(&self, p: usize) -> bool {
        self.indexes.binary_search(&p).is_ok()
    }

    #[inline(always)]
    pub(crate) fn part(&mut self, p: usize) -> &mut Partition {
        // Most batches hold one partition.
        let i = if self.indexes.len() == 1 && self.indexes[0] == p {
            0
        } else {
            self.indexes
                .binary_search(&p)
                .unwrap_or_else(|_| panic!("partition {p} is not held"))
        };
        &mut self.guards[i]
    }

    /// The lowest held partition: identifies this holder while it holds.
    pub(crate) fn tag(&self) -> usize {
        self.indexes[0]
    }

    /// From now on every commit made under this hold appends its effects (one part per
    /// partition it changed, see [`crate::effects`]) to `buf`; [`Held::take_effects`] gives the
    /// buffer back.
    pub fn record_effects(&mut self, buf: Vec<u8>) {
        self.effects = Some(buf);
    }

    /// The buffer given to [`Held::record_effects`], with the effects appended since.
    pub fn take_effects(&mut self) -> Option<Vec<u8>> {
        self.effects.take()
    }

    /// The earliest pending-transfer expiry among the held partitions (ns).
    pub fn next_expiry(&self) -> Option<u64> {
        self.guards.iter().filter_map(|g| g.next_expiry()).min()
    }
}

impl Ledger {
    pub fn new(config: LedgerConfig) -> Result<Ledger, String> {
        if config.partitions == 0 || config.partitions > MAX_PARTITIONS {
            return Err(format!(
                "partitions must be 1..={MAX_PARTITIONS}, not {}",
                config.partitions
            ));
        }
        if config.max_accounts == 0 || config.max_transfers == 0 {
            return Err("max_accounts and max_transfers must be at least 1".into());
        }
        let p = config.partitions;
        let accounts = RecordTable::new(config.max_accounts, config.prefault)?;
        Ok(Ledger {
            account_meta: AccountMeta::new(accounts.slots(), config.prefault)?,
            accounts,
            transfers: TransferTable::new(config.max_transfers, p, config.prefault)?,
            lists: ListArena::new(config.max_transfers, config.prefault)?,
            attempts: AtomicU64::new(0),
            accounts_used: AtomicUsize::new(0),
            transfers_used: AtomicUsize::new(0),
            clock: Padded(AtomicU64::new(0)),
            last_account_timestamp: AtomicU64::new(0),
            last_transfer_timestamp: AtomicU64::new(0),
            commit_seq: (0..p).map(|_| Padded(AtomicU64::new(0))).collect(),
            effect_seq: (0..p).map(|_| Padded(AtomicU64::new(0))).collect(),
            holder_tag: (0..p).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            partitions: (0..p).map(|i| Mutex::new(Partition::new(i))).collect(),
            config,
        })
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    pub fn partition_count(&self) -> usize {
        self.config.partitions
    }

    /// The partition that owns `ledger`.
    #[inline(always)]
    pub fn partition_of(&self, ledger: u32) -> usize {
        if self.config.partitions == 1 {
            return 0;
        }
        partition_of_ledger(ledger, self.config.partitions)
    }

    /// Holds `partitions` (any order, duplicates allowed), blocking while another holder has
    /// one of them. Locks are taken in ascending order, so holders never deadlock.
    pub fn lock(&self, partitions: &[usize]) -> Held<'_> {
        let mut indexes: Vec<usize> = partitions.to_vec();
        indexes.sort_unstable();
        indexes.dedup();
        assert!(!indexes.is_empty(), "hold at least one partition");
        assert!(
            *indexes.last().unwrap_or(&0) < self.config.partitions,
            "partition out of range"
        );
        let guards = indexes.iter().map(|&p| self.partitions[p].lock()).collect();
        let tag = indexes[0];
        for &p in &indexes {
            self.holder_tag[p].store(tag, Ordering::Release);
        }
        Held {
            ledger: self,
            indexes,
            guards,
            effects: None,
        }
    }

    /// Holds every partition (the slow path: imported batches, whole-ledger checks).
    pub fn lock_all(&self) -> Held<'_> {
        let all: Vec<usize> = (0..self.config.partitions).collect();
        self.lock(&all)
    }

    /// Reserves `n` consecutive timestamps, the first `>= now` and after every earlier one.
    pub(crate) fn reserve_timestamps(&self, now: u64, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut last = self.clock.0.load(Ordering::Relaxed);
        loop {
            let base = now.max(last + 1);
            match self.clock.0.compare_exchange_weak(
                last,
                base + n - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return base,
                Err(seen) => last = seen,
            }
        }
    }

    /// Each partition's newest effects `seq` (0: none yet), into `out`. A reader that saw a
    /// batch's effects and loads these afterwards gets at least that batch's seq: the holder
    /// stores it before the commit that makes the effects visible.
    pub fn effect_seqs(&self, out: &mut Vec<u64>) {
        out.clear();
        out.extend(self.effect_seq.iter().map(|s| s.0.load(Ordering::Acquire)));
    }

    /// Opens the commit window of the held partitions (readers retry meanwhile).
    pub(crate) fn open_commit(&self, held: &[usize]) {
        for &p in held {
            let s = self.commit_seq[p].0.load(Ordering::Relaxed);
            debug_assert!(s % 2 == 0);
            self.commit_seq[p].0.store(s + 1, Ordering::Relaxed);
        }
        fence(Ordering::Release);
    }

    pub(crate) fn close_commit(&self, held: &[usize]) {
        for &p in held {
            let s = self.commit_seq[p].0.load(Ordering::Relaxed);
            debug_assert!(s % 2 == 1);
            self.commit_seq[p].0.store(s + 1, Ordering::Release);
        }
    }

    /// Records in use (live, orphaned, rolled back) in the accounts and transfers tables.
    pub fn usage(&self) -> (usize, usize) {
        (
            self.accounts_used.load(Ordering::Relaxed),
            self.transfers_used.load(Ordering::Relaxed),
        )
    }

    /// Reserves `n` slots of a table for a batch, or says it is full.
    pub(crate) fn reserve(used: &AtomicUsize, n: usize, capacity: usize) -> bool {
        let before = used.fetch_add(n, Ordering::AcqRel);
        if before + n > capacity {
            used.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }
}
