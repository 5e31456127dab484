#!/usr/bin/env bash
# The durable ledger against the volatile one, on the same machine in the same run: starts one
# server of each (2 workers, binary listener; the durable one with a fresh data_dir), then runs
# `ringledger-bench` against them in turn, ROUNDS times, and prints every run, each side's median
# transfers/s and p50 latency, and the ratio of the medians. Alternating puts both under the same
# spells of a noisy host's load (docs/BENCHMARKS.md).
#
#   bench/scripts/durable-vs-volatile.sh ROUNDS BATCH CONNECTIONS [SECONDS]
#
# e.g. `... 5 8189 2` (big batches), `... 5 1 64` (group commit), `... 5 1 1` (latency).
# Builds nothing: run `cargo build --release -p server -p bench` first.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 ROUNDS BATCH CONNECTIONS [SECONDS]" >&2
    exit 2
fi
rounds=$1 batch=$2 conns=$3 secs=${4:-5}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
work=$(mktemp -d)
declare -A addr rates p50s
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for side in volatile durable; do
    {
        printf '[server]\nworkers = 2\n[[listener]]\nprotocol = "binary"\naddress = "127.0.0.1:0"\n'
        printf '[ledger]\nmax_accounts = 100000\nmax_transfers = 100000000\n'
        [ "$side" = durable ] && printf 'data_dir = "data"\n'
    } >"$work/$side.toml"
    "$bin/ringledger-server" "$work/$side.toml" >"$work/$side.out" 2>&1 &
done
for side in volatile durable; do
    for _ in $(seq 100); do
        grep -q 'ready' "$work/$side.out" && break
        sleep 0.1
    done
    addr[$side]=$(sed -n 's/^listening on binary //p' "$work/$side.out")
done
for round in $(seq 1 "$rounds"); do
    for side in volatile durable; do
        note=()
        [ "$side" = durable ] && note=(--data-dir "$work/data")
        out=$("$bin/ringledger-bench" --address "${addr[$side]}" --batch "$batch" \
            --connections "$conns" --duration "$secs" --no-audit "${note[@]}" 2>&1)
        rate=$(sed -n 's/^transfers_per_second=//p' <<<"$out")
        p50=$(grep -o 'p50=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
        echo "round $round $side transfers_per_second=$rate p50_us=$p50"
        rates[$side]="${rates[$side]:-} $rate"
        p50s[$side]="${p50s[$side]:-} $p50"
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
for side in volatile durable; do
    echo "$side median transfers_per_second=$(median "${rates[$side]}") p50_us=$(median "${p50s[$side]}") (runs:${rates[$side]})"
done
awk -v d="$(median "${rates[durable]}")" -v v="$(median "${rates[volatile]}")" \
    'BEGIN { printf "durable/volatile = %.2f\n", d / v }'
