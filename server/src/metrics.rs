//! Metrics: what the workers count, how it is published, and the Prometheus endpoint.
//!
//! Counting stays local: the scalar counters are each worker's `WorkerCounters`; the histograms
//! (request latency, ledger batch sizes) and ledger event counts by status live in a
//! thread-local [`Local`] of plain integers. Once per loop turn a worker copies what changed
//! into its own slot of [`Published`] (one writer per slot, relaxed stores), so no shared
//! atomic is touched per request. Readers (INFO, the `/metrics` endpoint) sum the slots.
//!
//! The endpoint (`[metrics] address`) is a small, bounded HTTP/1.1 server on its own threads
//! (`endpoint`: sockets, deadlines, concurrency; `http`: parsing and responses): on each
//! `GET /metrics` it feeds the totals to the `metrics` facade, whose Prometheus recorder
//! (`metrics-exporter-prometheus`) renders the text format.

use crate::state::ServerState;
use ledger::{CreateAccountStatus, CreateTransferStatus};
use std::cell::RefCell;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

mod endpoint;
pub(crate) mod http;

pub use endpoint::bind;

/// Upper bounds (µs) of the request latency buckets; one more bucket holds the rest.
pub const LATENCY_BOUNDS_US: [u64; 15] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000,
];
/// Upper bounds of the ledger batch size buckets (events per create/lookup request).
pub const BATCH_BOUNDS: [u64; 14] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8189,
];
/// Status slots: index 0 = created, then the status number (accounts up to 27, transfers 68).
const ACCOUNT_SLOTS: usize = 32;
const TRANSFER_SLOTS: usize = 72;

const LATENCY_AT: usize = 0;
const BATCH_AT: usize = LATENCY_AT + LATENCY_BOUNDS_US.len() + 1;
const ACCOUNT_AT: usize = BATCH_AT + BATCH_BOUNDS.len() + 1;
const TRANSFER_AT: usize = ACCOUNT_AT + ACCOUNT_SLOTS;
/// Ledger requests by operation (1..=8).
const OPS_AT: usize = TRANSFER_AT + TRANSFER_SLOTS;
const CELLS: usize = OPS_AT + 9;

/// A worker thread's own histogram cells.
pub struct Local {
    cells: [u64; CELLS],
    dirty: bool,
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { cells: [0; CELLS], dirty: false }) };
}

fn bucket(bounds: &[u64], v: u64) -> usize {
    bounds.iter().position(|&b| v <= b).unwrap_or(bounds.len())
}

fn with_local(f: impl FnOnce(&mut Local)) {
    LOCAL.with_borrow_mut(|l| {
        f(l);
        l.dirty = true;
    });
}

/// One request's latency, from its arrival in a loop turn to its reply being queued.
pub fn record_latency(micros: u64) {
    with_local(|l| l.cells[LATENCY_AT + bucket(&LATENCY_BOUNDS_US, micros)] += 1);
}

/// A ledger request: its operation (1..=8) and event count.
pub fn record_ledger_request(operation: u8, events: usize) {
    with_local(|l| {
        l.cells[OPS_AT + usize::from(operation).min(8)] += 1;
        l.cells[BATCH_AT + bucket(&BATCH_BOUNDS, events as u64)] += 1;
    });
}

fn status_slot(status: u32, slots: usize) -> usize {
    if status == u32::MAX {
        0
    } else {
        (status as usize).min(slots - 1)
    }
}

/// Create results of one batch (accounts or transfers), counted by status.
pub fn record_results(transfers: bool, results: &[ledger::CreateResult]) {
    with_local(|l| {
        for r in results {
            let i = if transfers {
                TRANSFER_AT + status_slot(r.status, TRANSFER_SLOTS)
            } else {
                ACCOUNT_AT + status_slot(r.status, ACCOUNT_SLOTS)
            };
            l.cells[i] += 1;
        }
    });
}

/// A worker's published copy of its [`Local`] cells.
pub struct Published {
    cells: Vec<AtomicU64>,
}

