//! Executing one batch while holding its partitions: the overlay of changed accounts, the undo
//! log that rolls a linked chain back, the commit that makes a batch visible at once, and the
//! linked-chain driver shared by create_accounts and create_transfers.
//!
//! Isolation. Nothing a batch does is visible to readers before its commit: inserted records
//! carry UNCOMMITTED, and changed account balances live in `overlay` until `commit` writes them
//! inside the held partitions' commit windows. A chain that fails is undone in the overlay
//! (inserted records become tombstones), so no reader ever sees it.
//!
//! Meeting another batch's uncommitted id. Two holders may race on one id (ids are unique
//! across partitions). The holder with the lower tag (its lowest partition) waits for the other
//! to settle; the higher one aborts its whole attempt, waits, and runs again. Waits therefore
//! only go from lower to higher tags: no cycle, no deadlock.

use crate::ledger::{Held, Ledger};
use crate::partition::{Entry, HistoryRow, PendingState};
use crate::status::{CreateAccountStatus, CreateTransferStatus};
use crate::table::{header, Probe, RecordTable};
use crate::types::{Account, AccountBalance, CreateResult, Transfer};
use crate::{flags, partition::Map};
use std::sync::atomic::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Account,
    Transfer,
}

/// Why an attempt stopped before finishing; it is undone completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// Another holder's uncommitted record with this id: wait for it, then run again.
    Conflict(Kind, u32),
    /// An event needs a partition the caller does not hold.
    NeedPartition(usize),
}

enum Undo {
    /// The overlay value of an account before a change (None: it was not in the overlay).
    Account(u32, Option<Account>),
    Pending {
        partition: usize,
        slot: u32,
        before: Option<PendingState>,
    },
    Insert(Kind, u32),
    LastAccountTimestamp(u64),
    LastTransferTimestamp(u64),
}

/// Where an attempt stood at the start of a chain.
#[derive(Clone, Copy)]
pub(crate) struct Checkpoint {
    undo: usize,
    accounts: usize,
    transfers: usize,
    history: usize,
}

pub(crate) struct CreatedAccount {
    pub partition: usize,
    pub entry: Entry,
    pub user_data: (u128, u64, u32),
}

pub(crate) struct CreatedTransfer {
    pub partition: usize,
    pub entry: Entry,
    pub user_data: (u128, u64, u32),
    pub debit_slot: u32,
    pub credit_slot: u32,
    pub expires_at: Option<u64>,
    /// How many rows of `Exec::history` belong to this transfer (accounts with `history`).
    pub history_rows: u8,
}

/// An account as the executing batch sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccountView {
    pub slot: u32,
    pub partition: usize,
    pub account: Account,
}

pub(crate) struct Exec<'h, 'a> {
    pub held: &'h mut Held<'a>,
    pub ledger: &'a Ledger,
    overlay: Map<u32, Account>,
    undo: Vec<Undo>,
    /// Every record this attempt inserted (live or orphan), to commit or tombstone.
    inserted: Vec<(Kind, u32)>,
    pub created_accounts: Vec<CreatedAccount>,
    pub created_transfers: Vec<CreatedTransfer>,
    /// Balance rows of created transfers, in order: (account slot, balances after). Kept apart
    /// from `created_transfers` so the common case (no `history` accounts) moves small entries.
    pub history: Vec<(u32, AccountBalance)>,
    /// This batch's view of the latest account / transfer timestamps.
    pub last_account_timestamp: u64,
    pub last_transfer_timestamp: u64,
    /// Inside a linked chain: changes are logged so the chain can be undone. Outside one
    /// nothing is ever undone except by aborting the whole attempt, which drops the overlay
    /// and tombstones every insert without the log, so the log (128+ bytes per account
    /// change) is skipped there.
    in_chain: bool,
}

