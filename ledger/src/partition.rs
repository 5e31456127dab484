//! A partition's owner-side state: what the lock-free tables do not hold.
//!
//! The tables hold the records; a partition holds, for the ledgers hashed to it, its part of
//! the transfer log (its transfers in timestamp order), the state of its pending transfers and
//! their expiry queue, and the indexes reads need (per-account transfer lists and balance
//! history, accounts by timestamp, user_data indexes). Only the partition's holder (the owner
//! executing a batch, or a reader briefly taking the lock for an index read) touches it. Every
//! list is ordered by timestamp: a partition commits its batches serially and every batch
//! takes its timestamps from the global clock, so appends arrive in timestamp order.

use crate::table::account_meta::AccountMeta;
use crate::table::lists::{AccountList, ListArena};
use crate::table::log::{partition_point, PartitionLog, RecordLog};
use crate::types::AccountBalance;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub(crate) type Map<K, V> = HashMap<K, V, FixedState>;

/// The state of a pending transfer (by its slot in the transfer log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingState {
    Pending,
    Posted,
    Voided,
    Expired,
}

/// An entry of the accounts' time index: the account's timestamp and table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub timestamp: u64,
    pub slot: u32,
}

/// A history row: the account's balances after the transfer at log slot `slot`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryRow {
    pub slot: u32,
    pub balance: AccountBalance,
}

/// Records with a non-zero user_data_128 / 64 / 32, by value, each list in timestamp order.
pub(crate) struct UserDataIndex<E> {
    pub by_128: Map<u128, Vec<E>>,
    pub by_64: Map<u64, Vec<E>>,
    pub by_32: Map<u32, Vec<E>>,
}

impl<E> Default for UserDataIndex<E> {
    fn default() -> Self {
        UserDataIndex {
            by_128: Map::default(),
            by_64: Map::default(),
            by_32: Map::default(),
        }
    }
}

impl<E: Copy> UserDataIndex<E> {
    pub fn push(&mut self, e: E, ud128: u128, ud64: u64, ud32: u32) {
        if ud128 != 0 {
            self.by_128.entry(ud128).or_default().push(e);
        }
        if ud64 != 0 {
            self.by_64.entry(ud64).or_default().push(e);
        }
        if ud32 != 0 {
            self.by_32.entry(ud32).or_default().push(e);
        }
    }

    /// The list a query with these user data fields should walk (the most selective field
    /// first), or None when no user data field is set.
    pub fn list(&self, ud128: u128, ud64: u64, ud32: u32) -> Option<&[E]> {
        if ud128 != 0 {
            Some(self.by_128.get(&ud128).map_or(&[], |v| v))
        } else if ud64 != 0 {
            Some(self.by_64.get(&ud64).map_or(&[], |v| v))
        } else if ud32 != 0 {
            Some(self.by_32.get(&ud32).map_or(&[], |v| v))
        } else {
            None
        }
    }
}

/// The partition's accounts, by timestamp and by user data.
#[derive(Default)]
pub(crate) struct AccountIndex {
    pub by_timestamp: Vec<Entry>,
    pub by_user_data: UserDataIndex<Entry>,
}

impl AccountIndex {
    pub fn push(&mut self, e: Entry, ud128: u128, ud64: u64, ud32: u32) {
        debug_assert!(
            self.by_timestamp
                .last()
                .is_none_or(|l| l.timestamp < e.timestamp),
            "timestamps increase"
        );
        self.by_timestamp.push(e);
        self.by_user_data.push(e, ud128, ud64, ud32);
    }

    /// Whether an account of this index has `timestamp` (binary search).
    pub fn has_timestamp(&self, timestamp: u64) -> bool {
        self.by_timestamp
            .binary_search_by_key(&timestamp, |e| e.timestamp)
            .is_ok()
    }
}

/// The owner-side state of one partition.
pub struct Partition {
    pub(crate) index: usize,
    /// This partition's transfers in timestamp order: the by-timestamp index of transfers.
    pub(crate) log: PartitionLog,
    /// State of every pending transfer of this partition, by log slot.
    pub(crate) pending: Map<u32, PendingState>,
    /// (expires_at, log slot) of pending transfers with a timeout, earliest first.
    pub(crate) expiry: BinaryHeap<Reverse<(u64, u32)>>,
    /// The blocks of each account's transfer list (debit or credit side, as log slots, in the
    /// list arena), in order, by the account's list id (see `table::account_meta`). The writer
    /// only chains blocks; reads bring this directory up to date ([`Self::account_list`]).
    pub(crate) account_blocks: Vec<Vec<u32>>,
    /// Balance history of accounts with the `history` flag, by list id.
    pub(crate) account_history: Map<u32, Vec<HistoryRow>>,
    pub(crate) accounts: AccountIndex,
    /// Transfers (log slots) by user data.
    pub(crate) transfers_by_user_data: UserDataIndex<u32>,
    /// Working memory of the last batch, reused by the next.
    pub(crate) buffers: Option<crate::exec::Buffers>,
}

