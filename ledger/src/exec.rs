//! Executing one batch while holding its partitions: the working set of changed accounts, the
//! undo log that rolls a linked chain back, the commit that makes a batch visible at once, and
//! the linked-chain driver shared by create_accounts and create_transfers.
//!
//! Isolation. Nothing a batch does is visible to readers before its commit: inserted records
//! and index entries carry UNCOMMITTED, appended transfers sit past their partition's committed
//! log, and changed account balances live in the working set (`ws`) until `commit` writes them
//! inside the held partitions' commit windows. Account transfer lists are appended to by the
//! commit (index reads, which see them, hold the partition). A chain that fails is undone in
//! the working set (inserted entries become tombstones, appended records are dropped, its list
//! appends are forgotten), so no reader ever sees it.
//!
//! The working set. An account a batch touches is copied once into `ws`; the account's
//! owner-side stamp (`AccountMeta`) records the attempt and the copy's index, so every later
//! touch in the batch is one array load, and changes are made in place.
//!
//! Meeting another batch's uncommitted id. Two holders may race on one id (ids are unique
//! across partitions). The holder with the lower tag (its lowest partition) waits for the other
//! to settle; the higher one aborts its whole attempt, waits, and runs again. Waits therefore
//! only go from lower to higher tags: no cycle, no deadlock.

use crate::effects::{mark_last_of_commit, PartWriter};
use crate::flags;
use crate::ledger::{Held, Ledger};
use crate::partition::{Entry, HistoryRow, Partition, PendingState};
use crate::status::{CreateAccountStatus, CreateTransferStatus};
use crate::table::account_meta::{AccountMeta, OwnerLine};
use crate::table::lists::ListArena;
use crate::table::transfers::{self as tt, TProbe};
use crate::table::{header, AccountState, Probe};
use crate::types::{Account, AccountBalance, CreateResult, Transfer};
use std::sync::atomic::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Account,
    Transfer,
}

/// Why an attempt stopped before finishing; it is undone completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// Another holder's uncommitted record with this id (account slot or transfer index
    /// position): wait for it, then run again.
    Conflict(Kind, u32),
    /// An event needs a partition the caller does not hold.
    NeedPartition(usize),
}

enum Undo {
    /// A working-set account's state before a change.
    Account(u32, Box<AccountState>),
    Pending {
        partition: usize,
        slot: u32,
        before: Option<PendingState>,
    },
    /// An inserted account (table slot).
    InsertAccount(u32),
    /// A transfer appended to `partition`'s log and indexed at `pos`.
    InsertTransfer {
        partition: usize,
        pos: u32,
    },
    LastAccountTimestamp(u64),
    LastTransferTimestamp(u64),
}

/// Where an attempt stood at the start of a chain.
#[derive(Clone, Copy)]
pub(crate) struct Checkpoint {
    undo: usize,
    list_appends: usize,
    accounts: usize,
    transfers: usize,
    history: usize,
}

pub(crate) struct CreatedAccount {
    pub partition: usize,
    pub entry: Entry,
    pub user_data: (u128, u64, u32),
}

/// What commit still has to do for a created transfer with user data, a timeout or accounts
/// that keep history: those indexes. (The record is in the log already, and the accounts'
/// transfer lists were appended to when it was created.) Most transfers need none.
#[derive(Clone, Copy)]
pub(crate) struct CreatedTransfer {
    pub slot: u32,
    pub partition: u16,
    /// [`CreatedTransfer::USER_DATA`] | [`CreatedTransfer::EXPIRES`].
    pub extra: u8,
    /// How many rows of `Exec::history` belong to this transfer (accounts with `history`).
    pub history_rows: u8,
}

impl CreatedTransfer {
    /// The record has non-zero user data (index it).
    pub const USER_DATA: u8 = 1;
    /// A pending transfer with a timeout (arm its expiry).
    pub const EXPIRES: u8 = 2;
}

/// A handle on an account in the working set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Acct {
    pub ws: u32,
    pub partition: usize,
}

