//! The write API: create_accounts, create_transfers and the pending-expiry sweep, executed by a
//! caller holding the batch's partitions.

use crate::create_account::create_account;
use crate::create_transfer::{create_transfer, create_transfer_deferred, expire_due, EventHashes};
use crate::exec::{run_chains, Abort, Exec, Kind};
use crate::flags;
use crate::flags::transfer as tf;
use crate::ledger::{BatchError, Held, Ledger, BATCH_MAX};
use crate::status::CreateTransferStatus;
use crate::types::{Account, CreateResult, Transfer};
use std::sync::atomic::AtomicUsize;

/// How many events ahead create_transfers prefetches what an event touches. A miss to DRAM
/// took 362-460 ns on the shared benchmark host (docs/BENCHMARKS.md); an event takes well
/// under a hundred.
const PREFETCH_AHEAD: usize = 16;

/// Hashes kept for the events between the one running and the one being prefetched.
const HASH_RING: usize = 32;
const _: () = assert!(HASH_RING > PREFETCH_AHEAD);

/// What a committed batch was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// The timestamp of the batch's first event; event `i` ran at `base + i`.
    pub base_timestamp: u64,
}

/// Most pending transfers one commit expires: bounds a commit's logged effects (16 bytes
/// each) like a batch's 8189 events bound a batch's. The rest expire in the next commits, as
/// TigerBeetle expires in bounded pulses; a post or void of a transfer past its deadline is
/// `pending_transfer_expired` either way.
pub const EXPIRE_MAX_PER_COMMIT: usize = 65_536;

impl Ledger {
    /// The partitions a create_accounts batch needs: each account's ledger's partition; every
    /// partition for an imported batch (imported timestamps are checked against all of them).
    pub fn route_accounts(&self, events: &[Account]) -> Vec<usize> {
        if events
            .first()
            .is_some_and(|a| a.flags & flags::account::IMPORTED != 0)
        {
            return (0..self.partition_count()).collect();
        }
        let mut parts: Vec<usize> = events.iter().map(|a| self.partition_of(a.ledger)).collect();
        parts.sort_unstable();
        parts.dedup();
        if parts.is_empty() {
            parts.push(0);
        }
        parts
    }

    /// The partitions a create_transfers batch needs: each transfer's ledger's partition, for a
    /// post/void with ledger 0 its pending transfer's (from the batch or the table).
    pub fn route_transfers(&self, events: &[Transfer]) -> Vec<usize> {
        if events
            .first()
            .is_some_and(|t| t.flags & flags::transfer::IMPORTED != 0)
        {
            return (0..self.partition_count()).collect();
        }
        let post_or_void =
            flags::transfer::POST_PENDING_TRANSFER | flags::transfer::VOID_PENDING_TRANSFER;
        let mut parts = Vec::with_capacity(2);
        let mut last = None;
        for (i, t) in events.iter().enumerate() {
            let ledger = if t.ledger == 0 && t.flags & post_or_void != 0 {
                let earlier = events[..i]
                    .iter()
                    .rev()
                    .find(|e| e.id == t.pending_id)
                    .map(|e| e.ledger);
                earlier.or_else(|| self.lookup_transfer(t.pending_id).map(|p| p.ledger))
            } else {
                Some(t.ledger)
            };
            if let Some(l) = ledger {
                if last != Some(l) {
                    last = Some(l);
                    parts.push(self.partition_of(l));
                }
            }
        }
        parts.sort_unstable();
        parts.dedup();
        if parts.is_empty() {
            parts.push(0);
        }
        parts
    }

    /// Creates accounts, appending one result per event to `results`. `now` is the wall clock
    /// in ns. The whole batch is refused (nothing applied) when too large, when the table
    /// cannot take it, or when it needs partitions `held` does not hold.
    pub fn create_accounts(
        &self,
        held: &mut Held<'_>,
        events: &[Account],
        now: u64,
        results: &mut Vec<CreateResult>,
    ) -> Result<BatchInfo, BatchError> {
        let imported = events
            .first()
            .is_some_and(|a| a.flags & flags::account::IMPORTED != 0);
        self.execute(
            held,
            events.len(),
            now,
            imported,
            Kind::Account,
            results,
            |ex, base, results| {
                run_chains(ex, events, 0, base, results, |ex, _, a, ts| {
                    create_account(ex, a, ts)
                })
            },
        )
    }

