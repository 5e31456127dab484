//! One worker's write-ahead log: the effects of the batches this worker executed, appended as
//! records to an open group, written and synced as one group at the end of each loop turn.
//!
//! The format, the group-commit state machine and recovery are the `wal` crate's; this is the
//! server's side: real segment files (`wal::FileStore`), a spare segment always prepared ahead
//! so a batch never waits for one (and a full disk shows up as a refused segment before the
//! log runs out), and which partitions' effects each group made durable.

use super::data_dir::DataDir;
use std::time::Instant;
use wal::{FileStore, GroupWrite, RecordKind, Recovered, SegmentStore, WalConfig, WalWriter};

pub struct WorkerLog {
    core: usize,
    store: FileStore,
    writer: WalWriter,
    /// (partition, seq) of the effects in the open group.
    staged: Vec<(usize, u64)>,
    staged_records: u64,
    /// Effects made durable by groups written since the last [`WorkerLog::flush`] returned.
    durable: Vec<(usize, u64)>,
    /// The last segment preparation failed for lack of space: creates are refused meanwhile
    /// (see `ledger_ops::set_log_out_of_space`), and it is retried on the housekeeping tick.
    out_of_space: bool,
    /// Test hook: fail the Nth write or sync from start (see [`Fault`]).
    fault: Option<Fault>,
    writes: u64,
    stats: std::sync::Arc<super::Shared>,
}

/// A failure injected for tests through `RINGLEDGER_TEST_WAL_FAULT=write:N` or `sync:N`: the
/// Nth group write (or sync) of every worker's log fails with EIO, exercising the real
/// failure path (the process stops; a restart recovers).
#[derive(Clone, Copy, Debug)]
enum Fault {
    Write(u64),
    Sync(u64),
}

fn fault_from_env() -> Option<Fault> {
    let v = std::env::var("RINGLEDGER_TEST_WAL_FAULT").ok()?;
    let (kind, n) = v.split_once(':')?;
    let n = n.parse().ok()?;
    match kind {
        "write" => Some(Fault::Write(n)),
        "sync" => Some(Fault::Sync(n)),
        _ => None,
    }
}

impl WorkerLog {
    /// Opens worker `core`'s log for appending after its recovery (`recovered`), first zeroing
    /// whatever lies past the recovered end.
    pub fn open(
        data_dir: &DataDir,
        core: usize,
        config: WalConfig,
        recovered: &Recovered,
        mut store: FileStore,
        stats: std::sync::Arc<super::Shared>,
    ) -> Result<WorkerLog, String> {
        let shown = data_dir.wal_dir(core);
        let shown = shown.display();
        wal::seal(&mut store, recovered).map_err(|e| format!("{shown}: {e}"))?;
        let writer = WalWriter::resume(config, recovered).map_err(|e| format!("{shown}: {e}"))?;
        let mut log = WorkerLog {
            core,
            store,
            writer,
            staged: Vec::new(),
            staged_records: 0,
            durable: Vec::new(),
            out_of_space: false,
            fault: fault_from_env(),
            writes: 0,
            stats,
        };
        log.prepare_segments()?;
        Ok(log)
    }

    /// Creates the segments the writer wants ready (the next one and a spare). Out of disk
    /// space, the log goes on in the room it has and creates are refused until a retry
    /// succeeds; any other failure is fatal.
    pub fn prepare_segments(&mut self) -> Result<(), String> {
        while let Some(n) = self.writer.needs_segment() {
            let size = self.writer.config().segment_size;
            if let Err(e) = self.store.create_segment(n, size) {
                let full = matches!(
                    e.source.raw_os_error(),
                    Some(libc::ENOSPC) | Some(libc::EDQUOT)
                );
                // Room for the next group must exist: only a spare may be missing.
                if full && self.writer.fits(0) {
                    if !self.out_of_space {
                        self.out_of_space = true;
                        crate::ledger_ops::set_log_out_of_space(true);
                        eprintln!(
                            "ringledger-server: ledger disk full: core {}: {e}; refusing ledger \
                             creates until space is freed",
                            self.core
                        );
                    }
                    return Ok(());
                }
                return Err(format!(
                    "core {}: cannot prepare segment {n}: {e}",
                    self.core
                ));
            }
            self.writer.segment_ready(n);
        }
        if self.out_of_space {
            self.out_of_space = false;
            crate::ledger_ops::set_log_out_of_space(false);
            eprintln!(
                "ringledger-server: ledger disk space available again: core {}: creates resume",
                self.core
            );
        }
        Ok(())
    }

