//! The accounts' transfer lists: blocks of 16 log slots (one cache line each) handed out from
//! one fixed-capacity arena, allocated at start-up.
//!
//! Why not a `Vec` per account: appending to ten thousand vectors scattered over the heap costs
//! a TLB miss and a cache miss per transfer on the development VM (its heap is on 4 KiB pages;
//! the arena, like the tables, is on huge pages), and every vector regrows by copying. Here an
//! append writes one entry into the account's last block, whose address the account's owner
//! words hold ([`super::account_meta`]); a new block is taken every 16 entries. Each account's
//! blocks, in order, are listed by its partition, for reads.
//!
//! Only the holder of the account's partition writes its blocks, and index reads hold the
//! partition too: the atomics keep Rust's memory model happy, they are not a protocol.
//! Capacity: every entry is one side of a committed transfer, and an account wastes at most one
//! partly filled block, so `2 * max_transfers / 16 + max_accounts` blocks always suffice.

use super::storage::AtomicArray;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

/// Entries per block (two per 64-bit word: 64 bytes).
pub(crate) const BLOCK: usize = 16;
const WORDS: usize = BLOCK / 2;

pub(crate) struct ListArena {
    words: AtomicArray,
    blocks: usize,
    next: AtomicUsize,
}

impl ListArena {
    pub fn new(
        max_transfers: usize,
        max_accounts: usize,
        prefault: bool,
    ) -> Result<ListArena, String> {
        let blocks = max_transfers
            .checked_mul(2)
            .map(|e| e.div_ceil(BLOCK) + max_accounts + 1)
            .filter(|&b| b < u32::MAX as usize)
            .ok_or("transfer capacity too large for the account lists")?;
        Ok(ListArena {
            words: AtomicArray::new(blocks * WORDS, prefault)?,
            blocks,
            next: AtomicUsize::new(0),
        })
    }

    /// A fresh block; None when the arena is exhausted (the capacity argument above makes that
    /// unreachable).
    pub fn take_block(&self) -> Option<u32> {
        let b = self.next.fetch_add(1, AcqRel);
        if b < self.blocks {
            Some(b as u32)
        } else {
            self.next.fetch_sub(1, AcqRel);
            None
        }
    }

    #[inline(always)]
    fn word(&self, block: u32, i: usize) -> &super::sync::AtomicU64 {
        &self.words.block::<WORDS>(block as usize * WORDS)[i / 2]
    }

    /// Entry `i` of `block`.
    #[inline(always)]
    pub fn get(&self, block: u32, i: usize) -> u32 {
        (self.word(block, i).load(Relaxed) >> (32 * (i % 2))) as u32
    }

    /// Sets entry `i` of `block` (its owner only).
    #[inline(always)]
    pub fn set(&self, block: u32, i: usize, v: u32) {
        let w = self.word(block, i);
        let shift = 32 * (i % 2);
        let old = w.load(Relaxed) & !(u64::from(u32::MAX) << shift);
        w.store(old | (u64::from(v) << shift), Relaxed);
    }

    /// Hints the CPU to fetch `block`'s line.
    #[inline(always)]
    pub fn prefetch(&self, block: u32) {
        self.words.prefetch(block as usize * WORDS);
    }
}

/// One account's list as reads see it: its blocks in order and its length.
pub(crate) struct AccountList<'a> {
    pub arena: &'a ListArena,
    pub blocks: &'a [u32],
    pub len: usize,
}

impl AccountList<'_> {
    /// Entry `i` (< len).
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        debug_assert!(i < self.len);
        self.arena.get(self.blocks[i / BLOCK], i % BLOCK)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn entries_are_packed_two_a_word_and_blocks_are_bounded() {
        let a = ListArena::new(8, 1, false).unwrap();
        // 2 * 8 / 16 + 1 + 1 blocks.
        let blocks: Vec<u32> = (0..3).map(|_| a.take_block().unwrap()).collect();
        assert_eq!(a.take_block(), None, "the arena is bounded");
        assert_eq!(a.take_block(), None, "and a refused take does not leak");
        for (n, &b) in blocks.iter().enumerate() {
            for i in 0..BLOCK {
                a.set(b, i, (n * 100 + i) as u32 + u32::MAX / 2);
            }
        }
        a.set(blocks[1], 5, 7);
        let list = AccountList {
            arena: &a,
            blocks: &blocks,
            len: 3 * BLOCK,
        };
        for n in 0..3 {
            for i in 0..BLOCK {
                let want = if (n, i) == (1, 5) {
                    7
                } else {
                    (n * 100 + i) as u32 + u32::MAX / 2
                };
                assert_eq!(list.get(n * BLOCK + i), want, "block {n} entry {i}");
            }
        }
    }
}