impl Partition {
    pub(crate) fn new(index: usize) -> Partition {
        Partition {
            index,
            log: PartitionLog::new(index),
            pending: Map::default(),
            expiry: BinaryHeap::new(),
            account_blocks: Vec::new(),
            account_history: Map::default(),
            accounts: AccountIndex::default(),
            transfers_by_user_data: UserDataIndex::default(),
            buffers: None,
        }
    }

    /// This partition's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The earliest expiry time of this partition's pending transfers (ns), if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.peek().map(|Reverse((at, _))| *at)
    }

    /// Gives a newly committed account of this partition (at table slot `account`) its list.
    pub(crate) fn add_account_list(&mut self, meta: &AccountMeta, account: u32) {
        let list = self.account_blocks.len() as u32;
        self.account_blocks.push(Vec::new());
        meta.line(account).set_list(list);
    }

    /// Appends `entry` (a log slot) to the transfer list of the account at table slot
    /// `account` (committed by an earlier batch), in place. Only a committing batch appends
    /// (see `Exec::commit`), so an append is never undone.
    #[inline(always)]
    pub(crate) fn append_account_transfer(
        meta: &AccountMeta,
        arena: &ListArena,
        account: u32,
        entry: u32,
    ) {
        let line = meta.line(account);
        if line.push_tail(entry) {
            // The tail is full: it goes, with the newest block's number, to a fresh block.
            let Some(block) = arena.take_block() else {
                // The arena holds every list of a full ledger (see `table::lists`).
                panic!("invariant: account list arena exhausted");
            };
            arena.write_block(block, &line.tail_words());
            line.set_newest_block(Some(block));
        }
    }

    /// Brings the directory of the account's list blocks up to date (the writer only chains
    /// them): walks back from its newest block to the last one the directory has.
    pub(crate) fn sync_account_blocks(
        &mut self,
        meta: &AccountMeta,
        arena: &ListArena,
        account: u32,
    ) {
        let line = meta.line(account);
        let Some(list) = line.list() else {
            return;
        };
        let blocks = &mut self.account_blocks[list as usize];
        let want = line.list_shape().0 as usize;
        let known = blocks.len();
        debug_assert!(known <= want, "committed blocks never leave a list");
        if known == want {
            return;
        }
        blocks.resize(want, u32::MAX);
        let mut block = line.newest_block();
        for i in (known..want).rev() {
            let Some(b) = block else {
                panic!(
                    "invariant: list {list} has {want} blocks, chained {}",
                    want - i - 1
                );
            };
            blocks[i] = b;
            block = arena.previous(b);
        }
        debug_assert_eq!(
            block,
            known.checked_sub(1).map(|k| blocks[k]),
            "the chain meets the known blocks"
        );
    }

    /// The transfer list of this partition's account at table slot `account`, its block
    /// directory brought up to date first.
    pub(crate) fn account_list<'a>(
        &'a mut self,
        meta: &AccountMeta,
        arena: &'a ListArena,
        account: u32,
    ) -> Option<AccountList<'a>> {
        self.sync_account_blocks(meta, arena, account);
        let line = meta.line(account);
        let list = line.list()?;
        Some(AccountList {
            arena,
            blocks: &self.account_blocks[list as usize],
            tail: std::array::from_fn(|i| line.tail(i)),
            len: line.list_len() as usize,
        })
    }

    /// Whether a transfer of this partition has `timestamp` (binary search of the log).
    pub(crate) fn has_transfer_timestamp(&self, log: &RecordLog, timestamp: u64) -> bool {
        let len = self.log.len();
        let pos = partition_point(len, |p| log.timestamp(self.log.slot(p)) < timestamp);
        pos < len && log.timestamp(self.log.slot(pos)) == timestamp
    }
}

/// The partition of a ledger: a fixed hash of the ledger number, modulo the partition count
/// (stable across restarts, so a WAL replays into the same partitions).
pub fn partition_of_ledger(ledger: u32, partitions: usize) -> usize {
    debug_assert!(partitions > 0);
    let x = u64::from(ledger).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x ^ (x >> 29)) % partitions as u64) as usize
}
