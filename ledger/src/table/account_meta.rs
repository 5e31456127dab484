//! Owner-side facts about each account slot that readers never look at: the account's list id
//! in its partition (assigned when its creation commits), its transfer list's length and the
//! newest entries of it, and the batch-local working-set stamp that lets a batch find its
//! working copy of an account with one array load instead of a hash map.
//!
//! One cache line per account slot (eight words), written only by the holder of the
//! account's partition (so the partition's mutex orders every access; the atomics only keep
//! Rust's memory model happy when neighbouring slots belong to partitions held on other
//! threads):
//!
//! ```text
//! word 0      epoch of the attempt whose working set holds the account (0: none)
//! word 1      bits 0..32: list id + 1 (0: none yet); bits 32..64: index in that working set
//! word 2      entries in the account's transfer list
//! words 3..7  the list's tail, eight 32-bit halves, the first in the low half of word 3:
//!             halves 0..7: entries 7 * (len / 7) .. len (see `lists`);
//!             half 7: the list's newest block + 1 (0: none yet)
//! word 7      a spare block of the list + 1 (0: none): one an undone append had filled,
//!             used again by the next append that fills one (see `lists`)
//! ```
//!
//! Why the tail lives here: a batch touches this line anyway (the stamp) when it first meets
//! the account, so appending a transfer to the list costs no other cache line until seven
//! have gathered, and those seven go to a fresh block of the list arena, next to the blocks
//! filled just before: sequential writes instead of one random line per append.

use super::storage::AtomicArray;
use std::sync::atomic::Ordering::Relaxed;

const WORDS: usize = 8;
const TAIL_WORD: usize = 3;
const SPARE_WORD: usize = 7;
/// 32-bit halves of the tail words: [`TAIL`] entries, then the newest block.
pub(crate) const TAIL_HALVES: usize = 8;
/// Entries of a list's tail kept in the owner words (a list arena block's worth).
pub(crate) const TAIL: usize = TAIL_HALVES - 1;

pub(crate) struct AccountMeta {
    words: AtomicArray,
}

impl AccountMeta {
    pub fn new(slots: usize, prefault: bool) -> Result<AccountMeta, String> {
        Ok(AccountMeta {
            words: AtomicArray::new(slots * WORDS, prefault)?,
        })
    }

    /// The eight words of `slot` (one bounds check for all of them).
    #[inline(always)]
    fn words(&self, slot: u32) -> &[super::sync::AtomicU64; WORDS] {
        self.words.block::<WORDS>(slot as usize * WORDS)
    }

    #[inline(always)]
    fn word(&self, slot: u32, i: usize) -> &super::sync::AtomicU64 {
        &self.words(slot)[i]
    }

    /// The account's list id in its partition, once its creation has committed.
    #[inline(always)]
    pub fn list(&self, slot: u32) -> Option<u32> {
        (self.word(slot, 1).load(Relaxed) as u32).checked_sub(1)
    }

    pub fn set_list(&self, slot: u32, list: u32) {
        debug_assert!(list < u32::MAX);
        let w = self.word(slot, 1);
        let high = w.load(Relaxed) & !u64::from(u32::MAX);
        w.store(high | u64::from(list + 1), Relaxed);
    }

    /// The working-set index of the account if attempt `epoch` put it there.
    #[inline(always)]
    pub fn working(&self, slot: u32, epoch: u64) -> Option<u32> {
        let w = self.words(slot);
        if w[0].load(Relaxed) != epoch {
            return None;
        }
        Some((w[1].load(Relaxed) >> 32) as u32)
    }

    #[inline(always)]
    pub fn set_working(&self, slot: u32, epoch: u64, index: u32) {
        debug_assert!(epoch != 0);
        let w = self.words(slot);
        let low = w[1].load(Relaxed) & u64::from(u32::MAX);
        w[1].store(low | (u64::from(index) << 32), Relaxed);
        w[0].store(epoch, Relaxed);
    }

    /// Entries in the account's transfer list.
    #[inline(always)]
    pub fn list_len(&self, slot: u32) -> u64 {
        self.word(slot, 2).load(Relaxed)
    }

    #[inline(always)]
    pub fn set_list_len(&self, slot: u32, len: u64) {
        self.word(slot, 2).store(len, Relaxed);
    }

    /// Half `i` (< [`TAIL_HALVES`]) of the list's tail: entry `i` if `i < TAIL`.
    #[inline(always)]
    pub fn tail(&self, slot: u32, i: usize) -> u32 {
        debug_assert!(i < TAIL_HALVES);
        (self.word(slot, TAIL_WORD + i / 2).load(Relaxed) >> (32 * (i % 2))) as u32
    }

