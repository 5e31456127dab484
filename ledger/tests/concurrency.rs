//! Isolation and concurrency on real threads: readers never see part of a chain or a chain
//! that failed; partitions execute in parallel; racing inserts of one id have one winner;
//! cross-partition chains are atomic.

use ledger::flags::{account as af, transfer as tf};
use ledger::{Account, CreateTransferStatus as T, Ledger, LedgerConfig, Transfer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

fn acct(id: u128, ledger: u32, flags: u16) -> Account {
    Account {
        id,
        ledger,
        code: 1,
        flags,
        ..Account::default()
    }
}

fn tr(id: u128, dr: u128, cr: u128, amount: u128, ledger: u32, flags: u16) -> Transfer {
    Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger,
        code: 1,
        flags,
        ..Transfer::default()
    }
}

/// Net position of an account (posted), as i128 for the checks (amounts are small here).
fn net(a: &Account) -> i128 {
    a.debits_posted as i128 - a.credits_posted as i128
}

#[test]
fn readers_never_see_partial_or_failed_chains() {
    let ledger = Arc::new(
        Ledger::new(LedgerConfig {
            partitions: 2,
            max_accounts: 64,
            max_transfers: 400_000,
            prefault: false,
        })
        .unwrap(),
    );
    // Accounts 1..=3 on ledger 1. Account 4 may not go negative: chains ending with a debit
    // from it fail, and their first members must never be seen.
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    let accounts = [
        acct(1, 1, 0),
        acct(2, 1, 0),
        acct(3, 1, 0),
        acct(4, 1, af::DEBITS_MUST_NOT_EXCEED_CREDITS),
    ];
    ledger
        .create_accounts(&mut held, &accounts, 1, &mut r)
        .unwrap();
    drop(held);

    let done = Arc::new(AtomicBool::new(false));
    let failed_ids = Arc::new(AtomicU64::new(0));
    let reads_total = Arc::new(AtomicU64::new(0));
    let writer = {
        let (ledger, done, failed_ids) = (ledger.clone(), done.clone(), failed_ids.clone());
        let reads_total = reads_total.clone();
        std::thread::spawn(move || {
            let p = ledger.route_transfers(&[tr(1, 1, 2, 1, 1, 0)]);
            let mut id = 1u128;
            let mut now = 1_000u64;
            let mut results = Vec::new();
            // At least 3,000 rounds, and on until the readers have read 1,000 times while
            // the writer was writing, however late they were scheduled (bounded by capacity).
            let mut round = 0u32;
            while round < 3000 || (reads_total.load(Ordering::Relaxed) < 1000 && round < 15_000) {
                round += 1;
                let mut batch = Vec::new();
                for k in 0..8u128 {
                    let x = 1 + (round as u128 * 7 + k) % 50;
                    // A cycle 1 -> 2 -> 3 -> 1 of the same amount: every account's net stays 0
                    // once the whole chain is visible.
                    batch.push(tr(id, 1, 2, x, 1, tf::LINKED));
                    batch.push(tr(id + 1, 2, 3, x, 1, tf::LINKED));
                    if k % 3 == 0 {
                        // This chain fails at its last member (account 4 has no credits).
                        batch.push(tr(id + 2, 4, 1, x, 1, 0));
                    } else {
                        batch.push(tr(id + 2, 3, 1, x, 1, 0));
                    }
                    id += 3;
                }
                now += 1_000;
                results.clear();
                let mut held = ledger.lock(&p);
                ledger
                    .create_transfers(&mut held, &batch, now, &mut results)
                    .unwrap();
                drop(held);
                let failures = results.iter().filter(|r| r.status != u32::MAX).count() as u64;
                failed_ids.fetch_add(failures, Ordering::Relaxed);
            }
            done.store(true, Ordering::Release);
            id
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (ledger, done) = (ledger.clone(), done.clone());
            let reads_total = reads_total.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut seen_moves = 0u64;
                while !done.load(Ordering::Acquire) {
                    let a = ledger.lookup_accounts(&[1, 2, 3, 4]);
                    assert_eq!(a.len(), 4);
                    for x in &a {
                        assert_eq!(net(x), 0, "a reader saw part of a chain: {x:?}");
                    }
                    assert_eq!(a[3].debits_posted, 0, "a failed chain's effect is visible");
                    seen_moves += u64::from(a[0].debits_posted > 0);
                    // A chain's transfers are visible all together or not at all.
                    let probe = 1 + 3 * (reads as u128 % 20_000);
                    let t = ledger.lookup_transfers(&[probe, probe + 1, probe + 2]);
                    assert!(
                        t.is_empty() || t.len() == 3,
                        "saw {} of a chain's 3 transfers",
                        t.len()
                    );
                    reads += 1;
                    reads_total.fetch_add(1, Ordering::Relaxed);
                }
                (reads, seen_moves)
            })
        })
        .collect();
    let last_id = writer.join().unwrap();
    for h in readers {
        let (_reads, moves) = h.join().unwrap();
        let _ = moves;
    }
    assert!(
        reads_total.load(Ordering::Relaxed) >= 1000,
        "the readers read while the writer wrote"
    );
    assert!(failed_ids.load(Ordering::Relaxed) > 0, "some chains failed");
    ledger.verify().unwrap();
    // Failed chains left nothing: exactly 2/3 of the chains (those not through account 4) exist.
    let all = ledger.all_transfers();
    assert_eq!(all.len() as u128 % 3, 0);
    assert!(last_id > all.len() as u128);
    assert!(ledger.lookup_accounts(&[4])[0].debits_posted == 0);
    assert_eq!(T::ExceedsCredits.name(), "exceeds_credits");
}

