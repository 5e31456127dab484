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

            pub fn subtract(&mut self, other: &WorkerCounters) {
                $(self.$name = self.$name.saturating_sub(other.$name);)*
            }
        }
    };
}

counters! {
    /// Connections accepted.
    connections_received,
    /// Connections refused because of `max_clients`.
    rejected_connections,
    /// Connections closed because all clients' buffers exceeded `max_client_memory`.
    evicted_clients,
    /// Connections closed for not authenticating within `[security] auth_timeout`.
    auth_timeouts,
    /// Connections currently open on this worker (a gauge, kept as a count).
    connected_clients,
    net_input_bytes,
    net_output_bytes,
    commands_processed,
    /// Commands that were answered with an error reply.
    error_replies,
    keyspace_hits,
    keyspace_misses,
    /// Receives stalled for lack of a free provided buffer (io_uring ENOBUFS), re-armed.
    recv_buffer_parks,
    /// Waits that asked the kernel for several completions (io_uring wake-up coalescing).
    coalesced_waits,
    /// Wake-ups from other threads handled (forwarded ledger requests and answers, CLIENT
    /// KILL, shutdown).
    worker_wakeups,
    /// Ledger requests this worker sent to the worker owning their partitions.
    ledger_forwarded,
    /// Messages to another worker that found its queue full and waited in the outbox.
    forward_queue_full,
}

/// A cheap monotonic clock (TSC-based where the TSC is reliable) for per-command timing,
/// which would otherwise cost two clock_gettime calls per command.
pub fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Most command ids the per-command statistics track (commands and subcommands).
pub const MAX_COMMANDS: usize = 256;

/// One command's statistics (INFO commandstats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandStat {
    pub calls: u64,
    /// Time spent running the command, in nanoseconds.
    pub nanos: u64,
    /// Rejected before running (arity, auth, OOM...).
    pub rejected: u64,
    /// Ran and answered with an error.
    pub failed: u64,
}

impl CommandStat {
    fn add(&mut self, o: &CommandStat) {
        self.calls += o.calls;
        self.nanos += o.nanos;
        self.rejected += o.rejected;
        self.failed += o.failed;
    }

    fn since(&self, base: &CommandStat) -> CommandStat {
        CommandStat {
            calls: self.calls.saturating_sub(base.calls),
            nanos: self.nanos.saturating_sub(base.nanos),
            rejected: self.rejected.saturating_sub(base.rejected),
            failed: self.failed.saturating_sub(base.failed),
        }
    }
}

/// Most distinct error kinds INFO errorstats lists (Redis's limit too); errors of further
/// kinds still count in `total_error_replies`.
pub const MAX_ERROR_KINDS: usize = 128;
/// Longest error kind kept (a kind is one word; anything longer is cut).
const MAX_ERROR_KIND_LEN: usize = 32;

/// Error replies counted by kind: the reply's first word (`ERR`, `WRONGTYPE`, `NOAUTH`...), as
/// Redis's INFO errorstats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    kinds: Vec<(String, u64)>,
}

impl ErrorCounts {
    /// Counts one error reply whose message (without the leading `-`) is `message`.
    pub fn note(&mut self, message: &str) {
        let word = message.split(' ').next().unwrap_or("");
        let kind = if word.is_empty() { "ERR" } else { word };
        let mut end = kind.len().min(MAX_ERROR_KIND_LEN);
        while !kind.is_char_boundary(end) {
            end -= 1;
        }
        let kind = &kind[..end];
        if let Some((_, n)) = self.kinds.iter_mut().find(|(k, _)| k == kind) {
            *n += 1;
        } else if self.kinds.len() < MAX_ERROR_KINDS {
            self.kinds.push((kind.to_string(), 1));
        }
    }

    fn add(&mut self, other: &ErrorCounts) {
        for (kind, n) in &other.kinds {
            match self.kinds.iter_mut().find(|(k, _)| k == kind) {
                Some((_, m)) => *m += n,
                None => self.kinds.push((kind.clone(), *n)),
            }
        }
    }

