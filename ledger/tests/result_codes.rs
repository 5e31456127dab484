//! Every result code of docs/LEDGER.md produced by a scenario, and precedence rules where two
//! failures compete (the earlier check in docs/LEDGER.md's order must win). Each scenario runs on the
//! real ledger (3 partitions) and on the reference model; both must give the expected status.

use ledger::flags::{account as af, transfer as tf};
use ledger::reference::Model;
use ledger::{
    Account, CreateAccountStatus as A, CreateResult, CreateTransferStatus as T, Ledger,
    LedgerConfig, Transfer,
};

const NOW: u64 = 1_000_000_000_000;

fn acct(id: u128, ledger: u32, flags: u16) -> Account {
    Account {
        id,
        ledger,
        code: 1,
        flags,
        ..Account::default()
    }
}

fn tr(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

/// The standard accounts: 1, 2 plain (ledger 1); 3 on ledger 2; 4 debits_must_not_exceed_credits;
/// 5 credits_must_not_exceed_debits; 6 history; 7 closed; 8 on ledger 2.
fn fixture() -> Vec<Account> {
    vec![
        acct(1, 1, 0),
        acct(2, 1, 0),
        acct(3, 2, 0),
        acct(4, 1, af::DEBITS_MUST_NOT_EXCEED_CREDITS),
        acct(5, 1, af::CREDITS_MUST_NOT_EXCEED_DEBITS),
        acct(6, 1, af::HISTORY),
        acct(7, 1, af::CLOSED),
        acct(8, 2, 0),
    ]
}

/// Runs `setup` transfer batches then `batch` on both a fresh ledger and a fresh model; returns
/// the results of `batch` (asserting ledger and model agree).
fn run_transfers(setup: &[Vec<Transfer>], batch: &[Transfer], now: u64) -> Vec<CreateResult> {
    run_transfers_after(setup, batch, now, 1_000)
}

/// As [`run_transfers`], with `delay` ns between the last setup batch and `batch`.
fn run_transfers_after(
    setup: &[Vec<Transfer>],
    batch: &[Transfer],
    now: u64,
    delay: u64,
) -> Vec<CreateResult> {
    let mut all = run_batches(setup, batch, now, delay);
    all.pop().expect("the batch's results")
}

/// As [`run_transfers_after`], returning the results of every batch, setup batches first.
fn run_batches(
    setup: &[Vec<Transfer>],
    batch: &[Transfer],
    now: u64,
    delay: u64,
) -> Vec<Vec<CreateResult>> {
    let mut all = Vec::new();
    let ledger = Ledger::new(LedgerConfig {
        partitions: 3,
        max_accounts: 64,
        max_transfers: 256,
        prefault: false,
    })
    .expect("ledger");
    let mut model = Model::new();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    // One account per batch, 10 ns apart: account i+1 has timestamp now + 10 i.
    for (i, a) in fixture().into_iter().enumerate() {
        let at = now + 10 * i as u64;
        r.clear();
        ledger
            .create_accounts(&mut held, &[a], at, &mut r)
            .expect("accounts");
        assert_eq!(r[0].status, u32::MAX, "fixture account created");
        model.create_accounts(&[a], at);
    }
    let mut t = now + 100;
    for b in setup {
        t += 1_000;
        r.clear();
        ledger
            .create_transfers(&mut held, b, t, &mut r)
            .expect("setup");
        let expected = model.create_transfers(b, t);
        assert_eq!(r, expected, "setup batch agrees with the model");
        all.push(r.clone());
    }
    t += delay;
    r.clear();
    ledger
        .create_transfers(&mut held, batch, t, &mut r)
        .expect("batch");
    let expected = model.create_transfers(batch, t);
    assert_eq!(r, expected, "ledger and model agree on {batch:?}");
    drop(held);
    ledger.verify().expect("invariants");
    all.push(r);
    all
}

fn status_t(r: &CreateResult) -> T {
    T::from_u32(r.status).expect("known status")
}

fn one(setup: &[Vec<Transfer>], t: Transfer) -> T {
    status_t(&run_transfers(setup, &[t], NOW)[0])
}

fn run_accounts(setup: &[Account], batch: &[Account]) -> Vec<A> {
    let ledger = Ledger::new(LedgerConfig {
        partitions: 2,
        max_accounts: 64,
        max_transfers: 64,
        prefault: false,
    })
    .expect("ledger");
    let mut model = Model::new();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    ledger
        .create_accounts(&mut held, setup, NOW, &mut r)
        .expect("setup");
    assert_eq!(r, model.create_accounts(setup, NOW));
    r.clear();
    ledger
        .create_accounts(&mut held, batch, NOW + 10, &mut r)
        .expect("batch");
    assert_eq!(
        r,
        model.create_accounts(batch, NOW + 10),
        "ledger and model agree"
    );
    r.iter()
        .map(|x| A::from_u32(x.status).expect("known"))
        .collect()
}

fn a1(setup: &[Account], a: Account) -> A {
    run_accounts(setup, &[a])[0]
}

#[test]
fn create_account_codes() {
    let base = acct(10, 1, 0);
    assert_eq!(a1(&[], base), A::Created);
    assert_eq!(
        run_accounts(
            &[],
            &[Account {
                flags: af::LINKED,
                ..base
            }]
        )[0],
        A::LinkedEventChainOpen
    );
    assert_eq!(
        run_accounts(
            &[],
            &[
                Account {
                    flags: af::LINKED,
                    ..base
                },
                Account { id: 0, ..base }
            ]
        ),
        vec![A::LinkedEventFailed, A::IdMustNotBeZero]
    );
    let imported = Account {
        flags: af::IMPORTED,
        timestamp: NOW - 5,
        ..base
    };
    assert_eq!(
        run_accounts(&[], &[imported, acct(11, 1, 0)])[1],
        A::ImportedEventExpected
    );
    assert_eq!(
        run_accounts(&[], &[base, Account { id: 11, ..imported }])[1],
        A::ImportedEventNotExpected
    );
    assert_eq!(
        a1(
            &[],
            Account {
                timestamp: 5,
                ..base
            }
        ),
        A::TimestampMustBeZero
    );
    assert_eq!(
        a1(
            &[],
            Account {
                timestamp: 0,
                ..imported
            }
        ),
        A::ImportedEventTimestampOutOfRange
    );
    assert_eq!(
        a1(
            &[],
            Account {
                timestamp: 1 << 63,
                ..imported
            }
        ),
        A::ImportedEventTimestampOutOfRange
    );
    assert_eq!(
        a1(
            &[],
            Account {
                timestamp: NOW + 10,
                ..imported
            }
        ),
        A::ImportedEventTimestampMustNotAdvance
    );
    assert_eq!(
        a1(
            &[],
            Account {
                reserved: 1,
                ..base
            }
        ),
        A::ReservedField
    );
    assert_eq!(
        a1(
            &[],
            Account {
                flags: 1 << 6,
                ..base
            }
        ),
        A::ReservedFlag
    );
    assert_eq!(a1(&[], Account { id: 0, ..base }), A::IdMustNotBeZero);
    assert_eq!(
        a1(
            &[],
            Account {
                id: u128::MAX,
                ..base
            }
        ),
        A::IdMustNotBeIntMax
    );
    assert_eq!(
        a1(
            &[base],
            Account {
                flags: af::HISTORY,
                ..base
            }
        ),
        A::ExistsWithDifferentFlags
    );
    assert_eq!(
        a1(
            &[base],
            Account {
                user_data_128: 1,
                ..base
            }
        ),
        A::ExistsWithDifferentUserData128
    );
    assert_eq!(
        a1(
            &[base],
            Account {
                user_data_64: 1,
                ..base
            }
        ),
        A::ExistsWithDifferentUserData64
    );
    assert_eq!(
        a1(
            &[base],
            Account {
                user_data_32: 1,
                ..base
            }
        ),
        A::ExistsWithDifferentUserData32
    );
    assert_eq!(
        a1(&[base], Account { ledger: 2, ..base }),
        A::ExistsWithDifferentLedger
    );
    assert_eq!(
        a1(&[base], Account { code: 2, ..base }),
        A::ExistsWithDifferentCode
    );
    assert_eq!(a1(&[base], base), A::Exists);
    let both = af::DEBITS_MUST_NOT_EXCEED_CREDITS | af::CREDITS_MUST_NOT_EXCEED_DEBITS;
    assert_eq!(
        a1(
            &[],
            Account {
                flags: both,
                ..base
            }
        ),
        A::FlagsAreMutuallyExclusive
    );
    assert_eq!(
        a1(
            &[],
            Account {
                debits_pending: 1,
                ..base
            }
        ),
        A::DebitsPendingMustBeZero
    );
    assert_eq!(
        a1(
            &[],
            Account {
                debits_posted: 1,
                ..base
            }
        ),
        A::DebitsPostedMustBeZero
    );
    assert_eq!(
        a1(
            &[],
            Account {
                credits_pending: 1,
                ..base
            }
        ),
        A::CreditsPendingMustBeZero
    );
    assert_eq!(
        a1(
            &[],
            Account {
                credits_posted: 1,
                ..base
            }
        ),
        A::CreditsPostedMustBeZero
    );
    assert_eq!(
        a1(&[], Account { ledger: 0, ..base }),
        A::LedgerMustNotBeZero
    );
    assert_eq!(a1(&[], Account { code: 0, ..base }), A::CodeMustNotBeZero);
    let first = Account {
        id: 20,
        flags: af::IMPORTED,
        timestamp: NOW - 100,
        ..base
    };
    assert_eq!(
        run_accounts(
            &[],
            &[
                first,
                Account {
                    id: 21,
                    timestamp: NOW - 100,
                    ..first
                }
            ]
        ),
        vec![A::Created, A::ImportedEventTimestampMustNotRegress]
    );
    assert_eq!(
        a1(
            &[],
            Account {
                flags: af::CLOSED,
                ..base
            }
        ),
        A::Created,
        "closed may be set at creation"
    );
}

#[test]
fn create_account_precedence() {
    let base = acct(10, 1, 0);
    // Chain open beats everything (the last event of a batch carries `linked`).
    assert_eq!(
        a1(
            &[],
            Account {
                flags: af::LINKED,
                id: 0,
                ..base
            }
        ),
        A::LinkedEventChainOpen
    );
    // imported_event_expected beats timestamp checks.
    let imported = Account {
        flags: af::IMPORTED,
        timestamp: NOW - 5,
        ..base
    };
    assert_eq!(
        run_accounts(
            &[],
            &[
                imported,
                Account {
                    id: 11,
                    timestamp: 3,
                    ..base
                }
            ]
        )[1],
        A::ImportedEventExpected
    );
    // timestamp_must_be_zero beats reserved_field.
    assert_eq!(
        a1(
            &[],
            Account {
                timestamp: 1,
                reserved: 1,
                ..base
            }
        ),
        A::TimestampMustBeZero
    );
    // reserved_field beats reserved_flag beats id checks.
    assert_eq!(
        a1(
            &[],
            Account {
                reserved: 1,
                flags: 1 << 7,
                ..base
            }
        ),
        A::ReservedField
    );
    assert_eq!(
        a1(
            &[],
            Account {
                flags: 1 << 7,
                id: 0,
                ..base
            }
        ),
        A::ReservedFlag
    );
    // Exists checks come before the field validity checks.
    assert_eq!(
        a1(
            &[base],
            Account {
                debits_posted: 5,
                ..base
            }
        ),
        A::Exists
    );
    assert_eq!(
        a1(
            &[base],
            Account {
                user_data_32: 1,
                code: 2,
                ..base
            }
        ),
        A::ExistsWithDifferentUserData32
    );
    // flags_are_mutually_exclusive beats non-zero balances beats ledger beats code.
    let both = af::DEBITS_MUST_NOT_EXCEED_CREDITS | af::CREDITS_MUST_NOT_EXCEED_DEBITS;
    assert_eq!(
        a1(
            &[],
            Account {
                flags: both,
                debits_pending: 1,
                ..base
            }
        ),
        A::FlagsAreMutuallyExclusive
    );
    assert_eq!(
        a1(
            &[],
            Account {
                credits_posted: 1,
                ledger: 0,
                ..base
            }
        ),
        A::CreditsPostedMustBeZero
    );
    assert_eq!(
        a1(
            &[],
            Account {
                ledger: 0,
                code: 0,
                ..base
            }
        ),
        A::LedgerMustNotBeZero
    );
}

#[test]
fn create_transfer_field_codes() {
    let t = tr(100, 1, 2, 10);
    assert_eq!(one(&[], t), T::Created);
    assert_eq!(
        one(
            &[],
            Transfer {
                flags: 1 << 10,
                ..t
            }
        ),
        T::ReservedFlag
    );
    assert_eq!(one(&[], Transfer { id: 0, ..t }), T::IdMustNotBeZero);
    assert_eq!(
        one(&[], Transfer { id: u128::MAX, ..t }),
        T::IdMustNotBeIntMax
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 0,
                ..t
            }
        ),
        T::DebitAccountIdMustNotBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: u128::MAX,
                ..t
            }
        ),
        T::DebitAccountIdMustNotBeIntMax
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 0,
                ..t
            }
        ),
        T::CreditAccountIdMustNotBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: u128::MAX,
                ..t
            }
        ),
        T::CreditAccountIdMustNotBeIntMax
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 1,
                ..t
            }
        ),
        T::AccountsMustBeDifferent
    );
    assert_eq!(
        one(&[], Transfer { pending_id: 5, ..t }),
        T::PendingIdMustBeZero
    );
    assert_eq!(
        one(&[], Transfer { timeout: 1, ..t }),
        T::TimeoutReservedForPendingTransfer
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                flags: tf::CLOSING_DEBIT,
                ..t
            }
        ),
        T::ClosingTransferMustBePending
    );
    assert_eq!(
        one(&[], Transfer { ledger: 0, ..t }),
        T::LedgerMustNotBeZero
    );
    assert_eq!(one(&[], Transfer { code: 0, ..t }), T::CodeMustNotBeZero);
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 99,
                ..t
            }
        ),
        T::DebitAccountNotFound
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 99,
                ..t
            }
        ),
        T::CreditAccountNotFound
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 3,
                ..t
            }
        ),
        T::AccountsMustHaveTheSameLedger
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 3,
                credit_account_id: 8,
                ..t
            }
        ),
        T::TransferMustHaveTheSameLedgerAsAccounts
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 7,
                ..t
            }
        ),
        T::DebitAccountAlreadyClosed
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 7,
                ..t
            }
        ),
        T::CreditAccountAlreadyClosed
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 4,
                ..t
            }
        ),
        T::ExceedsCredits
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 5,
                ..t
            }
        ),
        T::ExceedsDebits
    );
    assert_eq!(
        run_transfers(
            &[],
            &[Transfer {
                flags: tf::LINKED,
                ..t
            }],
            NOW
        )[0]
        .status,
        T::LinkedEventChainOpen as u32
    );
}