    /// Creates transfers (see [`Ledger::create_accounts`]). Pending transfers of the held
    /// partitions that are due by the batch's first timestamp expire first.
    pub fn create_transfers(
        &self,
        held: &mut Held<'_>,
        events: &[Transfer],
        now: u64,
        results: &mut Vec<CreateResult>,
    ) -> Result<BatchInfo, BatchError> {
        let imported = events
            .first()
            .is_some_and(|t| t.flags & flags::transfer::IMPORTED != 0);
        self.execute(
            held,
            events.len(),
            now,
            imported,
            Kind::Transfer,
            results,
            |ex, base, results| {
                // Start the cache misses of an event some places ahead: each event touches a
                // random index entry (its id) and two accounts. The hashes are kept for when
                // the event runs.
                let prefetch = |h: &EventHashes| {
                    self.transfers.prefetch_hash(h.id);
                    for hash in [h.debit, h.credit] {
                        let home = self.accounts.prefetch_hash(hash);
                        self.account_meta.prefetch(home);
                    }
                };
                let mut ring = [EventHashes::default(); HASH_RING];
                for (i, t) in events.iter().enumerate().take(PREFETCH_AHEAD) {
                    ring[i] = EventHashes::of(i, t);
                    prefetch(&ring[i]);
                }
                let ahead = |i: usize, ring: &mut [EventHashes; HASH_RING]| {
                    if let Some(t) = events.get(i + PREFETCH_AHEAD) {
                        let h = EventHashes::of(i + PREFETCH_AHEAD, t);
                        prefetch(&h);
                        ring[(i + PREFETCH_AHEAD) % HASH_RING] = h;
                    }
                };
                // The usual batch has neither linked chains nor imported events: up to the
                // first such event the chain rules come down to the timestamp check, so this
                // loop runs them without the chain driver's bookkeeping, and every event's
                // hashes are in the ring (none is skipped).
                let mut first = 0;
                let imported_batch = events.first().is_some_and(|t| t.flags & tf::IMPORTED != 0);
                while let Some(t) = events.get(first).filter(|_| !imported_batch) {
                    if t.flags & (tf::LINKED | tf::IMPORTED) != 0 {
                        break;
                    }
                    ahead(first, &mut ring);
                    let ts = base + first as u64;
                    let (status, timestamp) = if t.timestamp != 0 {
                        (CreateTransferStatus::TimestampMustBeZero, ts)
                    } else {
                        let h = &ring[first % HASH_RING];
                        debug_assert_eq!(h.event, first);
                        create_transfer_deferred(ex, events, first, base, h)?
                    };
                    results.push(CreateResult {
                        timestamp,
                        status: status as u32,
                        reserved: 0,
                    });
                    first += 1;
                }
                // The records of the transfers the loop created go to the log now, in a
                // loop of their own (see `Exec::write_deferred_records`).
                ex.write_deferred_records(events, base);
                run_chains(ex, events, first, base, results, |ex, i, t, ts| {
                    ahead(i, &mut ring);
                    let mut h = ring[i % HASH_RING];
                    if h.event != i {
                        // Skipped by the chain rules when it was ahead: hash it now.
                        h = EventHashes::of(i, t);
                    }
                    create_transfer(ex, t, ts, &h)
                })
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        held: &mut Held<'_>,
        n: usize,
        now: u64,
        imported: bool,
        kind: Kind,
        results: &mut Vec<CreateResult>,
        mut run: impl FnMut(&mut Exec<'_, '_>, u64, &mut Vec<CreateResult>) -> Result<(), Abort>,
    ) -> Result<BatchInfo, BatchError> {
        assert!(
            std::ptr::eq(held.ledger, self),
            "partitions held on another ledger"
        );
        if n > BATCH_MAX {
            return Err(BatchError::TooManyEvents(n));
        }
        if imported && held.partitions().len() != self.partition_count() {
            let missing = (0..self.partition_count())
                .filter(|&p| !held.holds(p))
                .collect();
            return Err(BatchError::NeedPartitions(missing));
        }
        if n == 0 {
            return Ok(BatchInfo { base_timestamp: 0 });
        }
        let base = self.reserve_timestamps(now, n as u64);
        if kind == Kind::Transfer {
            self.expire_held(held, base);
        }
        let (used, capacity): (&AtomicUsize, usize) = match kind {
            Kind::Account => (&self.accounts_used, self.config.max_accounts),
            Kind::Transfer => (&self.transfers_used, self.config.max_transfers),
        };
        let start = results.len();
        loop {
            if !Ledger::reserve(used, n, capacity) {
                return Err(match kind {
                    Kind::Account => BatchError::AccountsFull { capacity },
                    Kind::Transfer => BatchError::TransfersFull { capacity },
                });
            }
            let mut ex = Exec::new(held);
            let outcome = run(&mut ex, base, results);
            let claims = ex.claims(Kind::Account) + ex.claims(Kind::Transfer);
            debug_assert!(claims <= n, "at most one claim per event");
            used.fetch_sub(n - claims, std::sync::atomic::Ordering::AcqRel);
            match outcome {
                Ok(()) => {
                    ex.commit();
                    debug_assert_eq!(results.len() - start, n);
                    return Ok(BatchInfo {
                        base_timestamp: base,
                    });
                }
                Err(Abort::Conflict(k, at)) => {
                    ex.abort();
                    results.truncate(start);
                    match k {
                        Kind::Account => self.accounts.wait_settled(at),
                        Kind::Transfer => self.transfers.wait_settled(at),
                    }
                }
                Err(Abort::NeedPartition(p)) => {
                    ex.abort();
                    results.truncate(start);
                    return Err(BatchError::NeedPartitions(vec![p]));
                }
            }
        }
    }

    /// Expires the held partitions' pending transfers due by `now` (ns), releasing their
    /// pending amounts and reopening accounts they closed; at most [`EXPIRE_MAX_PER_COMMIT`]
    /// at a time (call again while [`Held::next_expiry`] is due). Returns how many expired.
    pub fn expire_pending(&self, held: &mut Held<'_>, now: u64) -> usize {
        self.expire_held(held, now)
    }

    fn expire_held(&self, held: &mut Held<'_>, now: u64) -> usize {
        if held.next_expiry().is_none_or(|at| at > now) {
            return 0;
        }
        let parts: Vec<usize> = held.partitions().to_vec();
        let mut ex = Exec::new(held);
        let mut expired = 0;
        for p in parts {
            expired += expire_due(&mut ex, p, now, EXPIRE_MAX_PER_COMMIT - expired);
        }
        ex.commit();
        expired
    }

    /// Whether a transfer id is burned (a failed transfer's id), for tests and tools.
    pub fn is_orphaned(&self, id: u128) -> bool {
        self.transfers.is_committed_orphan(id)
    }
}
