//! One connection's state on its worker: the request parser, the client state the commands
//! see, its replies' order, and when it was last active.

use super::reply_order::ReplyOrder;
use crate::client::ClientState;
use crate::ledger_request::LedgerRequest;
use protocol::resp::{ParseLimits, RequestParser};
use std::time::Instant;

pub(crate) struct Connection {
    /// Replies not ready to leave yet, and those held behind them (see `ReplyOrder`).
    pub replies: ReplyOrder,
    /// A ledger request that may not run yet: it would overtake this connection's requests
    /// computed by another worker. It runs once their answers are in; nothing more is read
    /// meanwhile.
    pub parked: Option<Box<LedgerRequest>>,
    /// Listed in the worker's connections with replies waiting for the log (`durable_waiting`).
    pub durable_listed: bool,
    /// Not read for now: `replies` is full, a request is `parked`, or `auth_delayed`.
    pub paused: bool,
    /// A failed AUTH holds the connection's next request back for a moment (see
    /// `worker::AUTH_FAILURE_DELAY`); its timer clears this.
    pub auth_delayed: bool,
    /// Accepted on a `protocol = "binary"` listener: frames, not RESP.
    pub binary: bool,
    pub parser: RequestParser,
    /// Don't try to parse again before the buffered input reaches this many bytes.
    pub needed: usize,
    pub client: ClientState,
    pub last_active: Instant,
    /// When it was accepted (unauthenticated connections have `[security] auth_timeout`).
    pub accepted_at: Instant,
}

impl Connection {
    pub fn new(client: ClientState, limits: ParseLimits, binary: bool) -> Connection {
        Connection {
            replies: ReplyOrder::default(),
            parked: None,
            durable_listed: false,
            paused: false,
            auth_delayed: false,
            binary,
            parser: RequestParser::new(limits),
            needed: 0,
            client,
            last_active: Instant::now(),
            accepted_at: Instant::now(),
        }
    }

    /// Paused, and may read again: no request is parked, no AUTH delay runs, and the held
    /// replies drained to half their bounds.
    pub fn may_resume(&self) -> bool {
        self.paused && self.parked.is_none() && !self.auth_delayed && self.replies.below_half()
    }
}
