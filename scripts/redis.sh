#!/usr/bin/env bash
# A throwaway Redis for tests and the local cluster (Debian's redis-server, installed if missing), on
# 127.0.0.1:$AIFLEET_REDIS_PORT (26379), working directory $AIFLEET_REDIS_DIR (/tmp/aifleet-redis), no snapshots.
#   scripts/redis.sh start   → start if not running; prints the connection string
#   scripts/redis.sh stop
#   scripts/redis.sh url
set -euo pipefail
dir="${AIFLEET_REDIS_DIR:-/tmp/aifleet-redis}"
# Below 32768, outside the ephemeral range (see scripts/postgres.sh).
port="${AIFLEET_REDIS_PORT:-26379}"
url="127.0.0.1:$port"

case "${1:-}" in
  start)
    command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
    mkdir -p "$dir"
    if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
      for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    echo "$url"
    ;;
  stop) redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
