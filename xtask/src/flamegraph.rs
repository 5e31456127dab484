//! `cargo xtask flamegraph`: profile the release server under load and render an SVG.
//!
//! Builds `ringledger-server` and `ringledger-bench` (release, with line tables), starts the
//! server (on a config this task writes, or `--config`), drives it with `ringledger-bench`
//! (ledger workloads) or `redis-benchmark` (cache workloads), waits out a warm-up, records
//! `perf record -g` of the server for `--duration` seconds (cpu-clock when the machine has no
//! hardware cycle counter), and renders the flame graph with the `inferno` library. It installs
//! nothing: a missing tool is named with its Debian package.

use crate::cmd::{self, cargo, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(clap::Args)]
pub struct FlamegraphArgs {
    /// Seconds of recording (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Where to write the SVG (default: target/flamegraph.svg).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Server config to run instead of the one this task writes; it needs a binary listener
    /// for ledger workloads and a RESP listener for cache workloads.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// transfer | lookup | twophase | mixed (ringledger-bench), or cache-set | cache-get
    /// (redis-benchmark -P 16).
    #[arg(long, default_value = "transfer")]
    pub workload: String,
    /// Events per ledger request.
    #[arg(long, default_value_t = 8189)]
    pub batch: usize,
    /// Seconds of load before recording starts.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
}

/// The server config this task writes: two workers, RESP and binary listeners on free ports,
/// tables prefaulted (otherwise the profile shows mostly the kernel zeroing fresh table pages:
/// random inserts into a new table fault a page nearly every time).
pub fn default_config() -> String {
    "# Written by `cargo xtask flamegraph`.\n\
     [server]\nworkers = 2\npin_cores = false\n\n\
     [[listener]]\nprotocol = \"resp\"\naddress = \"127.0.0.1:0\"\n\n\
     [[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n\n\
     [ledger]\nmax_accounts = 100000\nmax_transfers = 20000000\nprefault = true\n"
        .to_string()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Addresses the server printed (`listening on <protocol> <address>`).
struct Started {
    server: Running,
    resp: Option<String>,
    binary: Option<String>,
}

fn start_server(bin: &Path, config: &Path) -> Result<Started> {
    let mut child = Command::new(bin)
        .arg(config)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let server = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let (mut resp, mut binary) = (None, None);
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(a) = line.strip_prefix("listening on resp ") {
            resp.get_or_insert(a.to_string());
        } else if let Some(a) = line.strip_prefix("listening on binary ") {
            binary.get_or_insert(a.to_string());
        } else if line.starts_with("ringledger-server ready") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(Started {
        server,
        resp,
        binary,
    })
}

/// `cpu-clock` unless the machine counts hardware cycles (VMs often do not).
fn perf_event() -> &'static str {
    let ok = Command::new("perf")
        .args(["stat", "-x,", "-e", "cycles", "true"])
        .stdout(Stdio::null())
        .output()
        .map(|o| {
            o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("not supported")
        })
        .unwrap_or(false);
    if ok {
        "cycles"
    } else {
        "cpu-clock"
    }
}

