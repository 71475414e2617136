#!/usr/bin/env bash
# The cluster benchmarks, one command: autoscaler reaction (1 → 64 clients), one silo against two, and a kill -9
# of one of two silos under load, and course sagas in flight through a kill -9. Starts PostgreSQL and Redis with the
# project's scripts and the clusters with scripts/cluster.sh; wrk is installed if missing. Extra arguments:
# --duration S, --runs N, --scenarios autoscale,silos,kill,sagas (default: the first three), --sagas N, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build silo -c Release -v q -nologo
dotnet build client-api -c Release -v q -nologo
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo
bash scripts/postgres.sh start >/dev/null
bash scripts/redis.sh start >/dev/null
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" cluster "$@"
