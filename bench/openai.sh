#!/usr/bin/env bash
# OpenAI-compatible routes in the embedded default, side by side in one run: embeddings through the KServe path
# (baseline: no tokenizer, budget or cache), as OpenAI embeddings that miss the cache (tokenize, reserve, encode,
# settle) and that hit it; chat that is sampled (20 characters decoded), streamed, and that hits the cache. wrk, 1 and 64
# connections. Usage: bash bench/openai.sh [seconds] > bench/out/openai.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-6}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build client-api -c Release -v q -nologo >/dev/null
export AIFLEET_KEY="bench-admin-key-0123456789abcdef"
port=5191
AIFLEET__AUTH__ADMINKEY="$AIFLEET_KEY" Logging__LogLevel__Default=Warning AiFleet__Embedded__SiloPort=21191 AiFleet__Embedded__GatewayPort=21192 \
  dotnet client-api/bin/Release/net10.0/Orleans.AiFleet.ClientApi.dll --urls "http://127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done
echo "Machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; wrk 1 thread, ${seconds} s per point after a 3 s warm-up."
echo
echo "| workload | connections | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
run() { # name script path connections
  wrk -t1 -c"$4" -d3s -s "bench/lua/$2" "http://127.0.0.1:$port$3" >/dev/null
  wrk -t1 -c"$4" -d"${seconds}s" --latency -s "bench/lua/$2" "http://127.0.0.1:$port$3" | awk -v name="$1" -v c="$4" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $5 }
    END { printf "| %s | %d | %.0f | %.2f | %.2f | %d |\n", name, c, rps, p50, p99, bad + 0 }'
}
for c in 1 64; do
  run "KServe infer, text-encoder (baseline)" kserve-encoder.lua /v2/models/text-encoder/infer "$c"
  run "embeddings, cache miss" embed-miss.lua /v1/embeddings "$c"
  run "embeddings, cache hit" embed-hit.lua /v1/embeddings "$c"
  run "chat, sampled, 20 characters" chat-miss.lua /v1/chat/completions "$c"
  run "chat, streamed, 20 characters" chat-stream.lua /v1/chat/completions "$c"
  run "chat, cache hit" chat-hit.lua /v1/chat/completions "$c"
done
echo
echo "Time to first token, chat-lm (20 characters, sampled), ${seconds} s per point after a 2 s warm-up:"
echo
dotnet run --project bench/Orleans.AiFleet.Bench -c Release -- ttft "http://127.0.0.1:$port" "$AIFLEET_KEY" "$seconds"
