//! Zero-initialised arrays of atomics, allocated once. Large tables come from an anonymous
//! mapping (pages are touched lazily; transparent huge pages are requested), so a table sized
//! for millions of records costs nothing until it is used.

use super::sync::AtomicU64;

/// A fixed-length array of `AtomicU64`, zeroed at creation.
pub(crate) struct AtomicArray {
    #[cfg(not(loom))]
    ptr: *mut AtomicU64,
    #[cfg(not(loom))]
    bytes: usize,
    #[cfg(loom)]
    items: Box<[AtomicU64]>,
    len: usize,
}

// SAFETY: the array only hands out `&AtomicU64`, which is Sync; the mapping is owned.
unsafe impl Send for AtomicArray {}
// SAFETY: as above: all access goes through atomics.
unsafe impl Sync for AtomicArray {}

impl AtomicArray {
    /// `len` zeroed words; `prefault` touches every page now (start-up) instead of on first use.
    #[cfg(not(loom))]
    pub fn new(len: usize, prefault: bool) -> Result<AtomicArray, String> {
        let bytes = len.checked_mul(8).ok_or("table too large")?.max(8);
        // Populate only after asking for huge pages: pages faulted in before the advice are
        // 4 KiB pages, and a table probed at random needs huge pages to avoid a TLB miss on
        // nearly every access.
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "cannot map {bytes} bytes for a ledger table: {}",
                std::io::Error::last_os_error()
            ));
        }
        if prefault {
            // Huge pages only for a table populated now: faulted in lazily at random, each
            // first touch of a 2 MiB page would zero all of it (a batch of random inserts into
            // a fresh multi-GB table would zero gigabytes).
            // SAFETY: advice on the region just mapped; failure (no THP) is harmless.
            unsafe {
                libc::madvise(ptr, bytes, libc::MADV_HUGEPAGE);
            }
            // MADV_POPULATE_WRITE (Linux 5.14) faults every page in now, as huge pages where
            // possible; on older kernels touch one word per page instead.
            const MADV_POPULATE_WRITE: libc::c_int = 23;
            // SAFETY: advice on the region just mapped.
            let populated = unsafe { libc::madvise(ptr, bytes, MADV_POPULATE_WRITE) } == 0;
            if !populated {
                let words = ptr.cast::<AtomicU64>();
                for page in (0..len).step_by(512) {
                    // SAFETY: `page < len`, inside the mapping, zero-initialised (a valid
                    // AtomicU64); storing the zero already there only faults the page in.
                    unsafe { (*words.add(page)).store(0, std::sync::atomic::Ordering::Relaxed) };
                }
            }
        }
        Ok(AtomicArray {
            ptr: ptr.cast(),
            bytes,
            len,
        })
    }

    #[cfg(loom)]
    pub fn new(len: usize, _prefault: bool) -> Result<AtomicArray, String> {
        Ok(AtomicArray {
            items: (0..len).map(|_| AtomicU64::new(0)).collect(),
            len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "index {i} out of bounds {}", self.len);
        #[cfg(not(loom))]
        {
            // SAFETY: `i < len`; the mapping holds `len` zero-initialised u64s, a valid
            // `AtomicU64` bit pattern, aligned to the page; it lives as long as `self`.
            unsafe { &*self.ptr.add(i) }
        }
        #[cfg(loom)]
        {
            &self.items[i]
        }
    }

    /// Words `i..i + N` (a record, or a slot's group of words), with one bounds check.
    #[inline(always)]
    pub fn block<const N: usize>(&self, i: usize) -> &[AtomicU64; N] {
        assert!(
            i.checked_add(N).is_some_and(|end| end <= self.len),
            "block {i} out of bounds {}",
            self.len
        );
        #[cfg(not(loom))]
        {
            // SAFETY: `i + N <= len`: the N words are inside the mapping, zero-initialised
            // `AtomicU64`s (arrays of them have the element's alignment), living as long as
            // `self`.
            unsafe { &*self.ptr.add(i).cast::<[AtomicU64; N]>() }
        }
        #[cfg(loom)]
        {
            match <&[AtomicU64; N]>::try_from(&self.items[i..i + N]) {
                Ok(b) => b,
                Err(_) => unreachable!("the slice has N words"),
            }
        }
    }

    /// Words `i..i + 16` (a 128-byte record).
    #[inline(always)]
    pub fn block16(&self, i: usize) -> &[AtomicU64; 16] {
        self.block::<16>(i)
    }

    /// Hints the CPU to fetch word `i`'s cache line.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        #[cfg(all(not(loom), target_arch = "x86_64"))]
        // SAFETY: prefetching is a hint that never faults, whatever the address (so no bounds
        // check: it would cost more than the hint); `wrapping_add` computes the address
        // without claiming it is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                self.ptr.wrapping_add(i) as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            );
        }
        #[cfg(any(loom, not(target_arch = "x86_64")))]
        let _ = i;
    }

    /// Hints the CPU to fetch word `i`'s cache line for writing: owned, not shared, so the
    /// store that follows does not wait for the other cores' copies to be invalidated.
    #[inline(always)]
    pub fn prefetch_for_write(&self, i: usize) {
        #[cfg(all(not(loom), target_arch = "x86_64"))]
        // SAFETY: PREFETCHW is a hint that never faults and writes nothing, whatever the
        // address (`wrapping_add` computes it without claiming it is in bounds). x86-64 CPUs
        // without it (Intel before Broadwell) execute the encoding as a no-op.
        unsafe {
            std::arch::asm!(
                "prefetchw [{p}]",
                p = in(reg) self.ptr.wrapping_add(i),
                options(nostack, preserves_flags, readonly)
            );
        }
        #[cfg(any(loom, not(target_arch = "x86_64")))]
        let _ = i;
    }
}

