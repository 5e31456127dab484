//! Owner-side facts about each account slot that readers never look at: the account's list id
//! in its partition (assigned when its creation commits) and the batch-local working-set stamp
//! that lets a batch find its working copy of an account with one array load instead of a
//! hash map.
//!
//! Two words per account slot, written only by the holder of the account's partition (so the
//! partition's mutex orders every access; the atomics only keep Rust's memory model happy when
//! neighbouring slots belong to partitions held on other threads):
//!
//! ```text
//! word 0   epoch of the attempt whose working set holds the account (0: none)
//! word 1   bits 0..32: list id + 1 (0: none yet); bits 32..64: index in that working set
//! ```

use super::storage::AtomicArray;
use std::sync::atomic::Ordering::Relaxed;

pub(crate) struct AccountMeta {
    words: AtomicArray,
}

impl AccountMeta {
    pub fn new(slots: usize, prefault: bool) -> Result<AccountMeta, String> {
        Ok(AccountMeta {
            words: AtomicArray::new(slots * 2, prefault)?,
        })
    }

    /// The account's list id in its partition, once its creation has committed.
    #[inline(always)]
    pub fn list(&self, slot: u32) -> Option<u32> {
        let w = self.words.get(slot as usize * 2 + 1).load(Relaxed) as u32;
        w.checked_sub(1)
    }

    pub fn set_list(&self, slot: u32, list: u32) {
        debug_assert!(list < u32::MAX);
        let w = self.words.get(slot as usize * 2 + 1);
        let high = w.load(Relaxed) & !u64::from(u32::MAX);
        w.store(high | u64::from(list + 1), Relaxed);
    }

    /// The working-set index of the account if attempt `epoch` put it there.
    #[inline(always)]
    pub fn working(&self, slot: u32, epoch: u64) -> Option<u32> {
        if self.words.get(slot as usize * 2).load(Relaxed) != epoch {
            return None;
        }
        Some((self.words.get(slot as usize * 2 + 1).load(Relaxed) >> 32) as u32)
    }

    #[inline(always)]
    pub fn set_working(&self, slot: u32, epoch: u64, index: u32) {
        debug_assert!(epoch != 0);
        let w = self.words.get(slot as usize * 2 + 1);
        let low = w.load(Relaxed) & u64::from(u32::MAX);
        w.store(low | (u64::from(index) << 32), Relaxed);
        self.words.get(slot as usize * 2).store(epoch, Relaxed);
    }

    /// Hints the CPU to fetch the line of `slot`'s words.
    #[inline(always)]
    pub fn prefetch(&self, slot: u32) {
        self.words.prefetch(slot as usize * 2);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn list_ids_and_working_stamps_are_independent() {
        let m = AccountMeta::new(8, false).unwrap();
        assert_eq!(m.list(3), None);
        assert_eq!(m.working(3, 1), None);
        m.set_working(3, 7, 42);
        assert_eq!(m.working(3, 7), Some(42));
        assert_eq!(m.working(3, 8), None, "another attempt's stamp is stale");
        m.set_list(3, 0);
        assert_eq!(m.list(3), Some(0));
        assert_eq!(m.working(3, 7), Some(42), "setting the list kept the stamp");
        m.set_working(3, 9, 1);
        assert_eq!((m.list(3), m.working(3, 9)), (Some(0), Some(1)));
    }
}
