use super::*;
use crate::format::{decode, HEADER_SIZE};

fn config(align: usize) -> WalConfig {
    WalConfig {
        segment_size: 8192,
        max_group_bytes: 2048,
        write_align: align,
        ..WalConfig::new(1, 77)
    }
}

fn ready(w: &mut WalWriter) {
    while let Some(n) = w.needs_segment() {
        w.segment_ready(n);
    }
}

#[test]
fn groups_take_complete_and_chain() {
    let mut w = WalWriter::new(config(512)).unwrap();
    assert_eq!(
        w.append(RecordKind::Batch, b"x"),
        Err(WalError::SegmentNotReady { segment: 1 })
    );
    assert_eq!(w.needs_segment(), Some(1));
    ready(&mut w);
    assert_eq!(w.needs_segment(), None);
    assert!(w.take_write().is_none(), "nothing to write");
    let a = w.append(RecordKind::Batch, b"first").unwrap();
    let b = w.append(RecordKind::Batch, &[1; 100]).unwrap();
    assert_eq!(
        (a.group, a.at),
        (
            1,
            Position {
                segment: 1,
                offset: 0
            }
        )
    );
    assert_eq!((b.group, b.at.offset), (1, 80));
    w.verify().unwrap();
    let g1 = w.take_write().unwrap();
    assert_eq!(
        (g1.group(), g1.segment(), g1.offset(), g1.records()),
        (1, 1, 0, 2)
    );
    assert_eq!(g1.bytes().len(), 512);
    assert_eq!(g1.record_range(), 0..80 + 176);
    assert_eq!(w.in_flight(), Some(1));
    w.verify().unwrap();
    // Appended meanwhile: the next group, not written while one is in flight.
    let c = w.append(RecordKind::Batch, b"later").unwrap();
    assert_eq!((c.group, c.at.offset), (2, 256));
    assert!(w.take_write().is_none());
    w.verify().unwrap();
    assert_eq!(w.complete(g1), 1);
    assert_eq!(w.durable_group(), 1);
    let g2 = w.take_write().unwrap();
    // The write starts at the block boundary and rewrites group 1's bytes in it unchanged.
    assert_eq!((g2.group(), g2.offset(), g2.bytes().len()), (2, 0, 512));
    let first = decode(g2.bytes()).unwrap();
    assert_eq!(first.meta.group, 1);
    let h = decode(&g2.bytes()[256..]).unwrap();
    assert!(h.meta.group_end && h.meta.group == 2 && h.meta.index == 0);
    let second = decode(&g2.bytes()[80..]).unwrap();
    assert!(second.meta.group_end, "group 1's last record is marked");
    assert_eq!(h.meta.prev, second.checksum, "chain crosses groups");
    assert_eq!(w.complete(g2), 2);
    w.verify().unwrap();
}

#[test]
fn write_alignment_in_file_and_memory() {
    for align in [16, 512, 4096] {
        let mut w = WalWriter::new(WalConfig {
            segment_size: 65536,
            ..config(align)
        })
        .unwrap();
        ready(&mut w);
        for round in 0..20usize {
            for i in 0..=round % 3 {
                w.append(RecordKind::Batch, &vec![i as u8; round * 37 % 300])
                    .unwrap();
            }
            let g = w.take_write().unwrap();
            assert_eq!(g.offset() % align as u64, 0);
            assert_eq!(g.bytes().len() % align, 0);
            assert_eq!(g.bytes().as_ptr() as usize % align, 0);
            assert!(
                g.offset() <= g.record_range().start
                    && g.record_range().end <= g.offset() + g.bytes().len() as u64
            );
            w.complete(g);
            ready(&mut w);
            w.verify().unwrap();
        }
    }
}

