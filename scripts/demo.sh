#!/usr/bin/env bash
# The README's main job: a synthetic bank-like customer base, then what an admin would look at.
# Usage: scripts/demo.sh [CUSTOMERS] (default 20000). Database: $CUSTDB_DB or /tmp/custdb-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
custdb=./build/bin/custdb
export CUSTDB_DB="${CUSTDB_DB:-/tmp/custdb-demo}"
rm -rf "$CUSTDB_DB"
run() { printf '\n$ custdb %s\n' "$*"; "$custdb" "$@"; }
# Two custom attributes declared before the data (`custdb demo` fills every declared customer
# attribute), both indexed for segments and reports.
run init
run schema add branch enum --values B017,B021,B042,B105 --indexed
run schema add loyalty_points integer --indexed
run demo --customers "${1:-20000}" --seed 42
run schema list
run stats
run get 42
run find --email c42@mail.example
run history 42
run related 1 --depth 2
run segment "tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01" --count
run segment "stage = at_risk and total_amount >= 500.00 and not consent_email = denied" --limit 5
run segment "related(household, tier = diamond) and tier != diamond" --explain
run report --by tier
# Custom attributes work like built-in ones: segments (double quotes too), reports, top-N.
run segment 'branch = "B017" and loyalty_points >= 1000 and tier >= gold' --count
run segment "branch = B017 and loyalty_points >= 1000" --explain
run report --by branch --measure loyalty_points
run segment "region = east" --top 3 --by loyalty_points
# Customer value: RFM, the CLV models fitted on the data up to a day, every customer scored,
# the scores in a segment, and rules that keep tiers and stages current as time passes.
printf '\n$ custdb rfm --as-of 2026-09-30 --format csv   (first rows of %s)\n' "$CUSTDB_DB.rfm.csv"
"$custdb" rfm --as-of 2026-09-30 --format csv > "$CUSTDB_DB.rfm.csv"
head -4 "$CUSTDB_DB.rfm.csv"
run clv fit --as-of 2026-09-30
run clv score --as-of 2026-10-31
run segment "clv > 100.00 and p_alive < 0.5" --count --as-of 2026-10-31
run segment "region = east" --top 5 --by clv
run report --by tier,region --measure clv
# Products held (format 6): one customer's holdings, the cross-sell segment a relationship
# manager asks for, AUM by tier, the largest holders, and a tier rule driven by AUM.
run holdings --customer 42
run segment "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage) and not holds(credit_card)" --count
run segment "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage) and not holds(credit_card)" --explain
run segment "holds(fund, balance >= 100000.00)" --count
run report --by tier --measure aum,liabilities,products
run segment "products >= 3" --top 3 --by aum
printf 'stage = churned when recency_days > 180\nstage = at_risk when recency_days > 60\ntier = platinum when aum >= 1000000.00\ntier = platinum when clv >= 500.00 and txn_count >= 8\n' > "$CUSTDB_DB.rules"
run rules set "$CUSTDB_DB.rules"
run rules apply --as-of 2026-10-31
# Change feed and a read replica (format 7): from here on every committed write is recorded
# in the feed; the replica starts as a backup and follows through a local NATS JetStream
# server (started here on a free port of 127.0.0.1, stopped at the end).
run feed enable --name demo
rm -rf "$CUSTDB_DB.replica" "$CUSTDB_DB.nats"
run backup "$CUSTDB_DB.replica"
nats_port=""
if command -v nats-server > /dev/null; then
  for p in $(seq 14222 14299); do
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then nats_port=$p; break; fi
  done
fi
if [ -n "$nats_port" ]; then
  nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$CUSTDB_DB.nats" > "$CUSTDB_DB.nats.log" 2>&1 &
  nats_pid=$!
  trap 'kill "$nats_pid" 2> /dev/null || true' EXIT
  for _ in $(seq 50); do (exec 3<> "/dev/tcp/127.0.0.1/$nats_port") 2> /dev/null && break; sleep 0.1; done
fi
# Privacy operations: consent by purpose, a consent-filtered export, subject access, erasure
# that cannot be undone, a retention policy tried dry first, and the audit trail of all of it.
run consent 7 profiling denied --source "call centre" --date 2026-10-01
run consent 7
run export customers --out "$CUSTDB_DB.marketing.csv" --segment "tier >= gold" --purpose email_marketing
run subject-export 42 --out "$CUSTDB_DB.subject-42.json"
run erase 43
run retention set "erase when recency_days > 3650 and not tag = legal_hold; anonymize when stage = churned and recency_days > 400"
run retention apply --dry-run
run retention apply
run audit --subject 42
run verify
if [ -n "$nats_port" ]; then
  # Ship what the feed holds, apply it to the replica, and compare: the replica answers as the
  # primary does, and the erasure of customer 43 reached it (and purged the stream).
  run feed ship --nats "nats://127.0.0.1:$nats_port" --stream DEMO --once
  run feed follow --nats "nats://127.0.0.1:$nats_port" --stream DEMO --feed demo --once --db "$CUSTDB_DB.replica"
  run feed status
  run feed status --db "$CUSTDB_DB.replica"
  run segment "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage)" --count
  run segment "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage)" --count --db "$CUSTDB_DB.replica"
  run get 43 --db "$CUSTDB_DB.replica" || true
  run verify --db "$CUSTDB_DB.replica"
else
  printf '\n(nats-server not found: the replica part of the demo is skipped; scripts/setup.sh installs it)\n'
fi
