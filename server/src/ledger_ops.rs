//! The eight ledger operations run on a decoded [`LedgerRequest`], whichever transport it came
//! from; the outcome goes to a reply encoder (`ledger_reply`) as typed records.
//!
//! A create holds the partitions its request was routed to (see `ledger::Ledger::lock`). A
//! batch that turns out to need more (a post or void whose pending transfer was created
//! meanwhile on another ledger) is retried holding them. The commits' effects are recorded for
//! the write-ahead log when the ledger is durable.

use crate::ledger_request::{Events, LedgerRequest};
use ledger::{Account, AccountBalance, BatchError, CreateResult, Ledger, Transfer};
use protocol::binary::Operation;

/// Why a whole request was refused (nothing was applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The body is malformed: which way, for the error reply.
    Malformed(String),
    /// The ledger refused the batch (full table).
    Refused(String),
}

impl OpError {
    pub fn message(&self) -> &str {
        match self {
            OpError::Malformed(m) | OpError::Refused(m) => m,
        }
    }
}

/// Wall-clock nanoseconds since the Unix epoch (the ledger's timestamps).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Per-thread reusable create results, and what the thread's last requests left for the
/// write-ahead log.
#[derive(Default)]
struct Scratch {
    results: Vec<CreateResult>,
    /// The effects of the commits made since the last [`take_effects`] (see
    /// `ledger::effects`), when the ledger is durable.
    effects: Vec<u8>,
    /// A ledger request ran since the last [`take_touched`].
    touched: bool,
}

