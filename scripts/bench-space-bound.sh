#!/usr/bin/env bash
# Issue 12's update bound (docs/benchmarks.md §7, "The update bound under two writers"): the
# YCSB update workload (100,000 records of 10 x 100 B fields, zipfian full-record updates only,
# durability none) RUNS times in a row on a fresh store each time, sampling the store file's
# st_size and allocated blocks every 0.1 s during the run. One line per run.
#
# usage: scripts/bench-space-bound.sh [runs] [operations] [threads]     (defaults 10 2000000 2)
#
# Environment: BIN [ycsb/target/release/daxkv-ycsb] (build it with `cd ycsb && cargo build
# --release`), WORKDIR [a new temp dir]. Keys and values are estimated from below as LiveBytes
# less 39 bytes a record (the 32-byte header and at most 7 bytes of padding), so the ratios
# over them are upper bounds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-10}" OPS="${2:-2000000}" THREADS="${3:-2}"
BIN="${BIN:-$ROOT/ycsb/target/release/daxkv-ycsb}"
WORKDIR="${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/daxkv-space-bound.XXXXXX")}"
mkdir -p "$WORKDIR"
PROPS="$WORKDIR/updates.properties"
cat >"$PROPS" <<'PROPERTIES'
recordcount=100000
workload=site.ycsb.workloads.CoreWorkload
readallfields=true
writeallfields=true
readproportion=0
updateproportion=1
scanproportion=0
insertproportion=0
requestdistribution=zipfian
PROPERTIES
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); raw output in $WORKDIR" >&2

one_run() { # number
    local dir="$WORKDIR/store" pid maxs=0 maxa=0 s b a
    rm -rf "$dir" && mkdir -p "$dir"
    "$BIN" load -db daxkv -P "$PROPS" -p dir="$dir" -p durability=none >"$WORKDIR/load-$1.out" 2>&1
    "$BIN" run -db daxkv -P "$PROPS" -p operationcount="$OPS" -p dir="$dir" -p durability=none \
        -threads "$THREADS" >"$WORKDIR/run-$1.out" 2>&1 &
    pid=$!
    # Bounded by the run: the loop ends when the process does.
    while kill -0 "$pid" 2>/dev/null; do
        if read -r s b < <(stat -c '%s %b' "$dir/daxkv.db" 2>/dev/null); then
            a=$((b * 512))
            ((s > maxs)) && maxs=$s
            ((a > maxa)) && maxa=$a
        fi
        sleep 0.1
    done
    wait "$pid"
    read -r s b < <(stat -c '%s %b' "$dir/daxkv.db")
    a=$((b * 512))
    ((s > maxs)) && maxs=$s
    ((a > maxa)) && maxa=$a
    local out="$WORKDIR/run-$1.out" live kv
    field() { grep -m1 "$1" "$out" | awk -F', ' '{print $3}'; }
    live=$(field '\[SPACE\], LiveBytes')
    kv=$((live - 100000 * 39))
    awk -v run="$1" -v s="$s" -v a="$a" -v ms="$maxs" -v ma="$maxa" -v live="$live" -v kv="$kv" \
        -v ops="$(field 'Throughput')" -v p999="$(field '\[UPDATE\], 99.9thPercentileLatency(ns)')" \
        -v copied="$(field 'CleaningBytesCopiedTotal')" -v over="$(field 'SpaceBudgetOverrunsTotal')" 'BEGIN {
        m = 1048576
        printf "| %d | %.0f | %.0f | %.3f | %.3f | %.0f | %.0f | %.1f k | %.1f | %.2f | %s |\n", run, ms / m, ma / m,
            ms / kv, ma / kv, s / m, a / m, ops / 1000, p999 / 1e6, copied / 1e9, over == "" ? "n/a" : over }'
}

echo "| run | max st_size MiB | max allocated MiB | max st_size / keys+values | max allocated / keys+values | final st_size MiB | final allocated MiB | ops/s | UPDATE p99.9 ms | cleaning copied GB | growths past budget |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for run in $(seq 1 "$RUNS"); do
    one_run "$run"
done
