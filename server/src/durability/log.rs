//! One worker's write-ahead log: the effects of the batches this worker executed, appended as
//! records to an open group. At the end of a loop turn the open group goes to the syncer (one
//! group in flight); what the worker stages meanwhile forms the next group, sent as soon as the
//! previous one is durable.
//!
//! The format, the group-commit state machine and recovery are the `wal` crate's; this is the
//! server's side: real segment files, a spare segment always prepared ahead so a batch never
//! waits for one (a full disk shows up as a refused segment before the log runs out), and which
//! partitions' effects each group made durable.

use super::data_dir::DataDir;
use super::io_threads::{fault_from_env, Fault, Preparer, Syncer};
use wal::{FileStore, RecordKind, Recovered, SegmentStore, WalConfig, WalWriter};

pub struct WorkerLog {
    core: usize,
    writer: WalWriter,
    /// (partition, seq) of the effects in the open group.
    staged: Vec<(usize, u64)>,
    staged_records: u64,
    /// The group at the syncer: its effects and record count.
    in_flight: Option<(Vec<(usize, u64)>, u64)>,
    /// Effects made durable since the last [`WorkerLog::collect`].
    durable: Vec<(usize, u64)>,
    /// The last segment preparation failed for lack of space: creates are refused meanwhile
    /// (see `ledger_ops::set_log_out_of_space`), and it is retried on the housekeeping tick.
    out_of_space: bool,
    /// Test hook: fail the Nth write or sync from start (see [`Fault`]).
    fault: Option<Fault>,
    preparer: Preparer,
    /// Started with the worker's loop ([`WorkerLog::start`]): it needs the loop's waker.
    syncer: Option<Syncer>,
    /// The log's segment files until [`WorkerLog::start`] hands them to the syncer.
    store: Option<FileStore>,
    stats: std::sync::Arc<super::Shared>,
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
            writer,
            staged: Vec::new(),
            staged_records: 0,
            in_flight: None,
            durable: Vec::new(),
            out_of_space: false,
            fault: fault_from_env(),
            preparer: Preparer::spawn(data_dir.path(), core)?,
            syncer: None,
            store: Some(store),
            stats,
        };
        log.prepare_segments(true)?;
        Ok(log)
    }

    /// Keeps the segments the writer wants ready (the next one and a spare): asks the
    /// preparer thread for the next, and takes the ones it finished. With `wait`, blocks until
    /// the writer has every segment it wants (start-up, or a log that outran its spare). Out
    /// of disk space, the log goes on in the room it has and creates are refused until a retry
    /// succeeds; any other failure is fatal.
    pub fn prepare_segments(&mut self, wait: bool) -> Result<(), String> {
        loop {
            let done = received(
                &self.preparer.done,
                wait && self.preparer.requested.is_some(),
            )
            .map_err(|e| format!("core {}: segment preparer: {e}", self.core))?;
            if let Some((n, result)) = done {
                self.preparer.requested = None;
                match result {
                    Ok(()) => {
                        self.writer.segment_ready(n);
                        self.space_again();
                    }
                    Err(e) => {
                        let full = matches!(
                            e.source.raw_os_error(),
                            Some(libc::ENOSPC) | Some(libc::EDQUOT)
                        );
                        // Room for the next group must exist: only a spare may be missing.
                        if full && self.writer.fits(0) {
                            self.no_space(&e);
                            return Ok(());
                        }
                        return Err(format!(
                            "core {}: cannot prepare segment {n}: {e}",
                            self.core
                        ));
                    }
                }
                continue;
            }
            match self.writer.needs_segment() {
                Some(n) if self.preparer.requested.is_none() => {
                    let size = self.writer.config().segment_size;
                    self.preparer
                        .ask(n, size)
                        .map_err(|e| format!("core {}: {e}", self.core))?;
                }
                Some(_) if wait => {} // wait for the one requested
                _ => return Ok(()),
            }
        }
    }

    fn no_space(&mut self, e: &wal::StoreError) {
        if !self.out_of_space {
            self.out_of_space = true;
            crate::ledger_ops::set_log_out_of_space(true);
            eprintln!(
                "ringledger-server: ledger disk full: core {}: {e}; refusing ledger creates \
                 until space is freed",
                self.core
            );
        }
    }

    fn space_again(&mut self) {
        if self.out_of_space {
            self.out_of_space = false;
            crate::ledger_ops::set_log_out_of_space(false);
            eprintln!(
                "ringledger-server: ledger disk space available again: core {}: creates resume",
                self.core
            );
        }
    }

    /// Whether the last segment preparation failed for lack of space.
    pub fn out_of_space(&self) -> bool {
        self.out_of_space
    }

    /// Before the worker starts: appends `payload` as one record and writes and syncs it now
    /// (recovery's resume parts, which must be durable before anything new is logged).
    pub fn write_now(&mut self, payload: &[u8]) -> Result<(), String> {
        let core = self.core;
        let fail = move |e: String| format!("core {core}: {e}");
        if !self.writer.fits(payload.len()) {
            self.prepare_segments(true)?;
        }
        self.writer
            .append(RecordKind::Batch, payload)
            .map_err(|e| fail(e.to_string()))?;
        let write = self
            .writer
            .take_write()
            .ok_or_else(|| fail("nothing to write".into()))?;
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| fail("written after start".into()))?;
        store
            .write(write.segment(), write.offset(), write.bytes())
            .and_then(|_| store.sync(write.segment()))
            .map_err(|e| fail(e.to_string()))?;
        self.writer.complete(write);
        Ok(())
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
            // The open group is full: send it (after the one in flight).
            self.wait()?;
            self.submit()?;
        }
        if !self.writer.fits(payload.len()) {
            // The log outran its spare segment: wait for the preparer.
            self.prepare_segments(true)?;
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

    /// Starts the syncer; `wake` wakes the worker's loop when a group is durable.
    pub fn start(&mut self, wake: impl Fn() + Send + 'static) -> Result<(), String> {
        let store = self
            .store
            .take()
            .ok_or_else(|| format!("core {}: log started twice", self.core))?;
        self.syncer = Some(Syncer::spawn(store, self.core, self.fault, wake)?);
        Ok(())
    }

    /// Sends the open group to the syncer, unless a group is in flight (then it goes when that
    /// one is durable, from [`WorkerLog::collect`]).
    pub fn submit(&mut self) -> Result<(), String> {
        if self.in_flight.is_some() || !self.has_staged() {
            return Ok(());
        }
        let Some(write) = self.writer.take_write() else {
            return Ok(());
        };
        let syncer = self
            .syncer
            .as_ref()
            .ok_or_else(|| format!("core {}: log not started", self.core))?;
        syncer.submit(write)?;
        let parts = std::mem::take(&mut self.staged);
        self.in_flight = Some((parts, std::mem::take(&mut self.staged_records)));
        Ok(())
    }

    /// Takes the syncer's report when the group in flight is durable (waiting for it with
    /// `block`), then sends the next group if one is staged.
    fn complete(&mut self, block: bool) -> Result<(), String> {
        let Some(syncer) = self.syncer.as_ref() else {
            return Ok(());
        };
        if self.in_flight.is_none() {
            return Ok(());
        }
        let report = received(&syncer.done, block)
            .map_err(|e| format!("core {}: log syncer: {e}", self.core))?;
        let Some((write, result)) = report else {
            return Ok(());
        };
        let sync_us = result?;
        let bytes = write.bytes().len() as u64;
        self.writer.complete(write);
        if let Some((mut parts, records)) = self.in_flight.take() {
            self.durable.append(&mut parts);
            self.stats.stats.note_group(records, bytes, sync_us);
        }
        // Ask for the next spare as soon as the log moves into a new segment.
        self.prepare_segments(false)?;
        self.submit()
    }

    /// Waits until no group is in flight (nor staged behind it).
    fn wait(&mut self) -> Result<(), String> {
        // `complete` sends the next staged group at once: this waits for that one too.
        while self.in_flight.is_some() {
            self.complete(true)?;
        }
        Ok(())
    }

    /// The effects made durable since the last call (the syncer's finished group, if any; the
    /// next group goes out at once).
    pub fn collect(&mut self) -> Result<Vec<(usize, u64)>, String> {
        self.complete(false)?;
        Ok(std::mem::take(&mut self.durable))
    }

    /// At a graceful stop, after the last reply: writes what is staged and a clean-shutdown
    /// record, so the next start knows this log ended on purpose.
    pub fn close_cleanly(&mut self) -> Result<(), String> {
        self.wait()?;
        self.submit()?;
        self.wait()?;
        if !self.writer.fits(0) {
            self.prepare_segments(true)?;
        }
        self.writer
            .append(RecordKind::CleanShutdown, &[])
            .map_err(|e| format!("core {}: {e}", self.core))?;
        self.staged_records += 1;
        self.submit()?;
        self.wait()
    }
}

/// The next message on `rx`: waiting for it with `block`, else only if one is there. A thread
/// that stopped (it panicked) is an error, never a wait that does not end.
fn received<T>(rx: &std::sync::mpsc::Receiver<T>, block: bool) -> Result<Option<T>, String> {
    use std::sync::mpsc::TryRecvError;
    if block {
        return rx
            .recv()
            .map(Some)
            .map_err(|_| "the thread stopped".to_string());
    }
    match rx.try_recv() {
        Ok(x) => Ok(Some(x)),
        Err(TryRecvError::Empty) => Ok(None),
        Err(TryRecvError::Disconnected) => Err("the thread stopped".into()),
    }
}
