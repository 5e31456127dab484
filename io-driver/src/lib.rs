//! Per-worker event loop for Ringledger: connections, bytes, timers and wake-ups, on io_uring
//! (multishot accept, multishot recv into a provided buffer ring, one send in flight per
//! connection) or, where io_uring is unavailable, on epoll behind the same API.
//!
//! A worker thread builds one [`EventLoop`] and runs it with its [`Handler`]. The handler sees
//! connections as [`ConnId`]s and bytes; it knows nothing of sockets or rings. Everything it may do
//! to connections goes through [`Io`], which is handed to every callback.
//!
//! Receive path: bytes of each completion are passed to [`Handler::on_data`] straight out of the
//! kernel's buffer when the connection has no leftover; the handler returns how many bytes it
//! consumed, and only the unconsumed tail is copied into the connection's accumulator. Replies go
//! into the connection's output buffer ([`Io::output`]); at the end of each loop turn every
//! connection with output and no send in flight gets one send. A connection whose unsent output
//! exceeds [`Config::max_output_bytes`] is not read until it drains (back-pressure).

mod bufring;
mod coalesce;
mod conn;
mod core;
mod epoll;
mod probe;
mod sys;
mod timer;
mod uring;
mod waker;

pub use crate::core::Io;
pub use conn::ConnId;
pub use probe::{probe_uring, UringSupport};
pub use sys::{bind_reuseport, raise_fd_limit};
pub use waker::Waker;

use std::net::{SocketAddr, TcpListener};

/// Which kernel interface drives the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// io_uring when the probe passes, otherwise epoll (with a logged reason).
    Auto,
    Uring,
    Epoll,
}

/// The engine a loop actually runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveEngine {
    Uring,
    Epoll,
}

impl ActiveEngine {
    pub fn name(self) -> &'static str {
        match self {
            ActiveEngine::Uring => "io_uring",
            ActiveEngine::Epoll => "epoll",
        }
    }
}

/// The default of [`Config::min_wait_us`].
pub const DEFAULT_MIN_WAIT_US: u32 = 50;

/// The largest [`Config::min_wait_us`] accepted (it is added latency: keep it small).
pub const MAX_MIN_WAIT_US: u32 = 10_000;

/// Bounds and knobs of one worker's loop. Every field is an explicit limit.
#[derive(Clone, Debug)]
pub struct Config {
    pub engine: Engine,
    /// Submission queue entries (io_uring); the completion queue is sized 4x.
    pub ring_entries: u32,
    /// Provided receive buffers (power of two, at most 32768).
    pub buffer_count: u16,
    /// Size of each receive buffer in bytes (also the epoll read chunk).
    pub buffer_size: u32,
    /// Most connections this worker holds at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// Unsent output above which the connection stops being read.
    pub max_output_bytes: usize,
    /// Unconsumed input above which the connection stops being read (the handler bounds
    /// request sizes; this only stops a handler that doesn't from growing without limit).
    pub max_input_bytes: usize,
    /// io_uring: also set IORING_SETUP_DEFER_TASKRUN (6.1+).
    pub defer_taskrun: bool,
    /// io_uring: when several connections are active, a wait may hold the first completion up
    /// to this long for others to join it (fewer wake-ups per request; 0 = never; needs Linux
    /// 6.12's IORING_FEAT_MIN_TIMEOUT, else ignored). See `coalesce.rs`.
    pub min_wait_us: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: Engine::Auto,
            ring_entries: 1024,
            buffer_count: 1024,
            buffer_size: 16 * 1024,
            max_connections: 10_000,
            max_output_bytes: 64 * 1024 * 1024,
            max_input_bytes: 600 * 1024 * 1024,
            defer_taskrun: true,
            min_wait_us: DEFAULT_MIN_WAIT_US,
        }
    }
}

impl Config {
    /// Checks the bounds the loop relies on.
    pub fn validate(&self) -> Result<(), String> {
        if !self.buffer_count.is_power_of_two() || self.buffer_count > 32768 {
            return Err(format!(
                "buffer_count must be a power of two <= 32768, got {}",
                self.buffer_count
            ));
        }
        if self.buffer_size < 512 || self.buffer_size > 1 << 30 {
            return Err(format!(
                "buffer_size must be in 512..=1GiB, got {}",
                self.buffer_size
            ));
        }
        if !(8..=32768).contains(&self.ring_entries) {
            return Err(format!(
                "ring entries must be in 8..=32768, got {}",
                self.ring_entries
            ));
        }
        if self.max_connections == 0 || self.max_connections > (1 << 24) {
            return Err(format!(
                "max_connections must be in 1..=16777216, got {}",
                self.max_connections
            ));
        }
        if self.min_wait_us > MAX_MIN_WAIT_US {
            return Err(format!(
                "min_wait_us must be in 0..={MAX_MIN_WAIT_US}, got {}",
                self.min_wait_us
            ));
        }
        Ok(())
    }
}

