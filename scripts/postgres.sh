#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and the local cluster, using the server binaries Debian 12 ships
# (/usr/lib/postgresql/15/bin). Data and socket live under $AIFLEET_PG_DIR (default /tmp/aifleet-postgres).
#   scripts/postgres.sh start   → initdb if needed, start on 127.0.0.1:$AIFLEET_PG_PORT (25432), apply db/*.sql
#   scripts/postgres.sh stop
#   scripts/postgres.sh url     → prints the connection string
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Outside the checkout: the server runs as the postgres user, who may not be able to enter a private clone.
dir="${AIFLEET_PG_DIR:-/tmp/aifleet-postgres}"
# Below 32768: a listener inside Linux's ephemeral range (32768-60999) can find its port taken by a client socket
# in TIME_WAIT right after a load test.
port="${AIFLEET_PG_PORT:-25432}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
url="Host=127.0.0.1;Port=$port;Username=postgres;Database=aifleet;Pooling=true"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    [ -x "$bin/pg_ctl" ] || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"; }
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    [ -f "$dir/data/PG_VERSION" ] || as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null
    fi
    psql -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='aifleet'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE aifleet"
    for f in "$root"/db/*.sql; do PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p "$port" -U postgres -d aifleet -q -v ON_ERROR_STOP=1 -f "$f"; done
    echo "$url"
    ;;
  stop)
    [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
