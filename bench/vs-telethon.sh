#!/usr/bin/env bash
# Side by side with the Python/Telethon stack on the same MTProto test server: ours (`run --once`),
# the seed's Telethon loop and a bare grammers client, alternating runs; prints CPU per 1,000
# deliveries, peak RSS, RSS per connected account at 1/10/100 and the ratios (min/median/max).
# Installs Telethon from PyPI into bench/.venv on first use.
# Usage: bench/vs-telethon.sh [--runs 5] [--accounts 50] [--chats 200]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q telethon
fi
cargo build --release -q -p sendmessagebot --bin sendmessagebot -p smb-bench --bin live
exec "${CARGO_TARGET_DIR:-target}/release/live" vs-telethon --python bench/.venv/bin/python "$@"
