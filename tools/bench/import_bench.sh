#!/usr/bin/env bash
# CLI bulk import against the sqlite3 shell (issue #14, point 5).
#
# Generates N synthetic customers and their transactions once (`custdb demo`, then
# `custdb export --reveal` as CSV: exactly the columns `custdb import` takes), then per run:
#   custdb   `custdb init` + `custdb import customers C.csv` + `custdb import transactions T.csv`
#            (the CLI's defaults: durable commits, all or nothing, page check at open);
#   sqlite3  the sqlite3 shell, WAL, synchronous = FULL, a 1 GiB page cache and in-memory
#            temporary storage, the schema and indexes of tools/bench (sql_engine.cc: 21
#            customer indexes, tags, transactions by (customer_id, ts)); each file `.import`ed
#            into a staging table, then one INSERT ... SELECT into the table (tags split into
#            customer_tags, amounts to minor units) and, for transactions, the per-customer
#            aggregates custdb keeps (txn_count, total_amount, first/last_txn_at) set by one
#            UPDATE ... FROM (GROUP BY customer_id); each file in one transaction, like custdb's
#            all-or-nothing import.
# Both sides are timed the same way (wall-clock and CPU time of each command); runs alternate
# the engine that goes first. Prints the median of each step and the ratio sqlite3 / custdb
# (above 1: custdb is faster), then checks that both hold the same customers, transactions
# and totals. docs/performance.md has the figures.
#
# Usage: tools/bench/import_bench.sh [--customers N] [--txns T] [--runs R] [--custdb BIN]
#                                    [--dir DIR] [--keep] [--only custdb|sqlite3]
#   --txns T   transactions per customer (default: the demo's 5 to 10, about 7.5 on average)
#   --dir DIR  work directory (default $TMPDIR/custdb-import-bench); the generated CSV files
#              stay there (data-N[-T]/) for the next run, the databases are removed unless --keep
# Needs: the custdb CLI (build/bin/custdb), sqlite3 (Debian package `sqlite3`), awk.
set -euo pipefail

customers=100000
txns=0
runs=3
custdb=""
dir="${TMPDIR:-/tmp}/custdb-import-bench"
keep=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --txns) txns="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --custdb) custdb="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")/../.." && pwd)"
[ -n "$custdb" ] || custdb="$here/build/bin/custdb"
[ -x "$custdb" ] || { echo "no custdb CLI at $custdb (build the custdb_cli target)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install sqlite3" >&2; exit 1; }
export CUSTDB_SKIP_PAGE_CHECK=""  # the CLI's default (page check at open) is what is timed
unset CUSTDB_PASSPHRASE CUSTDB_DB

data="$dir/data-$customers"
[ "$txns" -eq 0 ] || data="$data-$txns"
ccsv="$data/customers.csv"
tcsv="$data/transactions.csv"
mkdir -p "$data"
if [ ! -s "$tcsv" ]; then
  echo "generating $customers customers (custdb demo, export) in $data" >&2
  rm -rf "$data/src"
  "$custdb" --db "$data/src" init --currency USD >/dev/null
  "$custdb" --db "$data/src" demo --customers "$customers" --txns-per-customer "$txns" >/dev/null
  "$custdb" --db "$data/src" --reveal export customers --format csv --out "$ccsv.tmp"
  "$custdb" --db "$data/src" export transactions --format csv --out "$tcsv.tmp"
  mv "$ccsv.tmp" "$ccsv"
  mv "$tcsv.tmp" "$tcsv"
  rm -rf "$data/src"
fi
ncust=$(($(wc -l <"$ccsv") - 1))
ntxn=$(($(wc -l <"$tcsv") - 1))

# Seconds of each step, one line per run: "init customers transactions" of wall-clock time in
# times.ENGINE, of CPU time (user + system, the engine's processes) in cpu.ENGINE. The machine
# may be shared: CPU time shows the work done whatever the contention, wall time includes the
# waits for the disk (fsync) that durability costs.
for e in custdb sqlite3; do : >"$dir/times.$e"; : >"$dir/cpu.$e"; done
log="$dir/step.log"

