#!/usr/bin/env bash
# Priority lanes under overload, side by side in one run against one embedded server: premium keys (high lane) alone;
# premium beside free keys flooding the same model (low lane); and the control, where both keys are of the standard
# tier and so share one lane. The flood's clients honour Retry-After (bench/lua/retry-after.lua), as SDKs do. wrk,
# 1 thread per key. The default model is the compute-bound sentence-encoder, where requests wait in the replicas'
# queues (on the light models the front end is the bottleneck, and it has no lanes).
# Usage: bash bench/lanes.sh [seconds] [model] > bench/out/lanes.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}" model="${2:-sentence-encoder}" premium_clients=8 flood_clients=256
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build client-api -c Release -v q -nologo >/dev/null
admin="bench-admin-key-0123456789abcdef"
port=5197
AIFLEET__AUTH__ADMINKEY="$admin" Logging__LogLevel__Default=Warning AiFleet__Embedded__SiloPort=21197 AiFleet__Embedded__GatewayPort=21198 \
  AiFleet__Grpc__Port=0 dotnet client-api/bin/Release/net10.0/Orleans.AiFleet.ClientApi.dll --urls "http://127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
out="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done
key() { # user tier
  curl -sf -H "Authorization: Bearer $admin" -H 'content-type: application/json' -d "{\"user\":\"$1\",\"role\":\"user\",\"tier\":\"$2\"}" \
    "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
load() { # key connections seconds [file] [script]
  AIFLEET_KEY="$1" wrk -t1 -c"$2" -d"$3s" --latency --timeout 30s -s "bench/lua/${5:-kserve-encoder.lua}" "http://127.0.0.1:$port/v2/models/$model/infer" > "${4:-/dev/null}"
}
flood() { load "$1" "$flood_clients" "$2" "${3:-}" retry-after.lua; }
row() { # scenario who file
  awk -v scenario="$1" -v who="$2" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /connections/ { c = $4 } / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } /requests in/ { n = $1 } /Non-2xx/ { bad = $5 }
    END { printf "| %s | %s | %d | %.0f | %.2f | %.2f | %d of %d |\n", scenario, who, c, rps, p50, p99, bad + 0, n }' "$3"
}
premium="$(key bench-premium premium)" free="$(key bench-free free)" std_a="$(key bench-standard-a standard)" std_b="$(key bench-standard-b standard)"
load "$premium" "$premium_clients" 3
echo "Machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; model $model; ${seconds} s per scenario after a 3 s warm-up; wrk 1 thread per key, closed loop."
echo
echo "| scenario | key (lane) | connections | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---:|---:|---:|---:|---:|"
load "$premium" "$premium_clients" "$seconds" "$out/alone"
row "premium alone" "premium (high)" "$out/alone"
flood "$free" 3
flood "$free" "$seconds" "$out/flood" & flooding=$!
load "$premium" "$premium_clients" "$seconds" "$out/premium"
wait $flooding
row "premium beside a free flood" "premium (high)" "$out/premium"
row "premium beside a free flood" "free (low)" "$out/flood"
flood "$std_b" 3
flood "$std_b" "$seconds" "$out/flood-one-lane" & flooding=$!
load "$std_a" "$premium_clients" "$seconds" "$out/one-lane"
wait $flooding
row "control: one lane for both" "standard (normal)" "$out/one-lane"
row "control: one lane for both" "standard flood (normal)" "$out/flood-one-lane"