impl Default for Published {
    fn default() -> Self {
        Published {
            cells: (0..CELLS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Published {
    /// Copies this thread's cells if they changed since the last publish (call once per turn).
    pub fn publish_local(&self) {
        LOCAL.with_borrow_mut(|l| {
            if !l.dirty {
                return;
            }
            l.dirty = false;
            for (cell, v) in self.cells.iter().zip(l.cells.iter()) {
                cell.store(*v, Ordering::Relaxed);
            }
        });
    }
}

/// Sums of every worker's published cells.
pub struct Totals {
    cells: Vec<u64>,
}

impl Totals {
    pub fn of(workers: &[Published]) -> Totals {
        let mut cells = vec![0u64; CELLS];
        for w in workers {
            for (sum, c) in cells.iter_mut().zip(&w.cells) {
                *sum += c.load(Ordering::Relaxed);
            }
        }
        Totals { cells }
    }

    /// (upper bound µs or None for +Inf, count) per latency bucket.
    pub fn latency(&self) -> Vec<(Option<u64>, u64)> {
        buckets(&self.cells[LATENCY_AT..BATCH_AT], &LATENCY_BOUNDS_US)
    }

    pub fn batch_sizes(&self) -> Vec<(Option<u64>, u64)> {
        buckets(&self.cells[BATCH_AT..ACCOUNT_AT], &BATCH_BOUNDS)
    }

    /// (status name, count) of create_accounts results with a non-zero count.
    pub fn account_statuses(&self) -> Vec<(&'static str, u64)> {
        statuses(&self.cells[ACCOUNT_AT..TRANSFER_AT], |s| {
            CreateAccountStatus::from_u32(s).map(|x| x.name())
        })
    }

    pub fn transfer_statuses(&self) -> Vec<(&'static str, u64)> {
        statuses(&self.cells[TRANSFER_AT..OPS_AT], |s| {
            CreateTransferStatus::from_u32(s).map(|x| x.name())
        })
    }

    /// (operation name, requests) for the eight ledger operations.
    pub fn ledger_requests(&self) -> Vec<(&'static str, u64)> {
        protocol::binary::Operation::ALL
            .iter()
            .map(|op| (op.name(), self.cells[OPS_AT + *op as usize]))
            .collect()
    }
}

fn buckets(cells: &[u64], bounds: &[u64]) -> Vec<(Option<u64>, u64)> {
    cells
        .iter()
        .enumerate()
        .map(|(i, n)| (bounds.get(i).copied(), *n))
        .collect()
}

fn statuses(cells: &[u64], name: impl Fn(u32) -> Option<&'static str>) -> Vec<(&'static str, u64)> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(i, n)| {
            let status = if i == 0 { u32::MAX } else { i as u32 };
            name(status).map(|s| (s, *n))
        })
        .collect()
}

// ---- Prometheus endpoint ----------------------------------------------------------------

/// Installs the Prometheus recorder and serves `GET /metrics` on `listener` (see `endpoint`
/// for the bounds every connection is held to). `token`: scrapes must carry
/// `Authorization: Bearer <token>`. Returns the accepting thread, which ends, closing the
/// listener, once a shutdown is requested.
pub fn serve(
    listener: TcpListener,
    state: Arc<ServerState>,
    token: Option<String>,
) -> Result<JoinHandle<()>, String> {
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                "ringledger_request_duration_seconds".into(),
            ),
            &LATENCY_BOUNDS_US.map(|us| us as f64 / 1e6),
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("ringledger_ledger_batch_events".into()),
                &BATCH_BOUNDS.map(|n| n as f64),
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("ringledger_wal_sync_seconds".into()),
                &crate::durability::SYNC_US_BOUNDS.map(|us| us as f64 / 1e6),
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("ringledger_wal_group_records".into()),
                &crate::durability::GROUP_BOUNDS.map(|n| n as f64),
            )
        })
        .map_err(|e| format!("metrics: {e}"))?;
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| format!("metrics: {e}"))?;
    describe();
    // Scrapes are served by several threads; feeding the recorder and rendering happen under
    // one lock, so each scrape sees every histogram fed exactly once.
    let fed = Mutex::new(Fed::default());
    let rendering = state.clone();
    let service = endpoint::Service {
        token,
        render: Box::new(move || {
            let mut fed = fed.lock().unwrap_or_else(PoisonError::into_inner);
            fed.feed(&rendering);
            handle.render()
        }),
        stopping: Box::new(move || state.shutdown_requested()),
    };
    endpoint::start(listener, service).map_err(|e| format!("metrics threads: {e}"))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "ringledger_connections_received_total",
        "Connections accepted"
    );
    describe_counter!(
        "ringledger_connections_rejected_total",
        "Connections refused by max_clients"
    );
    describe_gauge!("ringledger_connected_clients", "Connections open now");
    describe_gauge!(
        "ringledger_client_memory_bytes",
        Unit::Bytes,
        "Buffer memory all connections hold (checked against max_client_memory)"
    );
    describe_counter!(
        "ringledger_clients_evicted_total",
        "Connections closed because all clients' buffers exceeded max_client_memory"
    );
    describe_counter!(
        "ringledger_auth_timeouts_total",
        "Connections closed for not authenticating within auth_timeout"
    );
    describe_counter!(
        "ringledger_net_input_bytes_total",
        Unit::Bytes,
        "Bytes received from clients"
    );
    describe_counter!(
        "ringledger_net_output_bytes_total",
        Unit::Bytes,
        "Bytes queued to clients"
    );
    describe_counter!(
        "ringledger_commands_total",
        "Requests processed (RESP commands and binary frames)"
    );
    describe_counter!(
        "ringledger_error_replies_total",
        "Requests answered with an error"
    );
    describe_counter!("ringledger_command_calls_total", "RESP calls by command");
    describe_counter!(
        "ringledger_command_failed_total",
        "RESP calls by command answered with an error"
    );
    describe_counter!(
        "ringledger_command_rejected_total",
        "RESP calls by command rejected before running"
    );
    describe_counter!(
        "ringledger_recv_buffer_parks_total",
        "Receives stalled for lack of a free provided buffer (ENOBUFS)"
    );
    describe_counter!(
        "ringledger_coalesced_waits_total",
        "io_uring waits that asked for several completions (wake-up coalescing)"
    );
    describe_counter!(
        "ringledger_worker_wakeups_total",
        "Cross-worker wake-ups handled (messages from other threads)"
    );
    describe_counter!(
        "ringledger_forward_queue_full_total",
        "Messages to another worker that found its queue full and waited in the outbox"
    );
    describe_counter!(
        "ringledger_ledger_forwarded_total",
        "Ledger create requests sent to the worker owning their partitions"
    );
    describe_counter!(
        "ringledger_ledger_requests_total",
        "Ledger requests by operation"
    );
    describe_counter!(
        "ringledger_ledger_events_total",
        "Ledger create events by result status"
    );
    describe_histogram!(
        "ringledger_ledger_batch_events",
        "Events per ledger request"
    );
    describe_histogram!(
        "ringledger_request_duration_seconds",
        Unit::Seconds,
        "Request latency within the server"
    );
    describe_counter!(
        "ringledger_wal_bytes_total",
        "Bytes written to the ledger's write-ahead logs"
    );
    describe_counter!(
        "ringledger_wal_records_total",
        "Batches (records) written to the write-ahead logs"
    );
    describe_counter!(
        "ringledger_wal_groups_total",
        "Group writes (each one write and one sync)"
    );
    describe_histogram!(
        "ringledger_wal_sync_seconds",
        Unit::Seconds,
        "Write-ahead log group write and sync time"
    );
    describe_histogram!(
        "ringledger_wal_group_records",
        "Batches per write-ahead log group"
    );
    describe_gauge!(
        "ringledger_wal_recovery_seconds",
        "How long start-up recovery took"
    );
    describe_gauge!(
        "ringledger_wal_recovered_records",
        "Records replayed at start-up"
    );
    describe_gauge!(
        "ringledger_ledger_accounts_used",
        "Account table slots in use (live, orphaned or rolled back)"
    );
    describe_gauge!(
        "ringledger_ledger_transfers_used",
        "Transfer table slots in use"
    );
}