    /// (kind, count) since `base`, kinds with a count only, sorted by kind.
    fn since(&self, base: &ErrorCounts) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .kinds
            .iter()
            .map(|(k, n)| {
                let before = base
                    .kinds
                    .iter()
                    .find(|(b, _)| b == k)
                    .map_or(0, |(_, n)| *n);
                (k.clone(), n.saturating_sub(before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    }
}

/// A worker's own per-command statistics, with the ids touched since the last publish (so a
/// publish costs only what changed), and its error replies by kind.
pub struct CommandStats {
    stats: Vec<CommandStat>,
    touched: Vec<u16>,
    is_touched: Vec<bool>,
    errors: ErrorCounts,
    errors_changed: bool,
}

impl CommandStats {
    /// Counts an error reply by kind (see [`ErrorCounts::note`]).
    pub fn note_error(&mut self, message: &str) {
        self.errors.note(message);
        self.errors_changed = true;
    }
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            stats: vec![CommandStat::default(); MAX_COMMANDS],
            touched: Vec::new(),
            is_touched: vec![false; MAX_COMMANDS],
            errors: ErrorCounts::default(),
            errors_changed: false,
        }
    }
}

impl CommandStats {
    /// The statistics of command `id`, marked for the next publish.
    pub fn get_mut(&mut self, id: u16) -> &mut CommandStat {
        let i = usize::from(id).min(MAX_COMMANDS - 1);
        if !self.is_touched[i] {
            self.is_touched[i] = true;
            self.touched.push(i as u16);
        }
        &mut self.stats[i]
    }
}

/// A worker's published per-command statistics: four atomics per command id, and a copy of
/// its error counts (locked only when they changed: errors are rare next to commands).
struct PublishedCommands {
    cells: Vec<AtomicU64>,
    errors: parking_lot::Mutex<ErrorCounts>,
}

impl PublishedCommands {
    fn new() -> Self {
        PublishedCommands {
            cells: (0..MAX_COMMANDS * 4).map(|_| AtomicU64::new(0)).collect(),
            errors: parking_lot::Mutex::new(ErrorCounts::default()),
        }
    }

    fn publish(&self, local: &mut CommandStats) {
        if std::mem::take(&mut local.errors_changed) {
            self.errors.lock().clone_from(&local.errors);
        }
        for &id in &local.touched {
            let i = usize::from(id);
            let s = local.stats[i];
            let base = i * 4;
            self.cells[base].store(s.calls, Ordering::Relaxed);
            self.cells[base + 1].store(s.nanos, Ordering::Relaxed);
            self.cells[base + 2].store(s.rejected, Ordering::Relaxed);
            self.cells[base + 3].store(s.failed, Ordering::Relaxed);
            local.is_touched[i] = false;
        }
        local.touched.clear();
    }

