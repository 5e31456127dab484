//! The provided buffer ring (io_uring `IORING_REGISTER_PBUF_RING`): `count` receive buffers of
//! `size` bytes that the kernel picks from for multishot receives. Each completion names the
//! buffer it filled; the loop hands the bytes to the handler and gives the buffer back at once.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

pub(crate) struct BufRing {
    /// Ring memory shared with the kernel: `count` entries, page aligned (mmap).
    ring: *mut BufRingEntry,
    ring_bytes: usize,
    mask: u16,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: u16,
    /// The buffers themselves, `count * size` bytes; never moved while registered.
    memory: Box<[u8]>,
    size: usize,
    pub group: u16,
}

impl BufRing {
    /// Allocates and registers the ring under buffer group `group`, all buffers available.
    pub fn new(ring: &IoUring, count: u16, size: u32, group: u16) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two() && count <= 32768,
            "buffer count must be a power of two <= 32768"
        );
        let ring_bytes = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous private mapping with no address hint; checked for MAP_FAILED.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = BufRing {
            ring: addr.cast(),
            ring_bytes,
            mask: count - 1,
            tail: 0,
            memory: vec![0u8; usize::from(count) * size as usize].into_boxed_slice(),
            size: size as usize,
            group,
        };
        // SAFETY: the ring memory is ours, page aligned, `count` entries long, and stays mapped
        // until `drop`, which runs after the IoUring is dropped (field order in the loop).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(addr as u64, count, group, 0)?;
        }
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The first `len` bytes of buffer `bid`, as filled by the kernel.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        debug_assert!(bid <= self.mask && len <= self.size);
        let start = usize::from(bid) * self.size;
        &self.memory[start..start + len.min(self.size)]
    }

    /// Returns buffer `bid` to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }

    fn push(&mut self, bid: u16) {
        debug_assert!(bid <= self.mask, "buffer id out of range");
        let slot = usize::from(self.tail & self.mask);
        let addr = self.memory[usize::from(bid) * self.size..].as_ptr() as u64;
        // SAFETY: `slot < count`, inside the mapped ring; the kernel only reads entries between
        // its head and our published tail, and this slot is past the published tail.
        let entry = unsafe { &mut *self.ring.add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the ring's first entry (the kernel's layout); it is a
        // naturally aligned u16 the kernel reads concurrently, so it is written atomically with
        // release ordering after the entries it covers.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; the ring that used it is gone.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_bytes);
        }
    }
}
