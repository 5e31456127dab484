//! Owner-side facts about each account slot that readers never look at: the account's list id
//! in its partition (assigned when its creation commits), where its transfer list ends, and the
//! batch-local working-set stamp that lets a batch find its working copy of an account with one
//! array load instead of a hash map.
//!
//! Four words per account slot (32 bytes, two slots a cache line), written only by the holder
//! of the account's partition (so the partition's mutex orders every access; the atomics only
//! keep Rust's memory model happy when neighbouring slots belong to partitions held on other
//! threads):
//!
//! ```text
//! word 0   epoch of the attempt whose working set holds the account (0: none)
//! word 1   bits 0..32: list id + 1 (0: none yet); bits 32..64: index in that working set
//! word 2   entries in the account's transfer list
//! word 3   the list's last block + 1 (0: no block yet)
//! ```

use super::storage::AtomicArray;
use std::sync::atomic::Ordering::Relaxed;

const WORDS: usize = 4;

pub(crate) struct AccountMeta {
    words: AtomicArray,
}

impl AccountMeta {
    pub fn new(slots: usize, prefault: bool) -> Result<AccountMeta, String> {
        Ok(AccountMeta {
            words: AtomicArray::new(slots * WORDS, prefault)?,
        })
    }

    /// The four words of `slot` (one bounds check for all of them).
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

    /// (entries, last block) of the account's transfer list.
    #[inline(always)]
    pub fn list_end(&self, slot: u32) -> (u64, Option<u32>) {
        let w = self.words(slot);
        let len = w[2].load(Relaxed);
        let last = (w[3].load(Relaxed) as u32).checked_sub(1);
        (len, last)
    }

    #[inline(always)]
    pub fn set_list_end(&self, slot: u32, len: u64, last: u32) {
        let w = self.words(slot);
        w[2].store(len, Relaxed);
        w[3].store(u64::from(last) + 1, Relaxed);
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
        assert_eq!(m.list_end(3), (0, None));
        m.set_working(3, 7, 42);
        assert_eq!(m.working(3, 7), Some(42));
        assert_eq!(m.working(3, 8), None, "another attempt's stamp is stale");
        m.set_list(3, 0);
        assert_eq!(m.list(3), Some(0));
        assert_eq!(m.working(3, 7), Some(42), "setting the list kept the stamp");
        m.set_list_end(3, 17, 5);
        assert_eq!(m.list_end(3), (17, Some(5)));
        m.set_working(3, 9, 1);
        assert_eq!((m.list(3), m.working(3, 9)), (Some(0), Some(1)));
        assert_eq!(m.list_end(4), (0, None), "neighbours untouched");
    }
}