/// An account as the executing batch sees it: its state (what transfers read and change,
/// copied from the table when the batch first meets the account) and where it lives. 96
/// bytes: a whole record's copy made this 144, and most of it (id, user data, timestamp)
/// never changes; [`Exec::record`] reads those from the table when they are needed.
pub(crate) struct WorkingAccount {
    pub state: AccountState,
    pub slot: u32,
    /// The account's list id in its partition (u32::MAX for an account of a partition the
    /// batch does not hold: it is only read).
    pub list: u32,
    pub partition: u16,
    pub held: bool,
    pub dirty: bool,
}

pub(crate) struct Exec<'h, 'a> {
    pub held: &'h mut Held<'a>,
    pub ledger: &'a Ledger,
    /// This attempt's working-set stamp.
    epoch: u64,
    /// The held partitions as a bit set (the fast path's `holds`).
    held_mask: [u64; 4],
    /// The only held partition, when there is one (most batches).
    single: Option<usize>,
    pub ws: Vec<WorkingAccount>,
    undo: Vec<Undo>,
    /// The created transfers to append to their accounts' lists, in order: commit makes
    /// the appends (see [`ListAppend`]), a chain's rollback truncates this.
    list_appends: Vec<ListAppend>,
    /// `list_appends[unwritten..]` may hold transfers the fast path created without writing
    /// their log records yet (see [`Exec::write_deferred_records`]).
    unwritten: usize,
    /// Accounts (table slots), transfers and burned ids (index positions) this attempt
    /// inserted, to commit or tombstone.
    inserted_accounts: Vec<u32>,
    inserted_transfers: Vec<u32>,
    inserted_orphans: Vec<u32>,
    /// The ids burned by this attempt, and the pending transfers it expired (partition, id):
    /// effects for the write-ahead log.
    burned: Vec<u128>,
    expired: Vec<(usize, u128)>,
    /// Each held partition's log length when the attempt started (an abort truncates to it).
    log_start: Vec<usize>,
    pub created_accounts: Vec<CreatedAccount>,
    pub created_transfers: Vec<CreatedTransfer>,
    /// Balance rows of created transfers, in order: (account list id, balances after).
    pub history: Vec<(u32, AccountBalance)>,
    /// This batch's view of the latest account / transfer timestamps.
    pub last_account_timestamp: u64,
    pub last_transfer_timestamp: u64,
    /// Inside a linked chain: changes are logged so the chain can be undone. Outside one
    /// nothing is ever undone except by aborting the whole attempt, which drops the working
    /// set and tombstones every insert without the log, so the log is skipped there.
    in_chain: bool,
}

impl<'h, 'a> Exec<'h, 'a> {
    pub fn new(held: &'h mut Held<'a>) -> Exec<'h, 'a> {
        let ledger = held.ledger;
        // Reuse the previous batch's buffers: allocating them afresh costs page faults on
        // every batch (they reach megabytes).
        let tag = held.tag();
        let b = held.part(tag).buffers.take().unwrap_or_default();
        let mut log_start = b.log_start;
        log_start.clear();
        for g in &held.guards {
            log_start.push(g.log.len());
        }
        let mut held_mask = [0u64; 4];
        for &p in &held.indexes {
            held_mask[p / 64] |= 1 << (p % 64);
        }
        let single = (held.indexes.len() == 1).then(|| held.indexes[0]);
        Exec {
            held,
            ledger,
            epoch: ledger.attempts.fetch_add(1, Ordering::Relaxed) + 1,
            held_mask,
            single,
            ws: b.ws,
            undo: b.undo,
            list_appends: b.list_appends,
            unwritten: 0,
            inserted_accounts: b.inserted_accounts,
            inserted_transfers: b.inserted_transfers,
            inserted_orphans: b.inserted_orphans,
            burned: b.burned,
            expired: b.expired,
            log_start,
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
            ws: std::mem::take(&mut self.ws),
            undo: std::mem::take(&mut self.undo),
            list_appends: std::mem::take(&mut self.list_appends),
            inserted_accounts: std::mem::take(&mut self.inserted_accounts),
            inserted_transfers: std::mem::take(&mut self.inserted_transfers),
            inserted_orphans: std::mem::take(&mut self.inserted_orphans),
            burned: std::mem::take(&mut self.burned),
            expired: std::mem::take(&mut self.expired),
            log_start: std::mem::take(&mut self.log_start),
            created_accounts: std::mem::take(&mut self.created_accounts),
            created_transfers: std::mem::take(&mut self.created_transfers),
            history: std::mem::take(&mut self.history),
        };
        b.clear();
        let tag = self.held.tag();
        self.held.part(tag).buffers = Some(b);
    }

