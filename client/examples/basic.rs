//! A tour of the client: accounts, a transfer, a two-phase transfer, lookups and history.
//!
//! ```text
//! ringledger-server config/example.toml   # with a [[listener]] protocol = "binary"
//! cargo run -p client --example basic -- 127.0.0.1:7000
//! ```

use client::Client;
use ledger::flags::{account as af, account_filter as ff, transfer as tf};
use ledger::{Account, AccountFilter, CreateAccountStatus, CreateTransferStatus, Transfer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let mut c = Client::connect(&addr)?;
    // Ids are the caller's: random-ish ones keep reruns from colliding.
    let base = (std::process::id() as u128) << 32;
    let (alice, bob) = (base + 1, base + 2);
    let accounts = [alice, bob].map(|id| Account {
        id,
        ledger: 700,
        code: 10,
        flags: af::HISTORY,
        ..Account::default()
    });
    for r in c.create_accounts(&accounts)? {
        println!(
            "create account: {}",
            CreateAccountStatus::from_u32(r.status).map_or("?", |s| s.name())
        );
    }
    let pay = Transfer {
        id: base + 10,
        debit_account_id: alice,
        credit_account_id: bob,
        amount: 100,
        ledger: 700,
        code: 1,
        ..Transfer::default()
    };
    let hold = Transfer {
        id: base + 11,
        amount: 50,
        flags: tf::PENDING,
        timeout: 60,
        ..pay
    };
    let post = Transfer {
        id: base + 12,
        pending_id: base + 11,
        amount: u128::MAX,
        flags: tf::POST_PENDING_TRANSFER,
        ..Transfer::default()
    };
    for r in c.create_transfers(&[pay, hold, post])? {
        println!("create transfer: {} at {}", status(r.status), r.timestamp);
    }
    for a in c.lookup_accounts(&[alice, bob])? {
        println!(
            "account {}: debits_posted={} credits_posted={}",
            a.id, a.debits_posted, a.credits_posted
        );
    }
    let filter = AccountFilter {
        account_id: bob,
        limit: 10,
        flags: ff::CREDITS,
        ..AccountFilter::default()
    };
    for b in c.get_account_balances(&filter)? {
        println!(
            "bob after {}: credits_posted={}",
            b.timestamp, b.credits_posted
        );
    }
    Ok(())
}

fn status(s: u32) -> &'static str {
    CreateTransferStatus::from_u32(s).map_or("?", |s| s.name())
}