impl<'h, 'a> Exec<'h, 'a> {
    pub fn new(held: &'h mut Held<'a>) -> Exec<'h, 'a> {
        let ledger = held.ledger;
        // Reuse the previous batch's buffers: allocating them afresh costs page faults on
        // every batch (they reach megabytes).
        let tag = held.tag();
        let b = held.part(tag).buffers.take().unwrap_or_default();
        Exec {
            held,
            ledger,
            overlay: b.overlay,
            undo: b.undo,
            inserted: b.inserted,
            created_accounts: b.created_accounts,
            created_transfers: b.created_transfers,
            history: b.history,
            last_account_timestamp: ledger.last_account_timestamp.load(Ordering::Acquire),
            last_transfer_timestamp: ledger.last_transfer_timestamp.load(Ordering::Acquire),
            in_chain: false,
        }
    }

    /// Hands the (cleared) buffers back to the first held partition for the next batch.
    fn recycle(&mut self) {
        let mut b = Buffers {
            overlay: std::mem::take(&mut self.overlay),
            undo: std::mem::take(&mut self.undo),
            inserted: std::mem::take(&mut self.inserted),
            created_accounts: std::mem::take(&mut self.created_accounts),
            created_transfers: std::mem::take(&mut self.created_transfers),
            history: std::mem::take(&mut self.history),
        };
        b.clear();
        let tag = self.held.tag();
        self.held.part(tag).buffers = Some(b);
    }

    /// Records claimed by this attempt (they occupy table slots whatever happens next).
    pub fn claims(&self, kind: Kind) -> usize {
        self.inserted.iter().filter(|(k, _)| *k == kind).count()
    }

