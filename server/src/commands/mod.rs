//! RESP command dispatch: the contract between the runtime (which parses frames off a
//! connection) and the commands (which give them meaning).
//!
//! The runtime calls [`dispatch`] once per complete command, in arrival order, with the command's
//! arguments (name first). Dispatch checks what Redis 7.0 checks before running a command, in
//! Redis's order (unknown command or subcommand, arity, authentication, ACL permissions,
//! maxmemory for commands that may grow memory), then runs it; the command appends exactly one reply to `ctx.out` and
//! returns what the connection should do next.

mod acl_cmd;
mod bits;
mod catalog;
mod collection;
mod command_info;
mod config_cmd;
mod connection;
mod expire;
mod hashes;
mod info;
mod keyspace;
mod ledger;
mod ledger_docs;
pub mod meta;
mod server_cmds;
mod sets;
mod strings;
mod table;
mod util;
mod zset_algebra;
mod zset_args;
mod zset_range;
pub mod zsets;

use crate::client::ClientState;
use crate::state::ServerState;
use crate::stats::{CommandStats, WorkerCounters};
use bytes::BytesMut;
use protocol::resp::Reply;

pub use connection::client_line;
pub use ledger::parse_human as parse_ledger_command;
pub use table::{acl_commands, command_name, ledger_twin, lookup, CommandEntry, Resolved};

/// Everything a command may touch.
pub struct Ctx<'a> {
    pub state: &'a ServerState,
    pub client: &'a mut ClientState,
    /// The connection's output buffer; replies are appended in request order.
    pub out: &'a mut BytesMut,
    /// This worker's counters.
    pub counters: &'a mut WorkerCounters,
    /// This worker's per-command statistics.
    pub commands: &'a mut CommandStats,
    /// This worker's index.
    pub worker: usize,
    /// Wall-clock time in milliseconds since the Unix epoch, read once per batch of requests.
    pub now_ms: u64,
    /// A ledger request the command decoded: the runtime runs it (here, or on the worker
    /// owning its partitions) and puts its reply in request order. The command writes no
    /// reply of its own then.
    pub ledger: Option<LedgerCommand>,
}

/// A ledger request from a RESP command, with what the runtime needs to finish the command's
/// statistics once the request ran.
#[derive(Debug)]
pub struct LedgerCommand {
    pub request: crate::ledger_request::LedgerRequest,
    /// The command's statistics entry (set by `dispatch`).
    pub stat: u16,
    /// When the command started (`stats::clock` raw time, set by `dispatch`).
    pub started: u64,
}

impl Ctx<'_> {
    /// A reply encoder for this client's protocol version.
    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(self.out, self.client.resp())
    }

    /// The largest string a command may build: `[limits] max_request_bytes`, which the server
    /// reports as Redis's `proto-max-bulk-len` (APPEND, SETRANGE, SETBIT offsets and LCS obey it
    /// as in Redis, so no command builds a string no client could have sent).
    pub fn max_string_len(&self) -> usize {
        usize::try_from(self.state.options.max_request_bytes).unwrap_or(usize::MAX)
    }

    /// Hands a decoded ledger request to the runtime (see [`Ctx::ledger`]).
    pub fn submit_ledger(&mut self, request: crate::ledger_request::LedgerRequest) {
        assert!(self.ledger.is_none(), "one ledger request per command");
        self.ledger = Some(LedgerCommand {
            request,
            stat: 0,
            started: 0,
        });
    }

    /// Appends an error reply and counts it.
    pub fn error(&mut self, msg: &str) {
        self.counters.error_replies += 1;
        self.commands.note_error(msg);
        self.reply().error(msg);
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

/// A command implementation.
pub type Handler = fn(&mut Ctx<'_>, &[&[u8]]) -> Flow;

/// Runs one command. `args[0]` is the command name, in any case.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    debug_assert!(!args.is_empty(), "the parser never yields an empty command");
    ctx.counters.commands_processed += 1;
    let Some(entry) = lookup(args[0]) else {
        let msg = unknown_command_message(args);
        ctx.error(&msg);
        return Flow::Continue;
    };
    let resolved = if !entry.subcommands.is_empty() && args.len() >= 2 {
        match entry.subcommand(args[1]) {
            Some(sub) => sub,
            None => {
                let msg = format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    util::truncated(args[1], 128),
                    entry.doc.name.to_ascii_uppercase()
                );
                ctx.error(&msg);
                return Flow::Continue;
            }
        }
    } else {
        entry.resolved()
    };
    let doc = resolved.doc;
    let rejection = if !doc.arity_ok(args.len()) || resolved.handler.is_none() {
        // (A container without a subcommand has arity -2, so it is caught here too.)
        Some(format!(
            "ERR wrong number of arguments for '{}' command",
            doc.name
        ))
    } else if ctx.state.auth_required(ctx.client) && !doc.has_flag("no_auth") {
        Some("NOAUTH Authentication required.".to_string())
    } else if let Err(denied) = {
        ctx.client.refresh_user(&ctx.state.acl);
        crate::acl::check(ctx.client.user(), resolved.id, doc, args)
    } {
        log_denied(ctx, denied, doc.name, args);
        Some(denied.message(doc.name))
    } else if doc.has_flag("denyoom") && ctx.state.cache.evict_if_needed(ctx.now_ms).is_err() {
        Some(crate::cache::Oom::MESSAGE.to_string())
    } else {
        None
    };
    if let Some(msg) = rejection {
        ctx.error(&msg);
        ctx.commands.get_mut(resolved.id).rejected += 1;
        return Flow::Continue;
    }
    let Some(handler) = resolved.handler else {
        return Flow::Continue;
    };
    ctx.client.note_command(resolved.id, ctx.now_ms);
    let errors_before = ctx.counters.error_replies;
    let clock = crate::stats::clock();
    let started = clock.raw();
    let flow = handler(ctx, args);
    if let Some(l) = ctx.ledger.as_mut() {
        // The runtime runs the request and finishes the statistics then.
        l.stat = resolved.id;
        l.started = started;
        return flow;
    }
    let nanos = clock.delta_as_nanos(started, clock.raw());
    crate::metrics::record_latency(nanos / 1000);
    let stat = ctx.commands.get_mut(resolved.id);
    stat.calls += 1;
    stat.nanos += nanos;
    if ctx.counters.error_replies != errors_before {
        stat.failed += 1;
    }
    flow
}

/// Adds a refused command or key to ACL LOG.
fn log_denied(ctx: &Ctx<'_>, denied: crate::acl::Denied, command: &str, args: &[&[u8]]) {
    use crate::acl::log::{Entry, Reason};
    let (reason, object) = match denied {
        crate::acl::Denied::Command => (Reason::Command, command.as_bytes()),
        crate::acl::Denied::Key(pos) => (Reason::Key, args.get(pos).copied().unwrap_or_default()),
    };
    ctx.state.acl.log.add(Entry {
        count: 1,
        reason,
        object: object.to_vec(),
        username: ctx.client.user().name.clone(),
        last_ms: ctx.now_ms,
        client_info: client_line(ctx.client.entry(), ctx.now_ms),
    });
}

/// Redis's text: `unknown command 'NAME', with args beginning with: 'a' 'b' `.
fn unknown_command_message(args: &[&[u8]]) -> String {
    let mut listed = String::new();
    for a in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&util::truncated(a, room));
        listed.push_str("' ");
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        util::truncated(args[0], 128),
        listed
    )
}

#[cfg(test)]
mod collection_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zset_tests;
