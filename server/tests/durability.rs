//! The durable ledger, proven on the real binary: `kill -9` under mixed load from several
//! connections, then a restart that must give back every acknowledged transfer with its
//! acknowledged timestamp, each in-flight batch wholly or not at all, balances that are the sums
//! of the transfers present, and timestamps above all earlier ones. Also: one server per
//! data_dir, damage inside the log refused with a message, a torn tail recovered, a failed
//! sync that stops the server without losing anything acknowledged.
//!
//! `CRASH_ROUNDS=N` sets the number of kills (default 20).

mod common;

use common::tempdir::Dir;
use common::{Server, ENGINES};
use ledger::flags::transfer as tf;
use ledger::{Account, Transfer};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEDGERS: [u32; 2] = [700, 701];
const ACCOUNTS_PER_LEDGER: u128 = 4;
const CLIENTS: u64 = 6;

fn config(data_dir: &Path) -> String {
    config_sized(data_dir, 1_000_000)
}

/// The test server's config, with room for `transfers` transfers.
fn config_sized(data_dir: &Path, transfers: u64) -> String {
    format!(
        "[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n\n[ledger]\npartitions = 4\nmax_accounts = 1024\nmax_transfers = {transfers}\ndata_dir = \"{}\"\n",
        data_dir.display()
    )
}

fn account_id(ledger: u32, i: u128) -> u128 {
    u128::from(ledger) * 1000 + i
}

/// A small deterministic generator (no shared state between client threads).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the clients know: every batch they sent, and what the server answered.
#[derive(Default)]
struct Known {
    /// Created transfers, acknowledged: id -> (the event as sent, its timestamp).
    acked: BTreeMap<u128, (Transfer, u64)>,
    /// Events that were acknowledged as failed (ids must never exist).
    failed: Vec<u128>,
    /// Batches sent but not answered when the server died: wholly present or wholly absent.
    in_flight: Vec<Vec<Transfer>>,
    /// Pending transfers known to exist and not yet posted or voided (and not in flight).
    pending: Vec<Transfer>,
    /// The newest timestamp any reply carried.
    newest: u64,
}

fn plain(id: u128, ledger: u32, rng: &mut Rng) -> Transfer {
    let dr = rng.below(ACCOUNTS_PER_LEDGER as u64) as u128;
    let cr = (dr + 1 + rng.below(ACCOUNTS_PER_LEDGER as u64 - 1) as u128) % ACCOUNTS_PER_LEDGER;
    Transfer {
        id,
        debit_account_id: account_id(ledger, dr),
        credit_account_id: account_id(ledger, cr),
        amount: 1 + u128::from(rng.below(100)),
        ledger,
        code: 1,
        ..Transfer::default()
    }
}

/// One client's load until the server dies: batches of plain transfers, linked chains that
/// succeed and chains that fail, pending transfers and their posts and voids.
fn client_load(addr: std::net::SocketAddr, known: Arc<Mutex<Known>>, thread: u64, round: u64) {
    let Ok(mut client) = client::Client::connect(addr) else {
        return;
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (thread << 32) ^ (round << 8) ^ 1);
    let mut next_id: u128 = (u128::from(round) << 80) | (u128::from(thread) << 64);
    let mut id = || {
        next_id += 1;
        next_id
    };
    loop {
        let ledger = LEDGERS[rng.below(2) as usize];
        let mut batch: Vec<Transfer> = Vec::new();
        let mut must_fail = false;
        match rng.below(6) {
            0 => {
                // A linked chain whose last event fails: nothing of it may ever exist.
                let n = 2 + rng.below(3);
                for i in 0..n {
                    let mut t = plain(id(), ledger, &mut rng);
                    if i + 1 < n {
                        t.flags = tf::LINKED;
                    } else {
                        t.credit_account_id = t.debit_account_id; // accounts_must_be_different
                    }
                    batch.push(t);
                }
                must_fail = true;
            }
            1 => {
                // A linked chain that succeeds.
                let n = 2 + rng.below(4);
                for i in 0..n {
                    let mut t = plain(id(), ledger, &mut rng);
                    if i + 1 < n {
                        t.flags = tf::LINKED;
                    }
                    batch.push(t);
                }
            }
            2 => {
                for _ in 0..1 + rng.below(5) {
                    let mut t = plain(id(), ledger, &mut rng);
                    t.flags = tf::PENDING;
                    batch.push(t);
                }
            }
            3 => {
                // Posts and voids of pending transfers this client knows about.
                let mut k = known.lock().unwrap();
                let mine: Vec<usize> = (0..k.pending.len())
                    .filter(|&i| (k.pending[i].id >> 64) as u64 & 0xFFFF == thread)
                    .take(4)
                    .collect();
                for &i in mine.iter().rev() {
                    let p = k.pending.swap_remove(i);
                    let post = rng.below(2) == 0;
                    batch.push(Transfer {
                        id: id(),
                        pending_id: p.id,
                        amount: if post { u128::MAX } else { 0 },
                        flags: if post {
                            tf::POST_PENDING_TRANSFER
                        } else {
                            tf::VOID_PENDING_TRANSFER
                        },
                        ..Transfer::default()
                    });
                }
                drop(k);
                if batch.is_empty() {
                    continue;
                }
            }
            _ => {
                for _ in 0..1 + rng.below(40) {
                    batch.push(plain(id(), ledger, &mut rng));
                }
            }
        }
        known.lock().unwrap().in_flight.push(batch.clone());
        let Ok(results) = client.create_transfers(&batch) else {
            return; // the server died: the batch stays in flight
        };
        let mut k = known.lock().unwrap();
        let at = k.in_flight.iter().position(|b| b == &batch).unwrap();
        k.in_flight.swap_remove(at);
        for (t, r) in batch.iter().zip(&results) {
            k.newest = k.newest.max(r.timestamp);
            if must_fail {
                assert_ne!(r.status, u32::MAX, "a chain with a failing event failed");
                k.failed.push(t.id);
                continue;
            }
            assert_eq!(r.status, u32::MAX, "{t:?} was created");
            k.acked.insert(t.id, (*t, r.timestamp));
            if t.flags & tf::PENDING != 0 {
                k.pending.push(*t);
            }
        }
    }
}

