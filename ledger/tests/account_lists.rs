//! The accounts' transfer lists across their block boundaries: a list keeps its newest entries
//! beside the account and moves every seven to a block of the list arena, so appends undone by
//! a chain's rollback must put the tail and the block chain back exactly, whichever side of a
//! boundary they fall on, and a list read after many batches must find its blocks in order.

use ledger::flags::{account_filter as ff, transfer as tf};
use ledger::{Account, AccountFilter, CreateResult, Ledger, LedgerConfig, Transfer, BATCH_MAX};

const NOW: u64 = 1_000_000_000_000;

fn ledger() -> Ledger {
    let ledger = Ledger::new(LedgerConfig {
        partitions: 1,
        max_accounts: 16,
        max_transfers: 4096,
        prefault: false,
    })
    .expect("ledger");
    let accounts: Vec<Account> = (1..=3)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut results = Vec::new();
    {
        let mut held = ledger.lock(&[0]);
        ledger
            .create_accounts(&mut held, &accounts, NOW, &mut results)
            .expect("accounts");
    }
    assert!(results.iter().all(|r| r.status == u32::MAX));
    ledger
}

fn transfer(id: u128, debit: u128, credit: u128, flags: u16) -> Transfer {
    Transfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount: 1,
        ledger: 1,
        code: 1,
        flags,
        ..Transfer::default()
    }
}

/// The ids of account `id`'s transfers (both sides), oldest first, and newest first.
fn listed(ledger: &Ledger, id: u128) -> (Vec<u128>, Vec<u128>) {
    let mut filter = AccountFilter {
        account_id: id,
        limit: BATCH_MAX as u32,
        flags: ff::DEBITS | ff::CREDITS,
        ..AccountFilter::default()
    };
    let ids = |f: &AccountFilter| -> Vec<u128> {
        ledger
            .get_account_transfers(f)
            .iter()
            .map(|t| t.id)
            .collect()
    };
    let forward = ids(&filter);
    filter.flags |= ff::REVERSED;
    (forward, ids(&filter))
}

#[test]
fn rolled_back_chains_leave_each_list_as_it_was_on_both_sides_of_every_block_boundary() {
    let ledger = ledger();
    let mut next_id = 1u128;
    // What account 1's list must hold: the ids of its committed transfers.
    let mut want: Vec<u128> = Vec::new();
    let mut results = Vec::new();
    // Lengths that start and end a chain on every position within a block of 7, and chains
    // long enough to cross several boundaries.
    for (committed, rolled_back) in [(1, 6), (5, 2), (6, 1), (7, 7), (3, 15), (13, 8), (2, 22)] {
        // `committed` plain transfers, then a chain of `rolled_back` that fails at its end
        // (the last names an account that does not exist).
        let mut batch: Vec<Transfer> = Vec::new();
        for _ in 0..committed {
            batch.push(transfer(next_id, 1, 2, 0));
            want.push(next_id);
            next_id += 1;
        }
        for k in 0..rolled_back {
            let last = k == rolled_back - 1;
            let credit = if last { 99 } else { 3 };
            let flags = if last { 0 } else { tf::LINKED };
            batch.push(transfer(next_id, 1, credit, flags));
            next_id += 1;
        }
        results.clear();
        let mut held = ledger.lock(&[0]);
        ledger
            .create_transfers(&mut held, &batch, NOW, &mut results)
            .expect("batch");
        drop(held);
        let created = results.iter().filter(|r| r.status == u32::MAX).count();
        assert_eq!(created, committed, "only the plain transfers are created");
        ledger.verify().expect("lists agree with the log");
        let (forward, backward) = listed(&ledger, 1);
        assert_eq!(forward, want, "account 1 after {committed} + {rolled_back}");
        assert_eq!(
            backward,
            want.iter().rev().copied().collect::<Vec<_>>(),
            "newest first"
        );
        let (credited, _) = listed(&ledger, 3);
        assert!(
            credited.is_empty(),
            "account 3 saw only rolled-back transfers"
        );
    }
    // The lists grow on after the rollbacks, over the blocks those chains had filled.
    results.clear();
    let batch: Vec<Transfer> = (0..40).map(|k| transfer(next_id + k, 2, 1, 0)).collect();
    want.extend(next_id..next_id + 40);
    let mut held = ledger.lock(&[0]);
    ledger
        .create_transfers(&mut held, &batch, NOW, &mut results)
        .expect("batch");
    drop(held);
    assert!(results.iter().all(|r| r.status == u32::MAX));
    ledger.verify().expect("lists agree with the log");
    assert_eq!(listed(&ledger, 1).0, want);
    assert_eq!(listed(&ledger, 2).0, want, "account 2 is on every transfer");
}

