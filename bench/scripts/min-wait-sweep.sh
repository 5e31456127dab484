#!/bin/bash
# Wake-up coalescing A/B: one pinned Ringledger worker with [uring] min_wait_us = 0 (off) and
# = 50 (the default), alternating, under redis-benchmark GET -P 1 at several client counts.
# Prints redis-benchmark's CSV line (req/s, then avg/min/p50/p95/p99/max latency in ms), the
# server's CPU per request and INFO's coalesced_waits.
#
#   bench/scripts/min-wait-sweep.sh target/release/ringledger-server [requests] [rounds] [clients...]
set -euo pipefail
bin=$(realpath "$1")
n=${2:-60000}
rounds=${3:-2}
shift $(($# < 3 ? $# : 3))
clients=("$@")
[ ${#clients[@]} -eq 0 ] && clients=(1 2 4 8 16 32 50)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tick_us=$((1000000 / $(getconf CLK_TCK)))
for w in 0 50; do
  printf '[server]\nworkers = 1\npin_cores = true\n[[listener]]\nprotocol = "resp"\naddress = "127.0.0.1:%s"\n[uring]\nmin_wait_us = %s\n' \
    "$port" "$w" > "$work/min_wait_$w.toml"
done
for c in "${clients[@]}"; do
  for _ in $(seq "$rounds"); do
    for w in 0 50; do
      taskset -c 0 "$bin" "$work/min_wait_$w.toml" > /dev/null 2>&1 &
      pid=$!
      for _ in $(seq 100); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.05; done
      t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      line=$(taskset -c 1 redis-benchmark -p "$port" -t get -n "$n" -c "$c" -P 1 -d 64 -r 100000 --csv | tail -1)
      t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      waits=$(redis-cli -p "$port" info stats | tr -d '\r' | sed -n 's/^coalesced_waits://p')
      cpu=$(awk -v t=$((t1 - t0)) -v us="$tick_us" -v n="$n" 'BEGIN { printf "%.2f", t * us / n }')
      echo "clients=$c min_wait_us=$w $line cpu_us_per_request=$cpu coalesced_waits=$waits"
      kill "$pid"
      wait "$pid" || true
    done
  done
done
