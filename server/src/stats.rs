//! Per-worker counters. Each worker increments its own plain `u64`s on the hot path and copies
//! them into its slot of [`ServerStats`] once per loop turn (one writer per slot, relaxed stores),
//! so no shared atomic is touched per request. INFO sums the slots.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A worker's own counters (plain integers, written only by that worker).
        #[derive(Clone, Debug, Default)]
        pub struct WorkerCounters { $($(#[$doc])* pub $name: u64,)* }

        /// A worker's published copy of its counters.
        #[derive(Debug, Default)]
        pub struct PublishedCounters { $(pub $name: AtomicU64,)* }

        impl PublishedCounters {
            pub fn publish(&self, local: &WorkerCounters) {
                $(self.$name.store(local.$name, Ordering::Relaxed);)*
            }
            pub fn snapshot(&self) -> WorkerCounters {
                WorkerCounters { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl WorkerCounters {
            pub fn add(&mut self, other: &WorkerCounters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Connections accepted.
    connections_received,
    /// Connections refused because of `max_clients`.
    rejected_connections,
    /// Connections currently open on this worker (a gauge, kept as a count).
    connected_clients,
    net_input_bytes,
    net_output_bytes,
    commands_processed,
    /// Commands that were answered with an error reply.
    error_replies,
    keyspace_hits,
    keyspace_misses,
}

/// All workers' published counters.
pub struct ServerStats {
    workers: Vec<PublishedCounters>,
}

impl ServerStats {
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "at least one worker");
        ServerStats {
            workers: (0..workers).map(|_| PublishedCounters::default()).collect(),
        }
    }

    pub fn worker(&self, index: usize) -> &PublishedCounters {
        &self.workers[index]
    }

    /// The sum over all workers, as of their last publish.
    pub fn total(&self) -> WorkerCounters {
        let mut sum = WorkerCounters::default();
        for w in &self.workers {
            sum.add(&w.snapshot());
        }
        sum
    }
}

/// A random 40-hex-character id, as Redis's INFO `run_id`.
pub fn random_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    let mut i = 0u64;
    while out.len() < 40 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
        i += 1;
    }
    out.truncate(40);
    out
}
