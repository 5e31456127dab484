//! The metrics endpoint's sockets: one thread accepts, a small fixed pool of threads serves,
//! and every cost a peer can impose is bounded, so no scraper (or anyone else who can reach
//! the port) can exhaust the server's memory or hold the endpoint for everyone else:
//!
//! - a request head is at most [`MAX_HEAD_BYTES`] (then `431`);
//! - it must arrive within [`HEAD_DEADLINE`] of a thread starting to read it, counted over the
//!   whole head (a peer trickling a byte at a time does not restart the clock), then `408`;
//! - the response must be taken within [`RESPONSE_DEADLINE`];
//! - at most [`THREADS`] connections are served and [`QUEUED`] wait at once; more are answered
//!   `503` by the accepting thread at once, without reading their request.
//!
//! The accepting thread polls the listener (non-blocking, every [`ACCEPT_POLL`]) so that it
//! sees a shutdown request on its own and closes the port before the rest of the shutdown
//! runs: a replacement process can bind it at once.

use super::http::{self, Answer, MAX_HEAD_BYTES};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Threads serving connections: enough that a few slow peers do not hold up a scrape, few
/// enough to cost nothing while idle (scrapes come every few seconds, each takes about 1 ms).
pub const THREADS: usize = 4;
/// Accepted connections that may wait for a serving thread; beyond these, `503`.
pub const QUEUED: usize = 32;
/// Time from accept for the whole request head to arrive.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Time for the whole response to be sent (a peer that does not read cannot hold a thread).
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);
/// How often the accepting thread looks for new connections and for a shutdown request.
pub const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// The listen backlog: a burst of scrapers waits in the kernel between two polls instead of
/// having its handshakes dropped and retried a second later.
pub const LISTEN_BACKLOG: i32 = 1024;

/// What serving a request needs besides the connection.
pub struct Service {
    /// `[metrics] token`: requests must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The Prometheus text, rendered on each scrape.
    pub render: Box<dyn Fn() -> String + Send + Sync>,
    /// True once the server is shutting down.
    pub stopping: Box<dyn Fn() -> bool + Send + Sync>,
}

/// Binds the metrics address (before the workers start, so a bad address fails start-up).
/// Not SO_REUSEPORT: a port another process listens on is an error, not a shared port.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    use socket2::{Domain, Socket, Type};
    let fail = |e: std::io::Error| format!("metrics.address {addr}: {e}");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(fail)?;
    // As std's bind does: a restarted server can bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    Ok(socket.into())
}

/// Starts the serving threads and the accepting thread. The accepting thread's handle is
/// returned: it ends (and the listener is closed) within [`ACCEPT_POLL`] of `stopping`
/// turning true; connections being served then finish on their own deadlines.
pub fn start(listener: TcpListener, service: Service) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let service = Arc::new(service);
    let (queue, waiting) = mpsc::sync_channel::<TcpStream>(QUEUED);
    let waiting = Arc::new(Mutex::new(waiting));
    for i in 0..THREADS {
        let (service, waiting) = (service.clone(), waiting.clone());
        std::thread::Builder::new()
            .name(format!("metrics-http-{i}"))
            .spawn(move || serve_queue(&waiting, &service))?;
    }
    std::thread::Builder::new()
        .name("metrics-accept".into())
        .spawn(move || accept_loop(listener, &queue, &service))
}

