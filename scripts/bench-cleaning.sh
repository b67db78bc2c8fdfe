#!/usr/bin/env bash
# Space reclamation benchmarks (docs/benchmarks.md, "Space reclamation"); prints markdown tables.
#
# usage: scripts/bench-cleaning.sh [curve] [ycsb]        (both sections when none is given)
#
#   curve  examples/space_curve: file size over a YCSB-A-like update load (50% verified reads,
#          50% updates, Deferred + sync every 1000 ops) for zipfian/cleaning on, zipfian/off,
#          uniform/on; one table of summaries and one table of curve points.
#   ycsb   daxkv-ycsb load + workload A (zipfian), durability=none, 1 thread, a fresh store per
#          run, alternating daxkv.cleaning=on and off PAIRS times; throughput, p99 READ/UPDATE,
#          and the store's size (st_size and allocated) after close.
#
# Environment (defaults in brackets):
#   RECORDS [100000] VALUE_BYTES [1000] MULTIPLE [12]     space_curve arguments
#   YCSB_RECORDS [100000] YCSB_OPS [2000000] PAIRS [2]    YCSB runs (on, off) x PAIRS
#   CARGO_TARGET_DIR [target]  YCSB_TARGET_DIR [ycsb/target]  build directories
#   WORKDIR [a new temp dir]   where the stores live (each is removed after its run)
#   OUT [$WORKDIR/results]     raw output of every run (kept)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECORDS="${RECORDS:-100000}"
VALUE_BYTES="${VALUE_BYTES:-1000}"
MULTIPLE="${MULTIPLE:-12}"
YCSB_RECORDS="${YCSB_RECORDS:-100000}"
YCSB_OPS="${YCSB_OPS:-2000000}"
PAIRS="${PAIRS:-2}"
MAIN_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
YCSB_TARGET="${YCSB_TARGET_DIR:-$ROOT/ycsb/target}"
WORKDIR="${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/daxkv-cleaning.XXXXXX")}"
OUT="${OUT:-$WORKDIR/results}"
SECTIONS="${*:-curve ycsb}"
mkdir -p "$WORKDIR" "$OUT"

echo "raw output: $OUT" >&2
echo "machine: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- curve -------------------------------------------------------------------------------------

curve_run() { # name cleaning distribution
    local name="$1" directory="$WORKDIR/curve-$1"
    rm -rf "$directory"
    "$MAIN_TARGET/release/examples/space_curve" "$directory" "$RECORDS" "$VALUE_BYTES" "$MULTIPLE" "$2" "$3" \
        >"$OUT/curve-$name.csv"
    rm -rf "$directory"
}

# summary: max_file_over_live=1.441 max_allocated_over_live=1.441 final_write_amp=2.675 ops_per_sec=77701
#   run_write_amp=2.820 ...
curve_summary_row() { # name label
    awk -v label="$2" '/^summary:/ {
        for (i = 2; i <= 6; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "| %s | %.3f | %.3f | %.3f | %.3f | %.0f |\n", label, v["max_file_over_live"],
            v["max_allocated_over_live"], v["final_write_amp"], v["run_write_amp"], v["ops_per_sec"] }' \
        "$OUT/curve-$1.csv"
}

# Every fifth CSV row (and the last) of the three curves side by side.
curve_points_table() {
    echo "| update bytes / live | zipfian on: st_size / live | allocated / live | write amp | zipfian off: st_size / live | uniform on: st_size / live | allocated / live | write amp |"
    echo "|---|---|---|---|---|---|---|---|"
    paste -d, <(grep -E '^[0-9]' "$OUT/curve-zipfian-on.csv") <(grep -E '^[0-9]' "$OUT/curve-zipfian-off.csv") \
        <(grep -E '^[0-9]' "$OUT/curve-uniform-on.csv") |
        awk -F, '{ row[NR] = $0 } END { for (i = 1; i <= NR; i++) if ((i - 1) % 5 == 0 || i == NR) {
            split(row[i], f, ",")
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[6], f[7], f[8], f[15], f[24], f[25], f[26] } }'
}

section_curve() {
    (cd "$ROOT" && CARGO_TARGET_DIR="$MAIN_TARGET" cargo build --release --example space_curve)
    curve_run zipfian-on on zipfian
    curve_run zipfian-off off zipfian
    curve_run uniform-on on uniform
    echo
    echo "### space_curve: $RECORDS records x $VALUE_BYTES B, updates = $MULTIPLE x live"
    echo
    echo "| run | max st_size / live | max allocated / live | write amp (load included) | write amp (updates only) | ops/s |"
    echo "|---|---|---|---|---|---|"
    curve_summary_row zipfian-on "zipfian, cleaning on"
    curve_summary_row zipfian-off "zipfian, cleaning off"
    curve_summary_row uniform-on "uniform, cleaning on"
    echo
    curve_points_table
    echo
    local name
    for name in zipfian-on zipfian-off uniform-on; do
        sed -n "s/^# after /- $name, after /p" "$OUT/curve-$name.csv"
    done
}

