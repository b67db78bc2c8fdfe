#!/usr/bin/env bash
# Runs every fuzz target for a short fixed number of runs so the targets cannot rot.
# Installs cargo-fuzz when missing. Stable toolchain: --sanitizer none.
# Usage: scripts/fuzz-smoke.sh [runs]   (default 2000 per target; crash_ops, whose every input
#   runs a whole crash campaign at about 0.1 s, gets a fifth of them: its corpus replay alone is
#   some 300 runs)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs="${1:-2000}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in dirty_index open_image crash_ops ring_buffer; do
  mkdir -p "$work/$target"
  cp corpus/"$target"/* "$work/$target"/
  target_runs="$runs"
  [ "$target" != crash_ops ] || target_runs=$(( runs / 5 ))
  echo "fuzz: $target, $target_runs runs"
  cargo fuzz run "$target" --sanitizer none -O "$work/$target" -- -runs="$target_runs" -max_len=4096 2>&1 | grep -E "^Done|DONE|ERROR|panicked" || true
  # cargo fuzz exits non-zero on a crash; pipefail keeps that exit status.
done
