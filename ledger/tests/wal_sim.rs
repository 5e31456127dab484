//! The ledger and its write-ahead log under simulated crashes: what a client was told survives,
//! and recovery rebuilds a state the ledger really had.
//!
//! Each seed runs a ledger of 1-4 partitions and 1 or 2 simulated workers, each with its own
//! log on a [`SimStore`] (4-32 KiB segments, so logs roll over; random group size limit and
//! write alignment).
//! As in the server, every request executes holding the partitions (here all of them) with
//! effects recording on, and its effects payload is staged as one record in the open group of
//! a worker's log, chosen at random (the server's slow path logs a partition's part on a
//! non-owner worker). A worker's turn ends by taking the open group and writing it; a later
//! step syncs it and completes it (one group in flight per worker), so crashes land between
//! writes and syncs and tear unsynced sectors. The open group is also sent early when the next
//! record does not fit, as the server does. Writes and syncs sometimes fail with EIO: the
//! process dies, i.e. every store crashes. Each seed crashes 3-5 times (a few lives end with a
//! clean shutdown first), and every life continues from the recovered ledger: each log is
//! sealed and resumed, new effects go on top, so later crashes recover logs of several lives.
//! As start-up does, a recovery that saw parts it did not apply (beyond a gap) then logs a
//! *resume record* before anything new: for each partition whose highest seq seen
//! (`ReplaySummary::max_seen`) exceeds the recovered one, a resume part one above it (with the
//! recovered clock), and the recovered ledger continues there (`skip_effects_to`). It goes to
//! worker 0's log, appended, written and synced on its own right after sealing, as the server's
//! `write_now`; it is part of the history (below) but no batch.
//!
//! The reply rule is modelled as the server applies it: a request's *snapshot* is
//! `effect_seqs()` right after it executed; a partition's durable watermark is the highest seq
//! `s` such that parts `1..=s` are all in completed groups (of any log); a request is
//! *acknowledged* once its own group completed (if it logged anything) and every watermark is
//! at or above its snapshot. Every commit logs a part (one that changed nothing but the clock
//! logs a clock-only part for its first partition); a request that commits nothing (a timer
//! sweep with nothing due) logs nothing, and is acknowledged as soon as the watermarks cover
//! its snapshot. Each life's watermarks start at the recovered ledger's seqs (resume included).
//!
//! After each crash every log is recovered, its batch records replayed with
//! `Ledger::replay_batches` into a fresh ledger (as start-up does), and:
//! 1. every acknowledged batch is applied: each account it created is there with the same bytes
//!    (balances and the `closed` flag aside, which later transfers change), each transfer with
//!    identical bytes, each burned id burned, each expired transfer expired; `verify()` passes.
//! 2. exactly the expected batches are applied: the entries of the current history (what the
//!    last recovery applied, its resume record if any, then this life's batches) whose records
//!    survived, in commit order, each batch applied when every part is its partition's next
//!    seq, and each resume part moving its partition, if at or below the part's seq, just past
//!    it (the seqs between are void). Records of batches an earlier recovery dropped (beyond a
//!    gap) may still lie in the logs; they belong to no history and must never apply. The
//!    replay's batch and dropped counts must match (resume records count as neither), and the
//!    recovered state (accounts, transfers, pending states, burned ids, per-account transfer
//!    lists and balances, queries, effect seqs, clock) must equal that of replaying the
//!    expected entries in commit order. When what survived is a prefix of the commit order
//!    (always, with one log), it must also equal the reference model's state after that
//!    prefix. Every earlier history entry (resume records included) must still apply.
//! 3. the clock resumes above every timestamp an acknowledged request was handed out (failed
//!    events' included: each event consumes its timestamp) and above every recovered one: a
//!    probe, an account that fails (id 0) at a wall clock of 1 ns, must get a later one. The
//!    probe is the new life's first request (the model runs it too); it logs its clock-only
//!    part and is staged and acknowledged like any request.
//!
//! The model follows the recovered ledger as simply as is sound: each life starts from a model
//! of the recovered state (its *base*) and runs every request beside the ledger, whose results
//! must agree. After a crash that leaves a prefix of the commit order, the new base is the old
//! base with this life's requests re-run up to the last batch that survived: requests that
//! logged nothing (they changed nothing) count as survivors only up to there. With two logs a crash can leave a
//! non-prefix (a later batch of one partition survives in one log while an earlier batch of
//! another partition is lost in the other); no model state matches that, so the model is
//! retired for the rest of the seed and checks 1-3 go on without it.
//!
//! `WAL_SEEDS=N` runs N seeds (default 1000); `WAL_SEED=S` replays one seed and prints its
//! trace. Findings are collected per check over all seeds; the test fails with, per check, how
//! many seeds broke it and the first one, with the command that replays it. A broken clock
//! (check 3) does not end a seed, since the state is still sound; any other finding does.

#[path = "common/gen.rs"]
mod gen;

