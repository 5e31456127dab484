//! `cargo xtask test`: the one command that checks everything (README's test command; CI runs it).

use crate::cmd::{self, cargo, root, Result};
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args)]
pub struct TestArgs {
    /// Skip Redis's Tcl suite (for quick local runs; CI never passes this).
    #[arg(long)]
    pub no_tcl: bool,
    /// Where Redis 7.0.15's source tree (with tests/) is; default: $REDIS_SRC or ./.redis-tests/redis.
    #[arg(long)]
    pub redis_src: Option<PathBuf>,
}

pub fn run(args: &TestArgs) -> Result {
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

    let mut test = cargo();
    test.args(["test", "--workspace"]);
    cmd::run(test)?;

    if args.no_tcl {
        eprintln!("xtask: --no-tcl: Redis's Tcl suite NOT run");
        return Ok(());
    }
    redis_tcl_suite(args)
}

fn redis_tcl_suite(args: &TestArgs) -> Result {
    let src = args
        .redis_src
        .clone()
        .or_else(|| std::env::var_os("REDIS_SRC").map(PathBuf::from))
        .unwrap_or_else(|| root().join(".redis-tests/redis"));
    if !src.join("tests/test_helper.tcl").exists() {
        return Err(format!(
            "Redis's Tcl suite is not at {} (fetch it with `server/tests/redis-tcl/fetch.sh {}`, \
             or pass --redis-src; --no-tcl skips it)",
            src.display(),
            src.display()
        ));
    }
    let mut build = cargo();
    build.args(["build", "--release", "--bin", "ringledger-server"]);
    cmd::run(build)?;
    let server = cmd::target_dir().join("release/ringledger-server");
    let mut suite = Command::new("python3");
    suite.arg(root().join("server/tests/redis-tcl/run.py"));
    suite.arg(&server).arg(&src);
    cmd::run(suite)
}
