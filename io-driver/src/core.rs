//! State and logic shared by both backends: the connection table, timers, the handler-facing
//! [`Io`] context, and how received bytes reach the handler.

use crate::conn::{ConnId, ConnTable, Phase};
use crate::timer::Timers;
use crate::{Config, Handler};
use bytes::{Buf, BytesMut};
use std::time::Instant;

pub(crate) struct Core {
    pub conns: ConnTable,
    pub timers: Timers,
    pub config: Config,
    /// The handler asked the loop to finish.
    pub shutdown: bool,
    /// The handler asked to stop accepting new connections.
    pub stop_accepting: bool,
    /// Connections that may have output to send (deduplicated by `queued`).
    pub send_queue: Vec<ConnId>,
    /// Connections whose reading may need to restart (resumed, drained, ENOBUFS...).
    pub read_queue: Vec<ConnId>,
    /// Connections the handler asked to close.
    pub close_queue: Vec<ConnId>,
    /// When the current loop turn started (read once per turn, after the wait).
    pub turn_instant: Instant,
    /// The same moment as Unix milliseconds.
    pub turn_unix_ms: u64,
    /// Times a multishot receive stopped because no provided buffer was free (ENOBUFS) and
    /// had to be re-armed: a sign the buffer ring is too small for the load.
    pub recv_buffer_parks: u64,
    /// Waits that asked for more than one completion (io_uring wake-up coalescing).
    pub coalesced_waits: u64,
}

impl Core {
    pub fn new(config: Config) -> Core {
        Core {
            conns: ConnTable::new(config.max_connections),
            timers: Timers::default(),
            config,
            shutdown: false,
            stop_accepting: false,
            send_queue: Vec::new(),
            read_queue: Vec::new(),
            close_queue: Vec::new(),
            turn_instant: Instant::now(),
            turn_unix_ms: unix_ms(),
            recv_buffer_parks: 0,
            coalesced_waits: 0,
        }
    }

    /// Reads the clocks for a new loop turn.
    pub fn start_turn(&mut self) {
        self.turn_instant = Instant::now();
        self.turn_unix_ms = unix_ms();
    }

    pub fn io(&mut self) -> Io<'_> {
        Io { core: self }
    }

    /// Hands newly received bytes to the handler: in place when nothing is left over from
    /// before, else appended to the leftover first. Only the unconsumed tail is copied.
    pub fn deliver<H: Handler>(&mut self, handler: &mut H, id: ConnId, data: &[u8]) {
        let max_out = self.config.max_output_bytes;
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        if conn.phase != Phase::Open {
            return;
        }
        if conn.input.is_empty() && conn.can_deliver(max_out) {
            let consumed = handler.on_data(&mut Io { core: self }, id, data);
            debug_assert!(
                consumed <= data.len(),
                "handler consumed more than it was given"
            );
            if let Some(conn) = self.conns.get(id) {
                if conn.phase == Phase::Open && consumed < data.len() {
                    conn.input
                        .extend_from_slice(&data[consumed.min(data.len())..]);
                }
            }
        } else {
            conn.input.extend_from_slice(data);
            if conn.can_deliver(max_out) {
                self.deliver_buffered(handler, id);
            }
        }
    }

    /// Presents the connection's leftover input to the handler again (after a resume or once
    /// output drained).
    pub fn deliver_buffered<H: Handler>(&mut self, handler: &mut H, id: ConnId) {
        let max_out = self.config.max_output_bytes;
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        if conn.input.is_empty() || !conn.can_deliver(max_out) {
            return;
        }
        let mut input = std::mem::take(&mut conn.input);
        let consumed = handler.on_data(&mut Io { core: self }, id, &input);
        debug_assert!(
            consumed <= input.len(),
            "handler consumed more than it was given"
        );
        input.advance(consumed.min(input.len()));
        if let Some(conn) = self.conns.get(id) {
            debug_assert!(
                conn.input.is_empty(),
                "input arrived while the handler held it"
            );
            conn.input = input;
        }
    }

    /// Runs the timers that are due.
    pub fn fire_timers<H: Handler>(&mut self, handler: &mut H) {
        let now = Instant::now();
        while let Some(token) = self.timers.pop_due(now) {
            handler.on_timer(&mut Io { core: self }, token);
        }
    }

    /// True when the loop may exit: shutdown requested and no connection has unsent output.
    pub fn drained(&mut self) -> bool {
        self.shutdown
            && self
                .conns
                .iter_mut()
                .all(|(_, c)| c.phase == Phase::Closed || c.unsent() == 0)
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The handler's access to the loop, passed to every [`Handler`] callback.
pub struct Io<'a> {
    pub(crate) core: &'a mut Core,
}

