//! The Ringledger server: configuration, workers, command dispatch, the cache store and the
//! ledger. The `ringledger-server` binary is `src/main.rs`.
//!
//! Module ownership (one concept each):
//! - [`acl`]: ACL users, their rules, and the per-command permission check.
//! - [`state`]: what every worker shares ([`state::ServerState`]).
//! - [`commands`]: RESP command table and dispatch; each command's semantics.
//! - [`cache`]: the concurrent, sharded key/value store with expiry and eviction.
//! - [`client`]: per-connection client state and the registry behind CLIENT LIST/KILL.
//! - [`stats`]: per-worker counters, published off the hot path, summed by INFO.
//! - [`ledger_request`]: a ledger request as a value, decoded once by either transport;
//!   [`ledger_ops`]: the eight ledger operations run on one; [`ledger_reply`]: their replies as
//!   binary frames or RESP, encoded where they execute.
//! - [`metrics`]: thread-local metrics, the Prometheus endpoint.
//! - [`durability`]: the durable ledger: data directory, per-worker write-ahead logs,
//!   recovery, and when replies may leave.
//! - [`config`]: the TOML configuration; [`runtime`]: workers, connections, forwarding of ledger
//!   requests to the worker owning their partitions, start-up, shutdown.

pub mod acl;
pub mod cache;
pub mod client;
pub mod commands;
pub mod config;
pub mod durability;
pub mod ledger_ops;
pub mod ledger_reply;
pub mod ledger_request;
pub mod metrics;
pub mod runtime;
pub mod state;
pub mod stats;