    fn table(&self, kind: Kind) -> &'a RecordTable {
        match kind {
            Kind::Account => &self.ledger.accounts,
            Kind::Transfer => &self.ledger.transfers,
        }
    }

    pub fn need(&self, partition: usize) -> Result<(), Abort> {
        if self.held.holds(partition) {
            Ok(())
        } else {
            Err(Abort::NeedPartition(partition))
        }
    }

    /// Looks `id` up in a table as this batch sees it, settling any foreign uncommitted record.
    pub fn probe(&self, kind: Kind, id: u128) -> Result<Probe, Abort> {
        let table = self.table(kind);
        loop {
            let held = &*self.held;
            match table.probe(id, |p| held.holds(p)) {
                Probe::Foreign(slot) => {
                    let their = self.ledger.holder_tag[header::partition(table.header_of(slot))]
                        .load(Ordering::Acquire);
                    if their < self.held.tag() {
                        return Err(Abort::Conflict(kind, slot));
                    }
                    table.wait_settled(slot);
                }
                other => return Ok(other),
            }
        }
    }

    /// The account `id`, if it exists (for this batch).
    pub fn account(&self, id: u128) -> Result<Option<AccountView>, Abort> {
        let Probe::Live(slot) = self.probe(Kind::Account, id)? else {
            return Ok(None);
        };
        let partition = header::partition(self.ledger.accounts.header_of(slot));
        let account = if self.held.holds(partition) {
            match self.overlay.get(&slot) {
                Some(a) => *a,
                None => self.ledger.accounts.read_owned(slot),
            }
        } else {
            self.ledger.accounts.read::<Account>(slot).0
        };
        debug_assert_eq!(account.id, id);
        Ok(Some(AccountView {
            slot,
            partition,
            account,
        }))
    }

    /// The transfer at a live slot.
    pub fn transfer_at(&self, slot: u32) -> Transfer {
        self.ledger.transfers.read::<Transfer>(slot).0
    }

    /// Changes an account of a held partition (undoably).
    pub fn set_account(&mut self, view: &AccountView, account: Account) {
        debug_assert!(self.held.holds(view.partition));
        debug_assert_eq!(account.id, view.account.id);
        let before = self.overlay.insert(view.slot, account);
        if self.in_chain {
            self.undo.push(Undo::Account(view.slot, before));
        }
    }

    pub fn pending_state(&mut self, partition: usize, slot: u32) -> Option<PendingState> {
        self.held.part(partition).pending.get(&slot).copied()
    }

    pub fn set_pending_state(&mut self, partition: usize, slot: u32, state: PendingState) {
        let before = self.held.part(partition).pending.insert(slot, state);
        self.undo.push(Undo::Pending {
            partition,
            slot,
            before,
        });
    }

    /// Inserts a record (uncommitted) at the slot a probe found absent; `Ok(false)` when the id
    /// was claimed meanwhile by another holder (probe again).
    #[allow(clippy::too_many_arguments)] // a table claim has this many facets; a struct would only rename them
    pub fn insert<R: crate::types::Record>(
        &mut self,
        kind: Kind,
        at: u32,
        id: u128,
        record: &R,
        state: u64,
        partition: usize,
        undoable: bool,
    ) -> bool {
        if self
            .table(kind)
            .insert(at, id, record, state, partition)
            .is_err()
        {
            return false;
        }
        self.inserted.push((kind, at));
        if undoable && self.in_chain {
            self.undo.push(Undo::Insert(kind, at));
        }
        true
    }

    pub fn set_last_account_timestamp(&mut self, ts: u64) {
        if self.in_chain {
            self.undo
                .push(Undo::LastAccountTimestamp(self.last_account_timestamp));
        }
        self.last_account_timestamp = ts;
    }

    pub fn set_last_transfer_timestamp(&mut self, ts: u64) {
        if self.in_chain {
            self.undo
                .push(Undo::LastTransferTimestamp(self.last_transfer_timestamp));
        }
        self.last_transfer_timestamp = ts;
    }

    /// Starts a linked chain: from here changes are logged until [`Exec::end_chain`].
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.in_chain = true;
        Checkpoint {
            undo: self.undo.len(),
            accounts: self.created_accounts.len(),
            transfers: self.created_transfers.len(),
            history: self.history.len(),
        }
    }

    /// Undoes everything since `cp` (orphaned ids stay: they are not in the undo log).
    pub fn rollback(&mut self, cp: Checkpoint) {
        while self.undo.len() > cp.undo {
            match self.undo.pop() {
                Some(Undo::Account(slot, before)) => match before {
                    Some(a) => {
                        self.overlay.insert(slot, a);
                    }
                    None => {
                        self.overlay.remove(&slot);
                    }
                },
                Some(Undo::Pending {
                    partition,
                    slot,
                    before,
                }) => {
                    let part = self.held.part(partition);
                    match before {
                        Some(s) => part.pending.insert(slot, s),
                        None => part.pending.remove(&slot),
                    };
                }
                Some(Undo::Insert(kind, slot)) => self.table(kind).tombstone(slot),
                Some(Undo::LastAccountTimestamp(ts)) => self.last_account_timestamp = ts,
                Some(Undo::LastTransferTimestamp(ts)) => self.last_transfer_timestamp = ts,
                None => break,
            }
        }
        self.created_accounts.truncate(cp.accounts);
        self.created_transfers.truncate(cp.transfers);
        self.history.truncate(cp.history);
    }

    pub fn end_chain(&mut self) {
        self.in_chain = false;
    }

    /// Undoes the whole attempt, orphaned ids included.
    pub fn abort(mut self) {
        // Account changes outside chains were not logged: drop them all below (nothing of
        // the overlay was ever visible).
        self.rollback(Checkpoint {
            undo: 0,
            accounts: 0,
            transfers: 0,
            history: 0,
        });
        for &(kind, slot) in &self.inserted {
            let table = self.table(kind);
            if table.header_of(slot) & header::UNCOMMITTED != 0 {
                table.tombstone(slot);
            }
        }
        self.overlay.clear();
        self.recycle();
    }

    /// Makes the attempt's effects visible at once, then updates the partitions' indexes.
    pub fn commit(mut self) {
        let ledger = self.ledger;
        let held: Vec<usize> = self.held.partitions().to_vec();
        ledger.open_commit(&held);
        for (&slot, account) in &self.overlay {
            ledger.accounts.write(slot, account);
        }
        for &(kind, slot) in &self.inserted {
            let table = self.table(kind);
            if table.header_of(slot) & header::UNCOMMITTED != 0 {
                table.commit(slot);
            }
        }
        ledger.close_commit(&held);
        ledger
            .last_account_timestamp
            .fetch_max(self.last_account_timestamp, Ordering::AcqRel);
        ledger
            .last_transfer_timestamp
            .fetch_max(self.last_transfer_timestamp, Ordering::AcqRel);

        let mut created_accounts = std::mem::take(&mut self.created_accounts);
        for c in created_accounts.drain(..) {
            let (u128_, u64_, u32_) = c.user_data;
            self.held
                .part(c.partition)
                .accounts
                .push(c.entry, u128_, u64_, u32_);
        }
        self.created_accounts = created_accounts;
        let mut history = std::mem::take(&mut self.history);
        let mut rows = history.drain(..);
        let mut created_transfers = std::mem::take(&mut self.created_transfers);
        for c in created_transfers.drain(..) {
            let part = self.held.part(c.partition);
            let (u128_, u64_, u32_) = c.user_data;
            part.transfers.push(c.entry, u128_, u64_, u32_);
            part.account_transfers
                .entry(c.debit_slot)
                .or_default()
                .push(c.entry);
            part.account_transfers
                .entry(c.credit_slot)
                .or_default()
                .push(c.entry);
            for (account_slot, balance) in rows.by_ref().take(c.history_rows.into()) {
                part.account_history
                    .entry(account_slot)
                    .or_default()
                    .push(HistoryRow {
                        slot: c.entry.slot,
                        balance,
                    });
            }
            if let Some(at) = c.expires_at {
                part.expiry.push(std::cmp::Reverse((at, c.entry.slot)));
            }
        }
        drop(rows);
        self.history = history;
        self.created_transfers = created_transfers;
        self.recycle();
    }
}