    /// Records claimed by this attempt (they occupy table entries whatever happens next).
    pub fn claims(&self, kind: Kind) -> usize {
        match kind {
            Kind::Account => self.inserted_accounts.len(),
            Kind::Transfer => self.inserted_transfers.len() + self.inserted_orphans.len(),
        }
    }

    /// Whether the attempt holds partition `p`.
    #[inline(always)]
    pub fn holds(&self, p: usize) -> bool {
        match self.single {
            Some(only) => p == only,
            None => self
                .held_mask
                .get(p / 64)
                .is_some_and(|w| w & (1 << (p % 64)) != 0),
        }
    }

    pub fn need(&self, partition: usize) -> Result<(), Abort> {
        if self.holds(partition) {
            Ok(())
        } else {
            Err(Abort::NeedPartition(partition))
        }
    }

    /// Decides what to do about another holder's uncommitted record: the lower tag waits
    /// (returns Ok after the record settled, probe again), the higher one aborts.
    fn settle_foreign(&self, partition: usize, kind: Kind, at: u32) -> Result<(), Abort> {
        let their = self.ledger.holder_tag[partition].load(Ordering::Acquire);
        if their < self.held.tag() {
            return Err(Abort::Conflict(kind, at));
        }
        match kind {
            Kind::Account => self.ledger.accounts.wait_settled(at),
            Kind::Transfer => self.ledger.transfers.wait_settled(at),
        }
        Ok(())
    }

    /// Looks an account id up as this batch sees it, settling any foreign uncommitted record.
    pub fn probe_account(&self, id: u128) -> Result<Probe, Abort> {
        let table = &self.ledger.accounts;
        loop {
            let held = &*self.held;
            match table.probe(id, |p| held.holds(p)) {
                Probe::Foreign(slot) => {
                    let p = header::partition(table.header_of(slot));
                    self.settle_foreign(p, Kind::Account, slot)?;
                }
                other => return Ok(other),
            }
        }
    }

    /// Looks a transfer id up as this batch sees it, settling any foreign uncommitted entry.
    #[inline]
    pub fn probe_transfer(&self, id: u128) -> Result<TProbe, Abort> {
        debug_assert!(
            self.all_written(),
            "the batch's records are written before it reads any"
        );
        let table = &self.ledger.transfers;
        loop {
            let held = &*self.held;
            match table.probe(id, |p| held.holds(p)) {
                TProbe::Foreign { pos } => {
                    let p = tt::partition(table.entry_at(pos));
                    self.settle_foreign(p, Kind::Transfer, pos)?;
                }
                other => return Ok(other),
            }
        }
    }

    /// The account `id`, if it exists (for this batch), as a handle into the working set.
    #[inline]
    pub fn account(&mut self, id: u128) -> Result<Option<Acct>, Abort> {
        let Probe::Live(slot) = self.probe_account(id)? else {
            return Ok(None);
        };
        let line = self.ledger.account_meta.line(slot);
        if let Some(ws) = line.working(self.epoch) {
            let w = &self.ws[ws as usize];
            debug_assert_eq!(w.slot, slot);
            return Ok(Some(Acct {
                ws,
                partition: usize::from(w.partition),
            }));
        }
        let accounts = &self.ledger.accounts;
        let partition = header::partition(accounts.header_of(slot));
        let held = self.held.holds(partition);
        let ws = self.ws.len() as u32;
        let (state, list) = if held {
            // Only the holder writes an account: no retry needed. Accounts inserted by this
            // attempt have no list yet; they are not in transfers of the same attempt.
            line.set_working(self.epoch, ws);
            (
                accounts.read_account_state(slot),
                line.list().unwrap_or(u32::MAX),
            )
        } else {
            (
                AccountState::of(&accounts.read::<Account>(slot).0),
                u32::MAX,
            )
        };
        debug_assert_eq!(accounts.id_at(slot), id);
        self.ws.push(WorkingAccount {
            state,
            slot,
            list,
            partition: partition as u16,
            held,
            dirty: false,
        });
        Ok(Some(Acct { ws, partition }))
    }

