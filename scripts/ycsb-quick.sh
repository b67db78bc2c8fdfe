#!/usr/bin/env bash
# The `--quick` YCSB profile, daxkv only: keeps the harness (ycsb/) from rotting in CI.
# Small counts; asserts NOTHING about speed. Fails (non-zero exit) when the build or the harness's
# unit tests fail, when any run reports a correctness mismatch or an engine error, or when the
# harness no longer catches a deliberately injected lost write.
#
#   scripts/ycsb-quick.sh            # runs everything below (about a minute after the build)
#   QUICK_RECORDS=5000 QUICK_OPS=20000 scripts/ycsb-quick.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/ycsb"
RECORDS="${QUICK_RECORDS:-2000}"
OPS="${QUICK_OPS:-10000}"
JOBS="${CARGO_BUILD_JOBS:-2}"

echo "== ycsb-quick: build (daxkv only) and harness unit tests"
cargo build --release -j"$JOBS"
cargo test --release -j"$JOBS"
BIN="${CARGO_TARGET_DIR:-$ROOT/ycsb/target}/release/daxkv-ycsb"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ycsb-quick.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

fail() { echo "ycsb-quick: FAILED: $*" >&2; exit 1; }

run() { # name, then harness args
  local name="$1"; shift
  if ! "$BIN" "$@" -p exportfile="$WORK/$name.json" >"$WORK/$name.txt" 2>"$WORK/$name.err"; then
    cat "$WORK/$name.err" >&2
    fail "$name: daxkv-ycsb $*"
  fi
  grep -q '^\[OVERALL\], Throughput(ops/sec), ' "$WORK/$name.txt" || fail "$name: no [OVERALL] throughput line"
  grep -q '^\[VERIFY\], Mismatches, 0$' "$WORK/$name.txt" || fail "$name: no clean [VERIFY] line"
  grep -q '"measurement": "Throughput(ops/sec)"' "$WORK/$name.json" || fail "$name: JSON export incomplete"
  if grep -q '^WARNING: unknown property' "$WORK/$name.err"; then cat "$WORK/$name.err" >&2; fail "$name: unknown property in a shipped workload"; fi
  echo "ok  $name: $(grep '^\[OVERALL\], Throughput' "$WORK/$name.txt" | cut -d, -f3) ops/s"
}

echo "== ycsb-quick: workloads A-F, 1 and 2 threads, durability=none ($RECORDS records, $OPS ops)"
for t in 1 2; do
  for w in a b c d e f; do
    run "${w}_t$t" run -db daxkv -P workloads/workload$w -p recordcount="$RECORDS" \
      -p operationcount="$OPS" -threads "$t" -p dir="$WORK/store_${w}_t$t"
  done
done

echo "== ycsb-quick: other settings"
run a_perop_t2 run -db daxkv -P workloads/workloada -p recordcount="$RECORDS" -p operationcount=1000 \
  -threads 2 -p durability=per-op -p dir="$WORK/store_perop"
run a_group_t2 run -db daxkv -P workloads/workloada -p recordcount="$RECORDS" -p operationcount=2000 \
  -threads 2 -p durability=group -p syncintervalms=5 -p dir="$WORK/store_group"
run a_full_verify run -db daxkv -P workloads/workloada -p recordcount="$RECORDS" -p operationcount="$OPS" \
  -threads 2 -p verifyfraction=1 -p writeallfields=true -p fieldlengthdistribution=uniform \
  -p requestdistribution=uniform -p dir="$WORK/store_uniform"
run hotspot_ordered run -db daxkv -P workloads/workloadf -p recordcount="$RECORDS" -p operationcount="$OPS" \
  -threads 2 -p requestdistribution=hotspot -p insertorder=ordered -p zeropadding=12 -p dir="$WORK/store_hot"
# `load` then `run` on the same (now non-empty) store, in separate processes.
run load_then load -db daxkv -P workloads/workloadb -p recordcount="$RECORDS" -p dir="$WORK/store_reuse"
run run_after_load run -db daxkv -P workloads/workloadb -p recordcount="$RECORDS" -p operationcount="$OPS" \
  -threads 2 -p dir="$WORK/store_reuse"
run e_zipf_scans run -db daxkv -P workloads/workloade -p recordcount="$RECORDS" -p operationcount=2000 \
  -p scanlengthdistribution=zipfian -p dir="$WORK/store_e_zipf"

echo "== ycsb-quick: the harness must catch a lost write (fault injection)"
if "$BIN" run -db daxkv -P workloads/workloada -p recordcount="$RECORDS" -p operationcount="$OPS" \
    -threads 2 -p inject=lost-writes -p dir="$WORK/store_inject" >"$WORK/inject.txt" 2>"$WORK/inject.err"; then
  fail "an injected lost write went unnoticed"
fi
grep -q 'MISMATCH' "$WORK/inject.err" || fail "injected fault failed the run, but not as a mismatch"
echo "ok  injected lost writes were caught"

echo "== ycsb-quick: report generation"
"$BIN" report "$WORK" "$WORK/table.md" "$WORK/chart.svg" >/dev/null
grep -q '<svg' "$WORK/chart.svg" || fail "report wrote no SVG"
echo "ycsb-quick: all runs passed their correctness checks"
