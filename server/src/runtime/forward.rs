//! Ledger requests forwarded to the worker that owns their partition, and the answers coming
//! back: one bounded queue per (from, to) worker pair, each used by one producer and one
//! consumer, plus a wake-up of the receiving worker's loop.
//!
//! A create request whose events all belong to partitions owned by one other worker is sent to
//! that worker, which executes it (its partitions are then only ever written from its own
//! core) and sends the encoded reply back. The connection keeps its replies in request order
//! meanwhile (see `Connection::tickets`). Requests spanning several owners run on the receiving
//! worker holding all their partitions (the slow path); reads run on the receiving worker.

use crossbeam_queue::ArrayQueue;
use io_driver::ConnId;
use protocol::binary::Operation;

/// Messages one worker may have outstanding to another before it executes inline instead.
pub const QUEUE_DEPTH: usize = 1024;

/// A create request for another worker's partitions.
pub struct Forwarded {
    pub origin: usize,
    pub conn: ConnId,
    pub ticket: u64,
    pub operation: Operation,
    pub request_id: u64,
    pub body: Vec<u8>,
}

/// The encoded reply frame for a forwarded request.
pub struct Answer {
    pub conn: ConnId,
    pub ticket: u64,
    pub bytes: Vec<u8>,
    /// The request was malformed: close the connection after the reply.
    pub close: bool,
}

pub enum Message {
    Request(Box<Forwarded>),
    Answer(Box<Answer>),
}

/// All the queues: `queue(from, to)`.
pub struct Mesh {
    workers: usize,
    queues: Vec<ArrayQueue<Message>>,
}

impl Mesh {
    pub fn new(workers: usize) -> Mesh {
        Mesh {
            workers,
            queues: (0..workers * workers)
                .map(|_| ArrayQueue::new(QUEUE_DEPTH))
                .collect(),
        }
    }

    pub fn queue(&self, from: usize, to: usize) -> &ArrayQueue<Message> {
        &self.queues[from * self.workers + to]
    }

    pub fn workers(&self) -> usize {
        self.workers
    }
}
