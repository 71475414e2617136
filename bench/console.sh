#!/usr/bin/env bash
# Does the console slow inference? KServe throughput on the text encoder (wrk, 64 connections) with the console's
# fleet, rollouts, spend and jobs data being read as open pages read them (each every 2 s, the fastest poll), against
# without, alternating, three times each, against one embedded server.
# Usage: bash bench/console.sh [seconds] [pairs] > bench/out/console.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}"
pairs="${2:-3}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build client-api -c Release -v q -nologo >/dev/null
export AIFLEET_KEY="bench-admin-key-0123456789abcdef"
port=5199
AIFLEET__AUTH__ADMINKEY="$AIFLEET_KEY" Logging__LogLevel__Default=Warning AiFleet__Embedded__SiloPort=21199 AiFleet__Embedded__GatewayPort=21200 \
  AiFleet__Grpc__Port=0 dotnet client-api/bin/Release/net10.0/Orleans.AiFleet.ClientApi.dll --urls "http://127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
poller=""
trap 'kill $server $poller 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done
pages() { # what three open console pages fetch: each page's data every 2 s
  while true; do
    for api in fleet experiments usage budgets jobs; do
      curl -s -o /dev/null -H "Authorization: Bearer $AIFLEET_KEY" "http://127.0.0.1:$port/console/api/$api"
    done
    sleep 2
  done
}
measure() {
  wrk -t1 -c64 -d"${seconds}s" --latency -s bench/lua/kserve-encoder.lua "http://127.0.0.1:$port/v2/models/text-encoder/infer" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } END { printf "%.0f | %.2f | %.2f", rps, p50, p99 }'
}
# Warm-up long enough for the fleet to finish scaling up under this load.
wrk -t1 -c64 -d20s -s bench/lua/kserve-encoder.lua "http://127.0.0.1:$port/v2/models/text-encoder/infer" >/dev/null
echo "Machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; text-encoder, wrk 64 connections, ${seconds} s per run."
echo
echo "| run | console pages | req/s | p50 ms | p99 ms |"
echo "|---:|---|---:|---:|---:|"
for i in $(seq 1 "$pairs"); do
  echo "| $i | closed | $(measure) |"
  pages & poller=$!
  sleep 1
  echo "| $i | fleet, rollouts, spend and jobs open | $(measure) |"
  kill $poller; wait $poller 2>/dev/null || true; poller=""
done
