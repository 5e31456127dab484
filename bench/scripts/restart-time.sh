#!/usr/bin/env bash
# Restart time of a full durable ledger: starts a durable server (2 workers, binary listener,
# a fresh data_dir, max_transfers = TRANSFERS), fills it with `ringledger-bench` (batches of
# 8189) until the table is full, kills it with SIGKILL, restarts it, and prints the seconds from
# the restart to its `ready` line and the server's own recovery line (read, replay and verify
# times). EXTRA='prefault = true' adds a [ledger] key.
#
#   bench/scripts/restart-time.sh [TRANSFERS]      (default 10000000, the default max_transfers)
#
# Builds nothing: run `cargo build --release -p server -p bench` first.
set -euo pipefail
transfers=${1:-10000000}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/d.toml" <<TOML
[server]
workers = 2
[[listener]]
protocol = "binary"
address = "127.0.0.1:0"
[ledger]
max_accounts = 100000
max_transfers = $transfers
data_dir = "data"
${EXTRA:-}
TOML
start() {
    "$bin/ringledger-server" "$work/d.toml" >"$work/$1.out" 2>&1 &
    pid=$!
    until grep -q ready "$work/$1.out"; do
        kill -0 $pid 2>/dev/null || { cat "$work/$1.out"; exit 1; }
        sleep 0.05
    done
    addr=$(sed -n 's/^listening on binary //p' "$work/$1.out")
}
start fill
# Runs until the table refuses more (the bench then reports the refusal).
"$bin/ringledger-bench" --address "$addr" --batch 8189 --connections 2 --duration 600 --no-audit \
    --data-dir "$work/data" \
    >"$work/bench.out" 2>&1 || true
kill -9 $pid
wait $pid 2>/dev/null || true
echo "log: $(du -sh "$work/data" | cut -f1)"
t0=$(date +%s.%N)
start restart
t1=$(date +%s.%N)
grep 'recovered' "$work/restart.out"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "restart to ready: %.2f s\n", b - a }'