    /// Sets half `i` of the list's tail, returning the value it replaces.
    #[inline(always)]
    pub fn set_tail(&self, slot: u32, i: usize, v: u32) -> u32 {
        debug_assert!(i < TAIL_HALVES);
        let w = self.word(slot, TAIL_WORD + i / 2);
        let shift = 32 * (i % 2);
        let old = w.load(Relaxed);
        w.store(
            (old & !(u64::from(u32::MAX) << shift)) | (u64::from(v) << shift),
            Relaxed,
        );
        (old >> shift) as u32
    }

    /// The list's newest block (the last of its full blocks), if it has one.
    #[inline(always)]
    pub fn newest_block(&self, slot: u32) -> Option<u32> {
        self.tail(slot, TAIL).checked_sub(1)
    }

    #[inline(always)]
    pub fn set_newest_block(&self, slot: u32, block: Option<u32>) {
        self.set_tail(slot, TAIL, block.map_or(0, |b| b + 1));
    }

    /// A block of the list's that an undone append had filled, kept for the next one.
    #[inline(always)]
    pub fn spare_block(&self, slot: u32) -> Option<u32> {
        (self.word(slot, SPARE_WORD).load(Relaxed) as u32).checked_sub(1)
    }

    #[inline(always)]
    pub fn set_spare_block(&self, slot: u32, block: Option<u32>) {
        self.word(slot, SPARE_WORD)
            .store(block.map_or(0, |b| u64::from(b) + 1), Relaxed);
    }

    /// The list's tail words, as a list arena block holds them: the entries, then the
    /// newest block before this one.
    #[inline(always)]
    pub fn tail_words(&self, slot: u32) -> [u64; TAIL_HALVES / 2] {
        let w = self.words(slot);
        std::array::from_fn(|i| w[TAIL_WORD + i].load(Relaxed))
    }

    /// Hints the CPU to fetch the line of `slot`'s words.
    #[inline(always)]
    pub fn prefetch(&self, slot: u32) {
        self.words.prefetch(slot as usize * WORDS);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_words_of_a_slot_are_independent() {
        let m = AccountMeta::new(8, false).unwrap();
        assert_eq!(m.list(3), None);
        assert_eq!(m.working(3, 1), None);
        assert_eq!(m.list_len(3), 0);
        m.set_working(3, 7, 42);
        assert_eq!(m.working(3, 7), Some(42));
        assert_eq!(m.working(3, 8), None, "another attempt's stamp is stale");
        m.set_list(3, 0);
        assert_eq!(m.list(3), Some(0));
        assert_eq!(m.working(3, 7), Some(42), "setting the list kept the stamp");
        m.set_list_len(3, 17);
        assert_eq!(m.list_len(3), 17);
        for i in 0..TAIL {
            assert_eq!(m.set_tail(3, i, 100 + i as u32), 0);
        }
        assert_eq!(
            m.set_tail(3, 5, u32::MAX),
            105,
            "the replaced entry is returned"
        );
        let want: Vec<u32> = (0..TAIL)
            .map(|i| if i == 5 { u32::MAX } else { 100 + i as u32 })
            .collect();
        assert_eq!((0..TAIL).map(|i| m.tail(3, i)).collect::<Vec<_>>(), want);
        assert_eq!(m.newest_block(3), None);
        m.set_newest_block(3, Some(0));
        assert_eq!(m.newest_block(3), Some(0), "block 0 is not 'none'");
        let words = m.tail_words(3);
        assert_eq!(
            words[2],
            (u64::from(u32::MAX) << 32) | 104,
            "two entries a word"
        );
        assert_eq!(
            words[3],
            (1 << 32) | 106,
            "the newest block + 1 in the last half"
        );
        assert_eq!(m.tail(3, 6), 106, "setting the block kept the entries");
        assert_eq!(m.spare_block(3), None);
        m.set_spare_block(3, Some(0));
        assert_eq!((m.spare_block(3), m.newest_block(3)), (Some(0), Some(0)));
        assert_eq!(m.tail_words(3), words, "the spare is not part of the tail");
        m.set_spare_block(3, None);
        assert_eq!(m.spare_block(3), None);
        m.set_working(3, 9, 1);
        assert_eq!((m.list(3), m.working(3, 9)), (Some(0), Some(1)));
        assert_eq!((m.list_len(3), m.tail(3, 0)), (17, 100));
        assert_eq!(m.list_len(4), 0, "neighbours untouched");
        assert_eq!((m.list_len(2), m.tail(2, 7), m.tail(4, 0)), (0, 0, 0));
    }
}