    /// The fast path's account lookup: a committed account of a held partition (whose id has
    /// `hash`), or None when anything is unusual (the general path then decides).
    #[inline(always)]
    pub fn account_fast(&mut self, id: u128, hash: u64) -> Option<Acct> {
        let (slot, h) = self.ledger.accounts.find_live(id, hash)?;
        let partition = header::partition(h);
        if !self.holds(partition) {
            return None;
        }
        let line = self.ledger.account_meta.line(slot);
        if let Some(ws) = line.working(self.epoch) {
            return Some(Acct { ws, partition });
        }
        Some(self.first_touch(slot, partition, line))
    }

    /// Copies an account of a held partition (owner words `line`) into the working set.
    #[inline(always)]
    fn first_touch(&mut self, slot: u32, partition: usize, line: OwnerLine<'_>) -> Acct {
        let ws = self.ws.len() as u32;
        line.set_working(self.epoch, ws);
        self.ws.push(WorkingAccount {
            state: self.ledger.accounts.read_account_state(slot),
            slot,
            list: line.list().unwrap_or(u32::MAX),
            partition: partition as u16,
            held: true,
            dirty: false,
        });
        Acct { ws, partition }
    }

    /// The working state of an account.
    #[inline(always)]
    pub fn get(&self, a: Acct) -> &AccountState {
        &self.ws[a.ws as usize].state
    }

    /// The working state of an account of a held partition, to change (undoably).
    #[inline(always)]
    pub fn get_mut(&mut self, a: Acct) -> &mut AccountState {
        let w = &mut self.ws[a.ws as usize];
        debug_assert!(w.held, "only accounts of held partitions change");
        if self.in_chain {
            self.undo.push(Undo::Account(a.ws, Box::new(w.state)));
        }
        w.dirty = true;
        &mut w.state
    }

    /// The whole account as this batch sees it: the table's record with the working state.
    pub fn record(&self, a: Acct) -> Account {
        let w = &self.ws[a.ws as usize];
        let accounts = &self.ledger.accounts;
        let record = if w.held {
            accounts.read_owned(w.slot)
        } else {
            accounts.read::<Account>(w.slot).0
        };
        w.state.applied_to(record)
    }

    /// The account's list id (accounts of held partitions, created by an earlier batch).
    #[inline(always)]
    pub fn list(&self, a: Acct) -> u32 {
        self.ws[a.ws as usize].list
    }

    /// Notes that the transfer at log `entry` goes to the lists of its accounts, the debit
    /// `dr` and the credit `cr` (of held partitions, created by earlier batches), when the
    /// attempt commits.
    #[inline(always)]
    pub fn append_to_lists(&mut self, dr: Acct, cr: Acct, entry: u32) {
        let (d, c) = (&self.ws[dr.ws as usize], &self.ws[cr.ws as usize]);
        debug_assert!(d.held && d.list != u32::MAX && c.held && c.list != u32::MAX);
        self.list_appends.push(ListAppend {
            debit: d.slot,
            credit: c.slot,
            entry,
            event: ListAppend::WRITTEN,
        });
    }

    /// The fast path's effects on its accounts, the debit `dr` and the credit `cr` (two
    /// accounts of held partitions created by earlier batches): their new posted balances,
    /// and the transfer at log `slot` appended to both lists (`event`: its index in the batch
    /// if its record is still to be written, else [`ListAppend::WRITTEN`]). Returns whether
    /// either keeps history. One borrow of both working-set entries instead of one per field.
    #[inline(always)]
    pub fn post_plain(
        &mut self,
        dr: Acct,
        cr: Acct,
        debits_posted: u128,
        credits_posted: u128,
        slot: u32,
        event: u32,
    ) -> bool {
        let Ok([d, c]) = self.ws.get_disjoint_mut([dr.ws as usize, cr.ws as usize]) else {
            unreachable!("invariant: a transfer's two accounts have two working-set entries");
        };
        debug_assert!(d.held && c.held && d.list != u32::MAX && c.list != u32::MAX);
        if self.in_chain {
            self.undo.push(Undo::Account(dr.ws, Box::new(d.state)));
            self.undo.push(Undo::Account(cr.ws, Box::new(c.state)));
        }
        d.state.debits_posted = debits_posted;
        c.state.credits_posted = credits_posted;
        d.dirty = true;
        c.dirty = true;
        let history = (d.state.flags | c.state.flags) & flags::account::HISTORY != 0;
        self.list_appends.push(ListAppend {
            debit: d.slot,
            credit: c.slot,
            entry: slot,
            event,
        });
        history
    }