# step ENGINE COMMAND...: runs one step, appending its wall and CPU seconds to the run's line.
step() {
  local engine="$1"; shift
  local TIMEFORMAT='%R %U %S' t
  if ! t=$( { time "$@" >"$log" 2>&1; } 2>&1 ); then
    echo "failed: $*" >&2; cat "$log" >&2; exit 1
  fi
  read -r real user sys <<<"$t"
  printf '%s ' "$real" >>"$dir/times.$engine"
  awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f ", u + s }' >>"$dir/cpu.$engine"
}
end_run() { echo >>"$dir/times.$1"; echo >>"$dir/cpu.$1"; }

run_custdb() {
  local db="$dir/custdb.db"
  rm -rf "$db"
  step custdb "$custdb" --db "$db" init --currency USD
  step custdb "$custdb" --db "$db" import customers "$ccsv"
  step custdb "$custdb" --db "$db" import transactions "$tcsv"
  end_run custdb
}

# The header of a CSV file as SQL column names of a staging table.
columns_of() { head -1 "$1" | tr -d '\r'; }

sqlite_schema() {
  cat <<'SQL'
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE customers (id INTEGER PRIMARY KEY, external_ref TEXT, type TEXT, name TEXT,
  email TEXT, phone TEXT, birth_date TEXT, gender TEXT, city TEXT, region TEXT, country TEXT,
  tier TEXT, stage TEXT, income_band INT, risk TEXT, consent_email TEXT, consent_email_date TEXT,
  consent_sms TEXT, consent_sms_date TEXT, consent_phone TEXT, consent_phone_date TEXT,
  created_at TEXT, updated_at TEXT, txn_count INT DEFAULT 0, total_amount INT DEFAULT 0,
  first_txn_at TEXT, last_txn_at TEXT);
CREATE TABLE customer_tags (customer_id INT, tag TEXT, PRIMARY KEY (customer_id, tag)) WITHOUT ROWID;
CREATE TABLE transactions (id INTEGER PRIMARY KEY, customer_id INT, ts TEXT, amount INT,
  currency TEXT, base_amount INT, kind TEXT, channel TEXT, product TEXT, description TEXT);
SQL
  for c in external_ref email phone type tier stage region city country gender income_band risk \
           birth_date created_at consent_email consent_sms consent_phone txn_count total_amount \
           first_txn_at last_txn_at; do
    echo "CREATE INDEX customers_$c ON customers($c);"
  done
  echo "CREATE INDEX tags_tag ON customer_tags(tag, customer_id);"
  echo "CREATE INDEX txn_customer ON transactions(customer_id, ts);"
}

# Amount text ("12.34", "-5") to minor units of a 2-decimal currency, as custdb stores it.
minor() { echo "CAST(round($1 * 100) AS INTEGER)"; }

# Every sqlite3 step: durable commits, and the page cache and temporary storage the bench's
# SQLite engine gets (tools/bench: a large cache), so the indexes are built in memory.
sqlite_pragmas() {
  echo "PRAGMA synchronous = FULL; PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY;"
}

sqlite_customers() {
  sqlite_pragmas
  cat <<SQL
BEGIN;
CREATE TEMP TABLE stage_c ($(columns_of "$ccsv"));
.import --csv --skip 1 $ccsv stage_c
INSERT INTO customers (id, external_ref, type, name, email, phone, birth_date, gender, city,
  region, country, tier, stage, income_band, risk, consent_email, consent_email_date,
  consent_sms, consent_sms_date, consent_phone, consent_phone_date, created_at, updated_at)
SELECT CAST(id AS INTEGER), nullif(external_ref, ''), type, name, nullif(email, ''),
  nullif(phone, ''), nullif(birth_date, ''), gender, city, region, country, tier, stage,
  CAST(nullif(income_band, '') AS INTEGER), risk, consent_email, nullif(consent_email_date, ''),
  consent_sms, nullif(consent_sms_date, ''), consent_phone, nullif(consent_phone_date, ''),
  created_at, updated_at
FROM stage_c;
INSERT INTO customer_tags
SELECT DISTINCT CAST(s.id AS INTEGER), j.value FROM stage_c s,
  json_each('["' || replace(s.tags, '|', '","') || '"]') j WHERE s.tags <> '';
DROP TABLE stage_c;
COMMIT;
SQL
}

