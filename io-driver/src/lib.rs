//! Per-worker io_uring event loop with an epoll fallback (see docs/ARCHITECTURE.md).