    fn get(&self, id: usize) -> CommandStat {
        let base = id * 4;
        CommandStat {
            calls: self.cells[base].load(Ordering::Relaxed),
            nanos: self.cells[base + 1].load(Ordering::Relaxed),
            rejected: self.cells[base + 2].load(Ordering::Relaxed),
            failed: self.cells[base + 3].load(Ordering::Relaxed),
        }
    }
}

/// What CONFIG RESETSTAT subtracts from the running totals.
struct Baseline {
    counters: WorkerCounters,
    commands: Vec<CommandStat>,
    errors: ErrorCounts,
}

/// All workers' published counters.
pub struct ServerStats {
    workers: Vec<PublishedCounters>,
    /// Each worker's histograms and ledger status counts (see `metrics`).
    histograms: Vec<crate::metrics::Published>,
    commands: Vec<PublishedCommands>,
    baseline: parking_lot::Mutex<Baseline>,
}

impl ServerStats {
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "at least one worker");
        ServerStats {
            workers: (0..workers).map(|_| PublishedCounters::default()).collect(),
            histograms: (0..workers)
                .map(|_| crate::metrics::Published::default())
                .collect(),
            commands: (0..workers).map(|_| PublishedCommands::new()).collect(),
            baseline: parking_lot::Mutex::new(Baseline {
                counters: WorkerCounters::default(),
                commands: vec![CommandStat::default(); MAX_COMMANDS],
                errors: ErrorCounts::default(),
            }),
        }
    }

    pub fn worker(&self, index: usize) -> &PublishedCounters {
        &self.workers[index]
    }

    /// Publishes a worker's counters and the per-command statistics it touched.
    pub fn publish(&self, index: usize, counters: &WorkerCounters, commands: &mut CommandStats) {
        self.workers[index].publish(counters);
        self.commands[index].publish(commands);
    }

    /// Publishes the calling worker thread's histograms (once per loop turn).
    pub fn publish_histograms(&self, index: usize) {
        self.histograms[index].publish_local();
    }

    /// Histogram and ledger-status totals over all workers (never reset).
    pub fn histogram_totals(&self) -> crate::metrics::Totals {
        crate::metrics::Totals::of(&self.histograms)
    }

    /// Every command id's statistics since start (CONFIG RESETSTAT does not apply: for
    /// monotonic Prometheus counters).
    pub fn raw_command_totals(&self) -> Vec<(usize, CommandStat)> {
        (0..MAX_COMMANDS)
            .map(|id| (id, self.raw_command(id)))
            .filter(|(_, s)| s.calls > 0 || s.rejected > 0)
            .collect()
    }

    /// The sum over all workers since start (CONFIG RESETSTAT does not apply).
    pub fn raw_total(&self) -> WorkerCounters {
        let mut sum = WorkerCounters::default();
        for w in &self.workers {
            sum.add(&w.snapshot());
        }
        sum
    }

    fn raw_command(&self, id: usize) -> CommandStat {
        let mut t = CommandStat::default();
        for w in &self.commands {
            t.add(&w.get(id));
        }
        t
    }

    /// The sum over all workers, as of their last publish, since the last CONFIG RESETSTAT.
    /// The gauge `connected_clients` is never reset.
    pub fn total(&self) -> WorkerCounters {
        let mut out = self.raw_total();
        let connected = out.connected_clients;
        out.subtract(&self.baseline.lock().counters);
        out.connected_clients = connected;
        out
    }

    /// Every command id with statistics since the last reset (ids never called are left out).
    pub fn command_totals(&self) -> Vec<(usize, CommandStat)> {
        let base = self.baseline.lock();
        (0..MAX_COMMANDS)
            .map(|id| (id, self.raw_command(id).since(&base.commands[id])))
            .filter(|(_, s)| s.calls > 0 || s.rejected > 0)
            .collect()
    }

    fn raw_errors(&self) -> ErrorCounts {
        let mut sum = ErrorCounts::default();
        for w in &self.commands {
            sum.add(&w.errors.lock());
        }
        sum
    }

    /// Error replies by kind since the last reset, sorted by kind (INFO errorstats).
    pub fn error_totals(&self) -> Vec<(String, u64)> {
        self.raw_errors().since(&self.baseline.lock().errors)
    }

    /// CONFIG RESETSTAT: totals count from now on.
    pub fn reset(&self) {
        let counters = self.raw_total();
        let commands = (0..MAX_COMMANDS).map(|id| self.raw_command(id)).collect();
        let errors = self.raw_errors();
        *self.baseline.lock() = Baseline {
            counters,
            commands,
            errors,
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_their_first_word_up_to_a_bound() {
        let mut e = ErrorCounts::default();
        e.note("ERR syntax error");
        e.note("WRONGTYPE Operation against a key holding the wrong kind of value");
        e.note("ERR value is not an integer or out of range");
        e.note("");
        assert_eq!(
            e.since(&ErrorCounts::default()),
            vec![("ERR".to_string(), 3), ("WRONGTYPE".to_string(), 1)]
        );
        let base = e.clone();
        for i in 0..2 * MAX_ERROR_KINDS {
            e.note(&format!("KIND{i} x"));
        }
        assert_eq!(
            e.kinds.len(),
            MAX_ERROR_KINDS,
            "new kinds stop at the bound"
        );
        e.note(&"L".repeat(100));
        e.note("ERR again");
        let since = e.since(&base);
        assert_eq!(
            since.iter().find(|(k, _)| k == "ERR"),
            Some(&("ERR".to_string(), 1))
        );
        assert!(since.iter().all(|(k, _)| k.len() <= MAX_ERROR_KIND_LEN));
    }
}
