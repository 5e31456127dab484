//! The io_uring backend: one ring per worker (single issuer, cooperative + deferred task
//! running), multishot accept per listener, multishot recv per connection into the provided
//! buffer ring, one send in flight per connection, a multishot poll on the waker's eventfd, and
//! timers through the wait's timeout (EXT_ARG).

use crate::bufring::BufRing;
use crate::coalesce::Coalescer;
use crate::conn::{ConnId, Phase};
use crate::core::Core;
use crate::sys;
use crate::waker::Waker;
use crate::{Accepted, Config, Handler};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Operation tags in the top four bits of user_data; then a 28-bit generation, a 32-bit index.
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;
const OP_WAKE: u64 = 4;
const OP_CANCEL: u64 = 5;

fn user_data(op: u64, generation: u32, index: u32) -> u64 {
    debug_assert!(generation < (1 << 28));
    (op << 60) | (u64::from(generation) << 32) | u64::from(index)
}

fn decode(ud: u64) -> (u64, u32, u32) {
    (ud >> 60, ((ud >> 32) & 0x0FFF_FFFF) as u32, ud as u32)
}

/// Back-off before re-arming an accept that failed (e.g. EMFILE), so it cannot spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The overall timeout of a coalesced wait when no timer is due sooner (the loop just waits
/// again after it).
const COALESCED_WAIT_LIMIT: Duration = Duration::from_secs(1);

/// A relative wait timeout for the kernel.
fn timespec(wait: Duration) -> types::Timespec {
    types::Timespec::new()
        .sec(wait.as_secs())
        .nsec(wait.subsec_nanos())
}

pub(crate) struct UringLoop {
    // Field order matters: the ring is dropped before the buffer memory it references.
    ring: IoUring,
    bufs: BufRing,
    core: Core,
    listeners: Vec<Option<TcpListener>>,
    accept_armed: Vec<bool>,
    accept_retry_at: Option<Instant>,
    waker: Waker,
    wake_armed: bool,
    /// Completions copied out of the CQ each turn (reused).
    cqes: Vec<(u64, i32, u32)>,
    coalescer: Coalescer,
}

impl UringLoop {
    pub fn new(config: &Config, listeners: Vec<TcpListener>) -> io::Result<UringLoop> {
        let mut builder = IoUring::builder();
        builder
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_cqsize(config.ring_entries * 4);
        if config.defer_taskrun {
            builder.setup_defer_taskrun();
        }
        let ring = builder.build(config.ring_entries)?;
        // Without IORING_FEAT_MIN_TIMEOUT (before 6.12) the kernel would refuse the argument.
        let min_wait_us = if ring.params().is_feature_min_timeout() {
            config.min_wait_us
        } else {
            0
        };
        let bufs = BufRing::new(&ring, config.buffer_count, config.buffer_size, 0)?;
        let n = listeners.len();
        Ok(UringLoop {
            ring,
            bufs,
            core: Core::new(config.clone()),
            listeners: listeners.into_iter().map(Some).collect(),
            accept_armed: vec![false; n],
            accept_retry_at: None,
            waker: Waker::new()?,
            wake_armed: false,
            cqes: Vec::with_capacity(config.ring_entries as usize * 4),
            coalescer: Coalescer::new(min_wait_us, Instant::now()),
        })
    }

