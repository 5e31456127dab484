//! SIGINT and SIGTERM: the first starts a graceful shutdown of every worker (bounded by
//! `[server] shutdown_timeout`); a second one exits at once, as Redis does.

use super::Runtime;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Arc;

pub(crate) fn spawn(runtime: Arc<Runtime>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if let Some(sig) = received.next() {
                eprintln!("ringledger-server: signal {sig} received, shutting down");
                runtime.shutdown_all();
            }
            if let Some(sig) = received.next() {
                eprintln!("ringledger-server: signal {sig} received again: exiting now");
                std::process::exit(1);
            }
        })?;
    Ok(())
}