#[test]
fn create_transfer_overflow_codes() {
    let max = u128::MAX;
    let big = tr(1, 1, 2, max);
    let pending = Transfer {
        flags: tf::PENDING,
        ..tr(2, 1, 2, 1)
    };
    assert_eq!(
        one(
            &[vec![Transfer {
                flags: tf::PENDING,
                ..big
            }]],
            pending
        ),
        T::OverflowsDebitsPending
    );
    let pending_cr = Transfer {
        flags: tf::PENDING,
        ..tr(2, 6, 2, 1)
    };
    assert_eq!(
        one(
            &[vec![Transfer {
                flags: tf::PENDING,
                ..big
            }]],
            pending_cr
        ),
        T::OverflowsCreditsPending
    );
    assert_eq!(one(&[vec![big]], tr(2, 1, 6, 1)), T::OverflowsDebitsPosted);
    assert_eq!(one(&[vec![big]], tr(2, 6, 2, 1)), T::OverflowsCreditsPosted);
    // Pending + posted together overflow, each alone does not.
    let half = max / 2 + 1;
    let setup = vec![
        Transfer {
            flags: tf::PENDING,
            ..tr(1, 1, 6, half)
        },
        tr(3, 1, 2, half - 1),
    ];
    assert_eq!(one(&[setup], tr(4, 1, 2, 1)), T::OverflowsDebits);
    let setup = vec![
        Transfer {
            flags: tf::PENDING,
            ..tr(1, 6, 2, half)
        },
        tr(3, 1, 2, half - 1),
    ];
    assert_eq!(one(&[setup], tr(4, 6, 2, 1)), T::OverflowsCredits);
    // A timeout past 2^63 - 1 ns: run near the end of time.
    let near_end = (1u64 << 63) - 10;
    let t = Transfer {
        flags: tf::PENDING,
        timeout: 1,
        ..tr(9, 1, 2, 1)
    };
    assert_eq!(
        run_transfers(&[], &[t], near_end)[0].status,
        T::OverflowsTimeout as u32
    );
}

