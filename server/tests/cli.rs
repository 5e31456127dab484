//! What a user sees first: `--help`, `--version`, config errors that name the file, line and
//! key, and the start-up lines (config, ledger, listeners, metrics, engine).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::binary()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("ringledger-server {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for item in [
        "[CONFIG]",
        "--check",
        "--version",
        "--help",
        "docs/OPERATIONS.md",
    ] {
        assert!(out.contains(item), "--help lacks {item}:\n{out}");
    }
    // --check needs a file to check.
    let (code, _, err) = run(&["--check"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = common::tempdir::Dir::new("cli-errors");
    let cases = [
        (
            "unknown.toml",
            "[server]\nworkers = 2\nworkerz = 2\n",
            ":3:1:",
            "server.workerz",
        ),
        (
            "value.toml",
            "# x\n[uring]\nbuffer_count = 1000\n",
            ":3:16:",
            "uring.buffer_count",
        ),
        (
            "type.toml",
            "[limits]\nmax_clients = \"many\"\n",
            ":2:15:",
            "limits.max_clients",
        ),
    ];
    for (name, text, line, key) in cases {
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        for check in [true, false] {
            let mut args = vec![path.to_str().unwrap()];
            if check {
                args.insert(0, "--check");
            }
            let (code, _, err) = run(&args);
            assert_eq!(code, 1, "{err}");
            let at = format!("{}{line}", path.display());
            assert!(
                err.contains(&at) && err.contains(key),
                "{name}: want {at} and {key} in {err:?}"
            );
        }
    }
}

#[test]
fn start_up_lines_say_config_ledger_listeners_and_engine() {
    let dir = common::tempdir::Dir::new("cli-start");
    let config = dir.0.join("start.toml");
    std::fs::write(
        &config,
        "[server]\nworkers = 1\npin_cores = false\n\n\
         [[listener]]\nprotocol = \"resp\"\naddress = \"127.0.0.1:0\"\n\n\
         [[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n\n\
         [uring]\nengine = \"epoll\"\n\n\
         [metrics]\naddress = \"127.0.0.1:0\"\n\n\
         [ledger]\nmax_accounts = 1000\nmax_transfers = 1000\n",
    )
    .unwrap();
    let mut child = Command::new(common::binary())
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("ringledger-server ready");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    let canonical = std::fs::canonicalize(&config).unwrap();
    let want = [
        format!("config {}", canonical.display()),
        "ledger: volatile (in memory; no data_dir): a restart loses it".to_string(),
        "listening on resp 127.0.0.1:".to_string(),
        "listening on binary 127.0.0.1:".to_string(),
        "listening on metrics http://127.0.0.1:".to_string(),
        "ready: 1 worker(s), engine epoll".to_string(),
    ];
    for w in &want {
        assert!(text.contains(w.as_str()), "start-up lacks {w:?}:\n{text}");
    }
    assert!(lines[0].starts_with("ringledger-server "), "{text}");
}
