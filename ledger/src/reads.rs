//! The read API: lookups straight from the lock-free tables, and index reads.
//!
//! Consistency contract: a read sees, for each partition it touches, the state between two of
//! that partition's committed batches. Lookups get it without locks: they note each touched
//! partition's commit sequence (even = no commit in progress) before reading its records,
//! check the sequences again at the end, and look again for the ids they did not find (records
//! are never removed once committed); any change means a batch committed meanwhile, so the
//! lookup runs again. After a few tries it holds the partitions instead, so a reader never
//! starves. Index reads (account transfers/balances, queries) hold the partitions they read
//! for the duration of the read: partition state is only ever changed by a holder.

use crate::flags::{account as af, account_filter as ff, query_filter as qf};
use crate::ledger::{Ledger, BATCH_MAX};
use crate::partition::Entry;
use crate::table::log::{partition_point, RecordLog};
use crate::table::transfers::TransferTable;
use crate::table::{header, RecordTable};
use crate::types::{Account, AccountBalance, AccountFilter, QueryFilter, Transfer};
use std::sync::atomic::{fence, Ordering};

/// Lock-free attempts before a lookup holds the partitions.
const LOOKUP_TRIES: usize = 8;

/// A table lookups read from without locks.
trait ReadTable {
    type R;
    /// The committed record with `id`: (slot, its partition), or None.
    fn find(&self, id: u128) -> Option<(u32, usize)>;
    /// The committed record at `slot`, read consistently.
    fn read_at(&self, slot: u32) -> Self::R;
}

impl ReadTable for RecordTable {
    type R = Account;
    fn find(&self, id: u128) -> Option<(u32, usize)> {
        let slot = self.find_committed(id).0?;
        Some((slot, header::partition(self.header_of(slot))))
    }
    fn read_at(&self, slot: u32) -> Account {
        self.read::<Account>(slot).0
    }
}

impl ReadTable for TransferTable {
    type R = Transfer;
    fn find(&self, id: u128) -> Option<(u32, usize)> {
        match self.find_committed(id) {
            (Some(slot), Some(p)) => Some((slot, p)),
            _ => None,
        }
    }
    fn read_at(&self, slot: u32) -> Transfer {
        // A committed transfer is never rewritten: no sequence lock needed.
        self.read(slot)
    }
}

impl Ledger {
    /// The committed accounts with these ids, in request order; missing ids are left out.
    pub fn lookup_accounts(&self, ids: &[u128]) -> Vec<Account> {
        self.lookup(&self.accounts, ids)
    }

    /// The committed transfers with these ids, in request order; missing ids are left out.
    pub fn lookup_transfers(&self, ids: &[u128]) -> Vec<Transfer> {
        self.lookup(&self.transfers, ids)
    }

    pub fn lookup_account(&self, id: u128) -> Option<Account> {
        self.lookup_accounts(&[id]).pop()
    }

    pub fn lookup_transfer(&self, id: u128) -> Option<Transfer> {
        self.lookup_transfers(&[id]).pop()
    }

    fn lookup<T: ReadTable>(&self, table: &T, ids: &[u128]) -> Vec<T::R> {
        let ids = &ids[..ids.len().min(BATCH_MAX)];
        let mut out = Vec::with_capacity(ids.len());
        for _ in 0..LOOKUP_TRIES {
            out.clear();
            if self.try_lookup(table, ids, &mut out) {
                return out;
            }
            std::thread::yield_now();
        }
        // Starving: hold every partition, so nothing commits during the read.
        let _held = self.lock_all();
        out.clear();
        let consistent = self.try_lookup(table, ids, &mut out);
        debug_assert!(
            consistent,
            "no commit can happen while every partition is held"
        );
        out
    }

