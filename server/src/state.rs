//! What all workers share. Built once at start-up by the runtime from the validated config, then
//! handed to every worker behind an `Arc`.

use crate::{cache, client, stats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The config values the shared state is built from (the runtime fills this from the TOML config;
/// keeping it a plain struct keeps `state` independent of the config file format).
#[derive(Clone, Debug)]
pub struct StateOptions {
    /// Number of logical databases (SELECT 0..databases-1). Redis default: 16.
    pub databases: usize,
    /// `[cache] max_memory` in bytes; 0 = unlimited.
    pub max_memory: u64,
    /// `[cache] eviction`, e.g. "noeviction", "allkeys-lru".
    pub eviction: String,
    /// `[security] requirepass`; None = no password.
    pub requirepass: Option<String>,
    /// `[security] users`: `NAME RULE...` each (see `acl::Acl::new`).
    pub users: Vec<String>,
    /// The commands ACL rules name (`commands::acl_commands()`).
    pub acl_commands: &'static crate::acl::CommandSet,
    /// `[security] protected_mode`.
    pub protected_mode: bool,
    /// `[limits] max_client_memory` (0 = no limit).
    pub max_client_memory: u64,
    /// `[security] auth_timeout` in seconds (0 = no limit).
    pub auth_timeout_secs: u64,
    /// `[limits] max_clients`.
    pub max_clients: usize,
    /// `[limits] idle_timeout` in seconds; 0 = never.
    pub idle_timeout_secs: u64,
    /// `[limits] max_request_bytes` (reported as proto-max-bulk-len).
    pub max_request_bytes: u64,
    /// Number of worker threads.
    pub workers: usize,
    /// The first RESP listener's TCP port (INFO server `tcp_port`).
    pub tcp_port: u16,
    /// Absolute path of the config file (INFO server `config_file`).
    pub config_file: String,
    /// `[ledger]` sizes: partitions, max_accounts, max_transfers.
    pub ledger: ledger::LedgerConfig,
}

/// Shared, concurrent server state.
pub struct ServerState {
    pub options: StateOptions,
    pub cache: cache::Store,
    pub clients: client::Registry,
    pub stats: stats::ServerStats,
    /// The ledger: tables allocated once here, partitions held by the workers that execute.
    pub ledger: std::sync::Arc<ledger::Ledger>,
    /// Set by SHUTDOWN or a signal; workers stop accepting, flush and exit.
    pub shutdown_requested: AtomicBool,
    pub started: std::time::Instant,
    /// 40 hex characters, as Redis's `run_id`.
    pub run_id: String,
    /// Which I/O engine the workers run ("io_uring" or "epoll"), known once they started.
    engine: OnceLock<&'static str>,
    /// The durable ledger's shared state, when `[ledger] data_dir` is set (set once at start).
    pub durability: OnceLock<std::sync::Arc<crate::durability::Shared>>,
    /// `requirepass` as configured (CONFIG GET); the default user holds its hash.
    password: parking_lot::RwLock<Option<String>>,
    /// The ACL users.
    pub acl: crate::acl::Acl,
    /// `[security] protected_mode`, CONFIG SET protected-mode.
    pub protected_mode: AtomicBool,
    /// `[limits] max_client_memory`, CONFIG SET maxmemory-clients (0 = no limit).
    pub max_client_memory: std::sync::atomic::AtomicU64,
    /// Each worker's connections' buffer memory, as of its last housekeeping tick.
    client_memory: Box<[std::sync::atomic::AtomicU64]>,
    /// Each worker's largest connection's buffer memory, as of its last tick.
    client_memory_largest: Box<[std::sync::atomic::AtomicU64]>,
    /// CONFIG SET-able limits the runtime reads.
    pub max_clients: std::sync::atomic::AtomicUsize,
    pub idle_timeout_secs: std::sync::atomic::AtomicU64,
    memory_peak: std::sync::atomic::AtomicU64,
    /// (Unix ms, total commands) samples for instantaneous_ops_per_sec.
    ops_samples: parking_lot::Mutex<std::collections::VecDeque<(u64, u64)>>,
}

/// Redis's reply to wrong credentials.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Redis 7.0's reply to a client refused by protected mode, word for word.
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

impl ServerState {
    pub fn new(options: StateOptions) -> Result<Self, String> {
        let cache = cache::Store::new(&options)?;
        let stats = stats::ServerStats::new(options.workers);
        let ledger =
            ledger::Ledger::new(options.ledger.clone()).map_err(|e| format!("ledger: {e}"))?;
        let acl = crate::acl::Acl::new(
            options.acl_commands,
            options.requirepass.as_deref(),
            &options.users,
        )
        .map_err(|e| format!("[security] {e}"))?;
        Ok(ServerState {
            cache,
            ledger: std::sync::Arc::new(ledger),
            clients: client::Registry::new(),
            stats,
            shutdown_requested: AtomicBool::new(false),
            started: std::time::Instant::now(),
            run_id: stats::random_run_id(),
            engine: OnceLock::new(),
            durability: OnceLock::new(),
            acl,
            protected_mode: AtomicBool::new(options.protected_mode),
            max_client_memory: std::sync::atomic::AtomicU64::new(options.max_client_memory),
            client_memory: (0..options.workers)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            client_memory_largest: (0..options.workers)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            password: parking_lot::RwLock::new(options.requirepass.clone()),
            max_clients: std::sync::atomic::AtomicUsize::new(options.max_clients),
            idle_timeout_secs: std::sync::atomic::AtomicU64::new(options.idle_timeout_secs),
            memory_peak: std::sync::atomic::AtomicU64::new(0),
            ops_samples: parking_lot::Mutex::new(std::collections::VecDeque::new()),
            options,
        })
    }

    pub fn set_engine(&self, name: &'static str) {
        let _ = self.engine.set(name);
    }

    /// "io_uring", "epoll", or "" before the workers started.
    pub fn engine(&self) -> &'static str {
        self.engine.get().copied().unwrap_or("")
    }

    /// Redis's `authRequired`: the default user is off or has a password, and this client has
    /// not authenticated.
    pub fn auth_required(&self, client: &crate::client::ClientState) -> bool {
        !client.authenticated && self.acl.default_requires_auth()
    }

    /// Redis's protected mode: on, with no password set, a client from `peer` off the loopback
    /// interface is refused (see [`PROTECTED_MODE_DENIED`]).
    pub fn denies_unprotected(&self, peer: std::net::SocketAddr) -> bool {
        self.protected_mode.load(Ordering::Relaxed)
            && self.acl.default_nopass()
            && !peer.ip().to_canonical().is_loopback()
    }

    /// Publishes worker `index`'s connections' buffer memory, and its largest connection's.
    pub fn publish_client_memory(&self, index: usize, bytes: u64, largest: u64) {
        if let Some(cell) = self.client_memory.get(index) {
            cell.store(bytes, Ordering::Relaxed);
        }
        if let Some(cell) = self.client_memory_largest.get(index) {
            cell.store(largest, Ordering::Relaxed);
        }
    }

    /// The largest connection's buffer memory on any worker but `index`.
    pub fn largest_client_elsewhere(&self, index: usize) -> u64 {
        self.client_memory_largest
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// All connections' buffer memory, as the workers last published it.
    pub fn client_memory(&self) -> u64 {
        self.client_memory
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The `requirepass` in force (CONFIG SET may change it).
    pub fn password(&self) -> Option<String> {
        self.password.read().clone()
    }

    /// CONFIG SET requirepass: the default user's password becomes `p` (nopass when None).
    pub fn set_password(&self, p: Option<String>) {
        let mut guard = self.password.write();
        self.acl.set_default_password(p.as_deref());
        *guard = p;
    }

    /// Records `used` as a candidate peak; returns the peak so far.
    pub fn note_memory_peak(&self, used: u64) -> u64 {
        self.memory_peak
            .fetch_max(used, Ordering::Relaxed)
            .max(used)
    }

    pub fn started_unix_secs(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.saturating_sub(self.started.elapsed().as_secs())
    }

    /// Called about every 100 ms: remembers the command total for the ops/sec estimate.
    pub fn sample_ops(&self, now_ms: u64) {
        let total = self.stats.total().commands_processed;
        let mut samples = self.ops_samples.lock();
        samples.push_back((now_ms, total));
        while samples.len() > 16 {
            samples.pop_front();
        }
    }

    /// Commands per second over the last ~1.6 s of samples (Redis's instantaneous_ops_per_sec).
    pub fn ops_per_sec(&self) -> u64 {
        let samples = self.ops_samples.lock();
        match (samples.front(), samples.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => {
                (c1.saturating_sub(c0)) * 1000 / (t1 - t0)
            }
            _ => 0,
        }
    }

    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::Release);
    }

    pub fn shutdown_requested(&self) -> bool {
        self.shutdown_requested.load(Ordering::Acquire)
    }
}
