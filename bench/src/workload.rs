//! The workloads (Lua Beetle's `transfer`, `lookup`, `twophase`, `mixed`) and what each
//! connection counts for the summary and the audit.

use crate::conn::Conn;
use crate::Args;
use clap::ValueEnum;
use ledger::flags::transfer as tf;
use ledger::{Account, CreateAccountStatus, CreateResult, CreateTransferStatus, Record, Transfer};
use protocol::binary::Operation;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

pub const LEDGER: u32 = 1;
const AMOUNT: u128 = 100;
const CREATED: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Batches of single-phase transfers.
    Transfer,
    /// Batches of account lookups.
    Lookup,
    /// Each batch: half new pending transfers, half posts of the previous batch's pendings.
    Twophase,
    /// Transfer and lookup requests mixed by --transfer-ratio, two-phase by --twophase-ratio.
    Mixed,
}

/// What one connection did: the summary's counts and the audit's expectations.
#[derive(Default, Debug)]
pub struct Totals {
    pub transfers: u64,
    pub lookups: u64,
    /// Amount moved to posted balances by successful transfers and posts.
    pub posted: u128,
    /// Amount held by pending transfers still pending.
    pub pending: u128,
    /// Failed events by status number.
    pub failures: HashMap<u32, u64>,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.transfers += o.transfers;
        self.lookups += o.lookups;
        self.posted += o.posted;
        self.pending += o.pending;
        for (s, n) in &o.failures {
            *self.failures.entry(*s).or_default() += n;
        }
    }
}

pub fn status_name(s: u32) -> &'static str {
    CreateTransferStatus::from_u32(s).map_or("unknown", |s| s.name())
}

/// A per-run nonce in the high bits of every transfer id, so reruns against the same server
/// never collide.
pub fn run_nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 48)
}

fn body<R: Record>(records: &[R]) -> Vec<u8> {
    let mut b = Vec::with_capacity(records.len() * R::SIZE);
    for r in records {
        b.extend_from_slice(r.bytes());
    }
    b
}

/// Creates accounts 1..=n (those that already exist are fine).
pub fn create_accounts(c: &mut Conn, n: u64) -> Result<(), String> {
    let mut id = 1u64;
    while id <= n {
        let end = (id + 8188).min(n);
        let batch: Vec<Account> = (id..=end)
            .map(|i| Account {
                id: i.into(),
                ledger: LEDGER,
                code: 1,
                ..Account::default()
            })
            .collect();
        let reply = c.request(Operation::CreateAccounts, batch.len() as u32, &body(&batch))?;
        let results = CreateResult::vec_from_bytes(&reply).map_err(|e| e.to_string())?;
        for (a, r) in batch.iter().zip(&results) {
            if r.status != CREATED && r.status != CreateAccountStatus::Exists as u32 {
                let name = CreateAccountStatus::from_u32(r.status).map_or("unknown", |s| s.name());
                return Err(format!(
                    "account {}: {name} (a different account with this id exists?)",
                    a.id
                ));
            }
        }
        id = end + 1;
    }
    Ok(())
}

pub struct Generator {
    rng: StdRng,
    workload: Workload,
    accounts: u64,
    hot: u64,
    batch: usize,
    transfer_ratio: f64,
    twophase_ratio: f64,
    id_base: u128,
    next: u128,
    /// Pending transfers created by this connection and not yet posted.
    to_post: Vec<u128>,
}

impl Generator {
    pub fn new(args: &Args, nonce: u64, connection: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(nonce ^ connection.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            workload: args.workload,
            accounts: args.accounts,
            hot: args.hot,
            batch: args.batch,
            transfer_ratio: args.transfer_ratio,
            twophase_ratio: args.twophase_ratio,
            id_base: (u128::from(nonce) << 64) | (u128::from(connection) << 40),
            next: 1,
            to_post: Vec::new(),
        }
    }

    fn id(&mut self) -> u128 {
        self.next += 1;
        self.id_base | self.next
    }

