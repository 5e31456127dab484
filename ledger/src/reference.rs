//! A small, obviously-correct model of the ledger's semantics: plain ordered maps, one thread,
//! a chain rolled back by restoring a copy of the whole state. Slow, and meant to be: it is the
//! oracle the real [`Ledger`](crate::Ledger) is compared against (randomized tests, fuzzing).
//! Each check is a direct transcription of docs/LEDGER.md (TigerBeetle 0.17's rules), in its order.

use crate::exec::TIMESTAMP_MAX;
use crate::flags::{account as af, account_filter as ff, query_filter as qf, transfer as tf};
use crate::partition::PendingState;
use crate::status::{CreateAccountStatus as A, CreateTransferStatus as T};
use crate::types::{Account, AccountBalance, AccountFilter, CreateResult, QueryFilter, Transfer};
use crate::BATCH_MAX;
use std::collections::{BTreeMap, BTreeSet};

const NS: u64 = 1_000_000_000;

#[derive(Clone, Default, Debug)]
struct State {
    accounts: BTreeMap<u128, Account>,
    transfers: BTreeMap<u128, Transfer>,
    /// Pending transfer id -> state.
    pending: BTreeMap<u128, PendingState>,
    /// Account id -> (transfer id, balances after), for `history` accounts.
    history: BTreeMap<u128, Vec<(u128, AccountBalance)>>,
}

/// The reference ledger.
#[derive(Clone, Default, Debug)]
pub struct Model {
    state: State,
    /// Burned transfer ids (never rolled back).
    orphans: BTreeSet<u128>,
    clock: u64,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    pub fn accounts(&self) -> Vec<Account> {
        self.state.accounts.values().copied().collect()
    }

    pub fn transfers(&self) -> Vec<Transfer> {
        self.state.transfers.values().copied().collect()
    }

    pub fn orphans(&self) -> Vec<u128> {
        self.orphans.iter().copied().collect()
    }

    pub fn pending_state(&self, id: u128) -> Option<PendingState> {
        self.state.pending.get(&id).copied()
    }

    fn reserve(&mut self, now: u64, n: usize) -> u64 {
        let base = now.max(self.clock + 1);
        self.clock = base + n as u64 - 1;
        base
    }

    pub fn create_accounts(&mut self, events: &[Account], now: u64) -> Vec<CreateResult> {
        if events.is_empty() {
            return Vec::new();
        }
        let base = self.reserve(now, events.len());
        let batch_imported = events[0].flags & af::IMPORTED != 0;
        let common = |e: &Account, ts: u64| -> Option<A> {
            let imported = e.flags & af::IMPORTED != 0;
            if imported != batch_imported {
                Some(if batch_imported {
                    A::ImportedEventExpected
                } else {
                    A::ImportedEventNotExpected
                })
            } else if imported && (e.timestamp == 0 || e.timestamp > TIMESTAMP_MAX) {
                Some(A::ImportedEventTimestampOutOfRange)
            } else if imported && e.timestamp >= ts {
                Some(A::ImportedEventTimestampMustNotAdvance)
            } else if !imported && e.timestamp != 0 {
                Some(A::TimestampMustBeZero)
            } else {
                None
            }
        };
        self.chains(
            events,
            base,
            |e| e.flags & af::LINKED != 0,
            |m, e, ts| match common(e, ts) {
                Some(s) => (s as u32, ts),
                None => {
                    let (s, t) = m.create_account(e, ts);
                    (s as u32, t)
                }
            },
            A::Created as u32,
            A::LinkedEventFailed as u32,
            A::LinkedEventChainOpen as u32,
        )
    }