/// Checks the restarted server against what the clients know; settles in-flight batches
/// (present ones become acknowledged); returns the number of transfers present.
fn check(addr: std::net::SocketAddr, known: &mut Known) -> usize {
    let mut client = client::Client::connect(addr).unwrap();
    let lookup = |client: &mut client::Client, ids: &[u128]| -> HashMap<u128, Transfer> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(8000) {
            for t in client.lookup_transfers(chunk).unwrap() {
                found.insert(t.id, t);
            }
        }
        found
    };
    let ids: Vec<u128> = known.acked.keys().copied().collect();
    eprintln!(
        "check: {} acked, {} in flight",
        ids.len(),
        known.in_flight.len()
    );
    let found = lookup(&mut client, &ids);
    for (id, (sent, ts)) in &known.acked {
        let got = found
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged transfer {id} lost"));
        assert_eq!(got.timestamp, *ts, "transfer {id}: acknowledged timestamp");
        if sent.pending_id == 0 {
            assert_eq!(
                (got.debit_account_id, got.credit_account_id, got.amount),
                (sent.debit_account_id, sent.credit_account_id, sent.amount),
                "transfer {id}"
            );
        }
    }
    let failed = lookup(&mut client, &known.failed);
    assert!(
        failed.is_empty(),
        "transfers of failed chains exist: {failed:?}"
    );
    for batch in std::mem::take(&mut known.in_flight) {
        let ids: Vec<u128> = batch.iter().map(|t| t.id).collect();
        let present = lookup(&mut client, &ids);
        assert!(
            present.is_empty() || present.len() == batch.len(),
            "an in-flight batch is partly present: {} of {}",
            present.len(),
            batch.len()
        );
        let chain_fails = batch
            .last()
            .is_some_and(|t| t.debit_account_id == t.credit_account_id && t.debit_account_id != 0);
        if chain_fails {
            assert!(present.is_empty(), "a failing chain is present");
            known.failed.extend(ids);
            continue;
        }
        for t in &batch {
            if let Some(got) = present.get(&t.id) {
                known.newest = known.newest.max(got.timestamp);
                known.acked.insert(t.id, (*t, got.timestamp));
                if t.flags & tf::PENDING != 0 {
                    known.pending.push(*t);
                }
            } else if t.pending_id != 0 {
                // A post or void that did not happen: its pending transfer is still pending.
                if let Some((p, _)) = known.acked.get(&t.pending_id) {
                    known.pending.push(*p);
                }
            }
        }
    }
    // Balances are the sums over the transfers present.
    let all: Vec<u128> = known.acked.keys().copied().collect();
    let present = lookup(&mut client, &all);
    // Signed: a post or void may be met before its pending transfer (amounts here are small).
    let mut expected: BTreeMap<u128, [i128; 4]> = BTreeMap::new();
    for t in present.values() {
        let amount = t.amount as i128;
        let [dp, dpo, cp, cpo] = [0usize, 1, 2, 3];
        if t.flags & tf::PENDING != 0 {
            expected.entry(t.debit_account_id).or_default()[dp] += amount;
            expected.entry(t.credit_account_id).or_default()[cp] += amount;
        } else if t.pending_id != 0 {
            let p = present[&t.pending_id];
            expected.entry(p.debit_account_id).or_default()[dp] -= p.amount as i128;
            expected.entry(p.credit_account_id).or_default()[cp] -= p.amount as i128;
            if t.flags & tf::POST_PENDING_TRANSFER != 0 {
                expected.entry(p.debit_account_id).or_default()[dpo] += amount;
                expected.entry(p.credit_account_id).or_default()[cpo] += amount;
            }
        } else {
            expected.entry(t.debit_account_id).or_default()[dpo] += amount;
            expected.entry(t.credit_account_id).or_default()[cpo] += amount;
        }
    }
    let accounts: Vec<u128> = LEDGERS
        .iter()
        .flat_map(|&l| (0..ACCOUNTS_PER_LEDGER).map(move |i| account_id(l, i)))
        .collect();
    for a in client.lookup_accounts(&accounts).unwrap() {
        let e = expected.get(&a.id).copied().unwrap_or_default();
        assert_eq!(
            [
                a.debits_pending,
                a.debits_posted,
                a.credits_pending,
                a.credits_posted
            ]
            .map(|b| b as i128),
            e,
            "account {} balances are the sums of the transfers present",
            a.id
        );
    }
    // Time goes on above everything acknowledged before the crash.
    let t = plain(u128::MAX - 7 - present.len() as u128, 700, &mut Rng(3));
    let r = client
        .create_transfers(&[t])
        .unwrap_or_else(|e| panic!("create after restart: {e:?}"));
    assert_eq!(r[0].status, u32::MAX);
    assert!(
        r[0].timestamp > known.newest,
        "timestamp after restart {} <= {} before",
        r[0].timestamp,
        known.newest
    );
    known.acked.insert(t.id, (t, r[0].timestamp));
    known.newest = r[0].timestamp;
    present.len()
}

