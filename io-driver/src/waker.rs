//! Cross-thread wake-up of a loop: an eventfd the loop watches, plus a flag that coalesces
//! wakes so a burst of them costs one eventfd write and one [`Handler::on_wake`] call.
//!
//! [`Handler::on_wake`]: crate::Handler::on_wake

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Inner {
    fd: OwnedFd,
    /// Set by the first wake since the loop last cleared it; later wakes skip the syscall.
    pending: AtomicBool,
}

/// Wakes one loop from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Waker {
    inner: Arc<Inner>,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh eventfd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker {
            inner: Arc::new(Inner {
                fd,
                pending: AtomicBool::new(false),
            }),
        })
    }

    /// Makes the loop call its handler's `on_wake` soon. Anything published before this call
    /// (with at least release ordering) is visible to that `on_wake`.
    pub fn wake(&self) {
        if !self.inner.pending.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd we own. EAGAIN (counter
            // saturated) still leaves the fd readable, which is all we need.
            unsafe {
                libc::write(self.inner.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
        }
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

    /// Loop side: consume the eventfd's counter and re-allow the next wake's write. Must run
    /// before the handler's `on_wake`, so a wake racing with it causes another round.
    pub(crate) fn clear(&self) {
        let mut counter: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from a non-blocking eventfd we own.
        unsafe {
            libc::read(
                self.inner.fd.as_raw_fd(),
                (&mut counter as *mut u64).cast(),
                8,
            );
        }
        self.inner.pending.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn wakes_coalesce_until_cleared() {
        let w = Waker::new().unwrap();
        assert!(!readable(w.fd()));
        w.wake();
        w.clone().wake();
        assert!(readable(w.fd()));
        w.clear();
        assert!(!readable(w.fd()), "one read drains the coalesced wakes");
        w.wake();
        assert!(readable(w.fd()), "after clear, the next wake signals again");
    }
}
