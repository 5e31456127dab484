#!/usr/bin/env bash
# A/B of the ledger's apply_throughput example: runs the given builds in turn, ROUNDS times,
# and prints each run and, per build, the median of `transfers_per_second`, of
# `median_batch_transfers_per_second` and of `p10_batch_transfers_per_second` (the fastest
# tenth of batches: what a host whose noise only adds time disturbs least). Alternating puts both builds under the same spells
# of a noisy host's load; compare medians, not single runs (docs/BENCHMARKS.md).
#
#   bench/scripts/ab-apply.sh ROUNDS BIN_A BIN_B [BIN...]
#
# Each BIN is a built `target/release/examples/apply_throughput` (copy it aside before
# building the other version). TRANSFERS=N passes a transfer count (default: the example's
# 10,000,000); NO_READER=1 runs without the concurrent reader; HOST_PROBE=1 adds each run's host
# probes (CPU, L3- and DRAM-sized walks) to its line.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 ROUNDS BIN_A BIN_B [BIN...]" >&2
    exit 2
fi
rounds=$1
shift
declare -A totals medians fastest
for round in $(seq 1 "$rounds"); do
    for bin in "$@"; do
        out=$("$bin" ${TRANSFERS:-})
        total=$(grep '^transfers_per_second=' <<<"$out" | cut -d= -f2)
        median=$(grep -o 'median_batch_transfers_per_second=[0-9]*' <<<"$out" | cut -d= -f2 || true)
        p10=$(grep -o 'p10_batch_transfers_per_second=[0-9]*' <<<"$out" | cut -d= -f2 || true)
        totals[$bin]="${totals[$bin]:-} $total"
        medians[$bin]="${medians[$bin]:-} ${median:-0}"
        fastest[$bin]="${fastest[$bin]:-} ${p10:-0}"
        host=$(grep -o 'host_cpu_probe=.*' <<<"$out" || true)
        echo "round $round $bin transfers_per_second=$total median_batch=${median:-n/a} p10_batch=${p10:-n/a}${host:+ $host}"
    done
done
middle() { tr ' ' '\n' <<<"$*" | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for bin in "$@"; do
    echo "$bin: median transfers_per_second $(middle ${totals[$bin]}) (runs:${totals[$bin]}), median of median_batch $(middle ${medians[$bin]}), median of p10_batch $(middle ${fastest[$bin]})"
done
