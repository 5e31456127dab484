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
    /// `[limits] max_clients`.
    pub max_clients: usize,
    /// `[limits] idle_timeout` in seconds; 0 = never.
    pub idle_timeout_secs: u64,
    /// Number of worker threads.
    pub workers: usize,
    /// The first RESP listener's TCP port (INFO server `tcp_port`).
    pub tcp_port: u16,
    /// Absolute path of the config file (INFO server `config_file`).
    pub config_file: String,
}

/// Shared, concurrent server state.
pub struct ServerState {
    pub options: StateOptions,
    pub cache: cache::Store,
    pub clients: client::Registry,
    pub stats: stats::ServerStats,
    /// Set by SHUTDOWN or a signal; workers stop accepting, flush and exit.
    pub shutdown_requested: AtomicBool,
    pub started: std::time::Instant,
    /// 40 hex characters, as Redis's `run_id`.
    pub run_id: String,
    /// Which I/O engine the workers run ("io_uring" or "epoll"), known once they started.
    engine: OnceLock<&'static str>,
}

impl ServerState {
    pub fn new(options: StateOptions) -> Result<Self, String> {
        let cache = cache::Store::new(&options)?;
        let stats = stats::ServerStats::new(options.workers);
        Ok(ServerState {
            cache,
            clients: client::Registry::new(),
            stats,
            shutdown_requested: AtomicBool::new(false),
            started: std::time::Instant::now(),
            run_id: stats::random_run_id(),
            engine: OnceLock::new(),
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

    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::Release);
    }

    pub fn shutdown_requested(&self) -> bool {
        self.shutdown_requested.load(Ordering::Acquire)
    }
}
