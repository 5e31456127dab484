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

/// A reply slot kept in request order while an earlier request is executed by another worker.
pub(crate) struct Ticket {
    pub id: u64,
    /// The encoded reply, once known.
    pub bytes: Option<Vec<u8>>,
    /// Close the connection after this reply (a malformed request).
    pub close: bool,
}

pub(crate) struct Connection {
    /// Replies waiting for an earlier forwarded request's answer, oldest first (bounded by
    /// `MAX_TICKETS`: the connection is paused at the bound).
    pub tickets: std::collections::VecDeque<Ticket>,
    pub next_ticket: u64,
    /// Bytes of finished replies waiting in `tickets` (bounded by `MAX_TICKET_BYTES`).
    pub ticket_bytes: usize,
    /// Paused by the worker because `tickets` is full (resumed when it drains).
    pub paused_for_tickets: bool,
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
            paused_for_tickets: false,
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
            "replies are held only behind a forwarded one"
        );
        self.ticket_bytes += bytes.len();
        if let Some(last) = self.tickets.back_mut() {
            if let (Some(held), false) = (last.bytes.as_mut(), last.close) {
                held.extend_from_slice(bytes);
                last.close = close;
                return;
            }
        }
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: Some(bytes.to_vec()),
            close,
        });
    }

    /// Reserves the slot of a reply another worker computes; returns its ticket.
    pub fn hold_pending(&mut self) -> u64 {
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: None,
            close: false,
        });
        id
    }

    /// The held replies reached a bound: stop reading until they drain.
    pub fn tickets_full(&self) -> bool {
        self.tickets.len() >= MAX_TICKETS || self.ticket_bytes >= MAX_TICKET_BYTES
    }

    /// The held replies drained enough to read again.
    pub fn tickets_drained(&self) -> bool {
        self.tickets.len() < MAX_TICKETS / 2 && self.ticket_bytes < MAX_TICKET_BYTES / 2
    }
}