#[test]
fn partitions_run_in_parallel_and_ids_stay_unique() {
    // Two ledgers on two partitions (pick ledgers that hash apart).
    let ledger = Arc::new(
        Ledger::new(LedgerConfig {
            partitions: 2,
            max_accounts: 64,
            max_transfers: 100_000,
            prefault: false,
        })
        .unwrap(),
    );
    let l1 = 1u32;
    let l2 = (2..100)
        .find(|&l| ledger.partition_of(l) != ledger.partition_of(l1))
        .unwrap();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    ledger
        .create_accounts(
            &mut held,
            &[
                acct(1, l1, 0),
                acct(2, l1, 0),
                acct(3, l2, 0),
                acct(4, l2, 0),
            ],
            1,
            &mut r,
        )
        .unwrap();
    drop(held);
    // Both partitions try the same transfer ids at the same time: each id is created once.
    let writers: Vec<_> = [(l1, 1u128, 2u128), (l2, 3, 4)]
        .into_iter()
        .map(|(l, dr, cr)| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let p = ledger.partition_of(l);
                let mut created = 0;
                let mut results = Vec::new();
                for chunk in 0..200u128 {
                    let batch: Vec<Transfer> = (0..100)
                        .map(|k| tr(1 + chunk * 100 + k, dr, cr, 1, l, 0))
                        .collect();
                    results.clear();
                    let mut held = ledger.lock(&[p]);
                    ledger
                        .create_transfers(&mut held, &batch, 1_000 + chunk as u64, &mut results)
                        .unwrap();
                    drop(held);
                    created += results.iter().filter(|r| r.status == u32::MAX).count();
                    for r in &results {
                        let s = T::from_u32(r.status).unwrap();
                        assert!(
                            matches!(
                                s,
                                T::Created
                                    | T::ExistsWithDifferentDebitAccountId
                                    | T::ExistsWithDifferentCreditAccountId
                                    | T::ExistsWithDifferentLedger
                            ),
                            "{s:?}"
                        );
                    }
                }
                created
            })
        })
        .collect();
    let created: usize = writers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(created, 20_000, "every id created exactly once");
    assert_eq!(ledger.all_transfers().len(), 20_000);
    ledger.verify().unwrap();
}