fn accept_loop(listener: TcpListener, queue: &SyncSender<TcpStream>, service: &Service) {
    while !(service.stopping)() {
        match listener.accept() {
            Ok((stream, _)) => match queue.try_send(stream) {
                Ok(()) => {}
                Err(TrySendError::Full(stream)) => refuse_busy(stream),
                Err(TrySendError::Disconnected(_)) => {
                    eprintln!(
                        "ringledger-server: metrics endpoint stopped: no serving thread left"
                    );
                    return;
                }
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Nothing waiting; or out of file descriptors, where retrying at once would spin.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
    // Returning drops the listener: the port is closed now, not when the process exits.
}

/// Answers `503` without blocking the accepting thread: the response is far smaller than a
/// socket's send buffer, so one non-blocking write sends it or the peer is gone.
fn refuse_busy(mut stream: TcpStream) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    // Read what the peer already sent, so that closing does not reset the connection (which
    // would discard the 503 before the peer reads it).
    let mut discard = [0u8; 1024];
    let _ = stream.read(&mut discard);
    let _ = stream.write(&http::response(Answer::Busy, ""));
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn serve_queue(waiting: &Mutex<Receiver<TcpStream>>, service: &Service) {
    loop {
        // The lock is held while waiting, so one idle thread waits and the others queue on
        // the lock; a poisoned lock still guards a valid receiver.
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match next {
            Ok(stream) => {
                let _ = serve(stream, service);
            }
            Err(_) => return, // the accepting thread has stopped
        }
    }
}

/// Serves one connection: reads its head (bounded in size and time), answers, closes.
fn serve(mut stream: TcpStream, service: &Service) -> std::io::Result<()> {
    // Accepted sockets do not inherit the listener's O_NONBLOCK on Linux; be explicit anyway,
    // as the deadlines below rely on blocking reads with timeouts.
    stream.set_nonblocking(false)?;
    let mut head = [0u8; MAX_HEAD_BYTES];
    // Counted from now, not from the accept: a connection that waited in the queue (a bounded
    // wait) may have sent its whole head meanwhile and still deserves an answer.
    let answer = match read_head(&mut stream, &mut head, Instant::now() + HEAD_DEADLINE)? {
        Ok(len) => http::answer(&head[..len], service.token.as_deref().map(str::as_bytes)),
        Err(refusal) => refusal,
    };
    let body = if answer == Answer::Metrics {
        (service.render)()
    } else {
        String::new()
    };
    write_before(
        &mut stream,
        &http::response(answer, &body),
        Instant::now() + RESPONSE_DEADLINE,
    )?;
    stream.shutdown(std::net::Shutdown::Write)
}

/// Reads into `buf` until a whole head is there (its length), the buffer is full (`431`) or
/// `deadline` passes (`408`). Err: the peer went away.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> std::io::Result<Result<usize, Answer>> {
    let mut len = 0;
    loop {
        if let Some(head) = http::head_len(&buf[..len]) {
            return Ok(Ok(head));
        }
        if len == buf.len() {
            return Ok(Err(Answer::TooLarge));
        }
        let Some(left) = time_left(deadline) else {
            return Ok(Err(Answer::Timeout));
        };
        // The timeout is what is left of the deadline, so a peer sending a byte at a time
        // cannot extend it.
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `bytes` unless `deadline` passes first.
fn write_before(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        let left = time_left(deadline).ok_or(ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(&bytes[sent..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Time until `deadline`, or None once it has passed (a zero timeout would mean "none").
fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn service(stop: Arc<AtomicBool>) -> Service {
        Service {
            token: None,
            render: Box::new(|| "up 1\n".to_string()),
            stopping: Box::new(move || stop.load(Ordering::Relaxed)),
        }
    }

    fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    }

    /// A shutdown request closes the port promptly, even with no connection arriving to wake
    /// the accepting thread and with a peer holding a serving thread.
    #[test]
    fn stopping_closes_the_listener() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = start(listener, service(stop.clone())).unwrap();
        assert!(get(addr).ends_with("\r\n\r\nup 1\n"));
        let _silent = TcpStream::connect(addr).unwrap();
        stop.store(true, Ordering::Relaxed);
        let asked = Instant::now();
        accepting.join().unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
        // The port is free for a replacement process.
        TcpListener::bind(addr).unwrap();
    }

    #[test]
    fn a_partial_head_is_cut_off_at_the_deadline_not_per_read() {
        let (mut a, _client) = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            c.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            (l.accept().unwrap().0, c)
        };
        let mut buf = [0u8; MAX_HEAD_BYTES];
        let t0 = Instant::now();
        let r = read_head(&mut a, &mut buf, t0 + Duration::from_millis(300)).unwrap();
        assert_eq!(r, Err(Answer::Timeout));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
