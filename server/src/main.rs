//! `ringledger-server <config.toml>` runs the server; `ringledger-server --check <config.toml>`
//! validates the file and exits 0, or 1 with a message naming the bad key or value.

use clap::Parser;
use server::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ringledger-server",
    version,
    about = "Redis-compatible cache and TigerBeetle-semantics ledger"
)]
struct Args {
    /// Validate the config file and exit.
    #[arg(long)]
    check: bool,
    /// Path of the TOML config file.
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringledger-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    match server::runtime::run(config, &args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringledger-server: {e}");
            ExitCode::FAILURE
        }
    }
}