use gen::Gen;
use ledger::effects;
use ledger::flags::{account as af, account_filter as ff};
use ledger::reference::Model;
use ledger::{
    Account, AccountBalance, AccountFilter, CreateResult, Ledger, LedgerConfig, PendingState,
    QueryFilter, Transfer,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{Debug, Write as _};
use wal::{
    recover, seal, GroupWrite, RecordKind, Recovered, SegmentStore, SimRng, SimStore, WalConfig,
    WalWriter,
};

const MAX_ACCOUNTS: usize = 512;
/// Room for every transfer and burned id a seed can make (at most ~300 batches of 12 events).
const MAX_TRANSFERS: usize = 4096;
/// The simulated wall clock's start (ns), as in model.rs.
const START_NS: u64 = 10_000_000_000;

/// A request, kept so the model can run it again.
#[derive(Clone, Debug)]
enum Op {
    Accounts {
        events: Vec<Account>,
        now: u64,
    },
    Transfers {
        events: Vec<Transfer>,
        now: u64,
    },
    /// The expiry timer, which runs with no batch arriving.
    Expire {
        now: u64,
    },
    /// The clock probe run after each recovery (see check 3).
    Probe {
        now: u64,
    },
    /// A recovery's resume record (see the module doc): no request, never run.
    Resume,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Results(Vec<CreateResult>),
    Expired(usize),
}

impl Outcome {
    /// The newest timestamp handed out to the client.
    fn newest(&self) -> u64 {
        match self {
            Outcome::Results(r) => r.iter().map(|r| r.timestamp).max().unwrap_or(0),
            Outcome::Expired(_) => 0,
        }
    }
}

/// Fails (`id_must_not_be_zero`) without changing anything but the clock.
fn probe_account() -> Account {
    Account {
        id: 0,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

impl Op {
    fn on_model(&self, m: &mut Model) -> Outcome {
        match self {
            Op::Accounts { events, now } => Outcome::Results(m.create_accounts(events, *now)),
            Op::Transfers { events, now } => Outcome::Results(m.create_transfers(events, *now)),
            Op::Expire { now } => Outcome::Expired(m.expire(*now)),
            Op::Probe { now } => Outcome::Results(m.create_accounts(&[probe_account()], *now)),
            Op::Resume => unreachable!("a resume record is no request"),
        }
    }

    /// Runs the request on `ledger` holding every partition; returns its outcome and the
    /// effects its commits recorded (empty when it changed nothing).
    fn on_ledger(&self, ledger: &Ledger) -> Result<(Outcome, Vec<u8>), String> {
        let mut held = ledger.lock_all();
        held.record_effects(Vec::new());
        let mut results = Vec::new();
        let outcome = match self {
            Op::Accounts { events, now } => {
                ledger
                    .create_accounts(&mut held, events, *now, &mut results)
                    .map_err(|e| e.to_string())?;
                Outcome::Results(results)
            }
            Op::Transfers { events, now } => {
                ledger
                    .create_transfers(&mut held, events, *now, &mut results)
                    .map_err(|e| e.to_string())?;
                Outcome::Results(results)
            }
            Op::Expire { now } => Outcome::Expired(ledger.expire_pending(&mut held, *now)),
            Op::Probe { now } => {
                ledger
                    .create_accounts(&mut held, &[probe_account()], *now, &mut results)
                    .map_err(|e| e.to_string())?;
                Outcome::Results(results)
            }
            Op::Resume => unreachable!("a resume record is no request"),
        };
        let payload = held.take_effects().unwrap_or_default();
        Ok((outcome, payload))
    }

    fn describe(&self) -> String {
        match self {
            Op::Accounts { events, now } => format!("create_accounts x{} now {now}", events.len()),
            Op::Transfers { events, now } => {
                format!("create_transfers x{} now {now}", events.len())
            }
            Op::Expire { now } => format!("expire_pending now {now}"),
            Op::Probe { now } => format!("clock probe now {now}"),
            Op::Resume => "resume record".into(),
        }
    }
}

/// One executed request, or a recovery's resume record (`op` is `Op::Resume`).
struct Batch {
    op: Op,
    life: usize,
    /// The worker whose log got its record (meaningless when `payload` is empty).
    worker: usize,
    /// Its effects, one WAL record; empty when it changed nothing.
    payload: Vec<u8>,
    /// `(partition, seq)` of its parts, in payload order.
    parts: Vec<(usize, u64)>,
    /// `effect_seqs()` right after it executed: what its reply waits for.
    snapshot: Vec<u64>,
    /// The newest timestamp its reply carried.
    newest: u64,
    /// Its group completed (written and synced).
    durable: bool,
    acked: bool,
}

impl Batch {
    fn is_resume(&self) -> bool {
        matches!(self.op, Op::Resume)
    }
}

struct Worker {
    config: WalConfig,
    store: SimStore,
    writer: WalWriter,
    /// Batches in the open group.
    open: Vec<usize>,
    /// The group written but not yet synced, and its batches.
    flight: Option<(GroupWrite, Vec<usize>)>,
}

#[derive(Clone, Debug, Default)]
struct Stats {
    batches: u64,
    logged: u64,
    acked: u64,
    groups: u64,
    crashes: u64,
    eio: u64,
    clean_stops: u64,
    torn_tails: u64,
    /// Live batches whose record survived but lay beyond a gap.
    beyond_gap: u64,
    /// Records of batches dropped by an earlier recovery, found in the logs again.
    stale_records: u64,
    /// Recoveries that left a non-prefix of the commit order (two logs only).
    non_prefix: u64,
    /// Resume records logged, and resume records recovered again later.
    resumes: u64,
    resumes_recovered: u64,
    model_checks: u64,
    max_segment: u64,
    max_payload: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.batches += o.batches;
        self.logged += o.logged;
        self.acked += o.acked;
        self.groups += o.groups;
        self.crashes += o.crashes;
        self.eio += o.eio;
        self.clean_stops += o.clean_stops;
        self.torn_tails += o.torn_tails;
        self.beyond_gap += o.beyond_gap;
        self.stale_records += o.stale_records;
        self.non_prefix += o.non_prefix;
        self.resumes += o.resumes;
        self.resumes_recovered += o.resumes_recovered;
        self.model_checks += o.model_checks;
        self.max_segment = self.max_segment.max(o.max_segment);
        self.max_payload = self.max_payload.max(o.max_payload);
    }
}

/// A check that failed.
#[derive(Debug)]
struct Failure {
    check: &'static str,
    detail: String,
}

type Res<T> = Result<T, Failure>;

fn fail<T>(check: &'static str, detail: String) -> Res<T> {
    Err(Failure { check, detail })
}

/// Everything a recovered ledger must reproduce, in comparable form.
#[derive(Debug, PartialEq)]
struct View {
    accounts: Vec<Account>,
    transfers: Vec<Transfer>,
    pending: Vec<(u128, PendingState)>,
    orphans: Vec<u128>,
    /// Per account: its transfers and balance history, both sides, oldest first.
    lists: Vec<(u128, Vec<Transfer>, Vec<AccountBalance>)>,
    query_accounts: Vec<Account>,
    query_transfers: Vec<Transfer>,
}

fn every_transfer_of(id: u128) -> AccountFilter {
    AccountFilter {
        account_id: id,
        limit: ledger::BATCH_MAX as u32,
        flags: ff::DEBITS | ff::CREDITS,
        ..AccountFilter::default()
    }
}

fn everything() -> QueryFilter {
    QueryFilter {
        limit: ledger::BATCH_MAX as u32,
        ..QueryFilter::default()
    }
}

impl View {
    fn of_ledger(l: &Ledger) -> View {
        let accounts = l.all_accounts();
        let (pending, mut orphans) = l.pending_states_and_orphans();
        orphans.sort_unstable();
        let lists = accounts
            .iter()
            .map(|a| {
                let f = every_transfer_of(a.id);
                (
                    a.id,
                    l.get_account_transfers(&f),
                    l.get_account_balances(&f),
                )
            })
            .collect();
        View {
            accounts,
            transfers: l.all_transfers(),
            pending: pending.into_iter().collect(),
            orphans,
            lists,
            query_accounts: l.query_accounts(&everything()),
            query_transfers: l.query_transfers(&everything()),
        }
    }

    fn of_model(m: &Model) -> View {
        let accounts = m.accounts();
        let transfers = m.transfers();
        let pending = transfers
            .iter()
            .filter_map(|t| m.pending_state(t.id).map(|s| (t.id, s)))
            .collect();
        let lists = accounts
            .iter()
            .map(|a| {
                let f = every_transfer_of(a.id);
                (
                    a.id,
                    m.get_account_transfers(&f),
                    m.get_account_balances(&f),
                )
            })
            .collect();
        View {
            accounts,
            transfers,
            pending,
            orphans: m.orphans(),
            lists,
            query_accounts: m.query_accounts(&everything()),
            query_transfers: m.query_transfers(&everything()),
        }
    }

    /// The first difference of each part that differs.
    fn diff(&self, other: &View, a: &str, b: &str) -> String {
        fn first<T: PartialEq + Debug>(out: &mut String, what: &str, x: &[T], y: &[T]) {
            if x == y {
                return;
            }
            let i = x.iter().zip(y).take_while(|(p, q)| p == q).count();
            let _ = writeln!(
                out,
                "  {what}: {} vs {} entries; first difference at {i}:\n    {:?}\n    {:?}",
                x.len(),
                y.len(),
                x.get(i),
                y.get(i)
            );
        }
        let mut out = format!("(first: {a}, second: {b})\n");
        first(&mut out, "accounts", &self.accounts, &other.accounts);
        first(&mut out, "transfers", &self.transfers, &other.transfers);
        first(&mut out, "pending states", &self.pending, &other.pending);
        first(&mut out, "burned ids", &self.orphans, &other.orphans);
        first(&mut out, "account lists", &self.lists, &other.lists);
        first(
            &mut out,
            "query_accounts",
            &self.query_accounts,
            &other.query_accounts,
        );
        first(
            &mut out,
            "query_transfers",
            &self.query_transfers,
            &other.query_transfers,
        );
        out
    }
}

/// An account as created: what later transfers change (balances, `closed`) set aside.
fn as_created(mut a: Account) -> Account {
    a.debits_pending = 0;
    a.debits_posted = 0;
    a.credits_pending = 0;
    a.credits_posted = 0;
    a.flags &= !af::CLOSED;
    a
}

struct Sim {
    rng: SimRng,
    gen: Gen,
    config: LedgerConfig,
    ledger: Ledger,
    workers: Vec<Worker>,
    batches: Vec<Batch>,
    /// Every logged payload, to identify recovered records.
    by_payload: HashMap<Vec<u8>, usize>,
    /// The current history in commit order: the batches the last recovery applied, then every
    /// request of this life (from `life_start`).
    live: Vec<usize>,
    life_start: usize,
    life: usize,
    /// The model of the recovered state this life started from, and the model now (both None
    /// once retired).
    base: Option<Model>,
    model: Option<Model>,
    /// Per partition: the durable watermark, and durable seqs above a gap.
    through: Vec<u64>,
    ahead: Vec<BTreeSet<u64>>,
    /// Requests of this life not acknowledged yet.
    waiting: Vec<usize>,
    /// The newest timestamp handed out by an acknowledged request, and which one.
    acked_newest: (u64, usize),
    now: u64,
    trace: Option<String>,
    stats: Stats,
}

impl Sim {
    fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = SimRng::new(seed);
        // Every combination of partitions and workers, evenly.
        let partitions = 1 + (seed % 4) as usize;
        let n_workers = 1 + (seed / 4 % 2) as usize;
        let gen = Gen::new(
            StdRng::seed_from_u64(seed),
            [4, 8, 16][rng.below(3) as usize],
            [12, 24, 64][rng.below(3) as usize],
            [1, 2, 3][rng.below(3) as usize],
        );
        // Small segments, so that logs roll over into new ones, several lives in one segment
        // and one life across several.
        let segment_size = [4u64 << 10, 8 << 10, 32 << 10][rng.below(3) as usize];
        let max_group_bytes = [4usize << 10, 8 << 10, segment_size as usize][rng.below(3) as usize]
            .min(segment_size as usize);
        let write_align = [16usize, 512, 4096][rng.below(3) as usize];
        let dir_id = rng.next_u64() | 1;
        let workers = (0..n_workers)
            .map(|w| {
                let config = WalConfig {
                    segment_size,
                    max_group_bytes,
                    write_align,
                    ..WalConfig::new(w as u16, dir_id)
                };
                let writer = WalWriter::new(config.clone()).expect("valid WAL config");
                let store = SimStore::new(rng.next_u64(), &format!("core-{w:02}"));
                Worker {
                    config,
                    store,
                    writer,
                    open: Vec::new(),
                    flight: None,
                }
            })
            .collect();
        let config = LedgerConfig {
            partitions,
            max_accounts: MAX_ACCOUNTS,
            max_transfers: MAX_TRANSFERS,
            prefault: false,
        };
        let mut sim = Sim {
            rng,
            gen,
            ledger: Ledger::new(config.clone()).expect("ledger"),
            config,
            workers,
            batches: Vec::new(),
            by_payload: HashMap::new(),
            live: Vec::new(),
            life_start: 0,
            life: 0,
            base: Some(Model::new()),
            model: Some(Model::new()),
            through: vec![0; partitions],
            ahead: vec![BTreeSet::new(); partitions],
            waiting: Vec::new(),
            acked_newest: (0, usize::MAX),
            now: START_NS,
            trace: trace.then(String::new),
            stats: Stats::default(),
        };
        for w in 0..sim.workers.len() {
            sim.prepare(w);
        }
        sim.log(|| {
            format!(
                "{partitions} partitions, {n_workers} workers, segments {segment_size}, groups \
                 up to {max_group_bytes}, align {write_align}"
            )
        });
        sim
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            let _ = writeln!(t, "{}", f());
        }
    }

    /// Keeps the segments the writer wants ready (creation is atomic in the store).
    fn prepare(&mut self, w: usize) {
        let wk = &mut self.workers[w];
        while let Some(n) = wk.writer.needs_segment() {
            wk.store
                .create_segment(n, wk.config.segment_size)
                .expect("create a segment");
            wk.writer.segment_ready(n);
            self.stats.max_segment = self.stats.max_segment.max(n);
        }
    }

    /// One life: requests, timer sweeps and worker turns until a crash, an EIO (the process
    /// dies) or, sometimes, a clean shutdown first. The caller crashes every store afterwards.
    fn life(&mut self) -> Res<()> {
        let steps = self.rng.range(5, 120);
        for _ in 0..steps {
            let r = self.rng.below(100);
            let alive = if r < 45 {
                self.request()?
            } else if r < 50 {
                let now = self.now;
                self.execute(Op::Expire { now })?
            } else {
                let w = self.rng.below(self.workers.len() as u64) as usize;
                self.advance(w)?
            };
            if !alive {
                return Ok(());
            }
            if self.rng.chance(1) {
                return Ok(());
            }
        }
        if self.rng.chance(15) && self.stop_cleanly()? {
            self.stats.clean_stops += 1;
            self.log(|| "clean shutdown".into());
        }
        Ok(())
    }

    /// A client request, drawn as model.rs draws them. Ok(false): the process died.
    fn request(&mut self) -> Res<bool> {
        let g = &mut self.gen;
        self.now += g.pick(&[0, 1, 1_000, 300_000_000, 1_000_000_000, 2_500_000_000]);
        let now = self.now;
        let imported = g.chance(0.08);
        let op = if g.chance(0.35) {
            Op::Accounts {
                events: g.accounts_batch(imported, now),
                now,
            }
        } else {
            Op::Transfers {
                events: g.transfers_batch(imported, now),
                now,
            }
        };
        self.execute(op)
    }

    /// Executes `op` on the ledger (and the model), then stages its effects on a random
    /// worker's log. Ok(false): the process died (EIO while sending a full group).
    fn execute(&mut self, op: Op) -> Res<bool> {
        let (outcome, payload) = match op.on_ledger(&self.ledger) {
            Ok(x) => x,
            Err(e) => return fail("request refused", format!("{}: {e}", op.describe())),
        };
        if let Some(m) = &mut self.model {
            let expected = op.on_model(m);
            if outcome != expected {
                return fail(
                    "ledger diverged from the model",
                    format!(
                        "life {} {}: {op:#?}\nledger: {outcome:?}\nmodel:  {expected:?}",
                        self.life,
                        op.describe()
                    ),
                );
            }
        }
        let mut snapshot = Vec::new();
        self.ledger.effect_seqs(&mut snapshot);
        let parts = match effects::decode(&payload) {
            Ok(parts) => parts.iter().map(|p| (p.partition, p.seq)).collect(),
            Err(e) => return fail("effects malformed", e),
        };
        let worker = self.rng.below(self.workers.len() as u64) as usize;
        let id = self.batches.len();
        let newest = outcome.newest();
        self.log(|| {
            format!(
                "batch {id}: {} -> {} bytes, parts {parts:?}, on worker {worker}, snapshot \
                 {snapshot:?}, newest timestamp {newest}",
                op.describe(),
                payload.len()
            )
        });
        let logged = !payload.is_empty();
        self.batches.push(Batch {
            op,
            life: self.life,
            worker,
            payload,
            parts,
            snapshot,
            newest,
            durable: false,
            acked: false,
        });
        self.live.push(id);
        self.stats.batches += 1;
        self.waiting.push(id);
        if logged {
            self.stats.logged += 1;
            self.by_payload.insert(self.batches[id].payload.clone(), id);
            if !self.stage(worker, id)? {
                return Ok(false);
            }
        }
        self.update_acks()?;
        Ok(true)
    }

    /// Appends batch `id`'s record to worker `w`'s open group; a group that cannot take it is
    /// sent first, after the one in flight, as the server does. Ok(false): the process died.
    fn stage(&mut self, w: usize, id: usize) -> Res<bool> {
        let len = self.batches[id].payload.len();
        self.stats.max_payload = self.stats.max_payload.max(len);
        let max = self.workers[w].config.max_payload();
        if len > max {
            return fail(
                "payload larger than a record",
                format!("batch {id}: {len} bytes, the log's limit is {max}"),
            );
        }
        if !self.workers[w].writer.fits(len) {
            if self.workers[w].flight.is_some() && !self.finish(w)? {
                return Ok(false);
            }
            if !self.start_write(w)? {
                return Ok(false);
            }
            self.prepare(w);
        }
        let wk = &mut self.workers[w];
        match wk
            .writer
            .append(RecordKind::Batch, &self.batches[id].payload)
        {
            Ok(_) => wk.open.push(id),
            Err(e) => return fail("WAL append failed", format!("batch {id}: {e}")),
        }
        self.prepare(w);
        Ok(true)
    }

    /// Moves worker `w`'s log one stage on: sync the group in flight, or take and write the
    /// open one. Ok(false): the process died.
    fn advance(&mut self, w: usize) -> Res<bool> {
        if self.workers[w].flight.is_some() {
            self.finish(w)
        } else {
            self.start_write(w)
        }
    }

    /// Takes worker `w`'s open group (none in flight) and writes it, unsynced.
    fn start_write(&mut self, w: usize) -> Res<bool> {
        let eio = self.rng.chance(2);
        let wk = &mut self.workers[w];
        let Some(write) = wk.writer.take_write() else {
            return Ok(true);
        };
        if eio {
            wk.store.fail_next_write();
        }
        let (g, s, o, n) = (
            write.group(),
            write.segment(),
            write.offset(),
            write.bytes().len(),
        );
        if let Err(e) = wk.store.write(s, o, write.bytes()) {
            self.stats.eio += 1;
            self.log(|| format!("worker {w}: writing group {g}: {e}: the process dies"));
            return Ok(false);
        }
        let ids = std::mem::take(&mut wk.open);
        self.log(|| format!("worker {w}: group {g} {ids:?} written ({n} bytes at {s}:{o})"));
        self.workers[w].flight = Some((write, ids));
        Ok(true)
    }

    /// Syncs worker `w`'s group in flight and completes it: its parts become durable.
    fn finish(&mut self, w: usize) -> Res<bool> {
        let eio = self.rng.chance(2);
        let wk = &mut self.workers[w];
        let Some((write, ids)) = wk.flight.take() else {
            return Ok(true);
        };
        if eio {
            wk.store.fail_next_sync();
        }
        let g = write.group();
        if let Err(e) = wk.store.sync(write.segment()) {
            self.stats.eio += 1;
            self.log(|| format!("worker {w}: syncing group {g}: {e}: the process dies"));
            return Ok(false);
        }
        wk.writer.complete(write);
        self.prepare(w);
        self.stats.groups += 1;
        self.log(|| format!("worker {w}: group {g} durable"));
        for &id in &ids {
            self.batches[id].durable = true;
            for i in 0..self.batches[id].parts.len() {
                let (p, seq) = self.batches[id].parts[i];
                if seq <= self.through[p] || !self.ahead[p].insert(seq) {
                    return fail(
                        "a part made durable twice",
                        format!("partition {p} seq {seq} (batch {id})"),
                    );
                }
                while self.ahead[p].remove(&(self.through[p] + 1)) {
                    self.through[p] += 1;
                }
            }
        }
        self.update_acks()?;
        Ok(true)
    }

    /// Acknowledges every waiting request whose group completed and whose snapshot the
    /// watermarks cover.
    fn update_acks(&mut self) -> Res<()> {
        let mut still = Vec::with_capacity(self.waiting.len());
        for &id in &self.waiting {
            let b = &mut self.batches[id];
            let covered = b.snapshot.iter().zip(&self.through).all(|(s, d)| s <= d);
            let logged = !b.payload.is_empty();
            if covered && logged && !b.durable {
                // Its own parts are in its snapshot, so they cannot be durable without it.
                return fail(
                    "watermarks cover a batch not on disk",
                    format!("batch {id}: snapshot {:?} parts {:?}", b.snapshot, b.parts),
                );
            }
            if !covered {
                still.push(id);
                continue;
            }
            b.acked = true;
            self.stats.acked += 1;
            if b.newest > self.acked_newest.0 {
                self.acked_newest = (b.newest, id);
            }
            if let Some(t) = &mut self.trace {
                let _ = writeln!(t, "batch {id} acknowledged");
            }
        }
        self.waiting = still;
        Ok(())
    }

    /// A graceful stop: every staged group written and synced, then a clean-shutdown record.
    /// Ok(false): the process died on the way.
    fn stop_cleanly(&mut self) -> Res<bool> {
        for w in 0..self.workers.len() {
            loop {
                let wk = &self.workers[w];
                let alive = if wk.flight.is_some() {
                    self.finish(w)?
                } else if wk.writer.open_bytes() > 0 {
                    self.start_write(w)?
                } else {
                    break;
                };
                if !alive {
                    return Ok(false);
                }
            }
            self.prepare(w);
            if let Err(e) = self.workers[w]
                .writer
                .append(RecordKind::CleanShutdown, &[])
            {
                return fail("WAL append failed", format!("clean shutdown record: {e}"));
            }
            if !self.start_write(w)? || !self.finish(w)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After a recovery, before anything new is logged, as the server's start-up does: where
    /// the replay saw a partition's seqs beyond the recovered one (parts it dropped), a resume
    /// part one above the highest seen, at the recovered clock; the ledger continues there.
    /// All of them go as one record into worker 0's log, written and synced on their own.
    /// Returns the record's id, if one was logged.
    fn log_resume(
        &mut self,
        recovered_seqs: &[u64],
        max_seen: &[u64],
        newest: u64,
    ) -> Res<Option<usize>> {
        if max_seen.len() != recovered_seqs.len() {
            return fail(
                "replay summary without max_seen per partition",
                format!("max_seen {max_seen:?}, seqs {recovered_seqs:?}"),
            );
        }
        let mut payload = Vec::new();
        let mut parts = Vec::new();
        for (p, (&have, &seen)) in recovered_seqs.iter().zip(max_seen).enumerate() {
            if seen > have {
                effects::encode_resume(&mut payload, p, seen + 1, newest);
                self.ledger.skip_effects_to(p, seen + 1);
                parts.push((p, seen + 1));
            }
        }
        if payload.is_empty() {
            return Ok(None);
        }
        match effects::decode(&payload) {
            Ok(decoded)
                if decoded
                    .iter()
                    .map(|x| (x.partition, x.seq))
                    .eq(parts.iter().copied())
                    && decoded.iter().all(|x| x.resume && x.clock == newest) => {}
            Ok(_) => return fail("resume record malformed", format!("parts {parts:?}")),
            Err(e) => return fail("resume record malformed", e),
        }
        let id = self.batches.len();
        let mut snapshot = Vec::new();
        self.ledger.effect_seqs(&mut snapshot);
        self.stats.resumes += 1;
        self.stats.max_payload = self.stats.max_payload.max(payload.len());
        let life = self.life;
        self.log(|| {
            format!(
                "life {life}: resume record {id} on worker 0, parts {parts:?} (max seen \
                 {max_seen:?}, recovered {recovered_seqs:?}), clock {newest}"
            )
        });
        let wk = &mut self.workers[0];
        if !wk.writer.fits(payload.len()) {
            return fail(
                "resume record does not fit",
                format!("{} bytes into a fresh group", payload.len()),
            );
        }
        if let Err(e) = wk.writer.append(RecordKind::Batch, &payload) {
            return fail("WAL append failed", format!("resume record: {e}"));
        }
        let Some(write) = wk.writer.take_write() else {
            return fail("resume record not written", "nothing to write".into());
        };
        if let Err(e) = wk
            .store
            .write(write.segment(), write.offset(), write.bytes())
            .and_then(|_| wk.store.sync(write.segment()))
        {
            return fail("resume record not written", e.to_string());
        }
        wk.writer.complete(write);
        self.prepare(0);
        self.by_payload.insert(payload.clone(), id);
        self.batches.push(Batch {
            op: Op::Resume,
            life,
            worker: 0,
            payload,
            parts,
            snapshot,
            newest,
            durable: true,
            acked: false,
        });
        Ok(Some(id))
    }

    /// Power loss everywhere, then recovery and the checks; the next life starts from the
    /// recovered ledger. A broken clock (check 3) is returned, not failed: the seed goes on.
    fn crash_and_recover(&mut self) -> Res<Option<String>> {
        for wk in &mut self.workers {
            wk.store.crash();
        }
        self.stats.crashes += 1;
        let mut recovered: Vec<Recovered> = Vec::new();
        for (w, wk) in self.workers.iter_mut().enumerate() {
            match recover(&mut wk.store, &wk.config) {
                Ok(r) => recovered.push(r),
                Err(e) => return fail("WAL recovery refused", format!("worker {w}: {e}")),
            }
        }
        self.stats.torn_tails += recovered.iter().filter(|r| r.torn().is_some()).count() as u64;

        // The records, in the order start-up hands them to replay_batches, and whose they are.
        let mut payloads: Vec<&[u8]> = Vec::new();
        let mut ids: Vec<usize> = Vec::new();
        for (w, r) in recovered.iter().enumerate() {
            for rec in r.records().iter().filter(|r| r.kind == RecordKind::Batch) {
                let Some(&id) = self.by_payload.get(&rec.payload) else {
                    return fail(
                        "recovered a record never logged",
                        format!("worker {w} at {:?}", rec.at),
                    );
                };
                if self.batches[id].worker != w {
                    return fail(
                        "recovered a record from another log",
                        format!("batch {id} of worker {}, in {w}", self.batches[id].worker),
                    );
                }
                payloads.push(&rec.payload);
                ids.push(id);
            }
        }
        let present: HashSet<usize> = ids.iter().copied().collect();
        if present.len() != ids.len() {
            return fail("recovered a record twice", format!("{ids:?}"));
        }

        // Check 2's expectation: the history's surviving entries in commit order, each batch
        // applied when every part is its partition's next seq, each resume part moving a
        // partition at or below its seq just past it (the seqs between are void: dropped by
        // the recovery that wrote it). A single pass suffices: an entry's predecessors in each
        // partition come before it in commit order. `applied` holds the resume records that
        // took effect too (they stay in the history), but they are no batches.
        let mut next = vec![1u64; self.config.partitions];
        let mut applied: Vec<usize> = Vec::new();
        for &id in &self.live {
            let b = &self.batches[id];
            if b.payload.is_empty() || !present.contains(&id) {
                continue;
            }
            if b.is_resume() {
                for &(p, r) in &b.parts {
                    if next[p] <= r {
                        next[p] = r + 1;
                    }
                }
                applied.push(id);
                continue;
            }
            let mut want = next.clone();
            let ready = b.parts.iter().all(|&(p, s)| {
                let ok = s == want[p];
                want[p] += 1;
                ok
            });
            if ready {
                next = want;
                applied.push(id);
            }
        }
        let applied_set: HashSet<usize> = applied.iter().copied().collect();
        let live_set: HashSet<usize> = self.live.iter().copied().collect();
        let stale: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|id| !live_set.contains(id))
            .collect();
        self.stats.stale_records += stale.len() as u64;
        self.stats.beyond_gap += (ids.len() - stale.len() - applied.len()) as u64;
        let resumes: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&id| self.batches[id].is_resume())
            .collect();
        self.stats.resumes_recovered += resumes.len() as u64;
        let applied_batches = applied
            .iter()
            .filter(|&&id| !self.batches[id].is_resume())
            .count() as u64;
        let crash = self.stats.crashes;
        self.log(|| {
            format!(
                "crash {crash}: recovered {} records {ids:?} (resume records {resumes:?}); expect \
                 applied {applied:?}, partitions next at {next:?}; stale (dropped by an earlier \
                 recovery) {stale:?}",
                ids.len()
            )
        });

        let recovered_ledger = Ledger::new(self.config.clone()).expect("ledger");
        let summary = match recovered_ledger.replay_batches(&payloads, |i| {
            format!(
                "record {i} (batch {} of life {})",
                ids[i], self.batches[ids[i]].life
            )
        }) {
            Ok(s) => s,
            Err(e) => {
                return fail(
                    "replay_batches refused the logs",
                    format!(
                        "{e}\n  records {ids:?}; stale ones (dropped by an earlier recovery) \
                         {stale:?}"
                    ),
                )
            }
        };
        // Resume records are neither applied batches nor dropped ones.
        let dropped = ids
            .iter()
            .filter(|&id| !self.batches[*id].is_resume() && !applied_set.contains(id))
            .count() as u64;
        if summary.batches != applied_batches || summary.dropped != dropped {
            return fail(
                "replay applied other batches than expected",
                format!(
                    "applied {} dropped {}, expected {applied_batches} ({applied:?}) and \
                     {dropped}; records {ids:?}, resume records {resumes:?}, stale {stale:?}",
                    summary.batches, summary.dropped,
                ),
            );
        }
        if let Err(e) = recovered_ledger.verify() {
            return fail("recovered ledger breaks an invariant", e);
        }

        // Check 1: every acknowledged batch's effects are there.
        let (pending, _) = recovered_ledger.pending_states_and_orphans();
        for (id, b) in self.batches.iter().enumerate() {
            if !b.acked || b.payload.is_empty() {
                continue;
            }
            if !applied_set.contains(&id) {
                let why = if present.contains(&id) {
                    "its record survived but was not applied"
                } else {
                    "its record is gone"
                };
                return fail(
                    "acknowledged batch lost",
                    format!("batch {id} (life {}, parts {:?}): {why}", b.life, b.parts),
                );
            }
            let parts = effects::decode(&b.payload).expect("decoded before");
            for part in &parts {
                for a in part.accounts() {
                    let got = recovered_ledger.lookup_account(a.id).map(as_created);
                    if got != Some(as_created(a)) {
                        return fail(
                            "acknowledged account missing or changed",
                            format!("batch {id}: {a:?}\nrecovered: {got:?}"),
                        );
                    }
                }
                for t in part.transfers() {
                    let got = recovered_ledger.lookup_transfer(t.id);
                    if got != Some(t) {
                        return fail(
                            "acknowledged transfer missing or changed",
                            format!("batch {id}: {t:?}\nrecovered: {got:?}"),
                        );
                    }
                }
                for x in part.burned() {
                    if !recovered_ledger.is_orphaned(x) {
                        return fail(
                            "acknowledged burned id not burned",
                            format!("batch {id}: id {x}"),
                        );
                    }
                }
                for x in part.expired() {
                    if pending.get(&x) != Some(&PendingState::Expired) {
                        return fail(
                            "acknowledged expiry lost",
                            format!("batch {id}: transfer {x} is {:?}", pending.get(&x)),
                        );
                    }
                }
            }
        }

        // Check 2: the same state as the expected entries replayed in commit order.
        let ordered = Ledger::new(self.config.clone()).expect("ledger");
        let mut held = ordered.lock_all();
        let mut newest = 0;
        let mut seqs = Vec::new();
        for &id in &applied {
            for part in effects::decode(&self.batches[id].payload).expect("decoded before") {
                if part.resume {
                    ordered.effect_seqs(&mut seqs);
                    if seqs[part.partition] < part.seq {
                        ordered.skip_effects_to(part.partition, part.seq);
                        newest = newest.max(part.clock);
                    }
                    continue;
                }
                newest = newest.max(part.max_timestamp());
                if let Err(e) = ordered.replay(&mut held, &part) {
                    return fail(
                        "commit-order replay failed",
                        format!("batch {id}: {e} (applied {applied:?})"),
                    );
                }
            }
        }
        drop(held);
        ordered.resume_clock_after(newest);
        let view = View::of_ledger(&recovered_ledger);
        let want = View::of_ledger(&ordered);
        if view != want {
            return fail(
                "recovered state differs from the commit-order replay",
                view.diff(&want, "recovered", "commit order"),
            );
        }
        if summary.newest != newest {
            return fail(
                "replay resumed the clock elsewhere",
                format!("after {}, commit order says {newest}", summary.newest),
            );
        }
        let mut recovered_seqs = Vec::new();
        recovered_ledger.effect_seqs(&mut recovered_seqs);
        ordered.effect_seqs(&mut seqs);
        if recovered_seqs != seqs {
            return fail(
                "replay left other effect seqs than the commit order",
                format!(
                    "recovered {recovered_seqs:?}, commit order {seqs:?} (applied {applied:?})"
                ),
            );
        }

        // ... and, for a prefix of the commit order, as the model after that prefix.
        let prior = &self.live[..self.life_start];
        if let Some(id) = prior.iter().find(|id| !applied_set.contains(id)) {
            let b = &self.batches[*id];
            let why = if present.contains(id) {
                "its record survived but was not applied"
            } else {
                "its record is gone"
            };
            return fail(
                "a batch recovered before is gone",
                format!(
                    "{} {id} (life {}, parts {:?}): {why}; applied {applied:?}",
                    if b.is_resume() {
                        "resume record"
                    } else {
                        "batch"
                    },
                    b.life,
                    b.parts
                ),
            );
        }
        let this_life = &self.live[self.life_start..];
        let new_applied = applied.len() - prior.len();
        let end = this_life
            .iter()
            .rposition(|id| applied_set.contains(id))
            .map_or(0, |i| i + 1);
        let logged_up_to_end = this_life[..end]
            .iter()
            .filter(|&&id| !self.batches[id].payload.is_empty())
            .count();
        if logged_up_to_end != new_applied {
            if self.workers.len() == 1 {
                return fail(
                    "one log, yet no prefix of the commit order survived",
                    format!("applied {applied:?} of this life's {this_life:?}"),
                );
            }
            self.stats.non_prefix += 1;
            if self.model.is_some() {
                self.log(|| "not a prefix of the commit order: the model retires".into());
            }
            self.base = None;
            self.model = None;
        } else if let Some(base) = &self.base {
            let mut m = base.clone();
            for &id in &this_life[..end] {
                self.batches[id].op.on_model(&mut m);
            }
            let from_model = View::of_model(&m);
            if view != from_model {
                return fail(
                    "recovered state differs from the model",
                    view.diff(
                        &from_model,
                        "recovered",
                        &format!("model after {} batches", self.life_start + end),
                    ),
                );
            }
            self.stats.model_checks += 1;
            self.model = Some(m.clone());
            self.base = Some(m);
        }

        // The next life: the recovered ledger, each log sealed and resumed, then the resume
        // record (if any) logged and synced on worker 0's log, watermarks at the recovered seqs
        // (resume included), the history what was applied and the resume record.
        self.ledger = recovered_ledger;
        for (w, r) in recovered.iter().enumerate() {
            let wk = &mut self.workers[w];
            if let Err(e) = seal(&mut wk.store, r) {
                return fail("seal failed", format!("worker {w}: {e}"));
            }
            wk.writer = match WalWriter::resume(wk.config.clone(), r) {
                Ok(wr) => wr,
                Err(e) => return fail("resume failed", format!("worker {w}: {e}")),
            };
            wk.open.clear();
            wk.flight = None;
            self.prepare(w);
        }
        self.life += 1;
        self.live = applied;
        if let Some(id) = self.log_resume(&recovered_seqs, &summary.max_seen, summary.newest)? {
            self.live.push(id);
        }
        self.ledger.effect_seqs(&mut self.through);
        for a in &mut self.ahead {
            a.clear();
        }
        self.waiting.clear();
        self.life_start = self.live.len();
        let (life, through) = (self.life, self.through.clone());
        self.log(|| format!("life {life}: watermarks {through:?}"));

        // Check 3: the clock resumes above every timestamp handed out and acknowledged, and
        // above every recovered one.
        if !self.execute(Op::Probe { now: 1 })? {
            // Its record goes into an empty open group, so nothing is sent to make room.
            return fail(
                "probe died",
                "the process died staging the probe's record".into(),
            );
        }
        let ts = self.batches[self.batches.len() - 1].newest;
        if ts <= summary.newest {
            return fail(
                "clock resumed below a recovered timestamp",
                format!("probe got {ts}, recovered newest {}", summary.newest),
            );
        }
        let (acked, by) = self.acked_newest;
        if ts <= acked {
            let b = &self.batches[by];
            let what = if b.payload.is_empty() {
                "it logged nothing (every event failed, nothing burned): no record kept its clock"
                    .to_string()
            } else {
                format!("its record's parts {:?}", b.parts)
            };
            return Ok(Some(format!(
                "after crash {}, a new event got timestamp {ts}, but batch {by} (life {}, {}) \
                 was acknowledged with timestamps up to {acked}; {what}",
                self.stats.crashes,
                b.life,
                b.op.describe()
            )));
        }
        Ok(None)
    }
}

