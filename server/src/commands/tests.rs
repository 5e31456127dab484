//! Commands through `dispatch`, with a real store: replies byte for byte as Redis 7.0 sends them.

use super::{dispatch, Ctx, Flow};
use crate::client::{ClientState, ConnectionInfo};
use crate::state::{ServerState, StateOptions};
use crate::stats::{CommandStats, WorkerCounters};
use bytes::BytesMut;
use std::sync::Arc;

pub(crate) struct Harness {
    pub state: Arc<ServerState>,
    pub client: ClientState,
    counters: WorkerCounters,
    commands: CommandStats,
    pub now_ms: u64,
}

pub(crate) fn options() -> StateOptions {
    StateOptions {
        databases: 16,
        max_memory: 0,
        eviction: "noeviction".into(),
        requirepass: None,
        users: Vec::new(),
        acl_commands: super::acl_commands(),
        protected_mode: true,
        max_client_memory: 0,
        auth_timeout_secs: 10,
        max_clients: 100,
        idle_timeout_secs: 0,
        max_request_bytes: 64 << 20,
        workers: 1,
        tcp_port: 6379,
        config_file: "/tmp/x.toml".into(),
        ledger: ledger::LedgerConfig {
            partitions: 2,
            max_accounts: 1024,
            max_transfers: 4096,
            prefault: false,
        },
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(options())
    }

    pub fn with(options: StateOptions) -> Harness {
        let state = Arc::new(ServerState::new(options).unwrap());
        let info = ConnectionInfo {
            peer: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:6379".parse().unwrap(),
            fd: 7,
            worker: 0,
        };
        let client = state.clients.register(
            info,
            Arc::new(|_| {}),
            state.acl.default_user(),
            state.acl.generation(),
        );
        Harness {
            state,
            client,
            counters: WorkerCounters::default(),
            commands: CommandStats::default(),
            now_ms: 1_700_000_000_000,
        }
    }

    /// Runs one command given as words; returns the raw reply.
    pub fn run(&mut self, words: &[&str]) -> String {
        self.run_flow(words).0
    }

    pub fn run_flow(&mut self, words: &[&str]) -> (String, Flow) {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut out = BytesMut::new();
        let mut ctx = Ctx {
            state: &self.state,
            client: &mut self.client,
            out: &mut out,
            counters: &mut self.counters,
            commands: &mut self.commands,
            worker: 0,
            now_ms: self.now_ms,
            ledger: None,
        };
        let flow = dispatch(&mut ctx, &args);
        if let Some(l) = ctx.ledger.take() {
            // What the runtime does on a single worker: run it here.
            crate::ledger_reply::run(&self.state.ledger, &l.request, &mut out);
        }
        (String::from_utf8_lossy(&out).into_owned(), flow)
    }
}

#[test]
fn unknown_command_and_arity_errors_match_redis() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(&["foo", "a", "b"]),
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(
        h.run(&["foo"]),
        "-ERR unknown command 'foo', with args beginning with: \r\n"
    );
    assert_eq!(
        h.run(&["get"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        h.run(&["client"]),
        "-ERR wrong number of arguments for 'client' command\r\n"
    );
    assert_eq!(
        h.run(&["client", "nope"]),
        "-ERR unknown subcommand 'nope'. Try CLIENT HELP.\r\n"
    );
    assert_eq!(
        h.run(&["client", "setname"]),
        "-ERR wrong number of arguments for 'client|setname' command\r\n"
    );
}

#[test]
fn set_get_roundtrip_and_options() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(h.run(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(h.run(&["SET", "k", "w", "NX"]), "$-1\r\n");
    assert_eq!(h.run(&["SET", "k", "w", "XX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(
        h.run(&["SET", "k", "w", "NX", "XX"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        h.run(&["SET", "k", "w", "EX", "0"]),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(
        h.run(&["SET", "k", "w", "EX", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(h.run(&["SET", "k", "w", "EX", "10"]), "+OK\r\n");
    assert_eq!(h.run(&["TTL", "k"]), ":10\r\n");
    assert_eq!(h.run(&["SET", "k", "x", "KEEPTTL"]), "+OK\r\n");
    assert_eq!(h.run(&["PTTL", "k"]), ":10000\r\n");
    assert_eq!(h.run(&["SET", "k", "y"]), "+OK\r\n");
    assert_eq!(h.run(&["TTL", "k"]), ":-1\r\n");
    assert_eq!(h.run(&["TTL", "nokey"]), ":-2\r\n");
    h.state.cache.verify().unwrap();
}

#[test]
fn expiry_is_lazy_and_exact() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "100"]);
    h.now_ms += 99;
    assert_eq!(h.run(&["GET", "k"]), "$1\r\nv\r\n");
    h.now_ms += 1;
    assert_eq!(h.run(&["GET", "k"]), "$-1\r\n");
    assert_eq!(h.run(&["EXISTS", "k"]), ":0\r\n");
    assert_eq!(h.state.cache.expired_keys(), 1);
    h.state.cache.verify().unwrap();
}

#[test]
fn counters_and_errors() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["INCR", "n"]), ":1\r\n");
    assert_eq!(h.run(&["INCRBY", "n", "41"]), ":42\r\n");
    assert_eq!(
        h.run(&["DECRBY", "n", "-9223372036854775808"]),
        "-ERR decrement would overflow\r\n"
    );
    h.run(&["SET", "n", "9223372036854775807"]);
    assert_eq!(
        h.run(&["INCR", "n"]),
        "-ERR increment or decrement would overflow\r\n"
    );
    h.run(&["SET", "s", " 1"]);
    assert_eq!(
        h.run(&["INCR", "s"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(h.run(&["INCRBYFLOAT", "f", "0.1"]), "$3\r\n0.1\r\n");
    assert_eq!(h.run(&["INCRBYFLOAT", "f", "0.2"]), "$3\r\n0.3\r\n");
    assert_eq!(
        h.run(&["INCRBYFLOAT", "f", "+inf"]),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    assert_eq!(h.run(&["OBJECT", "ENCODING", "n"]), "$3\r\nint\r\n");
}

#[test]
fn resp3_replies_after_hello_3() {
    let mut h = Harness::new();
    let hello = h.run(&["HELLO", "3"]);
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{hello}"
    );
    assert_eq!(h.run(&["GET", "missing"]), "_\r\n");
    h.run(&["SET", "a", "1"]);
    assert_eq!(
        h.run(&["CONFIG", "GET", "maxmemory"]),
        "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert_eq!(
        h.run(&["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
}

#[test]
fn auth_gates_commands() {
    let mut h = Harness::with(crate::state::StateOptions {
        requirepass: Some("pw".into()),
        ..options()
    });
    assert_eq!(h.run(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        h.run(&["AUTH", "nope"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(h.run(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(h.run(&["GET", "k"]), "$-1\r\n");
}

#[test]
fn quit_closes_and_shutdown_stops() {
    let mut h = Harness::new();
    assert_eq!(h.run_flow(&["QUIT"]), ("+OK\r\n".into(), Flow::Close));
    assert_eq!(
        h.run_flow(&["SHUTDOWN", "NOSAVE"]),
        (String::new(), Flow::Shutdown)
    );
}
