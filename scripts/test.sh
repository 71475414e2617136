#!/usr/bin/env bash
# Runs every test of the solution. Installs and starts whatever the tests need first: a throwaway PostgreSQL for
# cluster membership (scripts/postgres.sh; Debian 12 ships the server binaries), Redis for grain state
# (scripts/redis.sh; installs Debian's redis-server if missing), an OpenID provider (scripts/oidc.sh: npm's
# oidc-provider under Node), Debian's chromium for the browser tests, Debian's
# promtool for the metrics lint, and the OpenAI JavaScript SDK (npm ci in tests/js).
# Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet --version >/dev/null
results="$(pwd)/.artifacts/test-results"
rm -rf "$results"
bash scripts/postgres.sh start >/dev/null
bash scripts/redis.sh start >/dev/null
trap 'bash scripts/postgres.sh stop; bash scripts/redis.sh stop; bash scripts/oidc.sh stop' EXIT
# Headless Chromium for the browser tests (Debian's package; Playwright drives it by path, nothing is downloaded).
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
# A real OpenID provider (npm's oidc-provider under Node, tests/oidc) issuing the platform's tokens.
bash scripts/oidc.sh start >/dev/null
# promtool (Debian's prometheus package; apt does not start the server) lints the /metrics the tests scrape.
command -v promtool >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }
# The OpenAI JavaScript SDK for the JS SDK test (Node and npm ship with the machine; versions pinned by the lock file).
(cd tests/js && npm ci --no-audit --no-fund --silent)
dotnet build Orleans.AiFleet.sln -c Release
status=0
dotnet test Orleans.AiFleet.sln -c Release --no-build --results-directory "$results" --logger trx "$@" || status=$?
passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  passed=$((passed + $(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")))
  failed=$((failed + $(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")))
done
echo "Tests: ${passed} passed, ${failed} failed"
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
