//! Ledger requests forwarded to the worker that owns their partition, and the answers coming
//! back: one bounded queue per (from, to) worker pair, each used by one producer and one
//! consumer, plus a wake-up of the receiving worker's loop.
//!
//! A create request, from a binary-protocol connection or a RESP `LEDGER.*` command, whose
//! events all belong to partitions owned by one other worker is sent to that worker, which
//! executes it (its partitions are then only ever written from its own core) and sends the
//! encoded reply back. The connection keeps its replies in request order meanwhile (see
//! `Connection::tickets`). Requests spanning several owners run on the receiving worker holding
//! all their partitions (the slow path); reads run on the receiving worker.

use super::worker::Worker;
use crate::ledger_reply::{self, Form};
use crossbeam_queue::ArrayQueue;
use io_driver::{ConnId, Io};
use ledger::Ledger;
use protocol::binary::Operation;
use std::sync::atomic::{AtomicBool, Ordering};

/// A create request for another worker's partitions.
pub struct Forwarded {
    pub origin: usize,
    pub conn: ConnId,
    pub ticket: u64,
    pub operation: Operation,
    pub body: Vec<u8>,
    /// How the reply is encoded (binary frame, RESP blob or RESP human reply).
    pub form: Form,
}

/// The encoded reply frame for a forwarded request.
pub struct Answer {
    pub conn: ConnId,
    pub ticket: u64,
    pub bytes: Vec<u8>,
    /// The request was malformed: close the connection after the reply.
    pub close: bool,
    /// The reply may leave once every partition is durable up to these effect seqs.
    pub wait: Option<Box<[u64]>>,
}

pub enum Message {
    Request(Box<Forwarded>),
    Answer(Box<Answer>),
}

/// All the queues: `queue(from, to)`.
pub struct Mesh {
    workers: usize,
    queues: Vec<ArrayQueue<Message>>,
    /// Per queue: its sender found it full and keeps messages in its outbox; the receiver,
    /// having made room, wakes the sender to retry (it would otherwise wait for its next
    /// event, up to a housekeeping tick).
    stalled: Vec<AtomicBool>,
}

impl Mesh {
    /// Queues of `depth` messages (`[ledger] forward_queue_depth`) between every two workers.
    pub fn new(workers: usize, depth: usize) -> Mesh {
        assert!(depth > 0, "validated by the config");
        Mesh {
            workers,
            queues: (0..workers * workers)
                .map(|_| ArrayQueue::new(depth))
                .collect(),
            stalled: (0..workers * workers)
                .map(|_| AtomicBool::new(false))
                .collect(),
        }
    }

    pub fn queue(&self, from: usize, to: usize) -> &ArrayQueue<Message> {
        &self.queues[from * self.workers + to]
    }

    /// Pushes `message` from `from` to `to`; when the queue is full, marks it stalled (so the
    /// receiver wakes `from` once it has made room) and gives the message back.
    pub fn push(&self, from: usize, to: usize, message: Message) -> Result<(), Message> {
        let queue = self.queue(from, to);
        let Err(message) = queue.push(message) else {
            return Ok(());
        };
        self.stalled[from * self.workers + to].store(true, Ordering::SeqCst);
        // The receiver may have emptied the queue before it could see the mark: try again.
        queue.push(message)
    }

    /// Called by `to` after draining `queue(from, to)`: whether `from` waits to send more.
    pub fn take_stalled(&self, from: usize, to: usize) -> bool {
        self.stalled[from * self.workers + to].swap(false, Ordering::SeqCst)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// The worker owning every partition of this create request, when that is not `me`: the
/// request should be forwarded there. None for reads (they run where they arrive), malformed
/// bodies (refused where they arrive), requests spanning several owners (the slow path, run
/// here holding all their partitions) and a single worker.
pub fn owner_elsewhere(
    ledger: &Ledger,
    workers: usize,
    me: usize,
    operation: Operation,
    body: &[u8],
) -> Option<usize> {
    if workers <= 1
        || !matches!(
            operation,
            Operation::CreateAccounts | Operation::CreateTransfers
        )
    {
        return None;
    }
    let parts = crate::ledger_ops::partitions(ledger, operation, body)?;
    let owner = parts.first()? % workers;
    (owner != me && parts.iter().all(|p| p % workers == owner)).then_some(owner)
}

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

    /// Puts a reply on `conn` in request order: straight into its output when nothing is
    /// outstanding, else behind the replies still being computed by other workers. `close`
    /// closes the connection once this reply has left.
    pub(crate) fn send_in_order(
        &mut self,
        io: &mut Io<'_>,
        conn: ConnId,
        reply: &[u8],
        close: bool,
    ) {
        let Some(c) = self.slot(conn) else {
            return;
        };
        if c.tickets.is_empty() {
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(reply);
            }
            if close {
                io.close(conn);
            }
            return;
        }
        c.hold_reply(reply, close);
        if close || c.tickets_full() {
            // Read nothing more for now (or ever, when closing: the connection closes once the
            // replies before this one left).
            c.paused = !close;
            io.pause(conn);
        }
    }

