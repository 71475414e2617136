#!/usr/bin/env bash
# The budget benchmark: UserBudget Reserve+Settle latency and throughput in process, beside a plain grain call, and
# the 1,000-against-100 exactness run; on in-memory state, then on Redis (started with the project's script).
# Extra arguments: --duration S, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo
redis="$(bash scripts/redis.sh start)"
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" budget --redis "$redis" "$@"
