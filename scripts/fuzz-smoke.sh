#!/usr/bin/env bash
# Runs every fuzz target for a short fixed number of runs so the targets cannot rot.
# Installs cargo-fuzz when missing. Stable toolchain: --sanitizer none.
# Usage: scripts/fuzz-smoke.sh [runs]   (default 2000 per target)
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
  echo "fuzz: $target, $runs runs"
  cargo fuzz run "$target" --sanitizer none -O "$work/$target" -- -runs="$runs" -max_len=4096 2>&1 | grep -E "^Done|DONE|ERROR|panicked" || true
  # cargo fuzz exits non-zero on a crash; pipefail keeps that exit status.
done
