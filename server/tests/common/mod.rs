//! Starts the real `ringledger-server` binary on an ephemeral port for integration tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ENGINES: [&str; 2] = ["uring", "epoll"];

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The binary-protocol listener, when `extra` configured one.
    pub binary_addr: Option<SocketAddr>,
    /// The metrics endpoint (`host:port`), when `extra` configured one.
    pub metrics_addr: Option<String>,
    pub dir: tempdir::Dir,
}

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir()
                .join(format!("ringledger-test-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ringledger-server")
}

impl Server {
    /// Starts a server with `engine` and extra TOML appended to a minimal config.
    pub fn start(engine: &str, extra: &str) -> Server {
        Server::start_at(engine, "127.0.0.1:0".parse().unwrap(), extra)
    }

    /// Like [`Server::start`], with the RESP listener on `address`.
    pub fn start_at(engine: &str, address: SocketAddr, extra: &str) -> Server {
        Server::start_in_shell(engine, address, "", extra, None)
    }

    /// Like [`Server::start`], with `server_keys` added to the `[server]` section.
    pub fn start_with_server_keys(engine: &str, server_keys: &str) -> Server {
        let address = "127.0.0.1:0".parse().unwrap();
        Server::start_in_shell(engine, address, server_keys, "", None)
    }

    /// Like [`Server::start`], under the open-file limit `nofile` (`ulimit -n`, soft and hard).
    pub fn start_with_nofile(engine: &str, extra: &str, nofile: usize) -> Server {
        let address = "127.0.0.1:0".parse().unwrap();
        Server::start_in_shell(
            engine,
            address,
            "",
            extra,
            Some(format!("ulimit -n {nofile}")),
        )
    }

    /// Starts the server, first running `shell` (e.g. a `ulimit`) in the `sh` that execs it.
    fn start_in_shell(
        engine: &str,
        address: SocketAddr,
        server_keys: &str,
        extra: &str,
        shell: Option<String>,
    ) -> Server {
        let dir = tempdir::Dir::new(engine);
        let config = dir.0.join("server.toml");
        let text = format!(
            "[server]\nworkers = 2\npin_cores = false\n{server_keys}\n\n[[listener]]\nprotocol = \"resp\"\naddress = \"{address}\"\n\n[uring]\nengine = \"{engine}\"\n{extra}\n"
        );
        std::fs::write(&config, text).unwrap();
        let mut command = match &shell {
            Some(setup) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{setup} && exec \"$0\" \"$1\""))
                    .arg(binary())
                    .arg(&config);
                c
            }
            None => {
                let mut c = Command::new(binary());
                c.arg(&config);
                c
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ringledger-server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        let mut binary_addr = None;
        let mut metrics_addr = None;
        for line in lines.by_ref() {
            let line = line.expect("server stdout");
            if let Some(a) = line.strip_prefix("listening on resp ") {
                addr = Some(a.parse().unwrap());
            }
            if let Some(a) = line.strip_prefix("listening on binary ") {
                binary_addr = Some(a.parse().unwrap());
            }
            if let Some(a) = line.strip_prefix("listening on metrics http://") {
                metrics_addr = a.strip_suffix("/metrics").map(str::to_string);
            }
            if line.starts_with("ringledger-server ready") {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = addr.expect("server printed its address (its stderr is above)");
        Server {
            child,
            addr,
            binary_addr,
            metrics_addr,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        wait_exit(&mut self.child, Duration::from_secs(20)).expect("server exits after SIGTERM")
    }
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends raw bytes and reads exactly `n` bytes of reply.
pub fn roundtrip(s: &mut TcpStream, request: &[u8], n: usize) -> Vec<u8> {
    s.write_all(request).unwrap();
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Reads until end of stream (the server closed the connection); returns what was read.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
