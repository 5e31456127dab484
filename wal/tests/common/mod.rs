//! Shared helpers: a log on a [`SimStore`] driven through the public API.

#![allow(dead_code)]

use wal::{
    recover, seal, GroupWrite, RecordKind, Recovered, RecoveryError, SegmentStore, SimStore,
    WalConfig, WalWriter,
};

/// A log being written: config, store, writer.
pub struct Log {
    pub config: WalConfig,
    pub store: SimStore,
    pub writer: WalWriter,
}

impl Log {
    /// A fresh log on a fresh store.
    pub fn new(config: WalConfig) -> Log {
        Log::on(config, SimStore::new(1, "core-01"))
    }

    /// Recovers the log on `store` (which must recover cleanly), seals it and resumes writing.
    pub fn on(config: WalConfig, mut store: SimStore) -> Log {
        let recovered = recover(&mut store, &config).unwrap();
        seal(&mut store, &recovered).unwrap();
        let writer = WalWriter::resume(config.clone(), &recovered).unwrap();
        let mut log = Log {
            config,
            store,
            writer,
        };
        log.prepare();
        log
    }

    /// Creates every segment the writer asks for.
    pub fn prepare(&mut self) {
        while let Some(n) = self.writer.needs_segment() {
            self.store
                .create_segment(n, self.config.segment_size)
                .unwrap();
            self.writer.segment_ready(n);
        }
    }

    /// Appends one group of `payloads` and takes its write (not yet written).
    pub fn group(&mut self, payloads: &[&[u8]]) -> GroupWrite {
        for p in payloads {
            self.writer.append(RecordKind::Batch, p).unwrap();
        }
        self.writer.take_write().unwrap()
    }

    /// Writes one group of `payloads` durably and completes it; returns the write's extent.
    pub fn durable(&mut self, payloads: &[&[u8]]) -> Extent {
        let w = self.group(payloads);
        let extent = Extent::of(&w);
        self.store
            .write(w.segment(), w.offset(), w.bytes())
            .unwrap();
        self.store.sync(w.segment()).unwrap();
        self.writer.complete(w);
        self.writer.verify().unwrap();
        self.prepare();
        extent
    }

    /// Writes one group without syncing it (still in flight); returns the write.
    pub fn volatile(&mut self, payloads: &[&[u8]]) -> GroupWrite {
        let w = self.group(payloads);
        self.store
            .write(w.segment(), w.offset(), w.bytes())
            .unwrap();
        w
    }

    /// Recovers from the current durable state, without changing this log.
    pub fn recover(&self) -> Result<Recovered, RecoveryError> {
        recover(&mut self.store.clone(), &self.config)
    }
}

/// Where a group's records are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub group: u64,
    pub segment: u64,
    pub start: u64,
    pub end: u64,
}

impl Extent {
    pub fn of(w: &GroupWrite) -> Extent {
        Extent {
            group: w.group(),
            segment: w.segment(),
            start: w.record_range().start,
            end: w.record_range().end,
        }
    }
}

/// A small-segment configuration for tests.
pub fn small(segment_size: u64, write_align: usize) -> WalConfig {
    WalConfig {
        segment_size,
        max_group_bytes: 4096,
        write_align,
        ..WalConfig::new(1, 0xABCD)
    }
}

/// `(group, payload)` of every recovered record.
pub fn contents(r: &Recovered) -> Vec<(u64, Vec<u8>)> {
    r.records()
        .iter()
        .map(|x| (x.group, x.payload.clone()))
        .collect()
}

/// Groups present in a recovery, in order, deduplicated.
pub fn groups(r: &Recovered) -> Vec<u64> {
    let mut g: Vec<u64> = r.records().iter().map(|x| x.group).collect();
    g.dedup();
    g
}

/// A payload of `len` bytes derived from `tag`.
pub fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}
