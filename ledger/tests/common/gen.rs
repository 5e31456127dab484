//! The random batch generator shared by the ledger's randomized tests (`model.rs`,
//! `wal_sim.rs`): account and transfer batches with every flag, linked chains, duplicate and
//! colliding ids from tiny id spaces, u128 edge values, imported batches and timeouts.
//!
//! Included with `#[path = "common/gen.rs"] mod gen;`. A seed's batches depend only on the
//! generator's draws, so moving code here must keep their order.

use ledger::flags::{account as af, transfer as tf};
use ledger::{Account, Transfer};
use rand::rngs::StdRng;
use rand::RngExt;

pub struct Gen {
    pub rng: StdRng,
    /// Size of the id spaces (tiny, so ids collide).
    accounts: u128,
    transfers: u128,
    /// Transfer ids are drawn from a window above this, which slides up a little with every
    /// batch: failures burn ids, and a fixed tiny window would soon hold only burned ones.
    transfer_base: u128,
    ledgers: u32,
    /// Ids recently sent with `pending`, so posts and voids often name a real pending transfer
    /// (closing ones included) rather than a random id.
    pending: Vec<u128>,
    /// Transfers recently sent, re-sent verbatim or with one field changed so that `exists`
    /// and every `exists_with_different_*` come up.
    sent: Vec<Transfer>,
}

