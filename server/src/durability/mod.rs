//! The durable ledger: with `[ledger] data_dir` set, every ledger commit's effects go to the
//! executing worker's write-ahead log, and no reply leaves before what it reveals is on disk.
//!
//! - [`data_dir`]: the directory, its single-server lock and its identity (META).
//! - [`log`]: one worker's log: stage a batch's effects; groups written and synced by a thread
//!   beside the worker (`io_threads`), one at a time.
//! - [`recovery`]: at start-up, every worker log read back, verified and replayed.
//! - [`watermark`]: which effects of each partition are durable, and who waits for them.
//!
//! The contract, the record layout and the failure policy are in docs/ARCHITECTURE.md
//! ("Durability").

pub mod data_dir;
mod io_threads;
pub mod log;
pub mod recovery;
pub mod watermark;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What every worker shares about durability.
pub struct Shared {
    pub watermarks: watermark::Watermarks,
    pub stats: Stats,
    /// Holds the directory's lock for the server's life.
    pub data_dir: data_dir::DataDir,
    /// What start-up recovered.
    pub recovery: recovery::Report,
}

/// The durable ledger, ready for the workers.
pub struct Opened {
    pub shared: Arc<Shared>,
    /// Worker `i`'s log at index `i`.
    pub logs: Vec<Option<log::WorkerLog>>,
    pub report: recovery::Report,
}

/// Locks `dir`, replays its logs into `ledger` (empty, just built), and opens one log per
/// worker for appending.
pub fn open(dir: &Path, ledger: &ledger::Ledger, workers: usize) -> Result<Opened, String> {
    let data_dir = data_dir::DataDir::open(dir, ledger.partition_count())?;
    let (cores, report) = recovery::recover(&data_dir, ledger, workers)?;
    let mut seqs = Vec::new();
    ledger.effect_seqs(&mut seqs);
    let stats = Stats::default();
    stats
        .recovered_records
        .store(report.records, Ordering::Relaxed);
    stats.recovery_ms.store(report.millis, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        watermarks: watermark::Watermarks::new(&seqs),
        stats,
        data_dir,
        recovery: report.clone(),
    });
    let mut logs: Vec<Option<log::WorkerLog>> = (0..workers).map(|_| None).collect();
    let resume = report.resume.clone();
    for c in cores {
        if c.core < workers {
            let log = log::WorkerLog::open(
                &shared.data_dir,
                c.core,
                c.config,
                &c.recovered,
                c.store,
                shared.clone(),
            )?;
            logs[c.core] = Some(log);
        }
    }
    if !resume.is_empty() {
        let first = logs
            .iter_mut()
            .flatten()
            .next()
            .ok_or("no worker log to record the recovery in")?;
        first.write_now(&resume)?;
    }
    Ok(Opened {
        shared,
        logs,
        report,
    })
}

/// Upper bounds of the write+sync latency histogram's buckets (µs); one more bucket above.
pub const SYNC_US_BOUNDS: [u64; 11] = [
    50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200,
];
/// Upper bounds of the group-size histogram's buckets (records per group); one more above.
pub const GROUP_BOUNDS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// Log figures for INFO persistence and /metrics (summed over workers). Updated once per
/// group, off the per-request path.
#[derive(Default)]
pub struct Stats {
    pub groups: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub sync_us_total: AtomicU64,
    pub sync_us_max: AtomicU64,
    pub last_group_records: AtomicU64,
    /// Per bucket of `SYNC_US_BOUNDS` (and one above): groups whose write+sync took that long.
    pub sync_us_buckets: [AtomicU64; 12],
    /// Per bucket of `GROUP_BOUNDS` (and one above): groups of that many records.
    pub group_buckets: [AtomicU64; 12],
    /// Start-up: records replayed, and how long recovery took.
    pub recovered_records: AtomicU64,
    pub recovery_ms: AtomicU64,
}

fn bucket(bounds: &[u64], x: u64) -> usize {
    bounds.iter().position(|&b| x <= b).unwrap_or(bounds.len())
}

impl Stats {
    pub fn note_group(&self, records: u64, bytes: u64, sync_us: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.sync_us_total.fetch_add(sync_us, Ordering::Relaxed);
        self.sync_us_max.fetch_max(sync_us, Ordering::Relaxed);
        self.last_group_records.store(records, Ordering::Relaxed);
        self.sync_us_buckets[bucket(&SYNC_US_BOUNDS, sync_us)].fetch_add(1, Ordering::Relaxed);
        self.group_buckets[bucket(&GROUP_BOUNDS, records)].fetch_add(1, Ordering::Relaxed);
    }

    /// (bucket upper bound, count) pairs, None for the last bucket.
    pub fn histogram(buckets: &[AtomicU64; 12], bounds: &[u64; 11]) -> Vec<(Option<u64>, u64)> {
        buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (bounds.get(i).copied(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// A write-ahead log write or sync failed: stop the process at once. Retrying could report a
/// write durable that is not (after a failed fsync the kernel may have dropped the dirty
/// pages), and going on without the log would acknowledge writes a crash loses. The log up to
/// the last successful sync is intact; a restart recovers from it.
pub fn fail_stop(why: &str) -> ! {
    eprintln!("ringledger-server: FATAL: write-ahead log: {why}; stopping now (nothing unsynced was acknowledged; a restart recovers from the log)");
    std::process::exit(1);
}

/// What `--check` validates of the ledger's data directory, short of serving: the directory
/// can be locked (no server runs on it), META matches the config, every log recovers and
/// replays into a ledger of the configured size that passes its invariants. No log is written
/// (opening takes the lock as start-up does, and gives an empty directory its META); a
/// directory that does not exist yet only needs a place to be created.
pub fn check(config: &crate::config::Config) -> Result<(), String> {
    let Some(dir) = &config.ledger.data_dir else {
        return Ok(());
    };
    if !dir.exists() {
        let mut parent = dir.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            parent = p.parent();
        }
        let parent = parent
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(format!(
                "ledger.data_dir {}: {} is not a directory",
                dir.display(),
                parent.display()
            ));
        }
        return Ok(());
    }
    // Validation needs no prefaulted memory.
    let ledger = ledger::Ledger::new(ledger::LedgerConfig {
        prefault: false,
        ..config.ledger_config()
    })?;
    let data_dir = data_dir::DataDir::open(dir, ledger.partition_count())?;
    recovery::recover(&data_dir, &ledger, 0).map(|_| ())
}
