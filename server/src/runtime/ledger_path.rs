//! The ledger request path on a worker. A request decoded by either transport (RESP `LEDGER.*`
//! or a binary frame) comes here, and this module alone decides what happens to it:
//! - **parked**, when running it now could overtake a request of the same connection that
//!   another worker computes; it runs once their answers are in;
//! - **forwarded** to the worker owning all its partitions (see `forward`), its reply's place
//!   reserved in the connection's `ReplyOrder`;
//! - **run here** otherwise, its reply going straight to the connection when nothing waits
//!   before it and the log has nothing to wait for, else held in order (see `durable`).

use super::forward::{Answer, Forwarded, Message};
use super::reply_order::Drained;
use super::worker::Worker;
use crate::ledger_reply::{self, Outcome};
use crate::ledger_request::LedgerRequest;
use io_driver::{ConnId, Io};

impl Worker {
    /// Workers a ledger request may be forwarded among now: 1 (run everything here) once
    /// shutting down, when an answer could come back after its connection closed.
    pub(crate) fn forward_workers(&self) -> usize {
        if self.shutting_down || self.runtime.state.shutdown_requested() {
            1
        } else {
            self.runtime.mesh.workers()
        }
    }

    /// Takes a ledger request of `conn`: runs it here, forwards it, or parks it. Returns the
    /// outcome when it ran here.
    pub(crate) fn submit_ledger(
        &mut self,
        io: &mut Io<'_>,
        conn: ConnId,
        request: LedgerRequest,
    ) -> Option<Outcome> {
        let owner = request.owner_elsewhere(self.forward_workers(), self.index);
        let Some(c) = self.slot(conn) else {
            request.recycle();
            return None;
        };
        if !c.replies.may_run(owner) {
            debug_assert!(
                c.parked.is_none(),
                "nothing is read while a request is parked"
            );
            c.parked = Some(Box::new(request));
            c.paused = true;
            io.pause(conn);
            return None;
        }
        match owner {
            Some(owner) => {
                self.forward(io, conn, owner, request);
                None
            }
            None => Some(self.run_here(io, conn, request)),
        }
    }

    /// Runs `request` on this worker and sends or holds its reply.
    fn run_here(&mut self, io: &mut Io<'_>, conn: ConnId, request: LedgerRequest) -> Outcome {
        let runtime = self.runtime.clone();
        let ledger = &runtime.state.ledger;
        let clock = crate::stats::clock();
        let started = clock.raw();
        // Encoded straight into the connection's output when nothing waits before it (the
        // common case: no copy); held back below if the log says it must wait.
        let direct = self.slot(conn).is_some_and(|c| c.replies.is_empty());
        let (outcome, before) = match io.output(conn).filter(|_| direct) {
            Some(out) => {
                let before = out.len();
                (ledger_reply::run(ledger, &request, out), Some(before))
            }
            None => {
                self.scratch.clear();
                (ledger_reply::run(ledger, &request, &mut self.scratch), None)
            }
        };
        crate::metrics::record_latency(clock.delta_as_nanos(started, clock.raw()) / 1000);
        request.recycle();
        if outcome.error {
            self.count_error("ERR");
        }
        let wait = self.after_ledger_request();
        let reply = match (before, &wait) {
            (Some(before), None) => {
                let written = io.output(conn).map_or(0, |out| out.len() - before);
                self.counters.net_output_bytes += written as u64;
                if outcome.close {
                    io.close(conn);
                }
                return outcome;
            }
            (Some(before), Some(_)) => match io.output(conn) {
                Some(out) => out.split_off(before),
                None => return outcome,
            },
            (None, _) => self.scratch.split(),
        };
        self.reply(io, conn, &reply, outcome.close, wait);
        outcome
    }

    /// Sends a create to the worker owning its partitions and reserves its reply's place.
    fn forward(&mut self, io: &mut Io<'_>, conn: ConnId, owner: usize, request: LedgerRequest) {
        assert_ne!(owner, self.index);
        let origin = self.index;
        let Some(c) = self.slot(conn) else {
            request.recycle();
            return;
        };
        let ticket = c.replies.reserve(owner);
        if c.replies.full() {
            c.paused = true;
            io.pause(conn);
        }
        self.counters.ledger_forwarded += 1;
        let forwarded = Forwarded {
            origin,
            conn,
            ticket,
            request,
        };
        self.send(owner, Message::Request(Box::new(forwarded)));
    }

    /// Queues a message to another worker (see `Outbox::send`).
    fn send(&mut self, to: usize, message: Message) {
        let runtime = self.runtime.clone();
        if !self.outbox.send(&runtime.mesh, to, message) {
            self.counters.forward_queue_full += 1;
        }
    }

