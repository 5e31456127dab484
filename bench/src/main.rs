//! `ringledger-bench`: a load generator for Ringledger's ledger, with Lua Beetle's workloads and
//! hot/cold account model, over the binary protocol or RESP.
//!
//! Accounts 1..=N live in ledger 1. A transfer debits one of the `--hot` accounts and credits a
//! uniformly chosen other account, amount 100; transfer ids never collide (a per-run nonce).
//! Every connection is a thread with one request in flight. The run ends with an audit: all
//! accounts are looked up and Σdebits must equal Σcredits (posted and pending), and the change
//! since the start must equal what the successful transfers moved.
//!
//! The last two lines are `transfers_per_second=<N>` and `audit=ok` (or `audit=FAILED <why>`,
//! with exit status 1).
//!
//! A request that fails (the server refusing a batch because its table is full, a lost
//! connection, ...) stops the whole run at once: the failure is printed (`stopped after
//! <s>: <why>`), the rates are over the time actually run, the audit still runs, and the exit
//! status is 1.

mod audit;
mod conn;
mod workload;

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use workload::{Totals, Workload};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    Binary,
    Resp,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ringledger-bench",
    about = "Load generator for Ringledger's ledger"
)]
pub struct Args {
    /// Server address (a binary listener for --protocol binary, a RESP one for resp).
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub address: String,
    #[arg(long, value_enum, default_value = "binary")]
    pub protocol: Protocol,
    #[arg(long, value_enum, default_value = "transfer")]
    pub workload: Workload,
    /// Accounts 1..=N (created at start if missing).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    /// Debits come from accounts 1..=hot.
    #[arg(long, default_value_t = 100)]
    pub hot: u64,
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Events per request (at most 8189).
    #[arg(long, default_value_t = 8189)]
    pub batch: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// mixed: fraction of requests that create transfers (the rest look accounts up).
    #[arg(long, default_value_t = 0.5)]
    pub transfer_ratio: f64,
    /// mixed: fraction of transfer requests that are two-phase.
    #[arg(long, default_value_t = 0.2)]
    pub twophase_ratio: f64,
    /// Skip the end-of-run audit.
    #[arg(long)]
    pub no_audit: bool,
    /// The user to authenticate as (with --password).
    #[arg(long, default_value = "default")]
    pub user: String,
    /// Authenticate first with this password (the server's requirepass): the binary
    /// protocol's handshake, or AUTH over RESP.
    #[arg(long)]
    pub password: Option<String>,
    /// The server's `[ledger] data_dir`, when it runs durable: the run's header then says so (a
    /// durable figure is never mistaken for a volatile one), and the data directory must exist.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Counters every connection thread adds to, read by the progress line.
#[derive(Default)]
struct Live {
    transfers: AtomicU64,
    lookups: AtomicU64,
    requests: AtomicU64,
}

/// How often the main thread looks whether a connection has stopped the run.
const STOP_POLL: Duration = Duration::from_millis(50);

/// When the run ends: at its duration, or at the first failed request of any connection.
#[derive(Default)]
struct Stop {
    requested: AtomicBool,
    /// The first failure: when (since the load started) and why.
    failure: Mutex<Option<(Duration, String)>>,
}

impl Stop {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Records `why` if it is the first failure, and stops every connection.
    fn fail(&self, at: Duration, why: String) {
        let mut first = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert((at, why));
        self.requested.store(true, Ordering::Relaxed);
    }

    fn failure(&self) -> Option<(Duration, String)> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = validate(&args) {
        eprintln!("ringledger-bench: {e}");
        std::process::exit(2);
    }
    match run(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("ringledger-bench: {e}");
            println!("transfers_per_second=0");
            println!("audit=FAILED {e}");
            std::process::exit(1);
        }
    }
}

