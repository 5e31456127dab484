//! Metrics: `/metrics` scraped over HTTP after traffic shows the counters moving, in the
//! Prometheus text format; the same figures in INFO, parsed with the `redis` crate.

mod common;

use client::Client;
use common::Server;
use ledger::{Account, Transfer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start() -> Server {
    start_with_metrics("")
}

/// A server with a binary listener and a metrics endpoint; `metrics` adds `[metrics]` keys.
fn start_with_metrics(metrics: &str) -> Server {
    Server::start(
        "uring",
        &format!("[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n\n[metrics]\naddress = \"127.0.0.1:0\"\n{metrics}\n"),
    )
}

fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of the sample `name{labels}` (labels in the exporter's order), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

/// Scrapes until `f` holds (workers publish once per loop turn, so the very latest request may
/// need a moment to show).
fn scrape_until(addr: &str, f: impl Fn(&str) -> bool) -> String {
    let mut body = String::new();
    for _ in 0..50 {
        body = http_get(addr, "/metrics").1;
        if f(&body) {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    body
}

#[test]
fn prometheus_endpoint_counts_traffic() {
    let s = start();
    let addr = s.metrics_addr.clone().expect("metrics address printed");
    let (status, _) = http_get(&addr, "/nope");
    assert!(status.contains("404"), "{status}");

    let mut r = s.redis();
    for i in 0..25 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut r)
            .unwrap();
    }
    let _: redis::RedisResult<()> = redis::cmd("INCR").arg("k1").query(&mut r);
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    let accounts: Vec<Account> = (1..=3)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    c.create_accounts(&accounts).unwrap();
    let t = |id| Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 1,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    };
    c.create_transfers(&[
        t(1),
        t(2),
        Transfer {
            credit_account_id: 1,
            ..t(3)
        },
    ])
    .unwrap();

    // Every figure below comes from a worker's published cells; the creates may have run on
    // either worker, and a worker publishes its histograms at most once per millisecond (at
    // least once per 100 ms tick), so wait until all of them show before asserting each.
    let expected: [(&str, f64); 6] = [
        ("ringledger_command_calls_total{command=\"set\"}", 25.0),
        ("ringledger_command_failed_total{command=\"incr\"}", 1.0),
        ("ringledger_ledger_events_total{operation=\"create_transfers\",status=\"created\"}", 2.0),
        ("ringledger_ledger_events_total{operation=\"create_transfers\",status=\"accounts_must_be_different\"}", 1.0),
        ("ringledger_ledger_events_total{operation=\"create_accounts\",status=\"created\"}", 3.0),
        ("ringledger_ledger_requests_total{operation=\"create_transfers\"}", 1.0),
    ];
    let body = scrape_until(&addr, |b| {
        expected
            .iter()
            .all(|(series, v)| sample(b, series) == Some(*v))
            && sample(b, "ringledger_ledger_batch_events_bucket{le=\"4\"}") == Some(2.0)
            && sample(b, "ringledger_request_duration_seconds_count").is_some_and(|n| n >= 28.0)
    });
    assert!(
        body.contains("# TYPE ringledger_commands_total counter"),
        "{body}"
    );
    for (series, v) in expected {
        assert_eq!(sample(&body, series), Some(v), "{series}\n{body}");
    }
    assert_eq!(
        sample(&body, "ringledger_ledger_batch_events_bucket{le=\"4\"}"),
        Some(2.0),
        "two batches of <= 4 events"
    );
    let requests = sample(&body, "ringledger_request_duration_seconds_count").unwrap();
    assert!(requests >= 28.0, "{requests}");
    assert!(sample(&body, "ringledger_connected_clients").unwrap() >= 2.0);
    assert_eq!(
        sample(&body, "ringledger_ledger_transfers_used"),
        Some(2.0),
        "the refused transfer claimed no slot"
    );

    // More traffic: the counters move.
    let _: () = redis::cmd("SET")
        .arg("again")
        .arg("v")
        .query(&mut r)
        .unwrap();
    let body = scrape_until(&addr, |b| {
        sample(b, "ringledger_command_calls_total{command=\"set\"}") == Some(26.0)
            && sample(b, "ringledger_request_duration_seconds_count").is_some_and(|n| n > requests)
    });
    assert_eq!(
        sample(&body, "ringledger_command_calls_total{command=\"set\"}"),
        Some(26.0)
    );
    assert!(sample(&body, "ringledger_request_duration_seconds_count").unwrap() > requests);
}

#[test]
fn info_sections_carry_the_same_figures() {
    let s = start();
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    c.create_accounts(&[Account {
        id: 1,
        ledger: 1,
        code: 1,
        ..Account::default()
    }])
    .unwrap();
    c.lookup_accounts(&[1, 2]).unwrap();
    let mut r = s.redis();
    let mut info = redis::InfoDict::new("");
    for _ in 0..50 {
        let text: String = redis::cmd("INFO")
            .arg("ledger")
            .arg("stats")
            .query(&mut r)
            .unwrap();
        info = redis::InfoDict::new(&text);
        // Each worker publishes its histogram cells at most once per millisecond and at
        // least once per 100 ms tick; the create may have run on the other worker.
        let published = ["ledger_requests_lookup_accounts", "ledger_accounts_created"]
            .iter()
            .all(|k| info.get::<u64>(k) == Some(1));
        if published {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info.get::<u64>("ledger_accounts_created"), Some(1));
    assert_eq!(info.get::<u64>("ledger_requests_create_accounts"), Some(1));
    assert_eq!(info.get::<u64>("ledger_requests_lookup_accounts"), Some(1));
    assert_eq!(info.get::<u64>("ledger_accounts_used"), Some(1));
    assert_eq!(info.get::<u64>("ledger_partitions"), Some(2));
    assert!(info.get::<u64>("total_commands_processed").unwrap() >= 2);
    assert!(info.get::<u64>("recv_buffer_parks").is_some());
    assert!(info
        .get::<String>("request_latency_usec_buckets")
        .unwrap()
        .starts_with("10="));
    // INFO commandstats: per-command figures as Redis prints them.
    let text: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut r)
        .unwrap();
    assert!(text.contains("cmdstat_info:calls="), "{text}");
}

// ---- The endpoint's bounds: what no peer can do to it ------------------------------------
//
// Each test below would fail on an endpoint that serves one connection at a time with a
// per-read timeout and unbounded lines (what it was): the first peer holds every scrape.

/// The endpoint's deadline for a whole request head (server/src/metrics/endpoint.rs).
const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// Sends `request` on a new connection and reads the reply until the server closes, waiting
/// at most `limit` in all; returns the status line ("" when nothing came) and the time taken.
fn request_within(addr: &str, request: &[u8], limit: Duration) -> (String, Duration) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let text = read_reply(&mut s, t0 + limit);
    (status_line(&text), t0.elapsed())
}