/// A power-of-two number of blocks of `N` words (a hash table's slots): block numbers are
/// taken modulo the block count, so every access is in bounds by construction: one AND
/// instead of a compare and a branch. The tables' slot numbers are `hash & mask` or slot
/// numbers they handed out, always in range already, so the modulo changes nothing.
pub(crate) struct BlockArray<const N: usize> {
    words: AtomicArray,
    mask: usize,
}

impl<const N: usize> BlockArray<N> {
    /// `blocks` (a power of two) zeroed blocks.
    pub fn new(blocks: usize, prefault: bool) -> Result<BlockArray<N>, String> {
        const { assert!(N > 0) };
        assert!(
            blocks.is_power_of_two(),
            "{blocks} blocks: not a power of two"
        );
        let len = blocks.checked_mul(N).ok_or("table too large")?;
        Ok(BlockArray {
            words: AtomicArray::new(len, prefault)?,
            mask: blocks - 1,
        })
    }

    #[cfg(test)]
    pub fn blocks(&self) -> usize {
        self.mask + 1
    }

    /// Block `b` (modulo the block count).
    #[inline(always)]
    pub fn block(&self, b: usize) -> &[AtomicU64; N] {
        let i = (b & self.mask) * N;
        #[cfg(not(loom))]
        {
            // SAFETY: `b & mask < blocks`, so words `i..i + N` are inside the array of
            // `blocks * N` words: zero-initialised `AtomicU64`s (arrays of them have the
            // element's alignment), living as long as `self`.
            unsafe { &*self.words.ptr.add(i).cast::<[AtomicU64; N]>() }
        }
        #[cfg(loom)]
        {
            self.words.block::<N>(i)
        }
    }

    /// Hints the CPU to fetch the line of block `b`'s word `w`.
    #[inline(always)]
    pub fn prefetch(&self, b: usize, w: usize) {
        self.words.prefetch((b & self.mask) * N + w);
    }

    /// Hints the CPU to fetch the line of block `b`'s word `w` for writing.
    #[inline(always)]
    pub fn prefetch_for_write(&self, b: usize, w: usize) {
        self.words.prefetch_for_write((b & self.mask) * N + w);
    }
}

#[cfg(not(loom))]
impl Drop for AtomicArray {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; no reference outlives `self`.
        unsafe {
            libc::munmap(self.ptr.cast(), self.bytes);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn zeroed_and_writable() {
        let a = AtomicArray::new(1 << 20, false).unwrap();
        assert_eq!(a.len, 1 << 20);
        assert_eq!(a.get(12345).load(Ordering::Relaxed), 0);
        a.get(12345).store(7, Ordering::Relaxed);
        a.prefetch(99);
        assert_eq!(a.get(12345).load(Ordering::Relaxed), 7);
        let block = a.block16(12336);
        assert_eq!(
            block[9].load(Ordering::Relaxed),
            7,
            "a block is a view of the words"
        );
        block[15].store(3, Ordering::Relaxed);
        assert_eq!(a.get(12351).load(Ordering::Relaxed), 3);
    }

    #[test]
    fn prefetch_hints_change_nothing_and_never_fault() {
        let a = AtomicArray::new(1 << 10, false).unwrap();
        a.get(5).store(11, Ordering::Relaxed);
        // In bounds, at the end, and far outside the mapping: hints never fault.
        for i in [5, (1 << 10) - 1, 1 << 40, usize::MAX / 8] {
            a.prefetch(i);
            a.prefetch_for_write(i);
        }
        assert_eq!(
            a.get(5).load(Ordering::Relaxed),
            11,
            "a hint writes nothing"
        );
        assert!((0..1 << 10)
            .filter(|&i| i != 5)
            .all(|i| a.get(i).load(Ordering::Relaxed) == 0));
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn block_bounds_are_checked() {
        let a = AtomicArray::new(20, false).unwrap();
        let _ = a.block::<4>(16);
        a.block16(5);
    }

    #[test]
    fn block_numbers_wrap_around_the_block_count() {
        let a = BlockArray::<16>::new(8, false).unwrap();
        assert_eq!(a.blocks(), 8);
        a.block(3)[15].store(7, Ordering::Relaxed);
        assert_eq!(
            a.block(11)[15].load(Ordering::Relaxed),
            7,
            "11 is 3 modulo 8"
        );
        assert_eq!(a.block(u32::MAX as usize)[0].load(Ordering::Relaxed), 0);
        a.block(7)[15].store(9, Ordering::Relaxed);
        assert_eq!(
            a.block(usize::MAX)[15].load(Ordering::Relaxed),
            9,
            "the last block"
        );
        let single = BlockArray::<1>::new(1, false).unwrap();
        single.block(5)[0].store(1, Ordering::Relaxed);
        assert_eq!(single.block(0)[0].load(Ordering::Relaxed), 1);
    }

    #[test]
    #[should_panic(expected = "not a power of two")]
    fn block_counts_are_powers_of_two() {
        let _ = BlockArray::<8>::new(12, false);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn bounds_are_checked() {
        let a = AtomicArray::new(4, false).unwrap();
        a.get(4);
    }
}