    /// Why `Config::min_wait_us` has no effect on this ring, if it has none though set.
    pub fn min_wait_notice(&self, config: &Config) -> Option<String> {
        (config.min_wait_us > 0 && !self.ring.params().is_feature_min_timeout()).then(|| {
            "[uring] min_wait_us ignored: this kernel lacks IORING_FEAT_MIN_TIMEOUT (Linux 6.12+), \
             so waits are not coalesced"
                .to_string()
        })
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Queues an SQE, submitting to make room when the queue is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry we build references memory that outlives the operation:
            // listener and connection fds stay open until their operations complete, send
            // buffers live in the connection slot until the send completes, and receive
            // buffers come from the registered buffer ring.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        handler.on_start(&mut self.core.io());
        loop {
            self.arm_accepts()?;
            if !self.wake_armed {
                let e = opcode::PollAdd::new(types::Fd(self.waker.fd()), libc::POLLIN as u32)
                    .multi(true)
                    .build()
                    .user_data(user_data(OP_WAKE, 0, 0));
                self.push(e)?;
                self.wake_armed = true;
            }
            self.wait()?;
            self.core.start_turn();
            self.coalescer.start_turn(self.core.turn_instant);
            self.cqes.clear();
            self.cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for i in 0..self.cqes.len() {
                let (ud, res, flags) = self.cqes[i];
                self.complete(handler, ud, res, flags)?;
            }
            self.core.fire_timers(handler);
            self.process_reads(handler)?;
            handler.on_turn_end(&mut self.core.io());
            self.process_closes(handler);
            self.process_sends()?;
            if self.core.stop_accepting {
                self.close_listeners()?;
            }
            // A multishot accept holds a reference to its listener until its last completion:
            // leaving before that would leave the port bound until the kernel's asynchronous
            // ring teardown ends, so a restart right after exit would fail with EADDRINUSE.
            if self.core.drained() && !self.accept_armed.contains(&true) {
                return Ok(());
            }
        }
    }

