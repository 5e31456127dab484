//! create_transfers: one transfer's checks, in TigerBeetle's order, and its effects; the
//! post/void path; the idempotency comparison; orphaned ids.

use crate::create_account::account_has_timestamp;
use crate::exec::{Abort, AccountView, CreatedTransfer, Exec, Kind, TIMESTAMP_MAX};
use crate::flags::account as af;
use crate::flags::transfer as tf;
use crate::partition::{Entry, PendingState};
use crate::status::CreateTransferStatus as S;
use crate::table::{header, Probe};
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

pub(crate) fn create_transfer(
    ex: &mut Exec<'_, '_>,
    t: &Transfer,
    ts: u64,
) -> Result<(S, u64), Abort> {
    let outcome = check_and_apply(ex, t, ts)?;
    Ok(match outcome {
        Outcome::Fail(s) => (s, ts),
        Outcome::Exists(s, original) => (s, original),
        Outcome::Created(timestamp) => (S::Created, timestamp),
        Outcome::Orphan(s) => {
            debug_assert!(s.orphans_id());
            burn_id(ex, t.id)?;
            (s, ts)
        }
    })
}

/// Remembers a failed transfer's id (`id_already_failed` from now on, even if its chain rolls
/// back): an ORPHAN record, committed with the batch.
fn burn_id(ex: &mut Exec<'_, '_>, id: u128) -> Result<(), Abort> {
    let partition = ex.held.tag();
    loop {
        match ex.probe(Kind::Transfer, id)? {
            Probe::Absent(at) => {
                let marker = Transfer {
                    id,
                    ..Transfer::default()
                };
                if ex.insert(
                    Kind::Transfer,
                    at,
                    id,
                    &marker,
                    header::ORPHAN,
                    partition,
                    false,
                ) {
                    return Ok(());
                }
            }
            // Claimed meanwhile by another holder: the id is taken either way.
            _ => return Ok(()),
        }
    }
}

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
    let at = match ex.probe(Kind::Transfer, t.id)? {
        Probe::Live(slot) => {
            let e = ex.transfer_at(slot);
            return Ok(Exists(idempotency(ex, t, &e)?, e.timestamp));
        }
        Probe::Orphan(_) => return Ok(Fail(S::IdAlreadyFailed)),
        Probe::Absent(at) => at,
        Probe::Foreign(_) => unreachable!("probe settles foreign records"),
    };
    if t.flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0 {
        return post_or_void(ex, t, ts, at);
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
    if dr.account.ledger != cr.account.ledger {
        return Ok(Fail(S::AccountsMustHaveTheSameLedger));
    }
    if t.ledger != dr.account.ledger {
        return Ok(Fail(S::TransferMustHaveTheSameLedgerAsAccounts));
    }
    debug_assert!(dr.partition == partition && cr.partition == partition);
    let imported = t.flags & tf::IMPORTED != 0;
    if imported {
        if let Some(s) = imported_checks(ex, t, &dr.account, &cr.account) {
            return Ok(Fail(s));
        }
        if t.timeout != 0 {
            return Ok(Fail(S::ImportedEventTimeoutMustBeZero));
        }
    }
    if dr.account.flags & af::CLOSED != 0 {
        return Ok(Orphan(S::DebitAccountAlreadyClosed));
    }
    if cr.account.flags & af::CLOSED != 0 {
        return Ok(Orphan(S::CreditAccountAlreadyClosed));
    }
    let (d, c) = (&dr.account, &cr.account);
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
    let expires_at = if t.timeout > 0 {
        let at = timestamp
            .checked_add(u64::from(t.timeout) * NS_PER_S)
            .filter(|&at| at <= TIMESTAMP_MAX);
        let Some(at) = at else {
            return Ok(Fail(S::OverflowsTimeout));
        };
        Some(at)
    } else {
        None
    };
    if d.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && debits > d.credits_posted {
        return Ok(Orphan(S::ExceedsCredits));
    }
    if c.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && credits > c.debits_posted {
        return Ok(Orphan(S::ExceedsDebits));
    }

    // Created.
    let mut d2 = *d;
    let mut c2 = *c;
    if pending {
        d2.debits_pending += amount;
        c2.credits_pending += amount;
    } else {
        d2.debits_posted += amount;
        c2.credits_posted += amount;
    }
    if t.flags & tf::CLOSING_DEBIT != 0 {
        d2.flags |= af::CLOSED;
    }
    if t.flags & tf::CLOSING_CREDIT != 0 {
        c2.flags |= af::CLOSED;
    }
    let record = Transfer {
        amount,
        timestamp,
        ..*t
    };
    if !insert_transfer(ex, at, &record, partition)? {
        // The id was claimed by another holder between the probe and now: start this event
        // over (it will see that record).
        return check_and_apply(ex, t, ts);
    }
    if pending {
        ex.set_pending_state(partition, at, PendingState::Pending);
    }
    apply(
        ex,
        &record,
        partition,
        at,
        (&dr, d2),
        (&cr, c2),
        if pending { expires_at } else { None },
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

fn insert_transfer(
    ex: &mut Exec<'_, '_>,
    at: u32,
    record: &Transfer,
    partition: usize,
) -> Result<bool, Abort> {
    Ok(ex.insert(
        Kind::Transfer,
        at,
        record.id,
        record,
        header::LIVE,
        partition,
        true,
    ))
}

/// Writes the new balances and records the transfer for the indexes.
fn apply(
    ex: &mut Exec<'_, '_>,
    record: &Transfer,
    partition: usize,
    slot: u32,
    (dr, d2): (&AccountView, Account),
    (cr, c2): (&AccountView, Account),
    expires_at: Option<u64>,
) {
    ex.set_account(dr, d2);
    ex.set_account(cr, c2);
    let row = |a: &Account| {
        (a.flags & af::HISTORY != 0).then(|| AccountBalance {
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
            timestamp: record.timestamp,
            ..AccountBalance::default()
        })
    };
    ex.created_transfers.push(CreatedTransfer {
        partition,
        entry: Entry {
            timestamp: record.timestamp,
            slot,
        },
        user_data: (
            record.user_data_128,
            record.user_data_64,
            record.user_data_32,
        ),
        debit_slot: dr.slot,
        credit_slot: cr.slot,
        expires_at,
        history_rows: 0,
    });
    for (view, after) in [(dr, &d2), (cr, &c2)] {
        if let Some(b) = row(after) {
            ex.history.push((view.slot, b));
            if let Some(last) = ex.created_transfers.last_mut() {
                last.history_rows += 1;
            }
        }
    }
}

fn post_or_void(ex: &mut Exec<'_, '_>, t: &Transfer, ts: u64, at: u32) -> Result<Outcome, Abort> {
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
    let Probe::Live(p_slot) = ex.probe(Kind::Transfer, t.pending_id)? else {
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
        if t.amount != 0 && t.amount != p.amount {
            return Ok(Fail(S::PendingTransferHasDifferentAmount));
        }
        p.amount
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
        if let Some(s) = imported_checks(ex, t, &dr.account, &cr.account) {
            return Ok(Fail(s));
        }
    }
    if post {
        if dr.account.flags & af::CLOSED != 0 && p.flags & tf::CLOSING_DEBIT == 0 {
            return Ok(Orphan(S::DebitAccountAlreadyClosed));
        }
        if cr.account.flags & af::CLOSED != 0 && p.flags & tf::CLOSING_CREDIT == 0 {
            return Ok(Orphan(S::CreditAccountAlreadyClosed));
        }
    }

    // Created: release the pending amount, post `amount` (post only).
    let mut d2 = dr.account;
    let mut c2 = cr.account;
    d2.debits_pending = checked_sub(d2.debits_pending, p.amount);
    c2.credits_pending = checked_sub(c2.credits_pending, p.amount);
    if post {
        d2.debits_posted = checked_add(d2.debits_posted, amount);
        c2.credits_posted = checked_add(c2.credits_posted, amount);
    } else {
        if p.flags & tf::CLOSING_DEBIT != 0 {
            d2.flags &= !af::CLOSED;
        }
        if p.flags & tf::CLOSING_CREDIT != 0 {
            c2.flags &= !af::CLOSED;
        }
    }
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
    if !insert_transfer(ex, at, &record, partition)? {
        return check_and_apply(ex, t, ts);
    }
    ex.set_pending_state(
        partition,
        p_slot,
        if post {
            PendingState::Posted
        } else {
            PendingState::Voided
        },
    );
    apply(ex, &record, partition, at, (&dr, d2), (&cr, c2), None);
    if timestamp > ex.last_transfer_timestamp {
        ex.set_last_transfer_timestamp(timestamp);
    }
    Ok(Created(timestamp))
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
            match ex.probe(Kind::Transfer, t.pending_id)? {
                Probe::Live(slot) => ex.transfer_at(slot).amount,
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
pub(crate) fn expire_due(ex: &mut Exec<'_, '_>, partition: usize, now: u64) -> usize {
    let mut expired = 0;
    loop {
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
        let mut d2 = dr.account;
        let mut c2 = cr.account;
        d2.debits_pending = checked_sub(d2.debits_pending, p.amount);
        c2.credits_pending = checked_sub(c2.credits_pending, p.amount);
        if p.flags & tf::CLOSING_DEBIT != 0 {
            d2.flags &= !af::CLOSED;
        }
        if p.flags & tf::CLOSING_CREDIT != 0 {
            c2.flags &= !af::CLOSED;
        }
        ex.set_account(&dr, d2);
        ex.set_account(&cr, c2);
        ex.set_pending_state(partition, slot, PendingState::Expired);
        expired += 1;
    }
    expired
}