impl Gen {
    /// A generator drawing from `rng` (nothing is drawn here, so a seed's batches depend only
    /// on the calls made after), with id spaces of `accounts` and `transfers` ids and
    /// `ledgers` ledgers.
    pub fn new(rng: StdRng, accounts: u128, transfers: u128, ledgers: u32) -> Gen {
        Gen {
            rng,
            accounts,
            transfers,
            ledgers,
            transfer_base: 0,
            pending: Vec::new(),
            sent: Vec::new(),
        }
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())]
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub fn account_id(&mut self) -> u128 {
        if self.chance(0.02) {
            return self.pick(&[0, u128::MAX]);
        }
        self.rng.random_range(1..=self.accounts)
    }

    pub fn transfer_id(&mut self) -> u128 {
        if self.chance(0.02) {
            return self.pick(&[0, u128::MAX]);
        }
        self.transfer_base + self.rng.random_range(1..=self.transfers)
    }

    fn ledger(&mut self) -> u32 {
        if self.chance(0.03) {
            0
        } else {
            self.rng.random_range(1..=self.ledgers)
        }
    }

    fn code(&mut self) -> u16 {
        if self.chance(0.03) {
            0
        } else {
            self.rng.random_range(1..=2)
        }
    }

    fn amount(&mut self) -> u128 {
        match self.rng.random_range(0..20) {
            0 => 0,
            1 => u128::MAX,
            2 => u128::MAX - 1,
            3 => 1 << 127,
            4 => u128::MAX / 2,
            _ => self.rng.random_range(1..200),
        }
    }

    fn user_data(&mut self) -> (u128, u64, u32) {
        (
            self.pick(&[0, 0, 1, 2]),
            self.pick(&[0, 0, 1, 7]),
            self.pick(&[0, 0, 3]),
        )
    }

    fn flags16(&mut self, bits: &[(u16, f64)]) -> u16 {
        let mut f = 0;
        for &(bit, p) in bits {
            if self.chance(p) {
                f |= bit;
            }
        }
        f
    }

    pub fn accounts_batch(&mut self, imported: bool, now: u64) -> Vec<Account> {
        let n = self.rng.random_range(1..=8);
        (0..n)
            .map(|i| {
                let (u128_, u64_, u32_) = self.user_data();
                let mut flags = self.flags16(&[
                    (af::LINKED, 0.25),
                    (af::DEBITS_MUST_NOT_EXCEED_CREDITS, 0.3),
                    (af::CREDITS_MUST_NOT_EXCEED_DEBITS, 0.2),
                    (af::HISTORY, 0.4),
                    (af::CLOSED, 0.03),
                    (1 << 9, 0.01),
                ]);
                if imported != self.chance(0.03) {
                    flags |= af::IMPORTED;
                }
                let mut a = Account {
                    id: self.account_id(),
                    user_data_128: u128_,
                    user_data_64: u64_,
                    user_data_32: u32_,
                    ledger: self.ledger(),
                    code: self.code(),
                    flags,
                    ..Account::default()
                };
                if self.chance(0.02) {
                    a.reserved = 1;
                }
                if self.chance(0.02) {
                    a.debits_posted = 1;
                }
                if self.chance(0.02) {
                    a.credits_pending = 5;
                }
                a.timestamp = self.timestamp(flags & af::IMPORTED != 0, now, i);
                a
            })
            .collect()
    }

    /// Imported events get past timestamps, mostly increasing, sometimes out of range.
    fn timestamp(&mut self, imported: bool, now: u64, i: usize) -> u64 {
        if imported {
            match self.rng.random_range(0..20) {
                0 => 0,
                1 => now + 1_000_000_000_000,
                2 => self.rng.random_range(1..now),
                _ => now - 1_000_000 + i as u64 * 1000 + self.rng.random_range(0..3),
            }
        } else if self.chance(0.02) {
            self.rng.random_range(1..100)
        } else {
            0
        }
    }

    pub fn transfers_batch(&mut self, imported: bool, now: u64) -> Vec<Transfer> {
        self.transfer_base += self.transfers / 4;
        let n = self.rng.random_range(1..=12);
        (0..n)
            .map(|i| {
                let (u128_, u64_, u32_) = self.user_data();
                let mut flags = self.flags16(&[
                    (tf::LINKED, 0.25),
                    (tf::PENDING, 0.3),
                    (tf::POST_PENDING_TRANSFER, 0.15),
                    (tf::VOID_PENDING_TRANSFER, 0.1),
                    (tf::BALANCING_DEBIT, 0.08),
                    (tf::BALANCING_CREDIT, 0.08),
                    (tf::CLOSING_DEBIT, 0.04),
                    (tf::CLOSING_CREDIT, 0.04),
                    (1 << 12, 0.01),
                ]);
                if imported != self.chance(0.03) {
                    flags |= tf::IMPORTED;
                }
                let post_void =
                    flags & (tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER) != 0;
                if post_void && self.chance(0.85) {
                    // Mostly well-formed: a post or a void alone.
                    flags &= tf::LINKED | tf::IMPORTED | tf::POST_PENDING_TRANSFER;
                    if flags & tf::POST_PENDING_TRANSFER == 0 {
                        flags |= tf::VOID_PENDING_TRANSFER;
                    }
                }
                let mut t = Transfer {
                    id: self.transfer_id(),
                    debit_account_id: self.account_id(),
                    credit_account_id: self.account_id(),
                    amount: self.amount(),
                    pending_id: 0,
                    user_data_128: u128_,
                    user_data_64: u64_,
                    user_data_32: u32_,
                    timeout: 0,
                    ledger: self.ledger(),
                    code: self.code(),
                    flags,
                    timestamp: self.timestamp(flags & tf::IMPORTED != 0, now, i),
                };
                if post_void {
                    let known = !self.pending.is_empty() && self.chance(0.7);
                    t.pending_id = if known {
                        self.pending[self.rng.random_range(0..self.pending.len())]
                    } else {
                        self.transfer_id()
                    };
                    // Posts and voids usually inherit accounts, ledger and code.
                    if self.chance(0.7) {
                        t.debit_account_id = 0;
                        t.credit_account_id = 0;
                    }
                    if self.chance(0.6) {
                        t.ledger = 0;
                        t.code = 0;
                    }
                    if self.chance(if known { 0.6 } else { 0.3 }) {
                        t.amount = self.pick(&[0, u128::MAX]);
                    }
                } else if self.chance(0.03) {
                    t.pending_id = self.transfer_id();
                }
                if (flags & tf::PENDING != 0 && self.chance(0.5)) || self.chance(0.03) {
                    t.timeout = self.pick(&[1, 2, 3, u32::MAX]);
                }
                if flags & tf::PENDING != 0 {
                    if self.pending.len() == 8 {
                        self.pending.remove(0);
                    }
                    self.pending.push(t.id);
                }
                if !self.sent.is_empty() && self.chance(0.1) {
                    t = self.resend();
                }
                if self.sent.len() == 16 {
                    self.sent.remove(0);
                }
                self.sent.push(t);
                t
            })
            .collect()
    }

    /// A copy of a recently sent transfer, as is or with one field changed.
    fn resend(&mut self) -> Transfer {
        let mut t = self.sent[self.rng.random_range(0..self.sent.len())];
        t.timestamp = 0;
        match self.rng.random_range(0..12) {
            0 => t.flags ^= tf::LINKED,
            1 => t.user_data_128 = t.user_data_128.wrapping_add(1),
            2 => t.user_data_64 = t.user_data_64.wrapping_add(1),
            3 => t.user_data_32 = t.user_data_32.wrapping_add(1),
            4 => t.ledger = t.ledger.wrapping_add(1),
            5 => t.code = t.code.wrapping_add(1),
            6 => t.amount = t.amount.wrapping_add(1),
            7 => t.amount = t.amount.wrapping_sub(1),
            8 => t.timeout = t.timeout.wrapping_add(1),
            _ => {}
        }
        t
    }
}
