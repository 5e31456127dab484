//! The two threads beside each worker that touch its log's files, so the worker's event loop
//! never waits for the disk:
//!
//! - the **syncer** writes a group and syncs it (`write` + `fdatasync`), one group at a time,
//!   and wakes the worker when it is durable; the worker meanwhile executes the next batches,
//!   which form the next group (group commit with no timer: a lone client waits for one sync);
//! - the **preparer** creates segments ahead of need (64 MiB, zero-filled and synced: tens of
//!   milliseconds that would otherwise stall every batch behind them).
//!
//! Both talk to the worker over channels. The syncer takes over the log's own segment files once
//! the worker starts; the preparer opens its own handle on the directory.

use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Instant;
use wal::{FileStore, GroupWrite, SegmentStore, StoreError};

/// A failure injected for tests through `RINGLEDGER_TEST_WAL_FAULT=write:N` or `sync:N`: the
/// Nth group write (or its sync) of each worker's log fails with EIO, exercising the real
/// failure path (the process stops; a restart recovers).
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    Write(u64),
    Sync(u64),
}

pub fn fault_from_env() -> Option<Fault> {
    let v = std::env::var("RINGLEDGER_TEST_WAL_FAULT").ok()?;
    let (kind, n) = v.split_once(':')?;
    let n = n.parse().ok()?;
    match kind {
        "write" => Some(Fault::Write(n)),
        "sync" => Some(Fault::Sync(n)),
        _ => None,
    }
}

/// A group's write and sync, as the syncer reports it: the write (its buffer goes back to the
/// writer) and how long it took in µs, or why it failed.
pub type Synced = (GroupWrite, Result<u64, String>);

pub struct Syncer {
    jobs: Sender<GroupWrite>,
    pub done: Receiver<Synced>,
}

impl Syncer {
    /// Starts worker `core`'s syncer, writing through `store` (the log's, recovered and
    /// sealed); `wake` is called after each group (the worker's loop waker).
    pub fn spawn(
        mut store: FileStore,
        core: usize,
        fault: Option<Fault>,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Syncer, String> {
        let (jobs, queue) = channel::<GroupWrite>();
        let (report, done) = channel();
        std::thread::Builder::new()
            .name(format!("wal-sync-{core}"))
            .spawn(move || {
                let mut writes = 0u64;
                for write in queue {
                    writes += 1;
                    let result = write_synced(&mut store, core, &write, fault, writes);
                    if report.send((write, result)).is_err() {
                        return;
                    }
                    wake();
                }
            })
            .map_err(|e| format!("core {core}: cannot start the log syncer: {e}"))?;
        Ok(Syncer { jobs, done })
    }

    pub fn submit(&self, write: GroupWrite) -> Result<(), String> {
        self.jobs
            .send(write)
            .map_err(|_| "the log syncer stopped".to_string())
    }
}

/// Writes one group and syncs it; returns how long that took (µs).
fn write_synced(
    store: &mut FileStore,
    core: usize,
    write: &GroupWrite,
    fault: Option<Fault>,
    n: u64,
) -> Result<u64, String> {
    let started = Instant::now();
    let injected = |what: &str| {
        format!(
            "core {core}: {what} of segment {} failed: Input/output error (injected by \
             RINGLEDGER_TEST_WAL_FAULT)",
            write.segment()
        )
    };
    if matches!(fault, Some(Fault::Write(k)) if k == n) {
        return Err(injected("write"));
    }
    store
        .write(write.segment(), write.offset(), write.bytes())
        .map_err(|e| format!("core {core}: {e}"))?;
    if matches!(fault, Some(Fault::Sync(k)) if k == n) {
        return Err(injected("sync"));
    }
    store
        .sync(write.segment())
        .map_err(|e| format!("core {core}: {e}"))?;
    Ok(started.elapsed().as_micros() as u64)
}

/// The segment preparer.
pub struct Preparer {
    ask: Sender<(u64, u64)>,
    pub done: Receiver<(u64, Result<(), StoreError>)>,
    /// The segment asked for and not yet reported.
    pub requested: Option<u64>,
}

impl Preparer {
    pub fn spawn(data_dir: &Path, core: usize) -> Result<Preparer, String> {
        let mut store =
            FileStore::open(data_dir, core as u16).map_err(|e| format!("core {core}: {e}"))?;
        let (ask, asked) = channel::<(u64, u64)>();
        let (report, done) = channel();
        std::thread::Builder::new()
            .name(format!("wal-prep-{core}"))
            .spawn(move || {
                for (n, size) in asked {
                    if report.send((n, store.create_segment(n, size))).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("core {core}: cannot start the segment preparer: {e}"))?;
        Ok(Preparer {
            ask,
            done,
            requested: None,
        })
    }

    /// Asks for segment `n` of `size` bytes.
    pub fn ask(&mut self, n: u64, size: u64) -> Result<(), String> {
        self.ask
            .send((n, size))
            .map_err(|_| "the segment preparer stopped".to_string())?;
        self.requested = Some(n);
        Ok(())
    }
}
