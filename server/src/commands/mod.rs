//! RESP command dispatch: the contract between the runtime (which parses frames off a
//! connection) and the commands (which give them meaning).
//!
//! The runtime calls [`dispatch`] once per complete command, in arrival order, with the command's
//! arguments (name first). The command appends exactly one reply to `ctx.out` (for most commands;
//! QUIT/SHUTDOWN are described by [`Flow`]) and returns what the connection should do next.

use crate::client::ClientState;
use crate::state::ServerState;
use crate::stats::WorkerCounters;
use bytes::BytesMut;
use protocol::resp::Reply;

/// Everything a command may touch.
pub struct Ctx<'a> {
    pub state: &'a ServerState,
    pub client: &'a mut ClientState,
    /// The connection's output buffer; replies are appended in request order.
    pub out: &'a mut BytesMut,
    /// This worker's counters.
    pub counters: &'a mut WorkerCounters,
    /// Wall-clock time in milliseconds since the Unix epoch, read once per loop turn.
    pub now_ms: u64,
}

impl Ctx<'_> {
    /// A reply encoder for this client's protocol version.
    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(self.out, self.client.resp())
    }
}

/// What the connection does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading commands.
    Continue,
    /// Send what is in the output buffer, then close the connection (QUIT, CLIENT KILL of self).
    Close,
    /// The server shuts down (SHUTDOWN): nothing more is read; the runtime stops all workers.
    Shutdown,
}

/// Runs one command. `args[0]` is the command name, in any case.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    debug_assert!(!args.is_empty(), "the parser never yields an empty command");
    ctx.counters.commands_processed += 1;
    if args[0].eq_ignore_ascii_case(b"PING") {
        match args.len() {
            1 => ctx.reply().simple("PONG"),
            2 => ctx.reply().bulk(args[1]),
            _ => ctx
                .reply()
                .error("ERR wrong number of arguments for 'ping' command"),
        }
        return Flow::Continue;
    }
    if args[0].eq_ignore_ascii_case(b"QUIT") {
        ctx.reply().ok();
        return Flow::Close;
    }
    ctx.reply().error("ERR unknown command");
    Flow::Continue
}
