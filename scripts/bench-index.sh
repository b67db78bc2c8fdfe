#!/usr/bin/env bash
# Issue 13's table (Index v2): daxkv against LMDB (heed), redb and fjall, for N records each,
# every engine in its own processes, engines interleaved per N (noise hits all alike):
#   1. load: N puts (16 B keys, 100 B values, one thread), a durable commit every BATCH puts
#      (puts in between are deferred), close; one process (`daxkv-ycsb index-table load`);
#   2. drop the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`) when root and writable,
#      else say so and label the open row "warm";
#   3. measure, a second process (`index-table measure`): RssAnon before anything is opened (the
#      baseline), open timed until the first get answers, RssAnon, GETS random gets of loaded
#      keys, RssAnon, a full ordered scan (count == N, keys ascending), close, space on disk
#      (allocated st_blocks*512 and apparent size of all files in the store directory);
#   4. delete the store; after all: OUT/table.md (one table per N) from OUT/results.jsonl.
# Anonymous memory per key = (RssAnon after open + gets - RssAnon baseline) / N.
# Keys: key i = hash(SEED, i); the gets' indices come from a generator seeded with SEED.
# With REPEAT=R every N runs R rounds (each round all engines) and the table shows medians.
# With STRUCT_NS set, also the candidate in-memory indexes (ycsb/src/bin/index_structures.rs), one
# process per structure and N: OUT/structures.md.
#
# Usage: [NS="1000000 5000000"] [ENGINES="daxkv lmdb"] scripts/bench-index.sh
#   -h, --help   this text
# Environment overrides: NS ("1000000"; e.g. "1000000 5000000 10000000"; "" = none), ENGINES
#   ("daxkv lmdb redb fjall"), GETS (1000000), BATCH (100000), SEED (42), DATA (store dir;
#   ycsb/target/bench-index-data), OUT (ycsb/target/index-results/<timestamp>), JOBS (cargo -j, 2),
#   FEATURES ("lmdb,redb,fjall"), DROP_CACHE (1; 0 = never drop, open row labelled warm),
#   REPEAT (1), END (close; crash = the load ends without a clean close, as kill -9 leaves it,
#   so the open recovers; daxkv reports the log bytes it must replay as tail_bytes),
#   STRUCT_NS ("": skip; e.g. "1000000 5000000"), STRUCTURES (all six).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
NS="${NS-1000000}"
ENGINES="${ENGINES:-daxkv lmdb redb fjall}"
GETS="${GETS:-1000000}"
BATCH="${BATCH:-100000}"
SEED="${SEED:-42}"
JOBS="${JOBS:-2}"
FEATURES="${FEATURES:-lmdb,redb,fjall}"
DROP_CACHE="${DROP_CACHE:-1}"
REPEAT="${REPEAT:-1}"
END="${END:-close}"
STRUCT_NS="${STRUCT_NS:-}"
STRUCTURES="${STRUCTURES:-skiplist+papaya scc-tree scc-tree-vec scc-hash btree-vec btree-array}"
DATA="${DATA:-$ROOT/ycsb/target/bench-index-data}"
OUT="${OUT:-$ROOT/ycsb/target/index-results/$(date -u +%Y%m%dT%H%M%SZ)}"

command -v cc >/dev/null 2>&1 || { echo "needs a C compiler (LMDB is built from source): apt-get install gcc" >&2; exit 1; }
echo "== building daxkv-ycsb --features $FEATURES (-j$JOBS)"
cd "$ROOT/ycsb"
cargo build --release -j"$JOBS" --features "$FEATURES"
BIN="${CARGO_TARGET_DIR:-$ROOT/ycsb/target}/release/daxkv-ycsb"

mkdir -p "$OUT" "$DATA"
RES="$OUT/results.jsonl"
: > "$RES"

drop_cache() { # prints cold or warm
  if [ "$DROP_CACHE" = 1 ] && [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
    sync
    if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then echo cold; return; fi
  fi
  echo warm
}
CACHE_NOTE="page cache dropped before every open (root, /proc/sys/vm/drop_caches writable)"
probe="$(drop_cache)"
if [ "$probe" != cold ]; then
  CACHE_NOTE="page cache NOT dropped (not root, drop_caches not writable, or DROP_CACHE=0): open is warm"
  echo "!! could not drop the page cache: open times are WARM" >&2
fi

{
  echo "date: $(date -u +%FT%TZ)"; echo "NS=$NS ENGINES=$ENGINES GETS=$GETS BATCH=$BATCH SEED=$SEED END=$END"
  echo "kernel: $(uname -r)"; echo "cpus: $(nproc)"; echo "mem: $(free -g | awk '/^Mem/{print $2" GiB"}')"
  echo "fs: $(df -T "$DATA" | awk 'NR==2{print $2" "$1}')"
  echo "rustc: $(rustc --version)"; echo "daxkv commit: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo none)"
  grep -A1 -E '^name = "(heed|redb|fjall)"$' Cargo.lock | grep -E 'name|version' | paste - - | sed 's/name = //; s/version = //'
  echo "$CACHE_NOTE"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/setup.txt"
cat "$OUT/setup.txt"

FAILED=0
run() { # name, then index-table args; appends the JSON line to RES
  local name="$1"; shift
  if ! "$BIN" index-table "$@" >>"$RES" 2>"$OUT/$name.err"; then
    echo "!! $name FAILED (see $OUT/$name.err)"; tail -5 "$OUT/$name.err"; FAILED=1; return 1
  fi
  sed 's/^/   /' "$OUT/$name.err"
}

T0=$(date +%s)
for n in $NS; do
  for r in $(seq 1 "$REPEAT"); do
    for e in $ENGINES; do
      echo "== N=$n round $r/$REPEAT $e   (loadavg $(cut -d' ' -f1-3 /proc/loadavg), df $(df -h "$DATA" | awk 'NR==2{print $4}') free)"
      dir="$DATA/${e}_$n"
      rm -rf "${dir:?}"
      if run "load_${e}_${n}_r$r" load -db "$e" -n "$n" -dir "$dir" -seed "$SEED" -batch "$BATCH" -end "$END"; then
        cache="$(drop_cache)"
        run "measure_${e}_${n}_r$r" measure -db "$e" -n "$n" -dir "$dir" -seed "$SEED" -gets "$GETS" -cache "$cache" || true
      fi
      rm -rf "${dir:?}"
    done
  done
done
if [ -n "$STRUCT_NS" ]; then
  SBIN="$(dirname "$BIN")/index_structures"
  : > "$OUT/structures.jsonl"
  for n in $STRUCT_NS; do
    for s in $STRUCTURES; do
      if ! "$SBIN" "$s" "$n" "$GETS" "$SEED" >>"$OUT/structures.jsonl" 2>"$OUT/struct_${s}_$n.err"; then
        echo "!! structure $s N=$n FAILED (see $OUT/struct_${s}_$n.err)"; FAILED=1
      fi
      sed 's/^/   /' "$OUT/struct_${s}_$n.err"
    done
  done
  "$SBIN" report "$OUT/structures.jsonl" > "$OUT/structures.md"
fi

echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/setup.txt"
"$BIN" index-table report "$RES" "$OUT/table.md" > /dev/null
echo "== total $(( $(date +%s) - T0 )) s; results in $OUT"
cat "$OUT/table.md"
[ -z "$STRUCT_NS" ] || cat "$OUT/structures.md"
[ "$FAILED" = 0 ] || { echo "some runs FAILED" >&2; exit 1; }