    fn try_lookup<T: ReadTable>(&self, table: &T, ids: &[u128], out: &mut Vec<T::R>) -> bool {
        let mut seen: Vec<(usize, u64)> = Vec::new();
        let mut missing: Vec<u128> = Vec::new();
        for &id in ids {
            if id == 0 || id == u128::MAX {
                continue;
            }
            let Some((slot, p)) = table.find(id) else {
                missing.push(id);
                continue;
            };
            if !seen.iter().any(|&(q, _)| q == p) {
                seen.push((p, self.settled_seq(p)));
            }
            out.push(table.read_at(slot));
        }
        fence(Ordering::Acquire);
        if seen
            .iter()
            .any(|&(p, s)| self.commit_seq[p].0.load(Ordering::Relaxed) != s)
        {
            return false;
        }
        missing.iter().all(|&id| table.find(id).is_none())
    }

    /// Partition `p`'s commit sequence once no commit is in progress. A commit window is short
    /// (it only publishes what the batch prepared), so waiting for it is cheaper than giving up
    /// the read; it does not count as a failed try.
    fn settled_seq(&self, p: usize) -> u64 {
        let mut spins = 0u32;
        loop {
            let s = self.commit_seq[p].0.load(Ordering::Acquire);
            if s % 2 == 0 {
                return s;
            }
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// The account's transfers matching `filter`, by timestamp (descending when reversed).
    /// An invalid filter gives an empty result.
    pub fn get_account_transfers(&self, filter: &AccountFilter) -> Vec<Transfer> {
        let Some((slot, p)) = self.filter_account(filter) else {
            return Vec::new();
        };
        let mut part = self.partitions[p].lock();
        let Some(list) = part.account_list(&self.account_meta, &self.lists, slot) else {
            return Vec::new();
        };
        let log = &self.transfers.log;
        let list = ListSlots(list, log);
        let mut out = Vec::new();
        for slot in window(
            &list,
            filter.timestamp_min,
            filter.timestamp_max,
            filter.flags & ff::REVERSED != 0,
        ) {
            let t = log.read(slot);
            if transfer_matches(&t, filter) {
                out.push(t);
                if out.len() == limit(filter.limit) {
                    break;
                }
            }
        }
        out
    }

    /// The account's balances after each of its transfers matching `filter` (accounts with
    /// the `history` flag only).
    pub fn get_account_balances(&self, filter: &AccountFilter) -> Vec<AccountBalance> {
        let Some((slot, p)) = self.filter_account(filter) else {
            return Vec::new();
        };
        let part = self.partitions[p].lock();
        let account: Account = self.accounts.read_owned(slot);
        if account.flags & af::HISTORY == 0 {
            return Vec::new();
        }
        let Some(rows) = self
            .account_meta
            .line(slot)
            .list()
            .and_then(|list| part.account_history.get(&list))
        else {
            return Vec::new();
        };
        let (lo, hi) = bounds(filter.timestamp_min, filter.timestamp_max);
        let from = rows.partition_point(|r| r.balance.timestamp < lo);
        let to = rows.partition_point(|r| r.balance.timestamp <= hi);
        let rows = &rows[from..to.max(from)];
        let mut out = Vec::new();
        let mut take = |r: &crate::partition::HistoryRow| {
            let t = self.transfers.read(r.slot);
            if transfer_matches(&t, filter) {
                out.push(r.balance);
            }
            out.len() < limit(filter.limit)
        };
        if filter.flags & ff::REVERSED != 0 {
            for r in rows.iter().rev() {
                if !take(r) {
                    break;
                }
            }
        } else {
            for r in rows {
                if !take(r) {
                    break;
                }
            }
        }
        out
    }

    /// Validates an account filter and finds its account: (slot, partition).
    fn filter_account(&self, f: &AccountFilter) -> Option<(u32, usize)> {
        let valid = f.account_id != 0
            && f.account_id != u128::MAX
            && f.limit != 0
            && f.flags & !ff::ALL == 0
            && f.flags & (ff::DEBITS | ff::CREDITS) != 0
            && f.reserved.iter().all(|&b| b == 0)
            && (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max);
        if !valid {
            return None;
        }
        let slot = self.accounts.find_committed(f.account_id).0?;
        Some((slot, header::partition(self.accounts.header_of(slot))))
    }

    /// Accounts matching every non-zero field of `filter`, by timestamp.
    pub fn query_accounts(&self, f: &QueryFilter) -> Vec<Account> {
        self.query(f, |part, out: &mut Vec<(u64, Account)>| {
            let index = &part.accounts;
            let list = index
                .by_user_data
                .list(f.user_data_128, f.user_data_64, f.user_data_32)
                .unwrap_or(&index.by_timestamp);
            let list = Entries(list);
            for slot in window(
                &list,
                f.timestamp_min,
                f.timestamp_max,
                f.flags & qf::REVERSED != 0,
            ) {
                let a: Account = self.accounts.read_owned(slot);
                let fields = (
                    a.user_data_128,
                    a.user_data_64,
                    a.user_data_32,
                    a.ledger,
                    a.code,
                );
                if query_matches(f, fields) && push_limited(out, (a.timestamp, a), f.limit) {
                    break;
                }
            }
        })
    }

    /// Transfers matching every non-zero field of `filter`, by timestamp.
    pub fn query_transfers(&self, f: &QueryFilter) -> Vec<Transfer> {
        let log = &self.transfers.log;
        self.query(f, |part, out: &mut Vec<(u64, Transfer)>| {
            let reversed = f.flags & qf::REVERSED != 0;
            let mut each = |slot: u32| {
                let t = log.read(slot);
                let fields = (
                    t.user_data_128,
                    t.user_data_64,
                    t.user_data_32,
                    t.ledger,
                    t.code,
                );
                query_matches(f, fields) && push_limited(out, (t.timestamp, t), f.limit)
            };
            match part
                .transfers_by_user_data
                .list(f.user_data_128, f.user_data_64, f.user_data_32)
            {
                Some(list) => {
                    let list = Slots(list, log);
                    for slot in window(&list, f.timestamp_min, f.timestamp_max, reversed) {
                        if each(slot) {
                            break;
                        }
                    }
                }
                None => {
                    // Every transfer of the partition, in log (= timestamp) order.
                    let list = PartitionSlots(&part.log, log);
                    for slot in window(&list, f.timestamp_min, f.timestamp_max, reversed) {
                        if each(slot) {
                            break;
                        }
                    }
                }
            }
        })
    }

    /// Runs `scan` over the partitions a query reads (its ledger's, or all), each adding up to
    /// `limit` matches in its own order, then merges them by timestamp.
    fn query<R>(
        &self,
        f: &QueryFilter,
        mut scan: impl FnMut(&crate::partition::Partition, &mut Vec<(u64, R)>),
    ) -> Vec<R> {
        let valid = f.limit != 0
            && f.flags & !qf::ALL == 0
            && f.reserved.iter().all(|&b| b == 0)
            && (f.timestamp_max == 0 || f.timestamp_min <= f.timestamp_max);
        if !valid {
            return Vec::new();
        }
        let parts: Vec<usize> = if f.ledger != 0 {
            vec![self.partition_of(f.ledger)]
        } else {
            (0..self.partition_count()).collect()
        };
        let held = self.lock(&parts);
        let mut out: Vec<(u64, R)> = Vec::new();
        for part in &held.guards {
            let mut found = Vec::new();
            scan(part, &mut found);
            out.append(&mut found);
        }
        drop(held);
        out.sort_unstable_by_key(|(ts, _)| *ts);
        if f.flags & qf::REVERSED != 0 {
            out.reverse();
        }
        out.truncate(limit(f.limit));
        out.into_iter().map(|(_, r)| r).collect()
    }
}

fn limit(l: u32) -> usize {
    (l as usize).min(BATCH_MAX)
}

/// Pushes a match; true when the scan has reached the limit.
fn push_limited<R>(out: &mut Vec<(u64, R)>, r: (u64, R), l: u32) -> bool {
    out.push(r);
    out.len() == limit(l)
}

fn query_matches(
    f: &QueryFilter,
    (u128_, u64_, u32_, ledger, code): (u128, u64, u32, u32, u16),
) -> bool {
    (f.user_data_128 == 0 || f.user_data_128 == u128_)
        && (f.user_data_64 == 0 || f.user_data_64 == u64_)
        && (f.user_data_32 == 0 || f.user_data_32 == u32_)
        && (f.ledger == 0 || f.ledger == ledger)
        && (f.code == 0 || f.code == code)
}

/// Inclusive timestamp bounds of a filter (0 = unbounded).
fn bounds(min: u64, max: u64) -> (u64, u64) {
    (min, if max == 0 { u64::MAX } else { max })
}

/// A timestamp-ordered list of record slots.
trait TimeList {
    fn len(&self) -> usize;
    fn slot(&self, i: usize) -> u32;
    fn timestamp(&self, i: usize) -> u64;
}

/// Accounts of a time index.
struct Entries<'a>(&'a [Entry]);

impl TimeList for Entries<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn slot(&self, i: usize) -> u32 {
        self.0[i].slot
    }
    fn timestamp(&self, i: usize) -> u64 {
        self.0[i].timestamp
    }
}

