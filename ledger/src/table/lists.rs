//! The accounts' transfer lists: blocks of 7 log slots (half a cache line each, with the
//! number of the list's block before it) taken from one fixed-capacity arena allocated at
//! start-up, and each list's newest entries kept in its account's owner words
//! ([`super::account_meta`]).
//!
//! A list of `len` entries is its first `len / 7` blocks, in order, then `len % 7` entries in
//! the owner words' tail. An append writes the tail (the owner line); every seventh append
//! copies the full tail, with the number of the list's newest block, into a fresh block, which
//! becomes the newest. Blocks are taken from the arena in order, so those copies go to
//! consecutive addresses. Appends are made by a batch's commit, in the order of its
//! transfers (`exec::ListAppend`), so none is ever undone.
//! Nothing else is written: where an
//! append into a per-account block costs a random cache line per append, and a `Vec` per
//! account a TLB miss and regrowth copies as well, this costs one sequential half line per
//! seven (docs/BENCHMARKS.md).
//!
//! Reads want a list's blocks in order, by position: the partition keeps that directory per
//! list and brings it up to date when a read needs it (walking back from the newest block to
//! the last one it knew), so the writer never touches it.
//!
//! Only the holder of the account's partition writes its blocks, and index reads hold the
//! partition too: the atomics keep Rust's memory model happy, they are not a protocol.
//!
//! Capacity. Every append is one side of a committed transfer (at most `max_transfers`), so
//! at most `2 * max_transfers` appends are ever made, and a list of `len` entries has taken
//! `len / 7` blocks: `2 * max_transfers / 7 + 1` blocks always suffice. (Before appends
//! moved to commit, undone appends could take blocks too, and each account had room for a
//! spare block on top.)

use super::storage::AtomicArray;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

/// Entries per block, as many as a list's tail holds; two per 64-bit word, then the number
/// of the list's previous block + 1 (0: none) in the last half word: 32 bytes.
pub(crate) const BLOCK: usize = super::account_meta::TAIL;
const WORDS: usize = super::account_meta::TAIL_HALVES / 2;

pub(crate) struct ListArena {
    words: AtomicArray,
    blocks: usize,
    next: AtomicUsize,
}

impl ListArena {
    pub fn new(max_transfers: usize, prefault: bool) -> Result<ListArena, String> {
        let blocks = max_transfers
            .checked_mul(2)
            .map(|e| e / BLOCK + 1)
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
        debug_assert!(i < BLOCK);
        self.half(block, i)
    }

    /// The list's block before `block`.
    #[inline]
    pub fn previous(&self, block: u32) -> Option<u32> {
        self.half(block, BLOCK).checked_sub(1)
    }

    #[inline(always)]
    fn half(&self, block: u32, i: usize) -> u32 {
        (self.word(block, i).load(Relaxed) >> (32 * (i % 2))) as u32
    }

    /// Fills `block` with a list's full tail words (its owner only).
    #[inline(always)]
    pub fn write_block(&self, block: u32, tail: &[u64; WORDS]) {
        for (w, &v) in self
            .words
            .block::<WORDS>(block as usize * WORDS)
            .iter()
            .zip(tail)
        {
            w.store(v, Relaxed);
        }
    }
}

/// One account's list as reads see it: its blocks in order, its tail and its length.
pub(crate) struct AccountList<'a> {
    pub arena: &'a ListArena,
    /// The list's `len / BLOCK` blocks, in order.
    pub blocks: &'a [u32],
    pub tail: [u32; BLOCK],
    pub len: usize,
}

impl AccountList<'_> {
    /// Entry `i` (< len).
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        debug_assert!(i < self.len);
        if i < self.blocks.len() * BLOCK {
            self.arena.get(self.blocks[i / BLOCK], i % BLOCK)
        } else {
            self.tail[i % BLOCK]
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The words of a block holding `entries` and the number of the block before it.
    fn words(entries: [u32; BLOCK], previous: Option<u32>) -> [u64; WORDS] {
        let mut halves = [0u32; 2 * WORDS];
        halves[..BLOCK].copy_from_slice(&entries);
        halves[BLOCK] = previous.map_or(0, |b| b + 1);
        std::array::from_fn(|i| u64::from(halves[2 * i]) | (u64::from(halves[2 * i + 1]) << 32))
    }

    #[test]
    fn a_list_is_its_full_blocks_then_its_tail_and_the_arena_is_bounded() {
        let a = ListArena::new(7, false).unwrap();
        // 2 * 7 / 7 + 1 blocks.
        let blocks: Vec<u32> = (0..3).map(|_| a.take_block().unwrap()).collect();
        assert_eq!(a.take_block(), None, "the arena is bounded");
        assert_eq!(a.take_block(), None, "and a refused take does not leak");
        let entry = |n: usize, i: usize| (n * 100 + i) as u32 + u32::MAX / 2;
        for (n, &b) in blocks.iter().enumerate() {
            let previous = n.checked_sub(1).map(|p| blocks[p]);
            a.write_block(b, &words(std::array::from_fn(|i| entry(n, i)), previous));
        }
        assert_eq!(a.previous(blocks[2]), Some(blocks[1]));
        assert_eq!(a.previous(blocks[1]), Some(blocks[0]), "block 0 is a block");
        assert_eq!(a.previous(blocks[0]), None);
        let tail: [u32; BLOCK] = std::array::from_fn(|i| 7 + i as u32);
        let list = AccountList {
            arena: &a,
            blocks: &blocks,
            tail,
            len: 3 * BLOCK + 3,
        };
        for n in 0..3 {
            for i in 0..BLOCK {
                assert_eq!(list.get(n * BLOCK + i), entry(n, i), "block {n} entry {i}");
            }
        }
        for i in 0..3 {
            assert_eq!(list.get(3 * BLOCK + i), 7 + i as u32, "tail entry {i}");
        }
        let short = AccountList {
            arena: &a,
            blocks: &[],
            tail,
            len: 5,
        };
        assert_eq!(
            (0..5).map(|i| short.get(i)).collect::<Vec<_>>(),
            [7, 8, 9, 10, 11]
        );
    }
}