    /// The transfer at a log slot.
    #[inline]
    pub fn transfer_at(&self, slot: u32) -> Transfer {
        debug_assert!(self.all_written(), "records written first");
        self.ledger.transfers.read(slot)
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

    /// Inserts an account (uncommitted) at the slot a probe found absent; `false` when the id
    /// was claimed meanwhile by another holder (probe again).
    pub fn insert_account(&mut self, at: u32, record: &Account, partition: usize) -> bool {
        if self
            .ledger
            .accounts
            .insert(at, record.id, record, header::LIVE, partition)
            .is_err()
        {
            return false;
        }
        self.inserted_accounts.push(at);
        if self.in_chain {
            self.undo.push(Undo::InsertAccount(at));
        }
        true
    }

    /// Appends a transfer to `partition`'s log and indexes it at `pos` (a probe found the id
    /// absent there), uncommitted; `Ok(None)` when another holder claimed the entry meanwhile
    /// (probe again). Returns the record's log slot.
    #[inline]
    pub fn insert_transfer(
        &mut self,
        pos: u32,
        record: &Transfer,
        partition: usize,
    ) -> Option<u32> {
        let transfers = &self.ledger.transfers;
        let part = self.held.part(partition);
        let Some(slot) = part.log.next_slot(&transfers.log) else {
            // The capacity check at the start of the batch keeps enough chunks free.
            panic!("invariant: transfer log out of chunks");
        };
        transfers.log.write(slot, record);
        if transfers.insert(pos, record.id, slot, partition).is_err() {
            return None;
        }
        part.log.push();
        self.appended_transfer(partition, pos);
        Some(slot)
    }

    /// The fast path's insert: appends `t` as created at `timestamp` (amount unchanged) to
    /// `partition`'s log and indexes it at `pos`; None when the entry was claimed meanwhile.
    /// With `defer` (`t`'s index in the batch) the record is written later, by
    /// [`Exec::write_deferred_records`].
    #[inline(always)]
    pub fn append_plain(
        &mut self,
        pos: u32,
        t: &Transfer,
        hash: u64,
        timestamp: u64,
        partition: usize,
        defer: Option<u32>,
    ) -> Option<u32> {
        let transfers = &self.ledger.transfers;
        let part = self.held.part(partition);
        let Some(slot) = part.log.next_slot(&transfers.log) else {
            panic!("invariant: transfer log out of chunks");
        };
        if defer.is_none() {
            transfers.log.write_created(slot, t, timestamp);
            debug_assert_eq!(transfers.log.id(slot), t.id);
        }
        if transfers
            .insert_hashed(pos, t.id, hash, slot, partition)
            .is_err()
        {
            return None;
        }
        part.log.push();
        self.appended_transfer(partition, pos);
        Some(slot)
    }

    /// Writes the log records of the transfers the fast path created with `defer` (event `i`
    /// of `events`, created at `base + i`).
    ///
    /// Why later: writing each 128-byte record into the log's fresh lines between the lookups
    /// of the batch's events stalled them; written in a loop of their own the records cost
    /// less (paired A/B: +4-9% per batch, docs/BENCHMARKS.md). The entries are claimed (and
    /// visible) before their records are written, so nobody may read these records until
    /// then: the batch itself writes them before it reads any record (its general path, its
    /// chains, its commit), and other holders and readers never compare an id through another
    /// holder's uncommitted entry (see `TransferTable::find`); a committed record is whole.
    pub fn write_deferred_records(&mut self, events: &[Transfer], base: u64) {
        let log = &self.ledger.transfers.log;
        let mut last = None;
        for a in &self.list_appends[self.unwritten..] {
            if a.event != ListAppend::WRITTEN {
                log.write_created(
                    a.entry,
                    &events[a.event as usize],
                    base + u64::from(a.event),
                );
                last = Some(a.event);
            }
        }
        self.unwritten = self.list_appends.len();
        // The fast path leaves the newest timestamp to here too (outside chains: no undo).
        if let Some(last) = last {
            debug_assert!(!self.in_chain);
            self.last_transfer_timestamp = self.last_transfer_timestamp.max(base + u64::from(last));
        }
    }

    /// Whether every transfer this attempt created has its log record written.
    fn all_written(&self) -> bool {
        self.list_appends[self.unwritten..]
            .iter()
            .all(|a| a.event == ListAppend::WRITTEN)
    }

    /// After a record was appended to `partition`'s log and indexed at `pos`: remembers the
    /// insert for commit (and for the chain's rollback).
    #[inline(always)]
    fn appended_transfer(&mut self, partition: usize, pos: u32) {
        self.inserted_transfers.push(pos);
        if self.in_chain {
            self.undo.push(Undo::InsertTransfer { partition, pos });
        }
    }

    /// Burns a transfer id at `pos` (absent there); `false` when the entry was claimed
    /// meanwhile (probe again). Burned ids are not undone by a chain's rollback.
    pub fn insert_orphan(&mut self, pos: u32, id: u128) -> bool {
        let transfers = &self.ledger.transfers;
        let Some(o) = transfers.take_orphan_slot() else {
            // Orphans count against the capacity reserved for the batch.
            panic!("invariant: orphan ids out of room");
        };
        if transfers
            .insert_orphan(pos, id, o, self.held.tag())
            .is_err()
        {
            return false;
        }
        self.inserted_orphans.push(pos);
        self.burned.push(id);
        true
    }

    /// Notes that the pending transfer `id` of `partition` expired in this attempt.
    pub fn note_expired(&mut self, partition: usize, id: u128) {
        self.expired.push((partition, id));
    }

    pub fn set_last_account_timestamp(&mut self, ts: u64) {
        if self.in_chain {
            self.undo
                .push(Undo::LastAccountTimestamp(self.last_account_timestamp));
        }
        self.last_account_timestamp = ts;
    }

    #[inline(always)]
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
            list_appends: self.list_appends.len(),
            accounts: self.created_accounts.len(),
            transfers: self.created_transfers.len(),
            history: self.history.len(),
        }
    }

    /// Undoes everything since `cp` (burned ids stay: they are not in the undo log).
    pub fn rollback(&mut self, cp: Checkpoint) {
        while self.undo.len() > cp.undo {
            match self.undo.pop() {
                Some(Undo::Account(ws, before)) => self.ws[ws as usize].state = *before,
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
                Some(Undo::InsertAccount(slot)) => self.ledger.accounts.tombstone(slot),
                Some(Undo::InsertTransfer { partition, pos }) => {
                    self.ledger.transfers.tombstone(pos);
                    let log = &mut self.held.part(partition).log;
                    let len = log.len();
                    log.truncate(len - 1);
                }
                Some(Undo::LastAccountTimestamp(ts)) => self.last_account_timestamp = ts,
                Some(Undo::LastTransferTimestamp(ts)) => self.last_transfer_timestamp = ts,
                None => break,
            }
        }
        self.list_appends.truncate(cp.list_appends);
        self.unwritten = self.unwritten.min(cp.list_appends);
        self.created_accounts.truncate(cp.accounts);
        self.created_transfers.truncate(cp.transfers);
        self.history.truncate(cp.history);
    }

    pub fn end_chain(&mut self) {
        self.in_chain = false;
    }

    /// Undoes the whole attempt, burned ids included.
    pub fn abort(mut self) {
        // Changes outside chains were not logged: the working set is dropped and the
        // inserts are tombstoned below (nothing of it was ever visible).
        self.rollback(Checkpoint {
            undo: 0,
            list_appends: 0,
            accounts: 0,
            transfers: 0,
            history: 0,
        });
        let ledger = self.ledger;
        for &slot in &self.inserted_accounts {
            if ledger.accounts.header_of(slot) & header::UNCOMMITTED != 0 {
                ledger.accounts.tombstone(slot);
            }
        }
        for &pos in &self.inserted_transfers {
            // Those of rolled-back chains are tombstones already.
            if tt::state(ledger.transfers.entry_at(pos)) == tt::LIVE {
                ledger.transfers.tombstone(pos);
            }
        }
        for &pos in &self.inserted_orphans {
            if ledger.transfers.entry_at(pos) & tt::UNCOMMITTED != 0 {
                ledger.transfers.tombstone(pos);
            }
        }
        for (g, &len) in self.held.guards.iter_mut().zip(&self.log_start) {
            g.log.truncate(len);
        }
        self.recycle();
    }

    /// Makes the attempt's effects visible at once, then updates the partitions' indexes.
    pub fn commit(mut self) {
        debug_assert!(
            self.all_written(),
            "every record is written before it is published"
        );
        if self.held.effects.is_some() {
            self.capture_effects();
        }
        let ledger = self.ledger;
        let held: &[usize] = &self.held.indexes;
        ledger.open_commit(held);
        for (i, w) in self.ws.iter().enumerate() {
            // The records were read early in the batch and are out of cache by now, or shared
            // with a reader's core: start fetching a few ahead, owned (for writing), so the
            // writes wait neither one by one nor for the readers' copies to be invalidated.
            if let Some(ahead) = self.ws.get(i + COMMIT_PREFETCH) {
                ledger.accounts.prefetch_record_for_write(ahead.slot);
            }
            if w.dirty {
                ledger.accounts.write_account_state(w.slot, &w.state);
            }
        }
        for g in self.held.guards.iter() {
            ledger.transfers.publish(g.index, g.log.len());
        }
        for &pos in &self.inserted_orphans {
            ledger.transfers.commit_orphan(pos);
        }
        for &slot in &self.inserted_accounts {
            if ledger.accounts.header_of(slot) & header::UNCOMMITTED != 0 {
                ledger.accounts.commit(slot);
            }
        }
        ledger.close_commit(held);
        ledger
            .last_account_timestamp
            .fetch_max(self.last_account_timestamp, Ordering::AcqRel);
        ledger
            .last_transfer_timestamp
            .fetch_max(self.last_transfer_timestamp, Ordering::AcqRel);

        let meta = &ledger.account_meta;
        append_to_lists(meta, &ledger.lists, &self.list_appends);
        for c in &self.created_accounts {
            let part = self.held.part(c.partition);
            part.add_account_list(meta, c.entry.slot);
            let (u128_, u64_, u32_) = c.user_data;
            part.accounts.push(c.entry, u128_, u64_, u32_);
        }
        let mut rows = self.history.iter();
        for c in &self.created_transfers {
            let part = self.held.part(usize::from(c.partition));
            if c.extra != 0 {
                let t = ledger.transfers.read(c.slot);
                if c.extra & CreatedTransfer::USER_DATA != 0 {
                    part.transfers_by_user_data.push(
                        c.slot,
                        t.user_data_128,
                        t.user_data_64,
                        t.user_data_32,
                    );
                }
                if c.extra & CreatedTransfer::EXPIRES != 0 {
                    let at = t.timestamp + u64::from(t.timeout) * 1_000_000_000;
                    part.expiry.push(std::cmp::Reverse((at, c.slot)));
                }
            }
            for &(list, balance) in rows.by_ref().take(c.history_rows.into()) {
                part.account_history
                    .entry(list)
                    .or_default()
                    .push(HistoryRow {
                        slot: c.slot,
                        balance,
                    });
            }
        }
        self.recycle();
    }
}

