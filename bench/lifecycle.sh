#!/usr/bin/env bash
# The model lifecycle benchmarks, each against client-api's embedded default on a copy of digits, over loopback HTTP:
#   bash bench/lifecycle.sh ab       # A/B of digits v1 against v2 with held-out feedback: requests until v2 is declared better
#   bash bench/lifecycle.sh canary   # canary of v1 with 20 % injected errors: seconds to rollback, share of requests failed
#   bash bench/lifecycle.sh drift    # a brightened input stream: requests until the PSI crosses the threshold
#   bash bench/lifecycle.sh split    # /v2 throughput with and without an active 50/50 split (wrk), alternating
# Extra arguments: --trials N (5), --seconds S (8, per split run), --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
dotnet build client-api -c Release -v q -nologo >/dev/null
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo >/dev/null
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" lifecycle "$@"