impl Io<'_> {
    /// The connection's output buffer; whatever is appended is sent at the end of this turn,
    /// in order. `None` when the connection is closed or closing.
    pub fn output(&mut self, conn: ConnId) -> Option<&mut BytesMut> {
        let c = self.core.conns.get(conn)?;
        if c.phase != Phase::Open {
            return None;
        }
        if !c.queued_for_send {
            c.queued_for_send = true;
            self.core.send_queue.push(conn);
        }
        self.core.conns.get(conn).map(|c| &mut c.output)
    }

    /// Bytes written by the handler and not yet sent on this connection.
    pub fn unsent(&mut self, conn: ConnId) -> usize {
        self.core.conns.get(conn).map_or(0, |c| c.unsent())
    }

    /// True while the connection's unsent output is at or above the back-pressure bound. A handler that
    /// processes many requests from one delivery checks this between requests and returns early
    /// (consuming less), so output stays near the bound; the rest is delivered again once the
    /// output drains.
    pub fn backed_up(&mut self, conn: ConnId) -> bool {
        let max = self.core.config.max_output_bytes;
        self.core.conns.get(conn).is_some_and(|c| c.unsent() >= max)
    }

    /// Closes at once, dropping what is buffered either way (a client evicted for the memory
    /// its buffers hold: waiting for a peer that does not read would keep that memory). A
    /// send already in the kernel is ended by shutting the socket down; [`Handler::on_close`]
    /// follows.
    pub fn close_now(&mut self, conn: ConnId) {
        let Some(c) = self.core.conns.get(conn) else {
            return;
        };
        c.input = BytesMut::new();
        c.output = BytesMut::new();
        crate::sys::shutdown(c.fd);
        self.close(conn);
    }

    /// Bytes of buffer memory the connection holds: its unread input, its output and the send
    /// in flight (capacities: what is allocated, as Redis counts client memory).
    pub fn buffer_memory(&mut self, conn: ConnId) -> usize {
        self.core.conns.get(conn).map_or(0, |c| {
            c.input.capacity() + c.output.capacity() + c.inflight.capacity()
        })
    }

    /// Stops reading, sends what is buffered, then closes; [`Handler::on_close`] follows.
    pub fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.core.conns.get(conn) {
            if c.phase == Phase::Open {
                c.phase = Phase::Flushing;
                let queue_send = !c.queued_for_send;
                c.queued_for_send = true;
                self.core.close_queue.push(conn);
                if queue_send {
                    self.core.send_queue.push(conn);
                }
            }
        }
    }

    /// Stops delivering this connection's bytes to the handler until [`resume`](Self::resume)
    /// (bytes keep arriving into its accumulator up to the input bound, then reading stops).
    pub fn pause(&mut self, conn: ConnId) {
        if let Some(c) = self.core.conns.get(conn) {
            c.paused_by_handler = true;
        }
    }

    /// Resumes a paused connection; its buffered bytes are delivered again this turn.
    pub fn resume(&mut self, conn: ConnId) {
        if let Some(c) = self.core.conns.get(conn) {
            if c.paused_by_handler {
                c.paused_by_handler = false;
                self.core.read_queue.push(conn);
            }
        }
    }

    pub fn is_open(&mut self, conn: ConnId) -> bool {
        self.core
            .conns
            .get(conn)
            .is_some_and(|c| c.phase == Phase::Open)
    }

    /// Calls [`Handler::on_timer`] with `token` at (or soon after) `deadline`.
    pub fn set_timer(&mut self, deadline: Instant, token: u64) {
        self.core.timers.add(deadline, token);
    }

    /// Stops accepting new connections (listeners are closed); existing ones continue.
    pub fn stop_accepting(&mut self) {
        self.core.stop_accepting = true;
    }

    /// Stops accepting, and makes [`EventLoop::run`](crate::EventLoop::run) return once every
    /// connection's output has been sent. The handler closes connections it wants closed.
    pub fn shutdown(&mut self) {
        self.core.stop_accepting = true;
        self.core.shutdown = true;
    }

    /// When this loop turn started (monotonic); one clock read per turn, shared by all callbacks.
    pub fn now(&self) -> Instant {
        self.core.turn_instant
    }

    /// When this loop turn started, in Unix milliseconds.
    /// How many times receiving stalled for lack of a free provided buffer (io_uring ENOBUFS),
    /// since the loop started.
    pub fn recv_buffer_parks(&self) -> u64 {
        self.core.recv_buffer_parks
    }

    /// How many waits asked the kernel for more than one completion (io_uring wake-up
    /// coalescing, `Config::min_wait_us`), since the loop started.
    pub fn coalesced_waits(&self) -> u64 {
        self.core.coalesced_waits
    }

    pub fn unix_ms(&self) -> u64 {
        self.core.turn_unix_ms
    }

    /// Connections currently held by this loop (including ones still closing).
    pub fn connection_count(&self) -> usize {
        self.core.conns.len()
    }

    /// Ids of every open connection (for sweeps such as idle timeouts or shutdown).
    pub fn open_connections(&mut self) -> Vec<ConnId> {
        self.core
            .conns
            .iter_mut()
            .filter(|(_, c)| c.phase == Phase::Open)
            .map(|(id, _)| id)
            .collect()
    }
}