    /// Sends the messages waiting for room and wakes the workers sent to this turn.
    pub(crate) fn flush_outbox(&mut self) {
        let runtime = self.runtime.clone();
        let wakers = runtime.wakers.get().map(Vec::as_slice);
        self.outbox.flush(&runtime.mesh, wakers);
    }

    /// Handles every message other workers sent this one: requests to run, answers to deliver.
    pub(crate) fn drain_mesh(&mut self, io: &mut Io<'_>) {
        let runtime = self.runtime.clone();
        let me = self.index;
        for from in (0..runtime.mesh.workers()).filter(|&w| w != me) {
            while let Some(message) = runtime.mesh.queue(from, me).pop() {
                match message {
                    Message::Request(r) => self.run_forwarded(*r),
                    Message::Answer(a) => self.deliver(io, *a),
                }
            }
            if runtime.mesh.take_stalled(from, me) {
                // There is room now: let the sender retry its outbox.
                self.outbox.wake_at_turn_end(1 << (from % 64));
            }
        }
        self.flush_outbox();
    }

    /// Runs a request another worker forwarded and sends it the encoded reply.
    fn run_forwarded(&mut self, forwarded: Forwarded) {
        let clock = crate::stats::clock();
        let started = clock.raw();
        let (bytes, outcome) = ledger_reply::answer(&self.runtime.state.ledger, &forwarded.request);
        crate::metrics::record_latency(clock.delta_as_nanos(started, clock.raw()) / 1000);
        forwarded.request.recycle();
        if outcome.error {
            self.count_error("ERR");
        }
        let answer = Answer {
            conn: forwarded.conn,
            ticket: forwarded.ticket,
            bytes,
            close: outcome.close,
            wait: self.after_ledger_request(),
        };
        self.send(forwarded.origin, Message::Answer(Box::new(answer)));
    }

    /// An answer for one of this worker's connections: fills its place, sends every reply now
    /// first in line, and runs the request parked behind the answers once all are in.
    fn deliver(&mut self, io: &mut Io<'_>, answer: Answer) {
        self.counters.net_output_bytes += answer.bytes.len() as u64;
        let Some(c) = self.slot(answer.conn) else {
            return;
        };
        c.replies
            .fill(answer.ticket, answer.bytes, answer.close, answer.wait);
        let parked = if c.replies.may_run(None) {
            c.parked.take()
        } else {
            None
        };
        self.drain_replies(io, answer.conn);
        if let Some(request) = parked {
            self.submit_ledger(io, answer.conn, *request);
            self.resume_if_drained(io, answer.conn);
        }
    }

    /// Puts a reply on `conn` in request order: straight into its output when nothing waits
    /// before it and `wait` is None, else held (see `ReplyOrder::hold`). `close` closes the
    /// connection once this reply has left.
    pub(crate) fn reply(
        &mut self,
        io: &mut Io<'_>,
        conn: ConnId,
        bytes: &[u8],
        close: bool,
        wait: Option<Box<[u64]>>,
    ) {
        let Some(c) = self.slot(conn) else {
            return;
        };
        if c.replies.is_empty() && wait.is_none() {
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(bytes);
            }
            if close {
                io.close(conn);
            }
            return;
        }
        let waits = wait.is_some();
        c.replies.hold(bytes, close, wait);
        if close || c.replies.full() {
            // Read nothing more for now (or ever, when closing: the connection closes once the
            // replies before this one left).
            c.paused = !close;
            io.pause(conn);
        }
        if waits {
            self.list_waiting(conn);
        }
    }

    /// Sends every reply of `conn` that is now first in line and free to leave.
    pub(crate) fn drain_replies(&mut self, io: &mut Io<'_>, conn: ConnId) {
        let runtime = self.runtime.clone();
        let watermarks = runtime.durability.as_ref().map(|d| &d.watermarks);
        let Some(Some((id, c))) = self.connections.get_mut(conn.index()) else {
            return;
        };
        if *id != conn {
            return;
        }
        let durable = |wait: &[u64]| watermarks.is_none_or(|w| w.covers(wait));
        let drained = c.replies.drain(durable, |bytes| {
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(bytes);
            }
        });
        if drained == Drained::Close {
            io.close(conn);
            return;
        }
        let waits = c.replies.front_waits_for_log();
        self.resume_if_drained(io, conn);
        if waits {
            self.list_waiting(conn);
        }
    }

    /// Reads `conn` again if it was paused and may resume (see `Connection::may_resume`).
    fn resume_if_drained(&mut self, io: &mut Io<'_>, conn: ConnId) {
        if let Some(c) = self.slot(conn).filter(|c| c.may_resume()) {
            c.paused = false;
            io.resume(conn);
        }
    }
}
