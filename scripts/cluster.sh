#!/usr/bin/env bash
# A real Orleans.AiFleet cluster on this machine: PostgreSQL membership, Redis state, N silo processes and client-api
# (cluster mode), every log in one folder.
#   scripts/cluster.sh start [N]   → N silos (default 2) on ports 11111+i / gateways 30000+i / metrics 9464+i,
#                                    client-api on :5080
#   scripts/cluster.sh stop        → stops client-api, the silos, and the PostgreSQL and Redis it started
#   scripts/cluster.sh kill I      → kill -9 of silo I (fault injection; the rest of the cluster carries on)
#   scripts/cluster.sh status
# Settings (environment): AIFLEET_CLUSTER_DIR (logs and process ids, default .artifacts/cluster),
# AIFLEET_CLUSTER_HTTP (client-api's URL), AIFLEET_CLUSTER_GRPC (its KServe gRPC port), AIFLEET_CLUSTER_SILO_PORT / AIFLEET_CLUSTER_GATEWAY_PORT /
# AIFLEET_CLUSTER_METRICS_PORT (first silo's ports; each silo's Prometheus /metrics is on the last), AIFLEET_CLUSTER_NO_BUILD=1 (use the Release build as it is). AIFLEET__CLUSTER__* reach every process,
# e.g. AIFLEET__CLUSTER__CLUSTERID and AIFLEET__CLUSTER__SERVICEID to run beside another cluster.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${AIFLEET_CLUSTER_DIR:-$root/.artifacts/cluster}"
http="${AIFLEET_CLUSTER_HTTP:-http://127.0.0.1:5080}"
grpc="${AIFLEET_CLUSTER_GRPC:-5081}"
silo_port="${AIFLEET_CLUSTER_SILO_PORT:-11111}"
gateway_port="${AIFLEET_CLUSTER_GATEWAY_PORT:-30000}"
metrics_port="${AIFLEET_CLUSTER_METRICS_PORT:-9464}"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local n="${1:-2}"
  mkdir -p "$dir/logs"
  [ -f "$dir/pids" ] && { echo "a cluster is already running (scripts/cluster.sh stop first)" >&2; exit 1; }
  # Services already running (the test script's, say) are used and left running at stop.
  : >"$dir/started"
  listening "${AIFLEET_PG_PORT:-25432}" || echo postgres >>"$dir/started"
  listening "${AIFLEET_REDIS_PORT:-26379}" || echo redis >>"$dir/started"
  # client-api's bootstrap admin key: the caller's, or one made for this cluster (kept in $dir/admin-key).
  export AIFLEET__AUTH__ADMINKEY="${AIFLEET__AUTH__ADMINKEY:-afk_admin_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  echo "$AIFLEET__AUTH__ADMINKEY" >"$dir/admin-key"
  export AIFLEET__CLUSTER__POSTGRES AIFLEET__CLUSTER__REDIS
  AIFLEET__CLUSTER__POSTGRES="$(bash "$root/scripts/postgres.sh" start)"
  AIFLEET__CLUSTER__REDIS="$(bash "$root/scripts/redis.sh" start)"
  if [ -z "${AIFLEET_CLUSTER_NO_BUILD:-}" ]; then
    dotnet build "$root/silo" -c Release -v q -nologo >/dev/null
    dotnet build "$root/client-api" -c Release -v q -nologo >/dev/null
  fi
  local silo api
  silo="$(find "$root/silo/bin/Release" -name Orleans.AiFleet.Silo.dll | head -1)"
  api="$(find "$root/client-api/bin/Release" -name Orleans.AiFleet.ClientApi.dll | head -1)"
  cd "$root" # models/ is found from the working directory
  # nohup and env exec, so $! is the dotnet process itself and stop can end it.
  for i in $(seq 0 $((n - 1))); do
    nohup env AIFLEET__CLUSTER__SILOPORT=$((silo_port + i)) AIFLEET__CLUSTER__GATEWAYPORT=$((gateway_port + i)) \
      AIFLEET__METRICS__PORT=$((metrics_port + i)) \
      DOTNET_CONTENTROOT="$(dirname "$silo")" \
      dotnet "$silo" >"$dir/logs/silo-$i.log" 2>&1 &
    echo "silo-$i $!" >>"$dir/pids"
  done
  # client-api starts once every silo is Active in membership, so the models' replicas warm up spread over all of them.
  local cid="${AIFLEET__CLUSTER__CLUSTERID:-aifleet}" active=0
  for _ in $(seq 1 120); do
    active="$(psql -h 127.0.0.1 -p "${AIFLEET_PG_PORT:-25432}" -U postgres -d aifleet -tAc \
      "SELECT count(*) FROM aifleet_membership WHERE deployment_id = '$cid' AND status = 3 AND port BETWEEN $silo_port AND $((silo_port + n - 1))")"
    [ "$active" -ge "$n" ] && break
    sleep 0.5
  done
  [ "$active" -ge "$n" ] || { echo "only $active of $n silos turned Active within 60 s; see $dir/logs" >&2; exit 1; }
  nohup env ASPNETCORE_URLS="$http" AIFLEET__GRPC__PORT="$grpc" ASPNETCORE_CONTENTROOT="$(dirname "$api")" dotnet "$api" >"$dir/logs/client-api.log" 2>&1 &
  echo "client-api $!" >>"$dir/pids"
  for _ in $(seq 1 120); do
    curl -sf "$http/health/ready" >/dev/null 2>&1 && { echo "cluster ready: $n silos, client-api at $http, logs in $dir/logs, admin key in $dir/admin-key"; return 0; }
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
  if [ -f "$dir/started" ]; then
    grep -qx redis "$dir/started" && bash "$root/scripts/redis.sh" stop
    grep -qx postgres "$dir/started" && bash "$root/scripts/postgres.sh" stop
    rm -f "$dir/started"
  fi
  return 0
}

kill_silo() {
  local pid
  pid="$(awk -v n="silo-$1" '$1 == n { print $2 }' "$dir/pids" 2>/dev/null)"
  [ -n "$pid" ] || { echo "no silo-$1 in $dir/pids" >&2; exit 1; }
  kill -9 "$pid"
  echo "killed silo-$1 ($pid) with SIGKILL"
}

status() {
  [ -f "$dir/pids" ] || { echo "no cluster started by this script"; return 0; }
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid gone"; fi
  done <"$dir/pids"
  curl -s -H "Authorization: Bearer $(cat "$dir/admin-key" 2>/dev/null)" "$http/v1/fleet" | head -c 600; echo
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  kill) kill_silo "${2:?usage: $0 kill I}" ;;
  *) echo "usage: $0 start [N] | stop | kill I | status" >&2; exit 2 ;;
esac