impl Exec<'_, '_> {
    /// Appends this attempt's effects to the held buffer: one part per held partition it
    /// changed (and always one for the first held partition), numbered with the partition's next effects seq (stored before the commit makes
    /// them visible, see [`Ledger::effect_seqs`]).
    fn capture_effects(&mut self) {
        let ledger = self.ledger;
        let Some(mut out) = self.held.effects.take() else {
            return;
        };
        let mut last = None;
        for (i, g) in self.held.guards.iter().enumerate() {
            let p = g.index;
            let seq = ledger.effect_seq[p].0.load(Ordering::Relaxed) + 1;
            let clock = ledger.clock.0.load(Ordering::Acquire);
            let mut w = PartWriter::begin(&mut out, seq, clock, p);
            for c in self.created_accounts.iter().filter(|c| c.partition == p) {
                w.account(&ledger.accounts.read::<Account>(c.entry.slot).0);
            }
            for pos in self.log_start[i]..g.log.len() {
                w.transfer(&ledger.transfers.log.read(g.log.slot(pos)));
            }
            if i == 0 {
                for &id in &self.burned {
                    w.burned(id);
                }
            }
            for &(_, id) in self.expired.iter().filter(|(q, _)| *q == p) {
                w.expired(id);
            }
            // The first part is kept even when empty: it carries the clock, and a batch whose
            // events all failed handed out timestamps too (its reply must not precede a record
            // that keeps the clock above them after a restart).
            let kept = if i == 0 { Some(w.keep()) } else { w.finish() };
            if let Some(at) = kept {
                ledger.effect_seq[p].0.store(seq, Ordering::Release);
                last = Some(at);
            }
        }
        if let Some(at) = last {
            mark_last_of_commit(&mut out, at);
        }
        self.held.effects = Some(out);
    }
}

