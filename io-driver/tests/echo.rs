//! The driver on its own, on both engines, with an echo handler: bytes in equal bytes out, in
//! order, across many connections, tiny buffer rings (ENOBUFS), back-pressure, slot reuse,
//! timers, cross-thread wake-ups and graceful shutdown.

use io_driver::{bind_reuseport, Accepted, Config, ConnId, Engine, EventLoop, Handler, Io, Waker};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    wakes: AtomicUsize,
    timers: AtomicUsize,
    accepted: AtomicUsize,
    closed: AtomicUsize,
    max_unsent: AtomicUsize,
    max_presented: AtomicUsize,
    /// Messages "sent" to the loop by other threads before they wake it...
    published: AtomicUsize,
    /// ...and the most the handler has seen in on_wake.
    seen: AtomicUsize,
}

struct Echo {
    shared: Arc<Shared>,
    timer_every: Option<Duration>,
    /// Echo no more than this much unsent output (a well-behaved handler's back-pressure).
    output_bound: usize,
}

impl Handler for Echo {
    fn on_accept(&mut self, io: &mut Io<'_>, _conn: ConnId, _a: &Accepted) {
        if self.shared.accepted.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Some(every) = self.timer_every {
                io.set_timer(Instant::now() + every, 0);
            }
        }
    }
    fn on_data(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize {
        self.shared
            .max_presented
            .fetch_max(data.len(), Ordering::SeqCst);
        let room = self.output_bound.saturating_sub(io.unsent(conn));
        let take = data.len().min(room);
        if let Some(out) = io.output(conn) {
            out.extend_from_slice(&data[..take]);
        }
        let unsent = io.unsent(conn);
        self.shared.max_unsent.fetch_max(unsent, Ordering::SeqCst);
        take
    }
    fn on_close(&mut self, _io: &mut Io<'_>, _conn: ConnId) {
        self.shared.closed.fetch_add(1, Ordering::SeqCst);
    }
    fn on_wake(&mut self, io: &mut Io<'_>) {
        self.shared.wakes.fetch_add(1, Ordering::SeqCst);
        let published = self.shared.published.load(Ordering::SeqCst);
        self.shared.seen.fetch_max(published, Ordering::SeqCst);
        if self.shared.stop.load(Ordering::SeqCst) {
            for c in io.open_connections() {
                io.close(c);
            }
            io.shutdown();
        }
    }
    fn on_timer(&mut self, io: &mut Io<'_>, _token: u64) {
        self.shared.timers.fetch_add(1, Ordering::SeqCst);
        if let Some(every) = self.timer_every {
            io.set_timer(Instant::now() + every, 0);
        }
    }
}

struct Running {
    addr: SocketAddr,
    waker: Waker,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
        self.thread.take().unwrap().join().unwrap();
    }
}

