//! `ringledger-bench`: load generator (filled in by the ledger-over-the-wire work).
fn main() {
    eprintln!("ringledger-bench: not built yet");
    std::process::exit(2);
}
