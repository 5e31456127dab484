//! The real server over TCP with real clients (the `redis` crate, raw sockets, redis-cli where
//! installed), on both I/O engines.

mod common;

use common::{encode, eventually, read_to_close, roundtrip, Server, ENGINES};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

#[test]
fn redis_crate_resp2() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let mut c = server.redis();
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
        let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
        assert_eq!(v, "v", "{engine}");
        let n: i64 = redis::cmd("INCRBY").arg("n").arg(5).query(&mut c).unwrap();
        assert_eq!(n, 5);
        let vals: Vec<Option<String>> = redis::cmd("MGET")
            .arg("k")
            .arg("nope")
            .arg("n")
            .query(&mut c)
            .unwrap();
        assert_eq!(vals, vec![Some("v".into()), None, Some("5".into())]);
        let _: i64 = redis::cmd("EXPIRE")
            .arg("k")
            .arg(100)
            .query(&mut c)
            .unwrap();
        let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut c).unwrap();
        assert!((99..=100).contains(&ttl), "{engine}: ttl {ttl}");
        let err = redis::cmd("NOSUCH").query::<()>(&mut c).unwrap_err();
        assert!(
            err.to_string().contains("unknown command 'NOSUCH'"),
            "{err}"
        );
    }
}

#[test]
fn redis_crate_resp3() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let url = format!("{}/?protocol=resp3", server.url());
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
        let v: redis::Value = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
        assert_eq!(v, redis::Value::Nil, "{engine}");
        let m: redis::Value = redis::cmd("CONFIG")
            .arg("GET")
            .arg("databases")
            .query(&mut c)
            .unwrap();
        assert!(
            matches!(m, redis::Value::Map(_)),
            "{engine}: RESP3 map expected, got {m:?}"
        );
        let hello: redis::Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
        assert!(matches!(hello, redis::Value::Map(_)));
    }
}

#[test]
fn ten_thousand_pipelined_commands_in_one_write() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let mut s = server.connect();
        let mut batch = Vec::new();
        for i in 0..5_000 {
            batch.extend(encode(&[
                b"SET",
                format!("k{i}").as_bytes(),
                format!("v{i}").as_bytes(),
            ]));
            batch.extend(encode(&[b"GET", format!("k{i}").as_bytes()]));
        }
        let mut expected = Vec::new();
        for i in 0..5_000 {
            expected.extend_from_slice(b"+OK\r\n");
            let v = format!("v{i}");
            expected.extend(format!("${}\r\n{v}\r\n", v.len()).into_bytes());
        }
        let got = roundtrip(&mut s, &batch, expected.len());
        assert!(got == expected, "{engine}: pipelined replies differ");
    }
}

#[test]
fn a_thousand_concurrent_connections() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let mut conns: Vec<_> = (0..1000).map(|_| server.connect()).collect();
        for s in conns.iter_mut() {
            s.write_all(b"PING\r\n").unwrap();
        }
        for s in conns.iter_mut() {
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"+PONG\r\n");
        }
        let mut c = server.redis();
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        assert!(info.contains("connected_clients:1001"), "{engine}: {info}");
        drop(conns);
        assert!(
            eventually(Duration::from_secs(10), || {
                let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
                info.contains("connected_clients:1\r\n")
            }),
            "{engine}: closed connections are unregistered"
        );
    }
}

#[test]
fn disconnect_mid_frame_leaves_the_server_fine() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        for cut in [1, 5, 11, 20] {
            let mut s = server.connect();
            let frame = encode(&[b"SET", b"key", b"a-value-that-is-cut"]);
            s.write_all(&frame[..cut]).unwrap();
            drop(s);
        }
        let mut c = server.redis();
        let exists: i64 = redis::cmd("EXISTS").arg("key").query(&mut c).unwrap();
        assert_eq!(exists, 0, "{engine}: a partial frame must not execute");
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn oversize_bulk_is_refused_and_the_connection_closed() {
    for engine in ENGINES {
        let server = Server::start(engine, "[limits]\nmax_request_bytes = \"1mb\"\n");
        let mut s = server.connect();
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
            .unwrap();
        let reply = read_to_close(&mut s);
        assert_eq!(
            reply, b"-ERR Protocol error: invalid bulk length\r\n",
            "{engine}"
        );
        let mut c = server.redis();
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG", "{engine}: the server is fine");
        // Exactly at the limit is accepted.
        let value = vec![b'x'; 1_048_576];
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(&value)
            .query(&mut c)
            .unwrap();
        let len: i64 = redis::cmd("STRLEN").arg("big").query(&mut c).unwrap();
        assert_eq!(len, 1_048_576);
    }
}