pub fn run(args: &FlamegraphArgs) -> Result {
    if !cmd::have("perf") {
        return Err(
            "`perf` is not installed: apt-get install linux-perf (nothing was installed for you)"
                .into(),
        );
    }
    let cache = args.workload.starts_with("cache-");
    if cache && !cmd::have("redis-benchmark") {
        return Err("`redis-benchmark` is not installed: apt-get install redis-tools".into());
    }
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--bin",
        "ringledger-server",
        "--bin",
        "ringledger-bench",
    ]);
    cmd::run(build)?;
    let release = cmd::target_dir().join("release");
    let work = cmd::target_dir().join("flamegraph");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let config = match &args.config {
        Some(c) => c.clone(),
        None => {
            let path = work.join("server.toml");
            std::fs::write(&path, default_config()).map_err(|e| e.to_string())?;
            path
        }
    };
    let started = start_server(&release.join("ringledger-server"), &config)?;
    let pid = started.server.0.id();
    let total = args.warmup + args.duration + 2;
    let load = if cache {
        let addr = started
            .resp
            .as_ref()
            .ok_or("the config has no RESP listener")?;
        let port = addr.rsplit(':').next().unwrap_or("6379");
        let test = args.workload.trim_start_matches("cache-");
        let mut c = Command::new("redis-benchmark");
        c.args([
            "-p",
            port,
            "-t",
            test,
            "-n",
            "100000000",
            "-P",
            "16",
            "-c",
            "50",
            "-d",
            "64",
            "-r",
            "100000",
            "-q",
        ]);
        c
    } else {
        let addr = started
            .binary
            .as_ref()
            .ok_or("the config has no binary listener")?;
        let mut c = Command::new(release.join("ringledger-bench"));
        c.args([
            "--address",
            addr,
            "--workload",
            &args.workload,
            "--batch",
            &args.batch.to_string(),
        ]);
        c.args([
            "--connections",
            "2",
            "--duration",
            &total.to_string(),
            "--no-audit",
        ]);
        c
    };
    eprintln!("xtask: load: {load:?}");
    let mut load = load;
    let load = Running(
        load.stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the load: {e}"))?,
    );
    std::thread::sleep(Duration::from_secs(args.warmup));

    let data = work.join("perf.data");
    let event = perf_event();
    let mut record = Command::new("perf");
    record.args([
        "record",
        "-F",
        "999",
        "-g",
        "-e",
        event,
        "-p",
        &pid.to_string(),
        "-o",
    ]);
    record
        .arg(&data)
        .args(["--", "sleep", &args.duration.to_string()]);
    cmd::run(record)?;
    drop(load);
    drop(started);

    let script = Command::new("perf")
        .arg("script")
        .arg("-i")
        .arg(&data)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("perf script: {e}"))?;
    if !script.status.success() {
        return Err(format!("perf script failed: {}", script.status));
    }
    let mut folded = Vec::new();
    {
        use inferno::collapse::Collapse;
        let mut folder =
            inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default());
        folder
            .collapse(&script.stdout[..], &mut folded)
            .map_err(|e| format!("collapsing stacks: {e}"))?;
    }
    let folded = String::from_utf8_lossy(&folded).into_owned();
    if folded.trim().is_empty() {
        return Err("perf recorded no samples of the server".into());
    }
    std::fs::write(work.join("stacks.folded"), &folded).map_err(|e| e.to_string())?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| cmd::target_dir().join("flamegraph.svg"));
    let mut svg =
        std::fs::File::create(&output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = format!(
        "ringledger-server, {} workload, {} s ({event})",
        args.workload, args.duration
    );
    inferno::flamegraph::from_lines(&mut opts, folded.lines(), &mut svg)
        .map_err(|e| format!("rendering: {e}"))?;
    svg.flush().map_err(|e| e.to_string())?;

    print_hottest(&folded);
    println!("flamegraph: {}", output.display());
    Ok(())
}

/// Prints the functions with the most samples at the top of the stack (self time).
fn print_hottest(folded: &str) {
    let mut own: HashMap<&str, u64> = HashMap::new();
    let mut total = 0u64;
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = count.parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *own.entry(leaf).or_default() += n;
        total += n;
    }
    let mut v: Vec<(&str, u64)> = own.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!("hottest functions (share of self time; total weight {total}):");
    for (f, n) in v.iter().take(12) {
        println!("  {:5.1}%  {f}", 100.0 * *n as f64 / total.max(1) as f64);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_written_config_passes_the_servers_strict_rules() {
        let text = super::default_config();
        let config = server::config::Config::parse(&text).expect("xtask's config parses");
        assert_eq!(config.listeners.len(), 2);
    }
}
