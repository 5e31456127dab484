//! Start-up and shutdown: builds the shared state, binds every listener on every worker
//! (SO_REUSEPORT), starts one pinned worker thread per core, and turns SIGINT/SIGTERM or the
//! SHUTDOWN command into a graceful stop (stop accepting, flush replies, exit 0).

mod binary_conn;
mod connection;
mod durable;
pub(crate) mod forward;
mod ledger_path;
mod lookahead;
mod reply_order;
mod signals;
mod worker;

use crate::config::{Config, EngineChoice, ListenerProtocol};
use crate::state::{ServerState, StateOptions};
use io_driver::{bind_reuseport, Engine, Waker};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Things every worker needs to reach the others.
pub(crate) struct Runtime {
    pub state: Arc<ServerState>,
    /// Queues carrying ledger requests to the workers that own their partitions.
    pub mesh: forward::Mesh,
    /// Every worker's waker, index = worker number (set once all loops exist).
    pub wakers: OnceLock<Vec<Waker>>,
    /// Durable-ledger state the workers share (None: the ledger is volatile).
    pub durability: Option<Arc<crate::durability::Shared>>,
    /// How long a graceful shutdown may wait for unsent replies (`[server] shutdown_timeout`).
    pub shutdown_timeout: std::time::Duration,
    /// The shutdown deadline is running (it starts once).
    shutdown_deadline_set: std::sync::atomic::AtomicBool,
}

impl Runtime {
    /// Asks every worker to shut down gracefully: stop accepting, close every connection once
    /// its replies have left. A client that does not read its replies would hold that up
    /// forever, so after `shutdown_timeout` the process exits without them (every reply that
    /// acknowledged a ledger write was only sent after the write was durable, so nothing
    /// acknowledged is lost; the next start recovers the log).
    pub fn shutdown_all(&self) {
        self.state.request_shutdown();
        if let Some(wakers) = self.wakers.get() {
            for w in wakers {
                w.wake();
            }
        }
        if self
            .shutdown_deadline_set
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let timeout = self.shutdown_timeout;
        let deadline = std::thread::Builder::new()
            .name("shutdown-deadline".into())
            .spawn(move || {
                std::thread::sleep(timeout);
                eprintln!(
                    "ringledger-server: shutdown: replies still unsent after shutdown_timeout ({} s; clients not reading them): exiting without them",
                    timeout.as_secs()
                );
                std::process::exit(0);
            });
        if let Err(e) = deadline {
            eprintln!("ringledger-server: shutdown: cannot start the deadline thread ({e}): waiting without one");
        }
    }
}

