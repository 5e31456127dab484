//! TigerBeetle 0.17 ledger state machine on lock-free tables (see docs/ARCHITECTURE.md).
