//! `cargo xtask test`: the one command that checks everything (README's test command; CI runs it).
//! It first installs what it needs and is missing (see [`crate::setup`]), printing each thing it
//! installs, so it passes on a fresh machine.

use crate::cmd::{self, cargo, root, Result};
use crate::setup::{self, Need};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct TestArgs {
    /// Skip Redis's Tcl suite (for quick local runs; CI never passes this).
    #[arg(long)]
    pub no_tcl: bool,
    /// Where Redis 7.0.15's source tree (with tests/) is; default: $REDIS_SRC or
    /// ./.redis-tests/redis (fetched there when absent).
    #[arg(long)]
    pub redis_src: Option<PathBuf>,
    /// Skip the tooling smoke tests (a 3-second flame graph, a 10-second fuzz run).
    #[arg(long)]
    pub no_smoke: bool,
}

pub fn run(args: &TestArgs) -> Result {
    let redis_src = args
        .redis_src
        .clone()
        .or_else(|| std::env::var_os("REDIS_SRC").map(PathBuf::from))
        .unwrap_or_else(setup::default_redis_src);
    set_up(args, &redis_src)?;

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    cmd::run(fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    cmd::run(clippy)?;

    // The crate docs, private items included: their links must resolve (the ledger's module
    // docs point at each other's invariants).
    let mut doc = cargo();
    doc.args([
        "doc",
        "--workspace",
        "--no-deps",
        "--document-private-items",
    ]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    cmd::run(doc)?;

    let mut test = cargo();
    test.args(["test", "--workspace"]);
    cmd::run(test)?;

    // The lock-free table's protocols, model-checked by loom (its own target dir: --cfg loom
    // changes every crate's build).
    let mut loom = cargo();
    loom.args([
        "test",
        "-p",
        "ledger",
        "--release",
        "--lib",
        "table::loom_tests",
    ]);
    loom.env("RUSTFLAGS", "--cfg loom")
        .env("CARGO_TARGET_DIR", cmd::target_dir().join("loom"));
    cmd::run(loom)?;

    if args.no_tcl {
        eprintln!("xtask: --no-tcl: Redis's Tcl suite and the command catalog check NOT run");
    } else {
        crate::catalog::check(&redis_src)?;
        redis_tcl_suite(&redis_src)?;
    }
    if args.no_smoke {
        eprintln!("xtask: --no-smoke: flamegraph and fuzz smoke tests NOT run");
        return Ok(());
    }
    smoke_tests()
}

/// Installs what the checks below need and is missing: Debian packages (as root), rustfmt and
/// clippy, the Tcl suite's source tree, the nightly toolchain and cargo-fuzz.
fn set_up(args: &TestArgs, redis_src: &Path) -> Result {
    let tools: Vec<&setup::Tool> = setup::TOOLS
        .iter()
        .filter(|t| match t.needed_for {
            Need::Always => true,
            Need::Tcl => !args.no_tcl,
            Need::Smoke => !args.no_smoke,
        })
        .collect();
    setup::ensure_tools(&tools)?;
    setup::ensure_rust_components()?;
    if !args.no_tcl {
        setup::ensure_redis_src(redis_src)?;
    }
    if !args.no_smoke {
        setup::ensure_nightly()?;
        crate::fuzz::ensure_cargo_fuzz()?;
    }
    Ok(())
}

/// The tooling, end to end and bounded: a flame graph of a 3-second run and a 10-second fuzz of
/// the RESP parser.
fn smoke_tests() -> Result {
    let svg = cmd::target_dir().join("flamegraph-smoke.svg");
    let _ = std::fs::remove_file(&svg);
    crate::flamegraph::run(&crate::flamegraph::FlamegraphArgs {
        duration: 3,
        output: Some(svg.clone()),
        config: None,
        workload: "transfer".into(),
        batch: 1000,
        warmup: 1,
    })?;
    let text = std::fs::read_to_string(&svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    if !text.contains("<svg") || !text.contains("ledger::") {
        return Err(format!(
            "{} is not a flame graph of the server",
            svg.display()
        ));
    }
    eprintln!("xtask: flamegraph smoke test ok ({})", svg.display());
    crate::fuzz::run(&crate::fuzz::FuzzArgs {
        duration: 10,
        jobs: 1,
        targets: vec!["resp_parser".into()],
    })?;
    eprintln!("xtask: fuzz smoke test ok");
    Ok(())
}

fn redis_tcl_suite(src: &Path) -> Result {
    let mut build = cargo();
    build.args(["build", "--release", "--bin", "ringledger-server"]);
    cmd::run(build)?;
    let server = cmd::target_dir().join("release/ringledger-server");
    let mut suite = Command::new("python3");
    suite.arg(root().join("server/tests/redis-tcl/run.py"));
    suite.arg(&server).arg(src);
    cmd::run(suite)
}