#[test]
fn cross_partition_chains_are_atomic_and_routing_is_enforced() {
    let ledger = Ledger::new(LedgerConfig {
        partitions: 4,
        max_accounts: 64,
        max_transfers: 64,
        prefault: false,
    })
    .unwrap();
    let l1 = 1u32;
    let l2 = (2..100)
        .find(|&l| ledger.partition_of(l) != ledger.partition_of(l1))
        .unwrap();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    ledger
        .create_accounts(
            &mut held,
            &[
                acct(1, l1, 0),
                acct(2, l1, 0),
                acct(3, l2, 0),
                acct(4, l2, af::DEBITS_MUST_NOT_EXCEED_CREDITS),
            ],
            1,
            &mut r,
        )
        .unwrap();
    drop(held);
    let ok = [tr(10, 1, 2, 5, l1, tf::LINKED), tr(11, 3, 4, 5, l2, 0)];
    let bad = [tr(20, 1, 2, 5, l1, tf::LINKED), tr(21, 4, 3, 6, l2, 0)];
    // Holding only the first ledger's partition is not enough: refused, nothing applied.
    let mut held = ledger.lock(&[ledger.partition_of(l1)]);
    r.clear();
    let err = ledger
        .create_transfers(&mut held, &ok, 100, &mut r)
        .unwrap_err();
    assert_eq!(
        err,
        ledger::BatchError::NeedPartitions(vec![ledger.partition_of(l2)])
    );
    drop(held);
    assert!(ledger.lookup_transfers(&[10, 11]).is_empty());
    assert_eq!(ledger.lookup_account(1).unwrap().debits_posted, 0);
    // With both held, the chain commits atomically, and a failing one leaves nothing.
    let parts = ledger.route_transfers(&ok);
    assert_eq!(parts.len(), 2);
    let mut held = ledger.lock(&parts);
    r.clear();
    ledger
        .create_transfers(&mut held, &ok, 200, &mut r)
        .unwrap();
    assert!(r.iter().all(|x| x.status == u32::MAX), "{r:?}");
    r.clear();
    ledger
        .create_transfers(&mut held, &bad, 300, &mut r)
        .unwrap();
    assert_eq!(r[0].status, T::LinkedEventFailed as u32);
    assert_eq!(r[1].status, T::ExceedsCredits as u32);
    drop(held);
    assert_eq!(ledger.lookup_transfers(&[10, 11, 20, 21]).len(), 2);
    assert_eq!(ledger.lookup_account(1).unwrap().debits_posted, 5);
    assert_eq!(ledger.lookup_account(4).unwrap().credits_posted, 5);
    assert!(ledger.is_orphaned(21) && !ledger.is_orphaned(20));
    ledger.verify().unwrap();
}

#[test]
fn pending_transfers_expire_without_traffic() {
    let ledger = Ledger::new(LedgerConfig::default()).unwrap();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    ledger
        .create_accounts(&mut held, &[acct(1, 1, 0), acct(2, 1, 0)], 1_000, &mut r)
        .unwrap();
    let p = Transfer {
        timeout: 2,
        ..tr(5, 1, 2, 40, 1, tf::PENDING | tf::CLOSING_DEBIT)
    };
    r.clear();
    let info = ledger
        .create_transfers(&mut held, &[p], 10_000, &mut r)
        .unwrap();
    assert_eq!(r[0].status, u32::MAX);
    let due = info.base_timestamp + 2_000_000_000;
    assert_eq!(held.next_expiry(), Some(due));
    assert_eq!(ledger.expire_pending(&mut held, due - 1), 0, "not yet");
    assert_eq!(ledger.lookup_account(1).unwrap().debits_pending, 40);
    assert_ne!(ledger.lookup_account(1).unwrap().flags & af::CLOSED, 0);
    assert_eq!(ledger.expire_pending(&mut held, due), 1);
    let a = ledger.lookup_account(1).unwrap();
    assert_eq!(
        (a.debits_pending, a.flags & af::CLOSED),
        (0, 0),
        "released and reopened"
    );
    assert_eq!(held.next_expiry(), None);
    // Posting it now answers pending_transfer_expired.
    let post = Transfer {
        id: 6,
        pending_id: 5,
        flags: tf::POST_PENDING_TRANSFER,
        ..Transfer::default()
    };
    r.clear();
    ledger
        .create_transfers(&mut held, &[post], due + 1, &mut r)
        .unwrap();
    assert_eq!(r[0].status, T::PendingTransferExpired as u32);
    drop(held);
    ledger.verify().unwrap();
}

