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
//! word 2      the transfer list's length: full blocks << 3 | entries in the tail
//! words 3..7  the list's tail, eight 32-bit halves, the first in the low half of word 3:
//!             halves 0..7: entries 7 * (len / 7) .. len (see `lists`);
//!             half 7: the list's newest block + 1 (0: none yet)
//! word 7      unused
//! ```
//!
//! Why the tail lives here: a batch touches this line anyway (the stamp) when it first meets
//! the account, so appending a transfer to the list costs no other cache line until seven
//! have gathered, and those seven go to a fresh block of the list arena, next to the blocks
//! filled just before: sequential writes instead of one random line per append.

use super::storage::BlockArray;
use std::sync::atomic::Ordering::Relaxed;

const WORDS: usize = 8;
const TAIL_WORD: usize = 3;
/// 32-bit halves of the tail words: [`TAIL`] entries, then the newest block.
pub(crate) const TAIL_HALVES: usize = 8;
/// Entries of a list's tail kept in the owner words (a list arena block's worth).
pub(crate) const TAIL: usize = TAIL_HALVES - 1;
/// Word 2 keeps a list's shape as `blocks << SHAPE_TAIL_BITS | entries in the tail`.
const SHAPE_TAIL_BITS: u32 = 3;
const SHAPE_TAIL_MASK: u64 = (1 << SHAPE_TAIL_BITS) - 1;
const _: () = assert!(
    TAIL as u64 <= SHAPE_TAIL_MASK,
    "a tail's length fits word 2's low bits"
);

pub(crate) struct AccountMeta {
    words: BlockArray<WORDS>,
}

impl AccountMeta {
    pub fn new(slots: usize, prefault: bool) -> Result<AccountMeta, String> {
        Ok(AccountMeta {
            words: BlockArray::new(slots, prefault)?,
        })
    }

    /// The owner line of `slot` (one bounds check for all its words).
    #[inline(always)]
    pub fn line(&self, slot: u32) -> OwnerLine<'_> {
        OwnerLine(self.words.block(slot as usize))
    }

    /// Hints the CPU to fetch the line of `slot`'s words.
    #[inline(always)]
    pub fn prefetch(&self, slot: u32) {
        self.words.prefetch(slot as usize, 0);
    }
}

/// One account slot's owner words (see the module doc for their layout).
#[derive(Clone, Copy)]
pub(crate) struct OwnerLine<'a>(&'a [super::sync::AtomicU64; WORDS]);

