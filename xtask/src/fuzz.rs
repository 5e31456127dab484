//! `cargo xtask fuzz`: run the cargo-fuzz targets in `fuzz/` on the nightly toolchain.
//!
//! Each target runs for `--duration` seconds with libFuzzer, starting from the checked-in seed
//! corpus `fuzz/corpus/<target>/` (read only) and a scratch corpus `target/fuzz-corpus/<target>/`
//! (new inputs go there, so runs never dirty the repository). A crash stops that target and its
//! reproducer path is printed; the summary lists every target's result, and any failure makes
//! the task exit non-zero. The nightly toolchain (`rustup toolchain install nightly --profile
//! minimal`) and cargo-fuzz (`cargo install cargo-fuzz --locked`) are installed when missing.

use crate::cmd::{self, root, Result};
use std::process::{Command, Stdio};

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Parallel fuzzing processes per target (libFuzzer -fork).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Targets to run (default: all of `cargo fuzz list`).
    pub targets: Vec<String>,
}

/// `cargo +nightly ...` through rustup's proxy, without the outer cargo's toolchain choice.
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(root());
    for var in [
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(var);
    }
    c
}

pub fn have_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
        .unwrap_or(false)
}

pub fn ensure_cargo_fuzz() -> Result {
    let ok = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ok.map(|s| s.success()).unwrap_or(false) {
        eprintln!("xtask: set-up: found cargo-fuzz");
        return Ok(());
    }
    eprintln!("xtask: set-up: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
    let mut install = Command::new("cargo");
    install.args(["install", "cargo-fuzz", "--locked"]);
    cmd::run(install)
}

struct Outcome {
    target: String,
    passed: bool,
    detail: String,
}

pub fn run(args: &FuzzArgs) -> Result {
    crate::setup::ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let targets = if args.targets.is_empty() {
        let out = nightly_cargo()
            .args(["fuzz", "list"])
            .output()
            .map_err(|e| format!("cargo fuzz list: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        args.targets.clone()
    };
    if targets.is_empty() {
        return Err("no fuzz targets found in fuzz/".into());
    }
    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(target, args)?);
    }
    println!("fuzz summary ({} s per target):", args.duration);
    for o in &outcomes {
        println!(
            "  {:<14} {}  {}",
            o.target,
            if o.passed { "PASS" } else { "FAIL" },
            o.detail
        );
    }
    if outcomes.iter().all(|o| o.passed) {
        Ok(())
    } else {
        Err("a fuzz target failed (reproducer paths above)".into())
    }
}

fn run_target(target: &str, args: &FuzzArgs) -> Result<Outcome> {
    let scratch = cmd::target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let seeds = root().join("fuzz/corpus").join(target);
    let mut c = nightly_cargo();
    c.args(["fuzz", "run", target]).arg(&scratch);
    if seeds.is_dir() {
        c.arg(&seeds);
    }
    c.arg("--")
        .arg(format!("-max_total_time={}", args.duration))
        .arg("-print_final_stats=1");
    if args.jobs > 1 {
        c.arg(format!("-fork={}", args.jobs));
    }
    eprintln!("xtask: $ {c:?}");
    let out = c
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let log_path = cmd::target_dir().join(format!("fuzz-{target}.log"));
    let _ = std::fs::write(&log_path, log.as_bytes());
    let runs = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units: "))
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| "?".into());
    if out.status.success() {
        return Ok(Outcome {
            target: target.into(),
            passed: true,
            detail: format!("{runs} runs, no crash"),
        });
    }
    let artifact = log
        .lines()
        .find_map(|l| l.split("Test unit written to ").nth(1))
        .map(|p| p.trim().to_string());
    let detail = match &artifact {
        Some(path) => {
            eprintln!("xtask: {target} crashed; reproducer: {path}");
            eprintln!("xtask: reproduce with: cargo +nightly fuzz run {target} {path}");
            format!("crash, reproducer {path} (log {})", log_path.display())
        }
        None => format!("failed ({}), log {}", out.status, log_path.display()),
    };
    Ok(Outcome {
        target: target.into(),
        passed: false,
        detail,
    })
}
