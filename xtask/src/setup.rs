//! What `cargo xtask test` needs from outside the repository, installed when it is missing, so
//! that README's test command passes on a fresh Debian machine with only Rust stable on it:
//!
//! - Debian packages, found by a command each ([`TOOLS`]): installed with `apt-get` (one
//!   `apt-get update` first) when running as root; otherwise an error naming the packages;
//! - the stable toolchain's rustfmt and clippy (`rustup component add`);
//! - Redis 7.0.15's source tree with its Tcl suite, from Debian's `redis` source package
//!   (`server/tests/redis-tcl/fetch.sh`), into `.redis-tests/redis`;
//! - the nightly toolchain (`rustup toolchain install nightly --profile minimal`) and
//!   cargo-fuzz (`cargo install cargo-fuzz --locked`), for the fuzz smoke test.
//!
//! Each thing found is listed on one line; each thing installed is announced before it is.

use crate::cmd::{self, root, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A command the tests run and the Debian package that provides it.
pub struct Tool {
    pub command: &'static str,
    pub package: &'static str,
    pub used_by: &'static str,
    pub needed_for: Need,
}

/// Which part of `cargo xtask test` needs a tool (so `--no-tcl` / `--no-smoke` need less).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Always,
    Tcl,
    Smoke,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        command: "redis-cli",
        package: "redis-tools",
        used_by: "the redis-cli integration test",
        needed_for: Need::Always,
    },
    Tool {
        command: "redis-server",
        package: "redis-server",
        used_by:
            "the ACL test that compares Ringledger's replies with Redis 7.0's (server/tests/acl.rs)",
        needed_for: Need::Always,
    },
    Tool {
        command: "kill",
        package: "procps",
        used_by: "the integration tests (SIGTERM to the server)",
        needed_for: Need::Always,
    },
    Tool {
        command: "tclsh",
        package: "tcl",
        used_by: "Redis's Tcl suite",
        needed_for: Need::Tcl,
    },
    Tool {
        command: "python3",
        package: "python3",
        used_by: "the Tcl suite's runner (run.py)",
        needed_for: Need::Tcl,
    },
    Tool {
        command: "dpkg-source",
        package: "dpkg-dev",
        used_by: "`apt-get source redis` (fetching the Tcl suite)",
        needed_for: Need::Tcl,
    },
    Tool {
        command: "perf",
        package: "linux-perf",
        used_by: "the flame graph smoke test",
        needed_for: Need::Smoke,
    },
    Tool {
        command: "c++",
        package: "g++",
        used_by: "the fuzz smoke test (libFuzzer is C++)",
        needed_for: Need::Smoke,
    },
];

/// The Redis source tree `cargo xtask test` and `cargo xtask catalog` use by default.
pub fn default_redis_src() -> PathBuf {
    root().join(".redis-tests/redis")
}

/// True when running as root (apt can install).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs the Debian packages of `tools` whose commands are missing (root), or fails naming
/// them (not root). Prints which were found.
pub fn ensure_tools(tools: &[&Tool]) -> Result {
    let (present, missing): (Vec<&&Tool>, Vec<&&Tool>) =
        tools.iter().partition(|t| cmd::have(t.command));
    if !present.is_empty() {
        let names: Vec<&str> = present.iter().map(|t| t.command).collect();
        eprintln!("xtask: set-up: found {}", names.join(", "));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    let why: Vec<String> = missing
        .iter()
        .map(|t| format!("{} ({}, for {})", t.package, t.command, t.used_by))
        .collect();
    if !is_root() || !cmd::have("apt-get") {
        return Err(format!(
            "missing: {}. Install with `apt-get install {}` (as root) and run again; run as root \
             on Debian, `cargo xtask test` installs what is missing itself",
            why.join("; "),
            packages.join(" ")
        ));
    }
    for line in &why {
        eprintln!("xtask: set-up: installing {line}");
    }
    let mut update = Command::new("apt-get");
    update
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd::run(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd::run(install)?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|t| !cmd::have(t.command))
        .map(|t| t.command)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed {} but {} is still not on PATH",
            packages.join(" "),
            still.join(", ")
        ))
    }
}

/// rustfmt and clippy on the toolchain that runs us (a minimal rustup profile lacks them).
pub fn ensure_rust_components() -> Result {
    let mut found = Vec::new();
    for (sub, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let ok = cmd::cargo()
            .args([sub, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            found.push(component);
            continue;
        }
        eprintln!("xtask: set-up: installing the {component} component (cargo {sub})");
        let mut add = Command::new("rustup");
        add.args(["component", "add", component]);
        cmd::run(add)?;
    }
    if !found.is_empty() {
        eprintln!("xtask: set-up: found {}", found.join(", "));
    }
    Ok(())
}

/// Redis's source tree with its Tcl suite at `src`. The default location is fetched from
/// Debian's `redis` source package when absent; a location the user chose is never written.
pub fn ensure_redis_src(src: &Path) -> Result {
    if src.join("tests/test_helper.tcl").exists() {
        eprintln!(
            "xtask: set-up: found Redis's Tcl suite in {}",
            src.display()
        );
        return Ok(());
    }
    let absolute = std::env::current_dir()
        .map(|cwd| cwd.join(src))
        .unwrap_or_else(|_| src.to_path_buf());
    if absolute != default_redis_src() {
        return Err(format!(
            "Redis's Tcl suite is not at {} (omit --redis-src and $REDIS_SRC to have it \
             fetched into {}, or --no-tcl to skip it)",
            src.display(),
            default_redis_src().display()
        ));
    }
    eprintln!(
        "xtask: set-up: fetching Redis 7.0.15's source and Tcl suite (Debian's `redis` source \
         package, deb-src entries derived from this machine's apt sources) into {}",
        src.display()
    );
    let mut fetch = Command::new("bash");
    fetch
        .arg(root().join("server/tests/redis-tcl/fetch.sh"))
        .arg(src);
    cmd::run(fetch).map_err(|e| {
        if is_root() {
            e
        } else {
            format!(
                "{e} (fetch.sh may need root to add deb-src entries: run \
                 `sudo server/tests/redis-tcl/fetch.sh {}` once)",
                src.display()
            )
        }
    })
}

/// The nightly toolchain (for cargo-fuzz), installed through rustup when missing.
pub fn ensure_nightly() -> Result {
    if crate::fuzz::have_nightly() {
        eprintln!("xtask: set-up: found the nightly toolchain");
        return Ok(());
    }
    eprintln!("xtask: set-up: installing the nightly toolchain (for cargo-fuzz)");
    let mut install = Command::new("rustup");
    install.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    cmd::run(install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_names_a_package_and_a_user() {
        for t in TOOLS {
            assert!(!t.command.is_empty() && !t.package.is_empty() && !t.used_by.is_empty());
        }
        // The Tcl suite cannot be fetched without dpkg-source, nor run without tclsh.
        for command in ["tclsh", "dpkg-source", "python3"] {
            assert!(TOOLS
                .iter()
                .any(|t| t.command == command && t.needed_for == Need::Tcl));
        }
    }

    #[test]
    fn a_chosen_redis_src_is_never_fetched_into() {
        let e = ensure_redis_src(Path::new("/nonexistent/redis-src")).unwrap_err();
        assert!(
            e.contains("/nonexistent/redis-src") && e.contains("--no-tcl"),
            "{e}"
        );
    }
}
