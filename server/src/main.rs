//! `ringledger-server <config.toml>` (the runtime fills this in).
fn main() {
    eprintln!("ringledger-server: runtime not built yet");
    std::process::exit(2);
}
