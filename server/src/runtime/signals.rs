//! SIGINT and SIGTERM become a graceful shutdown of every worker.

use super::Runtime;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Arc;

pub(crate) fn spawn(runtime: Arc<Runtime>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!("ringledger-server: signal {sig} received, shutting down");
                runtime.shutdown_all();
            }
        })?;
    Ok(())
}
