//! The end-of-run audit: every account looked up; the ledger must balance, and the change since
//! the start must be exactly what the run's successful transfers moved.

use crate::conn::Conn;
use crate::workload::Totals;
use ledger::{Account, Record};
use protocol::binary::Operation;

/// Σ over accounts 1..=n of (debits_pending, debits_posted, credits_pending, credits_posted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sums {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub found: u64,
}

pub fn sums(c: &mut Conn, n: u64) -> Result<Sums, String> {
    let mut s = Sums {
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        found: 0,
    };
    let mut id = 1u64;
    while id <= n {
        let end = (id + 8188).min(n);
        let body: Vec<u8> = (id..=end)
            .flat_map(|i| u128::from(i).to_le_bytes())
            .collect();
        let reply = c.request(Operation::LookupAccounts, (end - id + 1) as u32, &body)?;
        for a in Account::vec_from_bytes(&reply).map_err(|e| e.to_string())? {
            let add = |x: u128, y: u128| x.checked_add(y).ok_or("balance sum overflows u128");
            s.debits_pending = add(s.debits_pending, a.debits_pending)?;
            s.debits_posted = add(s.debits_posted, a.debits_posted)?;
            s.credits_pending = add(s.credits_pending, a.credits_pending)?;
            s.credits_posted = add(s.credits_posted, a.credits_posted)?;
            s.found += 1;
        }
        id = end + 1;
    }
    Ok(s)
}

pub fn check(before: &Sums, after: &Sums, totals: &Totals) -> Result<(), String> {
    if after.debits_posted != after.credits_posted {
        return Err(format!(
            "debits_posted {} != credits_posted {}",
            after.debits_posted, after.credits_posted
        ));
    }
    if after.debits_pending != after.credits_pending {
        return Err(format!(
            "debits_pending {} != credits_pending {}",
            after.debits_pending, after.credits_pending
        ));
    }
    let moved = after
        .debits_posted
        .checked_sub(before.debits_posted)
        .ok_or("posted balances went down")?;
    if moved != totals.posted {
        return Err(format!(
            "posted balances grew by {moved}, successful transfers posted {}",
            totals.posted
        ));
    }
    let held = after
        .debits_pending
        .checked_sub(before.debits_pending)
        .ok_or("pending balances went down")?;
    if held != totals.pending {
        return Err(format!(
            "pending balances grew by {held}, transfers left {} pending",
            totals.pending
        ));
    }
    if after.found != before.found {
        return Err(format!(
            "{} accounts before, {} after",
            before.found, after.found
        ));
    }
    Ok(())
}
