//! A worker: one pinned thread running one event loop, serving RESP connections. Requests are
//! parsed in place and dispatched to the commands one by one, in arrival order; replies are
//! appended to the connection's output in the same order.

use super::connection::Connection;
use super::lookahead;
use super::{engine_of, Runtime};
use crate::client::ConnectionInfo;
use crate::commands::{self, Ctx, Flow};
use crate::config::{Config, ListenerProtocol};
use crate::ledger_ops;
use crate::stats::{CommandStats, WorkerCounters};
use bytes::BytesMut;
use io_driver::{Accepted, ConnId, EventLoop, Handler, Io, Waker};
use parking_lot::Mutex;
use protocol::resp::{ParseLimits, ParseStatus};
use smallvec::SmallVec;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most often a worker copies its histograms for readers.
const HISTOGRAM_PUBLISH_EVERY: Duration = Duration::from_millis(1);
/// Period of each worker's housekeeping tick (Redis's default `hz` of 10).
const CRON: Duration = Duration::from_millis(100);
/// The housekeeping timer's token; every other token is a connection's `ConnId::to_u64`
/// (whose index part is never u32::MAX).
const TIMER_CRON: u64 = u64::MAX;
/// How long a connection waits after a failed AUTH before its next request is read: a
/// password guesser gets at most 10 tries a second per connection.
const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(100);
/// Ticks between idle-client sweeps (one second).
const IDLE_SWEEP_TICKS: u64 = 10;
/// Shards with volatile keys one active-expiry tick may sweep.
const ACTIVE_EXPIRE_SHARDS: usize = 64;

pub(crate) struct WorkerSetup {
    pub index: usize,
    pub runtime: Arc<Runtime>,
    pub config: Config,
    pub listeners: Vec<TcpListener>,
    pub listener_protocols: Vec<ListenerProtocol>,
    /// This worker's write-ahead log, opened (and recovered) before the workers start.
    pub log: Option<crate::durability::log::WorkerLog>,
}

/// Client ids another thread asked this worker to close (CLIENT KILL).
#[derive(Default)]
struct Mailbox {
    kills: Mutex<Vec<u64>>,
}

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) runtime: Arc<Runtime>,
    waker: Waker,
    mailbox: Arc<Mailbox>,
    /// Indexed by `ConnId::index()`.
    pub(crate) connections: Vec<Option<(ConnId, Connection)>>,
    pub(crate) counters: WorkerCounters,
    commands: CommandStats,
    pub(crate) limits: ParseLimits,
    /// Protocol of each listener, by the index `Accepted::listener` reports.
    listener_protocols: Vec<ListenerProtocol>,
    /// Partitions this worker owns (p % workers == index): it runs their expiry timers.
    owned_partitions: Vec<usize>,
    /// A ledger reply is built here when it cannot go straight to the connection's output.
    pub(crate) scratch: BytesMut,
    /// A RESP reply is written here instead of the output while earlier replies of its
    /// connection wait (then held in order).
    held: BytesMut,
    /// Messages to other workers that wait for room, and whom to wake at the turn's end.
    pub(crate) outbox: super::forward::Outbox,
    /// When the histograms were last published.
    histograms_published: Instant,
    ticks: u64,
    pub(crate) shutting_down: bool,
    /// This worker's write-ahead log (None: the ledger is volatile).
    pub(crate) log: Option<crate::durability::log::WorkerLog>,
    /// Connections with replies waiting for the log (see `durable`).
    pub(crate) durable_waiting: Vec<ConnId>,
    /// Scratch for the ledger's effect seqs.
    pub(crate) seqs: Vec<u64>,
}

