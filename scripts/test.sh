#!/usr/bin/env bash
# The project's test command (README): every unit and integration test, the bounded crash sweep
# over all crash models, and the proof that the crash checker finds each planted protocol bug.
# Soak: DAXKV_CRASH_SEEDS=N (seeds per model) and DAXKV_CRASH_OPS=M raise the sweep's budget.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --features sim
# Planted bugs are compiled only here, never into a normal build.
cargo test --features planted-bugs --test planted_bugs
