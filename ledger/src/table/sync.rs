//! Atomics and fences for the tables: std's, or loom's under `--cfg loom` so the concurrency
//! protocols can be model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64};

#[cfg(loom)]
pub(crate) fn spin() {
    loom::thread::yield_now();
}

#[cfg(not(loom))]
pub(crate) fn spin() {
    std::hint::spin_loop();
}