#[test]
fn post_and_void_codes() {
    let p = Transfer {
        flags: tf::PENDING,
        ..tr(50, 1, 2, 100)
    };
    let post = Transfer {
        id: 60,
        pending_id: 50,
        flags: tf::POST_PENDING_TRANSFER,
        amount: u128::MAX,
        ..Transfer::default()
    };
    let void = Transfer {
        flags: tf::VOID_PENDING_TRANSFER,
        amount: 0,
        ..post
    };
    let s = [vec![p]];
    assert_eq!(one(&s, post), T::Created);
    assert_eq!(one(&s, void), T::Created);
    assert_eq!(
        one(
            &s,
            Transfer {
                flags: tf::POST_PENDING_TRANSFER | tf::VOID_PENDING_TRANSFER,
                ..post
            }
        ),
        T::FlagsAreMutuallyExclusive
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                flags: tf::POST_PENDING_TRANSFER | tf::PENDING,
                ..post
            }
        ),
        T::FlagsAreMutuallyExclusive
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                flags: tf::VOID_PENDING_TRANSFER | tf::BALANCING_DEBIT,
                ..post
            }
        ),
        T::FlagsAreMutuallyExclusive
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                pending_id: 0,
                ..post
            }
        ),
        T::PendingIdMustNotBeZero
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                pending_id: u128::MAX,
                ..post
            }
        ),
        T::PendingIdMustNotBeIntMax
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                pending_id: 60,
                ..post
            }
        ),
        T::PendingIdMustBeDifferent
    );
    assert_eq!(
        one(&s, Transfer { timeout: 1, ..post }),
        T::TimeoutReservedForPendingTransfer
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                pending_id: 51,
                ..post
            }
        ),
        T::PendingTransferNotFound
    );
    assert_eq!(
        one(
            &[vec![tr(51, 1, 2, 1)]],
            Transfer {
                pending_id: 51,
                ..post
            }
        ),
        T::PendingTransferNotPending
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                debit_account_id: 6,
                ..post
            }
        ),
        T::PendingTransferHasDifferentDebitAccountId
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                credit_account_id: 6,
                ..post
            }
        ),
        T::PendingTransferHasDifferentCreditAccountId
    );
    assert_eq!(
        one(&s, Transfer { ledger: 2, ..post }),
        T::PendingTransferHasDifferentLedger
    );
    assert_eq!(
        one(&s, Transfer { code: 2, ..post }),
        T::PendingTransferHasDifferentCode
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                amount: 101,
                ..post
            }
        ),
        T::ExceedsPendingTransferAmount
    );
    assert_eq!(
        one(&s, Transfer { amount: 99, ..void }),
        T::PendingTransferHasDifferentAmount
    );
    let posted = [vec![p], vec![post]];
    assert_eq!(
        one(&posted, Transfer { id: 61, ..post }),
        T::PendingTransferAlreadyPosted
    );
    let voided = [vec![p], vec![void]];
    assert_eq!(
        one(&voided, Transfer { id: 61, ..post }),
        T::PendingTransferAlreadyVoided,
        "post 2^128-1 of a voided transfer"
    );
    // Expired: the pending transfer's timeout passes before the post (no sweep needed).
    let timed = Transfer { timeout: 1, ..p };
    let results = run_transfers_after(&[vec![timed]], &[post], NOW, 2_000_000_000);
    assert_eq!(status_t(&results[0]), T::PendingTransferExpired);
    // Posting into a closed account is refused; voiding is not.
    let closing_other = Transfer {
        flags: tf::PENDING | tf::CLOSING_CREDIT,
        ..tr(52, 6, 2, 1)
    };
    assert_eq!(
        one(&[vec![p], vec![closing_other]], post),
        T::CreditAccountAlreadyClosed
    );
    assert_eq!(one(&[vec![p], vec![closing_other]], void), T::Created);
    let closing_dr = Transfer {
        flags: tf::PENDING | tf::CLOSING_DEBIT,
        ..tr(52, 1, 6, 1)
    };
    assert_eq!(
        one(&[vec![p], vec![closing_dr]], post),
        T::DebitAccountAlreadyClosed
    );
}

