//! create_transfers: one transfer's checks, in TigerBeetle's order, and its effects; the
//! post/void path; the idempotency comparison; orphaned ids.

use crate::create_account::account_has_timestamp;
use crate::exec::{Abort, Acct, CreatedTransfer, Exec, ListAppend, TIMESTAMP_MAX};
use crate::flags::account as af;
use crate::flags::transfer as tf;
use crate::partition::PendingState;
use crate::status::CreateTransferStatus as S;
use crate::table::hash_id;
use crate::table::transfers::TProbe;
use crate::types::{Account, AccountBalance, Transfer};

const NS_PER_S: u64 = 1_000_000_000;

/// What an event decided before it inserts anything.
enum Outcome {
    Fail(S),
    /// A state-dependent failure: the id is burned.
    Orphan(S),
    Exists(S, u64),
    Created(u64),
}

/// The hashes of the ids an event looks up, computed once (when its lines are prefetched).
#[derive(Clone, Copy, Default)]
pub(crate) struct EventHashes {
    /// The index of the event these are for.
    pub event: usize,
    pub id: u64,
    pub debit: u64,
    pub credit: u64,
}

impl EventHashes {
    pub fn of(event: usize, t: &Transfer) -> EventHashes {
        EventHashes {
            event,
            id: hash_id(t.id),
            debit: hash_id(t.debit_account_id),
            credit: hash_id(t.credit_account_id),
        }
    }
}

/// One transfer's checks and effects: the fast path ([`plain`]) inline, in the batch loop,
/// and everything else out of line.
#[inline(always)]
pub(crate) fn create_transfer(
    ex: &mut Exec<'_, '_>,
    t: &Transfer,
    ts: u64,
    hashes: &EventHashes,
) -> Result<(S, u64), Abort> {
    if let Some(timestamp) = plain(ex, t, ts, hashes, None) {
        return Ok((S::Created, timestamp));
    }
    general(ex, t, ts)
}

/// [`create_transfer`] for `events[event]`, an unlinked event of a batch created at `base +
/// event`: a transfer the fast path creates has its record written later, by
/// [`Exec::write_deferred_records`], which runs first when the general path is needed.
#[inline(always)]
pub(crate) fn create_transfer_deferred(
    ex: &mut Exec<'_, '_>,
    events: &[Transfer],
    event: usize,
    base: u64,
    hashes: &EventHashes,
) -> Result<(S, u64), Abort> {
    let t = &events[event];
    let ts = base + event as u64;
    if let Some(timestamp) = plain(ex, t, ts, hashes, Some(event as u32)) {
        return Ok((S::Created, timestamp));
    }
    ex.write_deferred_records(events, base);
    general(ex, t, ts)
}

/// Every event the fast path did not take.
#[inline(never)]
fn general(ex: &mut Exec<'_, '_>, t: &Transfer, ts: u64) -> Result<(S, u64), Abort> {
    let outcome = check_and_apply(ex, t, ts)?;
    Ok(match outcome {
        Outcome::Fail(s) => (s, ts),
        // Only `exists` echoes the original's timestamp; `exists_with_different_*` carries
        // the event's own, like any other failure.
        Outcome::Exists(s, original) if s == S::Exists => (s, original),
        Outcome::Exists(s, _) => (s, ts),
        Outcome::Created(timestamp) => (S::Created, timestamp),
        Outcome::Orphan(s) => {
            debug_assert!(s.orphans_id());
            burn_id(ex, t.id)?;
            (s, ts)
        }
    })
}