    /// Submits queued SQEs and waits for at least one completion or the next timer; with
    /// several connections active, for a few completions (see [`Coalescer`]).
    fn wait(&mut self) -> io::Result<()> {
        let now = Instant::now();
        let mut deadline = self.core.timers.next_deadline();
        if let Some(retry) = self.accept_retry_at {
            deadline = Some(deadline.map_or(retry, |d| d.min(retry)));
        }
        let result = if !self.ring.completion().is_empty() || deadline.is_some_and(|d| d <= now) {
            self.ring.submit()
        } else if let Some((nr, min_wait_us)) = self.coalescer.wait_for() {
            // Always with an overall timeout: without one the kernel ends the wait when
            // min_wait passes even if nothing completed, and an idle loop would spin.
            let ts = timespec(deadline.map_or(COALESCED_WAIT_LIMIT, |d| d - now));
            let args = types::SubmitArgs::new()
                .timespec(&ts)
                .min_wait_usec(min_wait_us);
            self.core.coalesced_waits += 1;
            self.ring.submitter().submit_with_args(nr as usize, &args)
        } else if let Some(d) = deadline {
            let ts = timespec(d - now);
            let args = types::SubmitArgs::new().timespec(&ts);
            self.ring.submitter().submit_with_args(1, &args)
        } else {
            self.ring.submit_and_wait(1)
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn arm_accepts(&mut self) -> io::Result<()> {
        if self.core.stop_accepting {
            return Ok(());
        }
        if let Some(at) = self.accept_retry_at {
            if Instant::now() < at {
                return Ok(());
            }
            self.accept_retry_at = None;
        }
        for i in 0..self.listeners.len() {
            let Some(l) = &self.listeners[i] else {
                continue;
            };
            if self.accept_armed[i] {
                continue;
            }
            let e = opcode::AcceptMulti::new(types::Fd(l.as_raw_fd()))
                .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                .build()
                .user_data(user_data(OP_ACCEPT, 0, i as u32));
            self.push(e)?;
            self.accept_armed[i] = true;
        }
        Ok(())
    }

    fn close_listeners(&mut self) -> io::Result<()> {
        for i in 0..self.listeners.len() {
            if self.listeners[i].is_none() {
                continue;
            }
            if self.accept_armed[i] {
                let e = opcode::AsyncCancel::new(user_data(OP_ACCEPT, 0, i as u32))
                    .build()
                    .user_data(user_data(OP_CANCEL, 0, 0));
                self.push(e)?;
            }
            // Dropping closes our fd; the kernel keeps the file until the cancel completes.
            self.listeners[i] = None;
        }
        Ok(())
    }

    fn complete<H: Handler>(
        &mut self,
        handler: &mut H,
        ud: u64,
        res: i32,
        flags: u32,
    ) -> io::Result<()> {
        let (op, generation, index) = decode(ud);
        match op {
            OP_ACCEPT => self.accepted(handler, index as usize, res, cqueue::more(flags)),
            OP_RECV => self.received(handler, ConnId { index, generation }, res, flags),
            OP_SEND => self.sent(handler, ConnId { index, generation }, res)?,
            OP_WAKE => {
                if !cqueue::more(flags) {
                    self.wake_armed = false;
                }
                self.waker.clear();
                handler.on_wake(&mut self.core.io());
            }
            _ => {} // cancellations: nothing to do
        }
        Ok(())
    }

    fn accepted<H: Handler>(&mut self, handler: &mut H, listener: usize, res: i32, more: bool) {
        if !more {
            if let Some(armed) = self.accept_armed.get_mut(listener) {
                *armed = false;
            }
        }
        if res < 0 {
            if res != -libc::ECANCELED {
                // EMFILE and friends: try again a little later rather than spin.
                self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
            }
            return;
        }
        let fd = res;
        if self.core.stop_accepting {
            sys::close(fd);
            return;
        }
        let (peer, local) = match sys::prepare_accepted(fd) {
            Ok(addrs) => addrs,
            Err(_) => {
                sys::close(fd);
                return;
            }
        };
        let Some(id) = self.core.conns.insert(fd) else {
            // Over this worker's hard bound: refuse at once (the handler's max_clients reply
            // comes earlier than this bound in a correctly configured server).
            sys::close(fd);
            return;
        };
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
        self.core.read_queue.push(id);
    }

    fn received<H: Handler>(&mut self, handler: &mut H, id: ConnId, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        let Some(conn) = self.core.conns.get_any(id) else {
            // A completion for a slot that has since been freed and reused: just return the buffer.
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return;
        };
        if !more {
            conn.recv_armed = false;
            conn.recv_cancelling = false;
        }
        let open = conn.phase == Phase::Open;
        if res > 0 {
            if let Some(bid) = bid {
                if open {
                    self.coalescer.note_input(&mut conn.input_epoch);
                    let data = self.bufs.data(bid, res as usize);
                    self.core.deliver(handler, id, data);
                }
                self.bufs.recycle(bid);
            }
        } else if res == 0 || (res < 0 && res != -libc::ENOBUFS && res != -libc::ECANCELED) {
            // End of stream or a socket error: the connection is over.
            if self.core.conns.get(id).is_some() {
                self.abort(handler, id);
            }
        }
        // ENOBUFS (no buffer was free) ends the multishot with the data still in the socket:
        // the buffers are recycled by now, so re-arming below loses nothing.
        if res == -libc::ENOBUFS {
            self.core.recv_buffer_parks += 1;
        }
        self.core.read_queue.push(id);
        self.try_free(id);
    }

    fn sent<H: Handler>(&mut self, handler: &mut H, id: ConnId, res: i32) -> io::Result<()> {
        let Some(conn) = self.core.conns.get_any(id) else {
            return Ok(());
        };
        conn.send_in_flight = false;
        if res < 0 {
            if conn.phase != Phase::Closed {
                self.abort(handler, id);
            }
            self.try_free(id);
            return Ok(());
        }
        conn.inflight_sent += res as usize;
        debug_assert!(conn.inflight_sent <= conn.inflight.len());
        if conn.phase == Phase::Closed {
            self.try_free(id);
            return Ok(());
        }
        if conn.inflight_sent < conn.inflight.len() {
            // Partial send: send the rest, in order, before anything newer.
            self.submit_send(id)?;
            return Ok(());
        }
        conn.inflight.clear();
        conn.inflight_sent = 0;
        if !conn.output.is_empty() && !conn.queued_for_send {
            conn.queued_for_send = true;
            self.core.send_queue.push(id);
        }
        // Output may have drained below the back-pressure bound: delivery and reading may resume.
        self.core.read_queue.push(id);
        Ok(())
    }

    fn submit_send(&mut self, id: ConnId) -> io::Result<()> {
        let Some(conn) = self.core.conns.get_any(id) else {
            return Ok(());
        };
        debug_assert!(!conn.send_in_flight, "one send in flight per connection");
        let rest = &conn.inflight[conn.inflight_sent..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        let e = opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(OP_SEND, id.generation, id.index));
        conn.send_in_flight = true;
        self.push(e)
    }

    /// One send per connection per turn: whatever accumulated becomes the in-flight buffer.
    fn process_sends(&mut self) -> io::Result<()> {
        let queue = std::mem::take(&mut self.core.send_queue);
        for &id in &queue {
            let Some(conn) = self.core.conns.get_any(id) else {
                continue;
            };
            conn.queued_for_send = false;
            if conn.phase == Phase::Closed || conn.send_in_flight || conn.output.is_empty() {
                continue;
            }
            debug_assert!(conn.inflight.is_empty());
            // Swap so both buffers keep their capacity: no allocation in the steady state.
            std::mem::swap(&mut conn.output, &mut conn.inflight);
            conn.inflight_sent = 0;
            self.submit_send(id)?;
        }
        let mut queue = queue;
        queue.clear();
        if self.core.send_queue.is_empty() {
            self.core.send_queue = queue;
        }
        Ok(())
    }

    /// Delivers held input where allowed, and starts or stops each connection's receive.
    fn process_reads<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        let (max_out, max_in) = (
            self.core.config.max_output_bytes,
            self.core.config.max_input_bytes,
        );
        while let Some(id) = self.core.read_queue.pop() {
            self.core.deliver_buffered(handler, id);
            let Some(conn) = self.core.conns.get(id) else {
                continue;
            };
            let wants = conn.wants_read(max_out, max_in);
            if wants && !conn.recv_armed && conn.phase == Phase::Open {
                let e = opcode::RecvMulti::new(types::Fd(conn.fd), self.bufs.group)
                    .build()
                    .user_data(user_data(OP_RECV, id.generation, id.index));
                conn.recv_armed = true;
                self.push(e)?;
            } else if !wants && conn.recv_armed && !conn.recv_cancelling {
                conn.recv_cancelling = true;
                let e = opcode::AsyncCancel::new(user_data(OP_RECV, id.generation, id.index))
                    .build()
                    .user_data(user_data(OP_CANCEL, 0, 0));
                self.push(e)?;
            }
        }
        Ok(())
    }

    /// Finishes closes whose output has been sent.
    fn process_closes<H: Handler>(&mut self, handler: &mut H) {
        let mut queue = std::mem::take(&mut self.core.close_queue);
        queue.retain(|&id| match self.core.conns.get(id) {
            Some(conn) if conn.phase == Phase::Flushing && conn.unsent() > 0 => true,
            Some(_) => {
                self.abort(handler, id);
                false
            }
            None => false,
        });
        queue.append(&mut self.core.close_queue);
        self.core.close_queue = queue;
    }

    /// Ends a connection now: the handler is told, reads stop, and the slot is freed once no
    /// kernel operation refers to it.
    fn abort<H: Handler>(&mut self, handler: &mut H, id: ConnId) {
        let Some(conn) = self.core.conns.get(id) else {
            return;
        };
        conn.phase = Phase::Closed;
        if conn.recv_armed {
            // Wakes the multishot receive with end-of-file, ending it.
            sys::shutdown(conn.fd);
        }
        handler.on_close(&mut self.core.io(), id);
        self.try_free(id);
    }

    fn try_free(&mut self, id: ConnId) {
        let Some(conn) = self.core.conns.get_any(id) else {
            return;
        };
        if conn.phase == Phase::Closed && !conn.recv_armed && !conn.send_in_flight {
            sys::close(conn.fd);
            self.core.conns.remove(id);
        }
    }
}

impl Drop for UringLoop {
    fn drop(&mut self) {
        for (_, conn) in self.core.conns.iter_mut() {
            sys::close(conn.fd);
        }
    }
}
