//! Ledger requests forwarded to the worker that owns their partition, and the answers coming
//! back: one bounded queue per (from, to) worker pair, each used by one producer and one
//! consumer, plus a wake-up of the receiving worker's loop.
//!
//! A create request, from a binary-protocol connection or a RESP `LEDGER.*` command, whose
//! events all belong to partitions owned by one other worker is sent to that worker, which
//! executes it (its partitions are then only ever written from its own core) and sends the
//! encoded reply back (see `ledger_path`). Requests spanning several owners run on the receiving
//! worker holding all their partitions (the slow path); reads run on the receiving worker.

use crate::ledger_request::LedgerRequest;
use crossbeam_queue::ArrayQueue;
use io_driver::{ConnId, Waker};
use std::sync::atomic::{AtomicBool, Ordering};

/// A create request for another worker's partitions (its form says how to encode the reply).
pub struct Forwarded {
    pub origin: usize,
    pub conn: ConnId,
    pub ticket: u64,
    pub request: LedgerRequest,
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

/// One worker's sending side: messages that did not fit their destination's queue, in order,
/// and the workers to wake at the end of the loop turn.
pub(crate) struct Outbox {
    me: usize,
    /// Retried every turn. Bounded by the replies of this worker's connections (each pauses at
    /// `reply_order::MAX_TICKETS`) and by the requests this worker answers.
    waiting: Vec<(usize, Message)>,
    /// Workers (bit = index % 64) sent something this turn: woken once, however many messages.
    wake: u64,
}

impl Outbox {
    pub fn new(me: usize) -> Outbox {
        Outbox {
            me,
            waiting: Vec::new(),
            wake: 0,
        }
    }

    /// Queues `message` to worker `to`, in order: when its queue is full (or older messages to
    /// it still wait) it waits here. Returns false when it found the queue full.
    pub fn send(&mut self, mesh: &Mesh, to: usize, message: Message) -> bool {
        if self.waiting.iter().any(|(d, _)| *d == to) {
            self.waiting.push((to, message));
            return true;
        }
        match mesh.push(self.me, to, message) {
            Ok(()) => {
                self.wake_at_turn_end(1 << (to % 64));
                true
            }
            Err(message) => {
                self.waiting.push((to, message));
                false
            }
        }
    }

    /// Wakes these workers (bit = index % 64) at the end of this turn.
    pub fn wake_at_turn_end(&mut self, workers: u64) {
        self.wake |= workers;
    }

    /// Sends the messages waiting for room, then wakes every worker this turn sent something
    /// to.
    pub fn flush(&mut self, mesh: &Mesh, wakers: Option<&[Waker]>) {
        if !self.waiting.is_empty() {
            let mut kept = Vec::new();
            // Once one message to a worker does not fit, the later ones to it wait too.
            let mut full = vec![false; mesh.workers()];
            for (to, message) in self.waiting.drain(..) {
                if full[to] {
                    kept.push((to, message));
                    continue;
                }
                match mesh.push(self.me, to, message) {
                    Ok(()) => self.wake |= 1 << (to % 64),
                    Err(m) => {
                        full[to] = true;
                        kept.push((to, m));
                    }
                }
            }
            self.waiting = kept;
        }
        let woken = std::mem::take(&mut self.wake);
        if woken == 0 {
            return;
        }
        for (i, w) in wakers.unwrap_or_default().iter().enumerate() {
            if woken & (1 << (i % 64)) != 0 {
                w.wake();
            }
        }
    }
}
