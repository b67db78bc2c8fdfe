#!/usr/bin/env bash
# Model-checks the lock-free parts with loom (the cfg seam in src/sync.rs): the dirty index's
# slot retirement, the reader gate and the snapshot batch clock, each against a deliberately
# broken variant that the model must catch. Bounded (preemption bound 3); its own target directory, since --cfg daxkv_loom
# rebuilds the crate.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg daxkv_loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS=3
cargo test --release --lib -- loom_ "$@"