#[test]
fn idempotency_codes() {
    let t = Transfer {
        user_data_128: 1,
        user_data_64: 2,
        user_data_32: 3,
        ..tr(70, 1, 2, 10)
    };
    let s = [vec![t]];
    assert_eq!(one(&s, t), T::Exists);
    assert_eq!(
        one(
            &s,
            Transfer {
                flags: tf::PENDING,
                ..t
            }
        ),
        T::ExistsWithDifferentFlags
    );
    assert_eq!(
        one(&s, Transfer { pending_id: 9, ..t }),
        T::ExistsWithDifferentPendingId
    );
    assert_eq!(
        one(&s, Transfer { timeout: 9, ..t }),
        T::ExistsWithDifferentTimeout
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                debit_account_id: 6,
                ..t
            }
        ),
        T::ExistsWithDifferentDebitAccountId
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                credit_account_id: 6,
                ..t
            }
        ),
        T::ExistsWithDifferentCreditAccountId
    );
    assert_eq!(
        one(&s, Transfer { amount: 11, ..t }),
        T::ExistsWithDifferentAmount
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                user_data_128: 9,
                ..t
            }
        ),
        T::ExistsWithDifferentUserData128
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                user_data_64: 9,
                ..t
            }
        ),
        T::ExistsWithDifferentUserData64
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                user_data_32: 9,
                ..t
            }
        ),
        T::ExistsWithDifferentUserData32
    );
    assert_eq!(
        one(&s, Transfer { ledger: 2, ..t }),
        T::ExistsWithDifferentLedger
    );
    assert_eq!(
        one(&s, Transfer { code: 2, ..t }),
        T::ExistsWithDifferentCode
    );
    // Precedence inside the comparison: flags, then pending_id, then timeout, then the rest.
    assert_eq!(
        one(
            &s,
            Transfer {
                flags: tf::PENDING,
                amount: 1,
                ..t
            }
        ),
        T::ExistsWithDifferentFlags
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                timeout: 1,
                debit_account_id: 6,
                ..t
            }
        ),
        T::ExistsWithDifferentTimeout
    );
    assert_eq!(
        one(
            &s,
            Transfer {
                amount: 1,
                code: 9,
                ..t
            }
        ),
        T::ExistsWithDifferentAmount
    );
    // `exists` echoes the original timestamp.
    let ledger = Ledger::new(LedgerConfig::default()).expect("ledger");
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    ledger
        .create_accounts(&mut held, &fixture(), NOW, &mut r)
        .expect("accounts");
    r.clear();
    ledger
        .create_transfers(&mut held, &[t], NOW + 5, &mut r)
        .expect("t");
    let created_at = r[0].timestamp;
    r.clear();
    ledger
        .create_transfers(&mut held, &[t], NOW + 50, &mut r)
        .expect("t again");
    assert_eq!((status_t(&r[0]), r[0].timestamp), (T::Exists, created_at));
    // Burned ids: a state-dependent failure, then anything with that id.
    let fails = Transfer {
        id: 80,
        ..tr(80, 4, 2, 10)
    };
    assert_eq!(
        one(
            &[vec![fails]],
            Transfer {
                amount: 1,
                debit_account_id: 1,
                ..fails
            }
        ),
        T::IdAlreadyFailed
    );
    assert_eq!(
        one(
            &[vec![fails]],
            Transfer {
                flags: tf::PENDING,
                code: 7,
                ..tr(80, 2, 1, 1)
            }
        ),
        T::IdAlreadyFailed
    );
}

