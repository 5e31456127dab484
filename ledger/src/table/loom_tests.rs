//! Model-checked (loom) proofs of the tables' concurrency protocols on tiny tables.
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ledger --release --lib table::loom_tests`.
//!
//! Every model runs its two sides in spawned threads, the main thread only joining them: loom
//! 0.7 explores a single interleaving when a spawned thread loads an atomic before it writes
//! it while the main thread reads it (tokio-rs/loom#392), which would make a test prove
//! nothing. Each test also asserts that loom explored more than one interleaving.

use super::*;
use crate::types::Account;
use loom::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

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

/// Explores every interleaving with up to `preemptions` preemptions (the full space of
/// 16-word records is too large to enumerate; bounded preemption is loom's standard answer and
/// catches the reorderings a seqlock gets wrong), and checks that it explored more than one.
fn explore(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    // A std atomic: the counter is outside the model.
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        counted.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    let explored = runs.load(StdOrdering::Relaxed);
    assert!(
        explored > 1,
        "loom explored {explored} interleaving(s) only"
    );
}

/// Runs `a` and `b` on two spawned threads and joins them.
fn both<A, B>(
    a: impl FnOnce() -> A + Send + 'static,
    b: impl FnOnce() -> B + Send + 'static,
) -> (A, B)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let a = loom::thread::spawn(a);
    let b = loom::thread::spawn(b);
    (a.join().unwrap(), b.join().unwrap())
}

/// One model of the sequence lock: `write` rewrites a committed record to `account(1, 1)`
/// while a reader reads it, and the reader must see either version whole.
fn sequence_lock_model(write: fn(&RecordTable, u32, &Account)) {
    // One preemption is enough for a torn read (the writer runs whole in the middle of the
    // reader's words); memory-order effects are explored whatever the bound. Two take 20
    // minutes.
    explore(1, move || {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let Probe::Absent(at) = t.probe(1, |p| p == 0) else {
            panic!()
        };
        t.insert(at, 1, &account(1, 0), LIVE, 0).unwrap();
        t.commit(at);
        let (t1, t2) = (t.clone(), t.clone());
        both(
            move || write(&t1, at, &account(1, 1)),
            move || {
                let (a, _) = t2.read::<Account>(at);
                assert_eq!(a.debits_pending, a.credits_posted, "torn read");
            },
        );
    });
}

#[test]
fn sequence_lock_reads_are_never_torn() {
    sequence_lock_model(|t, at, a| t.write(at, a));
}

#[test]
fn sequence_lock_reads_of_account_changes_are_never_torn() {
    // The commit's write-back of balances and flags only (account(1, 1) differs from
    // account(1, 0) in balances alone).
    sequence_lock_model(|t, at, a| t.write_account_state(at, &AccountState::of(a)));
}

#[test]
fn racing_inserts_of_one_id_have_one_winner() {
    explore(3, || {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let racer = |p: usize, t: Arc<RecordTable>| {
            move || loop {
                match t.probe(7, |q| q == p) {
                    Probe::Absent(at) => {
                        if t.insert(at, 7, &account(7, p as u128), LIVE, p).is_ok() {
                            t.commit(at);
                            return true;
                        }
                    }
                    _ => return false,
                }
            }
        };
        let (a, b) = both(racer(0, t.clone()), racer(1, t.clone()));
        assert!(a != b, "exactly one winner");
    });
}

#[test]
fn uncommitted_records_are_invisible_until_commit() {
    explore(3, || {
        let t = Arc::new(RecordTable::new(2, false).unwrap());
        let (t1, t2) = (t.clone(), t.clone());
        both(
            move || {
                let Probe::Absent(at) = t1.probe(5, |p| p == 0) else {
                    panic!()
                };
                t1.insert(at, 5, &account(5, 9), LIVE, 0).unwrap();
                t1.commit(at);
            },
            move || {
                if let (Some(slot), _) = t2.find_committed(5) {
                    let (a, _) = t2.read::<Account>(slot);
                    assert_eq!(a.debits_pending, 9, "a committed record is seen whole");
                }
            },
        );
    });
}

mod transfers {
    //! The transfers table's protocols: one winner per id, a commit that publishes a whole
    //! partition at once, and a rolled-back slot reused without a reader ever seeing the
    //! rolled-back transfer or a torn record.
    use super::{both, explore};
    use crate::table::log::PartitionLog;
    use crate::table::transfers::{TProbe, TransferTable};
    use crate::types::Transfer;
    use loom::sync::Arc;

    fn transfer(id: u128, v: u128) -> Transfer {
        Transfer {
            id,
            amount: v,
            user_data_128: v,
            ledger: 1,
            code: 1,
            ..Transfer::default()
        }
    }

    fn append(t: &TransferTable, part: &mut PartitionLog, r: &Transfer) -> u32 {
        let slot = part.next_slot(&t.log).unwrap();
        t.log.write(slot, r);
        slot
    }

    /// Claims the entry at `pos` for `id` (reported absent) in partition `p`, writing `record`
    /// into the next log slot before the claim or, `late` (the fast path's order), after it,
    /// and commits; false when another partition claimed the entry meanwhile.
    fn claim_and_commit(
        t: &TransferTable,
        part: &mut PartitionLog,
        pos: u32,
        record: &Transfer,
        p: usize,
        late: bool,
    ) -> bool {
        let slot = part.next_slot(&t.log).unwrap();
        if !late {
            t.log.write(slot, record);
        }
        let hash = crate::table::hash_id(record.id);
        if t.insert_hashed(pos, record.id, hash, slot, p).is_err() {
            return false;
        }
        if late {
            t.log.write(slot, record);
        }
        part.push();
        t.publish(p, part.len());
        true
    }

    /// Two partitions insert id 7 at once (`late(p)`: partition `p` writes its record after
    /// its claim); exactly one wins.
    fn one_winner(late: fn(usize) -> bool) {
        explore(3, move || {
            let t = Arc::new(TransferTable::new(2, 2, false).unwrap());
            let racer = |p: usize, t: Arc<TransferTable>| {
                move || {
                    let mut part = PartitionLog::new(p);
                    loop {
                        match t.probe(7, |q| q == p) {
                            TProbe::Absent { pos } => {
                                let record = transfer(7, p as u128);
                                if claim_and_commit(&t, &mut part, pos, &record, p, late(p)) {
                                    return true;
                                }
                            }
                            _ => return false,
                        }
                    }
                }
            };
            let (a, b) = both(racer(0, t.clone()), racer(1, t.clone()));
            assert!(a != b, "exactly one winner");
        });
    }

    #[test]
    fn racing_inserts_of_one_id_have_one_winner() {
        one_winner(|_| false);
    }

    #[test]
    fn one_id_has_one_winner_when_a_record_is_written_after_its_claim() {
        // Partition 0 claims its entry first and writes the record after (the fast path's
        // order); partition 1 writes first. Partition 1 must never compare the id through
        // partition 0's entry before its record is there.
        one_winner(|p| p == 0);
    }

    /// A writer inserts and commits transfer 5 (its record written after its claim when
    /// `late`) while a reader looks it up: the reader sees it whole or not at all.
    fn reader_sees_whole(late: bool) {
        explore(3, move || {
            let t = Arc::new(TransferTable::new(2, 1, false).unwrap());
            let (t1, t2) = (t.clone(), t.clone());
            both(
                move || {
                    let mut part = PartitionLog::new(0);
                    let TProbe::Absent { pos } = t1.probe(5, |p| p == 0) else {
                        panic!()
                    };
                    assert!(claim_and_commit(
                        &t1,
                        &mut part,
                        pos,
                        &transfer(5, 9),
                        0,
                        late
                    ));
                },
                move || {
                    if let (Some(slot), _) = t2.find_committed(5) {
                        let r = t2.read(slot);
                        assert_eq!((r.amount, r.user_data_128), (9, 9), "seen whole");
                    }
                },
            );
        });
    }

    #[test]
    fn a_reader_sees_a_record_written_after_its_claim_whole_or_not_at_all() {
        reader_sees_whole(true);
    }

    #[test]
    fn a_reader_sees_a_committed_transfer_whole_or_not_at_all() {
        reader_sees_whole(false);
    }

    #[test]
    fn a_rolled_back_transfer_is_never_seen_though_its_slot_is_reused() {
        // Three preemptions: the reader must read the rolled-back id, the writer reuse its
        // slot and commit, and the reader then read the committed length.
        explore(3, || {
            let t = Arc::new(TransferTable::new(4, 1, false).unwrap());
            let (t1, t2) = (t.clone(), t.clone());
            both(
                move || {
                    let mut part = PartitionLog::new(0);
                    // Transfer 5 is written, indexed, rolled back; transfer 6 reuses its slot
                    // and commits.
                    let TProbe::Absent { pos } = t1.probe(5, |p| p == 0) else {
                        panic!()
                    };
                    let slot = append(&t1, &mut part, &transfer(5, 1));
                    t1.insert(pos, 5, slot, 0).unwrap();
                    t1.tombstone(pos);
                    let TProbe::Absent { pos } = t1.probe(6, |p| p == 0) else {
                        panic!()
                    };
                    let reused = append(&t1, &mut part, &transfer(6, 2));
                    assert_eq!(reused, slot);
                    t1.insert(pos, 6, reused, 0).unwrap();
                    part.push();
                    t1.publish(0, part.len());
                },
                move || {
                    assert_eq!(t2.find_committed(5).0, None, "5 was never committed");
                },
            );
        });
    }
}
