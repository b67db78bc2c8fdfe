#!/usr/bin/env bash
# What the peer stores of the ycsb/ harness need to build, installed when missing (used by
# scripts/bench-peers.sh and scripts/bench-counter.sh). rust-rocksdb builds its bundled RocksDB
# (C++, ~8+ min on 2 cores) and runs bindgen, which needs libclang. Debian's librocksdb-dev (7.8
# on bookworm) is too old for rust-rocksdb 0.25 (RocksDB 10.x API), so it is not used. heed
# builds LMDB from its bundled C source.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