/// Reads until the server closes (or resets) the connection, or `deadline` passes (a panic:
/// the server did not answer in time).
fn read_reply(s: &mut TcpStream, deadline: Instant) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no complete reply in time; got {:?}",
            String::from_utf8_lossy(&got)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset after the reply (the server closed with our bytes unread) ends it too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the reply: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn status_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

/// A scrape must answer 200 well within this, whatever other peers do.
const PROMPT: Duration = Duration::from_millis(1500);

fn scrape_promptly(addr: &str) -> Duration {
    let (status, took) = request_within(addr, SCRAPE, PROMPT);
    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
    took
}

/// The peak resident memory of `pid` in KiB (VmHWM: a buffer grown and freed again while the
/// test was not looking still counts).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_peer_sending_10mb_without_a_newline_is_cut_off_and_memory_stays_bounded() {
    let s = start();
    let addr = s.metrics_addr.clone().unwrap();
    scrape_promptly(&addr); // the render's own buffers are allocated before the baseline
    let before = peak_rss_kib(s.child.id());

    let t0 = Instant::now();
    let flood = TcpStream::connect(&addr).unwrap();
    let mut writer = flood.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let chunk = [b'a'; 64 << 10];
        let mut sent = 0usize;
        while sent < 10 << 20 {
            match writer.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break, // cut off
            }
        }
        sent
    });
    // A scrape while the flood is being sent (it connected after the flood, so an endpoint
    // serving one connection at a time would make it wait for the flood's end).
    let scrape = scrape_promptly(&addr);
    // The server answers the flood and closes long before any per-read or head deadline.
    let mut reader = flood;
    let reply = read_reply(&mut reader, t0 + Duration::from_secs(3));
    let cut_off = t0.elapsed();
    let sent = sending.join().unwrap();
    let grown = peak_rss_kib(s.child.id()).saturating_sub(before);
    eprintln!(
        "flood: cut off after {cut_off:?} having sent {} KiB ({:?}); scrape meanwhile took {scrape:?}; server peak RSS grew {grown} KiB",
        sent >> 10,
        status_line(&reply)
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply:?}"
    );
    assert!(
        grown < 4 << 10,
        "peak RSS grew by {grown} KiB for a 10 MB head"
    );
    // Still serving.
    scrape_promptly(&addr);
}