/// Runs the server until it is shut down. Prints `listening on <protocol> <address>` for each
/// listener once all workers are ready, then `ringledger-server ready: N worker(s), engine E`.
/// `config_path` is the file `config` came from (None: the defaults).
pub fn run(config: Config, config_path: Option<&Path>) -> Result<(), String> {
    let metrics_listener = match config.metrics.address {
        Some(addr) => Some(crate::metrics::bind(addr)?),
        None => None,
    };
    for l in config
        .listeners
        .iter()
        .filter(|l| !l.address.ip().is_loopback())
    {
        if config.security.requirepass.is_some() {
            continue;
        }
        let what = if config.security.protected_mode {
            "protected mode refuses clients from other hosts until a password is set ([security] requirepass)"
        } else {
            "protected_mode = false: anyone who can reach it has full access"
        };
        eprintln!(
            "ringledger-server: warning: {} is not a loopback address and no password is set: {what}",
            l.address
        );
    }
    if let (Some(addr), None) = (config.metrics.address, &config.metrics.token) {
        if !addr.ip().is_loopback() {
            eprintln!(
                "ringledger-server: warning: the metrics endpoint on {addr} has no [metrics] token: anyone who reaches it can read the server's figures"
            );
        }
    }
    let workers = config.workers();
    let mut config = config;
    config.limits.max_clients = fit_fd_limit(config.limits.max_clients, workers)?;

    // Worker 0's listeners are bound here, so port 0 resolves to one port that the other
    // workers then share through SO_REUSEPORT.
    let mut first: Vec<TcpListener> = Vec::new();
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for l in &config.listeners {
        // SO_REUSEPORT would let this server silently share a port with another process of
        // the same user (the kernel would split connections between them): make sure nobody
        // listens there first, as a plain bind does.
        if l.address.port() != 0 {
            if let Err(e) = TcpListener::bind(l.address) {
                return Err(format!("cannot listen on {}: {e}", l.address));
            }
        }
        let listener = bind_reuseport(l.address)
            .map_err(|e| format!("cannot listen on {}: {e}", l.address))?;
        addresses.push(listener.local_addr().map_err(|e| e.to_string())?);
        first.push(listener);
    }
    let options = StateOptions {
        databases: config.server.databases,
        max_memory: config.cache.max_memory,
        eviction: config.cache.eviction.clone(),
        requirepass: config.security.requirepass.clone(),
        users: config.security.users.clone(),
        acl_commands: crate::commands::acl_commands(),
        protected_mode: config.security.protected_mode,
        max_client_memory: config.limits.max_client_memory,
        auth_timeout_secs: config.security.auth_timeout,
        max_clients: config.limits.max_clients,
        idle_timeout_secs: config.limits.idle_timeout,
        max_request_bytes: config.limits.max_request_bytes,
        workers,
        tcp_port: addresses.first().map_or(0, |a| a.port()),
        config_file: config_path
            .map(|p| {
                std::fs::canonicalize(p)
                    .unwrap_or_else(|_| p.to_path_buf())
                    .display()
                    .to_string()
            })
            .unwrap_or_default(),
        ledger: config.ledger_config(),
    };
    let state = Arc::new(ServerState::new(options)?);
    // The durable ledger: lock the data directory, replay its logs into the ledger, open each
    // worker's log for appending. Nothing listens before this succeeds.
    let (durability, mut logs) = match &config.ledger.data_dir {
        Some(dir) => {
            let opened = crate::durability::open(dir, &state.ledger, workers)?;
            let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            println!("{}", opened.report.line(&shown));
            crate::ledger_ops::record_effects();
            let _ = state.durability.set(opened.shared.clone());
            (Some(opened.shared), opened.logs)
        }
        None => (None, Vec::new()),
    };
    let runtime = Arc::new(Runtime {
        state,
        mesh: forward::Mesh::new(workers, config.ledger.forward_queue_depth),
        wakers: OnceLock::new(),
        durability,
        shutdown_timeout: std::time::Duration::from_secs(config.server.shutdown_timeout),
        shutdown_deadline_set: std::sync::atomic::AtomicBool::new(false),
    });

    let cores = if config.server.pin_cores {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let (ready_tx, ready_rx) =
        std::sync::mpsc::channel::<Result<(usize, Waker, &'static str), String>>();
    let mut threads = Vec::with_capacity(workers);
    let mut first = Some(first);
    for index in 0..workers {
        let listeners = match first.take() {
            Some(l) => l,
            None => addresses
                .iter()
                .map(|a| bind_reuseport(*a).map_err(|e| format!("cannot listen on {a}: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let ctx = worker::WorkerSetup {
            index,
            runtime: runtime.clone(),
            config: config.clone(),
            listeners,
            listener_protocols: config.listeners.iter().map(|l| l.protocol).collect(),
            log: logs.get_mut(index).and_then(Option::take),
        };
        let tx = ready_tx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker::run(ctx, tx)
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        threads.push(thread);
    }
    drop(ready_tx);
    let mut wakers: Vec<Option<Waker>> = (0..workers).map(|_| None).collect();
    let mut engine = "";
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok(Ok((index, waker, name))) => {
                wakers[index] = Some(waker);
                engine = name;
            }
            Ok(Err(e)) => {
                runtime.shutdown_all();
                return Err(e);
            }
            Err(_) => return Err("a worker exited during start-up".into()),
        }
    }
    let wakers: Vec<Waker> = wakers.into_iter().flatten().collect();
    let _ = runtime.wakers.set(wakers);
    runtime.state.set_engine(engine);
    signals::spawn(runtime.clone()).map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (metrics_addr, metrics_accept) = match metrics_listener {
        Some(l) => {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            let token = config.metrics.token.clone();
            let accepting = crate::metrics::serve(l, runtime.state.clone(), token)?;
            (Some(addr), Some(accepting))
        }
        None => (None, None),
    };
    for (l, addr) in config.listeners.iter().zip(&addresses) {
        let proto = match l.protocol {
            ListenerProtocol::Resp => "resp",
            ListenerProtocol::Binary => "binary",
        };
        println!("listening on {proto} {addr}");
    }
    if let Some(addr) = metrics_addr {
        println!("listening on metrics http://{addr}/metrics");
    }
    println!("ringledger-server ready: {workers} worker(s), engine {engine}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut failure = None;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a worker thread panicked".to_string()),
        }
    }
    // The metrics listener closes as soon as a shutdown is requested (its accepting thread
    // watches for it). Workers can also end on an error without one: request it, so the
    // listener is closed before the process exits whatever ended the workers.
    runtime.state.request_shutdown();
    if let Some(accepting) = metrics_accept {
        if accepting.join().is_err() {
            failure.get_or_insert_with(|| "the metrics thread panicked".to_string());
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// File descriptors a server keeps beyond its clients', per worker: listeners, the ring, the
/// buffer ring, its log's segments, wake-ups, and room for the metrics endpoint's connections.
const RESERVED_FDS_PER_WORKER: usize = 64;

/// Raises the open-file limit to fit `max_clients`; when the hard limit does not allow it,
/// lowers `max_clients` to what fits and says so, as Redis does (connections past an fd limit
/// would otherwise fail to be accepted with no reply at all). Returns the `max_clients` to use.
fn fit_fd_limit(max_clients: usize, workers: usize) -> Result<usize, String> {
    let reserved = RESERVED_FDS_PER_WORKER * workers;
    let wanted = max_clients + reserved;
    let limit = io_driver::raise_fd_limit(wanted);
    if limit == 0 || limit >= wanted {
        // 0: the limit could not be read; leave max_clients as configured.
        return Ok(max_clients);
    }
    if limit <= reserved {
        return Err(format!(
            "the open-file limit ({limit}, ulimit -n) is too low: {workers} worker(s) need more than {reserved} file descriptors before any client"
        ));
    }
    let fitted = limit - reserved;
    eprintln!(
        "ringledger-server: warning: max_clients {max_clients} needs {wanted} file descriptors but the open-file limit is {limit} (ulimit -n): max_clients reduced to {fitted}"
    );
    Ok(fitted)
}

pub(crate) fn engine_of(choice: EngineChoice) -> Engine {
    match choice {
        EngineChoice::Auto => Engine::Auto,
        EngineChoice::Uring => Engine::Uring,
        EngineChoice::Epoll => Engine::Epoll,
    }
}
