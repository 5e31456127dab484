//! `cargo xtask <task>`: project automation.
//!
//! - `test`: everything CI runs (format, lints, unit/integration tests, Redis's Tcl suite),
//!   after installing what it needs and is missing (`setup`).
//! - `catalog`: regenerate `server/src/commands/catalog.rs` from Redis's command JSON files.
//! - `bench cache`: redis-benchmark against redis-server and Ringledger, side by side.
//! - `flamegraph`: perf + inferno flame graph of the server under load.
//! - `fuzz`: the cargo-fuzz targets, each for a bounded time.

mod bench_cache;
mod catalog;
mod cmd;
mod flamegraph;
mod fuzz;
mod setup;
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
    /// Run every check CI runs: fmt, clippy, docs, cargo test, Redis's Tcl suite, smoke tests
    /// (installing the Debian packages, Tcl suite, nightly toolchain and cargo-fuzz it needs).
    Test(test::TestArgs),
    /// Regenerate server/src/commands/catalog.rs from Redis's src/commands/*.json.
    Catalog(catalog::CatalogArgs),
    /// Profile the release server under load into an SVG flame graph (perf + inferno).
    Flamegraph(flamegraph::FlamegraphArgs),
    /// Run the cargo-fuzz targets in fuzz/ (nightly) and print a pass/fail summary.
    Fuzz(fuzz::FuzzArgs),
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
        Task::Catalog(args) => catalog::run(&args),
        Task::Flamegraph(args) => flamegraph::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
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
