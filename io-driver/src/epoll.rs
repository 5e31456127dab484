//! The epoll backend, for kernels or containers without a usable io_uring. Same contract as the
//! io_uring loop: edge-triggered readiness, reads into one per-loop buffer of `buffer_size`
//! bytes handed to the handler in place, one write per connection per turn, an eventfd for
//! wake-ups and epoll_wait's timeout for timers.

use crate::conn::{ConnId, Phase};
use crate::core::Core;
use crate::sys;
use crate::waker::Waker;
use crate::{Accepted, Config, Handler};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Tokens in epoll_event.u64: listeners and the waker are tagged apart from connections.
const TAG_CONN: u64 = 0;
const TAG_LISTENER: u64 = 1 << 62;
const TAG_WAKER: u64 = 2 << 62;

/// Most bytes read from one connection per turn, so one busy peer can't starve the others.
const READ_BUDGET_PER_TURN: usize = 1 << 20;
/// Most connections accepted per listener per turn.
const ACCEPT_BUDGET_PER_TURN: usize = 256;
const MAX_EVENTS: usize = 1024;

pub(crate) struct EpollLoop {
    epfd: OwnedFd,
    core: Core,
    listeners: Vec<Option<TcpListener>>,
    waker: Waker,
    buffer: Vec<u8>,
    events: Vec<libc::epoll_event>,
    /// Connections that may still have unread bytes (budget ran out, or resumed).
    ready: Vec<ConnId>,
}

