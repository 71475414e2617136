#!/usr/bin/env bash
# Budgets at three levels against one, same server, same run: KServe v2 (the text encoder, charged through the
# router's leased slices) and /v1/embeddings (a new sentence every request: a hold and a settle on the budget per
# request), 64 connections each (wrk, 1 thread), from a user outside any organization (one level) and from a student
# of a class of a school (user, team and organization budgets, each with a cap), in rounds, the order swapped every round (ROUNDS, default 4). Then the parents' call rate: calls the team and organization budgets took (aifleet_budget_parent_calls_total
# on /metrics) per request the student sent.
# Usage: bash bench/tenants.sh [seconds] > bench/out/tenants.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-6}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build client-api -c Release -v q -nologo >/dev/null
export AIFLEET_KEY="bench-admin-key-0123456789abcdef"
admin="$AIFLEET_KEY" port=5197 base="http://127.0.0.1:5197"
AIFLEET__AUTH__ADMINKEY="$admin" Logging__LogLevel__Default=Warning AiFleet__Embedded__SiloPort=21197 AiFleet__Embedded__GatewayPort=21198 \
  AiFleet__Grpc__Port=5198 dotnet client-api/bin/Release/net10.0/Orleans.AiFleet.ClientApi.dll --urls "$base" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.5; done
call() { curl -sf -X "$1" "$base$2" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
key() { sed -E 's/.*"key":"([^"]+)".*/\1/'; }
call POST /v1/admin/orgs '{"id":"bench-school","name":"Bench school"}' >/dev/null
call POST /v1/admin/orgs/bench-school/teams '{"id":"class-a","name":"Class A"}' >/dev/null
call PUT /v1/admin/orgs/bench-school/budget '{"monthly":1000000}' >/dev/null
call PUT /v1/admin/orgs/bench-school/teams/class-a/budget '{"monthly":100000}' >/dev/null
call PUT /v1/admin/orgs/bench-school/users/bench-student '{"role":"member","teams":["class-a"]}' >/dev/null
tenant="$(call POST /v1/admin/orgs/bench-school/users/bench-student/keys '{"name":"bench"}' | key)"
flat="$(call POST /v1/admin/keys '{"user":"bench-flat","role":"user"}' | key)"
parent_calls() { curl -sf "$base/metrics" | awk '/^aifleet_budget_parent_calls_total/ { n += $NF } END { printf "%d", n }'; }

echo "Machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC; ${seconds} s per point after a 3 s warm-up; wrk, 1 thread, 64 connections."
echo
echo "| route | budgets | round | req/s | p50 ms | p99 ms | non-2xx | parent calls | parent calls per request |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
run() { # route-script path levels key round
  export AIFLEET_SALT="$(tr -dc 'a-z' </dev/urandom | head -c 8)"
  AIFLEET_KEY="$4" wrk -t1 -c64 -d3s -s "bench/lua/$1.lua" "$base$2" >/dev/null
  export AIFLEET_SALT="$(tr -dc 'a-z' </dev/urandom | head -c 8)"
  local before after out
  before="$(parent_calls)"
  out="$(AIFLEET_KEY="$4" wrk -t1 -c64 -d"${seconds}s" --latency -s "bench/lua/$1.lua" "$base$2")"
  after="$(parent_calls)"
  echo "$out" | awk -v r="$1" -v l="$3" -v round="$5" -v calls="$((after - before))" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $5 } / requests in / { n = $1 }
    END { printf "| %s | %s | %d | %.0f | %.2f | %.2f | %d | %d | %.5f |\n", r, l, round, rps, p50, p99, bad + 0, calls, (n > 0 ? calls / n : 0) }'
}
for round in $(seq 1 "${ROUNDS:-4}"); do
  # The order alternates between rounds, so neither side always runs second.
  if [ $((round % 2)) = 1 ]; then first=("one (user)" "$flat") second=("three (user, class, school)" "$tenant")
  else first=("three (user, class, school)" "$tenant") second=("one (user)" "$flat"); fi
  for route in "kserve-encoder /v2/models/text-encoder/infer" "embed-miss /v1/embeddings"; do
    set -- $route
    run "$1" "$2" "${first[0]}" "${first[1]}" "$round"
    run "$1" "$2" "${second[0]}" "${second[1]}" "$round"
  done
done
for _ in $(seq 1 100); do # the slices go back up after 2 idle seconds
  call GET /v1/admin/orgs/bench-school/budget | grep -q '"openReservations":0' && break; sleep 0.2
done
echo
echo "Budgets after the run, once the slices were returned (spent this month, open holds):"
for path in users/bench-student/budget teams/class-a/budget budget; do
  echo "- $path: $(call GET "/v1/admin/orgs/bench-school/$path" | sed -E 's/.*"spentThisMonth":([^,]+),.*"openReservations":([0-9]+).*/$\1, \2 open/')"
done
