#!/usr/bin/env bash
# Cold start: 100 accounts, 10,000 targets: process start → first send at the MTProto test server.
# Usage: bench/startup.sh [--accounts 100] [--targets 10000] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sendmessagebot --bin sendmessagebot -p smb-bench --bin live
exec "${CARGO_TARGET_DIR:-target}/release/live" startup "$@"