fn kill9(server: &mut Server) {
    let pid = server.child.id();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let _ = server.child.wait();
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = Dir::new("crash");
    let data = dir.0.join("data");
    let known = Arc::new(Mutex::new(Known::default()));
    let mut rng = Rng(0xC0FFEE);
    // Each round acknowledges up to ~40k transfers on this machine.
    let config = |data: &Path| config_sized(data, (rounds * 60_000).max(1_000_000));
    let started = Instant::now();
    for round in 0..rounds {
        let engine = ENGINES[(round % 2) as usize];
        let mut server = Server::start(engine, &config(&data));
        let addr = server.binary_addr.unwrap();
        if round == 0 {
            let mut c = client::Client::connect(addr).unwrap();
            let accounts: Vec<Account> = LEDGERS
                .iter()
                .flat_map(|&l| {
                    (0..ACCOUNTS_PER_LEDGER).map(move |i| Account {
                        id: account_id(l, i),
                        ledger: l,
                        code: 10,
                        ..Account::default()
                    })
                })
                .collect();
            let r = c.create_accounts(&accounts).unwrap();
            assert!(r.iter().all(|r| r.status == u32::MAX));
        } else {
            check(addr, &mut known.lock().unwrap());
        }
        let threads: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let known = known.clone();
                std::thread::spawn(move || client_load(addr, known, t, round))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        kill9(&mut server);
        for t in threads {
            t.join().unwrap();
        }
    }
    let mut server = Server::start("uring", &config(&data));
    let present = check(server.binary_addr.unwrap(), &mut known.lock().unwrap());
    let k = known.lock().unwrap();
    println!(
        "{rounds} kills in {:.1} s: {} transfers acknowledged, {present} present, {} failed events absent",
        started.elapsed().as_secs_f64(),
        k.acked.len(),
        k.failed.len()
    );
    assert!(k.acked.len() > rounds as usize, "the load made progress");
    drop(k);
    server.terminate();
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = Dir::new("lock");
    let data = dir.0.join("data");
    let _first = Server::start("epoll", &config(&data));
    let cfg = dir.0.join("second.toml");
    std::fs::write(&cfg, config(&data)).unwrap();
    let out = Command::new(common::binary())
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by"), "{err}");
}

/// A transfer of 1 from the `fill` accounts' first to their second.
fn unit_transfer(id: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: account_id(700, 1),
        credit_account_id: account_id(700, 2),
        amount: 1,
        ledger: 700,
        code: 1,
        ..Transfer::default()
    }
}

/// Creates `n` transfers (acknowledged) and stops the server cleanly; returns their ids.
fn fill(data: &Path, n: u128) -> Vec<(u128, u64)> {
    let mut server = Server::start("epoll", &config(data));
    let mut c = client::Client::connect(server.binary_addr.unwrap()).unwrap();
    let accounts = [1u128, 2].map(|i| Account {
        id: account_id(700, i),
        ledger: 700,
        code: 10,
        ..Account::default()
    });
    c.create_accounts(&accounts).unwrap();
    let mut acked = Vec::new();
    for id in 1..=n {
        let t = unit_transfer(id);
        let r = c.create_transfers(&[t]).unwrap();
        assert_eq!(r[0].status, u32::MAX);
        acked.push((id, r[0].timestamp));
    }
    server.terminate();
    acked
}

