#!/usr/bin/env bash
# Side-by-side YCSB comparison of daxkv with LMDB (heed), RocksDB, redb, fjall and sled, plus the
# machine's raw durable-commit floors, all in ONE run (compare ratios within a run: the machines
# are shared and noisy). Installs what the peers need, builds the harness with every peer, runs:
#   1. every engine: load RECORDS records (durability=none, 2 threads); then workloads A, B, C, F,
#      D, E (YCSB's recommended order; E runs last on the same store instead of after a reload)
#      with durability=none at 1 and 2 client threads, OPS operations each, every engine back to
#      back per step (interleaved, so machine noise hits all engines alike);
#   2. per engine: a fresh DURABLE_RECORDS-record store, workload A with durability=per-op at
#      1, 2 and 16 client threads, DURABLE_OPS operations each;
#   3. the floors: msync of one dirty 4 KiB page of a prepared file, and pwrite 4 KiB + fdatasync;
#   4. the report: OUT/table.md (ops/s, p99, daxkv / best peer per row) and OUT/ycsb.svg.
#
# Usage: scripts/bench-peers.sh [--full | --reduced] [--publish]
#   --full      RECORDS=1000000 OPS=1000000 (the issue's standard run; ~30 min on 2 cores)
#   --reduced   RECORDS=100000  OPS=200000  (default)
#   --publish   copy the chart to docs/ycsb.svg (paste OUT/table.md into docs/benchmarks.md, section 5)
# Environment overrides: RECORDS, OPS, DURABLE_RECORDS (20000), DURABLE_OPS (20000), THREADS ("1 2"),
#   DURABLE_THREADS ("1 2 16"), ENGINES ("daxkv lmdb rocksdb redb fjall sled"), WORKLOADS
#   ("a b c f d e"), MAXTIME (per run, seconds, 120), DATA (store dir; ycsb/target/bench-data),
#   OUT (results; ycsb/target/ycsb-results/<timestamp>), JOBS (cargo -j, 2),
#   SECTIONS ("none perop floors": which of steps 1-3 to run; the report covers what ran).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE=reduced
PUBLISH=0
for a in "$@"; do
  case "$a" in
    --full) PROFILE=full ;;
    --reduced) PROFILE=reduced ;;
    --publish) PUBLISH=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
if [ "$PROFILE" = full ]; then
  RECORDS="${RECORDS:-1000000}"; OPS="${OPS:-1000000}"
else
  RECORDS="${RECORDS:-100000}"; OPS="${OPS:-200000}"
fi
DURABLE_RECORDS="${DURABLE_RECORDS:-20000}"
DURABLE_OPS="${DURABLE_OPS:-20000}"
SECTIONS="${SECTIONS:-none perop floors}"
THREADS="${THREADS:-1 2}"
DURABLE_THREADS="${DURABLE_THREADS:-1 2 16}"
ENGINES="${ENGINES:-daxkv lmdb rocksdb redb fjall sled}"
WORKLOADS="${WORKLOADS:-a b c f d e}"
MAXTIME="${MAXTIME:-120}"
JOBS="${JOBS:-2}"
DATA="${DATA:-$ROOT/ycsb/target/bench-data}"
OUT="${OUT:-$ROOT/ycsb/target/ycsb-results/$(date -u +%Y%m%dT%H%M%SZ)}"

# --- 1. what the peers need (scripts/peer-deps.sh) -----------------------------------------
"$ROOT/scripts/peer-deps.sh"

echo "== building daxkv-ycsb with all peers (-j$JOBS)"
cd "$ROOT/ycsb"
cargo build --release -j"$JOBS" --features all-peers
BIN="${CARGO_TARGET_DIR:-$ROOT/ycsb/target}/release/daxkv-ycsb"

