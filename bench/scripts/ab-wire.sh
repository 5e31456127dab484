#!/usr/bin/env bash
# Two builds of the server against each other over the wire, in the same run: starts BASE (a
# ringledger-server binary, e.g. built from another commit) and this tree's release build with
# the same config (2 workers, binary and RESP listeners; durable with DURABLE=1), then runs
# `ringledger-bench` against them in turn, ROUNDS times, and prints every run, each side's median
# transfers/s and the ratio of the medians (docs/BENCHMARKS.md, method).
#
#   bench/scripts/ab-wire.sh BASE_SERVER ROUNDS BATCH CONNECTIONS [binary|resp] [SECONDS]
#
# Builds nothing: run `cargo build --release -p server -p bench` first.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 BASE_SERVER ROUNDS BATCH CONNECTIONS [binary|resp] [SECONDS]" >&2
    exit 2
fi
base=$1 rounds=$2 batch=$3 conns=$4 protocol=${5:-binary} secs=${6:-5}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
work=$(mktemp -d)
declare -A server addr rates
server[base]=$base
server[new]=$bin/ringledger-server
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for side in base new; do
    {
        printf '[server]\nworkers = 2\n'
        printf '[[listener]]\nprotocol = "binary"\naddress = "127.0.0.1:0"\n'
        printf '[[listener]]\nprotocol = "resp"\naddress = "127.0.0.1:0"\n'
        printf '[ledger]\nmax_accounts = 100000\nmax_transfers = 100000000\n'
        [ "${DURABLE:-0}" = 1 ] && printf 'data_dir = "data-%s"\n' "$side"
    } >"$work/$side.toml"
    "${server[$side]}" "$work/$side.toml" >"$work/$side.out" 2>&1 &
done
for side in base new; do
    for _ in $(seq 100); do
        grep -q 'ready' "$work/$side.out" && break
        sleep 0.1
    done
    addr[$side]=$(sed -n "s/^listening on $protocol //p" "$work/$side.out")
done
for round in $(seq 1 "$rounds"); do
    for side in base new; do
        note=()
        [ "${DURABLE:-0}" = 1 ] && note=(--data-dir "$work/data-$side")
        out=$("$bin/ringledger-bench" --address "${addr[$side]}" --protocol "$protocol" \
            --batch "$batch" --connections "$conns" --duration "$secs" --no-audit "${note[@]}" 2>&1)
        rate=$(sed -n 's/^transfers_per_second=//p' <<<"$out")
        echo "round $round $side transfers_per_second=$rate"
        rates[$side]="${rates[$side]:-} $rate"
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
for side in base new; do
    echo "$side median transfers_per_second=$(median "${rates[$side]}") (runs:${rates[$side]})"
done
awk -v n="$(median "${rates[new]}")" -v b="$(median "${rates[base]}")" \
    'BEGIN { printf "new/base = %.2f\n", n / b }'
