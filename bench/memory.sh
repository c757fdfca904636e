#!/usr/bin/env bash
# Memory: RSS over time while sending (1 hour by default), metrics on (not scraped) and off.
# Usage: bench/memory.sh [--minutes 60] [--accounts 10] [--chats 50] [--every 10]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sendmessagebot --bin sendmessagebot -p smb-bench --bin live
exec "${CARGO_TARGET_DIR:-target}/release/live" memory "$@"