/// What the loop knows about a connection it just accepted.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    /// Index of the listener (in the order given to [`EventLoop::new`]).
    pub listener: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub fd: i32,
}

/// The worker's side of the loop. Callbacks run on the loop's thread, one at a time.
pub trait Handler {
    /// Called once on the loop's thread before it waits for the first event (set timers here).
    fn on_start(&mut self, _io: &mut Io<'_>) {}
    /// A new connection. Reject it with [`Io::close`] (after writing a reply) if need be.
    fn on_accept(&mut self, io: &mut Io<'_>, conn: ConnId, accepted: &Accepted);
    /// Bytes arrived (after any unconsumed leftover). Return how many were consumed; the rest
    /// is kept and presented again, with more, next time.
    fn on_data(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize;
    /// The connection is gone (peer closed, error, or [`Io::close`] finished). The id is dead.
    fn on_close(&mut self, io: &mut Io<'_>, conn: ConnId);
    /// A [`Waker`] of this loop was woken (coalesced: one call for any number of wakes).
    fn on_wake(&mut self, io: &mut Io<'_>);
    /// A timer set with [`Io::set_timer`] is due.
    fn on_timer(&mut self, io: &mut Io<'_>, token: u64);
    /// End of a loop turn, after every `on_data` of the turn and before sends are submitted:
    /// flush batched work here.
    fn on_turn_end(&mut self, _io: &mut Io<'_>) {}
}

/// One worker's event loop.
pub struct EventLoop {
    inner: Backend,
}

enum Backend {
    Uring(Box<uring::UringLoop>),
    Epoll(Box<epoll::EpollLoop>),
}

impl EventLoop {
    /// Builds a loop over `listeners` (each already bound, e.g. with [`bind_reuseport`]).
    /// Also returns a notice for the operator, to be logged: with [`Engine::Auto`], why a
    /// failed io_uring probe fell back to epoll; on io_uring, that the kernel cannot honour
    /// [`Config::min_wait_us`].
    pub fn new(
        config: Config,
        listeners: Vec<TcpListener>,
    ) -> std::io::Result<(EventLoop, Option<String>)> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let use_uring = match config.engine {
            Engine::Epoll => Ok(false),
            Engine::Uring => match probe_uring() {
                UringSupport::Supported => Ok(true),
                UringSupport::Missing(why) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        format!("io_uring engine requested but unavailable: {why}"),
                    ))
                }
            },
            Engine::Auto => match probe_uring() {
                UringSupport::Supported => Ok(true),
                UringSupport::Missing(why) => Err(why),
            },
        };
        match use_uring {
            Ok(true) => {
                let l = uring::UringLoop::new(&config, listeners)?;
                let notice = l.min_wait_notice(&config);
                Ok((
                    EventLoop {
                        inner: Backend::Uring(Box::new(l)),
                    },
                    notice,
                ))
            }
            Ok(false) => {
                let l = epoll::EpollLoop::new(&config, listeners)?;
                Ok((
                    EventLoop {
                        inner: Backend::Epoll(Box::new(l)),
                    },
                    None,
                ))
            }
            Err(why) => {
                let l = epoll::EpollLoop::new(&config, listeners)?;
                Ok((
                    EventLoop {
                        inner: Backend::Epoll(Box::new(l)),
                    },
                    Some(format!("io_uring unavailable ({why}); using epoll")),
                ))
            }
        }
    }

    pub fn engine(&self) -> ActiveEngine {
        match self.inner {
            Backend::Uring(_) => ActiveEngine::Uring,
            Backend::Epoll(_) => ActiveEngine::Epoll,
        }
    }

    /// A handle other threads use to wake this loop ([`Handler::on_wake`]).
    pub fn waker(&self) -> Waker {
        match &self.inner {
            Backend::Uring(l) => l.waker(),
            Backend::Epoll(l) => l.waker(),
        }
    }

    /// Runs until the handler calls [`Io::shutdown`] and every output has been flushed (or its
    /// connection closed).
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> std::io::Result<()> {
        match &mut self.inner {
            Backend::Uring(l) => l.run(handler),
            Backend::Epoll(l) => l.run(handler),
        }
    }
}