#[test]
fn imported_transfer_codes() {
    let imp = |id, ts| Transfer {
        flags: tf::IMPORTED,
        timestamp: ts,
        ..tr(id, 1, 2, 1)
    };
    // Fixture account i was created at NOW + 10 (i - 1); the batch runs after NOW + 1100.
    assert_eq!(
        status_t(&run_transfers(&[], &[imp(1, NOW + 500)], NOW)[0]),
        T::Created
    );
    let r = run_transfers(&[], &[imp(1, NOW + 500), tr(2, 1, 2, 1)], NOW);
    assert_eq!(status_t(&r[1]), T::ImportedEventExpected);
    let r = run_transfers(&[], &[tr(2, 1, 2, 1), imp(1, NOW + 500)], NOW);
    assert_eq!(status_t(&r[1]), T::ImportedEventNotExpected);
    assert_eq!(
        status_t(
            &run_transfers(
                &[],
                &[Transfer {
                    timestamp: 9,
                    ..tr(1, 1, 2, 1)
                }],
                NOW
            )[0]
        ),
        T::TimestampMustBeZero
    );
    assert_eq!(
        status_t(&run_transfers(&[], &[imp(1, 0)], NOW)[0]),
        T::ImportedEventTimestampOutOfRange
    );
    assert_eq!(
        status_t(&run_transfers(&[], &[imp(1, NOW + 50_000)], NOW)[0]),
        T::ImportedEventTimestampMustNotAdvance
    );
    let r = run_transfers(&[], &[imp(1, NOW + 500), imp(2, NOW + 400)], NOW);
    assert_eq!(status_t(&r[1]), T::ImportedEventTimestampMustNotRegress);
    // An account's timestamp is taken too.
    assert_eq!(
        status_t(&run_transfers(&[], &[imp(1, NOW + 10)], NOW)[0]),
        T::ImportedEventTimestampMustNotRegress
    );
    let dr_late = Transfer {
        debit_account_id: 6,
        ..imp(1, NOW + 25)
    };
    assert_eq!(
        status_t(&run_transfers(&[], &[dr_late], NOW)[0]),
        T::ImportedEventTimestampMustPostdateDebitAccount
    );
    let cr_late = Transfer {
        credit_account_id: 6,
        ..imp(1, NOW + 25)
    };
    assert_eq!(
        status_t(&run_transfers(&[], &[cr_late], NOW)[0]),
        T::ImportedEventTimestampMustPostdateCreditAccount
    );
    let with_timeout = Transfer {
        timeout: 1,
        flags: tf::IMPORTED | tf::PENDING,
        ..imp(1, NOW + 500)
    };
    assert_eq!(
        status_t(&run_transfers(&[], &[with_timeout], NOW)[0]),
        T::ImportedEventTimeoutMustBeZero
    );
}