    pub fn create_transfers(&mut self, events: &[Transfer], now: u64) -> Vec<CreateResult> {
        if events.is_empty() {
            return Vec::new();
        }
        let base = self.reserve(now, events.len());
        self.expire(base);
        let batch_imported = events[0].flags & tf::IMPORTED != 0;
        let common = |e: &Transfer, ts: u64| -> Option<T> {
            let imported = e.flags & tf::IMPORTED != 0;
            if imported != batch_imported {
                Some(if batch_imported {
                    T::ImportedEventExpected
                } else {
                    T::ImportedEventNotExpected
                })
            } else if imported && (e.timestamp == 0 || e.timestamp > TIMESTAMP_MAX) {
                Some(T::ImportedEventTimestampOutOfRange)
            } else if imported && e.timestamp >= ts {
                Some(T::ImportedEventTimestampMustNotAdvance)
            } else if !imported && e.timestamp != 0 {
                Some(T::TimestampMustBeZero)
            } else {
                None
            }
        };
        self.chains(
            events,
            base,
            |e| e.flags & tf::LINKED != 0,
            |m, e, ts| match common(e, ts) {
                Some(s) => (s as u32, ts),
                None => {
                    let (s, t) = m.create_transfer(e, ts);
                    if s.orphans_id() {
                        m.orphans.insert(e.id);
                    }
                    (s as u32, t)
                }
            },
            T::Created as u32,
            T::LinkedEventFailed as u32,
            T::LinkedEventChainOpen as u32,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn chains<E>(
        &mut self,
        events: &[E],
        base: u64,
        linked: impl Fn(&E) -> bool,
        mut eval: impl FnMut(&mut Model, &E, u64) -> (u32, u64),
        created: u32,
        failed: u32,
        open: u32,
    ) -> Vec<CreateResult> {
        let mut results: Vec<CreateResult> = Vec::new();
        let mut chain: Option<(usize, State)> = None;
        let mut broken = false;
        let n = events.len();
        for (i, e) in events.iter().enumerate() {
            let ts = base + i as u64;
            if chain.is_none() && linked(e) {
                chain = Some((i, self.state.clone()));
                broken = false;
            }
            let (status, rts) = if linked(e) && i == n - 1 {
                (open, ts)
            } else if broken {
                (failed, ts)
            } else {
                eval(self, e, ts)
            };
            results.push(CreateResult {
                timestamp: rts,
                status,
                reserved: 0,
            });
            if let Some((start, saved)) = &chain {
                if status != created && !broken {
                    broken = true;
                    self.state = saved.clone();
                    for (k, r) in results.iter_mut().enumerate().take(i).skip(*start) {
                        *r = CreateResult {
                            timestamp: base + k as u64,
                            status: failed,
                            reserved: 0,
                        };
                    }
                }
            }
            if !linked(e) {
                chain = None;
                broken = false;
            }
        }
        results
    }

    fn create_account(&mut self, a: &Account, ts: u64) -> (A, u64) {
        if a.reserved != 0 {
            return (A::ReservedField, ts);
        }
        if a.flags & !af::ALL != 0 {
            return (A::ReservedFlag, ts);
        }
        if a.id == 0 {
            return (A::IdMustNotBeZero, ts);
        }
        if a.id == u128::MAX {
            return (A::IdMustNotBeIntMax, ts);
        }
        if let Some(e) = self.state.accounts.get(&a.id) {
            let s = if a.flags != e.flags {
                A::ExistsWithDifferentFlags
            } else if a.user_data_128 != e.user_data_128 {
                A::ExistsWithDifferentUserData128
            } else if a.user_data_64 != e.user_data_64 {
                A::ExistsWithDifferentUserData64
            } else if a.user_data_32 != e.user_data_32 {
                A::ExistsWithDifferentUserData32
            } else if a.ledger != e.ledger {
                A::ExistsWithDifferentLedger
            } else if a.code != e.code {
                A::ExistsWithDifferentCode
            } else {
                A::Exists
            };
            // Only `exists` echoes the original's timestamp; every other status carries the
            // event's own.
            return (s, if s == A::Exists { e.timestamp } else { ts });
        }
        if a.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0
            && a.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0
        {
            return (A::FlagsAreMutuallyExclusive, ts);
        }
        for (v, s) in [
            (a.debits_pending, A::DebitsPendingMustBeZero),
            (a.debits_posted, A::DebitsPostedMustBeZero),
            (a.credits_pending, A::CreditsPendingMustBeZero),
            (a.credits_posted, A::CreditsPostedMustBeZero),
        ] {
            if v != 0 {
                return (s, ts);
            }
        }
        if a.ledger == 0 {
            return (A::LedgerMustNotBeZero, ts);
        }
        if a.code == 0 {
            return (A::CodeMustNotBeZero, ts);
        }
        let imported = a.flags & af::IMPORTED != 0;
        if imported {
            let last = self
                .state
                .accounts
                .values()
                .map(|x| x.timestamp)
                .max()
                .unwrap_or(0);
            if a.timestamp <= last
                || self
                    .state
                    .transfers
                    .values()
                    .any(|t| t.timestamp == a.timestamp)
            {
                return (A::ImportedEventTimestampMustNotRegress, ts);
            }
        }
        let timestamp = if imported { a.timestamp } else { ts };
        self.state
            .accounts
            .insert(a.id, Account { timestamp, ..*a });
        (A::Created, timestamp)
    }

    fn imported_checks(&self, t: &Transfer, dr: &Account, cr: &Account) -> Option<T> {
        let last = self
            .state
            .transfers
            .values()
            .map(|x| x.timestamp)
            .max()
            .unwrap_or(0);
        if t.timestamp <= last
            || self
                .state
                .accounts
                .values()
                .any(|a| a.timestamp == t.timestamp)
        {
            return Some(T::ImportedEventTimestampMustNotRegress);
        }
        if t.timestamp <= dr.timestamp {
            return Some(T::ImportedEventTimestampMustPostdateDebitAccount);
        }
        if t.timestamp <= cr.timestamp {
            return Some(T::ImportedEventTimestampMustPostdateCreditAccount);
        }
        None
    }

    fn create_transfer(&mut self, t: &Transfer, ts: u64) -> (T, u64) {
        if t.flags & !tf::ALL != 0 {
            return (T::ReservedFlag, ts);
        }
        if t.id == 0 {
            return (T::IdMustNotBeZero, ts);
        }
        if t.id == u128::MAX {
            return (T::IdMustNotBeIntMax, ts);
        }
        if let Some(e) = self.state.transfers.get(&t.id) {
            let s = self.exists(t, e);
            return (s, if s == T::Exists { e.timestamp } else { ts });
        }
        if self.orphans.contains(&t.id) {
            return (T::IdAlreadyFailed, ts);
        }
        if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
            let status = self.post_or_void(t, ts);
            // A created post/void answers with its own timestamp (the imported one if imported).
            let created_at = self.state.transfers.get(&t.id).map_or(ts, |x| x.timestamp);
            return (status, if status == T::Created { created_at } else { ts });
        }
        let checks = [
            (t.debit_account_id == 0, T::DebitAccountIdMustNotBeZero),
            (
                t.debit_account_id == u128::MAX,
                T::DebitAccountIdMustNotBeIntMax,
            ),
            (t.credit_account_id == 0, T::CreditAccountIdMustNotBeZero),
            (
                t.credit_account_id == u128::MAX,
                T::CreditAccountIdMustNotBeIntMax,
            ),
            (
                t.debit_account_id == t.credit_account_id,
                T::AccountsMustBeDifferent,
            ),
            (t.pending_id != 0, T::PendingIdMustBeZero),
            (
                t.flags & tf::PENDING == 0 && t.timeout != 0,
                T::TimeoutReservedForPendingTransfer,
            ),
            (
                t.flags & tf::PENDING == 0
                    && t.flags & (tf::CLOSING_DEBIT | tf::CLOSING_CREDIT) != 0,
                T::ClosingTransferMustBePending,
            ),
            (t.ledger == 0, T::LedgerMustNotBeZero),
            (t.code == 0, T::CodeMustNotBeZero),
        ];
        if let Some((_, s)) = checks.iter().find(|(failed, _)| *failed) {
            return (*s, ts);
        }
        let Some(dr) = self.state.accounts.get(&t.debit_account_id).copied() else {
            return (T::DebitAccountNotFound, ts);
        };
        let Some(cr) = self.state.accounts.get(&t.credit_account_id).copied() else {
            return (T::CreditAccountNotFound, ts);
        };
        if dr.ledger != cr.ledger {
            return (T::AccountsMustHaveTheSameLedger, ts);
        }
        if t.ledger != dr.ledger {
            return (T::TransferMustHaveTheSameLedgerAsAccounts, ts);
        }
        let imported = t.flags & tf::IMPORTED != 0;
        if imported {
            if let Some(s) = self.imported_checks(t, &dr, &cr) {
                return (s, ts);
            }
            if t.timeout != 0 {
                return (T::ImportedEventTimeoutMustBeZero, ts);
            }
        }
        if dr.flags & af::CLOSED != 0 {
            return (T::DebitAccountAlreadyClosed, ts);
        }
        if cr.flags & af::CLOSED != 0 {
            return (T::CreditAccountAlreadyClosed, ts);
        }
        let mut amount = t.amount;
        if t.flags & tf::BALANCING_DEBIT != 0 {
            let used = dr.debits_posted.saturating_add(dr.debits_pending);
            amount = amount.min(dr.credits_posted.saturating_sub(used));
        }
        if t.flags & tf::BALANCING_CREDIT != 0 {
            let used = cr.credits_posted.saturating_add(cr.credits_pending);
            amount = amount.min(cr.debits_posted.saturating_sub(used));
        }
        let pending = t.flags & tf::PENDING != 0;
        let overflows = |x: u128| x.checked_add(amount).is_none();
        if pending && overflows(dr.debits_pending) {
            return (T::OverflowsDebitsPending, ts);
        }
        if pending && overflows(cr.credits_pending) {
            return (T::OverflowsCreditsPending, ts);
        }
        if overflows(dr.debits_posted) {
            return (T::OverflowsDebitsPosted, ts);
        }
        if overflows(cr.credits_posted) {
            return (T::OverflowsCreditsPosted, ts);
        }
        // Invariant: pending + posted never overflows on either side.
        if overflows(dr.debits_pending + dr.debits_posted) {
            return (T::OverflowsDebits, ts);
        }
        if overflows(cr.credits_pending + cr.credits_posted) {
            return (T::OverflowsCredits, ts);
        }
        let timestamp = if imported { t.timestamp } else { ts };
        if t.timeout > 0
            && timestamp as u128 + t.timeout as u128 * NS as u128 > TIMESTAMP_MAX as u128
        {
            return (T::OverflowsTimeout, ts);
        }
        if dr.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0
            && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted
        {
            return (T::ExceedsCredits, ts);
        }
        if cr.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0
            && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted
        {
            return (T::ExceedsDebits, ts);
        }
        let (mut d, mut c) = (dr, cr);
        if pending {
            d.debits_pending += amount;
            c.credits_pending += amount;
            self.state.pending.insert(t.id, PendingState::Pending);
        } else {
            d.debits_posted += amount;
            c.credits_posted += amount;
        }
        if t.flags & tf::CLOSING_DEBIT != 0 {
            d.flags |= af::CLOSED;
        }
        if t.flags & tf::CLOSING_CREDIT != 0 {
            c.flags |= af::CLOSED;
        }
        let record = Transfer {
            amount,
            timestamp,
            ..*t
        };
        self.commit_transfer(record, d, c);
        (T::Created, timestamp)
    }

    fn commit_transfer(&mut self, record: Transfer, d: Account, c: Account) {
        for a in [d, c] {
            self.state.accounts.insert(a.id, a);
            if a.flags & af::HISTORY != 0 {
                let row = AccountBalance {
                    debits_pending: a.debits_pending,
                    debits_posted: a.debits_posted,
                    credits_pending: a.credits_pending,
                    credits_posted: a.credits_posted,
                    timestamp: record.timestamp,
                    ..AccountBalance::default()
                };
                self.state
                    .history
                    .entry(a.id)
                    .or_default()
                    .push((record.id, row));
            }
        }
        self.state.transfers.insert(record.id, record);
    }

    fn post_or_void(&mut self, t: &Transfer, ts: u64) -> T {
        let post = t.flags & tf::POST_PENDING_TRANSFER != 0;
        let void = t.flags & tf::VOID_PENDING_TRANSFER != 0;
        let exclusive = tf::PENDING
            | tf::BALANCING_DEBIT
            | tf::BALANCING_CREDIT
            | tf::CLOSING_DEBIT
            | tf::CLOSING_CREDIT;
        if (post && void) || t.flags & exclusive != 0 {
            return T::FlagsAreMutuallyExclusive;
        }
        if t.pending_id == 0 {
            return T::PendingIdMustNotBeZero;
        }
        if t.pending_id == u128::MAX {
            return T::PendingIdMustNotBeIntMax;
        }
        if t.pending_id == t.id {
            return T::PendingIdMustBeDifferent;
        }
        if t.timeout != 0 {
            return T::TimeoutReservedForPendingTransfer;
        }
        let Some(p) = self.state.transfers.get(&t.pending_id).copied() else {
            return T::PendingTransferNotFound;
        };
        if p.flags & tf::PENDING == 0 {
            return T::PendingTransferNotPending;
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return T::PendingTransferHasDifferentDebitAccountId;
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return T::PendingTransferHasDifferentCreditAccountId;
        }
        if t.ledger != 0 && t.ledger != p.ledger {
            return T::PendingTransferHasDifferentLedger;
        }
        if t.code != 0 && t.code != p.code {
            return T::PendingTransferHasDifferentCode;
        }
        let amount = if post {
            let a = if t.amount == u128::MAX {
                p.amount
            } else {
                t.amount
            };
            if a > p.amount {
                return T::ExceedsPendingTransferAmount;
            }
            a
        } else {
            let a = if t.amount == 0 { p.amount } else { t.amount };
            if a > p.amount {
                return T::ExceedsPendingTransferAmount;
            }
            if a < p.amount {
                return T::PendingTransferHasDifferentAmount;
            }
            a
        };
        match self.state.pending.get(&p.id) {
            Some(PendingState::Posted) => return T::PendingTransferAlreadyPosted,
            Some(PendingState::Voided) => return T::PendingTransferAlreadyVoided,
            Some(PendingState::Expired) => return T::PendingTransferExpired,
            _ => {}
        }
        if p.timeout > 0 && p.timestamp + p.timeout as u64 * NS <= ts {
            return T::PendingTransferExpired;
        }
        let dr = self.state.accounts[&p.debit_account_id];
        let cr = self.state.accounts[&p.credit_account_id];
        let imported = t.flags & tf::IMPORTED != 0;
        if imported {
            if let Some(s) = self.imported_checks(t, &dr, &cr) {
                return s;
            }
        }
        // Voiding is the only movement a closed account allows, even when the pending transfer
        // is the closing one that closed it.
        if post && dr.flags & af::CLOSED != 0 {
            return T::DebitAccountAlreadyClosed;
        }
        if post && cr.flags & af::CLOSED != 0 {
            return T::CreditAccountAlreadyClosed;
        }
        let (mut d, mut c) = (dr, cr);
        d.debits_pending -= p.amount;
        c.credits_pending -= p.amount;
        if post {
            d.debits_posted += amount;
            c.credits_posted += amount;
        } else {
            if p.flags & tf::CLOSING_DEBIT != 0 {
                d.flags &= !af::CLOSED;
            }
            if p.flags & tf::CLOSING_CREDIT != 0 {
                c.flags &= !af::CLOSED;
            }
        }
        let pick = |x: u128, y: u128| if x != 0 { x } else { y };
        let record = Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: p.id,
            user_data_128: pick(t.user_data_128, p.user_data_128),
            user_data_64: pick(t.user_data_64 as u128, p.user_data_64 as u128) as u64,
            user_data_32: pick(t.user_data_32 as u128, p.user_data_32 as u128) as u32,
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: t.flags,
            timestamp: if imported { t.timestamp } else { ts },
        };
        self.state.pending.insert(
            p.id,
            if post {
                PendingState::Posted
            } else {
                PendingState::Voided
            },
        );
        self.commit_transfer(record, d, c);
        T::Created
    }