    /// Sends a create request to the worker owning its partitions and reserves its reply's
    /// place on `conn`. The caller checked `Connection::may_run_ledger(Some(owner))`.
    pub(crate) fn forward(
        &mut self,
        io: &mut Io<'_>,
        conn: ConnId,
        owner: usize,
        operation: Operation,
        body: Vec<u8>,
        form: Form,
    ) {
        debug_assert_ne!(owner, self.index);
        let index = self.index;
        let Some(c) = self.slot(conn) else {
            return;
        };
        let ticket = c.hold_pending(owner);
        if c.tickets_full() {
            c.paused = true;
            io.pause(conn);
        }
        self.counters.ledger_forwarded += 1;
        let message = Message::Request(Box::new(Forwarded {
            origin: index,
            conn,
            ticket,
            operation,
            body,
            form,
        }));
        self.send(owner, message);
    }

    /// Queues a message to worker `to`, in order: when its queue is full (or older messages to
    /// it are still waiting) it waits in `outbox`, retried every loop turn. The outbox is
    /// bounded by the tickets of this worker's connections (each pauses at `MAX_TICKETS`) and
    /// by the requests this worker answers.
    pub(crate) fn send(&mut self, to: usize, message: Message) {
        if self.outbox.iter().any(|(d, _)| *d == to) {
            self.outbox.push((to, message));
            return;
        }
        match self.runtime.mesh.push(self.index, to, message) {
            Ok(()) => self.wake_at_turn_end |= 1 << (to % 64),
            Err(message) => {
                self.counters.forward_queue_full += 1;
                self.outbox.push((to, message));
            }
        }
    }

    /// Handles every message other workers sent this one: requests to execute, answers to
    /// deliver.
    pub(crate) fn drain_mesh(&mut self, io: &mut Io<'_>) {
        let workers = self.runtime.mesh.workers();
        let runtime = self.runtime.clone();
        let me = self.index;
        for from in (0..workers).filter(|&w| w != me) {
            while let Some(message) = runtime.mesh.queue(from, me).pop() {
                match message {
                    Message::Request(r) => {
                        let clock = crate::stats::clock();
                        let started = clock.raw();
                        let (bytes, outcome) = ledger_reply::answer(
                            &runtime.state.ledger,
                            r.operation,
                            &r.body,
                            r.form,
                        );
                        crate::metrics::record_latency(
                            clock.delta_as_nanos(started, clock.raw()) / 1000,
                        );
                        if outcome.error {
                            self.counters.error_replies += 1;
                        }
                        let wait = self.after_ledger_request();
                        let answer = Answer {
                            conn: r.conn,
                            ticket: r.ticket,
                            bytes,
                            close: outcome.close,
                            wait,
                        };
                        self.send(r.origin, Message::Answer(Box::new(answer)));
                    }
                    Message::Answer(a) => self.deliver(io, *a),
                }
            }
            if runtime.mesh.take_stalled(from, me) {
                // There is room now: let the sender retry its outbox.
                self.wake_at_turn_end |= 1 << (from % 64);
            }
        }
        self.flush_outbox();
    }

    /// Sends the messages waiting in the outbox (retried each turn while a queue is full),
    /// then wakes every worker this turn sent something to: one wake-up per worker per turn,
    /// however many messages.
    pub(crate) fn flush_outbox(&mut self) {
        let runtime = self.runtime.clone();
        if !self.outbox.is_empty() {
            let mut kept = Vec::new();
            // Once one message to a worker does not fit, the later ones to it wait too.
            let mut full = vec![false; runtime.mesh.workers()];
            for (to, message) in self.outbox.drain(..) {
                if full[to] {
                    kept.push((to, message));
                    continue;
                }
                match runtime.mesh.push(self.index, to, message) {
                    Ok(()) => self.wake_at_turn_end |= 1 << (to % 64),
                    Err(m) => {
                        full[to] = true;
                        kept.push((to, m));
                    }
                }
            }
            self.outbox = kept;
        }
        let woken = std::mem::take(&mut self.wake_at_turn_end);
        if woken == 0 {
            return;
        }
        if let Some(wakers) = runtime.wakers.get() {
            for (i, w) in wakers.iter().enumerate() {
                if woken & (1 << (i % 64)) != 0 {
                    w.wake();
                }
            }
        }
    }

    /// An answer for one of this worker's connections: fill its ticket, then send every reply
    /// that is now first in line.
    fn deliver(&mut self, io: &mut Io<'_>, answer: Answer) {
        self.counters.net_output_bytes += answer.bytes.len() as u64;
        let Some(c) = self.slot(answer.conn) else {
            return;
        };
        if let Some(t) = c.tickets.iter_mut().find(|t| t.id == answer.ticket) {
            debug_assert!(t.bytes.is_none(), "a ticket is answered once");
            c.ticket_bytes += answer.bytes.len();
            t.bytes = Some(answer.bytes);
            t.close = answer.close;
            t.wait = answer.wait;
            debug_assert!(c.pending_forwards > 0);
            c.pending_forwards -= 1;
            if c.pending_forwards == 0 {
                c.waiting_for_answers = false;
            }
        }
        self.drain_tickets(io, answer.conn);
    }
}
