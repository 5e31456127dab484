//! Ledger apply throughput, in memory, on one core, with a concurrent reader.
//!
//! Creates 10,000 accounts, then applies 10,000,000 transfers in batches of 8189 (debit = one
//! of 100 hot accounts, credit = uniform over the others, amount 100) while a second thread
//! looks accounts up without locks. Batches are generated outside the timed region; the
//! figure is transfers applied per second of `create_transfers` time.
//!
//! ```text
//! cargo run --release -p ledger --example apply_throughput [-- TRANSFERS]
//! ```
//! The last two lines are `transfers_per_second=<N>` and `lookups_per_second=<N>`. The line
//! before them gives the median full batch's time and the rate it stands for
//! (`median_batch_transfers_per_second`), which bursts of noise on a shared host move less.
//! `NO_READER=1` runs without the reader. `HOST_PROBE=1` times three small probes after each
//! batch, outside the timed region, and prints how fast the host's CPU, L3 and DRAM were for
//! this run (see `host_probe.rs`; the figures are about the host, not the ledger). Built with
//! `--features ab`, odd batches run the variant under test of a paired experiment (see
//! `ledger::ab`) and a line per variant gives its median and fastest-tenth batch rates.

use ledger::flags::account_filter;
use ledger::{Account, AccountFilter, Ledger, LedgerConfig, Transfer, BATCH_MAX};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod host_probe;

const ACCOUNTS: u128 = 10_000;
const HOT: u128 = 100;
const LOOKUP_BATCH: usize = 64;

