#!/usr/bin/env bash
# A throwaway OpenID Connect provider for tests (tests/oidc/server.mjs: oidc-provider, in memory, one client per
# person, client_credentials, RS256 JWT access tokens for audience urn:aifleet) on 127.0.0.1:$AIFLEET_OIDC_PORT
# (24480); pid file and log under $AIFLEET_OIDC_DIR (/tmp/aifleet-oidc). Needs node (20 works; oidc-provider prints
# "Unsupported runtime" and runs); installs tests/oidc/node_modules with npm ci when missing or older than the lock file.
#   scripts/oidc.sh start   → start if not running; prints the issuer URL
#   scripts/oidc.sh stop
#   scripts/oidc.sh url
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${AIFLEET_OIDC_DIR:-/tmp/aifleet-oidc}"
# Below 32768, outside the ephemeral range (see scripts/postgres.sh).
port="${AIFLEET_OIDC_PORT:-24480}"
url="http://127.0.0.1:$port"
app="$root/tests/oidc"
ready() { curl -sf -o /dev/null --max-time 1 "$url/.well-known/openid-configuration"; }
# The pid in the pid file, only if that process is still our server (not a reused pid).
running_pid() {
  local pid
  pid="$(cat "$dir/oidc.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q 'server\.mjs' && echo "$pid"
}

case "${1:-}" in
  start)
    command -v node >/dev/null || { echo "oidc.sh: node is not installed" >&2; exit 1; }
    mkdir -p "$dir"
    if ! ready; then
      # .package-lock.json is written by every npm install/ci; touched so a lock file rewritten by npm install
      # at the same time does not trigger a reinstall on every start.
      if [ ! -f "$app/node_modules/.package-lock.json" ] || [ "$app/package-lock.json" -nt "$app/node_modules/.package-lock.json" ]; then
        (cd "$app" && npm ci --no-audit --no-fund --silent) && touch "$app/node_modules/.package-lock.json"
      fi
      if ! running_pid >/dev/null; then
        # setsid: its own session, so the caller's Ctrl-C or end does not take it down (like redis's --daemonize).
        AIFLEET_OIDC_PORT="$port" setsid node "$app/server.mjs" </dev/null >"$dir/oidc.log" 2>&1 &
        echo $! >"$dir/oidc.pid"
      fi
      for _ in $(seq 1 100); do ready && break; running_pid >/dev/null || break; sleep 0.1; done
      ready || { echo "oidc.sh: no answer on $url (exited, or not ready after 10 s); $dir/oidc.log:" >&2; tail -20 "$dir/oidc.log" >&2; exit 1; }
    fi
    echo "$url"
    ;;
  stop)
    if pid="$(running_pid)"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/oidc.pid"
    ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