/// Transfers (log slots) of a per-account or user-data list.
struct Slots<'a>(&'a [u32], &'a RecordLog);

impl TimeList for Slots<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn slot(&self, i: usize) -> u32 {
        self.0[i]
    }
    fn timestamp(&self, i: usize) -> u64 {
        self.1.timestamp(self.0[i])
    }
}

/// Transfers (log slots) of an account's list.
struct ListSlots<'a>(crate::table::lists::AccountList<'a>, &'a RecordLog);

impl TimeList for ListSlots<'_> {
    fn len(&self) -> usize {
        self.0.len
    }
    fn slot(&self, i: usize) -> u32 {
        self.0.get(i)
    }
    fn timestamp(&self, i: usize) -> u64 {
        self.1.timestamp(self.0.get(i))
    }
}

/// Every transfer of a partition, in log order.
struct PartitionSlots<'a>(&'a crate::table::log::PartitionLog, &'a RecordLog);

impl TimeList for PartitionSlots<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn slot(&self, i: usize) -> u32 {
        self.0.slot(i)
    }
    fn timestamp(&self, i: usize) -> u64 {
        self.1.timestamp(self.0.slot(i))
    }
}

/// The slots of a timestamp-ordered list within [min, max], in the requested direction.
fn window<L: TimeList>(
    list: &L,
    min: u64,
    max: u64,
    reversed: bool,
) -> impl Iterator<Item = u32> + '_ {
    let (lo, hi) = bounds(min, max);
    let from = partition_point(list.len(), |i| list.timestamp(i) < lo);
    let to = partition_point(list.len(), |i| list.timestamp(i) <= hi).max(from);
    let (mut next, mut end) = (from, to);
    std::iter::from_fn(move || {
        if next == end {
            return None;
        }
        Some(list.slot(if reversed {
            end -= 1;
            end
        } else {
            next += 1;
            next - 1
        }))
    })
}

fn transfer_matches(t: &Transfer, f: &AccountFilter) -> bool {
    let side = (f.flags & ff::DEBITS != 0 && t.debit_account_id == f.account_id)
        || (f.flags & ff::CREDITS != 0 && t.credit_account_id == f.account_id);
    side && (f.user_data_128 == 0 || f.user_data_128 == t.user_data_128)
        && (f.user_data_64 == 0 || f.user_data_64 == t.user_data_64)
        && (f.user_data_32 == 0 || f.user_data_32 == t.user_data_32)
        && (f.code == 0 || f.code == t.code)
}