/// How far ahead commit prefetches the lines it is about to write.
const COMMIT_PREFETCH: usize = 16;

/// A created transfer (its log slot, `entry`) to append to the lists of its accounts (table
/// slots `debit`, `credit`).
///
/// Why at commit and not as each transfer is created: the appends then need no undo (a chain
/// that rolls back drops its entries from `Exec::list_appends`, an aborted attempt all of
/// them), and they run in a loop of their own instead of between the lookups of the batch's
/// events: a paired A/B measured +4-6% per batch (docs/BENCHMARKS.md). Nothing reads a list
/// meanwhile: index reads hold the partition.
#[derive(Clone, Copy)]
pub(crate) struct ListAppend {
    pub debit: u32,
    pub credit: u32,
    pub entry: u32,
    /// The transfer's index in its batch while its log record is still to be written (see
    /// [`Exec::write_deferred_records`]), else [`ListAppend::WRITTEN`].
    pub event: u32,
}

impl ListAppend {
    pub const WRITTEN: u32 = u32::MAX;
}

/// Appends committed transfers to their accounts' lists, in order.
fn append_to_lists(meta: &AccountMeta, arena: &ListArena, appends: &[ListAppend]) {
    for (i, a) in appends.iter().enumerate() {
        // The owner lines were fetched while the batch ran and may have left the cache since.
        if let Some(ahead) = appends.get(i + COMMIT_PREFETCH) {
            meta.prefetch(ahead.debit);
            meta.prefetch(ahead.credit);
        }
        Partition::append_account_transfer(meta, arena, a.debit, a.entry);
        Partition::append_account_transfer(meta, arena, a.credit, a.entry);
    }
}

