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