#[test]
fn protocol_errors_close_the_connection_like_redis() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let mut s = server.connect();
        s.write_all(b"*1\r\nfoo\r\n").unwrap();
        assert_eq!(
            read_to_close(&mut s),
            b"-ERR Protocol error: expected '$', got 'f'\r\n",
            "{engine}"
        );
        let mut s = server.connect();
        s.write_all(b"SET \"unbalanced\r\n").unwrap();
        assert_eq!(
            read_to_close(&mut s),
            b"-ERR Protocol error: unbalanced quotes in request\r\n"
        );
    }
}

#[test]
fn tiny_buffer_ring_moves_big_values_intact() {
    for engine in ENGINES {
        let server = Server::start(engine, "buffer_count = 2\nbuffer_size = 512\n");
        let mut c = server.redis();
        let value: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(&value)
            .query(&mut c)
            .unwrap();
        let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c).unwrap();
        assert!(back == value, "{engine}: value corrupted");
    }
}

#[test]
fn a_reader_that_stalls_does_not_hold_up_others() {
    for engine in ENGINES {
        let server = Server::start(engine, "[limits]\nmax_output_bytes = \"1mb\"\n");
        let mut c = server.redis();
        let _: () = redis::cmd("SET")
            .arg("v")
            .arg(vec![b'z'; 10_000])
            .query(&mut c)
            .unwrap();
        // A client pipelines 2,000 GETs of a 10 KB value (20 MB of replies) and reads nothing.
        let mut slow = server.connect();
        let batch: Vec<u8> = (0..2_000).flat_map(|_| encode(&[b"GET", b"v"])).collect();
        let writer = {
            let mut w = slow.try_clone().unwrap();
            std::thread::spawn(move || w.write_all(&batch).unwrap())
        };
        // Meanwhile others are served promptly.
        for _ in 0..100 {
            let pong: String = redis::cmd("PING").query(&mut c).unwrap();
            assert_eq!(pong, "PONG");
        }
        // Now the slow reader catches up and gets every reply, in order.
        let one = 10_000 + b"$10000\r\n\r\n".len();
        let mut buf = vec![0u8; one * 2_000];
        slow.read_exact(&mut buf).unwrap();
        writer.join().unwrap();
        assert!(
            buf.chunks(one).all(|r| r.starts_with(b"$10000\r\nzzz")),
            "{engine}"
        );
    }
}

#[test]
fn max_clients_is_enforced_with_redis_error() {
    for engine in ENGINES {
        let server = Server::start(engine, "[limits]\nmax_clients = 2\n");
        let mut a = server.connect();
        let mut b = server.connect();
        assert_eq!(roundtrip(&mut a, b"PING\r\n", 7), b"+PONG\r\n");
        assert_eq!(roundtrip(&mut b, b"PING\r\n", 7), b"+PONG\r\n");
        let mut c = server.connect();
        assert_eq!(
            read_to_close(&mut c),
            b"-ERR max number of clients reached\r\n",
            "{engine}"
        );
    }
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    for engine in ENGINES {
        let server = Server::start(engine, "[limits]\nidle_timeout = 1\n");
        let mut s = server.connect();
        assert_eq!(roundtrip(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
        let started = std::time::Instant::now();
        assert!(read_to_close(&mut s).is_empty(), "{engine}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{engine}: closed after {waited:?}"
        );
    }
}

#[test]
fn client_kill_closes_a_connection_on_any_worker() {
    for engine in ENGINES {
        let server = Server::start(engine, "");
        let mut victims: Vec<_> = (0..4).map(|_| server.connect()).collect();
        let mut ids = Vec::new();
        for v in victims.iter_mut() {
            let reply = roundtrip(v, b"CLIENT ID\r\n", 3);
            let mut rest = Vec::new();
            // ":<id>\r\n": read up to the newline.
            let mut byte = [0u8; 1];
            rest.extend_from_slice(&reply);
            while !rest.ends_with(b"\r\n") {
                v.read_exact(&mut byte).unwrap();
                rest.push(byte[0]);
            }
            ids.push(String::from_utf8(rest[1..rest.len() - 2].to_vec()).unwrap());
        }
        let mut c = server.redis();
        for (v, id) in victims.iter_mut().zip(&ids) {
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query(&mut c)
                .unwrap();
            assert_eq!(killed, 1, "{engine}");
            assert!(
                read_to_close(v).is_empty(),
                "{engine}: the victim's connection is closed"
            );
        }
    }
}

#[test]
fn check_validates_configs() {
    let dir = common::tempdir::Dir::new("check");
    let good = dir.0.join("good.toml");
    std::fs::write(
        &good,
        "[server]\nworkers = 2\n[cache]\nmax_memory = \"1gb\"\n",
    )
    .unwrap();
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "[server]\nworkerz = 2\n").unwrap();
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workerz"));
    let bad_value = dir.0.join("bad-value.toml");
    std::fs::write(&bad_value, "[uring]\nbuffer_count = 1000\n").unwrap();
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&bad_value)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("uring.buffer_count") && err.contains("1000"),
        "{err}"
    );
    // The shipped example is valid (its data_dir need not exist yet).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/example.toml");
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "example.toml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_flushes_in_flight_replies_and_exits_zero() {
    for engine in ENGINES {
        let mut server = Server::start(engine, "");
        let mut s = server.connect();
        let batch: Vec<u8> = (0..20_000)
            .flat_map(|_| encode(&[b"INCR", b"counter"]))
            .collect();
        s.write_all(&batch).unwrap();
        // Wait for the first reply, so the batch is being processed, then ask the server to stop.
        let mut first = [0u8; 4];
        s.read_exact(&mut first).unwrap();
        let status = server.terminate();
        assert!(status.success(), "{engine}: exit status {status:?}");
        // Whatever was answered arrived whole, and the connection ended cleanly.
        let rest = read_to_close(&mut s);
        let all = [first.to_vec(), rest].concat();
        assert!(all.ends_with(b"\r\n"), "{engine}: a reply was cut");
    }
}

