//! TigerBeetle 0.17 ledger state machine on lock-free tables of 128-byte records.
//!
//! A pure library: no sockets, no threads of its own; time is passed in by the caller.
//!
//! - [`types`]: the exact 128-byte records, filters and create results, with safe zero-copy
//!   conversion from and to bytes; [`status`] and [`flags`]: TigerBeetle's numbers and names.
//! - [`Ledger`]: accounts in a fixed-capacity lock-free hash table of 128-byte records, transfers
//!   in an append-only record log behind a lock-free id index (one CAS claims an id; readers on
//!   any thread read records without locks), split into partitions by ledger.
//!   A caller holds the partitions a batch needs ([`Ledger::lock`]) and runs
//!   [`Ledger::create_accounts`] / [`Ledger::create_transfers`] on them; chains that span
//!   partitions run atomically because the caller holds all of them.
//! - Reads ([`Ledger::lookup_accounts`], [`Ledger::get_account_transfers`], queries) may run on
//!   any thread at any time and never see part of a batch.
//! - [`reference`](mod@reference): a small, obviously-correct model of the same semantics, for tests and
//!   fuzzing.
//!
//! ```
//! use ledger::{Account, Ledger, LedgerConfig, Transfer};
//! let ledger = Ledger::new(LedgerConfig::default()).unwrap();
//! let mut held = ledger.lock(&ledger.route_accounts(&[]));
//! let accounts = [1u128, 2].map(|id| Account { id, ledger: 700, code: 10, ..Account::default() });
//! let mut results = Vec::new();
//! ledger.create_accounts(&mut held, &accounts, 1_000, &mut results).unwrap();
//! let t = Transfer { id: 9, debit_account_id: 1, credit_account_id: 2, amount: 5, ledger: 700, code: 1,
//!                    ..Transfer::default() };
//! results.clear();
//! ledger.create_transfers(&mut held, &[t], 2_000, &mut results).unwrap();
//! assert_eq!(results[0].status, u32::MAX); // created
//! drop(held);
//! assert_eq!(ledger.lookup_account(2).unwrap().credits_posted, 5);
//! ```

pub mod ab;
mod batch;
mod create_account;
mod create_transfer;
pub mod effects;
mod exec;
pub mod flags;
mod ledger;
pub mod partition;
mod reads;
pub mod reference;
mod replay;
pub mod status;
pub(crate) mod table;
pub mod types;
mod verify;

pub use batch::{BatchInfo, EXPIRE_MAX_PER_COMMIT};
pub use ledger::{BatchError, Held, Ledger, LedgerConfig, BATCH_MAX, MAX_PARTITIONS};
pub use partition::PendingState;
pub use replay::{ReplayError, ReplaySummary};
pub use status::{CreateAccountStatus, CreateTransferStatus};
pub use types::{
    Account, AccountBalance, AccountFilter, CreateResult, LayoutError, QueryFilter, Record,
    Transfer,
};
