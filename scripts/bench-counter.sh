#!/usr/bin/env bash
# Contended counter through optimistic transactions, daxkv beside fjall (OptimisticTxDatabase),
# RocksDB (OptimisticTransactionDB) and redb (single writer), all in ONE run, engines interleaved
# per thread count (compare ratios within the run: the machines are noisy). Each run: THREADS
# threads increment one key for SECONDS; the harness fails the run on a lost update.
# Installs what the peers need (scripts/peer-deps.sh), builds ycsb/ with those peers.
#
# Usage: scripts/bench-counter.sh          # THREADS="2 16" SECONDS_PER_RUN=3 ROUNDS=2
# Environment: ENGINES ("daxkv fjall rocksdb redb"), DURABILITY (none | per-op), JOBS (cargo -j, 2)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
THREADS="${THREADS:-2 16}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-3}"
ROUNDS="${ROUNDS:-2}"
ENGINES="${ENGINES:-daxkv fjall rocksdb redb}"
DURABILITY="${DURABILITY:-none}"
JOBS="${JOBS:-2}"

"$ROOT/scripts/peer-deps.sh"

cd "$ROOT/ycsb"
echo "== building daxkv-ycsb with fjall, rocksdb, redb (-j$JOBS)"
cargo build --release -j"$JOBS" --features fjall,rocksdb,redb
BIN="${CARGO_TARGET_DIR:-$ROOT/ycsb/target}/release/daxkv-ycsb"
DATA="$(mktemp -d "${TMPDIR:-$ROOT/ycsb/target}/counter.XXXXXX")"
trap 'rm -rf "$DATA"' EXIT

echo "date: $(date -u +%FT%TZ)  cpus: $(nproc)  fs: $(df -T "$DATA" | awk 'NR==2{print $2}')  daxkv: $(git -C "$ROOT" describe --always --dirty)"
for round in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    for e in $ENGINES; do
      rm -rf "${DATA:?}/$e"; mkdir -p "$DATA/$e"
      "$BIN" counter -db "$e" -threads "$t" -p seconds="$SECONDS_PER_RUN" -p durability="$DURABILITY" -p dir="$DATA/$e" \
        | sed "s/^/round $round: /"
    done
  done
done
