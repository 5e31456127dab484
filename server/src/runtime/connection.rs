//! One RESP connection's state on its worker: the request parser, the client state the commands
//! see, and when it was last active.

use crate::client::ClientState;
use protocol::resp::{ParseLimits, RequestParser};
use std::time::Instant;

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
            paused_for_tickets: false,
            binary,
            parser: RequestParser::new(limits),
            needed: 0,
            client,
            last_active: Instant::now(),
        }
    }
}
