//! One RESP connection's state on its worker: the request parser, the client state the commands
//! see, and when it was last active.

use crate::client::ClientState;
use protocol::resp::{ParseLimits, RequestParser};
use std::time::Instant;

/// Replies a connection may have waiting behind a forwarded request before it is paused.
pub(crate) const MAX_TICKETS: usize = 64;
/// Bytes of finished replies a connection may have waiting behind a forwarded request before it
/// is paused (a client pipelining cheap commands behind a slow create).
pub(crate) const MAX_TICKET_BYTES: usize = 4 << 20;

/// A reply slot kept in request order while an earlier request is executed by another worker,
/// or while a ledger reply waits for the write-ahead log.
pub(crate) struct Ticket {
    pub id: u64,
    /// The encoded reply, once known.
    pub bytes: Option<Vec<u8>>,
    /// Close the connection after this reply (a malformed request).
    pub close: bool,
    /// The reply may leave only once every partition is durable up to these effect seqs (see
    /// `durability::Watermarks::covers`); None: as soon as it is first in line.
    pub wait: Option<Box<[u64]>>,
}

pub(crate) struct Connection {
    /// Replies waiting for an earlier forwarded request's answer, oldest first (bounded by
    /// `MAX_TICKETS`: the connection is paused at the bound).
    pub tickets: std::collections::VecDeque<Ticket>,
    pub next_ticket: u64,
    /// Bytes of finished replies waiting in `tickets` (bounded by `MAX_TICKET_BYTES`).
    pub ticket_bytes: usize,
    /// Forwarded requests whose answers have not come back, all sent to `pending_owner`.
    pub pending_forwards: usize,
    pub pending_owner: usize,
    /// A ledger request is waiting for `pending_forwards` to reach 0 before it may run.
    pub waiting_for_answers: bool,
    /// Listed in the worker's connections with replies waiting for the log (`durable_waiting`).
    pub durable_listed: bool,
    /// Paused by the worker: `tickets` is full, or `waiting_for_answers` (resumed when neither
    /// holds any more).
    pub paused: bool,
    /// Accepted on a `protocol = "binary"` listener: frames, not RESP.
    pub binary: bool,
    pub parser: RequestParser,
    /// Don't try to parse again before the buffered input reaches this many bytes.
    pub needed: usize,
    pub client: ClientState,
    pub last_active: Instant,
}

impl Connection {
    pub fn new(client: ClientState, limits: ParseLimits, binary: bool) -> Connection {
        Connection {
            tickets: std::collections::VecDeque::new(),
            next_ticket: 0,
            ticket_bytes: 0,
            pending_forwards: 0,
            pending_owner: 0,
            waiting_for_answers: false,
            durable_listed: false,
            paused: false,
            binary,
            parser: RequestParser::new(limits),
            needed: 0,
            client,
            last_active: Instant::now(),
        }
    }
}

impl Connection {
    /// Queues a finished reply behind the replies still being computed elsewhere, merged into
    /// the last queued reply when that one is finished too.
    pub fn hold_reply(&mut self, bytes: &[u8], close: bool) {
        debug_assert!(
            !self.tickets.is_empty(),
            "replies are held only behind a forwarded or waiting one"
        );
        self.ticket_bytes += bytes.len();
        self.push_reply(bytes, close, None);
    }

    /// Queues a finished reply that may only leave once `wait` is durable (see `Ticket`).
    pub fn hold_durable(&mut self, bytes: &[u8], close: bool, wait: Box<[u64]>) {
        self.ticket_bytes += bytes.len();
        self.push_reply(bytes, close, Some(wait));
    }

    /// Appends a finished reply behind the queued ones: merged into the last one when that is
    /// finished too (the merged reply waits for both conditions), else as a new ticket.
    fn push_reply(&mut self, bytes: &[u8], close: bool, wait: Option<Box<[u64]>>) {
        if let Some(last) = self.tickets.back_mut() {
            if let (Some(held), false) = (last.bytes.as_mut(), last.close) {
                held.extend_from_slice(bytes);
                last.close = close;
                last.wait = match (last.wait.take(), wait) {
                    (Some(mut a), Some(b)) => {
                        a.iter_mut()
                            .zip(b.iter())
                            .for_each(|(x, &y)| *x = (*x).max(y));
                        Some(a)
                    }
                    (a, b) => a.or(b),
                };
                return;
            }
        }
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: Some(bytes.to_vec()),
            close,
            wait,
        });
    }

    /// Whether a ledger request may run now, in request order: always when nothing of this
    /// connection is being executed elsewhere; otherwise only a request forwarded to the same
    /// owner (its queue keeps the order). Anything else, run here or by another worker, could
    /// overtake the requests before it: a lookup would miss the transfer created just before
    /// it, a post its pending transfer.
    pub fn may_run_ledger(&self, forwarded_to: Option<usize>) -> bool {
        self.pending_forwards == 0 || forwarded_to == Some(self.pending_owner)
    }

    /// Reserves the slot of the reply `owner` computes; returns its ticket.
    pub fn hold_pending(&mut self, owner: usize) -> u64 {
        debug_assert!(self.may_run_ledger(Some(owner)));
        self.pending_forwards += 1;
        self.pending_owner = owner;
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: None,
            close: false,
            wait: None,
        });
        id
    }

    /// The held replies reached a bound: stop reading until they drain.
    pub fn tickets_full(&self) -> bool {
        self.tickets.len() >= MAX_TICKETS || self.ticket_bytes >= MAX_TICKET_BYTES
    }

    /// Paused, and may read again: the held replies drained to half their bounds and no
    /// ledger request waits for answers.
    pub fn may_resume(&self) -> bool {
        self.paused
            && !self.waiting_for_answers
            && self.tickets.len() < MAX_TICKETS / 2
            && self.ticket_bytes < MAX_TICKET_BYTES / 2
    }
}