/// An attempt refused midway (a later event needs a partition the caller does not hold) leaves
/// nothing behind, whether the earlier events were in a chain or not, and the partition's reused
/// working memory stays consistent for the next batches.
#[test]
fn refused_attempts_leave_nothing_and_do_not_poison_the_next_batch() {
    let ledger = Ledger::new(LedgerConfig {
        partitions: 2,
        max_accounts: 64,
        max_transfers: 256,
        prefault: false,
    })
    .unwrap();
    let l1 = 1u32;
    let l2 = (2..100)
        .find(|&l| ledger.partition_of(l) != ledger.partition_of(l1))
        .unwrap();
    let mut all = ledger.lock_all();
    let mut r = Vec::new();
    let accounts = [1, 2, 5, 6, 7, 8].map(|id| acct(id, l1, 0));
    ledger
        .create_accounts(&mut all, &accounts, 1, &mut r)
        .unwrap();
    r.clear();
    ledger
        .create_accounts(&mut all, &[acct(3, l2, 0), acct(4, l2, 0)], 2, &mut r)
        .unwrap();
    drop(all);
    let mut next_id = 100u128;
    for round in 0..20u64 {
        let mut id = || {
            next_id += 1;
            next_id
        };
        // An unlinked change, a chain touching other accounts, another unlinked change, then an
        // event on the other ledger: the overlay holds logged and unlogged entries interleaved.
        let batch = [
            tr(id(), 1, 2, 3, l1, 0),
            tr(id(), 5, 6, 1, l1, tf::LINKED),
            tr(id(), 6, 5, 2, l1, 0),
            tr(id(), 7, 8, 1, l1, 0),
            tr(id(), 3, 4, 1, l2, 0),
        ];
        let before = ledger.lookup_accounts(&[1, 2, 5, 6, 7, 8]);
        let mut one = ledger.lock(&[ledger.partition_of(l1)]);
        r.clear();
        let err = ledger
            .create_transfers(&mut one, &batch, 1_000 + round * 10, &mut r)
            .unwrap_err();
        assert_eq!(
            err,
            ledger::BatchError::NeedPartitions(vec![ledger.partition_of(l2)])
        );
        drop(one);
        assert_eq!(
            ledger.lookup_accounts(&[1, 2, 5, 6, 7, 8]),
            before,
            "round {round}: nothing applied"
        );
        assert!(ledger.lookup_transfers(&batch.map(|t| t.id)).is_empty());
        // The same partition's next batch runs on the recycled buffers.
        let mut one = ledger.lock(&[ledger.partition_of(l1)]);
        r.clear();
        ledger
            .create_transfers(&mut one, &batch[..4], 1_000 + round * 10 + 5, &mut r)
            .unwrap();
        assert!(r.iter().all(|x| x.status == u32::MAX), "{r:?}");
        drop(one);
        let after = ledger.lookup_accounts(&[1, 2, 5, 6, 7, 8]);
        let moved: Vec<u128> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.debits_posted - b.debits_posted)
            .collect();
        assert_eq!(moved, vec![3, 0, 1, 2, 1, 0]);
        ledger.verify().unwrap();
    }
}
