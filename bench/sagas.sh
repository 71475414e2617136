#!/usr/bin/env bash
# What a course saga's persistence costs: the same sagas on in-memory state and on Redis state (started with the
# project's script), side by side, in one silo hosted by the bench process. Extra arguments: --count N, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo >/dev/null
redis="$(bash scripts/redis.sh start)"
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" sagas --redis "$redis" "$@"