#[test]
fn create_transfer_precedence() {
    let t = tr(100, 1, 2, 10);
    assert_eq!(
        one(
            &[],
            Transfer {
                flags: 1 << 12,
                id: 0,
                ..t
            }
        ),
        T::ReservedFlag
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                id: 0,
                debit_account_id: 0,
                ..t
            }
        ),
        T::IdMustNotBeZero
    );
    // Idempotency before semantic checks: a re-send into a now-closed account is `exists`.
    assert_eq!(
        one(
            &[
                vec![t],
                vec![Transfer {
                    flags: tf::PENDING | tf::CLOSING_DEBIT,
                    ..tr(5, 1, 2, 0)
                }]
            ],
            t
        ),
        T::Exists
    );
    // A burned id beats every field check.
    let fails = tr(100, 4, 2, 10);
    assert_eq!(
        one(
            &[vec![fails]],
            Transfer {
                debit_account_id: 0,
                ..t
            }
        ),
        T::IdAlreadyFailed
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 0,
                credit_account_id: 0,
                ..t
            }
        ),
        T::DebitAccountIdMustNotBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 1,
                pending_id: 3,
                ..t
            }
        ),
        T::AccountsMustBeDifferent
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                pending_id: 3,
                timeout: 1,
                ..t
            }
        ),
        T::PendingIdMustBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                timeout: 1,
                ledger: 0,
                ..t
            }
        ),
        T::TimeoutReservedForPendingTransfer
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                flags: tf::CLOSING_CREDIT,
                ledger: 0,
                ..t
            }
        ),
        T::ClosingTransferMustBePending
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                ledger: 0,
                code: 0,
                ..t
            }
        ),
        T::LedgerMustNotBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                code: 0,
                debit_account_id: 99,
                ..t
            }
        ),
        T::CodeMustNotBeZero
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 99,
                credit_account_id: 98,
                ..t
            }
        ),
        T::DebitAccountNotFound
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                credit_account_id: 3,
                ledger: 2,
                ..t
            }
        ),
        T::AccountsMustHaveTheSameLedger
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 7,
                credit_account_id: 5,
                ..t
            }
        ),
        T::DebitAccountAlreadyClosed
    );
    // Overflow checks come before balance limits.
    let huge = tr(1, 2, 1, u128::MAX);
    assert_eq!(
        one(
            &[vec![huge]],
            Transfer {
                debit_account_id: 4,
                credit_account_id: 1,
                ..t
            }
        ),
        T::OverflowsCreditsPosted
    );
    assert_eq!(
        one(
            &[],
            Transfer {
                debit_account_id: 4,
                credit_account_id: 5,
                ..t
            }
        ),
        T::ExceedsCredits
    );
    // Post/void path: mutual exclusion before pending_id checks, not_found before not_pending.
    let post = Transfer {
        id: 60,
        pending_id: 0,
        flags: tf::POST_PENDING_TRANSFER | tf::PENDING,
        ..Transfer::default()
    };
    assert_eq!(one(&[], post), T::FlagsAreMutuallyExclusive);
    let post = Transfer {
        flags: tf::POST_PENDING_TRANSFER,
        pending_id: 60,
        timeout: 5,
        ..post
    };
    assert_eq!(one(&[], post), T::PendingIdMustBeDifferent);
    // Different debit beats exceeding the amount; already posted loses to a different code.
    let p = Transfer {
        flags: tf::PENDING,
        ..tr(50, 1, 2, 100)
    };
    let post = Transfer {
        id: 61,
        pending_id: 50,
        flags: tf::POST_PENDING_TRANSFER,
        ..Transfer::default()
    };
    assert_eq!(
        one(
            &[vec![p]],
            Transfer {
                debit_account_id: 6,
                amount: 1000,
                ..post
            }
        ),
        T::PendingTransferHasDifferentDebitAccountId
    );
    assert_eq!(
        one(
            &[vec![p], vec![post]],
            Transfer {
                id: 62,
                code: 9,
                ..post
            }
        ),
        T::PendingTransferHasDifferentCode
    );
    assert_eq!(
        one(
            &[vec![p], vec![post]],
            Transfer {
                id: 62,
                amount: 1000,
                ..post
            }
        ),
        T::ExceedsPendingTransferAmount
    );
}

#[test]
fn chains_and_batches() {
    let t = |id, flags| Transfer {
        flags,
        ..tr(id, 1, 2, 1)
    };
    // A failing member: every other member fails, the breaker keeps its status, no effects.
    let r = run_transfers(
        &[],
        &[
            t(1, tf::LINKED),
            t(2, tf::LINKED),
            Transfer { code: 0, ..t(3, 0) },
            t(4, 0),
        ],
        NOW,
    );
    let s: Vec<T> = r.iter().map(status_t).collect();
    assert_eq!(
        s,
        vec![
            T::LinkedEventFailed,
            T::LinkedEventFailed,
            T::CodeMustNotBeZero,
            T::Created
        ]
    );
    // Timestamps step up through the batch, failed events included.
    assert!(r.windows(2).all(|w| w[0].timestamp + 1 == w[1].timestamp));
    // A chain open at the end of the batch fails as a whole.
    let s: Vec<T> = run_transfers(&[], &[t(1, 0), t(2, tf::LINKED), t(3, tf::LINKED)], NOW)
        .iter()
        .map(status_t)
        .collect();
    assert_eq!(
        s,
        vec![T::Created, T::LinkedEventFailed, T::LinkedEventChainOpen]
    );
    // A duplicate id inside a chain: `exists` breaks it; neither survives; ids stay usable.
    let s: Vec<T> = run_transfers(
        &[],
        &[t(1, tf::LINKED), t(1, tf::LINKED), t(2, 0), t(1, 0)],
        NOW,
    )
    .iter()
    .map(status_t)
    .collect();
    assert_eq!(
        s,
        vec![
            T::LinkedEventFailed,
            T::Exists,
            T::LinkedEventFailed,
            T::Created
        ]
    );
    // The breaker of a state-dependent failure burns its id even though the chain rolled back.
    let s: Vec<T> = run_transfers(
        &[],
        &[
            t(1, tf::LINKED),
            Transfer {
                debit_account_id: 4,
                ..t(2, 0)
            },
            t(1, 0),
            t(2, 0),
        ],
        NOW,
    )
    .iter()
    .map(status_t)
    .collect();
    assert_eq!(
        s,
        vec![
            T::LinkedEventFailed,
            T::ExceedsCredits,
            T::Created,
            T::IdAlreadyFailed
        ]
    );
    // A closing pending transfer closes the account for the very next event; voiding reopens.
    let close = Transfer {
        flags: tf::PENDING | tf::CLOSING_DEBIT,
        ..tr(10, 1, 2, 0)
    };
    let void = Transfer {
        id: 11,
        pending_id: 10,
        flags: tf::VOID_PENDING_TRANSFER,
        ..Transfer::default()
    };
    let s: Vec<T> = run_transfers(&[], &[close, t(12, 0), void, t(13, 0)], NOW)
        .iter()
        .map(status_t)
        .collect();
    assert_eq!(
        s,
        vec![
            T::Created,
            T::DebitAccountAlreadyClosed,
            T::Created,
            T::Created
        ]
    );
    // Balancing: clamped to the room left, re-sending an equal or larger amount is `exists`.
    let fund = tr(20, 2, 4, 30);
    let bal = Transfer {
        flags: tf::BALANCING_DEBIT,
        ..tr(21, 4, 1, 1000)
    };
    let s: Vec<T> = run_transfers(
        &[vec![fund, bal]],
        &[
            bal,
            Transfer { amount: 30, ..bal },
            Transfer { amount: 29, ..bal },
        ],
        NOW,
    )
    .iter()
    .map(status_t)
    .collect();
    assert_eq!(s, vec![T::Exists, T::Exists, T::ExistsWithDifferentAmount]);
    // Post of 0 releases everything and posts nothing.
    let p = Transfer {
        flags: tf::PENDING,
        ..tr(30, 1, 2, 100)
    };
    let post0 = Transfer {
        id: 31,
        pending_id: 30,
        flags: tf::POST_PENDING_TRANSFER,
        amount: 0,
        ..Transfer::default()
    };
    assert_eq!(one(&[vec![p]], post0), T::Created);
}

