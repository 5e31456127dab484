//! Start-up: every worker log in the data directory read back, verified, and replayed into the
//! ledger.
//!
//! 1. Each `wal/core-NN` log is recovered by the `wal` crate: every record's checksums,
//!    location, group and hash chain are checked; a torn last group (the only place a crash
//!    can tear) is dropped; damage anywhere before it stops start-up with the file, the offset
//!    and what is wrong.
//! 2. Each record is one batch's effects, in parts numbered per partition (see
//!    `ledger::effects`). A partition's parts can be spread over several logs (a batch
//!    spanning owners runs where it arrived), so they are applied in `seq` order across all
//!    logs: a record applies when each of its parts is its partition's next seq.
//! 3. What cannot apply lies beyond a gap: a part whose predecessor never reached the disk.
//!    Such a batch was never acknowledged (a reply waits until every partition is durable up
//!    to what it saw, see `watermark`), so it is dropped and reported; so is everything that
//!    depended on it.
//! 4. The ledger's invariants are checked, and its clock continues above every recovered
//!    timestamp.

use super::data_dir::DataDir;
use ledger::Ledger;
use std::time::Instant;
use wal::{FileStore, RecordKind, Recovered, WalConfig};

/// What start-up recovered, for its log line and INFO.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub logs: usize,
    pub records: u64,
    pub parts: u64,
    pub bytes: u64,
    pub accounts: u64,
    pub transfers: u64,
    /// Records beyond a gap (never acknowledged), dropped.
    pub dropped: u64,
    /// Resume parts to log before serving (see `ledger::effects::encode_resume`): where
    /// records were dropped, each such partition continues above every seq seen.
    pub resume: Vec<u8>,
    /// Every log ended with a clean-shutdown record (or there was none).
    pub clean: bool,
    pub millis: u64,
    /// Where the time went: reading and checking the logs, replaying, verifying.
    pub read_ms: u64,
    pub replay_ms: u64,
    pub verify_ms: u64,
}

impl Report {
    /// The start-up line.
    pub fn line(&self, dir: &std::path::Path) -> String {
        if self.records == 0 && self.logs == 0 {
            return format!("ledger: durable, data in {} (new)", dir.display());
        }
        let how = if self.clean {
            "after a clean shutdown"
        } else {
            "after a crash (torn tail dropped if any)"
        };
        let mut line = format!(
            "ledger: durable, data in {}: recovered {} accounts and {} transfers from {} records \
             in {} ms (read {}, replay {}, verify {}), {how}",
            dir.display(),
            self.accounts,
            self.transfers,
            self.records,
            self.millis,
            self.read_ms,
            self.replay_ms,
            self.verify_ms
        );
        if self.dropped > 0 {
            line.push_str(&format!(
                "; dropped {} unacknowledged batches beyond a gap",
                self.dropped
            ));
        }
        line
    }
}

/// One core's recovered log, kept open for its worker to append to.
pub struct CoreLog {
    pub core: usize,
    pub store: FileStore,
    pub config: WalConfig,
    pub recovered: Recovered,
}

pub fn wal_config(core: usize, dir_id: u64) -> WalConfig {
    WalConfig::new(core as u16, dir_id)
}

/// Recovers every log under `data_dir` into `ledger` (freshly built, empty).
pub fn recover(
    data_dir: &DataDir,
    ledger: &Ledger,
    workers: usize,
) -> Result<(Vec<CoreLog>, Report), String> {
    let started = Instant::now();
    let mut cores = data_dir.wal_cores()?;
    for w in 0..workers {
        if !cores.contains(&w) {
            cores.push(w);
        }
    }
    cores.sort_unstable();
    let mut logs = Vec::new();
    let mut report = Report {
        clean: true,
        ..Report::default()
    };
    for core in cores {
        let dir = data_dir.wal_dir(core);
        let config = wal_config(core, data_dir.dir_id);
        let mut store = FileStore::open(data_dir.path(), core as u16)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let recovered = wal::recover(&mut store, &config)
            .map_err(|e| format!("{}: {e}; refusing to start", dir.display()))?;
        if !recovered.records().is_empty() {
            report.logs += 1;
            let ended_cleanly = recovered
                .records()
                .last()
                .is_some_and(|r| r.kind == RecordKind::CleanShutdown);
            report.clean &= ended_cleanly;
        }
        logs.push(CoreLog {
            core,
            store,
            config,
            recovered,
        });
    }
    report.read_ms = started.elapsed().as_millis() as u64;
    replay(&logs, ledger, &mut report)?;
    report.millis = started.elapsed().as_millis() as u64;
    Ok((logs, report))
}

/// Replays every batch record of every log (see `Ledger::replay_batches`), then checks the
/// ledger's invariants.
fn replay(logs: &[CoreLog], ledger: &Ledger, report: &mut Report) -> Result<(), String> {
    let mut names = Vec::new();
    let mut batches: Vec<&[u8]> = Vec::new();
    for log in logs {
        for (i, r) in log.recovered.records().iter().enumerate() {
            if r.kind == RecordKind::Batch {
                names.push((log.core, i, r.at));
                batches.push(&r.payload);
            }
        }
    }
    report.records = batches.len() as u64;
    report.bytes = batches.iter().map(|b| b.len() as u64).sum();
    let started = std::time::Instant::now();
    let summary = ledger
        .replay_batches(&batches, |b| {
            let (core, i, at) = names[b];
            format!("wal/core-{core:02} record {i} ({at:?})")
        })
        .map_err(|e| {
            format!("{e}; refusing to start (the log does not fit the ledger it describes)")
        })?;
    report.parts = summary.parts;
    report.accounts = summary.accounts;
    report.transfers = summary.transfers;
    report.dropped = summary.dropped;
    let mut seqs = Vec::new();
    ledger.effect_seqs(&mut seqs);
    for (p, (&have, &seen)) in seqs.iter().zip(&summary.max_seen).enumerate() {
        if seen > have {
            ledger::effects::encode_resume(&mut report.resume, p, seen + 1, summary.newest);
            ledger.skip_effects_to(p, seen + 1);
        }
    }
    report.replay_ms = started.elapsed().as_millis() as u64;
    let started = std::time::Instant::now();
    // The account-level invariants (balanced ledgers, limits, pending sums): linear in the
    // accounts and pending transfers. The full `verify` (every index and list) is the tests'.
    ledger
        .verify_balances()
        .map_err(|e| format!("recovered ledger fails its invariants: {e}; refusing to start"))?;
    report.verify_ms = started.elapsed().as_millis() as u64;
    Ok(())
}