impl<'a> OwnerLine<'a> {
    #[inline(always)]
    fn word(&self, i: usize) -> &'a super::sync::AtomicU64 {
        &self.0[i]
    }

    /// The account's list id in its partition, once its creation has committed.
    #[inline(always)]
    pub fn list(&self) -> Option<u32> {
        (self.word(1).load(Relaxed) as u32).checked_sub(1)
    }

    pub fn set_list(&self, list: u32) {
        debug_assert!(list < u32::MAX);
        let w = self.word(1);
        let high = w.load(Relaxed) & !u64::from(u32::MAX);
        w.store(high | u64::from(list + 1), Relaxed);
    }

    /// The working-set index of the account if attempt `epoch` put it there.
    #[inline(always)]
    pub fn working(&self, epoch: u64) -> Option<u32> {
        let w = self.0;
        if w[0].load(Relaxed) != epoch {
            return None;
        }
        Some((w[1].load(Relaxed) >> 32) as u32)
    }

    #[inline(always)]
    pub fn set_working(&self, epoch: u64, index: u32) {
        debug_assert!(epoch != 0);
        let w = self.0;
        let low = w[1].load(Relaxed) & u64::from(u32::MAX);
        w[1].store(low | (u64::from(index) << 32), Relaxed);
        w[0].store(epoch, Relaxed);
    }

    /// Entries in the account's transfer list.
    #[inline(always)]
    pub fn list_len(&self) -> u64 {
        let (blocks, tail) = self.list_shape();
        blocks * TAIL as u64 + tail as u64
    }

    /// The list's full blocks and the entries in its tail (`len / 7`, `len % 7`), as word 2
    /// keeps them (`blocks << SHAPE_TAIL_BITS | tail`), so an append needs no division.
    #[inline(always)]
    pub fn list_shape(&self) -> (u64, usize) {
        let w = self.word(2).load(Relaxed);
        (w >> SHAPE_TAIL_BITS, (w & SHAPE_TAIL_MASK) as usize)
    }

    /// Appends `entry` to the list's tail; true when that filled the tail, whose entries the
    /// caller then moves to a block of their own (the shape counts them as a full block
    /// already, and the tail starts again from its first half).
    #[inline(always)]
    pub fn push_tail(&self, entry: u32) -> bool {
        let w = self.word(2);
        let old = w.load(Relaxed);
        let i = (old & SHAPE_TAIL_MASK) as usize;
        self.set_entry(i, entry);
        let full = i == TAIL - 1;
        w.store(
            if full {
                (old | SHAPE_TAIL_MASK) + 1
            } else {
                old + 1
            },
            Relaxed,
        );
        full
    }

    /// Sets tail entry `i` (< [`TAIL`]): one 32-bit store.
    #[inline(always)]
    fn set_entry(&self, i: usize, v: u32) {
        assert!(i < TAIL);
        #[cfg(all(not(loom), target_endian = "little"))]
        {
            let half = 2 * TAIL_WORD + i;
            // SAFETY: `half < 16`: the pointer is a 32-bit half of the line's 64 bytes, the low
            // (even `half`) or high half of a tail word (little-endian, as `tail` reads them),
            // 4-byte aligned, valid for as long as the line; it is derived from the whole
            // line's shared reference to atomics, whose contents may be mutated through it. A
            // 32-bit atomic access to part of a word otherwise accessed by 64-bit atomics is
            // sound because none of them race: only the holder of the account's partition
            // touches its owner line (see the module doc), so its lock orders every access.
            // (Indexing the tail word and then its half costs 5 instructions more per append.)
            let cell = unsafe {
                let line = self.0.as_ptr().cast::<u32>().cast_mut();
                std::sync::atomic::AtomicU32::from_ptr(line.add(half))
            };
            cell.store(v, Relaxed);
        }
        #[cfg(any(loom, not(target_endian = "little")))]
        self.set_tail(i, v);
    }

    #[cfg(test)]
    pub fn set_list_len(&self, len: u64) {
        let shape = ((len / TAIL as u64) << SHAPE_TAIL_BITS) | (len % TAIL as u64);
        self.word(2).store(shape, Relaxed);
    }

    /// Half `i` (< [`TAIL_HALVES`]) of the list's tail: entry `i` if `i < TAIL`.
    #[inline(always)]
    pub fn tail(&self, i: usize) -> u32 {
        debug_assert!(i < TAIL_HALVES);
        (self.word(TAIL_WORD + i / 2).load(Relaxed) >> (32 * (i % 2))) as u32
    }

    /// Sets half `i` of the list's tail.
    #[inline(always)]
    pub fn set_tail(&self, i: usize, v: u32) {
        debug_assert!(i < TAIL_HALVES);
        let w = self.word(TAIL_WORD + i / 2);
        let shift = 32 * (i % 2);
        let old = w.load(Relaxed);
        w.store(
            (old & !(u64::from(u32::MAX) << shift)) | (u64::from(v) << shift),
            Relaxed,
        );
    }

    /// The list's newest block (the last of its full blocks), if it has one.
    #[inline(always)]
    pub fn newest_block(&self) -> Option<u32> {
        self.tail(TAIL).checked_sub(1)
    }

    #[inline(always)]
    pub fn set_newest_block(&self, block: Option<u32>) {
        self.set_tail(TAIL, block.map_or(0, |b| b + 1));
    }

    /// The list's tail words, as a list arena block holds them: the entries, then the
    /// newest block before this one.
    #[inline(always)]
    pub fn tail_words(&self) -> [u64; TAIL_HALVES / 2] {
        let w = self.0;
        std::array::from_fn(|i| w[TAIL_WORD + i].load(Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_list_grows_by_blocks_and_tail() {
        let m = AccountMeta::new(8, false).unwrap();
        let line = m.line(5);
        for n in 0..40u64 {
            assert_eq!(
                line.list_shape(),
                (n / 7, (n % 7) as usize),
                "after {n} appends"
            );
            assert_eq!(line.list_len(), n);
            let i = (n % 7) as usize;
            assert_eq!(
                line.push_tail(1000 + n as u32),
                i == TAIL - 1,
                "after {n} appends"
            );
            assert_eq!(line.tail(i), 1000 + n as u32, "entry {n} is tail entry {i}");
            if i > 0 {
                assert_eq!(line.tail(i - 1), 999 + n as u32, "its neighbour kept");
            }
        }
        assert_eq!(line.tail(TAIL), 0, "the newest block's half untouched");
        line.set_list_len(23);
        assert_eq!(line.list_shape(), (3, 2));
        assert_eq!(m.line(4).list_len(), 0, "neighbours untouched");
    }

    #[test]
    fn the_words_of_a_slot_are_independent() {
        let m = AccountMeta::new(8, false).unwrap();
        assert_eq!(m.line(3).list(), None);
        assert_eq!(m.line(3).working(1), None);
        assert_eq!(m.line(3).list_len(), 0);
        m.line(3).set_working(7, 42);
        assert_eq!(m.line(3).working(7), Some(42));
        assert_eq!(
            m.line(3).working(8),
            None,
            "another attempt's stamp is stale"
        );
        m.line(3).set_list(0);
        assert_eq!(m.line(3).list(), Some(0));
        assert_eq!(
            m.line(3).working(7),
            Some(42),
            "setting the list kept the stamp"
        );
        m.line(3).set_list_len(17);
        assert_eq!(m.line(3).list_len(), 17);
        for i in 0..TAIL {
            assert_eq!(m.line(3).tail(i), 0);
            m.line(3).set_tail(i, 100 + i as u32);
        }
        assert_eq!(m.line(3).tail(5), 105);
        m.line(3).set_tail(5, u32::MAX);
        let want: Vec<u32> = (0..TAIL)
            .map(|i| if i == 5 { u32::MAX } else { 100 + i as u32 })
            .collect();
        assert_eq!(
            (0..TAIL).map(|i| m.line(3).tail(i)).collect::<Vec<_>>(),
            want
        );
        assert_eq!(m.line(3).newest_block(), None);
        m.line(3).set_newest_block(Some(0));
        assert_eq!(m.line(3).newest_block(), Some(0), "block 0 is not 'none'");
        let words = m.line(3).tail_words();
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
        assert_eq!(m.line(3).tail(6), 106, "setting the block kept the entries");
        m.line(3).set_working(9, 1);
        assert_eq!((m.line(3).list(), m.line(3).working(9)), (Some(0), Some(1)));
        assert_eq!((m.line(3).list_len(), m.line(3).tail(0)), (17, 100));
        assert_eq!(m.line(4).list_len(), 0, "neighbours untouched");
        assert_eq!(
            (m.line(2).list_len(), m.line(2).tail(7), m.line(4).tail(0)),
            (0, 0, 0)
        );
    }
}
