//! `cargo xtask bench cache`: redis-benchmark against redis-server and ringledger-server on the same
//! machine, alternating runs, one test per run, several rounds; prints medians, ratios and each
//! server's CPU time per request (utime + stime from /proc/PID/stat around every run).
//!
//! Per-core comparison: both servers pinned to CPU 0 with `taskset`, Ringledger with one worker;
//! redis-benchmark pinned to CPU 1. A second Ringledger with two workers and no pinning is measured
//! too (the client still on CPU 1), as the whole-machine figure. `--also BINARY` adds another
//! build (1 worker, pinned), measured in the same alternation: an A/B of two builds in one run.

use crate::cmd::{self, cargo, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct CacheBenchArgs {
    /// Rounds per (test, pipeline) pair; use at least 5 for claims (the machine is noisy).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Requests per pipelined run (-P 16).
    #[arg(long, default_value_t = 300_000)]
    pub pipelined_requests: u64,
    /// Requests per unpipelined run (-P 1).
    #[arg(long, default_value_t = 100_000)]
    pub unpipelined_requests: u64,
    /// Tests to run (redis-benchmark -t names), comma-separated.
    #[arg(long, default_value = "set,get,incr")]
    pub tests: String,
    /// Skip the two-worker, unpinned Ringledger.
    #[arg(long)]
    pub no_two_workers: bool,
    /// Use this server binary instead of building target/release/ringledger-server.
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Also measure this ringledger-server binary (1 worker, pinned like the main one),
    /// alternating with the others: an A/B of two builds in one run. Repeatable.
    #[arg(long = "also", value_name = "BINARY")]
    pub also: Vec<PathBuf>,
}

struct Server {
    name: String,
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
struct Sample {
    rps: f64,
    cpu_us_per_request: f64,
    /// redis-benchmark's median latency, in milliseconds.
    p50_ms: f64,
}

pub fn run(args: &CacheBenchArgs) -> Result {
    for tool in ["redis-server", "redis-benchmark", "taskset"] {
        if !cmd::have(tool) {
            return Err(format!(
                "`{tool}` is missing: apt-get install redis-server redis-tools util-linux"
            ));
        }
    }
    let binary = match &args.server {
        Some(p) => p.clone(),
        None => {
            let mut build = cargo();
            build.args(["build", "--release", "--bin", "ringledger-server"]);
            cmd::run(build)?;
            cmd::target_dir().join("release/ringledger-server")
        }
    };
    let work = cmd::target_dir().join("bench-cache");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    let mut servers = vec![
        start_redis()?,
        start_ringledger(&binary, &work, "ringledger-1w", 1, true)?,
    ];
    if !args.no_two_workers {
        servers.push(start_ringledger(&binary, &work, "ringledger-2w", 2, false)?);
    }
    for (i, other) in args.also.iter().enumerate() {
        let name = format!(
            "{}-1w",
            other
                .file_name()
                .map_or_else(|| format!("also{i}"), |n| n.to_string_lossy().into_owned())
        );
        servers.push(start_ringledger(other, &work, &name, 1, true)?);
    }

    let tests: Vec<&str> = args
        .tests
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let modes = [
        (16u32, args.pipelined_requests),
        (1u32, args.unpipelined_requests),
    ];
    // samples[mode][test][server] -> per-round samples
    let mut samples =
        vec![vec![vec![Vec::<Sample>::new(); servers.len()]; tests.len()]; modes.len()];
    for round in 0..args.rounds {
        for (m, &(pipeline, requests)) in modes.iter().enumerate() {
            for (t, test) in tests.iter().enumerate() {
                // Alternate which server goes first each round so drift hits both alike.
                let order: Vec<usize> = if round % 2 == 0 {
                    (0..servers.len()).collect()
                } else {
                    (0..servers.len()).rev().collect()
                };
                for s in order {
                    let sample = bench_once(&servers[s], test, pipeline, requests)?;
                    eprintln!(
                        "round {} -P {pipeline:>2} {test:<5} {:<14} {:>12.0} req/s {:>8.2} us CPU/req {:>7.3} ms p50",
                        round + 1,
                        servers[s].name,
                        sample.rps,
                        sample.cpu_us_per_request,
                        sample.p50_ms
                    );
                    samples[m][t][s].push(sample);
                }
            }
        }
    }

    println!();
    println!(
        "median of {} rounds; redis-benchmark -c 50 -d 64 -r 100000, pinned to CPU 1",
        args.rounds
    );
    print!("{:<4} {:<6}", "-P", "test");
    for s in &servers {
        print!(
            " {:>16} {:>9} {:>7}",
            format!("{} req/s", s.name),
            "us/req",
            "p50 ms"
        );
    }
    println!(" {:>10} {:>10}", "tput x", "cpu x");
    for (m, &(pipeline, _)) in modes.iter().enumerate() {
        for (t, test) in tests.iter().enumerate() {
            print!("{:<4} {:<6}", pipeline, test);
            let med: Vec<(f64, f64, f64)> = (0..servers.len())
                .map(|s| {
                    let v = &samples[m][t][s];
                    (
                        median(v.iter().map(|x| x.rps).collect()),
                        median(v.iter().map(|x| x.cpu_us_per_request).collect()),
                        median(v.iter().map(|x| x.p50_ms).collect()),
                    )
                })
                .collect();
            for (rps, cpu, p50) in &med {
                print!(" {:>16.0} {:>9.2} {:>7.3}", rps, cpu, p50);
            }
            // Ratios of the pinned one-worker Ringledger to redis-server (index 1 vs 0).
            println!(
                " {:>10.2} {:>10.2}",
                med[1].0 / med[0].0,
                med[1].1 / med[0].1
            );
        }
    }
    println!("tput x = ringledger-1w / redis-server throughput; cpu x = ringledger-1w / redis-server CPU per request; p50 = redis-benchmark's median latency");
    if !args.also.is_empty() {
        println!();
        println!("each server against ringledger-1w (throughput x, CPU per request x)");
        for (m, &(pipeline, _)) in modes.iter().enumerate() {
            for (t, test) in tests.iter().enumerate() {
                let med = |s: usize, f: fn(&Sample) -> f64| {
                    median(samples[m][t][s].iter().map(f).collect())
                };
                print!("{:<4} {:<6}", pipeline, test);
                for (s, server) in servers.iter().enumerate() {
                    print!(
                        " {:>16} {:>5.2} {:>5.2}",
                        server.name,
                        med(s, |x| x.rps) / med(1, |x| x.rps),
                        med(s, |x| x.cpu_us_per_request) / med(1, |x| x.cpu_us_per_request)
                    );
                }
                println!();
            }
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn start_redis() -> Result<Server> {
    let port = free_port()?;
    let child = Command::new("taskset")
        .args([
            "-c",
            "0",
            "redis-server",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e}"))?;
    let server = Server {
        name: "redis-server".into(),
        child,
        port,
    };
    wait_ready(port)?;
    Ok(server)
}

fn start_ringledger(
    binary: &Path,
    work: &Path,
    name: &str,
    workers: usize,
    pin: bool,
) -> Result<Server> {
    let port = free_port()?;
    let config = work.join(format!("{name}.toml"));
    let text = format!(
        "[server]\nworkers = {workers}\npin_cores = {pin}\n\n[[listener]]\nprotocol = \"resp\"\naddress = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    let mut c = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    let child = c
        .arg(&config)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let server = Server {
        name: name.to_string(),
        child,
        port,
    };
    wait_ready(port)?;
    Ok(server)
}

/// Polls until the server answers PING, for up to ten seconds.
fn wait_ready(port: u16) -> Result {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "server on port {port} did not answer PING within 10 s"
    ))
}

/// utime + stime of a process, in seconds (all its threads).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "malformed /proc stat".to_string())
    };
    // rest starts at field 3 (state), so field n is at index n - 3.
    let total = ticks(14 - 3)? + ticks(15 - 3)?;
    Ok(total / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The process whose CPU time we charge: for `taskset -c 0 server`, taskset execs the server, so
/// the child's pid is the server's.
fn bench_once(server: &Server, test: &str, pipeline: u32, requests: u64) -> Result<Sample> {
    let pid = server.child.id();
    let before = cpu_seconds(pid)?;
    let out = Command::new("taskset")
        .args([
            "-c",
            "1",
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
        ])
        .args([
            "-t",
            test,
            "-n",
            &requests.to_string(),
            "-c",
            "50",
            "-P",
            &pipeline.to_string(),
        ])
        .args(["-d", "64", "-r", "100000", "--csv"])
        .output()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    let after = cpu_seconds(pid)?;
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (rps, p50_ms) = parse_csv(&text)
        .ok_or_else(|| format!("no rps or p50 in redis-benchmark output: {text}"))?;
    Ok(Sample {
        rps,
        cpu_us_per_request: (after - before) * 1e6 / requests as f64,
        p50_ms,
    })
}

/// redis-benchmark --csv: a header line naming the columns (`"test","rps",...,
/// "p50_latency_ms",...`), then `"SET","123456.79",...`. Returns (rps, p50 in ms).
fn parse_csv(text: &str) -> Option<(f64, f64)> {
    let mut lines = text.lines();
    let fields = |l: &str| -> Vec<String> {
        l.split(',')
            .map(|f| f.trim_matches('"').to_string())
            .collect()
    };
    let header = fields(lines.find(|l| l.starts_with("\"test\""))?);
    let column = |name: &str| header.iter().position(|h| h == name);
    let (rps_at, p50_at) = (column("rps")?, column("p50_latency_ms")?);
    let row = fields(lines.next()?);
    Some((
        row.get(rps_at)?.parse().ok()?,
        row.get(p50_at)?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_benchmark_csv() {
        // redis-benchmark 7.0's exact --csv output for one test.
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"GET\",\"81632.65\",\"0.362\",\"0.136\",\"0.359\",\"0.439\",\"0.519\",\"1.119\"\n";
        assert_eq!(parse_csv(out), Some((81632.65, 0.359)));
        assert_eq!(parse_csv("\"test\",\"rps\"\n"), None);
        assert_eq!(
            parse_csv("\"test\",\"rps\",\"p50_latency_ms\"\n\"GET\",\"x\",\"0.1\"\n"),
            None
        );
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn reads_own_cpu_time() {
        let t = cpu_seconds(std::process::id()).expect("own /proc stat");
        assert!(t >= 0.0);
    }
}
