#!/usr/bin/env bash
# Engine benchmark: prints deliveries/s, peak RSS and the engine/raw SQLite ratio.
# Usage: bench/engine.sh [--accounts N] [--targets M] [--raw-rows R]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p smb-bench --bin engine -- "$@"