/// The fast path for the most common event: a transfer with no flags but `linked` whose
/// checks all pass. It decides nothing else: on anything unusual (a failing check, an id that
/// may exist, an account not yet committed, an overflow, a race) it returns None before
/// changing any state, and the general path ([`check_and_apply`]) decides from scratch, so
/// both paths give the same result for every event this one accepts.
#[inline(always)]
fn plain(
    ex: &mut Exec<'_, '_>,
    t: &Transfer,
    ts: u64,
    h: &EventHashes,
    defer: Option<u32>,
) -> Option<u64> {
    // Checks the account lookups below imply are left to them: no account has id 0 or
    // u128::MAX or ledger 0 (create_account refuses them, `verify` checks it), so such an
    // account id is not found and a ledger 0 differs from the accounts'.
    if t.flags & !tf::LINKED != 0
        || t.id == 0
        || t.id == u128::MAX
        || t.debit_account_id == t.credit_account_id
        || t.pending_id != 0
        || t.timeout != 0
        || t.code == 0
    {
        return None;
    }
    let pos = ex.ledger.transfers.absent_at(h.id)?;
    let dr = ex.account_fast(t.debit_account_id, h.debit)?;
    let cr = ex.account_fast(t.credit_account_id, h.credit)?;
    let (d, c) = (ex.get(dr), ex.get(cr));
    if d.ledger != t.ledger || c.ledger != t.ledger || (d.flags | c.flags) & af::CLOSED != 0 {
        return None;
    }
    // Both accounts are held (account_fast) and of the transfer's ledger, whose partition is
    // theirs: an account is created in (and its header names) the partition of its ledger.
    let partition = dr.partition;
    debug_assert_eq!(partition, ex.ledger.partition_of(t.ledger));
    debug_assert_eq!(partition, cr.partition);
    let debits_posted = d.debits_posted.checked_add(t.amount)?;
    let credits_posted = c.credits_posted.checked_add(t.amount)?;
    let debits = d.debits_pending.checked_add(debits_posted)?;
    let credits = c.credits_pending.checked_add(credits_posted)?;
    if d.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && debits > d.credits_posted {
        return None;
    }
    if c.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && credits > c.debits_posted {
        return None;
    }
    let slot = ex.append_plain(pos, t, h.id, ts, partition, defer)?;
    let event = defer.unwrap_or(ListAppend::WRITTEN);
    let history = ex.post_plain(dr, cr, debits_posted, credits_posted, slot, event);
    let user_data = t.user_data_128 != 0 || t.user_data_64 != 0 || t.user_data_32 != 0;
    if user_data || history {
        note_created(ex, user_data, false, history, ts, partition, slot, (dr, cr));
    }
    if defer.is_none() && ts > ex.last_transfer_timestamp {
        ex.set_last_transfer_timestamp(ts);
    }
    Some(ts)
}

/// Remembers a failed transfer's id (`id_already_failed` from now on, even if its chain rolls
/// back): an ORPHAN entry, committed with the batch.
fn burn_id(ex: &mut Exec<'_, '_>, id: u128) -> Result<(), Abort> {
    loop {
        match ex.probe_transfer(id)? {
            TProbe::Absent { pos } => {
                if ex.insert_orphan(pos, id) {
                    return Ok(());
                }
            }
            // Claimed meanwhile by another holder: the id is taken either way.
            _ => return Ok(()),
        }
    }
}