#[test]
fn a_list_read_between_batches_and_after_many_finds_every_block_in_order() {
    let ledger = ledger();
    let mut results = Vec::new();
    let mut want = Vec::new();
    let mut next_id = 1u128;
    // Batches of sizes that leave the tail at every fill, reading the list after some only,
    // so the read catches up with one block, several, or none.
    for (n, size) in [1usize, 6, 7, 8, 13, 14, 29, 3, 50, 7]
        .into_iter()
        .enumerate()
    {
        let batch: Vec<Transfer> = (0..size as u128)
            .map(|k| transfer(next_id + k, 1, 2, 0))
            .collect();
        want.extend(next_id..next_id + size as u128);
        next_id += size as u128;
        results.clear();
        let mut held = ledger.lock(&[0]);
        ledger
            .create_transfers(&mut held, &batch, NOW + n as u64 * 1_000, &mut results)
            .expect("batch");
        drop(held);
        if n % 3 != 1 {
            assert_eq!(listed(&ledger, 1).0, want, "after batch {n}");
        }
    }
    // A window in the middle, by timestamp, both ways.
    let all = ledger.get_account_transfers(&AccountFilter {
        account_id: 2,
        limit: BATCH_MAX as u32,
        flags: ff::CREDITS,
        ..AccountFilter::default()
    });
    assert_eq!(all.len(), want.len());
    let (lo, hi) = (all[9].timestamp, all[100].timestamp);
    for reversed in [false, true] {
        let window = ledger.get_account_transfers(&AccountFilter {
            account_id: 2,
            timestamp_min: lo,
            timestamp_max: hi,
            limit: BATCH_MAX as u32,
            flags: ff::CREDITS | if reversed { ff::REVERSED } else { 0 },
            ..AccountFilter::default()
        });
        let mut expect: Vec<u128> = want[9..=100].to_vec();
        if reversed {
            expect.reverse();
        }
        assert_eq!(window.iter().map(|t| t.id).collect::<Vec<_>>(), expect);
    }
    ledger.verify().expect("lists agree with the log");
}

#[test]
fn chains_rolled_back_over_and_over_at_a_block_boundary_do_not_use_up_the_list_arena() {
    // A small ledger: its list arena has room for every list of a full ledger, and a rolled
    // back append that filled a block must not cost a block each time.
    let ledger = Ledger::new(LedgerConfig {
        partitions: 1,
        max_accounts: 4,
        max_transfers: 64,
        prefault: false,
    })
    .expect("ledger");
    let accounts: Vec<Account> = (1..=2)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut results = Vec::new();
    let run = |batch: &[Transfer], results: &mut Vec<CreateResult>| {
        results.clear();
        let mut held = ledger.lock(&[0]);
        ledger.create_transfers(&mut held, batch, NOW, results)
    };
    {
        let mut held = ledger.lock(&[0]);
        ledger
            .create_accounts(&mut held, &accounts, NOW, &mut results)
            .expect("accounts");
    }
    // Six transfers: the seventh append to account 1's list fills its first block.
    let six: Vec<Transfer> = (1..=6).map(|id| transfer(id, 1, 2, 0)).collect();
    run(&six, &mut results).expect("batch");
    let mut next_id = 7u128;
    let mut batches = 0;
    // Then chains whose first transfer is that seventh append and whose second fails, until
    // the transfer table is full (each chain claims two slots: a rolled-back transfer, a
    // burned id).
    loop {
        let chain = [
            transfer(next_id, 1, 2, tf::LINKED),
            transfer(next_id + 1, 1, 99, 0),
        ];
        next_id += 2;
        match run(&chain, &mut results) {
            Ok(_) => batches += 1,
            Err(ledger::BatchError::TransfersFull { .. }) => break,
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(
            results.iter().all(|r| r.status != u32::MAX),
            "the chain fails"
        );
    }
    assert!(batches >= 25, "{batches} chains rolled back");
    ledger.verify().expect("lists agree with the log");
    assert_eq!(listed(&ledger, 1).0, (1..=6).collect::<Vec<u128>>());
}
