#!/usr/bin/env bash
# What re-checking keys on open WebSockets costs: two embedded client-api processes, re-checking every second and
# every 60 s, measured in alternating windows over 64 sockets. Extra arguments: --windows N, --seconds S, --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build client-api -c Release -v q -nologo
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" sockets "$@"