    fn exists(&self, t: &Transfer, e: &Transfer) -> T {
        if t.flags != e.flags {
            return T::ExistsWithDifferentFlags;
        }
        if t.pending_id != e.pending_id {
            return T::ExistsWithDifferentPendingId;
        }
        if t.timeout != e.timeout {
            return T::ExistsWithDifferentTimeout;
        }
        if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
            let differs = |new: u128, old: u128| new != 0 && new != old;
            if differs(t.debit_account_id, e.debit_account_id) {
                return T::ExistsWithDifferentDebitAccountId;
            }
            if differs(t.credit_account_id, e.credit_account_id) {
                return T::ExistsWithDifferentCreditAccountId;
            }
            let amount = if t.flags & tf::POST_PENDING_TRANSFER != 0 && t.amount == u128::MAX {
                self.state
                    .transfers
                    .get(&t.pending_id)
                    .map_or(t.amount, |p| p.amount)
            } else if t.flags & tf::VOID_PENDING_TRANSFER != 0 && t.amount == 0 {
                e.amount
            } else {
                t.amount
            };
            if amount != e.amount {
                return T::ExistsWithDifferentAmount;
            }
            if differs(t.user_data_128, e.user_data_128) {
                return T::ExistsWithDifferentUserData128;
            }
            if differs(t.user_data_64.into(), e.user_data_64.into()) {
                return T::ExistsWithDifferentUserData64;
            }
            if differs(t.user_data_32.into(), e.user_data_32.into()) {
                return T::ExistsWithDifferentUserData32;
            }
            if differs(t.ledger.into(), e.ledger.into()) {
                return T::ExistsWithDifferentLedger;
            }
            if differs(t.code.into(), e.code.into()) {
                return T::ExistsWithDifferentCode;
            }
            return T::Exists;
        }
        let balancing = t.flags & (tf::BALANCING_DEBIT | tf::BALANCING_CREDIT) != 0;
        let pairs = [
            (
                t.debit_account_id != e.debit_account_id,
                T::ExistsWithDifferentDebitAccountId,
            ),
            (
                t.credit_account_id != e.credit_account_id,
                T::ExistsWithDifferentCreditAccountId,
            ),
            (
                if balancing {
                    t.amount < e.amount
                } else {
                    t.amount != e.amount
                },
                T::ExistsWithDifferentAmount,
            ),
            (
                t.user_data_128 != e.user_data_128,
                T::ExistsWithDifferentUserData128,
            ),
            (
                t.user_data_64 != e.user_data_64,
                T::ExistsWithDifferentUserData64,
            ),
            (
                t.user_data_32 != e.user_data_32,
                T::ExistsWithDifferentUserData32,
            ),
            (t.ledger != e.ledger, T::ExistsWithDifferentLedger),
            (t.code != e.code, T::ExistsWithDifferentCode),
        ];
        pairs
            .iter()
            .find(|(d, _)| *d)
            .map_or(T::Exists, |(_, s)| *s)
    }

    /// Expires every pending transfer due by `now`.
    pub fn expire(&mut self, now: u64) -> usize {
        let due: Vec<Transfer> = self
            .state
            .transfers
            .values()
            .filter(|t| {
                self.state.pending.get(&t.id) == Some(&PendingState::Pending)
                    && t.timeout > 0
                    && t.timestamp + t.timeout as u64 * NS <= now
            })
            .copied()
            .collect();
        for p in &due {
            let d = self
                .state
                .accounts
                .get_mut(&p.debit_account_id)
                .expect("pending debit account");
            d.debits_pending -= p.amount;
            if p.flags & tf::CLOSING_DEBIT != 0 {
                d.flags &= !af::CLOSED;
            }
            let c = self
                .state
                .accounts
                .get_mut(&p.credit_account_id)
                .expect("pending credit account");
            c.credits_pending -= p.amount;
            if p.flags & tf::CLOSING_CREDIT != 0 {
                c.flags &= !af::CLOSED;
            }
            self.state.pending.insert(p.id, PendingState::Expired);
        }
        due.len()
    }

    pub fn lookup_accounts(&self, ids: &[u128]) -> Vec<Account> {
        ids.iter()
            .filter_map(|id| self.state.accounts.get(id).copied())
            .collect()
    }

    pub fn lookup_transfers(&self, ids: &[u128]) -> Vec<Transfer> {
        ids.iter()
            .filter_map(|id| self.state.transfers.get(id).copied())
            .collect()
    }

    fn account_filter_valid(f: &AccountFilter) -> bool {
        f.account_id != 0
            && f.account_id != u128::MAX
            && f.limit != 0
            && f.flags & !ff::ALL == 0
            && f.flags & (ff::DEBITS | ff::CREDITS) != 0
            && f.reserved.iter().all(|&b| b == 0)
            && (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max)
    }

    fn account_filter_matches(f: &AccountFilter, t: &Transfer) -> bool {
        let hi = if f.timestamp_max == 0 {
            u64::MAX
        } else {
            f.timestamp_max
        };
        ((f.flags & ff::DEBITS != 0 && t.debit_account_id == f.account_id)
            || (f.flags & ff::CREDITS != 0 && t.credit_account_id == f.account_id))
            && (f.user_data_128 == 0 || f.user_data_128 == t.user_data_128)
            && (f.user_data_64 == 0 || f.user_data_64 == t.user_data_64)
            && (f.user_data_32 == 0 || f.user_data_32 == t.user_data_32)
            && (f.code == 0 || f.code == t.code)
            && t.timestamp >= f.timestamp_min
            && t.timestamp <= hi
    }

    fn ordered<R>(mut v: Vec<(u64, R)>, reversed: bool, limit: u32) -> Vec<R> {
        v.sort_by_key(|(ts, _)| *ts);
        if reversed {
            v.reverse();
        }
        v.truncate((limit as usize).min(BATCH_MAX));
        v.into_iter().map(|(_, r)| r).collect()
    }

    pub fn get_account_transfers(&self, f: &AccountFilter) -> Vec<Transfer> {
        if !Model::account_filter_valid(f) || !self.state.accounts.contains_key(&f.account_id) {
            return Vec::new();
        }
        let v = self
            .state
            .transfers
            .values()
            .filter(|t| Model::account_filter_matches(f, t))
            .map(|t| (t.timestamp, *t))
            .collect();
        Model::ordered(v, f.flags & ff::REVERSED != 0, f.limit)
    }

    pub fn get_account_balances(&self, f: &AccountFilter) -> Vec<AccountBalance> {
        if !Model::account_filter_valid(f) {
            return Vec::new();
        }
        let Some(a) = self.state.accounts.get(&f.account_id) else {
            return Vec::new();
        };
        if a.flags & af::HISTORY == 0 {
            return Vec::new();
        }
        let rows = self
            .state
            .history
            .get(&f.account_id)
            .cloned()
            .unwrap_or_default();
        let v = rows
            .into_iter()
            .filter(|(tid, _)| Model::account_filter_matches(f, &self.state.transfers[tid]))
            .map(|(_, b)| (b.timestamp, b))
            .collect();
        Model::ordered(v, f.flags & ff::REVERSED != 0, f.limit)
    }

    fn query_valid(f: &QueryFilter) -> bool {
        f.limit != 0
            && f.flags & !qf::ALL == 0
            && f.reserved.iter().all(|&b| b == 0)
            && (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max)
    }

    fn query_matches(f: &QueryFilter, fields: (u128, u64, u32, u32, u16, u64)) -> bool {
        let (u128_, u64_, u32_, ledger, code, ts) = fields;
        let hi = if f.timestamp_max == 0 {
            u64::MAX
        } else {
            f.timestamp_max
        };
        (f.user_data_128 == 0 || f.user_data_128 == u128_)
            && (f.user_data_64 == 0 || f.user_data_64 == u64_)
            && (f.user_data_32 == 0 || f.user_data_32 == u32_)
            && (f.ledger == 0 || f.ledger == ledger)
            && (f.code == 0 || f.code == code)
            && ts >= f.timestamp_min
            && ts <= hi
    }

    pub fn query_accounts(&self, f: &QueryFilter) -> Vec<Account> {
        if !Model::query_valid(f) {
            return Vec::new();
        }
        let v = self
            .state
            .accounts
            .values()
            .filter(|a| {
                Model::query_matches(
                    f,
                    (
                        a.user_data_128,
                        a.user_data_64,
                        a.user_data_32,
                        a.ledger,
                        a.code,
                        a.timestamp,
                    ),
                )
            })
            .map(|a| (a.timestamp, *a))
            .collect();
        Model::ordered(v, f.flags & qf::REVERSED != 0, f.limit)
    }

    pub fn query_transfers(&self, f: &QueryFilter) -> Vec<Transfer> {
        if !Model::query_valid(f) {
            return Vec::new();
        }
        let v = self
            .state
            .transfers
            .values()
            .filter(|t| {
                Model::query_matches(
                    f,
                    (
                        t.user_data_128,
                        t.user_data_64,
                        t.user_data_32,
                        t.ledger,
                        t.code,
                        t.timestamp,
                    ),
                )
            })
            .map(|t| (t.timestamp, *t))
            .collect();
        Model::ordered(v, f.flags & qf::REVERSED != 0, f.limit)
    }
}
