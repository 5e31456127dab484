//! create_accounts: one account's checks, in TigerBeetle's order, and its insertion.

use crate::exec::{Abort, CreatedAccount, Exec};
use crate::flags::account as af;
use crate::partition::Entry;
use crate::status::CreateAccountStatus as S;
use crate::table::Probe;
use crate::types::Account;

/// Checks one account (after the chain driver's common checks) and creates it. `ts` is the
/// event's assigned timestamp; returns the status and the result's timestamp.
pub(crate) fn create_account(
    ex: &mut Exec<'_, '_>,
    a: &Account,
    ts: u64,
) -> Result<(S, u64), Abort> {
    if a.reserved != 0 {
        return Ok((S::ReservedField, ts));
    }
    if a.flags & !af::ALL != 0 {
        return Ok((S::ReservedFlag, ts));
    }
    if a.id == 0 {
        return Ok((S::IdMustNotBeZero, ts));
    }
    if a.id == u128::MAX {
        return Ok((S::IdMustNotBeIntMax, ts));
    }
    let mut probe = ex.probe_account(a.id)?;
    if let Probe::Live(_) = probe {
        if let Some(e) = ex.account(a.id)? {
            let e = ex.record(e);
            return Ok(exists_result(a, &e, ts));
        }
    }
    if a.flags & af::DEBITS_MUST_NOT_EXCEED_CREDITS != 0
        && a.flags & af::CREDITS_MUST_NOT_EXCEED_DEBITS != 0
    {
        return Ok((S::FlagsAreMutuallyExclusive, ts));
    }
    if a.debits_pending != 0 {
        return Ok((S::DebitsPendingMustBeZero, ts));
    }
    if a.debits_posted != 0 {
        return Ok((S::DebitsPostedMustBeZero, ts));
    }
    if a.credits_pending != 0 {
        return Ok((S::CreditsPendingMustBeZero, ts));
    }
    if a.credits_posted != 0 {
        return Ok((S::CreditsPostedMustBeZero, ts));
    }
    if a.ledger == 0 {
        return Ok((S::LedgerMustNotBeZero, ts));
    }
    if a.code == 0 {
        return Ok((S::CodeMustNotBeZero, ts));
    }
    let imported = a.flags & af::IMPORTED != 0;
    if imported
        && (a.timestamp <= ex.last_account_timestamp || transfer_has_timestamp(ex, a.timestamp))
    {
        return Ok((S::ImportedEventTimestampMustNotRegress, ts));
    }

    let partition = ex.ledger.partition_of(a.ledger);
    ex.need(partition)?;
    let timestamp = if imported { a.timestamp } else { ts };
    let record = Account { timestamp, ..*a };
    loop {
        match probe {
            Probe::Absent(at) => {
                if ex.insert_account(at, &record, partition) {
                    ex.created_accounts.push(CreatedAccount {
                        partition,
                        entry: Entry {
                            timestamp,
                            slot: at,
                        },
                        user_data: (a.user_data_128, a.user_data_64, a.user_data_32),
                    });
                    if timestamp > ex.last_account_timestamp {
                        ex.set_last_account_timestamp(timestamp);
                    }
                    return Ok((S::Created, timestamp));
                }
                // Another holder claimed the id meanwhile: look again.
                probe = ex.probe_account(a.id)?;
            }
            Probe::Live(_) => match ex.account(a.id)? {
                Some(e) => {
                    let e = ex.record(e);
                    return Ok(exists_result(a, &e, ts));
                }
                None => probe = ex.probe_account(a.id)?,
            },
            // Accounts never orphan ids, and `probe` settles foreign records.
            Probe::Orphan(_) | Probe::Foreign(_) => probe = ex.probe_account(a.id)?,
        }
    }
}

/// The result for an event whose id names an existing account `e`: only `exists` echoes the
/// original's timestamp; `exists_with_different_*` carries the event's own `ts`.
fn exists_result(a: &Account, e: &Account, ts: u64) -> (S, u64) {
    match exists(a, e) {
        S::Exists => (S::Exists, e.timestamp),
        s => (s, ts),
    }
}

/// The idempotency comparison against an existing account.
fn exists(a: &Account, e: &Account) -> S {
    if a.flags != e.flags {
        S::ExistsWithDifferentFlags
    } else if a.user_data_128 != e.user_data_128 {
        S::ExistsWithDifferentUserData128
    } else if a.user_data_64 != e.user_data_64 {
        S::ExistsWithDifferentUserData64
    } else if a.user_data_32 != e.user_data_32 {
        S::ExistsWithDifferentUserData32
    } else if a.ledger != e.ledger {
        S::ExistsWithDifferentLedger
    } else if a.code != e.code {
        S::ExistsWithDifferentCode
    } else {
        S::Exists
    }
}

/// Whether a committed transfer has this timestamp (imported batches hold every partition;
/// a create_accounts batch has no uncommitted transfers).
pub(crate) fn transfer_has_timestamp(ex: &mut Exec<'_, '_>, ts: u64) -> bool {
    let log = &ex.ledger.transfers.log;
    ex.held
        .guards
        .iter()
        .any(|g| g.has_transfer_timestamp(log, ts))
}

/// Whether a committed account has this timestamp.
pub(crate) fn account_has_timestamp(ex: &mut Exec<'_, '_>, ts: u64) -> bool {
    ex.held.guards.iter().any(|g| g.accounts.has_timestamp(ts))
}