# --- ycsb --------------------------------------------------------------------------------------

metric() { # file section measurement
    awk -F', ' -v s="[$2]" -v m="$3" '$1 == s && $2 == m { print $3 }' "$1"
}

ycsb_run() { # index cleaning
    local name="ycsb-$1-$2" directory="$WORKDIR/ycsb-$1-$2"
    rm -rf "$directory"
    (cd "$ROOT/ycsb" && "$YCSB_TARGET/release/daxkv-ycsb" run -db daxkv -P workloads/workloada \
        -p recordcount="$YCSB_RECORDS" -p operationcount="$YCSB_OPS" -p durability=none -threads 1 \
        -p dir="$directory" -p daxkv.cleaning="$2" -p exportfile="$OUT/$name.json") \
        >"$OUT/$name.txt" 2>"$OUT/$name.err"
    stat -c '%s %b %B' "$directory/daxkv.db" >"$OUT/$name.size"
    rm -rf "$directory"
}

ycsb_row() { # index cleaning
    local f="$OUT/ycsb-$1-$2.txt" size allocated blocks block live copied written
    read -r size blocks block <"$OUT/ycsb-$1-$2.size"
    allocated=$((blocks * block))
    live=$(metric "$f" SPACE LiveBytes)
    copied=$(metric "$f" SPACE CleaningBytesCopiedTotal)
    written=$(metric "$f" SPACE RecordBytesTotal)
    awk -v i="$1" -v c="$2" -v t="$(metric "$f" OVERALL 'Throughput(ops/sec)')" \
        -v r="$(metric "$f" READ '99thPercentileLatency(ns)')" -v u="$(metric "$f" UPDATE '99thPercentileLatency(ns)')" \
        -v u9="$(metric "$f" UPDATE '99.9thPercentileLatency(ns)')" -v l="$(metric "$f" LOAD-OVERALL 'Throughput(ops/sec)')" \
        -v s="$size" -v a="$allocated" -v live="$live" -v cp="$copied" -v w="$written" 'BEGIN {
        printf "| %s | %s | %.1f k | %.1f k | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", i, c, l / 1000,
            t / 1000, r / 1000, u / 1000, u9 / 1000, s / 1048576, a / 1048576, s / live, a / live, (w + cp) / w }'
}

section_ycsb() {
    (cd "$ROOT/ycsb" && CARGO_TARGET_DIR="$YCSB_TARGET" cargo build --release)
    local pair cleaning
    for pair in $(seq 1 "$PAIRS"); do
        for cleaning in on off; do
            echo "ycsb run $pair cleaning=$cleaning" >&2
            ycsb_run "$pair" "$cleaning"
        done
    done
    echo
    echo "### YCSB-A, $YCSB_RECORDS records, $YCSB_OPS operations, durability=none, 1 thread"
    echo
    echo "| pair | cleaning | load ops/s | run ops/s | READ p99 µs | UPDATE p99 µs | UPDATE p99.9 µs | st_size MiB | allocated MiB | st_size / live | allocated / live | run write amp |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for pair in $(seq 1 "$PAIRS"); do
        ycsb_row "$pair" on
        ycsb_row "$pair" off
    done
    echo
    for pair in $(seq 1 "$PAIRS"); do
        awk -v p="$pair" -v on="$(metric "$OUT/ycsb-$pair-on.txt" OVERALL 'Throughput(ops/sec)')" \
            -v off="$(metric "$OUT/ycsb-$pair-off.txt" OVERALL 'Throughput(ops/sec)')" \
            'BEGIN { printf "- pair %s: throughput on / off = %.2f\n", p, on / off }'
    done
    local on_total off_total
    on_total=$(for pair in $(seq 1 "$PAIRS"); do metric "$OUT/ycsb-$pair-on.txt" OVERALL 'Throughput(ops/sec)'; done |
        awk '{ s += $1 } END { print s }')
    off_total=$(for pair in $(seq 1 "$PAIRS"); do metric "$OUT/ycsb-$pair-off.txt" OVERALL 'Throughput(ops/sec)'; done |
        awk '{ s += $1 } END { print s }')
    awk -v on="$on_total" -v off="$off_total" \
        'BEGIN { printf "- all pairs: mean throughput on / off = %.2f\n", on / off }'
}

for section in $SECTIONS; do
    case "$section" in
        curve) section_curve ;;
        ycsb) section_ycsb ;;
        *) echo "unknown section $section (curve, ycsb)" >&2; exit 2 ;;
    esac
done
