//! Misdirected writes, foreign segments, segment rollover, layout errors, clean shutdown, seal.

mod common;

use common::{contents, groups, payload, small, Log};
use wal::format::{encode_into, RecordMeta};
use wal::{
    recover, seal, CorruptReason, Defect, Position, RecordKind, RecoveryError, SegmentStore,
    SimStore, WalConfig, WalWriter,
};

fn corrupt(r: Result<wal::Recovered, RecoveryError>) -> (u64, u64, CorruptReason, String) {
    match r {
        Err(e @ RecoveryError::Corrupt { .. }) => {
            let msg = e.to_string();
            let RecoveryError::Corrupt {
                segment,
                offset,
                reason,
                ..
            } = e
            else {
                unreachable!()
            };
            (segment, offset, reason, msg)
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A log of `n` one-record groups of 300 bytes each.
fn log_of(config: WalConfig, n: u8) -> Log {
    let mut log = Log::new(config);
    for i in 0..n {
        log.durable(&[&payload(i, 300)]);
    }
    log
}

#[test]
fn misdirected_write_followed_by_a_later_group_is_refused() {
    let mut log = log_of(small(16 << 10, 512), 3);
    // Group 4's write lands 4 KiB further on; the disk says it succeeded. (It is longer than a
    // block: group 5's write rewrites group 4's last block, which would otherwise heal it.)
    log.store.misdirect_next_write(Position {
        segment: 1,
        offset: 8192,
    });
    let slot = log.durable(&[&payload(4, 2000)]);
    log.durable(&[b"five"]);
    let (segment, offset, reason, msg) = corrupt(log.recover());
    assert_eq!((segment, offset), (1, slot.start));
    assert!(matches!(
        reason,
        CorruptReason::Damaged {
            defect: Defect::ZeroHeader,
            expected_group: 4,
            later_group: 5,
            ..
        }
    ));
    assert!(
        msg.contains("sim:core-01/00000001.seg") && msg.contains(&format!("offset {}", slot.start)),
        "{msg}"
    );
}

#[test]
fn misdirected_write_over_an_earlier_group_is_refused() {
    let mut log = log_of(small(16 << 10, 16), 3);
    // Group 4 lands on group 2: group 2 now holds records that say they belong elsewhere.
    log.store.misdirect_next_write(Position {
        segment: 1,
        offset: 368,
    });
    log.durable(&[b"four"]);
    let (_, offset, reason, _) = corrupt(log.recover());
    assert_eq!(offset, 368);
    match reason {
        CorruptReason::Damaged {
            defect: Defect::Misplaced { claims },
            expected_group: 2,
            later_group,
            ..
        } => {
            assert_eq!(
                claims,
                Position {
                    segment: 1,
                    offset: 1104
                }
            );
            assert!(later_group >= 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn misdirected_last_write_is_lost_like_a_torn_one_and_sealed_away() {
    let mut log = log_of(small(16 << 10, 512), 3);
    log.store.misdirect_next_write(Position {
        segment: 2,
        offset: 1024,
    });
    log.durable(&[b"four"]);
    let mut r = log.recover().unwrap();
    assert_eq!(groups(&r), vec![1, 2, 3]);
    // The stray copy in segment 2 is beyond the end: sealing zeroes it.
    assert!(r
        .dirty_ranges()
        .iter()
        .any(|&(s, from, to)| s == 2 && from <= 1024 && to > 1024));
    let mut store = log.store.clone();
    seal(&mut store, &r).unwrap();
    store.crash();
    assert!(store.durable(2).unwrap().iter().all(|&b| b == 0));
    let again = recover(&mut store, &log.config).unwrap();
    r.take_records();
    assert_eq!((again.end(), again.next_group()), (r.end(), r.next_group()));
}

/// Segments from another data directory or another core are refused wherever they sit.
#[test]
fn foreign_segments_are_refused() {
    let config = small(16 << 10, 512);
    let other_dir = WalConfig {
        dir_id: 0x5555,
        ..config.clone()
    };
    let other_core = WalConfig {
        core: 9,
        ..config.clone()
    };
    for foreign in [other_dir, other_core] {
        let theirs = log_of(foreign.clone(), 70); // spans segments 1-2
        for segment in [1, 2, 3] {
            let mut ours = log_of(config.clone(), 70);
            assert_eq!(ours.recover().unwrap().records().len(), 70);
            ours.store.put_segment(
                segment,
                theirs.store.durable(segment.min(2)).unwrap().to_vec(),
            );
            let (_, _, reason, msg) = corrupt(ours.recover());
            let CorruptReason::Foreign { defect } = reason else {
                panic!("{reason:?}")
            };
            if foreign.dir_id != config.dir_id {
                assert_eq!(
                    defect,
                    Defect::ForeignDir {
                        found: 0x5555,
                        expected: config.dir_id
                    }
                );
                assert!(msg.contains("another data directory"), "{msg}");
            } else {
                assert_eq!(
                    defect,
                    Defect::WrongCore {
                        found: 9,
                        expected: 1
                    }
                );
            }
        }
    }
}

#[test]
fn records_continue_in_the_next_segment() {
    let config = small(16 << 10, 512);
    let mut log = log_of(config.clone(), 0);
    let mut want = Vec::new();
    for i in 0..120u8 {
        let p = payload(i, 100 + i as usize * 7 % 900);
        let g = log.durable(&[&p, b"second"]);
        want.push((g.group, p));
        want.push((g.group, b"second".to_vec()));
    }
    let r = log.recover().unwrap();
    assert!(r.end().segment >= 5, "{:?}", r.end());
    assert_eq!(contents(&r), want);
    assert!(r.records().windows(2).all(|w| w[0].at < w[1].at));
    assert!(r.torn().is_none() && r.dirty_ranges().is_empty());
}

/// The last group of segment 1 is damaged while segment 2 holds later groups: refused.
#[test]
fn damage_at_the_end_of_a_segment_with_later_groups_in_the_next_is_refused() {
    let mut log = log_of(small(16 << 10, 512), 0);
    let mut last_in_1 = None;
    for i in 0..60u8 {
        let g = log.durable(&[&payload(i, 400)]);
        if g.segment == 1 {
            last_in_1 = Some(g);
        }
    }
    let g = last_in_1.unwrap();
    // Drop its final sector, as a torn write would.
    let mut seg = log.store.durable(1).unwrap().to_vec();
    let cut = (g.end - 1) / 512 * 512;
    seg[cut as usize..g.end as usize].fill(0);
    log.store.put_segment(1, seg);
    let (segment, offset, reason, _) = corrupt(log.recover());
    assert_eq!((segment, offset), (1, g.start));
    assert!(
        matches!(reason, CorruptReason::Damaged { expected_group, .. } if expected_group == g.group)
    );
}

/// Garbage in the never-written end of a segment the log has moved past is harmless.
#[test]
fn garbage_after_the_last_record_of_a_full_segment_is_skipped() {
    let mut log = log_of(small(16 << 10, 512), 0);
    let mut end_of_1 = 0;
    for i in 0..60u8 {
        let g = log.durable(&[&payload(i, 1000)]);
        if g.segment == 1 {
            end_of_1 = g.end;
        }
    }
    assert!(
        end_of_1 < (16 << 10) - 64,
        "room for a header after the last record"
    );
    let before = log.recover().unwrap();
    assert!(log.store.flip_bit(1, end_of_1 + 9, 2));
    let after = log.recover().unwrap();
    assert_eq!(contents(&after), contents(&before));
}

/// A chained record at the start of the next segment that would have fit in the previous one
/// was not put there by the writer: it is not taken as the log's continuation.
#[test]
fn a_next_segment_record_that_would_have_fit_is_not_a_continuation() {
    let config = small(16 << 10, 512);
    let log = log_of(config.clone(), 3);
    let r = log.recover().unwrap();
    let mut store = log.store.clone();
    let mut rec = Vec::new();
    let meta = RecordMeta {
        kind: RecordKind::Batch,
        group_end: true,
        core: config.core,
        at: Position {
            segment: 2,
            offset: 0,
        },
        group: 4,
        prev: r.last_checksum(),
        index: 0,
        dir_id: config.dir_id,
    };
    encode_into(&mut rec, &meta, b"smuggled");
    store.write(2, 0, &rec).unwrap();
    store.sync(2).unwrap();
    let got = recover(&mut store, &config).unwrap();
    assert_eq!(groups(&got), vec![1, 2, 3]);
    // Dirty up to the end of the last non-zero 16-byte slot.
    let nonzero_end = rec.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    assert_eq!(
        got.dirty_ranges(),
        &[(2, 0, nonzero_end.next_multiple_of(16))]
    );
}

#[test]
fn layout_errors_name_the_file() {
    let config = small(16 << 10, 512);
    let mut log = log_of(config.clone(), 3);
    log.store.create_segment(4, config.segment_size).unwrap();
    log.store.remove_segment(2);
    let e = log.recover().unwrap_err();
    assert!(
        matches!(e, RecoveryError::MissingSegment { segment: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("sim:core-01/00000002.seg"), "{e}");
    let mut log = log_of(config.clone(), 3);
    log.store.put_segment(2, vec![0; 4096]);
    let e = log.recover().unwrap_err();
    assert!(
        matches!(
            e,
            RecoveryError::SegmentLength {
                segment: 2,
                len: 4096,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("4096 bytes long"), "{e}");
    assert!(recover(
        &mut SimStore::new(0, "x"),
        &WalConfig {
            dir_id: 0,
            ..config
        }
    )
    .is_err());
}

#[test]
fn clean_shutdown_is_reported_and_writing_resumes_after_it() {
    let mut log = log_of(small(16 << 10, 4096), 2);
    log.writer.append(RecordKind::CleanShutdown, b"").unwrap();
    let w = log.writer.take_write().unwrap();
    log.store.write(w.segment(), w.offset(), w.bytes()).unwrap();
    log.store.sync(w.segment()).unwrap();
    log.writer.complete(w);
    let r = log.recover().unwrap();
    assert!(r.clean_shutdown() && r.torn().is_none());
    let mut log = Log::on(log.config.clone(), log.store.clone());
    log.durable(&[b"after restart"]);
    let r = log.recover().unwrap();
    assert!(!r.clean_shutdown());
    assert_eq!(groups(&r), vec![1, 2, 3, 4]);
}

/// A crash in the middle of sealing leaves a log that recovers to the same state.
#[test]
fn seal_is_idempotent_across_a_crash() {
    let config = small(16 << 10, 512);
    let mut log = log_of(config.clone(), 4);
    let _in_flight = log.volatile(&[&payload(9, 3000)]);
    let mut store = log.store.clone();
    store.crash_with(|_, sector, _| {
        if sector % 2 == 1 {
            wal::SectorFate::Apply
        } else {
            wal::SectorFate::Drop
        }
    });
    let r = recover(&mut store, &config).unwrap();
    assert_eq!(groups(&r), vec![1, 2, 3, 4]);
    assert!(
        !r.dirty_ranges().is_empty(),
        "parts of group 5 are beyond the end"
    );
    store.fail_next_sync();
    assert!(seal(&mut store, &r).is_err());
    store.crash();
    let r2 = recover(&mut store, &config).unwrap();
    assert_eq!(contents(&r2), contents(&r));
    seal(&mut store, &r2).unwrap();
    let r3 = recover(&mut store, &config).unwrap();
    assert!(r3.dirty_ranges().is_empty() && r3.torn().is_none());
    let w = WalWriter::resume(config, &r3).unwrap();
    w.verify().unwrap();
    assert_eq!(w.open_group(), 5);
}

/// A group's first records survive a crash and nothing non-zero follows them; the seal must
/// still zero them. Otherwise, when the next group starts the next segment (its first record no
/// longer fits), those stale records, which chain correctly to the last whole group, would be
/// taken for the log's continuation and hide the new, acknowledged group.
#[test]
fn stale_records_of_a_dropped_group_are_sealed_even_with_zeros_after_them() {
    let config = small(16 << 10, 16);
    let mut log = log_of(config.clone(), 0);
    for i in 0..4 {
        log.durable(&[&payload(i, 3008)]); // 3072 bytes each
    }
    let g5 = log.durable(&[&payload(4, 100)]);
    assert_eq!(g5.end, 12464);
    // Group 6: two records ending exactly at sector 26 (13312), then one in dropped sectors.
    let _w = log.volatile(&[&payload(5, 112), &payload(6, 608), &payload(7, 900)]);
    let mut store = log.store.clone();
    store.crash_with(|_, sector, _| {
        if sector < 26 {
            wal::SectorFate::Apply
        } else {
            wal::SectorFate::Drop
        }
    });
    let r = recover(&mut store, &config).unwrap();
    assert_eq!(groups(&r), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        r.torn().map(|t| (t.at.offset, t.dropped_records)),
        Some((13312, 2))
    );
    assert_eq!(r.dirty_ranges(), &[(1, 12464, 13312)]);
    let mut log = Log::on(config.clone(), store);
    let big = log.durable(&[&payload(8, 3900)]);
    assert_eq!(
        (big.segment, big.start),
        (2, 0),
        "does not fit in the 3920 bytes left"
    );
    let r = log.recover().unwrap();
    assert_eq!(groups(&r), vec![1, 2, 3, 4, 5, 6]);
}

/// With the seal skipped on purpose, a new group's first record followed by stale records of
/// the old group with the same number lines up by group and index: the hash chain rejects them.
#[test]
fn the_hash_chain_rejects_stale_records_that_line_up() {
    let config = small(16 << 10, 512);
    let mut log = log_of(config.clone(), 0);
    log.durable(&[&payload(0, 448)]); // 512 bytes: group 2 starts at sector 1
    let _old = log.volatile(&[&payload(1, 448), &payload(2, 448), &payload(3, 448)]);
    log.store.crash_with(|_, sector, _| {
        if sector == 1 {
            wal::SectorFate::Drop
        } else {
            wal::SectorFate::Apply
        }
    });
    let r = log.recover().unwrap();
    assert_eq!(groups(&r), vec![1]);
    // Resume without sealing: the old group's second and third records stay on disk.
    let mut log = Log {
        writer: WalWriter::resume(config.clone(), &r).unwrap(),
        config: config.clone(),
        store: log.store,
    };
    log.prepare();
    let _new = log.volatile(&[&payload(4, 448), &payload(5, 448), &payload(6, 448)]);
    log.store.crash_with(|_, sector, _| {
        if sector == 1 {
            wal::SectorFate::Apply
        } else {
            wal::SectorFate::Drop
        }
    });
    let r = log.recover().unwrap();
    assert_eq!(
        groups(&r),
        vec![1],
        "never the new first record with the old group's rest"
    );
    assert!(
        matches!(r.torn().map(|t| t.defect), Some(Defect::BrokenChain { .. })),
        "{:?}",
        r.torn()
    );
}

/// Random segment contents, with valid-looking records sprinkled in at random places and with
/// random fields: recovery and seal return, never panic.
#[test]
fn recovery_never_panics_on_garbage() {
    let config = small(4096, 16);
    let mut rng = wal::SimRng::new(5);
    for _ in 0..2000 {
        let mut store = SimStore::new(rng.next_u64(), "g");
        for segment in 1..=rng.range(1, 3) {
            let mut seg = vec![0u8; 4096];
            if rng.chance(30) {
                rng.fill(&mut seg);
            }
            for _ in 0..rng.below(12) {
                let at = (rng.below(4096 / 16) * 16) as usize;
                let meta = RecordMeta {
                    kind: if rng.chance(90) {
                        RecordKind::Batch
                    } else {
                        RecordKind::CleanShutdown
                    },
                    group_end: rng.chance(50),
                    core: if rng.chance(90) { config.core } else { 3 },
                    at: Position {
                        segment: rng.range(0, 3),
                        offset: if rng.chance(50) {
                            at as u64
                        } else {
                            rng.below(5000)
                        },
                    },
                    group: rng.below(5),
                    prev: if rng.chance(50) {
                        0
                    } else {
                        rng.next_u64() as u32
                    },
                    index: rng.below(3) as u32,
                    dir_id: if rng.chance(90) { config.dir_id } else { 7 },
                };
                let mut rec = Vec::new();
                encode_into(&mut rec, &meta, &vec![1; rng.below(300) as usize]);
                let n = rec.len().min(4096 - at);
                seg[at..at + n].copy_from_slice(&rec[..n]);
            }
            store.put_segment(segment, seg);
        }
        if let Ok(r) = recover(&mut store, &config) {
            seal(&mut store, &r).unwrap();
            let again = recover(&mut store, &config).unwrap();
            assert_eq!(again.records(), r.records());
            assert!(again.dirty_ranges().is_empty());
        }
    }
}