#[test]
fn whole_batch_errors_leave_no_effect() {
    let ledger = Ledger::new(LedgerConfig {
        partitions: 2,
        max_accounts: 4,
        max_transfers: 4,
        prefault: false,
    })
    .expect("ledger");
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    let five: Vec<Account> = (1..=5).map(|id| acct(id, 1, 0)).collect();
    assert_eq!(
        ledger.create_accounts(&mut held, &five, NOW, &mut r),
        Err(ledger::BatchError::AccountsFull { capacity: 4 })
    );
    assert!(r.is_empty());
    ledger
        .create_accounts(&mut held, &five[..2], NOW, &mut r)
        .expect("two fit");
    let many: Vec<Transfer> = (1..=8190).map(|id| tr(id, 1, 2, 1)).collect();
    assert_eq!(
        ledger.create_transfers(&mut held, &many, NOW, &mut r),
        Err(ledger::BatchError::TooManyEvents(8190))
    );
    assert_eq!(
        ledger.create_transfers(&mut held, &many[..5], NOW, &mut r),
        Err(ledger::BatchError::TransfersFull { capacity: 4 })
    );
    drop(held);
    assert_eq!(ledger.all_transfers().len(), 0);
    assert_eq!(ledger.lookup_account(1).map(|a| a.debits_posted), Some(0));
    ledger.verify().expect("invariants");
}