/// Builds the loop on this thread, reports readiness, and runs until shutdown.
pub(crate) fn run(
    setup: WorkerSetup,
    ready: std::sync::mpsc::Sender<Result<(usize, Waker, &'static str), String>>,
) -> Result<(), String> {
    let config = &setup.config;
    let loop_config = io_driver::Config {
        engine: engine_of(config.uring.engine),
        ring_entries: config.uring.entries,
        buffer_count: config.uring.buffer_count,
        buffer_size: config.uring.buffer_size as u32,
        max_connections: config.limits.max_clients + 16,
        max_output_bytes: config.limits.max_output_bytes as usize,
        max_input_bytes: config.limits.max_request_bytes as usize + (1 << 20),
        defer_taskrun: config.uring.defer_taskrun,
        min_wait_us: config.uring.min_wait_us,
    };
    let (mut event_loop, notice) = match EventLoop::new(loop_config, setup.listeners) {
        Ok(x) => x,
        Err(e) => {
            let msg = format!("worker {}: {e}", setup.index);
            let _ = ready.send(Err(msg.clone()));
            return Err(msg);
        }
    };
    if let Some(notice) = notice {
        if setup.index == 0 {
            eprintln!("ringledger-server: {notice}");
        }
    }
    let waker = event_loop.waker();
    let mut worker = Worker {
        index: setup.index,
        runtime: setup.runtime,
        waker: waker.clone(),
        mailbox: Arc::new(Mailbox::default()),
        connections: Vec::new(),
        counters: WorkerCounters::default(),
        commands: CommandStats::default(),
        limits: ParseLimits {
            max_bulk_len: config.limits.max_request_bytes as usize,
            ..ParseLimits::default()
        },
        listener_protocols: setup.listener_protocols.clone(),
        owned_partitions: (0..config.partitions())
            .filter(|p| p % config.workers() == setup.index)
            .collect(),
        scratch: BytesMut::new(),
        held: BytesMut::new(),
        outbox: super::forward::Outbox::new(setup.index),
        histograms_published: Instant::now(),
        ticks: 0,
        shutting_down: false,
        log: setup.log,
        durable_waiting: Vec::new(),
        seqs: Vec::new(),
    };
    if let Some(log) = worker.log.as_mut() {
        let wake = waker.clone();
        if let Err(e) = log.start(move || wake.wake()) {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    }
    let _ = ready.send(Ok((setup.index, waker, event_loop.engine().name())));
    let result = event_loop
        .run(&mut worker)
        .map_err(|e| format!("worker {}: {e}", setup.index));
    worker.publish();
    worker.stage_effects();
    if let Some(log) = worker.log.as_mut() {
        // Every reply has left (the loop drained): record that this log ended cleanly.
        if let Err(e) = log.close_cleanly() {
            crate::durability::fail_stop(&e);
        }
    }
    result
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Worker {
    /// Copies this worker's counters, the per-command statistics it touched, and its
    /// histograms into its published slots (once per loop turn, off the request path).
    fn publish(&mut self) {
        let stats = &self.runtime.state.stats;
        stats.publish(self.index, &self.counters, &mut self.commands);
        stats.publish_histograms(self.index);
    }

    /// Once per loop turn: the counters and touched command statistics always (INFO right
    /// after a command sees it), the histograms (~130 cells) at most once per millisecond.
    fn publish_turn(&mut self, now: Instant) {
        let stats = &self.runtime.state.stats;
        stats.publish(self.index, &self.counters, &mut self.commands);
        if now.duration_since(self.histograms_published) >= HISTOGRAM_PUBLISH_EVERY {
            self.histograms_published = now;
            stats.publish_histograms(self.index);
        }
    }

    /// Counts an error reply: in `total_error_replies` and by kind (INFO errorstats).
    pub(crate) fn count_error(&mut self, message: &str) {
        self.counters.error_replies += 1;
        self.commands.note_error(message);
    }

    fn begin_shutdown(&mut self, io: &mut Io<'_>) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        for conn in io.open_connections() {
            io.close(conn);
        }
        io.shutdown();
    }

    pub(crate) fn slot(&mut self, conn: ConnId) -> Option<&mut Connection> {
        match self.connections.get_mut(conn.index()) {
            Some(Some((id, c))) if *id == conn => Some(c),
            _ => None,
        }
    }

    /// Parses and runs every complete request at the front of `data`; returns bytes consumed.
    ///
    /// Replies go straight into the connection's output, except while an earlier reply of the
    /// connection waits (computed by another worker, or waiting for the log): then they are
    /// held behind it (see `reply`), so replies always leave in request order. A ledger command
    /// leaves its decoded request to the ledger path (see `ledger_path`).
    fn serve(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize {
        let state = self.runtime.state.clone();
        let requirepass = state.acl.default_requires_auth();
        let Some(c) = self.slot(conn) else {
            return data.len();
        };
        if data.len() < c.needed {
            return 0;
        }
        c.needed = 0;
        c.last_active = io.now();
        let now = io.unix_ms();
        let mut pos = 0;
        // Requests before this offset had their keys' buckets prefetched.
        let mut prefetched = 0;
        let mut shutdown = false;
        while pos < data.len() {
            if io.backed_up(conn) {
                break; // the rest is delivered again once the output drains
            }
            let Some(Some((_, c))) = self.connections.get_mut(conn.index()) else {
                return data.len();
            };
            if c.paused {
                break; // the rest is delivered again once the held replies or answers arrive
            }
            if pos >= prefetched {
                let covered = lookahead::prefetch_ahead(&state.cache, c.client.db, &data[pos..]);
                prefetched = if covered == 0 {
                    data.len()
                } else {
                    pos + covered
                };
            }
            let auth_required = requirepass && !c.client.authenticated;
            match c.parser.parse(&data[pos..], auth_required) {
                Ok(ParseStatus::Complete { consumed }) => {
                    let frame = &data[pos..pos + consumed];
                    let args: SmallVec<[&[u8]; 8]> = c.parser.args(frame).collect();
                    let holding = !c.replies.is_empty();
                    let out = if holding {
                        self.held.clear();
                        &mut self.held
                    } else {
                        match io.output(conn) {
                            Some(out) => out,
                            None => return data.len(),
                        }
                    };
                    let before = out.len();
                    let mut ctx = Ctx {
                        state: &state,
                        client: &mut c.client,
                        out,
                        counters: &mut self.counters,
                        commands: &mut self.commands,
                        worker: self.index,
                        now_ms: now,
                        ledger: None,
                    };
                    let failures = ctx.client.auth_failures;
                    let flow = commands::dispatch(&mut ctx, &args);
                    let auth_failed = ctx.client.auth_failures != failures;
                    let ledger = ctx.ledger.take();
                    let written = ctx.out.len().saturating_sub(before);
                    drop(args); // they may borrow the parser: end that before touching `self`
                    self.counters.net_output_bytes += written as u64;
                    pos += consumed;
                    if holding && !self.held.is_empty() {
                        let reply = self.held.split();
                        self.reply(io, conn, &reply, false, None);
                    }
                    if let Some(l) = ledger {
                        debug_assert_eq!(
                            written, 0,
                            "a ledger command leaves its reply to the runtime"
                        );
                        let outcome = self.submit_ledger(io, conn, l.request);
                        let clock = crate::stats::clock();
                        let stat = self.commands.get_mut(l.stat);
                        stat.calls += 1;
                        stat.nanos += clock.delta_as_nanos(l.started, clock.raw());
                        if outcome.is_some_and(|o| o.error) {
                            stat.failed += 1;
                        }
                    }
                    if flow == Flow::Close {
                        // After the replies before it (at once when none is outstanding).
                        self.reply(io, conn, &[], true, None);
                    }
                    if auth_failed && flow == Flow::Continue {
                        if let Some(c) = self.slot(conn) {
                            c.auth_delayed = true;
                            c.paused = true;
                            io.pause(conn);
                            io.set_timer(io.now() + AUTH_FAILURE_DELAY, conn.to_u64());
                        }
                        break;
                    }
                    match flow {
                        Flow::Continue => {}
                        Flow::Close => return data.len(),
                        Flow::Shutdown => {
                            shutdown = true;
                            break;
                        }
                    }
                }
                Ok(ParseStatus::Skip { consumed }) => pos += consumed,
                Ok(ParseStatus::Incomplete { needed }) => {
                    c.needed = needed;
                    break;
                }
                Err(e) => {
                    let mut reply = BytesMut::new();
                    let message = e.message();
                    protocol::resp::Reply::new(&mut reply, c.client.resp()).error(&message);
                    self.count_error(&message);
                    self.reply(io, conn, &reply, true, None);
                    return data.len();
                }
            }
        }
        self.counters.net_input_bytes += pos as u64;
        if shutdown {
            self.runtime.shutdown_all();
        }
        pos
    }
}

impl Worker {
    /// Closes connections that did not authenticate within `[security] auth_timeout` while a
    /// password is set: each holds a `max_clients` place.
    fn close_unauthenticated(&mut self, io: &mut Io<'_>) {
        let state = self.runtime.state.clone();
        let limit = state.options.auth_timeout_secs;
        if limit == 0 || !state.acl.default_requires_auth() {
            return;
        }
        let limit = Duration::from_secs(limit);
        let now = io.now();
        let late: Vec<ConnId> = self
            .connections
            .iter()
            .flatten()
            .filter(|(_, c)| state.auth_required(&c.client))
            .filter(|(_, c)| now.duration_since(c.accepted_at) > limit)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.counters.auth_timeouts += 1;
            io.close(id);
        }
    }

    /// Publishes this worker's connections' buffer memory and, when all workers' together
    /// exceed `max_client_memory`, closes the largest clients first, as Redis evicts them: this
    /// worker's clients that are at least as large as the largest on any other worker, until
    /// the excess is freed. Checked every tick, on figures published at the workers' last
    /// ticks: a burst can overshoot the cap by what arrives within one.
    fn enforce_client_memory(&mut self, io: &mut Io<'_>) {
        let state = self.runtime.state.clone();
        let mut usage: Vec<(u64, ConnId)> = self
            .connections
            .iter()
            .flatten()
            .map(|(id, _)| (io.buffer_memory(*id) as u64, *id))
            .collect();
        usage.sort_unstable_by_key(|u| std::cmp::Reverse(u.0));
        let here: u64 = usage.iter().map(|(b, _)| *b).sum();
        let largest = usage.first().map_or(0, |u| u.0);
        state.publish_client_memory(self.index, here, largest);
        let cap = state
            .max_client_memory
            .load(std::sync::atomic::Ordering::Relaxed);
        let total = state.client_memory();
        if cap == 0 || total <= cap {
            return;
        }
        let elsewhere = state.largest_client_elsewhere(self.index);
        let mut excess = total - cap;
        let mut freed = 0;
        let mut kept = usage.iter().map(|u| u.0);
        for &(bytes, id) in &usage {
            if excess == 0 || bytes < elsewhere || bytes == 0 {
                break;
            }
            kept.next();
            io.close_now(id);
            self.counters.evicted_clients += 1;
            freed += bytes;
            excess = excess.saturating_sub(bytes);
        }
        let largest = kept.next().unwrap_or(0);
        state.publish_client_memory(self.index, here - freed, largest);
    }

    /// Expires due pending transfers of the partitions this worker owns (timer-driven, so it
    /// happens with no traffic).
    fn expire_pending(&mut self) {
        let ledger = &self.runtime.state.ledger;
        let now = ledger_ops::now_ns();
        for &p in &self.owned_partitions {
            ledger_ops::expire(ledger, p, now);
        }
        // Their effects go to this worker's log with the next group.
        self.stage_effects();
    }
}

impl Handler for Worker {
    fn on_accept(&mut self, io: &mut Io<'_>, conn: ConnId, accepted: &Accepted) {
        self.counters.connections_received += 1;
        let state = &self.runtime.state;
        if state.clients.len() >= state.max_clients.load(std::sync::atomic::Ordering::Relaxed) {
            self.counters.rejected_connections += 1;
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(b"-ERR max number of clients reached\r\n");
            }
            io.close(conn);
            return;
        }
        if state.denies_unprotected(accepted.peer) {
            // Binary-protocol clients get the same text: they cannot authenticate at all.
            self.counters.rejected_connections += 1;
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(crate::state::PROTECTED_MODE_DENIED.as_bytes());
            }
            io.close(conn);
            return;
        }
        let mailbox = self.mailbox.clone();
        let waker = self.waker.clone();
        let info = ConnectionInfo {
            peer: accepted.peer,
            local: accepted.local,
            fd: accepted.fd,
            worker: self.index,
        };
        let generation = state.acl.generation();
        let client = state.clients.register(
            info,
            Arc::new(move |client_id| {
                mailbox.kills.lock().push(client_id);
                waker.wake();
            }),
            state.acl.default_user(),
            generation,
        );
        if self.connections.len() <= conn.index() {
            self.connections.resize_with(conn.index() + 1, || None);
        }
        let binary =
            self.listener_protocols.get(accepted.listener) == Some(&ListenerProtocol::Binary);
        self.connections[conn.index()] = Some((conn, Connection::new(client, self.limits, binary)));
        self.counters.connected_clients += 1;
    }

    fn on_data(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize {
        match self.slot(conn) {
            None => data.len(),
            Some(c) if c.binary => self.serve_binary(io, conn, data),
            Some(_) => self.serve(io, conn, data),
        }
    }

    fn on_close(&mut self, _io: &mut Io<'_>, conn: ConnId) {
        if let Some(slot) = self.connections.get_mut(conn.index()) {
            if let Some((id, c)) = slot.take() {
                if id == conn {
                    self.runtime.state.clients.unregister(&c.client);
                    self.counters.connected_clients -= 1;
                } else {
                    *slot = Some((id, c));
                }
            }
        }
    }

    fn on_wake(&mut self, io: &mut Io<'_>) {
        self.counters.worker_wakeups += 1;
        self.drain_mesh(io);
        self.collect_log(io);
        let kills = std::mem::take(&mut *self.mailbox.kills.lock());
        for client_id in kills {
            let target = self
                .connections
                .iter()
                .flatten()
                .find(|(_, c)| c.client.id() == client_id)
                .map(|(id, _)| *id);
            if let Some(id) = target {
                io.close(id);
            }
        }
        if self.runtime.state.shutdown_requested() {
            self.begin_shutdown(io);
        }
    }

    fn on_start(&mut self, io: &mut Io<'_>) {
        io.set_timer(Instant::now() + CRON, TIMER_CRON);
    }

    fn on_timer(&mut self, io: &mut Io<'_>, token: u64) {
        if token != TIMER_CRON {
            // A failed AUTH's delay is over.
            let conn = ConnId::from_u64(token);
            if let Some(c) = self.slot(conn) {
                c.auth_delayed = false;
                if c.may_resume() {
                    c.paused = false;
                    io.resume(conn);
                }
            }
            return;
        }
        self.ticks += 1;
        let state = self.runtime.state.clone();
        let now = now_ms();
        self.expire_pending();
        if let Some(log) = self.log.as_mut().filter(|l| l.out_of_space()) {
            if let Err(e) = log.prepare_segments(false) {
                crate::durability::fail_stop(&e);
            }
        }
        if self.index == 0 {
            // One worker does the store-wide housekeeping.
            state.cache.active_expire(now, ACTIVE_EXPIRE_SHARDS);
            state.sample_ops(now);
        }
        let idle_secs = state
            .idle_timeout_secs
            .load(std::sync::atomic::Ordering::Relaxed);
        if idle_secs > 0 && self.ticks % IDLE_SWEEP_TICKS == 0 {
            let timeout = Duration::from_secs(idle_secs);
            let instant = Instant::now();
            let idle: Vec<ConnId> = self
                .connections
                .iter()
                .flatten()
                .filter(|(_, c)| instant.duration_since(c.last_active) > timeout)
                .map(|(id, _)| *id)
                .collect();
            for id in idle {
                io.close(id);
            }
        }
        if self.ticks % IDLE_SWEEP_TICKS == 0 {
            self.close_unauthenticated(io);
        }
        self.enforce_client_memory(io);
        if !self.shutting_down {
            io.set_timer(Instant::now() + CRON, TIMER_CRON);
        }
    }

    fn on_turn_end(&mut self, io: &mut Io<'_>) {
        self.flush_log(io);
        self.flush_outbox();
        self.counters.recv_buffer_parks = io.recv_buffer_parks();
        self.counters.coalesced_waits = io.coalesced_waits();
        self.publish_turn(io.now());
    }
}
