//! The eight ledger operations on raw event bytes, shared by the RESP `LEDGER.*` commands and
//! the binary protocol: decode the events (any alignment), run them on the ledger, append the
//! reply records to `out`.
//!
//! Execution holds the partitions a batch needs (see `ledger::Ledger::lock`) on the worker that
//! received the request. A batch that turns out to need more partitions than routed (a post or
//! void whose pending transfer was created meanwhile on another ledger) is retried holding them.

use ledger::{
    Account, AccountFilter, BatchError, CreateResult, Ledger, QueryFilter, Record, Transfer,
    BATCH_MAX,
};
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

/// Copies `body` into `events` (reused between requests: batches reach a megabyte, and a
/// fresh allocation per request costs page faults).
fn decode_into<R: Record>(
    body: &[u8],
    what: &str,
    max: usize,
    events: &mut Vec<R>,
) -> Result<(), OpError> {
    if body.is_empty() {
        return Err(OpError::Malformed(format!("empty {what} batch")));
    }
    if body.len() % R::SIZE != 0 {
        return Err(OpError::Malformed(format!(
            "{what} must be a whole number of {}-byte records, got {} bytes",
            R::SIZE,
            body.len()
        )));
    }
    let n = body.len() / R::SIZE;
    if n > max {
        return Err(OpError::Malformed(format!(
            "too many {what}: {n} (at most {max} per request)"
        )));
    }
    events.clear();
    events.extend(
        body.chunks_exact(R::SIZE)
            .filter_map(|c| R::read_from_bytes(c).ok()),
    );
    debug_assert_eq!(events.len(), n);
    Ok(())
}

