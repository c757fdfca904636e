#!/usr/bin/env bash
# Pacing: 3 accounts, delay_between_chats 1 s: gap error p50/p99/max and short gaps, from the test server's timestamps.
# Usage: bench/pacing.sh [--accounts 3] [--chats 100] [--delay-ms 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sendmessagebot --bin sendmessagebot -p smb-bench --bin live
exec "${CARGO_TARGET_DIR:-target}/release/live" pacing "$@"