fn validate(a: &Args) -> Result<(), String> {
    if a.batch == 0 || a.batch > 8189 {
        return Err(format!("--batch must be 1..=8189, not {}", a.batch));
    }
    if a.accounts < 2 || a.hot == 0 || a.hot > a.accounts {
        return Err("need --accounts >= 2 and 1 <= --hot <= --accounts".into());
    }
    if a.connections == 0 || a.duration == 0 {
        return Err("--connections and --duration must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&a.transfer_ratio) || !(0.0..=1.0).contains(&a.twophase_ratio) {
        return Err("ratios are between 0 and 1".into());
    }
    if let Some(dir) = &a.data_dir {
        if !dir.is_dir() {
            return Err(format!("--data-dir {}: not a directory", dir.display()));
        }
    }
    Ok(())
}

fn run(args: &Args) -> Result<bool, String> {
    let mut setup = conn::Conn::connect(args)?;
    workload::create_accounts(&mut setup, args.accounts)?;
    let before = if args.no_audit {
        None
    } else {
        Some(audit::sums(&mut setup, args.accounts)?)
    };
    println!(
        "ringledger-bench: {:?} workload over {:?}, {} connection(s), batch {}, {} accounts ({} hot), {} s",
        args.workload, args.protocol, args.connections, args.batch, args.accounts, args.hot, args.duration
    );
    match &args.data_dir {
        Some(dir) => println!(
            "ringledger-bench: ledger durable, data_dir {} (every create acknowledged after fsync)",
            dir.display()
        ),
        None => println!(
            "ringledger-bench: ledger durability not stated (pass --data-dir for a durable server)"
        ),
    }

    let live = Arc::new(Live::default());
    let stop = Arc::new(Stop::default());
    let nonce = workload::run_nonce();
    let started = Instant::now();
    let threads: Vec<_> = (0..args.connections)
        .map(|i| {
            let (args, live, stop) = (args.clone(), live.clone(), stop.clone());
            std::thread::spawn(move || {
                let run = connection(&args, nonce, i as u64, &live, &stop, started);
                if let Err(why) = &run {
                    stop.fail(started.elapsed(), why.clone());
                }
                run
            })
        })
        .collect();

    let deadline = started + Duration::from_secs(args.duration);
    let mut last = (0u64, 0u64);
    let mut second = 0;
    let mut next_report = started + Duration::from_secs(1);
    while Instant::now() < deadline && !stop.requested() {
        let now = Instant::now();
        std::thread::sleep(STOP_POLL.min(next_report.min(deadline).saturating_duration_since(now)));
        if Instant::now() < next_report.min(deadline) {
            continue;
        }
        next_report += Duration::from_secs(1);
        second += 1;
        let now = (
            live.transfers.load(Ordering::Relaxed),
            live.lookups.load(Ordering::Relaxed),
        );
        println!(
            "[{second:>3}s] transfers/s={} lookups/s={} requests={}",
            now.0 - last.0,
            now.1 - last.1,
            live.requests.load(Ordering::Relaxed)
        );
        last = now;
    }
    stop.requested.store(true, Ordering::Relaxed);
    let ended = started.elapsed();

    let mut totals = Totals::default();
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    for t in threads {
        let joined = t
            .join()
            .map_err(|_| "a connection thread panicked".to_string())?;
        // A connection that failed outside a request (connecting, or posting its pending
        // transfers at the end) has nothing to add; its error is the run's failure (below).
        if let Ok((t, h)) = joined {
            totals.add(&t);
            hist.add(&h).map_err(|e| e.to_string())?;
        }
    }
    // A stopped run is measured up to its first failure: what ran after it (other
    // connections finishing their request in flight) is not load the server sustained.
    let failure = stop.failure();
    let elapsed = match &failure {
        Some((at, why)) => {
            eprintln!(
                "ringledger-bench: stopped after {:.2}s: {why}",
                at.as_secs_f64()
            );
            println!("stopped after {:.2}s: {why}", at.as_secs_f64());
            ended.min(*at)
        }
        None => ended,
    };
    let secs = elapsed.as_secs_f64().max(1e-6);
    println!("--- summary ---");
    println!(
        "elapsed={secs:.2}s requests={} transfers={} lookups={}",
        hist.len(),
        totals.transfers,
        totals.lookups
    );
    println!(
        "operations_per_second={} (transfers {}/s, lookups {}/s)",
        ((totals.transfers + totals.lookups) as f64 / secs) as u64,
        (totals.transfers as f64 / secs) as u64,
        (totals.lookups as f64 / secs) as u64
    );
    println!(
        "request_latency_us p50={} p99={} p999={} max={}",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    let failures: BTreeMap<&str, u64> = totals
        .failures
        .iter()
        .map(|(s, n)| (workload::status_name(*s), *n))
        .collect();
    if failures.is_empty() {
        println!("failures: none");
    } else {
        for (name, n) in &failures {
            println!("failures: {name}={n}");
        }
    }
    let verdict = match before {
        None => Ok(()),
        Some(before) => {
            let after = audit::sums(&mut setup, args.accounts)?;
            audit::check(&before, &after, &totals)
        }
    };
    println!(
        "transfers_per_second={}",
        (totals.transfers as f64 / secs) as u64
    );
    match verdict {
        Ok(()) => {
            println!("audit={}", if args.no_audit { "skipped" } else { "ok" });
            Ok(failure.is_none())
        }
        Err(why) => {
            println!("audit=FAILED {why}");
            Ok(false)
        }
    }
}

/// One connection's load until the run stops. A failed request stops the whole run (recorded
/// in `stop`) but keeps what this connection did before it, which the summary counts.
fn connection(
    args: &Args,
    nonce: u64,
    index: u64,
    live: &Live,
    stop: &Stop,
    started: Instant,
) -> Result<(Totals, Histogram<u64>), String> {
    let mut c = conn::Conn::connect(args)?;
    let mut gen = workload::Generator::new(args, nonce, index);
    let mut totals = Totals::default();
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    while !stop.requested() {
        let t0 = Instant::now();
        let (transfers, lookups) = match gen.step(&mut c, &mut totals) {
            Ok(counts) => counts,
            Err(why) => {
                stop.fail(started.elapsed(), why);
                return Ok((totals, hist));
            }
        };
        let us = t0.elapsed().as_micros().max(1) as u64;
        let _ = hist.record(us.min(600_000_000));
        live.transfers.fetch_add(transfers, Ordering::Relaxed);
        live.lookups.fetch_add(lookups, Ordering::Relaxed);
        live.requests.fetch_add(1, Ordering::Relaxed);
    }
    // Post what is left pending, unless the run failed: the server is then refusing (or
    // unreachable), and the audit accounts for pending amounts anyway.
    if stop.failure().is_none() {
        gen.finish(&mut c, &mut totals)?;
    }
    Ok((totals, hist))
}