#[test]
fn limits() {
    let mut w = WalWriter::new(config(16)).unwrap();
    ready(&mut w);
    let max = 2048 - HEADER_SIZE;
    assert_eq!(
        w.append(RecordKind::Batch, &vec![0; max + 1]),
        Err(WalError::PayloadTooLarge { len: max + 1, max })
    );
    assert!(w.fits(max) && !w.fits(max + 1));
    w.append(RecordKind::Batch, &vec![0; 1000]).unwrap();
    let e = w.append(RecordKind::Batch, &vec![0; 1000]).unwrap_err();
    assert!(
        matches!(
            e,
            WalError::GroupFull {
                group: 1,
                used: 1072,
                needed: 1072,
                max: 2048
            }
        ),
        "{e}"
    );
    assert!(!w.fits(1000));
    let g = w.take_write().unwrap();
    // The open group is empty again: the record fits in the next group even while one is in flight.
    w.append(RecordKind::Batch, &vec![0; 1000]).unwrap();
    w.complete(g);
    w.verify().unwrap();
    assert!(e.to_string().contains("group 1 is full"), "{e}");
}

#[test]
fn segment_rollover() {
    let mut w = WalWriter::new(config(512)).unwrap();
    ready(&mut w);
    assert_eq!(w.needs_segment(), None);
    // Fill segment 1 to 7392: three full groups, one small, then one of 1072 bytes.
    for payload in [1984, 1984, 1984, 100] {
        w.append(RecordKind::Batch, &vec![1; payload]).unwrap();
        let g = w.take_write().unwrap();
        w.complete(g);
    }
    w.append(RecordKind::Batch, &vec![2; 1000]).unwrap();
    // 864 bytes fit in the group but not in the 800 left of segment 1, and a group never spans
    // segments.
    let e = w.append(RecordKind::Batch, &[3; 800]).unwrap_err();
    assert!(matches!(e, WalError::SegmentFull { group: 5, .. }), "{e}");
    let g5 = w.take_write().unwrap();
    assert_eq!(g5.record_range().end, 7392);
    // The open group is empty: the record starts segment 2 even while group 5 is in flight.
    let r = w.append(RecordKind::Batch, &[3; 800]).unwrap();
    assert_eq!(
        r.at,
        Position {
            segment: 2,
            offset: 0
        }
    );
    assert_eq!(w.needs_segment(), Some(3), "a spare beyond segment 2");
    w.verify().unwrap();
    w.complete(g5);
    let g6 = w.take_write().unwrap();
    assert_eq!((g6.segment(), g6.offset()), (2, 0));
    w.complete(g6);
    // Without the spare, the writer cannot move on.
    let mut filled = 864u64;
    while filled + 2048 <= 8192 {
        w.append(RecordKind::Batch, &vec![4; 2048 - HEADER_SIZE])
            .unwrap();
        let g = w.take_write().unwrap();
        w.complete(g);
        filled += 2048;
    }
    assert_eq!(
        w.append(RecordKind::Batch, &vec![4; 2048 - HEADER_SIZE]),
        Err(WalError::SegmentNotReady { segment: 3 })
    );
    w.segment_ready(3);
    let r = w
        .append(RecordKind::Batch, &vec![4; 2048 - HEADER_SIZE])
        .unwrap();
    assert_eq!(
        r.at,
        Position {
            segment: 3,
            offset: 0
        }
    );
    w.verify().unwrap();
}

/// Two buffers of fixed capacity swap between open and in flight: no allocation per record.
#[test]
fn buffers_are_reused() {
    let mut w = WalWriter::new(WalConfig {
        segment_size: 1 << 20,
        ..config(4096)
    })
    .unwrap();
    ready(&mut w);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..200usize {
        w.append(RecordKind::Batch, &vec![i as u8; i % 700])
            .unwrap();
        if let Some(g) = w.take_write() {
            seen.insert(g.bytes().as_ptr() as usize);
            w.complete(g);
        }
        ready(&mut w);
    }
    assert_eq!(seen.len(), 2, "two staging buffers, reused");
    w.verify().unwrap();
}

#[test]
#[should_panic(expected = "not the write in flight")]
fn completing_a_stale_write_is_a_caller_bug() {
    let mut w = WalWriter::new(config(16)).unwrap();
    ready(&mut w);
    w.append(RecordKind::Batch, b"a").unwrap();
    let g = w.take_write().unwrap();
    let forged = GroupWrite { group: 7, ..g };
    w.complete(forged);
}
