#!/usr/bin/env bash
# A long fuzz campaign (issue 16): runs open_image and crash_ops side by side, each for DURATION
# seconds (default 3600), from a copy of the committed corpus (new inputs stay in the copy unless
# KEEP=1 merges them back into fuzz/corpus). Prints, per target, libFuzzer's final line:
# executions, coverage (cov: edges, ft: features), corpus size, executions per second.
# Installs cargo-fuzz when missing. Stable toolchain: --sanitizer none.
# Usage: [DURATION=3600] [TARGETS="open_image crash_ops"] [NICE=19] [KEEP=0] scripts/fuzz-campaign.sh
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${DURATION:-3600}"
targets="${TARGETS:-open_image crash_ops}"
nice_level="${NICE:-19}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for target in $targets; do cargo fuzz build "$target" --sanitizer none; done
work="$(mktemp -d)"
echo "campaign: $targets, $seconds s each, corpus copies and logs in $work"
for target in $targets; do
  mkdir -p "$work/$target"
  cp corpus/"$target"/* "$work/$target"/
  nice -n "$nice_level" cargo fuzz run "$target" --sanitizer none -O "$work/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 > "$work/$target.log" 2>&1 &
done
status=0
wait || status=$?
for target in $targets; do
  echo "== $target"
  grep -E "^#[0-9]+\s+(DONE|INITED)" "$work/$target.log" | tail -2
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::new_units_added|ERROR|panicked" "$work/$target.log" || true
  if [ "${KEEP:-0}" = 1 ]; then cp -n "$work/$target"/* corpus/"$target"/ 2>/dev/null || true; fi
done
exit "$status"
