#!/usr/bin/env bash
# The cost-aware routing benchmark: a seeded mixed workload of chat requests sent as "auto" and, side by side in the
# same run, to the premium model for every request; spend read back from the ledger. The remote tiers are a loopback
# fake provider; chat-lm decodes for real. Extra arguments: --requests N (10000), --seed S (42), --concurrency C (32),
# --out FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build client-api -c Release -v q -nologo >/dev/null
dotnet build bench/Orleans.AiFleet.Bench -c Release -v q -nologo >/dev/null
mkdir -p bench/out
dotnet "$(find bench/Orleans.AiFleet.Bench/bin/Release -name Orleans.AiFleet.Bench.dll | head -1)" routing "$@"