    /// Whether the last segment preparation failed for lack of space.
    pub fn out_of_space(&self) -> bool {
        self.out_of_space
    }

    /// Appends the effects of the commits this worker made (see `ledger::effects`) to the open
    /// group: one record, or one per run of whole commits when they exceed a record (a commit
    /// is bounded: 8189 events, or `ledger::EXPIRE_MAX_PER_COMMIT` expiries). A group that
    /// would grow past its bound is written first.
    pub fn stage(&mut self, payload: &[u8]) -> Result<(), String> {
        let max = self.writer.config().max_payload();
        if payload.len() <= max {
            return self.stage_record(payload);
        }
        let commits = ledger::effects::commits(payload)
            .map_err(|e| format!("core {}: encoding effects: {e}", self.core))?;
        let mut start = 0;
        for (i, c) in commits.iter().enumerate() {
            let next_end = commits.get(i + 1).map_or(usize::MAX, |n| n.end);
            if next_end - start > max {
                self.stage_record(&payload[start..c.end])?;
                start = c.end;
            }
        }
        Ok(())
    }

    /// Appends one record of whole commits.
    fn stage_record(&mut self, payload: &[u8]) -> Result<(), String> {
        let parts = ledger::effects::decode(payload)
            .map_err(|e| format!("core {}: encoding effects: {e}", self.core))?;
        if !self.writer.fits(payload.len()) {
            self.write_group()?;
        }
        self.writer
            .append(RecordKind::Batch, payload)
            .map_err(|e| format!("core {}: {e}", self.core))?;
        self.staged
            .extend(parts.iter().map(|p| (p.partition, p.seq)));
        self.staged_records += 1;
        Ok(())
    }

    pub fn has_staged(&self) -> bool {
        self.staged_records > 0
    }

    /// Writes and syncs the open group; returns every effect made durable since the last call.
    pub fn flush(&mut self) -> Result<Vec<(usize, u64)>, String> {
        if self.has_staged() {
            self.write_group()?;
        }
        Ok(std::mem::take(&mut self.durable))
    }

    fn write_group(&mut self) -> Result<(), String> {
        let Some(write) = self.writer.take_write() else {
            return Ok(());
        };
        let sync_us = self.write_synced(&write)?;
        let bytes = write.bytes().len() as u64;
        self.writer.complete(write);
        self.durable.append(&mut self.staged);
        let records = std::mem::take(&mut self.staged_records);
        self.stats.stats.note_group(records, bytes, sync_us);
        // The segment the next group may need, and a spare, before any reply waits on it.
        self.prepare_segments()
    }

    /// Writes one group and syncs it; returns how long that took (µs).
    fn write_synced(&mut self, write: &GroupWrite) -> Result<u64, String> {
        let started = Instant::now();
        self.writes += 1;
        let injected = |what: &str| {
            format!(
                "core {}: {what} of segment {} failed: Input/output error (injected by \
                 RINGLEDGER_TEST_WAL_FAULT)",
                self.core,
                write.segment()
            )
        };
        if matches!(self.fault, Some(Fault::Write(n)) if n == self.writes) {
            return Err(injected("write"));
        }
        self.store
            .write(write.segment(), write.offset(), write.bytes())
            .map_err(|e| format!("core {}: {e}", self.core))?;
        if matches!(self.fault, Some(Fault::Sync(n)) if n == self.writes) {
            return Err(injected("sync"));
        }
        self.store
            .sync(write.segment())
            .map_err(|e| format!("core {}: {e}", self.core))?;
        Ok(started.elapsed().as_micros() as u64)
    }

    /// At a graceful stop, after the last reply: writes what is staged and a clean-shutdown
    /// record, so the next start knows this log ended on purpose.
    pub fn close_cleanly(&mut self) -> Result<(), String> {
        self.flush()?;
        self.writer
            .append(RecordKind::CleanShutdown, &[])
            .map_err(|e| format!("core {}: {e}", self.core))?;
        if let Some(write) = self.writer.take_write() {
            self.write_synced(&write)?;
            self.writer.complete(write);
        }
        Ok(())
    }
}
