//! Wire formats for Ringledger, as pure functions over bytes.
//!
//! - [`resp`]: RESP2/RESP3 request parsing and reply encoding (Redis-compatible).
//! - [`binary`]: the framing of Ringledger's binary ledger protocol (docs/PROTOCOL.md).
//!
//! This crate does no I/O and knows nothing about the ledger's types: bytes in, frames out.

pub mod binary;
pub mod resp;
