//! Process-level limits: a graceful shutdown that ends although a client does not read, a
//! second signal that exits at once, and `max_clients` fitted to the open-file limit.

mod common;

use common::{encode, wait_exit, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A client that asks for ~64 MB of replies and reads none of them: its output stays unsent,
/// so a graceful shutdown cannot finish on its own.
fn stuck_reader(s: &Server) -> TcpStream {
    let mut r = s.redis();
    let big = vec![b'x'; 1 << 20];
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut r)
        .unwrap();
    let mut c = s.connect();
    let gets: Vec<u8> = (0..64).flat_map(|_| encode(&[b"GET", b"big"])).collect();
    c.write_all(&gets).unwrap();
    // Wait until the server is writing to it (one byte read proves replies are flowing).
    let mut first = [0u8; 1];
    c.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"$");
    c
}

#[test]
fn a_shutdown_ends_within_its_timeout_when_a_client_does_not_read() {
    let mut s = Server::start_with_server_keys("uring", "shutdown_timeout = 1");
    let _client = stuck_reader(&s);
    let started = Instant::now();
    signal(&s, "TERM");
    let status = wait_exit(&mut s.child, Duration::from_secs(15))
        .expect("the server exits after its shutdown timeout");
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "exited after {took:?}, the timeout is 1 s"
    );
    // The port is free for a replacement.
    std::net::TcpListener::bind(s.addr).expect("the listener was closed");
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut s = Server::start_with_server_keys("epoll", "shutdown_timeout = 600");
    let _client = stuck_reader(&s);
    signal(&s, "TERM");
    // The first signal started a graceful shutdown, held up by the client.
    assert!(wait_exit(&mut s.child, Duration::from_millis(500)).is_none());
    let started = Instant::now();
    signal(&s, "INT");
    let status = wait_exit(&mut s.child, Duration::from_secs(5)).expect("exits at once");
    assert_eq!(status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn max_clients_is_fitted_to_the_open_file_limit() {
    // 2 workers keep 128 descriptors for themselves: 200 leaves room for 72 clients.
    let s = Server::start_with_nofile("uring", "[limits]\nmax_clients = 30000", 200);
    let mut r = s.redis();
    let (_, max): (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut r)
        .unwrap();
    assert_eq!(max, "72");
    // 71 more fit beside `r`; the 73rd gets Redis's error instead of hanging.
    let mut clients = Vec::new();
    for _ in 0..71 {
        let mut c = s.connect();
        c.write_all(b"PING\r\n").unwrap();
        let mut pong = [0u8; 7];
        c.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        clients.push(c);
    }
    let mut refused = s.connect();
    let mut reply = Vec::new();
    refused.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
}

/// This machine's address on its outbound interface (no packet is sent: connecting a UDP socket
/// only picks the route).
fn non_loopback_address() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe
        .connect("192.0.2.255:9")
        .or_else(|_| probe.connect("10.255.255.255:9"))
        .expect("a route off the loopback interface (the test needs a non-loopback address)");
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip
}

#[test]
fn protected_mode_refuses_other_hosts_until_a_password_is_set() {
    let s = Server::start_at("uring", "0.0.0.0:0".parse().unwrap(), "");
    let outside = std::net::SocketAddr::new(non_loopback_address(), s.addr.port());
    let mut c = TcpStream::connect(outside).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).unwrap();
    assert!(
        reply.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
        "{reply}"
    );
    // From the loopback interface: served, and a password opens the door to other hosts.
    let local = format!("redis://127.0.0.1:{}", s.addr.port());
    let mut r = redis::Client::open(local)
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("pw")
        .query(&mut r)
        .unwrap();
    let mut c = TcpStream::connect(outside).unwrap();
    c.write_all(b"AUTH pw\r\nPING\r\n").unwrap();
    let mut ok = [0u8; 12];
    c.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n+PONG\r\n");
    // So does turning protected mode off.
    let _: () = redis::cmd("AUTH").arg("pw").query(&mut r).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("protected-mode")
        .arg("no")
        .query(&mut r)
        .unwrap();
    let mut c = TcpStream::connect(outside).unwrap();
    c.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    c.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
}

fn info_field(r: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text: String = redis::cmd("INFO").arg(section).query(r).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {text}"))
}

#[test]
fn clients_over_the_memory_cap_are_closed_largest_first() {
    let s = Server::start(
        "uring",
        "[limits]\nmax_client_memory = \"8mb\"\n[metrics]\naddress = \"127.0.0.1:0\"",
    );
    let mut r = s.redis();
    assert_eq!(info_field(&mut r, "memory", "maxmemory_clients"), 8 << 20);
    // Ten clients each hold 3 MB of a request they never finish: 30 MB of buffers.
    let chunk = vec![b'x'; 3 << 20];
    let mut hogs: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"*2\r\n$4\r\nECHO\r\n$60000000\r\n").unwrap();
            c.write_all(&chunk).unwrap();
            c
        })
        .collect();
    assert!(
        common::eventually(Duration::from_secs(10), || {
            info_field(&mut r, "stats", "evicted_clients") > 0
                && info_field(&mut r, "memory", "mem_clients_normal") <= 8 << 20
        }),
        "evicted {} clients, {} bytes held",
        info_field(&mut r, "stats", "evicted_clients"),
        info_field(&mut r, "memory", "mem_clients_normal")
    );
    // The evicted ones are closed; the server and the small client go on.
    let gone = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match c.read(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    };
    let closed = hogs.iter_mut().map(gone).filter(|g| *g).count();
    assert!(closed >= 1, "no hog was disconnected");
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
    let metrics = scrape(s.metrics_addr.as_deref().unwrap());
    let evicted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ringledger_clients_evicted_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(evicted.is_some_and(|n| n >= 1), "{metrics}");
    assert!(
        metrics.contains("ringledger_client_memory_bytes "),
        "{metrics}"
    );
}

fn scrape(addr: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn failed_auth_attempts_are_throttled() {
    let s = Server::start("uring", "[security]\nrequirepass = \"right\"");
    let mut c = s.connect();
    let guesses: Vec<u8> = (0..10)
        .flat_map(|i| encode(&[b"AUTH", format!("guess{i}").as_bytes()]))
        .collect();
    let started = Instant::now();
    c.write_all(&guesses).unwrap();
    let wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let mut replies = vec![0u8; wrongpass.len() * 10];
    c.read_exact(&mut replies).unwrap();
    let took = started.elapsed();
    assert!(replies.chunks(wrongpass.len()).all(|r| r == wrongpass));
    // Each failure holds the next attempt back 100 ms: nine waits.
    assert!(took >= Duration::from_millis(850), "10 guesses in {took:?}");
    // The right password still works on the same connection.
    c.write_all(&encode(&[b"AUTH", b"right"])).unwrap();
    let mut ok = [0u8; 5];
    c.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
}

#[test]
fn unauthenticated_connections_are_closed_after_the_auth_timeout() {
    let s = Server::start(
        "epoll",
        "[security]\nrequirepass = \"right\"\nauth_timeout = 1",
    );
    let mut idle = s.connect();
    let mut authed = s.connect();
    authed.write_all(&encode(&[b"AUTH", b"right"])).unwrap();
    let mut ok = [0u8; 5];
    authed.read_exact(&mut ok).unwrap();
    let started = Instant::now();
    let mut b = [0u8; 1];
    assert_eq!(idle.read(&mut b).unwrap(), 0, "closed by the server");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    authed.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    authed.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n", "an authenticated client stays");
}