sqlite_transactions() {
  sqlite_pragmas
  cat <<SQL
BEGIN;
CREATE TEMP TABLE stage_t ($(columns_of "$tcsv"));
.import --csv --skip 1 $tcsv stage_t
INSERT INTO transactions (id, customer_id, ts, amount, currency, base_amount, kind, channel,
  product, description)
SELECT CAST(id AS INTEGER), CAST(customer_id AS INTEGER), ts, $(minor amount), currency,
  $(minor "coalesce(nullif(base_amount, ''), amount)"), kind, channel, product, description
FROM stage_t;
UPDATE customers SET txn_count = txn_count + a.n, total_amount = total_amount + a.total,
  first_txn_at = CASE WHEN first_txn_at IS NULL OR a.first < first_txn_at THEN a.first ELSE first_txn_at END,
  last_txn_at = CASE WHEN last_txn_at IS NULL OR a.last > last_txn_at THEN a.last ELSE last_txn_at END
FROM (SELECT CAST(customer_id AS INTEGER) AS cid, count(*) AS n,
        sum($(minor "coalesce(nullif(base_amount, ''), amount)")) AS total,
        min(ts) AS first, max(ts) AS last
      FROM stage_t GROUP BY 1) AS a
WHERE customers.id = a.cid;
DROP TABLE stage_t;
COMMIT;
SQL
}

sqlite_step() { "$1" | sqlite3 -bail "$2"; }

run_sqlite() {
  local db="$dir/sqlite3.db"
  rm -f "$db" "$db-wal" "$db-shm"
  step sqlite3 sqlite_step sqlite_schema "$db"
  step sqlite3 sqlite_step sqlite_customers "$db"
  step sqlite3 sqlite_step sqlite_transactions "$db"
  end_run sqlite3
}

echo "import bench: $ncust customers, $ntxn transactions, $runs runs; custdb $custdb;" \
     "$(sqlite3 --version | cut -d' ' -f1-2 | sed 's/^/sqlite3 /')" >&2
for ((r = 1; r <= runs; r++)); do
  if [ $((r % 2)) -eq 1 ]; then order="custdb sqlite3"; else order="sqlite3 custdb"; fi
  for e in $order; do
    [ -n "$only" ] && [ "$only" != "$e" ] && continue
    echo "run $r: $e" >&2
    if [ "$e" = custdb ]; then run_custdb; else run_sqlite; fi
  done
done

# Median of column $2 (1-based; 0: the sum of the three) of file $1; "-" when empty.
median() {
  awk -v c="$2" '{ print (c == 0 ? $1 + $2 + $3 : $c) }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "-"; exit }
      if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f×", a / b }'; }

table() {  # table KIND FILE-PREFIX
  echo
  echo "| $1 ($ncust customers, $ntxn transactions; median of $runs) | custdb CLI | sqlite3 shell | sqlite3 / custdb |"
  echo "|---|---|---|---|"
  local names=("init / schema" "customers" "transactions" "total") cols=(1 2 3 0) i a b
  for i in 0 1 2 3; do
    a=$(median "$dir/$2.custdb" "${cols[$i]}")
    b=$(median "$dir/$2.sqlite3" "${cols[$i]}")
    echo "| ${names[$i]} | $a | $b | $(ratio "$b" "$a") |"
  done
}
table "wall-clock seconds" times
table "CPU seconds (user + system)" cpu
echo
for e in custdb sqlite3; do
  echo "$e runs, wall (init customers transactions): $(tr '\n' ';' <"$dir/times.$e")"
  echo "$e runs, CPU  (init customers transactions): $(tr '\n' ';' <"$dir/cpu.$e")"
done

# Same data on both sides: counts, and every customer's total and transaction count summed
# (custdb: the "(all)" row of `custdb report`; sqlite3: the aggregates its UPDATE set).
if [ -z "$only" ]; then
  echo
  echo "check custdb:  $("$custdb" --db "$dir/custdb.db" --json stats | tr -d ' \n' |
    grep -o '"customers":[0-9]*,"relationships":[0-9]*,"transactions":[0-9]*')"
  echo "check custdb:  $("$custdb" --db "$dir/custdb.db" report --by tier | grep '(all)' | tr -s ' ')"
  echo "check sqlite3: customers|transactions|sum(total_amount)/100|sum(txn_count) = $(sqlite3 "$dir/sqlite3.db" \
    "SELECT count(*), (SELECT count(*) FROM transactions), printf('%.2f', sum(total_amount) / 100.0),
            sum(txn_count) FROM customers;")"
fi
[ "$keep" -eq 1 ] || rm -rf "$dir/custdb.db" "$dir/sqlite3.db" "$dir/sqlite3.db-wal" "$dir/sqlite3.db-shm"