/// A ledger filled to exactly its transfer capacity, spread over partitions and accounts,
/// keeps every transfer in its logs and account lists, and refuses the next one as a whole.
#[test]
fn a_ledger_filled_to_capacity_keeps_everything_and_refuses_more() {
    const CAPACITY: usize = 5_000;
    let ledger = Ledger::new(LedgerConfig {
        partitions: 3,
        max_accounts: 30,
        max_transfers: CAPACITY,
        prefault: false,
    })
    .expect("ledger");
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    // Accounts 1..=30, ten in each of ledgers 1, 2 and 3.
    let accounts: Vec<Account> = (1..=30u128)
        .map(|id| acct(id, (id as u32 - 1) / 10 + 1, 0))
        .collect();
    ledger
        .create_accounts(&mut held, &accounts, NOW, &mut r)
        .expect("accounts");
    let mut id = 0u128;
    let mut batches = 0;
    while (id as usize) < CAPACITY {
        let batch: Vec<Transfer> = (0..1_000)
            .map(|i| {
                id += 1;
                // Debit one of the ledger's first three accounts, credit any other one of it.
                let ledger = (id % 3) as u32;
                let base = u128::from(ledger) * 10;
                let dr = base + 1 + (i % 3) as u128;
                let cr = base + 4 + id % 7;
                Transfer {
                    ledger: ledger + 1,
                    ..tr(id, dr, cr, 1)
                }
            })
            .collect();
        r.clear();
        ledger
            .create_transfers(&mut held, &batch, NOW + batches, &mut r)
            .expect("fits");
        assert!(r.iter().all(|x| x.status == T::Created as u32));
        batches += 1;
    }
    assert_eq!(ledger.usage().1, CAPACITY);
    r.clear();
    assert_eq!(
        ledger.create_transfers(&mut held, &[tr(id + 1, 1, 2, 1)], NOW + batches, &mut r),
        Err(ledger::BatchError::TransfersFull { capacity: CAPACITY })
    );
    drop(held);
    ledger.verify().expect("invariants");
    assert_eq!(ledger.all_transfers().len(), CAPACITY);
    // Every transfer is on both of its accounts' lists.
    let mut sides = 0;
    for a in 1..=30u128 {
        let filter = ledger::AccountFilter {
            account_id: a,
            limit: u32::MAX,
            flags: 0b11,
            ..ledger::AccountFilter::default()
        };
        let got = ledger.get_account_transfers(&filter);
        assert!(got.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert!(
            got.len() < ledger::BATCH_MAX,
            "the limit did not cut the list"
        );
        sides += got.len();
    }
    assert_eq!(sides, 2 * CAPACITY);
}

#[test]
fn only_exists_echoes_the_original_timestamp() {
    // Accounts: after account 1 exists, a batch [2, 1 with another code] answers `created` for
    // 2 and `exists_with_different_code` for 1 with the event's own timestamp, one above 2's.
    let ledger = Ledger::new(LedgerConfig::default()).expect("ledger");
    let mut model = Model::new();
    let mut held = ledger.lock_all();
    let mut r = Vec::new();
    let one = Account {
        code: 10,
        ..acct(1, 700, 0)
    };
    ledger
        .create_accounts(&mut held, &[one], NOW, &mut r)
        .expect("account 1");
    model.create_accounts(&[one], NOW);
    let created_1 = r[0].timestamp;
    let batch = [
        Account {
            code: 10,
            ..acct(2, 700, 0)
        },
        Account { code: 11, ..one },
        one,
    ];
    r.clear();
    ledger
        .create_accounts(&mut held, &batch, NOW + 1_000, &mut r)
        .expect("batch");
    assert_eq!(
        r,
        model.create_accounts(&batch, NOW + 1_000),
        "model agrees"
    );
    let status = |x: &CreateResult| A::from_u32(x.status).expect("known");
    assert_eq!(status(&r[0]), A::Created);
    assert_eq!(status(&r[1]), A::ExistsWithDifferentCode);
    assert_eq!(
        r[1].timestamp,
        r[0].timestamp + 1,
        "the event's own timestamp"
    );
    assert_eq!((status(&r[2]), r[2].timestamp), (A::Exists, created_1));
    drop(held);

    // Transfers: exists_with_different_amount (and any other difference) carries the event's
    // timestamp too; exists echoes the original.
    let t = tr(90, 1, 2, 10);
    let p = Transfer {
        flags: tf::PENDING,
        ..tr(91, 1, 2, 10)
    };
    let post = Transfer {
        id: 92,
        pending_id: 91,
        flags: tf::POST_PENDING_TRANSFER,
        amount: 4,
        ..Transfer::default()
    };
    let resent = vec![
        tr(93, 1, 2, 1),
        Transfer { amount: 11, ..t },
        Transfer { code: 2, ..t },
        t,
        Transfer { amount: 5, ..post },
        post,
    ];
    let results = run_batches(&[vec![t, p, post]], &resent, NOW, 1_000);
    let (first, second) = (&results[0], &results[1]);
    let statuses: Vec<T> = second.iter().map(status_t).collect();
    assert_eq!(
        statuses,
        [
            T::Created,
            T::ExistsWithDifferentAmount,
            T::ExistsWithDifferentCode,
            T::Exists,
            T::ExistsWithDifferentAmount,
            T::Exists
        ]
    );
    let base = second[0].timestamp;
    assert_eq!(second[1].timestamp, base + 1);
    assert_eq!(second[2].timestamp, base + 2);
    assert_eq!(second[3].timestamp, first[0].timestamp);
    assert_eq!(second[4].timestamp, base + 4);
    assert_eq!(second[5].timestamp, first[2].timestamp);
}

#[test]
fn a_closing_transfer_cannot_be_posted_into_the_account_it_closed() {
    let closing_dr = Transfer {
        flags: tf::PENDING | tf::CLOSING_DEBIT,
        ..tr(50, 1, 2, 10)
    };
    let closing_cr = Transfer {
        flags: tf::PENDING | tf::CLOSING_CREDIT,
        ..tr(50, 1, 2, 10)
    };
    let post = Transfer {
        id: 60,
        pending_id: 50,
        flags: tf::POST_PENDING_TRANSFER,
        amount: u128::MAX,
        ..Transfer::default()
    };
    let void = Transfer {
        flags: tf::VOID_PENDING_TRANSFER,
        amount: 0,
        ..post
    };
    assert_eq!(one(&[vec![closing_dr]], post), T::DebitAccountAlreadyClosed);
    assert_eq!(
        one(&[vec![closing_cr]], post),
        T::CreditAccountAlreadyClosed
    );
    // A post of amount 0 moves nothing, and is refused all the same.
    assert_eq!(
        one(&[vec![closing_dr]], Transfer { amount: 0, ..post }),
        T::DebitAccountAlreadyClosed
    );
    // The failure is state-dependent: the post's id is burned.
    assert_eq!(
        one(&[vec![closing_dr], vec![post]], Transfer { id: 60, ..void }),
        T::IdAlreadyFailed
    );
    // Voiding is allowed and reopens the account: a post of the same pending transfer then
    // finds it voided, and a plain transfer from the account is created.
    let results = run_batches(
        &[vec![closing_dr], vec![void]],
        &[Transfer { id: 61, ..post }, tr(70, 1, 2, 3)],
        NOW,
        1_000,
    );
    assert_eq!(status_t(&results[1][0]), T::Created);
    assert_eq!(status_t(&results[2][0]), T::PendingTransferAlreadyVoided);
    assert_eq!(status_t(&results[2][1]), T::Created);

    // Precedence: the pending-transfer and amount checks come before the closed checks.
    assert_eq!(
        one(&[vec![closing_dr]], Transfer { amount: 11, ..post }),
        T::ExceedsPendingTransferAmount
    );
    assert_eq!(
        one(&[vec![closing_dr]], Transfer { code: 9, ..post }),
        T::PendingTransferHasDifferentCode
    );
    let timed = Transfer {
        timeout: 1,
        ..closing_dr
    };
    let results = run_transfers_after(&[vec![timed]], &[post], NOW, 2_000_000_000);
    assert_eq!(
        status_t(&results[0]),
        T::PendingTransferExpired,
        "expired beats closed"
    );
}

#[test]
fn a_void_amount_is_the_pending_amount_or_exceeds_or_differs() {
    let p = Transfer {
        flags: tf::PENDING,
        ..tr(50, 1, 2, 100)
    };
    let void = Transfer {
        id: 60,
        pending_id: 50,
        flags: tf::VOID_PENDING_TRANSFER,
        amount: 0,
        ..Transfer::default()
    };
    let s = [vec![p]];
    assert_eq!(one(&s, void), T::Created, "0 means the pending amount");
    assert_eq!(
        one(
            &s,
            Transfer {
                amount: 100,
                ..void
            }
        ),
        T::Created
    );
    for above in [101, 1 << 100, u128::MAX] {
        assert_eq!(
            one(
                &s,
                Transfer {
                    amount: above,
                    ..void
                }
            ),
            T::ExceedsPendingTransferAmount,
            "void of {above}"
        );
    }
    for below in [1, 99] {
        assert_eq!(
            one(
                &s,
                Transfer {
                    amount: below,
                    ..void
                }
            ),
            T::PendingTransferHasDifferentAmount,
            "void of {below}"
        );
    }
    // Precedence: the field checks come first; the amount check comes before the pending
    // transfer's state.
    assert_eq!(
        one(
            &s,
            Transfer {
                code: 2,
                amount: u128::MAX,
                ..void
            }
        ),
        T::PendingTransferHasDifferentCode
    );
    let voided = [vec![p], vec![void]];
    assert_eq!(
        one(
            &voided,
            Transfer {
                id: 61,
                amount: u128::MAX,
                ..void
            }
        ),
        T::ExceedsPendingTransferAmount
    );
    assert_eq!(
        one(
            &voided,
            Transfer {
                id: 61,
                amount: 1,
                ..void
            }
        ),
        T::PendingTransferHasDifferentAmount
    );
    assert_eq!(
        one(&voided, Transfer { id: 61, ..void }),
        T::PendingTransferAlreadyVoided
    );
}
