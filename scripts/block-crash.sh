#!/usr/bin/env bash
# scripts/block-crash.sh -- the long run of the block-level crash tier (issue 16; docs/dax.md
# "The block-level tier"). Each round boots the QEMU guest once per filesystem
# (scripts/dax-vm.sh with DAXVM_TIERS=block) with its own workload seed: the workload runs on
# ext4/xfs over dm-log-writes, and the replay checks EVERY flush/FUA point of the log plus
# SUBSETS sampled subset images before each. The I/O-error and ENOSPC scenarios run in round 1.
#
# Usage: scripts/block-crash.sh            (ROUNDS=15 SUBSETS=1 OPS=300 SEED=1: about 10,500
#                                          images per filesystem, roughly 4 h per filesystem under TCG)
#   ROUNDS=N     rounds (one workload seed each: SEED, SEED+1, ...)
#   SUBSETS=K    subset images before each checked flush point
#   POINTS=P     flush points checked per round (0 = every one)
#   OPS=N        workload ops per round
#   SEED=S       first seed
#   FS='ext4 xfs'
#   DAXVM_*      passed through to scripts/dax-vm.sh (e.g. DAXVM_WORK)
# Prints one line per filesystem with the totals:
#   block-level <fs>: <N> crash images, <L> acknowledged writes lost, <E> I/O-error scenarios passed
# Exit status 0 only when every round passed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-15}
SUBSETS=${SUBSETS:-1}
POINTS=${POINTS:-0}
OPS=${OPS:-300}
SEED=${SEED:-1}
FS=${FS:-ext4 xfs}
case $ROUNDS in ''|*[!0-9]*) echo "block-crash: ROUNDS must be a number" >&2; exit 2 ;; esac
OUT=${DAXVM_WORK:-/tmp/daxkv-vm}/block-crash
mkdir -p "$OUT"
declare -A IMAGES LOST IOERR
for fs in $FS; do IMAGES[$fs]=0; LOST[$fs]=0; IOERR[$fs]=0; done
failed=0
T0=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  seed=$((SEED + r - 1))
  ioerr=0; [ "$r" = 1 ] && ioerr=1
  log=$OUT/round-$r.log
  echo "[block-crash] round $r/$ROUNDS: seed $seed, $OPS ops, points=${POINTS} subsets=$SUBSETS ioerr=$ioerr (log $log)"
  rc=0
  DAXVM_TIERS=block DAXVM_FS="$FS" DAXVM_BLOCK_SEED=$seed DAXVM_BLOCK_OPS=$OPS DAXVM_BLOCK_POINTS=$POINTS \
    DAXVM_BLOCK_SUBSETS=$SUBSETS DAXVM_BLOCK_IOERR=$ioerr \
    DAXVM_BLOCK_STEP_TIMEOUT=${DAXVM_BLOCK_STEP_TIMEOUT:-7200} DAXVM_BLOCK_TIMEOUT=${DAXVM_BLOCK_TIMEOUT:-7800} \
    "$REPO/scripts/dax-vm.sh" > "$log" 2>&1 || rc=$?
  grep -E '^(block-level|dax-vm:)|VIOLATION|^  problem' "$log" | sed 's/^/  /' || true
  [ "$rc" = 0 ] || { failed=$((failed + 1)); echo "[block-crash] round $r FAILED (rc=$rc, see $log)"; }
  for fs in $FS; do
    line=$(grep "^block-level $fs: " "$log" | tail -1 || true)
    n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) crash images.*/\1/p')
    l=$(echo "$line" | sed -n 's/.*images, \([0-9]*\) acknowledged.*/\1/p')
    e=$(echo "$line" | sed -n 's/.*lost, \([0-9]*\) I\/O-error.*/\1/p')
    IMAGES[$fs]=$((IMAGES[$fs] + ${n:-0}))
    if [ -n "$l" ]; then LOST[$fs]=$((LOST[$fs] + l)); else LOST[$fs]="${LOST[$fs]}+unknown"; failed=$((failed + 1)); fi
    IOERR[$fs]=$((IOERR[$fs] + ${e:-0}))
  done
done
echo "[block-crash] $ROUNDS rounds in $(( $(date +%s) - T0 ))s, $failed failed"
for fs in $FS; do
  echo "block-level $fs: ${IMAGES[$fs]} crash images, ${LOST[$fs]} acknowledged writes lost, ${IOERR[$fs]} I/O-error scenarios passed"
done
[ "$failed" = 0 ]