#[inline]
fn check_and_apply(ex: &mut Exec<'_, '_>, t: &Transfer, ts: u64) -> Result<Outcome, Abort> {
    use Outcome::{Created, Exists, Fail, Orphan};
    if t.flags & !tf::ALL != 0 {
        return Ok(Fail(S::ReservedFlag));
    }
    if t.id == 0 {
        return Ok(Fail(S::IdMustNotBeZero));
    }
    if t.id == u128::MAX {
        return Ok(Fail(S::IdMustNotBeIntMax));
    }
    let pos = match ex.probe_transfer(t.id)? {
        TProbe::Live { slot, .. } => {
            let e = ex.transfer_at(slot);
            return Ok(Exists(idempotency(ex, t, &e)?, e.timestamp));
        }
        TProbe::Orphan { .. } => return Ok(Fail(S::IdAlreadyFailed)),
        TProbe::Absent { pos } => pos,
        TProbe::Foreign { .. } => unreachable!("probe settles foreign entries"),
    };
    if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
        return post_or_void(ex, t, ts, pos);
    }
    if t.debit_account_id == 0 {
        return Ok(Fail(S::DebitAccountIdMustNotBeZero));
    }
    if t.debit_account_id == u128::MAX {
        return Ok(Fail(S::DebitAccountIdMustNotBeIntMax));
    }
    if t.credit_account_id == 0 {
        return Ok(Fail(S::CreditAccountIdMustNotBeZero));
    }
    if t.credit_account_id == u128::MAX {
        return Ok(Fail(S::CreditAccountIdMustNotBeIntMax));
    }
    if t.debit_account_id == t.credit_account_id {
        return Ok(Fail(S::AccountsMustBeDifferent));
    }
    if t.pending_id != 0 {
        return Ok(Fail(S::PendingIdMustBeZero));
    }
    let pending = t.flags & tf::PENDING != 0;
    if !pending {
        if t.timeout != 0 {
            return Ok(Fail(S::TimeoutReservedForPendingTransfer));
        }
        if t.flags & (tf::CLOSING_DEBIT | tf::CLOSING_CREDIT) != 0 {
            return Ok(Fail(S::ClosingTransferMustBePending));
        }
    }
    if t.ledger == 0 {
        return Ok(Fail(S::LedgerMustNotBeZero));
    }
    if t.code == 0 {
        return Ok(Fail(S::CodeMustNotBeZero));
    }
    let partition = ex.ledger.partition_of(t.ledger);
    ex.need(partition)?;
    let Some(dr) = ex.account(t.debit_account_id)? else {
        return Ok(Orphan(S::DebitAccountNotFound));
    };
    let Some(cr) = ex.account(t.credit_account_id)? else {
        return Ok(Orphan(S::CreditAccountNotFound));
    };
    let (d, c) = (ex.get(dr), ex.get(cr));
    if d.ledger != c.ledger {
        return Ok(Fail(S::AccountsMustHaveTheSameLedger));
    }
    if t.ledger != d.ledger {
        return Ok(Fail(S::TransferMustHaveTheSameLedgerAsAccounts));
    }
    debug_assert!(dr.partition == partition && cr.partition == partition);
    let imported = t.flags & tf::IMPORTED != 0;
    if imported {
        let (d, c) = (ex.record(dr), ex.record(cr));
        if let Some(s) = imported_checks(ex, t, &d, &c) {
            return Ok(Fail(s));
        }
        if t.timeout != 0 {
            return Ok(Fail(S::ImportedEventTimeoutMustBeZero));
        }
    }
    let (d, c) = (ex.get(dr), ex.get(cr));
    if d.flags & af::CLOSED != 0 {
        return Ok(Orphan(S::DebitAccountAlreadyClosed));
    }
    if c.flags & af::CLOSED != 0 {
        return Ok(Orphan(S::CreditAccountAlreadyClosed));
    }
    let mut amount = t.amount;
    if t.flags & tf::BALANCING_DEBIT != 0 {
        let room = d
            .credits_posted
            .saturating_sub(d.debits_posted.saturating_add(d.debits_pending));
        amount = amount.min(room);
    }
    if t.flags & tf::BALANCING_CREDIT != 0 {
        let room = c
            .debits_posted
            .saturating_sub(c.credits_posted.saturating_add(c.credits_pending));
        amount = amount.min(room);
    }
    if pending {
        if d.debits_pending.checked_add(amount).is_none() {
            return Ok(Fail(S::OverflowsDebitsPending));
        }
        if c.credits_pending.checked_add(amount).is_none() {
            return Ok(Fail(S::OverflowsCreditsPending));
        }
    }
    if d.debits_posted.checked_add(amount).is_none() {
        return Ok(Fail(S::OverflowsDebitsPosted));
    }
    if c.credits_posted.checked_add(amount).is_none() {
        return Ok(Fail(S::OverflowsCreditsPosted));
    }
    let debits = d
        .debits_pending
        .checked_add(d.debits_posted)
        .and_then(|x| x.checked_add(amount));
    let Some(debits) = debits else {
        return Ok(Fail(S::OverflowsDebits));
    };
    let credits = c
        .credits_pending
        .checked_add(c.credits_posted)
        .and_then(|x| x.checked_add(amount));
    let Some(credits) = credits else {
        return Ok(Fail(S::OverflowsCredits));
    };
    let timestamp = if imported { t.timestamp } else { ts };
    if t.timeout > 0 {
        let at = timestamp
            .checked_add(u64::from(t.timeout) * NS_PER_S)
            .filter(|&at| at <= TIMESTAMP_MAX);
        if at.is_none() {
            return Ok(Fail(S::OverflowsTimeout));
        }
    }
    if d.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && debits > d.credits_posted {
        return Ok(Orphan(S::ExceedsCredits));
    }
    if c.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && credits > c.debits_posted {
        return Ok(Orphan(S::ExceedsDebits));
    }

    // Created.
    let record = Transfer {
        amount,
        timestamp,
        ..*t
    };
    let Some(slot) = ex.insert_transfer(pos, &record, partition) else {
        // The id was claimed by another holder between the probe and now: start this event
        // over (it will see that entry).
        return check_and_apply(ex, t, ts);
    };
    if pending {
        ex.set_pending_state(partition, slot, PendingState::Pending);
    }
    {
        let d = ex.get_mut(dr);
        if pending {
            d.debits_pending += amount;
        } else {
            d.debits_posted += amount;
        }
        if t.flags & tf::CLOSING_DEBIT != 0 {
            d.flags |= af::CLOSED;
        }
    }
    {
        let c = ex.get_mut(cr);
        if pending {
            c.credits_pending += amount;
        } else {
            c.credits_posted += amount;
        }
        if t.flags & tf::CLOSING_CREDIT != 0 {
            c.flags |= af::CLOSED;
        }
    }
    let expires = pending && t.timeout > 0;
    index_created(
        ex,
        has_user_data(&record),
        timestamp,
        partition,
        slot,
        (dr, cr),
        expires,
    );
    if timestamp > ex.last_transfer_timestamp {
        ex.set_last_transfer_timestamp(timestamp);
    }
    Ok(Created(timestamp))
}

