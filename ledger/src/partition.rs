//! A partition's owner-side state: what the lock-free tables do not hold.
//!
//! The tables hold the records; a partition holds, for the ledgers hashed to it, the state of
//! its pending transfers, their expiry queue, and the indexes reads need (per-account transfer
//! lists and balance history, timestamp order, user_data indexes). Only the partition's holder
//! (the owner executing a batch, or a reader briefly taking the lock for an index read) touches
//! it. Every list is ordered by timestamp: a partition commits its batches serially and every
//! batch takes its timestamps from the global clock, so appends arrive in timestamp order.

use crate::types::AccountBalance;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub(crate) type Map<K, V> = HashMap<K, V, FixedState>;

/// The state of a pending transfer (by its slot in the transfers table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingState {
    Pending,
    Posted,
    Voided,
    Expired,
}

/// An entry of a per-account list: the transfer's timestamp and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub timestamp: u64,
    pub slot: u32,
}

/// A history row: the account's balances after the transfer at `slot`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryRow {
    pub slot: u32,
    pub balance: AccountBalance,
}

/// Time-ordered lists of record slots with optional indexes by user data.
#[derive(Default)]
pub(crate) struct TimeIndex {
    /// Every record of the partition, by timestamp.
    pub by_timestamp: Vec<Entry>,
    /// Records with a non-zero user_data_128 / 64 / 32, by value then timestamp.
    pub by_user_data_128: Map<u128, Vec<Entry>>,
    pub by_user_data_64: Map<u64, Vec<Entry>>,
    pub by_user_data_32: Map<u32, Vec<Entry>>,
}

impl TimeIndex {
    pub fn push(&mut self, e: Entry, ud128: u128, ud64: u64, ud32: u32) {
        debug_assert!(
            self.by_timestamp
                .last()
                .is_none_or(|l| l.timestamp < e.timestamp),
            "timestamps increase"
        );
        self.by_timestamp.push(e);
        if ud128 != 0 {
            self.by_user_data_128.entry(ud128).or_default().push(e);
        }
        if ud64 != 0 {
            self.by_user_data_64.entry(ud64).or_default().push(e);
        }
        if ud32 != 0 {
            self.by_user_data_32.entry(ud32).or_default().push(e);
        }
    }

    /// Whether a record of this index has `timestamp` (binary search).
    pub fn has_timestamp(&self, timestamp: u64) -> bool {
        self.by_timestamp
            .binary_search_by_key(&timestamp, |e| e.timestamp)
            .is_ok()
    }
}

/// The owner-side state of one partition.
pub struct Partition {
    pub(crate) index: usize,
    /// State of every pending transfer of this partition, by transfer slot.
    pub(crate) pending: Map<u32, PendingState>,
    /// (expires_at, transfer slot) of pending transfers with a timeout, earliest first.
    pub(crate) expiry: BinaryHeap<Reverse<(u64, u32)>>,
    /// Transfers of each account (debit or credit side), by account slot.
    pub(crate) account_transfers: Map<u32, Vec<Entry>>,
    /// Balance history of accounts with the `history` flag, by account slot.
    pub(crate) account_history: Map<u32, Vec<HistoryRow>>,
    pub(crate) accounts: TimeIndex,
    pub(crate) transfers: TimeIndex,
    /// Working memory of the last batch, reused by the next.
    pub(crate) buffers: Option<crate::exec::Buffers>,
}

impl Partition {
    pub(crate) fn new(index: usize) -> Partition {
        Partition {
            index,
            pending: Map::default(),
            expiry: BinaryHeap::new(),
            account_transfers: Map::default(),
            account_history: Map::default(),
            accounts: TimeIndex::default(),
            transfers: TimeIndex::default(),
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
}

/// The partition of a ledger: a fixed hash of the ledger number, modulo the partition count
/// (stable across restarts, so a WAL replays into the same partitions).
pub fn partition_of_ledger(ledger: u32, partitions: usize) -> usize {
    debug_assert!(partitions > 0);
    let x = u64::from(ledger).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x ^ (x >> 29)) % partitions as u64) as usize
}
