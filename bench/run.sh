#!/usr/bin/env bash
# The benchmark, one command: builds Release and runs (a) raw ONNX Runtime, (b) a naive per-request server and
# (c) Orleans.AiFleet embedded side by side, with wrk as the HTTP load generator (installed if missing).
# Extra arguments go to the benchmark: --duration S, --warmup S, --raw-seconds S, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
dotnet build client-api -c Release -v q -nologo
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" "$@"