fn ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: plain syscall on fds we own with a live event struct.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl EpollLoop {
    pub fn new(config: &Config, listeners: Vec<TcpListener>) -> io::Result<EpollLoop> {
        // SAFETY: epoll_create1 has no memory preconditions; checked below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let waker = Waker::new()?;
        ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            waker.fd(),
            libc::EPOLLIN as u32 | libc::EPOLLET as u32,
            TAG_WAKER,
        )?;
        for (i, l) in listeners.iter().enumerate() {
            l.set_nonblocking(true)?;
            ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                l.as_raw_fd(),
                libc::EPOLLIN as u32,
                TAG_LISTENER | i as u64,
            )?;
        }
        Ok(EpollLoop {
            epfd,
            core: Core::new(config.clone()),
            listeners: listeners.into_iter().map(Some).collect(),
            waker,
            buffer: vec![0u8; config.buffer_size as usize],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            ready: Vec::new(),
        })
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        handler.on_start(&mut self.core.io());
        loop {
            let n = self.wait()?;
            self.core.start_turn();
            for i in 0..n {
                let ev = self.events[i];
                let (token, flags) = (ev.u64, ev.events);
                match token & (3 << 62) {
                    TAG_WAKER => {
                        self.waker.clear();
                        handler.on_wake(&mut self.core.io());
                    }
                    TAG_LISTENER => self.accept(handler, (token & !(3 << 62)) as usize),
                    _ => {
                        let id = ConnId::from_u64(token);
                        if let Some(conn) = self.core.conns.get(id) {
                            if flags
                                & (libc::EPOLLIN
                                    | libc::EPOLLRDHUP
                                    | libc::EPOLLHUP
                                    | libc::EPOLLERR) as u32
                                != 0
                            {
                                conn.readable = true;
                                self.ready.push(id);
                            }
                            if flags & libc::EPOLLOUT as u32 != 0 && conn.write_blocked {
                                conn.write_blocked = false;
                                if !conn.queued_for_send {
                                    conn.queued_for_send = true;
                                    self.core.send_queue.push(id);
                                }
                            }
                        }
                    }
                }
            }
            self.read_ready(handler);
            self.core.fire_timers(handler);
            self.process_reads(handler);
            handler.on_turn_end(&mut self.core.io());
            self.process_sends(handler);
            self.process_closes(handler);
            if self.core.stop_accepting {
                self.listeners.iter_mut().for_each(|l| *l = None);
            }
            if self.core.drained() {
                return Ok(());
            }
        }
    }

    fn wait(&mut self) -> io::Result<usize> {
        let timeout_ms = if !self.ready.is_empty() || !self.core.read_queue.is_empty() {
            0
        } else {
            match self.core.timers.next_deadline() {
                None => -1,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        0
                    } else {
                        // Round up so a timer is never woken for early.
                        ((d - now).as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
                    }
                }
            }
        };
        // SAFETY: the events buffer has MAX_EVENTS entries and lives across the call.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                MAX_EVENTS as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    fn accept<H: Handler>(&mut self, handler: &mut H, listener: usize) {
        for _ in 0..ACCEPT_BUDGET_PER_TURN {
            if self.core.stop_accepting {
                return;
            }
            let Some(Some(l)) = self.listeners.get(listener) else {
                return;
            };
            // SAFETY: accept4 on our listening fd with null address pointers.
            let fd = unsafe {
                libc::accept4(
                    l.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                return; // EAGAIN, or a transient error (EMFILE...): try again on the next event
            }
            let Ok((peer, local)) = sys::prepare_accepted(fd) else {
                sys::close(fd);
                continue;
            };
            let Some(id) = self.core.conns.insert(fd) else {
                sys::close(fd);
                continue;
            };
            let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
            if ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd,
                events,
                TAG_CONN | id.to_u64(),
            )
            .is_err()
            {
                self.core.conns.remove(id);
                sys::close(fd);
                continue;
            }
            handler.on_accept(
                &mut self.core.io(),
                id,
                &Accepted {
                    listener,
                    peer,
                    local,
                    fd,
                },
            );
        }
    }

    /// Reads every connection that may have bytes, within the per-turn budget.
    fn read_ready<H: Handler>(&mut self, handler: &mut H) {
        let (max_out, max_in) = (
            self.core.config.max_output_bytes,
            self.core.config.max_input_bytes,
        );
        let ready = std::mem::take(&mut self.ready);
        for id in ready {
            let mut budget = READ_BUDGET_PER_TURN;
            while let Some(conn) = self.core.conns.get(id) {
                if !conn.readable || conn.phase != Phase::Open || !conn.wants_read(max_out, max_in)
                {
                    break;
                }
                if budget == 0 {
                    self.ready.push(id);
                    break;
                }
                // SAFETY: reads into our own buffer, bounded by its length.
                let n = unsafe {
                    libc::read(conn.fd, self.buffer.as_mut_ptr().cast(), self.buffer.len())
                };
                if n > 0 {
                    let n = n as usize;
                    budget = budget.saturating_sub(n);
                    let data = &self.buffer[..n];
                    self.core.deliver(handler, id, data);
                } else if n == 0 {
                    self.abort(handler, id);
                    break;
                } else {
                    let errno = sys::last_errno();
                    if errno == libc::EAGAIN || errno == libc::EWOULDBLOCK {
                        conn.readable = false;
                    } else if errno != libc::EINTR {
                        self.abort(handler, id);
                    }
                    if errno != libc::EINTR {
                        break;
                    }
                }
            }
        }
    }

    fn process_reads<H: Handler>(&mut self, handler: &mut H) {
        while let Some(id) = self.core.read_queue.pop() {
            self.core.deliver_buffered(handler, id);
            if let Some(conn) = self.core.conns.get(id) {
                if conn.readable {
                    self.ready.push(id);
                }
            }
        }
    }

    fn process_sends<H: Handler>(&mut self, handler: &mut H) {
        let queue = std::mem::take(&mut self.core.send_queue);
        for &id in &queue {
            let Some(conn) = self.core.conns.get(id) else {
                continue;
            };
            conn.queued_for_send = false;
            if conn.write_blocked || conn.output.is_empty() {
                continue;
            }
            let mut failed = false;
            let mut sent = 0;
            while sent < conn.output.len() {
                let rest = &conn.output[sent..];
                // SAFETY: writes from a live buffer, bounded by its length.
                let n = unsafe {
                    libc::send(
                        conn.fd,
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n >= 0 {
                    sent += n as usize;
                    continue;
                }
                let errno = sys::last_errno();
                if errno == libc::EINTR {
                    continue;
                }
                if errno == libc::EAGAIN || errno == libc::EWOULDBLOCK {
                    conn.write_blocked = true;
                } else {
                    failed = true;
                }
                break;
            }
            let _ = conn.output.split_to(sent);
            if conn.output.is_empty() {
                conn.output.clear();
            }
            if failed {
                self.abort(handler, id);
            } else {
                // Output may have drained below the back-pressure bound.
                self.core.read_queue.push(id);
            }
        }
        let mut queue = queue;
        queue.clear();
        if self.core.send_queue.is_empty() {
            self.core.send_queue = queue;
        }
    }

    fn process_closes<H: Handler>(&mut self, handler: &mut H) {
        let mut queue = std::mem::take(&mut self.core.close_queue);
        queue.retain(|&id| match self.core.conns.get(id) {
            Some(conn) if conn.phase == Phase::Flushing && !conn.output.is_empty() => true,
            Some(_) => {
                self.abort(handler, id);
                false
            }
            None => false,
        });
        queue.append(&mut self.core.close_queue);
        self.core.close_queue = queue;
    }

    fn abort<H: Handler>(&mut self, handler: &mut H, id: ConnId) {
        let Some(conn) = self.core.conns.get(id) else {
            return;
        };
        conn.phase = Phase::Closed;
        let fd = conn.fd;
        handler.on_close(&mut self.core.io(), id);
        // No kernel operation refers to the fd: free the slot now.
        let _ = ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
        sys::close(fd);
        self.core.conns.remove(id);
    }
}

impl Drop for EpollLoop {
    fn drop(&mut self) {
        for (_, conn) in self.core.conns.iter_mut() {
            sys::close(conn.fd);
        }
    }
}
