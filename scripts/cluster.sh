#!/usr/bin/env bash
# A real Orleans.AiFleet cluster on this machine: PostgreSQL membership, Redis state, N silo processes and client-api
# (cluster mode), every log in one folder.
#   scripts/cluster.sh start [N]   → N silos (default 2) on ports 11111+i / gateways 30000+i, client-api on :5080
#   scripts/cluster.sh stop        → stops client-api, the silos, Redis and PostgreSQL
#   scripts/cluster.sh status
# Logs and process ids: $AIFLEET_CLUSTER_DIR (default .artifacts/cluster).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${AIFLEET_CLUSTER_DIR:-$root/.artifacts/cluster}"
http="${AIFLEET_CLUSTER_HTTP:-http://127.0.0.1:5080}"

start() {
  local n="${1:-2}"
  mkdir -p "$dir/logs"
  [ -f "$dir/pids" ] && { echo "a cluster is already running (scripts/cluster.sh stop first)" >&2; exit 1; }
  export AIFLEET__CLUSTER__POSTGRES AIFLEET__CLUSTER__REDIS
  AIFLEET__CLUSTER__POSTGRES="$(bash "$root/scripts/postgres.sh" start)"
  AIFLEET__CLUSTER__REDIS="$(bash "$root/scripts/redis.sh" start)"
  dotnet build "$root/silo" -c Release -v q -nologo >/dev/null
  dotnet build "$root/client-api" -c Release -v q -nologo >/dev/null
  local silo api
  silo="$(find "$root/silo/bin/Release" -name Orleans.AiFleet.Silo.dll | head -1)"
  api="$(find "$root/client-api/bin/Release" -name Orleans.AiFleet.ClientApi.dll | head -1)"
  cd "$root" # models/ is found from the working directory
  # nohup and env exec, so $! is the dotnet process itself and stop can end it.
  for i in $(seq 0 $((n - 1))); do
    nohup env AIFLEET__CLUSTER__SILOPORT=$((11111 + i)) AIFLEET__CLUSTER__GATEWAYPORT=$((30000 + i)) \
      dotnet "$silo" >"$dir/logs/silo-$i.log" 2>&1 &
    echo "silo-$i $!" >>"$dir/pids"
  done
  nohup env Urls="$http" dotnet "$api" >"$dir/logs/client-api.log" 2>&1 &
  echo "client-api $!" >>"$dir/pids"
  for _ in $(seq 1 120); do
    curl -sf "$http/health/ready" >/dev/null 2>&1 && { echo "cluster ready: $n silos, client-api at $http, logs in $dir/logs"; return 0; }
    sleep 0.5
  done
  echo "the cluster did not turn ready within 60 s; see $dir/logs" >&2
  exit 1
}

stop() {
  if [ -f "$dir/pids" ]; then
    while read -r name pid; do kill "$pid" 2>/dev/null && echo "stopping $name ($pid)" || true; done <"$dir/pids"
    while read -r name pid; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null && echo "killed $name ($pid): it did not stop within 10 s" || true
    done <"$dir/pids"
    rm -f "$dir/pids"
  fi
  bash "$root/scripts/redis.sh" stop
  bash "$root/scripts/postgres.sh" stop
}

status() {
  [ -f "$dir/pids" ] || { echo "no cluster started by this script"; return 0; }
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid gone"; fi
  done <"$dir/pids"
  curl -s "$http/v1/fleet" | head -c 600; echo
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] | stop | status" >&2; exit 2 ;;
esac
