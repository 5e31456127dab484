//! `cargo xtask <task>`: project automation.
//!
//! - `test`: everything CI runs (format, lints, unit/integration tests, Redis's Tcl suite).
//! - `bench cache`: redis-benchmark against redis-server and Ringledger, side by side.

mod bench_cache;
mod cmd;
mod test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Ringledger project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs: fmt, clippy, cargo test, Redis's Tcl suite.
    Test(test::TestArgs),
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        which: BenchTask,
    },
}

#[derive(Subcommand)]
enum BenchTask {
    /// redis-benchmark against redis-server and ringledger-server, alternating rounds.
    Cache(bench_cache::CacheBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test(args) => test::run(&args),
        Task::Bench {
            which: BenchTask::Cache(args),
        } => bench_cache::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
