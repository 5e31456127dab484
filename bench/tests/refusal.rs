//! A server that refuses creates (its transfer table is full) stops a run at once: the bench
//! names the refusal, reports the rate it reached until then, and exits 1, instead of idling
//! to the end of `--duration` and printing `transfers_per_second=0`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far longer than the run needs (the table fills in well under a second): a bench that idles
/// to the end of its duration is caught by the time limit below.
const DURATION_SECS: &str = "60";
const TIME_LIMIT: Duration = Duration::from_secs(20);
const MAX_TRANSFERS: u64 = 5000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the real server in this process, with a binary and a RESP listener.
fn start_server() -> (String, String) {
    let (binary, resp) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let text = format!(
        "[server]\nworkers = 2\npin_cores = false\n\n\
         [[listener]]\nprotocol = \"binary\"\naddress = \"{binary}\"\n\n\
         [[listener]]\nprotocol = \"resp\"\naddress = \"{resp}\"\n\n\
         [ledger]\nmax_transfers = {MAX_TRANSFERS}\n"
    );
    let config = server::config::Config::parse(&text).unwrap();
    std::thread::spawn(move || server::runtime::run(config, None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&resp).is_err() || TcpStream::connect(&binary).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (binary, resp)
}

/// Runs the bench to its exit (at most `TIME_LIMIT`); returns its exit code, stdout and run time.
fn bench(address: &str, protocol: &str) -> (Option<i32>, String, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringledger-bench"))
        .args(["--address", address, "--protocol", protocol])
        .args(["--accounts", "100", "--batch", "100", "--connections", "2"])
        .args(["--duration", DURATION_SECS])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            panic!("the bench was still running after {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    (status.code(), reading.join().unwrap(), took)
}

fn value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn a_full_transfer_table_stops_the_run_at_the_first_refusal() {
    let (binary, resp) = start_server();
    let refusal = format!(
        "the server refused create_transfers: transfers table is full (max_transfers = {MAX_TRANSFERS})"
    );

    // Binary protocol: the table fills (batches of 100 fit exactly), then the first
    // refusal (a `Refused` reply) stops the run.
    let (code, out, took) = bench(&binary, "binary");
    eprintln!("binary run ({took:?}):\n{out}");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("stopped after ") && out.contains(&refusal),
        "{out}"
    );
    assert!(
        out.contains(&format!("transfers={MAX_TRANSFERS} ")),
        "{out}"
    );
    assert!(value(&out, "transfers_per_second=") > 0, "{out}");
    assert!(
        out.contains("audit=ok"),
        "nothing of a refused batch is applied: {out}"
    );

    // RESP: the refusal comes back as `-ERR`; the table is already full, so the very first
    // batch is refused and the rate is zero, but the run still ends at once and says why.
    let (code, out, took) = bench(&resp, "resp");
    eprintln!("resp run ({took:?}):\n{out}");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("transfers table is full"), "{out}");
    assert!(out.contains("transfers=0 "), "{out}");
}
