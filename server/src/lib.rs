//! The Ringledger server: configuration, workers, command dispatch, the cache store and (later)
//! the ledger partitions. The `ringledger-server` binary is `src/main.rs`.
//!
//! Module ownership (one concept each):
//! - [`state`]: what every worker shares ([`state::ServerState`]).
//! - [`commands`]: RESP command table and dispatch; each command's semantics.
//! - [`cache`]: the concurrent, sharded key/value store with expiry and eviction.
//! - [`client`]: per-connection client state and the registry behind CLIENT LIST/KILL.
//! - [`stats`]: per-worker counters, published off the hot path, summed by INFO.
//! - [`config`]: the TOML configuration; [`runtime`]: workers, connections, start-up, shutdown.

pub mod cache;
pub mod client;
pub mod commands;
pub mod config;
pub mod ledger_ops;
pub mod metrics;
pub mod runtime;
pub mod state;
pub mod stats;