/// Imported transfer timestamp checks (imported batches hold every partition).
fn imported_checks(ex: &mut Exec<'_, '_>, t: &Transfer, dr: &Account, cr: &Account) -> Option<S> {
    if t.timestamp <= ex.last_transfer_timestamp || account_has_timestamp(ex, t.timestamp) {
        return Some(S::ImportedEventTimestampMustNotRegress);
    }
    if t.timestamp <= dr.timestamp {
        return Some(S::ImportedEventTimestampMustPostdateDebitAccount);
    }
    if t.timestamp <= cr.timestamp {
        return Some(S::ImportedEventTimestampMustPostdateCreditAccount);
    }
    None
}

/// Appends a created transfer to its accounts' transfer lists, and records what commit has to
/// index for it: user data, expiry, the balance rows of the accounts that keep a history
/// (their balances after the transfer, already applied).
#[inline(always)]
pub(crate) fn index_created(
    ex: &mut Exec<'_, '_>,
    user_data: bool,
    timestamp: u64,
    partition: usize,
    slot: u32,
    (dr, cr): (Acct, Acct),
    expires: bool,
) {
    ex.append_to_lists(dr, cr, slot);
    let history = (ex.get(dr).flags | ex.get(cr).flags) & af::HISTORY != 0;
    if user_data || expires || history {
        note_created(
            ex,
            user_data,
            expires,
            history,
            timestamp,
            partition,
            slot,
            (dr, cr),
        );
    }
}

/// Records what commit has to index for a created transfer that has user data, expires, or
/// has an account that keeps history.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn note_created(
    ex: &mut Exec<'_, '_>,
    user_data: bool,
    expires: bool,
    history: bool,
    timestamp: u64,
    partition: usize,
    slot: u32,
    (dr, cr): (Acct, Acct),
) {
    let extra = if user_data {
        CreatedTransfer::USER_DATA
    } else {
        0
    } | if expires { CreatedTransfer::EXPIRES } else { 0 };
    let history_rows = if history {
        history_rows(ex, timestamp, dr, cr)
    } else {
        0
    };
    ex.created_transfers.push(CreatedTransfer {
        slot,
        partition: partition as u16,
        extra,
        history_rows,
    });
}

