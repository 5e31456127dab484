//! Table behaviour, single-threaded and under real concurrency (torn reads are detected by a
//! checksum every record carries).

use super::*;
use crate::types::Account;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn account(id: u128, v: u128) -> Account {
    // Every balance field equals `v`: a reader seeing mixed values saw a torn record.
    Account {
        id,
        debits_pending: v,
        debits_posted: v,
        credits_pending: v,
        credits_posted: v,
        user_data_128: v,
        user_data_64: v as u64,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn consistent(a: &Account) -> bool {
    let v = a.debits_pending;
    a.debits_posted == v
        && a.credits_pending == v
        && a.credits_posted == v
        && a.user_data_128 == v
        && a.user_data_64 == v as u64
}

#[test]
fn insert_probe_commit_tombstone() {
    let t = RecordTable::new(100, false).unwrap();
    let Probe::Absent(at) = t.probe(42, |p| p == 0) else {
        panic!("empty table")
    };
    t.insert(at, 42, &account(42, 1), LIVE, 0).unwrap();
    assert_eq!(
        t.probe(42, |p| p == 0),
        Probe::Live(at),
        "own uncommitted record is visible to its partition"
    );
    assert_eq!(
        t.probe(42, |p| p == 1),
        Probe::Foreign(at),
        "but not settled for another partition"
    );
    assert_eq!(
        t.find_committed(42),
        (None, Some(0)),
        "readers don't see it"
    );
    t.commit(at);
    assert_eq!(t.probe(42, |p| p == 1), Probe::Live(at));
    assert_eq!(t.find_committed(42), (Some(at), Some(0)));
    let (a, _) = t.read::<Account>(at);
    assert_eq!(a, account(42, 1));
    t.write(at, &account(42, 2));
    assert_eq!(t.read::<Account>(at).0, account(42, 2));

    let Probe::Absent(at2) = t.probe(43, |p| p == 0) else {
        panic!()
    };
    t.insert(at2, 43, &account(43, 0), LIVE, 0).unwrap();
    t.tombstone(at2);
    assert!(
        matches!(t.probe(43, |p| p == 0), Probe::Absent(s) if s != at2),
        "tombstones are never reused"
    );
    assert_eq!(t.find_committed(43), (None, None));
    assert_eq!(t.census(), (1, 0, 1));
}

#[test]
fn orphans_are_found_and_insert_races_are_reported() {
    let t = RecordTable::new(16, false).unwrap();
    let Probe::Absent(at) = t.probe(9, |p| p == 3) else {
        panic!()
    };
    t.insert(at, 9, &account(9, 0), ORPHAN, 3).unwrap();
    assert_eq!(t.probe(9, |p| p == 3), Probe::Orphan(at));
    t.commit(at);
    assert_eq!(t.probe(9, |p| p == 0), Probe::Orphan(at));
    assert_eq!(
        t.find_committed(9),
        (None, Some(3)),
        "orphans are not records"
    );
    assert_eq!(
        t.insert(at, 10, &account(10, 0), LIVE, 0),
        Err(InsertError::Raced)
    );
}

#[test]
fn colliding_ids_probe_past_each_other() {
    // A tiny table forces long probe chains through every state.
    let t = RecordTable::new(5, false).unwrap();
    let ids: Vec<u128> = (1..=6).collect();
    for &id in &ids {
        let Probe::Absent(at) = t.probe(id, |p| p == 0) else {
            panic!("{id}")
        };
        t.insert(at, id, &account(id, id), LIVE, 0).unwrap();
        if id % 2 == 0 {
            t.tombstone(at);
        } else {
            t.commit(at);
        }
    }
    for &id in &ids {
        let found = t.find_committed(id).0.is_some();
        assert_eq!(found, id % 2 == 1, "{id}");
    }
}

#[test]
fn concurrent_inserts_of_the_same_ids_have_one_winner_each() {
    let t = Arc::new(RecordTable::new(20_000, false).unwrap());
    let wins = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|p| {
            let (t, wins) = (t.clone(), wins.clone());
            std::thread::spawn(move || {
                for id in 1..=10_000u128 {
                    loop {
                        match t.probe(id, |q| q == p) {
                            Probe::Absent(at) => {
                                if t.insert(at, id, &account(id, id), LIVE, p).is_ok() {
                                    wins.fetch_add(1, Ordering::Relaxed);
                                    t.commit(at);
                                    break;
                                }
                            }
                            Probe::Foreign(at) => t.wait_settled(at),
                            _ => break,
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(wins.load(Ordering::Relaxed), 10_000);
    assert_eq!(t.census().0, 10_000, "no id was inserted twice");
}

/// Inserts `record` (an id not in `t`) for partition 0 and commits it; returns its slot.
fn insert_committed(t: &RecordTable, record: &Account) -> u32 {
    let Probe::Absent(at) = t.probe(record.id, |p| p == 0) else {
        panic!("{} is already in the table", record.id)
    };
    t.insert(at, record.id, record, LIVE, 0).unwrap();
    t.commit(at);
    at
}

/// An account whose balances all equal `v` and whose CLOSED flag is `v`'s lowest bit, its other
/// fields fixed: what executing transfers change, and nothing else.
fn balances(id: u128, v: u128) -> Account {
    Account {
        debits_pending: v,
        debits_posted: v,
        credits_pending: v,
        credits_posted: v,
        flags: if v & 1 == 1 {
            crate::flags::account::CLOSED
        } else {
            0
        },
        ..account(id, 0)
    }
}

fn consistent_balances(a: &Account) -> bool {
    let v = a.debits_pending;
    *a == balances(a.id, v)
}

/// Two reader threads read eight records while this thread rewrites them with
/// `write(table, slot, make(id, v))` for v = 1, 2, ...: every read must pass `ok`.
fn readers_never_see_torn_writes(
    make: fn(u128, u128) -> Account,
    write: fn(&RecordTable, u32, &Account),
    ok: fn(&Account) -> bool,
) {
    let t = Arc::new(RecordTable::new(64, false).unwrap());
    let slots: Vec<(u128, u32)> = (1..=8u128)
        .map(|id| (id, insert_committed(&t, &make(id, 0))))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (t, stop, reads, slots) = (t.clone(), stop.clone(), reads.clone(), slots.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for &(id, at) in &slots {
                        let (a, _) = t.read::<Account>(at);
                        assert!(ok(&a) && a.id == id, "torn read: {a:?}");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Keep writing until the readers have read a good many records while writes were going
    // on (however late the scheduler starts them), and at least 200,000 writes.
    let mut v = 0u128;
    while v < 200_000 || reads.load(Ordering::Relaxed) < 100_000 {
        v += 1;
        let (id, at) = slots[(v % 8) as usize];
        write(&t, at, &make(id, v));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) >= 100_000);
}

#[test]
fn readers_never_see_a_torn_record() {
    readers_never_see_torn_writes(account, |t, at, a| t.write(at, a), consistent);
}

#[test]
fn readers_never_see_a_torn_balance_update() {
    readers_never_see_torn_writes(
        balances,
        |t, at, a| t.write_account_state(at, &AccountState::of(a)),
        consistent_balances,
    );
}

#[test]
fn an_account_change_rewrites_balances_and_flags_only() {
    let t = RecordTable::new(8, false).unwrap();
    let at = insert_committed(&t, &balances(5, 0));
    let (_, before) = t.read::<Account>(at);
    t.write_account_state(at, &AccountState::of(&balances(5, 7)));
    let (after, header) = t.read::<Account>(at);
    assert_eq!(after, balances(5, 7));
    assert_ne!(header, before, "the sequence lock's version moved");
    t.write_account_state(at, &AccountState::of(&balances(5, 8)));
    assert_eq!(
        t.read::<Account>(at).0,
        balances(5, 8),
        "and CLOSED is cleared again"
    );
}

#[test]
fn account_state_moves_word_for_word_between_record_and_working_copy() {
    // Every field distinct, both halves of every balance too: a balance moved to the wrong
    // place, or a half swapped, shows.
    let distinct = |k: u128| (k << 64) | (k + 1);
    let record = Account {
        id: distinct(1),
        debits_pending: distinct(3),
        debits_posted: distinct(5),
        credits_pending: distinct(7),
        credits_posted: distinct(9),
        user_data_128: distinct(11),
        user_data_64: 13,
        user_data_32: 14,
        reserved: 0,
        ledger: 15,
        code: 16,
        flags: 17,
        timestamp: 18,
    };
    let t = RecordTable::new(8, false).unwrap();
    let at = insert_committed(&t, &record);
    assert_eq!(t.read_account_state(at), AccountState::of(&record));
    let state = AccountState {
        debits_pending: distinct(21),
        debits_posted: distinct(23),
        credits_pending: distinct(25),
        credits_posted: distinct(27),
        ledger: 15,
        code: 16,
        flags: 19,
    };
    t.write_account_state(at, &state);
    assert_eq!(t.read::<Account>(at).0, state.applied_to(record));
    assert_eq!(t.read_account_state(at), state);
}

/// Mean linear-probe length of `ids` inserted into `slots` slots by `hash_id`, and the
/// number of id pairs in one probe neighbourhood (same home slot) sharing a fingerprint.
fn spread(ids: &[u128], slots: usize) -> (f64, usize) {
    let mask = slots - 1;
    let mut taken = vec![false; slots];
    let mut probes = 0usize;
    let mut by_home: std::collections::HashMap<usize, Vec<u16>> = Default::default();
    for &id in ids {
        let h = hash_id(id);
        let mut s = h as usize & mask;
        by_home.entry(s).or_default().push(fingerprint_of(h));
        probes += 1;
        while taken[s] {
            s = (s + 1) & mask;
            probes += 1;
        }
        taken[s] = true;
    }
    let twins = by_home
        .values()
        .map(|fps| {
            let mut fps = fps.clone();
            fps.sort_unstable();
            fps.windows(2).filter(|w| w[0] == w[1]).count()
        })
        .sum();
    (probes as f64 / ids.len() as f64, twins)
}

#[test]
fn ids_of_every_usual_shape_spread_over_the_slots() {
    // 12,288 ids in 16,384 slots (the tables' 3/4 load): linear probing with a good hash
    // averages (1 + 1 / (1 - 0.75)) / 2 = 2.5 probes per id.
    let n = 12_288u128;
    let shapes: [(&str, Vec<u128>); 7] = [
        ("sequential", (1..=n).collect()),
        ("high half only", (1..=n).map(|i| i << 64).collect()),
        ("top bits only", (1..=n).map(|i| (i << 100) | 7).collect()),
        ("multiples of 2^20", (1..=n).map(|i| i << 20).collect()),
        ("multiples of 4096", (1..=n).map(|i| i * 4096).collect()),
        (
            "time-based (ms << 64 | counter)",
            (0..n)
                .map(|i| ((1_700_000_000_000 + i / 16) << 64) | (i % 16))
                .collect(),
        ),
        (
            "both halves equal",
            (1..=n).map(|i| (i << 64) | i).collect(),
        ),
    ];
    for (shape, ids) in shapes {
        let (mean, twins) = spread(&ids, 16_384);
        assert!(mean < 3.0, "{shape}: {mean:.2} probes per id on average");
        assert!(
            twins < 8,
            "{shape}: {twins} fingerprint twins in one neighbourhood"
        );
    }
}