#[test]
fn restarts_on_the_same_port_right_after_exit() {
    for engine in ENGINES {
        let mut server = Server::start(engine, "");
        let addr = server.addr;
        // Restarting at once, as a supervisor does, must find the port free: each exit has to
        // release its listeners before the process ends (io_uring's teardown is asynchronous).
        for restart in 0..4 {
            let mut c = server.redis();
            let pong: String = redis::cmd("PING").query(&mut c).unwrap();
            assert_eq!(pong, "PONG");
            drop(c);
            let status = server.terminate();
            assert!(status.success(), "{engine}: exit status {status:?}");
            server = Server::start_at(engine, addr, "");
            assert_eq!(server.addr, addr, "{engine}: restart {restart}");
        }
    }
}

/// INFO's `coalesced_waits`, summed over the workers (each publishes its counters at the end of
/// every loop turn, so the sum is current once the replies of the waits it counts have arrived).
fn coalesced_waits(server: &Server) -> u64 {
    let mut c = server.redis();
    let text: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    redis::InfoDict::new(&text)
        .get::<u64>("coalesced_waits")
        .expect("INFO stats has coalesced_waits")
}

#[test]
fn many_clients_share_wake_ups_and_every_request_is_answered() {
    // Both ways the kernel may run completions: as deferred task work, or at once.
    for (engine, defer) in [("uring", true), ("uring", false), ("epoll", true)] {
        let server = Server::start(
            engine,
            &format!("min_wait_us = 2000\ndefer_taskrun = {defer}"),
        );
        let clients: Vec<_> = (0..64)
            .map(|i| {
                let mut s = server.connect();
                std::thread::spawn(move || {
                    let key = format!("counter:{i}");
                    let mut worst = Duration::ZERO;
                    for n in 1..=50 {
                        let expect = format!(":{n}\r\n");
                        let t = std::time::Instant::now();
                        let reply =
                            roundtrip(&mut s, &encode(&[b"INCR", key.as_bytes()]), expect.len());
                        worst = worst.max(t.elapsed());
                        assert_eq!(reply, expect.as_bytes(), "client {i}");
                    }
                    worst
                })
            })
            .collect();
        let worst = clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .max()
            .unwrap();
        // No reply waits long: a wait holds completions 2 ms at most (the bound here is loose,
        // for a loaded machine running many tests at once).
        assert!(
            worst < Duration::from_millis(500),
            "{engine} (defer_taskrun {defer}): a reply took {worst:?}"
        );
        let waits = coalesced_waits(&server);
        if engine == "uring" {
            assert!(
                waits > 0,
                "{engine} (defer_taskrun {defer}): 64 busy clients never shared a wake-up (needs Linux 6.12+)"
            );
        } else {
            assert_eq!(waits, 0, "{engine}: epoll does not coalesce");
        }
    }
}

