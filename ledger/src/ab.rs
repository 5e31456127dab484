//! A switch for paired A/B measurements of a performance change within one run.
//!
//! A shared host's speed can swing by 2x within minutes (other tenants), so two builds run
//! one after the other compare that noise more than their code. To compare two versions
//! of a piece of code, put both behind [`variant`] for the experiment:
//!
//! ```text
//! if ledger::ab::variant() { new_way() } else { old_way() }
//! ```
//!
//! and run `cargo run --release -p ledger --features ab --example apply_throughput`: it flips
//! the switch every batch and prints each variant's median and fastest-tenth batch rate, so
//! both versions meet the same spells of noise, batch by batch. Without the `ab` feature
//! [`variant`] is the constant `false` and the switch compiles away. The committed code never
//! calls it: an experiment's `if` is removed once it has been decided. docs/BENCHMARKS.md
//! ("Method") says how to read the figures.

#[cfg(feature = "ab")]
static VARIANT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the code under test runs its new version (`false` without the `ab` feature).
#[inline(always)]
pub fn variant() -> bool {
    #[cfg(feature = "ab")]
    return VARIANT.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "ab"))]
    false
}

/// Chooses the version [`variant`] reports (the benchmark flips it between batches).
#[cfg(feature = "ab")]
pub fn set_variant(new: bool) {
    VARIANT.store(new, std::sync::atomic::Ordering::Relaxed);
}
