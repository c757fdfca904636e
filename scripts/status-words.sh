#!/usr/bin/env bash
# Counts comparisons on status/state words written as string literals in Rust code outside
# the edges (issue 13, "words as types"). A comparison is `== "word"`, `!= "word"`, a match arm
# `"word" =>`, `Some("word")` or a tuple in a pattern, `starts_with("word…")`, or a
# reason/status/state variable matched by prefix (`reason.starts_with(s)`), for the journal's words:
# delivery status, pause kind, broadcaster state, target status, error class, account stop.
# Edges are not counted: SQL strings, templates, JSON built with serde_json::json!, tests
# (tests/, #[cfg(test)] modules after their line), the web's i18n table (it translates the
# words), and crates/domain/src/status.rs + error.rs (the one as_str/FromStr of each word).
# Usage: scripts/status-words.sh [ROOT]   (prints each hit, then the count)
set -euo pipefail
root=${1:-.}
words='pending|sent|failed|deferred|running|paused|stopped|done|flood_wait|slowmode|active|disabled|account_pause|chat_pause|target_dead|stale_peer|bad_content|account_dead|transient|other|no session|session |stopped: '
pat="(==|!=)[[:space:]]*\"($words)[^\"]*\"|\"($words)[^\"]*\"[[:space:]]*(=>|\\|)|Some\\(\"($words)\"\\)[[:space:]]*=>|starts_with\\(\"($words)|\"($words)\"[[:space:]]*(==|!=)|\"[a-z]+\",[[:space:]]*\"($words)\"\)[[:space:]]*=>|(reason|status|state)[a-z_]*\)?\.(starts_with|contains)\("
hits=$(
  find "$root/crates" -name '*.rs' -path '*/src/*' \
    ! -path '*/mtproto-testserver/*' \
    ! -path '*/domain/src/status.rs' ! -path '*/domain/src/error.rs' \
    ! -path '*/web/src/i18n.rs' -print0 |
  xargs -0 awk -v pat="$pat" '
    FNR == 1 { intest = 0 }
    /#\[cfg\(test\)\]/ { intest = 1 }
    !intest && $0 ~ pat { print FILENAME ":" FNR ": " $0 }
  ' | sed "s#^$root/##"
)
if [ -n "$hits" ]; then printf '%s\n' "$hits"; fi
printf 'count: %s\n' "$(printf '%s' "$hits" | grep -c . || true)"