#[test]
fn a_peer_trickling_a_byte_per_second_delays_no_scrape_and_is_cut_off() {
    let s = start();
    let addr = s.metrics_addr.clone().unwrap();
    let t0 = Instant::now();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    // A head that never ends: one byte a second, forever.
    let head = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
    let mut slowest_scrape = Duration::ZERO;
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    let reply = loop {
        let byte = head.get(sent).copied().unwrap_or(b'a');
        if slow.write_all(&[byte]).is_err() {
            break String::new(); // the server closed before reading it
        }
        sent += 1;
        // Every second, another peer scrapes: it must not wait for the slow one.
        slowest_scrape = slowest_scrape.max(scrape_promptly(&addr));
        match slow.read(&mut buf) {
            Ok(n) => break String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break String::new(),
        }
        assert!(
            t0.elapsed() < HEAD_DEADLINE + Duration::from_secs(3),
            "a peer trickling {sent} bytes is still connected after {:?}",
            t0.elapsed()
        );
    };
    let cut_off = t0.elapsed();
    eprintln!(
        "trickle: cut off after {cut_off:?} and {sent} bytes ({:?}); slowest concurrent scrape {slowest_scrape:?}",
        status_line(&reply)
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply:?}"
    );
    // Cut off by the deadline on the whole head (not before it: the peer did nothing wrong
    // until then but be slow).
    assert!(
        cut_off >= HEAD_DEADLINE - Duration::from_millis(100),
        "{cut_off:?}"
    );
}

#[test]
fn two_hundred_concurrent_connections_get_answers_or_a_quick_503() {
    let s = start();
    let addr = s.metrics_addr.clone().unwrap();
    // Two peers that connect first and never send (fewer than the serving threads)...
    let _silent: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // ...and 198 scrapers at once. Connecting is bounded too: a listen backlog too short for
    // the burst would leave handshakes to be retried seconds later.
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(3);
    let target: std::net::SocketAddr = addr.parse().unwrap();
    let mut scrapers: Vec<TcpStream> = (0..198)
        .map(|i| {
            let left = deadline.saturating_duration_since(Instant::now());
            TcpStream::connect_timeout(&target, left.max(Duration::from_millis(1)))
                .unwrap_or_else(|e| panic!("connection {i} after {:?}: {e}", t0.elapsed()))
        })
        .collect();
    for c in &mut scrapers {
        c.write_all(SCRAPE).unwrap();
    }
    let (mut ok, mut busy) = (0, 0);
    for c in &mut scrapers {
        let status = status_line(&read_reply(c, deadline));
        if status.starts_with("HTTP/1.1 200") {
            ok += 1;
        } else if status.starts_with("HTTP/1.1 503") {
            busy += 1;
        } else {
            panic!("{status:?}");
        }
    }
    eprintln!(
        "200 connections: {ok} answered 200, {busy} answered 503, all within {:?}",
        t0.elapsed()
    );
    assert_eq!(ok + busy, 198);
    assert!(ok > 0);
    // Once the burst is over, scrapes are served again.
    scrape_promptly(&addr);
}

#[test]
fn a_configured_token_is_required() {
    let s = start_with_metrics("token = \"s3cret-Token_1\"");
    let addr = s.metrics_addr.clone().unwrap();
    let ask_for = |path: &str, auth: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
        let t0 = Instant::now();
        let mut c = TcpStream::connect(&addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        read_reply(&mut c, t0 + PROMPT)
    };
    let ask = |auth: &str| ask_for("/metrics", auth);
    let without = ask("");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    assert!(without.contains("WWW-Authenticate: Bearer"), "{without}");
    let wrong = ask("Authorization: Bearer s3cret-Token_2\r\n");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let with = ask("Authorization: Bearer s3cret-Token_1\r\n");
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    assert!(
        with.contains("# TYPE ringledger_commands_total counter"),
        "{with}"
    );
    // Without the token even a wrong path is 401, not 404.
    let nope = ask_for("/nope", "");
    assert!(nope.starts_with("HTTP/1.1 401"), "{nope}");
}