struct SeedRun {
    stats: Stats,
    failures: Vec<Failure>,
    trace: Option<String>,
}

fn run_seed(seed: u64, trace: bool) -> SeedRun {
    let mut sim = Sim::new(seed, trace);
    let crashes = sim.rng.range(3, 5);
    let mut failures = Vec::new();
    let mut clock_broken = false;
    for _ in 0..crashes {
        let outcome = sim.life().and_then(|()| sim.crash_and_recover());
        match outcome {
            Ok(None) => {}
            Ok(Some(clock)) => {
                sim.log(|| format!("CLOCK: {clock}"));
                if !clock_broken {
                    clock_broken = true;
                    failures.push(Failure {
                        check: "clock resumed below an acknowledged timestamp",
                        detail: clock,
                    });
                }
            }
            Err(f) => {
                sim.log(|| format!("FAILED: {}: {}", f.check, f.detail));
                failures.push(f);
                break;
            }
        }
    }
    SeedRun {
        stats: sim.stats,
        failures,
        trace: sim.trace,
    }
}

#[test]
fn acknowledged_batches_survive_crashes() {
    let replay = |seed: u64| {
        format!("WAL_SEED={seed} cargo test --release -p ledger --test wal_sim -- --nocapture")
    };
    if let Ok(seed) = std::env::var("WAL_SEED") {
        let seed: u64 = seed.parse().expect("WAL_SEED is a number");
        let run = run_seed(seed, true);
        println!("{}", run.trace.unwrap_or_default());
        println!("{:?}", run.stats);
        if !run.failures.is_empty() {
            panic!("seed {seed}: {:#?}", run.failures);
        }
        return;
    }
    let seeds: u64 = std::env::var("WAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut stats = Stats::default();
    // Per check: seeds that broke it, and the first one with its detail.
    let mut found: BTreeMap<&'static str, (u64, u64, String)> = BTreeMap::new();
    for seed in 0..seeds {
        let run = run_seed(seed, false);
        stats.add(&run.stats);
        for f in run.failures {
            let e = found.entry(f.check).or_insert((0, seed, f.detail));
            e.0 += 1;
        }
    }
    println!("{seeds} seeds: {stats:?}");
    if !found.is_empty() {
        let mut report = String::new();
        for (check, (n, seed, detail)) in &found {
            let _ = writeln!(
                report,
                "\n{check}: {n} of {seeds} seeds; first seed {seed}:\n{detail}\nreplay with: {}",
                replay(*seed)
            );
        }
        panic!("{report}");
    }
    // Not vacuous: every seed crashed at least 3 times, replies were acknowledged, EIO struck.
    assert!(stats.crashes >= 3 * seeds && stats.acked > 0 && (seeds < 100 || stats.eio > 0));
}
