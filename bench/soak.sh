#!/usr/bin/env bash
# Chaos soak: deliveries through the real binary against the MTProto test server with dropped
# connections, latency spikes, flood-wait storms and slow mode, while the daemon is kill -9ed
# and restarted; prints duplicate posts, skipped targets, sends inside a pause, integrity.
# Usage: bench/soak.sh [--deliveries 10000] [--kills 100] [--seed S] [--accounts 10] [--chats 30] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sendmessagebot --bin sendmessagebot -p smb-bench --bin live
exec "${CARGO_TARGET_DIR:-target}/release/live" soak "$@"