fn main() {
    let transfers: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let config = LedgerConfig {
        partitions: 1,
        max_accounts: ACCOUNTS as usize,
        max_transfers: transfers as usize,
        prefault: true,
    };
    let t0 = Instant::now();
    let ledger = Arc::new(Ledger::new(config).expect("ledger"));
    println!("tables allocated and prefaulted in {:.2?}", t0.elapsed());
    // The CPUs this process may use, read before pinning: a thread inherits its creator's
    // affinity, and the reader's CPU must come from the whole set, not from the writer's.
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    pin(&cpus, 0);

    let mut results = Vec::with_capacity(BATCH_MAX);
    let mut held = ledger.lock(&[0]);
    let accounts: Vec<Account> = (1..=ACCOUNTS)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    for chunk in accounts.chunks(BATCH_MAX) {
        results.clear();
        ledger
            .create_accounts(&mut held, chunk, now_ns(), &mut results)
            .expect("accounts");
        assert!(results.iter().all(|r| r.status == u32::MAX));
    }
    drop(held);

    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let reader = {
        let (ledger, stop, lookups) = (ledger.clone(), stop.clone(), lookups.clone());
        let cpus = cpus.clone();
        std::thread::spawn(move || {
            pin(&cpus, 1);
            let mut rng = StdRng::seed_from_u64(2);
            let mut ids = [0u128; LOOKUP_BATCH];
            let started = Instant::now();
            let enabled = std::env::var("NO_READER").is_err();
            while enabled && !stop.load(Ordering::Relaxed) {
                for id in ids.iter_mut() {
                    *id = rng.random_range(1..=ACCOUNTS);
                }
                let found = ledger.lookup_accounts(&ids);
                assert_eq!(found.len(), LOOKUP_BATCH, "every account exists");
                lookups.fetch_add(found.len() as u64, Ordering::Relaxed);
            }
            started.elapsed()
        })
    };

    let mut rng = StdRng::seed_from_u64(1);
    let mut batch: Vec<Transfer> = Vec::with_capacity(BATCH_MAX);
    let mut next_id = 1u128;
    let mut applied = 0u64;
    let mut busy = Duration::ZERO;
    let mut worst = Duration::ZERO;
    // Each full batch's time: its median is what a shared host's bursts of noise (other
    // tenants) disturb least, so A/B comparisons read it beside the total.
    let mut full_batches: Vec<Duration> =
        Vec::with_capacity(transfers.div_ceil(BATCH_MAX as u64) as usize);
    let mut variants: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    // Off by default: a run without it has no pause between batches.
    let mut probe = std::env::var("HOST_PROBE").is_ok().then(|| {
        host_probe::HostProbe::new(&mut StdRng::seed_from_u64(3), full_batches.capacity())
    });
    let wall = Instant::now();
    while applied < transfers {
        let n = (transfers - applied).min(BATCH_MAX as u64) as usize;
        batch.clear();
        for _ in 0..n {
            let debit = rng.random_range(1..=HOT);
            let mut credit = rng.random_range(1..=ACCOUNTS - 1);
            if credit >= debit {
                credit += 1;
            }
            batch.push(Transfer {
                id: next_id,
                debit_account_id: debit,
                credit_account_id: credit,
                amount: 100,
                ledger: 1,
                code: 1,
                ..Transfer::default()
            });
            next_id += 1;
        }
        results.clear();
        // With the `ab` feature, odd batches run the variant under test (`ledger::ab`).
        let variant = cfg!(feature = "ab") && (applied / BATCH_MAX as u64) % 2 == 1;
        #[cfg(feature = "ab")]
        ledger::ab::set_variant(variant);
        let start = Instant::now();
        let mut held = ledger.lock(&[0]);
        ledger
            .create_transfers(&mut held, &batch, now_ns(), &mut results)
            .expect("batch");
        drop(held);
        let took = start.elapsed();
        if let Some(probe) = probe.as_mut() {
            probe.sample();
        }
        busy += took;
        worst = worst.max(took);
        if n == BATCH_MAX {
            full_batches.push(took);
            if cfg!(feature = "ab") {
                variants[variant as usize].push(took);
            }
        }
        assert!(
            results.iter().all(|r| r.status == u32::MAX),
            "every transfer is created"
        );
        applied += n as u64;
    }
    let wall = wall.elapsed();
    for (k, v) in variants.iter_mut().enumerate() {
        if let Some(rates) = batch_rates(v) {
            println!("ab_variant={} {rates}", k == 1);
        }
    }

    stop.store(true, Ordering::Relaxed);
    let reader_time = reader.join().expect("reader");
    let looked_up = lookups.load(Ordering::Relaxed);

    // The first index read of a busy account brings its list's block directory up to date
    // (walking back over every block filled since); the next one finds it current.
    let filter = AccountFilter {
        account_id: 1,
        limit: 10,
        flags: account_filter::DEBITS | account_filter::CREDITS | account_filter::REVERSED,
        ..AccountFilter::default()
    };
    let t0 = Instant::now();
    let first = ledger.get_account_transfers(&filter);
    let first_read = t0.elapsed();
    let t0 = Instant::now();
    let again = ledger.get_account_transfers(&filter);
    let second_read = t0.elapsed();
    assert_eq!(first, again);
    assert_eq!(first.len(), 10);

    ledger.verify().expect("invariants hold after the run");
    let hot_debits: u128 = ledger
        .lookup_accounts(&(1..=HOT).collect::<Vec<_>>())
        .iter()
        .map(|a| a.debits_posted)
        .sum();
    assert_eq!(
        hot_debits,
        u128::from(transfers) * 100,
        "every transfer debited a hot account"
    );

    println!(
        "transfers={transfers} batches={} batch_size={BATCH_MAX}",
        transfers.div_ceil(BATCH_MAX as u64)
    );
    println!("apply_time={busy:.2?} wall_time={wall:.2?} slowest_batch={worst:.2?}");
    println!("lookups={looked_up} in {reader_time:.2?} ({LOOKUP_BATCH} ids per call)");
    println!(
        "hot_account_transfers={} newest_10_read_first={first_read:.2?} then={second_read:.2?}",
        u128::from(transfers) / HOT
    );
    if let Some(host) = probe.as_mut().and_then(|p| p.report()) {
        println!("{host}");
    }
    if let Some(rates) = batch_rates(&mut full_batches) {
        println!("{rates}");
    }
    println!(
        "transfers_per_second={}",
        (transfers as f64 / busy.as_secs_f64()) as u64
    );
    println!(
        "lookups_per_second={}",
        (looked_up as f64 / reader_time.as_secs_f64()) as u64
    );
}

/// The median full batch's time and rate, and the rate of the fastest tenth's slowest (the
/// least disturbed batches, for A/B runs on a host whose noise only ever adds time); None
/// without a full batch.
fn batch_rates(times: &mut [Duration]) -> Option<String> {
    times.sort_unstable();
    let median = *times.get(times.len() / 2)?;
    let p10 = times[times.len() / 10];
    let rate = |d: Duration| (BATCH_MAX as f64 / d.as_secs_f64()) as u64;
    Some(format!(
        "median_batch={median:.2?} median_batch_transfers_per_second={} p10_batch_transfers_per_second={}",
        rate(median),
        rate(p10)
    ))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Pins the calling thread to the `index`-th CPU of `cpus` (the process's CPUs, in order), and
/// says so when it cannot: two threads on one CPU would halve the figures.
fn pin(cpus: &[core_affinity::CoreId], index: usize) {
    match cpus.get(index) {
        Some(&id) if core_affinity::set_for_current(id) => {}
        _ => eprintln!("warning: could not pin this thread to CPU #{index} of {cpus:?}"),
    }
}