/// Histogram counts already fed to the recorder (it takes observations, not totals).
#[derive(Default)]
struct Fed {
    latency: Vec<u64>,
    batch: Vec<u64>,
    sync: Vec<u64>,
    group: Vec<u64>,
}

impl Fed {
    fn feed(&mut self, state: &ServerState) {
        use metrics::{counter, gauge, histogram};
        let t = state.stats.raw_total();
        counter!("ringledger_connections_received_total").absolute(t.connections_received);
        counter!("ringledger_connections_rejected_total").absolute(t.rejected_connections);
        gauge!("ringledger_connected_clients").set(t.connected_clients as f64);
        gauge!("ringledger_client_memory_bytes").set(state.client_memory() as f64);
        counter!("ringledger_clients_evicted_total").absolute(t.evicted_clients);
        counter!("ringledger_auth_timeouts_total").absolute(t.auth_timeouts);
        counter!("ringledger_net_input_bytes_total").absolute(t.net_input_bytes);
        counter!("ringledger_net_output_bytes_total").absolute(t.net_output_bytes);
        counter!("ringledger_commands_total").absolute(t.commands_processed);
        counter!("ringledger_error_replies_total").absolute(t.error_replies);
        counter!("ringledger_recv_buffer_parks_total").absolute(t.recv_buffer_parks);
        counter!("ringledger_coalesced_waits_total").absolute(t.coalesced_waits);
        counter!("ringledger_worker_wakeups_total").absolute(t.worker_wakeups);
        counter!("ringledger_ledger_forwarded_total").absolute(t.ledger_forwarded);
        counter!("ringledger_forward_queue_full_total").absolute(t.forward_queue_full);
        for (id, s) in state.stats.raw_command_totals() {
            let name = crate::commands::command_name(id as u16).to_string();
            counter!("ringledger_command_calls_total", "command" => name.clone()).absolute(s.calls);
            counter!("ringledger_command_failed_total", "command" => name.clone())
                .absolute(s.failed);
            counter!("ringledger_command_rejected_total", "command" => name).absolute(s.rejected);
        }
        let cells = state.stats.histogram_totals();
        for (op, n) in cells.ledger_requests() {
            counter!("ringledger_ledger_requests_total", "operation" => op).absolute(n);
        }
        for (status, n) in cells.account_statuses() {
            counter!("ringledger_ledger_events_total", "operation" => "create_accounts", "status" => status).absolute(n);
        }
        for (status, n) in cells.transfer_statuses() {
            counter!("ringledger_ledger_events_total", "operation" => "create_transfers", "status" => status).absolute(n);
        }
        feed_histogram(
            &mut self.latency,
            &cells.latency(),
            |b| b as f64 / 1e6,
            "ringledger_request_duration_seconds",
        );
        feed_histogram(
            &mut self.batch,
            &cells.batch_sizes(),
            |b| b as f64,
            "ringledger_ledger_batch_events",
        );
        if let Some(d) = state.durability.get() {
            use crate::durability::{Stats, GROUP_BOUNDS, SYNC_US_BOUNDS};
            use std::sync::atomic::Ordering::Relaxed;
            let s = &d.stats;
            counter!("ringledger_wal_bytes_total").absolute(s.bytes.load(Relaxed));
            counter!("ringledger_wal_records_total").absolute(s.records.load(Relaxed));
            counter!("ringledger_wal_groups_total").absolute(s.groups.load(Relaxed));
            gauge!("ringledger_wal_recovery_seconds").set(s.recovery_ms.load(Relaxed) as f64 / 1e3);
            gauge!("ringledger_wal_recovered_records")
                .set(s.recovered_records.load(Relaxed) as f64);
            feed_histogram(
                &mut self.sync,
                &Stats::histogram(&s.sync_us_buckets, &SYNC_US_BOUNDS),
                |b| b as f64 / 1e6,
                "ringledger_wal_sync_seconds",
            );
            feed_histogram(
                &mut self.group,
                &Stats::histogram(&s.group_buckets, &GROUP_BOUNDS),
                |b| b as f64,
                "ringledger_wal_group_records",
            );
        }
        let (accounts, transfers) = state.ledger.usage();
        gauge!("ringledger_ledger_accounts_used").set(accounts as f64);
        gauge!("ringledger_ledger_transfers_used").set(transfers as f64);
        let _ = histogram!("ringledger_request_duration_seconds");
    }
}

