//! `cargo xtask <task>`: project automation. See `cargo xtask --help`.
fn main() {
    eprintln!("xtask: no tasks yet");
    std::process::exit(2);
}
