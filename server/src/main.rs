//! `ringledger-server [CONFIG]` runs the server (on defaults when no file is given);
//! `ringledger-server --check CONFIG` validates the file and exits 0, or 1 with a message naming
//! the file, line and key of the bad key or value. `--help` and `--version` say so.
//!
//! Start-up prints, on stdout: where the config came from, where the ledger's data lives, then
//! (from `runtime::run`) each listener and the metrics address, and a `ready` line with the
//! worker count and the I/O engine in use.

use clap::Parser;
use server::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ringledger-server",
    version,
    about = "Redis-compatible cache and TigerBeetle-semantics ledger",
    after_help = "Examples:\n  \
        ringledger-server config/example.toml\n  \
        ringledger-server --check config/example.toml\n\n\
        Every config key is documented in docs/OPERATIONS.md."
)]
struct Args {
    /// Validate the config file and exit: 0 if it is valid, 1 with FILE:LINE:COLUMN and the
    /// key if it is not.
    #[arg(long, requires = "config")]
    check: bool,
    /// Path of the TOML config file. Without one the server runs on the defaults: RESP on
    /// 127.0.0.1:6379, one worker per CPU, a volatile ledger.
    config: Option<PathBuf>,
}

/// The start-up line saying where the config came from.
fn config_line(path: Option<&Path>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match path {
        Some(p) => {
            let shown = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            format!("ringledger-server {version}: config {}", shown.display())
        }
        None => format!("ringledger-server {version}: no config file, using the defaults"),
    }
}

/// The start-up line saying where the ledger's data lives.
fn ledger_line(config: &Config) -> String {
    match &config.ledger.data_dir {
        None => "ledger: volatile (in memory; no data_dir): a restart loses it".into(),
        Some(dir) => {
            let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            format!(
                "ledger: durable (write-ahead log, fsync always), data in {}",
                shown.display()
            )
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::parse(""),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringledger-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (true, Some(path)) = (args.check, &args.config) {
        // What start-up checks beyond the file: the data directory (lock, layout, every log
        // record, the replayed ledger's invariants).
        if let Err(e) = server::durability::check(&config) {
            eprintln!("ringledger-server: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    println!("{}", config_line(args.config.as_deref()));
    println!("{}", ledger_line(&config));
    match server::runtime::run(config, args.config.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringledger-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_lines() {
        assert!(config_line(None).ends_with("no config file, using the defaults"));
        assert!(config_line(Some(Path::new("/nonexistent/r.toml")))
            .ends_with("config /nonexistent/r.toml"));
        let config = Config::parse("").unwrap();
        assert_eq!(
            ledger_line(&config),
            "ledger: volatile (in memory; no data_dir): a restart loses it"
        );
    }
}