/// Records the balances after a transfer of the accounts (of `dr`, `cr`) that keep history;
/// returns how many rows it added. Out of line: most accounts keep none.
#[inline(never)]
fn history_rows(ex: &mut Exec<'_, '_>, timestamp: u64, dr: Acct, cr: Acct) -> u8 {
    let mut rows = 0;
    for a in [dr, cr] {
        let after = ex.get(a);
        if after.flags & af::HISTORY != 0 {
            let row = AccountBalance {
                debits_pending: after.debits_pending,
                debits_posted: after.debits_posted,
                credits_pending: after.credits_pending,
                credits_posted: after.credits_posted,
                timestamp,
                ..AccountBalance::default()
            };
            let list = ex.list(a);
            ex.history.push((list, row));
            rows += 1;
        }
    }
    rows
}

pub(crate) fn has_user_data(t: &Transfer) -> bool {
    t.user_data_128 != 0 || t.user_data_64 != 0 || t.user_data_32 != 0
}

fn post_or_void(ex: &mut Exec<'_, '_>, t: &Transfer, ts: u64, pos: u32) -> Result<Outcome, Abort> {
    use Outcome::{Created, Fail, Orphan};
    let post = t.flags & tf::POST_PENDING_TRANSFER != 0;
    let void = t.flags & tf::VOID_PENDING_TRANSFER != 0;
    let others = tf::PENDING
        | tf::BALANCING_DEBIT
        | tf::BALANCING_CREDIT
        | tf::CLOSING_DEBIT
        | tf::CLOSING_CREDIT;
    if (post && void) || t.flags & others != 0 {
        return Ok(Fail(S::FlagsAreMutuallyExclusive));
    }
    if t.pending_id == 0 {
        return Ok(Fail(S::PendingIdMustNotBeZero));
    }
    if t.pending_id == u128::MAX {
        return Ok(Fail(S::PendingIdMustNotBeIntMax));
    }
    if t.pending_id == t.id {
        return Ok(Fail(S::PendingIdMustBeDifferent));
    }
    if t.timeout != 0 {
        return Ok(Fail(S::TimeoutReservedForPendingTransfer));
    }
    let TProbe::Live { slot: p_slot, .. } = ex.probe_transfer(t.pending_id)? else {
        return Ok(Orphan(S::PendingTransferNotFound));
    };
    let p = ex.transfer_at(p_slot);
    if p.flags & tf::PENDING == 0 {
        return Ok(Fail(S::PendingTransferNotPending));
    }
    if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
        return Ok(Fail(S::PendingTransferHasDifferentDebitAccountId));
    }
    if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
        return Ok(Fail(S::PendingTransferHasDifferentCreditAccountId));
    }
    if t.ledger != 0 && t.ledger != p.ledger {
        return Ok(Fail(S::PendingTransferHasDifferentLedger));
    }
    if t.code != 0 && t.code != p.code {
        return Ok(Fail(S::PendingTransferHasDifferentCode));
    }
    let amount = if post {
        let amount = if t.amount == u128::MAX {
            p.amount
        } else {
            t.amount
        };
        if amount > p.amount {
            return Ok(Fail(S::ExceedsPendingTransferAmount));
        }
        amount
    } else {
        // A void's amount 0 means "the pending amount"; any other must equal it.
        let amount = if t.amount == 0 { p.amount } else { t.amount };
        if amount > p.amount {
            return Ok(Fail(S::ExceedsPendingTransferAmount));
        }
        if amount < p.amount {
            return Ok(Fail(S::PendingTransferHasDifferentAmount));
        }
        amount
    };
    let partition = ex.ledger.partition_of(p.ledger);
    ex.need(partition)?;
    match ex.pending_state(partition, p_slot) {
        Some(PendingState::Pending) => {}
        Some(PendingState::Posted) => return Ok(Fail(S::PendingTransferAlreadyPosted)),
        Some(PendingState::Voided) => return Ok(Fail(S::PendingTransferAlreadyVoided)),
        Some(PendingState::Expired) | None => return Ok(Fail(S::PendingTransferExpired)),
    }
    if p.timeout > 0 && p.timestamp + u64::from(p.timeout) * NS_PER_S <= ts {
        return Ok(Fail(S::PendingTransferExpired));
    }
    let imported = t.flags & tf::IMPORTED != 0;
    let dr = ex.account(p.debit_account_id)?;
    let cr = ex.account(p.credit_account_id)?;
    let (Some(dr), Some(cr)) = (dr, cr) else {
        // A pending transfer's accounts exist for as long as it does.
        debug_assert!(false, "pending transfer {} without its accounts", p.id);
        return Ok(Orphan(S::DebitAccountNotFound));
    };
    if imported {
        let (d, c) = (ex.record(dr), ex.record(cr));
        if let Some(s) = imported_checks(ex, t, &d, &c) {
            return Ok(Fail(s));
        }
    }
    // Voiding is the only movement a closed account allows, even when the pending transfer is
    // the closing one that closed it: posting that transfer is `*_already_closed` too.
    if post {
        if ex.get(dr).flags & af::CLOSED != 0 {
            return Ok(Orphan(S::DebitAccountAlreadyClosed));
        }
        if ex.get(cr).flags & af::CLOSED != 0 {
            return Ok(Orphan(S::CreditAccountAlreadyClosed));
        }
    }

    // Created: release the pending amount, post `amount` (post only).
    let timestamp = if imported { t.timestamp } else { ts };
    let record = Transfer {
        id: t.id,
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        amount,
        pending_id: t.pending_id,
        user_data_128: if t.user_data_128 != 0 {
            t.user_data_128
        } else {
            p.user_data_128
        },
        user_data_64: if t.user_data_64 != 0 {
            t.user_data_64
        } else {
            p.user_data_64
        },
        user_data_32: if t.user_data_32 != 0 {
            t.user_data_32
        } else {
            p.user_data_32
        },
        timeout: 0,
        ledger: p.ledger,
        code: p.code,
        flags: t.flags,
        timestamp,
    };
    let Some(slot) = ex.insert_transfer(pos, &record, partition) else {
        return check_and_apply(ex, t, ts);
    };
    ex.set_pending_state(
        partition,
        p_slot,
        if post {
            PendingState::Posted
        } else {
            PendingState::Voided
        },
    );
    release_pending(ex, &p, dr, cr, post.then_some(amount));
    index_created(
        ex,
        has_user_data(&record),
        timestamp,
        partition,
        slot,
        (dr, cr),
        false,
    );
    if timestamp > ex.last_transfer_timestamp {
        ex.set_last_transfer_timestamp(timestamp);
    }
    Ok(Created(timestamp))
}

