#!/usr/bin/env bash
# Runs a command beside a private, throw-away PostgreSQL: a cluster in a temporary directory,
# listening on 127.0.0.1 on a free port, with a test database; its URL is exported as
# SMB_TEST_POSTGRES_URL for the command (the store's PostgreSQL tests read it). The cluster is
# stopped and its directory removed when the command ends, whatever its result.
#
#   scripts/test-postgres.sh                         # cargo test -p smb-store --test store
#   scripts/test-postgres.sh cargo test --workspace  # what .ci/run does
#
# Installs Debian's `postgresql` package when no PostgreSQL server is found (needs root or
# sudo). Run as root, the cluster runs as the `postgres` user (PostgreSQL refuses root).
# PG_BINDIR=/usr/lib/postgresql/15/bin picks a server when several are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        echo "$PG_BINDIR"
        return
    fi
    # Debian keeps the server's programs out of PATH, one directory per major version.
    local newest=""
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then newest="$d"; fi
    done
    if [ -n "$newest" ]; then
        echo "$newest"
        return
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ]; then
    echo "PostgreSQL is not installed: installing Debian's postgresql package" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
    BINDIR="$(find_bindir)"
fi
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
    echo "no PostgreSQL server found (looked in /usr/lib/postgresql/*/bin and PATH); set PG_BINDIR" >&2
    exit 1
fi

# PostgreSQL will not run as root: as root, the cluster belongs to `postgres` (Debian's
# package creates that user) or, failing that, `nobody`.
AS=()
if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then RUN_USER=postgres; else RUN_USER=nobody; fi
    AS=(runuser -u "$RUN_USER" --)
fi

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port
    for port in $(seq 54320 54420); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port in 54320-54420" >&2
    exit 1
}

DIR="$(mktemp -d -t smb-postgres.XXXXXX)"
chmod 755 "$DIR"
PGDATA="$DIR/data"
mkdir -m 700 "$PGDATA"
PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$PASSWORD" > "$DIR/pwfile"
if [ "${#AS[@]}" -gt 0 ]; then chown -R "$RUN_USER" "$DIR"; fi

cleanup() {
    "${AS[@]}" "$BINDIR/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

"${AS[@]}" "$BINDIR/initdb" -D "$PGDATA" -U smb --pwfile="$DIR/pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/pwfile"

# Tests make a database each and run beside each other: allow enough connections.
PORT="$(free_port)"
"${AS[@]}" "$BINDIR/pg_ctl" -D "$PGDATA" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=300 -c fsync=on" start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 1; }

URL="postgres://smb:$PASSWORD@127.0.0.1:$PORT/smb_test"
PGPASSWORD="$PASSWORD" "$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U smb -d postgres -qAt \
    -c "CREATE DATABASE smb_test" >/dev/null
export SMB_TEST_POSTGRES_URL="$URL"
echo "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (cluster in $DIR); SMB_TEST_POSTGRES_URL is set" >&2

if [ "$#" -eq 0 ]; then
    set -- cargo test -p smb-store --test store
fi
"$@"
