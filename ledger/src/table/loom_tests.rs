//! Model-checked (loom) proofs of the table's concurrency protocols on a tiny table.
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ledger --release --lib table::loom_tests`.

use super::*;
use crate::types::Account;
use loom::sync::Arc;

fn account(id: u128, v: u128) -> Account {
    Account {
        id,
        debits_pending: v,
        credits_posted: v,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

/// Explores every interleaving with up to 2 preemptions (the full space of 16-word records is
/// too large to enumerate; bounded preemption is loom's standard answer and catches the
/// reorderings a seqlock gets wrong).
fn bounded(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

#[test]
fn sequence_lock_reads_are_never_torn() {
    bounded(|| {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let Probe::Absent(at) = t.probe(1, |p| p == 0) else {
            panic!()
        };
        t.insert(at, 1, &account(1, 0), LIVE, 0).unwrap();
        t.commit(at);
        let t2 = t.clone();
        let writer = loom::thread::spawn(move || {
            t2.write(at, &account(1, 1));
        });
        let (a, _) = t.read::<Account>(at);
        assert_eq!(a.debits_pending, a.credits_posted, "torn read");
        writer.join().unwrap();
    });
}

#[test]
fn racing_inserts_of_one_id_have_one_winner() {
    loom::model(|| {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let handles: Vec<_> = (0..2)
            .map(|p| {
                let t = t.clone();
                loom::thread::spawn(move || loop {
                    match t.probe(7, |q| q == p) {
                        Probe::Absent(at) => {
                            if t.insert(at, 7, &account(7, p as u128), LIVE, p).is_ok() {
                                t.commit(at);
                                return true;
                            }
                        }
                        _ => return false,
                    }
                })
            })
            .collect();
        let wins: usize = handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(wins, 1);
    });
}

#[test]
fn uncommitted_records_are_invisible_until_commit() {
    loom::model(|| {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let t2 = t.clone();
        let writer = loom::thread::spawn(move || {
            let Probe::Absent(at) = t2.probe(5, |p| p == 0) else {
                panic!()
            };
            t2.insert(at, 5, &account(5, 9), LIVE, 0).unwrap();
            t2.commit(at);
        });
        if let (Some(slot), _) = t.find_committed(5) {
            let (a, _) = t.read::<Account>(slot);
            assert_eq!(a.debits_pending, 9, "a committed record is seen whole");
        }
        writer.join().unwrap();
    });
}
