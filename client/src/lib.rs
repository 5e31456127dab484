//! Rust client for the binary ledger protocol (see docs/PROTOCOL.md). Filled in by the ledger-over-the-wire work.