/// Per-thread reusable buffers for decoded events and create results, and what the thread's
/// last requests left for the write-ahead log.
#[derive(Default)]
struct Scratch {
    accounts: Vec<Account>,
    transfers: Vec<Transfer>,
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

fn decode_ids(body: &[u8]) -> Result<Vec<u128>, OpError> {
    if body.is_empty() {
        return Err(OpError::Malformed("empty id batch".into()));
    }
    let ids = ledger::types::ids_from_bytes(body).map_err(|_| {
        OpError::Malformed(format!(
            "ids must be a whole number of 16-byte ids, got {} bytes",
            body.len()
        ))
    })?;
    if ids.len() > BATCH_MAX {
        return Err(OpError::Malformed(format!(
            "too many ids: {} (at most {BATCH_MAX} per request)",
            ids.len()
        )));
    }
    Ok(ids)
}

fn decode_filter<R: Record>(body: &[u8], what: &str) -> Result<R, OpError> {
    if body.len() != R::SIZE {
        return Err(OpError::Malformed(format!(
            "{what} must be exactly {} bytes, got {}",
            R::SIZE,
            body.len()
        )));
    }
    R::vec_from_bytes(body)
        .ok()
        .and_then(|mut v| v.pop())
        .ok_or_else(|| OpError::Malformed(format!("{what} must be exactly {} bytes", R::SIZE)))
}

fn refused(e: BatchError) -> OpError {
    OpError::Refused(e.to_string())
}

/// Runs a create batch, holding its partitions; retries with more when the ledger asks.
fn run_create<E>(
    ledger: &Ledger,
    events: &[E],
    results: &mut Vec<CreateResult>,
    effects: &mut Vec<u8>,
    route: impl Fn(&Ledger, &[E]) -> Vec<usize>,
    create: impl Fn(
        &Ledger,
        &mut ledger::Held<'_>,
        &[E],
        u64,
        &mut Vec<CreateResult>,
    ) -> Result<ledger::BatchInfo, BatchError>,
) -> Result<(), OpError> {
    let mut parts = route(ledger, events);
    // Each retry adds at least one partition, so this ends within `partition_count` rounds.
    for _ in 0..=ledger.partition_count() {
        let mut held = ledger.lock(&parts);
        results.clear();
        let outcome = recording_effects(&mut held, effects, |held| {
            create(ledger, held, events, now_ns(), results)
        });
        match outcome {
            Ok(_) => return Ok(()),
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

/// The partitions a create request needs (None for reads, which run where they arrive, and for
/// malformed bodies, which are refused where they arrive).
pub fn partitions(ledger: &Ledger, op: Operation, body: &[u8]) -> Option<Vec<usize>> {
    SCRATCH.with_borrow_mut(|s| match op {
        Operation::CreateAccounts => {
            decode_into(body, "accounts", BATCH_MAX, &mut s.accounts).ok()?;
            Some(ledger.route_accounts(&s.accounts))
        }
        Operation::CreateTransfers => {
            decode_into(body, "transfers", BATCH_MAX, &mut s.transfers).ok()?;
            Some(ledger.route_transfers(&s.transfers))
        }
        _ => None,
    })
}

/// Executes `op` on `body`; appends the reply records to `out` and returns their count.
pub fn execute(
    ledger: &Ledger,
    op: Operation,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, OpError> {
    SCRATCH.with_borrow_mut(|s| s.touched = true);
    if op.max_request_events() == 1 {
        // Filters: one event each (creates and lookups are counted once decoded).
        crate::metrics::record_ledger_request(op as u8, 1);
    }
    let create = matches!(op, Operation::CreateAccounts | Operation::CreateTransfers);
    if create && out_of_space() {
        return Err(OpError::Refused(
            "ledger disk full: the write-ahead log cannot prepare its next segment; creates are \
             refused until space is freed (reads and the cache go on)"
                .into(),
        ));
    }
    match op {
        Operation::CreateAccounts => SCRATCH.with_borrow_mut(|s| {
            decode_into(body, "accounts", BATCH_MAX, &mut s.accounts)?;
            crate::metrics::record_ledger_request(op as u8, s.accounts.len());
            run_create(
                ledger,
                &s.accounts,
                &mut s.results,
                &mut s.effects,
                Ledger::route_accounts,
                Ledger::create_accounts,
            )?;
            crate::metrics::record_results(false, &s.results);
            extend(out, &s.results)
        }),
        Operation::CreateTransfers => SCRATCH.with_borrow_mut(|s| {
            decode_into(body, "transfers", BATCH_MAX, &mut s.transfers)?;
            crate::metrics::record_ledger_request(op as u8, s.transfers.len());
            run_create(
                ledger,
                &s.transfers,
                &mut s.results,
                &mut s.effects,
                Ledger::route_transfers,
                Ledger::create_transfers,
            )?;
            crate::metrics::record_results(true, &s.results);
            extend(out, &s.results)
        }),
        Operation::LookupAccounts | Operation::LookupTransfers => {
            let ids = decode_ids(body)?;
            crate::metrics::record_ledger_request(op as u8, ids.len());
            if op == Operation::LookupAccounts {
                extend(out, &ledger.lookup_accounts(&ids))
            } else {
                extend(out, &ledger.lookup_transfers(&ids))
            }
        }
        Operation::GetAccountTransfers => {
            let f: AccountFilter = decode_filter(body, "account filter")?;
            extend(out, &ledger.get_account_transfers(&f))
        }
        Operation::GetAccountBalances => {
            let f: AccountFilter = decode_filter(body, "account filter")?;
            extend(out, &ledger.get_account_balances(&f))
        }
        Operation::QueryAccounts => {
            let f: QueryFilter = decode_filter(body, "query filter")?;
            extend(out, &ledger.query_accounts(&f))
        }
        Operation::QueryTransfers => {
            let f: QueryFilter = decode_filter(body, "query filter")?;
            extend(out, &ledger.query_transfers(&f))
        }
    }
}

fn extend<R: Record>(out: &mut Vec<u8>, records: &[R]) -> Result<usize, OpError> {
    out.reserve(records.len() * R::SIZE);
    for r in records {
        out.extend_from_slice(r.bytes());
    }
    Ok(records.len())
}