/// The segment files of every core log, first segment first.
fn segments(data: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for core in std::fs::read_dir(data.join("wal")).unwrap() {
        for seg in std::fs::read_dir(core.unwrap().path()).unwrap() {
            v.push(seg.unwrap().path());
        }
    }
    v.sort();
    v
}

/// Where the log's non-zero bytes end in a segment.
fn used_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
}

#[test]
fn damage_inside_the_log_stops_start_up_with_where_and_what() {
    let dir = Dir::new("corrupt");
    let data = dir.0.join("data");
    fill(&data, 20);
    // Flip one byte in the middle of the first used segment's records.
    let seg = segments(&data)
        .into_iter()
        .find(|p| used_len(&std::fs::read(p).unwrap()) > 0)
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = used_len(&bytes) / 3;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let cfg = dir.0.join("c.toml");
    std::fs::write(&cfg, config(&data)).unwrap();
    let out = Command::new(common::binary()).arg(&cfg).output().unwrap();
    assert!(!out.status.success(), "start-up refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains(".seg"), "names the file: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // --check finds the same.
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success(), "--check refuses it too");
}

#[test]
fn a_torn_tail_is_dropped_and_start_up_succeeds() {
    let dir = Dir::new("torn");
    let data = dir.0.join("data");
    let acked = fill(&data, 30);
    // After the clean-shutdown record: garbage where a next group would have started, as a
    // crash in the middle of writing it leaves.
    let seg = segments(&data)
        .into_iter()
        .find(|p| used_len(&std::fs::read(p).unwrap()) > 0)
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let end = used_len(&bytes).next_multiple_of(4096);
    for (i, b) in bytes[end..end + 700].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&seg, &bytes).unwrap();
    let mut server = Server::start("uring", &config(&data));
    let mut c = client::Client::connect(server.binary_addr.unwrap()).unwrap();
    let ids: Vec<u128> = acked.iter().map(|(id, _)| *id).collect();
    let got = c.lookup_transfers(&ids).unwrap();
    assert_eq!(
        got.len(),
        acked.len(),
        "every acknowledged transfer is back"
    );
    for (t, (id, ts)) in got.iter().zip(&acked) {
        assert_eq!((t.id, t.timestamp), (*id, *ts));
    }
    server.terminate();
}

#[test]
fn a_failed_sync_stops_the_server_and_nothing_acknowledged_is_lost() {
    let dir = Dir::new("eio");
    let data = dir.0.join("data");
    let acked = fill(&data, 5);
    // The 3rd sync from now fails.
    let cfg = dir.0.join("c.toml");
    std::fs::write(&cfg, format!("[server]\nworkers = 1\n{}", config(&data))).unwrap();
    let mut child = Command::new(common::binary())
        .arg(&cfg)
        .env("RINGLEDGER_TEST_WAL_FAULT", "sync:3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut addr = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("listening on binary ") {
            addr = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if line.starts_with("ringledger-server ready") {
            break;
        }
    }
    let mut c = client::Client::connect(addr.unwrap()).unwrap();
    let mut more = Vec::new();
    let mut refused = false;
    for id in 100..110u128 {
        let t = unit_transfer(id);
        match c.create_transfers(&[t]) {
            Ok(r) => more.push((id, r[0].timestamp)),
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the failed sync ended the server");
    assert_eq!(
        more.len(),
        2,
        "the two synced groups were acknowledged, no more"
    );
    let status = common::wait_exit(&mut child, Duration::from_secs(10)).expect("server exits");
    assert!(!status.success());
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("FATAL: write-ahead log"), "{stderr}");
    // The restart has everything acknowledged, and nothing else.
    let mut server = Server::start("epoll", &config(&data));
    let mut c = client::Client::connect(server.binary_addr.unwrap()).unwrap();
    for (id, ts) in acked.iter().chain(&more) {
        let t = c.lookup_transfers(&[*id]).unwrap();
        assert_eq!(t.len(), 1, "acknowledged transfer {id} is there");
        assert_eq!(t[0].timestamp, *ts);
    }
    // The failed group's transfer (102) was never acknowledged: its write reached the file
    // before the sync failed, so it may or may not be there; either way nothing after it is.
    assert!(
        c.lookup_transfers(&[103, 104, 105]).unwrap().is_empty(),
        "nothing after the failed group"
    );
    server.terminate();
}