/// Records each bucket's new observations at the bucket's upper bound (beyond the last bound:
/// twice the last bound), so the exporter's buckets count exactly what the workers counted.
fn feed_histogram(
    fed: &mut Vec<u64>,
    now: &[(Option<u64>, u64)],
    scale: impl Fn(u64) -> f64,
    name: &'static str,
) {
    fed.resize(now.len(), 0);
    let last = now.iter().rev().find_map(|(b, _)| *b).unwrap_or(1);
    for (i, (bound, n)) in now.iter().enumerate() {
        let delta = n.saturating_sub(fed[i]);
        if delta > 0 {
            metrics::histogram!(name).record_many(scale(bound.unwrap_or(last * 2)), delta as usize);
        }
        fed[i] = *n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_cells_are_published_and_summed() {
        let slots: Vec<Published> = (0..2).map(|_| Published::default()).collect();
        record_ledger_request(2, 3);
        record_results(
            true,
            &[ledger::CreateResult {
                timestamp: 1,
                status: u32::MAX,
                reserved: 0,
            }],
        );
        record_results(
            false,
            &[ledger::CreateResult {
                timestamp: 1,
                status: 21,
                reserved: 0,
            }],
        );
        record_latency(30);
        slots[1].publish_local();
        let t = Totals::of(&slots);
        assert_eq!(t.ledger_requests()[1], ("create_transfers", 1));
        assert_eq!(t.transfer_statuses(), vec![("created", 1)]);
        assert_eq!(t.account_statuses(), vec![("exists", 1)]);
        assert_eq!(t.batch_sizes()[2], (Some(4), 1));
        assert_eq!(t.latency()[2], (Some(50), 1));
    }
}
