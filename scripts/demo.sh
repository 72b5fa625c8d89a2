#!/usr/bin/env bash
# The README's main job: a synthetic bank-like customer base, then what an admin would look at.
# Usage: scripts/demo.sh [CUSTOMERS] (default 20000). Database: $CUSTDB_DB or /tmp/custdb-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
custdb=./build/bin/custdb
export CUSTDB_DB="${CUSTDB_DB:-/tmp/custdb-demo}"
rm -rf "$CUSTDB_DB"
run() { printf '\n$ custdb %s\n' "$*"; "$custdb" "$@"; }
run demo --customers "${1:-20000}" --seed 42
run stats
run get 42
run find --email c42@mail.example
run history 42
run related 1 --depth 2
run segment "tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01" --count
run segment "stage = at_risk and total_amount >= 500.00 and not consent_email = denied" --limit 5
run segment "related(household, tier = diamond) and tier != diamond" --explain
run report --by tier
run verify
