//! One RESP connection's state on its worker: the request parser, the client state the commands
//! see, and when it was last active.

use crate::client::ClientState;
use protocol::resp::{ParseLimits, RequestParser};
use std::time::Instant;

pub(crate) struct Connection {
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
            binary,
            parser: RequestParser::new(limits),
            needed: 0,
            client,
            last_active: Instant::now(),
        }
    }
}
