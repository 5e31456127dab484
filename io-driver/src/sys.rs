//! Thin, safe wrappers over the socket and fd calls both backends need.

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{BorrowedFd, RawFd};

/// Listen backlog (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// Binds a non-blocking listener with `SO_REUSEPORT`, so every worker can open its own listener
/// on the same address and the kernel spreads connections across them.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Runs `f` with a raw fd the loop owns viewed as a socket.
fn with_sock<R>(fd: RawFd, f: impl FnOnce(SockRef<'_>) -> R) -> R {
    // SAFETY: callers only pass fds the loop owns and has not closed yet; the borrow does not
    // outlive this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    f(SockRef::from(&borrowed))
}

/// Sets up an accepted connection: non-blocking, TCP_NODELAY (as Redis does), and reports its
/// addresses.
pub(crate) fn prepare_accepted(fd: RawFd) -> io::Result<(SocketAddr, SocketAddr)> {
    with_sock(fd, |s| {
        s.set_nonblocking(true)?;
        s.set_tcp_nodelay(true)?;
        let peer = s
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("peer is not an inet socket"))?;
        let local = s
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("local is not an inet socket"))?;
        Ok((peer, local))
    })
}

/// Half-closes both directions: wakes any pending receive on the socket with end-of-file.
pub(crate) fn shutdown(fd: RawFd) {
    let _ = with_sock(fd, |s| s.shutdown(std::net::Shutdown::Both));
}

pub(crate) fn close(fd: RawFd) {
    // SAFETY: the loop owns `fd` and closes it exactly once, when its connection slot is freed.
    unsafe {
        libc::close(fd);
    }
}

/// The errno of the last failed libc call, as a negative number like io_uring results.
pub(crate) fn last_errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Raises the soft open-files limit towards `wanted` (never above the hard limit), as Redis does
/// for maxclients. Returns the soft limit in effect afterwards.
pub fn raise_fd_limit(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, live struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if (lim.rlim_cur as usize) < wanted {
            let mut raised = lim;
            raised.rlim_cur = (wanted as libc::rlim_t).min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur as usize
}