#[test]
fn a_lone_client_is_never_held_for_others() {
    let server = Server::start("uring", "min_wait_us = 10000");
    let mut s = server.connect();
    let t = std::time::Instant::now();
    for _ in 0..300 {
        assert_eq!(roundtrip(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
    }
    // Held 10 ms each, 300 round trips would take 3 s.
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "300 PINGs took {took:?}"
    );
    assert_eq!(coalesced_waits(&server), 0);
}

#[test]
fn shutdown_command_stops_the_server() {
    for engine in ENGINES {
        let mut server = Server::start(engine, "");
        let mut s = server.connect();
        s.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
        assert!(
            read_to_close(&mut s).is_empty(),
            "{engine}: SHUTDOWN has no reply"
        );
        let status =
            common::wait_exit(&mut server.child, Duration::from_secs(20)).expect("server exits");
        assert!(status.success(), "{engine}");
    }
}

#[test]
fn redis_cli_session() {
    assert!(
        Command::new("redis-cli").arg("--version").output().is_ok(),
        "redis-cli is required for this test: apt-get install redis-tools (`cargo xtask test` installs it)"
    );
    let server = Server::start("uring", "");
    let port = server.addr.port().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(run(&["SET", "greeting", "hello"]), "OK");
    assert_eq!(run(&["GET", "greeting"]), "hello");
    assert_eq!(
        run(&["-3", "HELLO", "3"]).lines().next(),
        Some("server redis")
    );
}

/// A second server on a port another one listens on fails like Redis ("Address already in
/// use") instead of silently sharing it through SO_REUSEPORT.
#[test]
fn a_busy_port_refuses_a_second_server() {
    let s = Server::start("uring", "");
    let dir = common::tempdir::Dir::new("busy");
    let config = dir.0.join("second.toml");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\nprotocol = \"resp\"\naddress = \"{}\"\n",
            s.addr
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::binary())
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {}", s.addr)) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn info_errorstats_counts_error_replies_by_kind() {
    let s = Server::start("uring", "");
    let mut r = s.redis();
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("text")
        .query(&mut r)
        .unwrap();
    assert!(redis::cmd("NOSUCH").query::<()>(&mut r).is_err());
    assert!(redis::cmd("GET").query::<()>(&mut r).is_err());
    assert!(redis::cmd("INCR").arg("s").query::<()>(&mut r).is_err());
    let errorstats = |r: &mut redis::Connection| -> String {
        redis::cmd("INFO").arg("errorstats").query(r).unwrap()
    };
    let text = errorstats(&mut r);
    assert!(text.contains("errorstat_ERR:count=3\r\n"), "{text}");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut r).unwrap();
    assert!(stats.contains("total_error_replies:3\r\n"), "{stats}");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut r).unwrap();
    assert!(!errorstats(&mut r).contains("errorstat_"));
    assert!(redis::cmd("GET").query::<()>(&mut r).is_err());
    assert!(errorstats(&mut r).contains("errorstat_ERR:count=1\r\n"));
}

#[test]
fn strings_built_by_commands_obey_the_request_size_limit() {
    // proto-max-bulk-len is max_request_bytes (1 MiB here): no command builds a longer string.
    let s = Server::start("uring", "[limits]\nmax_request_bytes = 1048576");
    let mut r = s.redis();
    let too_long = "string exceeds maximum allowed size (proto-max-bulk-len)";
    let err = |res: redis::RedisResult<i64>| res.unwrap_err().to_string();
    let max: (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("proto-max-bulk-len")
        .query(&mut r)
        .unwrap();
    assert_eq!(max.1, "1048576");
    let e = err(redis::cmd("SETRANGE")
        .arg("k")
        .arg(1 << 20)
        .arg("x")
        .query(&mut r));
    assert!(e.contains(too_long), "{e}");
    let ok: i64 = redis::cmd("SETRANGE")
        .arg("k")
        .arg((1 << 20) - 1)
        .arg("x")
        .query(&mut r)
        .unwrap();
    assert_eq!(ok, 1 << 20);
    let e = err(redis::cmd("APPEND").arg("k").arg("y").query(&mut r));
    assert!(e.contains(too_long), "{e}");
    let e = err(redis::cmd("SETBIT")
        .arg("b")
        .arg(8 << 20)
        .arg(1)
        .query(&mut r));
    assert!(
        e.contains("bit offset is not an integer or out of range"),
        "{e}"
    );
    let e = err(redis::cmd("GETBIT").arg("b").arg(8 << 20).query(&mut r));
    assert!(
        e.contains("bit offset is not an integer or out of range"),
        "{e}"
    );
    let bit: i64 = redis::cmd("SETBIT")
        .arg("b")
        .arg((8 << 20) - 1)
        .arg(1)
        .query(&mut r)
        .unwrap();
    assert_eq!(bit, 0);
    let len: i64 = redis::cmd("STRLEN").arg("k").query(&mut r).unwrap();
    assert_eq!(len, 1 << 20, "the refused APPEND changed nothing");
}