/// Whether creates record their effects for the write-ahead log (set once at start-up when
/// `[ledger] data_dir` is set).
static RECORD_EFFECTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every later create (on any thread) record its committed effects; the executing thread
/// collects them with [`take_effects`].
pub fn record_effects() {
    RECORD_EFFECTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Workers whose write-ahead log could not prepare its next segment (a full disk): while any
/// is, creates are refused before they run (they could not be logged); reads go on.
static LOGS_OUT_OF_SPACE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A worker's log ran out of disk space (`true`) or has room again (`false`).
pub fn set_log_out_of_space(full: bool) {
    use std::sync::atomic::Ordering::SeqCst;
    if full {
        LOGS_OUT_OF_SPACE.fetch_add(1, SeqCst);
    } else {
        LOGS_OUT_OF_SPACE.fetch_sub(1, SeqCst);
    }
}

fn out_of_space() -> bool {
    LOGS_OUT_OF_SPACE.load(std::sync::atomic::Ordering::SeqCst) > 0
}

fn recording() -> bool {
    RECORD_EFFECTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Hands this thread's recorded effects, if any, to `f` (one batch's parts, or several
/// batches' if the caller let them pile up), then forgets them.
pub fn take_effects(f: impl FnOnce(&[u8])) {
    SCRATCH.with_borrow_mut(|s| {
        if !s.effects.is_empty() {
            f(&s.effects);
            s.effects.clear();
        }
    })
}

/// Runs `f` on `held` with its commits' effects appended to `effects` when the ledger is
/// durable. Commits of an attempt that `f` then refuses (expiries at its start) are kept too.
fn recording_effects<T>(
    held: &mut ledger::Held<'_>,
    effects: &mut Vec<u8>,
    f: impl FnOnce(&mut ledger::Held<'_>) -> T,
) -> T {
    if recording() {
        held.record_effects(std::mem::take(effects));
    }
    let out = f(held);
    if let Some(buf) = held.take_effects() {
        *effects = buf;
    }
    out
}

/// Whether a ledger request ran on this thread since the last call (its reply may reveal
/// effects that are not durable yet).
pub fn take_touched() -> bool {
    SCRATCH.with_borrow_mut(|s| std::mem::take(&mut s.touched))
}

/// Expires the due pending transfers of `partition` (the owner's timer), recording the effects
/// like a batch's. Returns how many expired.
pub fn expire(ledger: &Ledger, partition: usize, now: u64) -> usize {
    let mut held = ledger.lock(&[partition]);
    if held.next_expiry().is_none_or(|at| at > now) {
        return 0;
    }
    SCRATCH.with_borrow_mut(|s| {
        recording_effects(&mut held, &mut s.effects, |held| {
            ledger.expire_pending(held, now)
        })
    })
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

fn refused(e: BatchError) -> OpError {
    OpError::Refused(e.to_string())
}

/// Runs a create batch, holding `partitions` first; retries with more when the ledger asks.
/// Leaves the results in `s.results`.
fn run_create<E>(
    s: &mut Scratch,
    ledger: &Ledger,
    events: &[E],
    partitions: &[usize],
    transfers: bool,
    create: impl Fn(
        &Ledger,
        &mut ledger::Held<'_>,
        &[E],
        u64,
        &mut Vec<CreateResult>,
    ) -> Result<ledger::BatchInfo, BatchError>,
) -> Result<(), OpError> {
    if out_of_space() {
        return Err(OpError::Refused(
            "ledger disk full: the write-ahead log cannot prepare its next segment; creates are \
             refused until space is freed (reads and the cache go on)"
                .into(),
        ));
    }
    let mut parts = partitions.to_vec();
    // Each retry adds at least one partition, so this ends within `partition_count` rounds.
    for _ in 0..=ledger.partition_count() {
        let mut held = ledger.lock(&parts);
        s.results.clear();
        let outcome = recording_effects(&mut held, &mut s.effects, |held| {
            create(ledger, held, events, now_ns(), &mut s.results)
        });
        match outcome {
            Ok(_) => {
                crate::metrics::record_results(transfers, &s.results);
                return Ok(());
            }
            Err(BatchError::NeedPartitions(more)) => {
                drop(held);
                parts.extend(more);
                parts.sort_unstable();
                parts.dedup();
            }
            Err(e) => return Err(refused(e)),
        }
    }
    Err(OpError::Refused("batch could not be routed".into()))
}

/// What a request produced, for the reply encoder.
pub enum Output<'a> {
    /// One result per create event (with its status and timestamp).
    Created(&'a [CreateResult]),
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
    Balances(Vec<AccountBalance>),
}

/// Executes `request` on this thread and hands the outcome to `reply` (which must not run
/// ledger requests itself).
pub fn execute<T>(
    ledger: &Ledger,
    request: &LedgerRequest,
    reply: impl FnOnce(Result<Output<'_>, OpError>) -> T,
) -> T {
    let op = request.operation;
    crate::metrics::record_ledger_request(op as u8, request.event_count());
    SCRATCH.with_borrow_mut(|s| {
        s.touched = true;
        match &request.events {
            Events::Accounts(a) => {
                let outcome = run_create(
                    s,
                    ledger,
                    a,
                    &request.partitions,
                    false,
                    Ledger::create_accounts,
                );
                reply(outcome.map(|()| Output::Created(&s.results)))
            }
            Events::Transfers(t) => {
                let outcome = run_create(
                    s,
                    ledger,
                    t,
                    &request.partitions,
                    true,
                    Ledger::create_transfers,
                );
                reply(outcome.map(|()| Output::Created(&s.results)))
            }
            Events::Ids(ids) if op == Operation::LookupAccounts => {
                reply(Ok(Output::Accounts(ledger.lookup_accounts(ids))))
            }
            Events::Ids(ids) => reply(Ok(Output::Transfers(ledger.lookup_transfers(ids)))),
            Events::AccountFilter(f) if op == Operation::GetAccountTransfers => {
                reply(Ok(Output::Transfers(ledger.get_account_transfers(f))))
            }
            Events::AccountFilter(f) => reply(Ok(Output::Balances(ledger.get_account_balances(f)))),
            Events::QueryFilter(f) if op == Operation::QueryAccounts => {
                reply(Ok(Output::Accounts(ledger.query_accounts(f))))
            }
            Events::QueryFilter(f) => reply(Ok(Output::Transfers(ledger.query_transfers(f)))),
        }
    })
}