fn start(engine: Engine, config: Config, timer_every: Option<Duration>) -> Running {
    let listener = bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Arc::new(Shared::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = shared.clone();
    let config_bound = config.max_output_bytes;
    let thread = std::thread::spawn(move || {
        let (mut ev, _) = EventLoop::new(Config { engine, ..config }, vec![listener]).unwrap();
        tx.send(ev.waker()).unwrap();
        let mut h = Echo {
            shared: s2,
            timer_every,
            output_bound: config_bound,
        };
        ev.run(&mut h).unwrap();
    });
    let waker = rx.recv().unwrap();
    Running {
        addr,
        waker,
        shared,
        thread: Some(thread),
    }
}

fn engines() -> Vec<Engine> {
    vec![Engine::Uring, Engine::Epoll]
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `data` from one thread while reading the echo on this one.
fn echo_roundtrip(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let len = data.len();
    let writer = std::thread::spawn(move || {
        for chunk in data.chunks(7919) {
            w.write_all(chunk).unwrap();
        }
    });
    let mut got = vec![0u8; len];
    (&s).read_exact(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn echoes_many_connections_in_order() {
    for engine in engines() {
        let r = start(engine, Config::default(), None);
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let addr = r.addr;
                std::thread::spawn(move || {
                    let data = pattern(i, 300_000 + i as usize * 1000);
                    assert_eq!(
                        echo_roundtrip(addr, data.clone()),
                        data,
                        "{engine:?} conn {i}"
                    );
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(r.shared.accepted.load(Ordering::SeqCst), 16);
        r.stop();
    }
}

#[test]
fn tiny_buffer_ring_loses_nothing() {
    // Two 512-byte buffers: receives run out of buffers constantly (ENOBUFS on io_uring).
    let config = Config {
        buffer_count: 2,
        buffer_size: 512,
        ..Config::default()
    };
    for engine in engines() {
        let r = start(engine, config.clone(), None);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let addr = r.addr;
                std::thread::spawn(move || {
                    let data = pattern(100 + i, 200_000);
                    assert_eq!(echo_roundtrip(addr, data.clone()), data, "{engine:?}");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        r.stop();
    }
}

#[test]
fn back_pressure_bounds_output_and_resumes() {
    // The client writes 8 MB without reading; the echo's unsent output must stay near the bound.
    let bound = 256 * 1024;
    // 64 x 16 KiB receive buffers: at most 1 MiB can be in flight when reading stops.
    let config = Config {
        max_output_bytes: bound,
        buffer_count: 64,
        ..Config::default()
    };
    for engine in engines() {
        let r = start(engine, config.clone(), None);
        let s = TcpStream::connect(r.addr).unwrap();
        let mut w = s.try_clone().unwrap();
        let data = pattern(7, 8 << 20);
        let expected = data.clone();
        let writer = std::thread::spawn(move || w.write_all(&data).unwrap());
        // Let the writer run into the wall: poll until the server's output stops growing.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = r.shared.max_unsent.load(Ordering::SeqCst);
            if (now == last && now > 0) || Instant::now() > deadline {
                break;
            }
            last = now;
        }
        let peak = r.shared.max_unsent.load(Ordering::SeqCst);
        assert!(peak <= bound, "{engine:?}: unsent output reached {peak}");
        assert!(
            peak > bound / 2,
            "{engine:?}: the writer never filled the output ({peak})"
        );
        // Input held back is bounded too: 256 KiB held plus what was already received.
        let held = r.shared.max_presented.load(Ordering::SeqCst);
        assert!(
            held <= 256 * 1024 + (1 << 20) + 16 * 1024,
            "{engine:?}: {held} bytes of input held"
        );
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = vec![0u8; expected.len()];
        (&s).read_exact(&mut got).unwrap();
        writer.join().unwrap();
        assert!(
            got == expected,
            "{engine:?}: echo differs after back-pressure"
        );
        r.stop();
    }
}

#[test]
fn slots_are_reused_and_stale_completions_ignored() {
    for engine in engines() {
        let r = start(
            engine,
            Config {
                max_connections: 8,
                ..Config::default()
            },
            None,
        );
        for i in 0..200u64 {
            let data = pattern(i, 1000);
            assert_eq!(echo_roundtrip(r.addr, data.clone()), data);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.shared.closed.load(Ordering::SeqCst) < 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(r.shared.accepted.load(Ordering::SeqCst), 200, "{engine:?}");
        assert_eq!(r.shared.closed.load(Ordering::SeqCst), 200, "{engine:?}");
        r.stop();
    }
}

#[test]
fn wakes_from_other_threads_and_timers_fire() {
    for engine in engines() {
        let r = start(engine, Config::default(), Some(Duration::from_millis(5)));
        // The first connection arms a 5 ms timer that re-arms itself.
        let _client = TcpStream::connect(r.addr).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.shared.timers.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            r.shared.timers.load(Ordering::SeqCst) >= 5,
            "{engine:?}: timers did not fire"
        );
        // Many wakes from several threads arrive, coalesced.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = r.waker.clone();
                let shared = r.shared.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        shared.published.fetch_add(1, Ordering::SeqCst);
                        w.wake();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Every message published before a wake is seen by some later on_wake: none is lost
        // to coalescing.
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.shared.seen.load(Ordering::SeqCst) < 4000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(r.shared.seen.load(Ordering::SeqCst), 4000, "{engine:?}");
        assert!(
            r.shared.wakes.load(Ordering::SeqCst) <= 4000,
            "{engine:?}: more on_wake calls than wakes"
        );
        r.stop();
    }
}

#[test]
fn shutdown_flushes_pending_output() {
    for engine in engines() {
        let r = start(engine, Config::default(), None);
        let s = TcpStream::connect(r.addr).unwrap();
        (&s).write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (&s).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        r.stop();
        // The server closed the connection after flushing: reading gives end-of-file.
        let mut rest = Vec::new();
        (&s).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}
