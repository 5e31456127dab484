//! Metrics: `/metrics` scraped over HTTP after traffic shows the counters moving, in the
//! Prometheus text format; the same figures in INFO, parsed with the `redis` crate.

mod common;

use client::Client;
use common::Server;
use ledger::{Account, Transfer};
use std::io::{Read, Write};
use std::time::Duration;

fn start() -> Server {
    Server::start(
        "uring",
        "[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n\n[metrics]\naddress = \"127.0.0.1:0\"\n",
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
