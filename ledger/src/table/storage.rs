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
    #[should_panic(expected = "out of bounds")]
    fn block_bounds_are_checked() {
        let a = AtomicArray::new(20, false).unwrap();
        let _ = a.block::<4>(16);
        a.block16(5);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn bounds_are_checked() {
        let a = AtomicArray::new(4, false).unwrap();
        a.get(4);
    }
}