mkdir -p "$OUT" "$DATA"
{
  echo "date: $(date -u +%FT%TZ)"; echo "profile: $PROFILE RECORDS=$RECORDS OPS=$OPS DURABLE_RECORDS=$DURABLE_RECORDS DURABLE_OPS=$DURABLE_OPS"
  echo "kernel: $(uname -r)"; echo "cpus: $(nproc)"; echo "fs: $(df -T "$DATA" | awk 'NR==2{print $2" "$1}')"
  echo "rustc: $(rustc --version)"; echo "daxkv commit: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo none)"
  grep -A1 -E '^name = "(heed|rocksdb|redb|fjall|sled)"$' Cargo.lock | grep -E 'name|version' | paste - - | sed 's/name = //; s/version = //'
} > "$OUT/setup.txt"
cat "$OUT/setup.txt"

T0=$(date +%s)
ycsb() { # result name, then harness args
  local name="$1"; shift
  local s; s=$(date +%s%N)
  if ! "$BIN" "$@" -p exportfile="$OUT/$name.json" >"$OUT/$name.txt" 2>"$OUT/$name.err"; then
    echo "!! $name FAILED (see $OUT/$name.err)"; tail -5 "$OUT/$name.err"; FAILED=1
  fi
  printf '   %-28s %14s ops/s  (%d ms)\n' "$name" \
    "$(grep '^\[OVERALL\], Throughput' "$OUT/$name.txt" | cut -d, -f3 | cut -d. -f1)" \
    "$(( ($(date +%s%N) - s) / 1000000 ))"
}
FAILED=0
COMMON=(-p fieldcount=10 -p fieldlength=100 -p maxexecutiontime="$MAXTIME")

has() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- 2. durability=none, A-F -----------------------------------------------------------------
# Every engine's store is loaded first; then each (threads, workload) step runs every engine back
# to back, so background noise on this shared machine spreads over all engines alike.
if has none; then
  for e in $ENGINES; do
    echo "== $e: load $RECORDS records"
    rm -rf "${DATA:?}/$e"
    ycsb "none_${e}_load" load -db "$e" -P workloads/workloada -p recordcount="$RECORDS" -threads 2 \
      -p durability=none -p dir="$DATA/$e" "${COMMON[@]}"
  done
  for t in $THREADS; do
    for w in $WORKLOADS; do
      echo "== workload $w, $t thread(s), $OPS ops"
      for e in $ENGINES; do
        ycsb "none_${e}_${w}_t$t" run -db "$e" -P "workloads/workload$w" -p recordcount="$RECORDS" \
          -p operationcount="$OPS" -threads "$t" -p durability=none -p dir="$DATA/$e" "${COMMON[@]}"
      done
    done
  done
  for e in $ENGINES; do
    du -sh "$DATA/$e" | sed "s/^/   $e store size: /"
    rm -rf "${DATA:?}/$e"
  done
fi

# --- 3. durability=per-op, A ------------------------------------------------------------------
has perop && for e in $ENGINES; do
  echo "== $e: per-op durability, workload A, $DURABLE_OPS ops at threads: $DURABLE_THREADS"
  rm -rf "${DATA:?}/durable_$e"
  for t in $DURABLE_THREADS; do
    ycsb "perop_${e}_a_t$t" run -db "$e" -P workloads/workloada -p recordcount="$DURABLE_RECORDS" \
      -p operationcount="$DURABLE_OPS" -threads "$t" -p durability=per-op -p dir="$DATA/durable_$e" "${COMMON[@]}"
  done
  rm -rf "${DATA:?}/durable_$e"
done

# --- 4. floors --------------------------------------------------------------------------------
if has floors; then
  echo "== floors"
  for k in msync pwrite; do
    ycsb "floor_$k" floor -p kind=$k -p operationcount=5000 -p dir="$DATA/floor"
  done
  rm -rf "${DATA:?}/floor"
fi

# --- 5. report --------------------------------------------------------------------------------
"$BIN" report "$OUT" "$OUT/table.md" "$OUT/ycsb.svg" > /dev/null
echo "== total $(( $(date +%s) - T0 )) s; results in $OUT"
cat "$OUT/table.md"
if [ "$PUBLISH" = 1 ]; then
  cp "$OUT/ycsb.svg" "$ROOT/docs/ycsb.svg"
  echo "copied the chart to docs/ycsb.svg"
fi
[ "$FAILED" = 0 ] || { echo "some runs FAILED" >&2; exit 1; }