    fn transfer(&mut self, flags: u16) -> Transfer {
        let debit = self.rng.random_range(1..=self.hot);
        let mut credit = self.rng.random_range(1..self.accounts);
        if credit >= debit {
            credit += 1;
        }
        Transfer {
            id: self.id(),
            debit_account_id: debit.into(),
            credit_account_id: credit.into(),
            amount: AMOUNT,
            ledger: LEDGER,
            code: 1,
            flags,
            ..Transfer::default()
        }
    }

    /// Runs one request; returns (transfer events, lookups) it carried.
    pub fn step(&mut self, c: &mut Conn, totals: &mut Totals) -> Result<(u64, u64), String> {
        let (transfer, twophase) = match self.workload {
            Workload::Transfer => (true, false),
            Workload::Lookup => (false, false),
            Workload::Twophase => (true, true),
            Workload::Mixed => {
                let t = self.rng.random_bool(self.transfer_ratio);
                (t, t && self.rng.random_bool(self.twophase_ratio))
            }
        };
        if !transfer {
            let ids: Vec<u128> = (0..self.batch)
                .map(|_| u128::from(self.rng.random_range(1..=self.accounts)))
                .collect();
            let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            let reply = c.request(Operation::LookupAccounts, ids.len() as u32, &bytes)?;
            let found = reply.len() / 128;
            if found != ids.len() {
                return Err(format!(
                    "lookup of {} existing accounts found {found}",
                    ids.len()
                ));
            }
            totals.lookups += found as u64;
            return Ok((0, found as u64));
        }
        let mut batch = Vec::with_capacity(self.batch);
        if twophase {
            let posts = self.to_post.len().min(self.batch / 2);
            let pending: Vec<u128> = self.to_post.drain(..posts).collect();
            for pending_id in pending {
                let id = self.id();
                batch.push(Transfer {
                    id,
                    pending_id,
                    amount: u128::MAX,
                    flags: tf::POST_PENDING_TRANSFER,
                    ..Transfer::default()
                });
            }
            while batch.len() < self.batch {
                let t = self.transfer(tf::PENDING);
                batch.push(t);
            }
        } else {
            while batch.len() < self.batch {
                let t = self.transfer(0);
                batch.push(t);
            }
        }
        self.apply(c, &batch, totals)?;
        Ok((batch.len() as u64, 0))
    }

    fn apply(
        &mut self,
        c: &mut Conn,
        batch: &[Transfer],
        totals: &mut Totals,
    ) -> Result<(), String> {
        let reply = c.request(Operation::CreateTransfers, batch.len() as u32, &body(batch))?;
        let results = CreateResult::vec_from_bytes(&reply).map_err(|e| e.to_string())?;
        if results.len() != batch.len() {
            return Err(format!(
                "{} results for {} transfers",
                results.len(),
                batch.len()
            ));
        }
        totals.transfers += batch.len() as u64;
        for (t, r) in batch.iter().zip(&results) {
            if r.status != CREATED {
                *totals.failures.entry(r.status).or_default() += 1;
                continue;
            }
            if t.flags & tf::PENDING != 0 {
                totals.pending += t.amount;
                self.to_post.push(t.id);
            } else if t.flags & tf::POST_PENDING_TRANSFER != 0 {
                totals.pending -= AMOUNT;
                totals.posted += AMOUNT;
            } else {
                totals.posted += t.amount;
            }
        }
        Ok(())
    }

    /// Posts what this connection left pending, so the run ends with nothing in flight.
    /// These posts are not counted as load (they run after the timed window).
    pub fn finish(&mut self, c: &mut Conn, totals: &mut Totals) -> Result<(), String> {
        let counted = totals.transfers;
        while !self.to_post.is_empty() {
            let n = self.to_post.len().min(self.batch.max(1));
            let ids: Vec<u128> = self.to_post.drain(..n).collect();
            let batch: Vec<Transfer> = ids
                .into_iter()
                .map(|pending_id| {
                    self.next += 1;
                    Transfer {
                        id: self.id_base | self.next,
                        pending_id,
                        amount: u128::MAX,
                        flags: tf::POST_PENDING_TRANSFER,
                        ..Transfer::default()
                    }
                })
                .collect();
            self.apply(c, &batch, totals)?;
        }
        totals.transfers = counted;
        Ok(())
    }
}