/// An attempt's working memory, kept by a partition between batches.
#[derive(Default)]
pub(crate) struct Buffers {
    overlay: Map<u32, Account>,
    undo: Vec<Undo>,
    inserted: Vec<(Kind, u32)>,
    created_accounts: Vec<CreatedAccount>,
    created_transfers: Vec<CreatedTransfer>,
    history: Vec<(u32, AccountBalance)>,
}

impl Buffers {
    fn clear(&mut self) {
        self.overlay.clear();
        self.undo.clear();
        self.inserted.clear();
        self.created_accounts.clear();
        self.created_transfers.clear();
        self.history.clear();
    }
}

/// A create event: what the chain driver needs to know about it.
pub(crate) trait Event {
    fn linked(&self) -> bool;
    fn imported(&self) -> bool;
    fn timestamp(&self) -> u64;
}

impl Event for Account {
    fn linked(&self) -> bool {
        self.flags & flags::account::LINKED != 0
    }
    fn imported(&self) -> bool {
        self.flags & flags::account::IMPORTED != 0
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

impl Event for Transfer {
    fn linked(&self) -> bool {
        self.flags & flags::transfer::LINKED != 0
    }
    fn imported(&self) -> bool {
        self.flags & flags::transfer::IMPORTED != 0
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// The statuses the chain driver itself produces, per record type.
pub(crate) trait Status: Copy + PartialEq {
    const CREATED: Self;
    const LINKED_EVENT_FAILED: Self;
    const LINKED_EVENT_CHAIN_OPEN: Self;
    const IMPORTED_EVENT_EXPECTED: Self;
    const IMPORTED_EVENT_NOT_EXPECTED: Self;
    const TIMESTAMP_MUST_BE_ZERO: Self;
    const OUT_OF_RANGE: Self;
    const MUST_NOT_ADVANCE: Self;
    fn code(self) -> u32;
}

macro_rules! chain_statuses {
    ($t:ty, $range:ident, $advance:ident) => {
        impl Status for $t {
            const CREATED: Self = <$t>::Created;
            const LINKED_EVENT_FAILED: Self = <$t>::LinkedEventFailed;
            const LINKED_EVENT_CHAIN_OPEN: Self = <$t>::LinkedEventChainOpen;
            const IMPORTED_EVENT_EXPECTED: Self = <$t>::ImportedEventExpected;
            const IMPORTED_EVENT_NOT_EXPECTED: Self = <$t>::ImportedEventNotExpected;
            const TIMESTAMP_MUST_BE_ZERO: Self = <$t>::TimestampMustBeZero;
            const OUT_OF_RANGE: Self = <$t>::$range;
            const MUST_NOT_ADVANCE: Self = <$t>::$advance;
            fn code(self) -> u32 {
                self as u32
            }
        }
    };
}
chain_statuses!(
    CreateAccountStatus,
    ImportedEventTimestampOutOfRange,
    ImportedEventTimestampMustNotAdvance
);
chain_statuses!(
    CreateTransferStatus,
    ImportedEventTimestampOutOfRange,
    ImportedEventTimestampMustNotAdvance
);

/// Largest valid timestamp (2^63 - 1).
pub(crate) const TIMESTAMP_MAX: u64 = (1 << 63) - 1;

/// Runs a batch's events in order with TigerBeetle's chain rules. `eval` runs one event's own
/// checks and effects given its assigned timestamp and returns (status, result timestamp).
pub(crate) fn run_chains<E: Event, S: Status>(
    ex: &mut Exec<'_, '_>,
    events: &[E],
    base: u64,
    results: &mut Vec<CreateResult>,
    mut eval: impl FnMut(&mut Exec<'_, '_>, &E, u64) -> Result<(S, u64), Abort>,
) -> Result<(), Abort> {
    let start = results.len();
    let n = events.len();
    let batch_imported = events.first().is_some_and(|e| e.imported());
    let mut chain: Option<(usize, Checkpoint)> = None;
    let mut broken = false;
    for (i, e) in events.iter().enumerate() {
        let ts = base + i as u64;
        if chain.is_none() && e.linked() {
            chain = Some((i, ex.checkpoint()));
            broken = false;
        }
        let (status, result_ts) = if e.linked() && i == n - 1 {
            (S::LINKED_EVENT_CHAIN_OPEN, ts)
        } else if broken {
            (S::LINKED_EVENT_FAILED, ts)
        } else if e.imported() != batch_imported {
            (
                if batch_imported {
                    S::IMPORTED_EVENT_EXPECTED
                } else {
                    S::IMPORTED_EVENT_NOT_EXPECTED
                },
                ts,
            )
        } else if e.imported() && (e.timestamp() == 0 || e.timestamp() > TIMESTAMP_MAX) {
            (S::OUT_OF_RANGE, ts)
        } else if e.imported() && e.timestamp() >= ts {
            (S::MUST_NOT_ADVANCE, ts)
        } else if !e.imported() && e.timestamp() != 0 {
            (S::TIMESTAMP_MUST_BE_ZERO, ts)
        } else {
            eval(ex, e, ts)?
        };
        results.push(CreateResult {
            timestamp: result_ts,
            status: status.code(),
            reserved: 0,
        });
        if let Some((chain_start, cp)) = chain {
            if status != S::CREATED && !broken {
                broken = true;
                ex.rollback(cp);
                for (k, r) in results[start + chain_start..start + i]
                    .iter_mut()
                    .enumerate()
                {
                    *r = CreateResult {
                        timestamp: base + (chain_start + k) as u64,
                        status: S::LINKED_EVENT_FAILED.code(),
                        reserved: 0,
                    };
                }
            }
        }
        if !e.linked() {
            if chain.take().is_some() {
                ex.end_chain();
            }
            broken = false;
        }
    }
    Ok(())
}