/// Releases a pending transfer's amounts from its accounts and posts `posted` (a post), or
/// reopens the accounts it closed (a void or an expiry).
pub(crate) fn release_pending(
    ex: &mut Exec<'_, '_>,
    p: &Transfer,
    dr: Acct,
    cr: Acct,
    posted: Option<u128>,
) {
    {
        let d = ex.get_mut(dr);
        d.debits_pending = checked_sub(d.debits_pending, p.amount);
        match posted {
            Some(amount) => d.debits_posted = checked_add(d.debits_posted, amount),
            None if p.flags & tf::CLOSING_DEBIT != 0 => d.flags &= !af::CLOSED,
            None => {}
        }
    }
    let c = ex.get_mut(cr);
    c.credits_pending = checked_sub(c.credits_pending, p.amount);
    match posted {
        Some(amount) => c.credits_posted = checked_add(c.credits_posted, amount),
        None if p.flags & tf::CLOSING_CREDIT != 0 => c.flags &= !af::CLOSED,
        None => {}
    }
}

/// The idempotency comparison of a transfer against the existing one with its id.
fn idempotency(ex: &mut Exec<'_, '_>, t: &Transfer, e: &Transfer) -> Result<S, Abort> {
    if t.flags != e.flags {
        return Ok(S::ExistsWithDifferentFlags);
    }
    if t.pending_id != e.pending_id {
        return Ok(S::ExistsWithDifferentPendingId);
    }
    if t.timeout != e.timeout {
        return Ok(S::ExistsWithDifferentTimeout);
    }
    if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
        if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
            return Ok(S::ExistsWithDifferentDebitAccountId);
        }
        if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
            return Ok(S::ExistsWithDifferentCreditAccountId);
        }
        let amount = if t.flags & tf::POST_PENDING_TRANSFER != 0 && t.amount == u128::MAX {
            // The sentinel means "the pending amount".
            match ex.probe_transfer(t.pending_id)? {
                TProbe::Live { slot, .. } => ex.transfer_at(slot).amount,
                _ => t.amount,
            }
        } else if t.flags & tf::VOID_PENDING_TRANSFER != 0 && t.amount == 0 {
            e.amount
        } else {
            t.amount
        };
        if amount != e.amount {
            return Ok(S::ExistsWithDifferentAmount);
        }
        if t.user_data_128 != 0 && t.user_data_128 != e.user_data_128 {
            return Ok(S::ExistsWithDifferentUserData128);
        }
        if t.user_data_64 != 0 && t.user_data_64 != e.user_data_64 {
            return Ok(S::ExistsWithDifferentUserData64);
        }
        if t.user_data_32 != 0 && t.user_data_32 != e.user_data_32 {
            return Ok(S::ExistsWithDifferentUserData32);
        }
        if t.ledger != 0 && t.ledger != e.ledger {
            return Ok(S::ExistsWithDifferentLedger);
        }
        if t.code != 0 && t.code != e.code {
            return Ok(S::ExistsWithDifferentCode);
        }
        return Ok(S::Exists);
    }
    if t.debit_account_id != e.debit_account_id {
        return Ok(S::ExistsWithDifferentDebitAccountId);
    }
    if t.credit_account_id != e.credit_account_id {
        return Ok(S::ExistsWithDifferentCreditAccountId);
    }
    let balancing = t.flags & (tf::BALANCING_DEBIT | tf::BALANCING_CREDIT) != 0;
    // A balancing transfer stores the clamped amount: re-sending an amount at least as large
    // is the same transfer.
    let same_amount = if balancing {
        t.amount >= e.amount
    } else {
        t.amount == e.amount
    };
    if !same_amount {
        return Ok(S::ExistsWithDifferentAmount);
    }
    if t.user_data_128 != e.user_data_128 {
        return Ok(S::ExistsWithDifferentUserData128);
    }
    if t.user_data_64 != e.user_data_64 {
        return Ok(S::ExistsWithDifferentUserData64);
    }
    if t.user_data_32 != e.user_data_32 {
        return Ok(S::ExistsWithDifferentUserData32);
    }
    if t.ledger != e.ledger {
        return Ok(S::ExistsWithDifferentLedger);
    }
    if t.code != e.code {
        return Ok(S::ExistsWithDifferentCode);
    }
    Ok(S::Exists)
}