/// An attempt's working memory, kept by a partition between batches.
#[derive(Default)]
pub(crate) struct Buffers {
    ws: Vec<WorkingAccount>,
    undo: Vec<Undo>,
    list_appends: Vec<ListAppend>,
    inserted_accounts: Vec<u32>,
    inserted_transfers: Vec<u32>,
    inserted_orphans: Vec<u32>,
    burned: Vec<u128>,
    expired: Vec<(usize, u128)>,
    log_start: Vec<usize>,
    created_accounts: Vec<CreatedAccount>,
    created_transfers: Vec<CreatedTransfer>,
    history: Vec<(u32, AccountBalance)>,
}

impl Buffers {
    fn clear(&mut self) {
        self.ws.clear();
        self.undo.clear();
        self.list_appends.clear();
        self.inserted_accounts.clear();
        self.inserted_transfers.clear();
        self.inserted_orphans.clear();
        self.burned.clear();
        self.expired.clear();
        self.log_start.clear();
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

/// Runs a batch's events in order with TigerBeetle's chain rules, from event `first` on (the
/// results of those before it are in `results` already, and no chain is open at `first`).
/// `eval` runs one event's own checks and effects given its index and assigned timestamp, and
/// returns (status, result timestamp).
pub(crate) fn run_chains<E: Event, S: Status>(
    ex: &mut Exec<'_, '_>,
    events: &[E],
    first: usize,
    base: u64,
    results: &mut Vec<CreateResult>,
    mut eval: impl FnMut(&mut Exec<'_, '_>, usize, &E, u64) -> Result<(S, u64), Abort>,
) -> Result<(), Abort> {
    debug_assert!(first <= events.len() && results.len() >= first);
    let start = results.len() - first;
    let n = events.len();
    let batch_imported = events.first().is_some_and(|e| e.imported());
    let mut chain: Option<(usize, Checkpoint)> = None;
    let mut broken = false;
    for (i, e) in events.iter().enumerate().skip(first) {
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
            eval(ex, i, e, ts)?
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
