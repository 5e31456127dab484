//! The real-file store: layout, round trip through recovery across reopen, torn tail, errors.

use std::fs;
use std::path::PathBuf;
use wal::{recover, seal, FileStore, RecordKind, SegmentStore, StoreOp, WalConfig, WalWriter};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("wal-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn config() -> WalConfig {
    WalConfig {
        segment_size: 64 << 10,
        max_group_bytes: 16 << 10,
        write_align: 4096,
        ..WalConfig::new(3, 0xF11E)
    }
}

/// Recovers, seals, resumes and prepares segments, as a server does at start-up.
fn start(store: &mut FileStore) -> (WalWriter, wal::Recovered) {
    let r = recover(store, &config()).unwrap();
    seal(store, &r).unwrap();
    let mut w = WalWriter::resume(config(), &r).unwrap();
    while let Some(n) = w.needs_segment() {
        store.create_segment(n, config().segment_size).unwrap();
        w.segment_ready(n);
    }
    (w, r)
}

fn write_group(store: &mut FileStore, w: &mut WalWriter, payloads: &[Vec<u8>]) {
    for p in payloads {
        w.append(RecordKind::Batch, p).unwrap();
    }
    let g = w.take_write().unwrap();
    store.write(g.segment(), g.offset(), g.bytes()).unwrap();
    store.sync(g.segment()).unwrap();
    w.complete(g);
    while let Some(n) = w.needs_segment() {
        store.create_segment(n, config().segment_size).unwrap();
        w.segment_ready(n);
    }
}

#[test]
fn round_trip_across_reopen() {
    let tmp = TempDir::new("round-trip");
    let mut want = Vec::new();
    {
        let mut store = FileStore::open(&tmp.0, 3).unwrap();
        assert_eq!(store.dir(), tmp.0.join("wal").join("core-03"));
        let (mut w, r) = start(&mut store);
        assert!(r.records().is_empty() && r.next_group() == 1);
        for i in 0..150u32 {
            let ps: Vec<Vec<u8>> = (0..1 + i % 3)
                .map(|j| vec![(i + j) as u8; 100 + (i as usize * 37) % 1500])
                .collect();
            want.extend(ps.iter().cloned());
            write_group(&mut store, &mut w, &ps);
        }
    }
    let seg1 = tmp.0.join("wal/core-03/00000001.seg");
    assert_eq!(fs::metadata(&seg1).unwrap().len(), 64 << 10);
    // Strays in the directory are ignored.
    fs::write(tmp.0.join("wal/core-03/00000099.seg.tmp"), b"half-made").unwrap();
    fs::write(tmp.0.join("wal/core-03/README"), b"x").unwrap();
    let mut store = FileStore::open(&tmp.0, 3).unwrap();
    let r = recover(&mut store, &config()).unwrap();
    let got: Vec<Vec<u8>> = r.records().iter().map(|x| x.payload.clone()).collect();
    assert_eq!(got, want);
    assert!(r.end().segment >= 4 && r.torn().is_none() && r.dirty_ranges().is_empty());
    assert_eq!(
        store.list_segments().unwrap().len() as u64,
        r.last_segment()
    );
}

#[test]
fn torn_tail_is_dropped_and_sealed() {
    let tmp = TempDir::new("torn");
    let mut store = FileStore::open(&tmp.0, 3).unwrap();
    let (mut w, _) = start(&mut store);
    write_group(&mut store, &mut w, &[vec![1; 500], vec![2; 700]]);
    // Group 2 reaches the file only in part (the process dies mid-write).
    for _ in 0..4 {
        w.append(RecordKind::Batch, &[3; 3000]).unwrap();
    }
    let g = w.take_write().unwrap();
    store
        .write(g.segment(), g.offset(), &g.bytes()[..8192])
        .unwrap();
    drop(store);
    let mut store = FileStore::open(&tmp.0, 3).unwrap();
    let r = recover(&mut store, &config()).unwrap();
    assert_eq!(r.records().len(), 2);
    assert_eq!(r.torn().map(|t| t.group), Some(2));
    assert!(!r.dirty_ranges().is_empty());
    let (mut w, _) = start(&mut store);
    assert_eq!(
        recover(&mut store, &config()).unwrap().dirty_ranges(),
        &[],
        "sealed"
    );
    write_group(&mut store, &mut w, &[vec![4; 10]]);
    let r = recover(&mut store, &config()).unwrap();
    assert_eq!(r.records().len(), 3);
    assert_eq!(r.records()[2].group, 2);
}

#[test]
fn errors_name_the_file() {
    let tmp = TempDir::new("errors");
    let mut store = FileStore::open(&tmp.0, 7).unwrap();
    store.create_segment(1, 8192).unwrap();
    let e = store.create_segment(1, 8192).unwrap_err();
    assert_eq!(e.op, StoreOp::Create);
    let e = store.write(1, 8000, &[0; 512]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("core-07/00000001.seg")
            && msg.contains("offset 8000")
            && msg.contains("512 bytes"),
        "{msg}"
    );
    let e = store.read(2, 0, &mut [0; 16]).unwrap_err();
    assert!(e.to_string().contains("00000002.seg"), "{e}");
    store.write(1, 0, b"hello").unwrap();
    store.sync(1).unwrap();
    let mut buf = [0u8; 5];
    store.read(1, 0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}