/// Subtraction that the invariants make exact (a pending amount is part of the balance).
fn checked_sub(a: u128, b: u128) -> u128 {
    a.checked_sub(b)
        .unwrap_or_else(|| panic!("invariant: pending balance {a} < pending amount {b}"))
}

/// Addition that the invariants make exact (posting at most the pending amount, which was
/// already part of pending + posted).
fn checked_add(a: u128, b: u128) -> u128 {
    a.checked_add(b)
        .unwrap_or_else(|| panic!("invariant: posted balance overflow {a} + {b}"))
}

/// Expires due pending transfers of one held partition (inside `ex`), returning how many.
pub(crate) fn expire_due(ex: &mut Exec<'_, '_>, partition: usize, now: u64, max: usize) -> usize {
    let mut expired = 0;
    while expired < max {
        let part = ex.held.part(partition);
        let Some(&std::cmp::Reverse((at, slot))) = part.expiry.peek() else {
            break;
        };
        if at > now {
            break;
        }
        part.expiry.pop();
        if ex.pending_state(partition, slot) != Some(PendingState::Pending) {
            continue;
        }
        let p = ex.transfer_at(slot);
        let (Ok(Some(dr)), Ok(Some(cr))) = (
            ex.account(p.debit_account_id),
            ex.account(p.credit_account_id),
        ) else {
            debug_assert!(false, "pending transfer {} without its accounts", p.id);
            continue;
        };
        release_pending(ex, &p, dr, cr, None);
        ex.set_pending_state(partition, slot, PendingState::Expired);
        ex.note_expired(partition, p.id);
        expired += 1;
    }
    expired
}
