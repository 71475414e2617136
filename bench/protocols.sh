#!/usr/bin/env bash
# KServe v2 on the shipped text encoder, the same requests over HTTP+JSON and HTTP with binary tensors (wrk) and over
# gRPC with raw tensors
# (h2load, nghttp2's C load generator, so neither client is .NET), side by side against one embedded server, 1 and 64
# clients. Each gRPC body is checked once with a client generated from client-api/Protos/open_inference_grpc.proto.
# Usage: bash bench/protocols.sh [seconds] > bench/out/protocols.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-6}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client; }
dotnet build client-api -c Release -v q -nologo >/dev/null
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo >/dev/null
export AIFLEET_KEY="bench-admin-key-0123456789abcdef"
port=5195 grpc=5196
AIFLEET__AUTH__ADMINKEY="$AIFLEET_KEY" Logging__LogLevel__Default=Warning AiFleet__Embedded__SiloPort=21195 AiFleet__Embedded__GatewayPort=21196 \
  AiFleet__Grpc__Port=$grpc dotnet client-api/bin/Release/net10.0/Orleans.AiFleet.ClientApi.dll --urls "http://127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
bodies="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$bodies"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done
workloads="$(dotnet bench/Orleans.AiFleet.Bench/bin/Release/net10.0/Orleans.AiFleet.Bench.dll protocol-bodies "$bodies" "http://127.0.0.1:$grpc" "$AIFLEET_KEY")"
echo "Machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; ${seconds} s per point after a 3 s warm-up; wrk and h2load with 1 thread."
echo
echo "| workload | protocol | clients | req/s | mean ms | p50 ms | p99 ms | failed |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
json() { # workload clients [binary]
  local script=bench/lua/body-file.lua file="$bodies/$1.json" label="HTTP+JSON"
  if [ "${3:-}" = binary ]; then script=bench/lua/binary-file.lua file="$bodies/$1.bin" label="HTTP, binary tensors"; fi
  export AIFLEET_HEADER_LENGTH="$(cat "$bodies/$1.bin.len")"
  AIFLEET_BODY="$file" wrk -t1 -c"$2" -d3s -s "$script" "http://127.0.0.1:$port/v2/models/text-encoder/infer" >/dev/null
  AIFLEET_BODY="$file" wrk -t1 -c"$2" -d"${seconds}s" --latency -s "$script" "http://127.0.0.1:$port/v2/models/text-encoder/infer" | awk -v name="$1" -v c="$2" -v label="$label" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^    Latency/ { mean = ms($2) } / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $5 }
    END { printf "| %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %d |\n", name, label, c, rps, mean, p50, p99, bad + 0 }'
}
grpc() { # workload clients
  h2load -t1 -c"$2" -m1 --warm-up-time=3 -D"$seconds" -d "$bodies/$1.grpc" \
    -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $AIFLEET_KEY" \
    "http://127.0.0.1:$grpc/inference.GRPCInferenceService/ModelInfer" | awk -v name="$1" -v c="$2" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^finished in/ { rps = $4 } /^requests:/ { failed = $10 + $12 } /^time for request:/ { mean = ms($6) }
    END { printf "| %s | gRPC, raw tensors | %d | %.0f | %.2f | | | %d |\n", name, c, rps, mean, failed }'
}
for w in $workloads; do
  for c in 1 64; do
    json "$w" "$c"
    json "$w" "$c" binary
    grpc "$w" "$c"
  done
done
