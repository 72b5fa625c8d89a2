#!/usr/bin/env bash
# Converts a CDNOW purchase file into the two CSV files `custdb import` takes (docs/analytics.md).
#
#   scripts/cdnow_to_csv.sh CDNOW_FILE OUT_DIR
#
# CDNOW_FILE: ../shared/datasets/cdnow/CDNOW_master.txt (whitespace-separated
# `customer_id yyyymmdd cds dollar_value`, a header line first, CRLF line ends) or
# CDNOW_sample.txt (`master_id sample_id yyyymmdd cds dollar_value`). Lines whose first field is
# not a number (the header) are skipped; the layout is told by the number of fields (4 or 5).
#
# Writes OUT_DIR/customers.csv and OUT_DIR/transactions.csv:
#   customers.csv     id,external_ref,name,created_at
#                     one customer per CDNOW id: id = the CDNOW id as a number (transactions
#                     refer to customers by id), external_ref = the id as written ("00001";
#                     for the sample file, the master id), name "CDNOW customer <id>",
#                     created_at = the day of the customer's first purchase
#   transactions.csv  customer_id,ts,amount,currency,kind,channel,product
#                     one row per line: ts = the date (midnight UTC), amount = the dollar value
#                     (USD, 2 decimals), kind purchase, channel web, product "<cds> CD(s)"
# For the sample file the customer id is the sample id (1..2357), which matches the sample
# ids of the published summaries (tests/fixtures/cdnow/cdnow_summary_1997-09-30.csv).
#
# Then, e.g.:
#   custdb init --db /tmp/cdnow --currency USD
#   custdb import customers OUT_DIR/customers.csv --db /tmp/cdnow
#   custdb import transactions OUT_DIR/transactions.csv --db /tmp/cdnow
#   custdb rfm --as-of 1997-09-30 --format csv --db /tmp/cdnow
#   custdb clv fit --as-of 1997-09-30 --db /tmp/cdnow
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 CDNOW_FILE OUT_DIR" >&2
  exit 2
fi
in=$1
out=$2
[[ -r $in ]] || { echo "$0: cannot read $in" >&2; exit 1; }
mkdir -p "$out"

LC_ALL=C awk -v customers="$out/customers.csv" -v transactions="$out/transactions.csv" '
  function fail(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; bad = 1; exit 1 }
  BEGIN {
    print "customer_id,ts,amount,currency,kind,channel,product" > transactions
    n = 0
  }
  { sub(/\r$/, "") }
  NF == 0 { next }
  $1 !~ /^[0-9]+$/ { next }  # the header line
  {
    if (NF == 4) { ref = $1; id = $1 + 0; date = $2; cds = $3; value = $4 }
    else if (NF == 5) { ref = $1; id = $2 + 0; date = $3; cds = $4; value = $5 }
    else fail("expected 4 (master) or 5 (sample) fields, found " NF)
    if (id <= 0) fail("customer id: not a positive number: " $1)
    if (date !~ /^[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]$/) fail("date: not yyyymmdd: " date)
    if (cds !~ /^[0-9]+$/) fail("cds: not a count: " cds)
    if (value !~ /^[0-9]+(\.[0-9]+)?$/) fail("dollar value: not an amount: " value)
    ts = substr(date, 1, 4) "-" substr(date, 5, 2) "-" substr(date, 7, 2)
    # Exact to the cent: integer cents from the decimal text, never through a float product.
    split(value, part, ".")
    cents = part[2] ""
    if (length(cents) > 2) fail("dollar value: more than 2 decimals: " value)
    while (length(cents) < 2) cents = cents "0"
    dollars = part[1] + 0
    amount = dollars "." cents
    print id "," ts "," amount ",USD,purchase,web," cds " CD" (cds == 1 ? "" : "s") > transactions
    ++purchases
    if (!(id in first)) { first[id] = ts; refs[id] = ref; order[++n] = id }
    else if (ts < first[id]) first[id] = ts
  }
  END {
    if (bad) exit 1
    print "id,external_ref,name,created_at" > customers
    # Ids ascending: the files are sorted by customer already, but do not rely on it.
    m = 0
    for (i = 1; i <= n; ++i) sorted[++m] = order[i] + 0
    # Insertion sort is quadratic; the ids arrive nearly sorted, so it is linear in practice.
    for (i = 2; i <= m; ++i) {
      v = sorted[i]; j = i - 1
      while (j >= 1 && sorted[j] > v) { sorted[j + 1] = sorted[j]; --j }
      sorted[j + 1] = v
    }
    for (i = 1; i <= m; ++i) {
      id = sorted[i]
      print id "," refs[id] ",CDNOW customer " id "," first[id] > customers
    }
    printf "%d customers, %d purchases -> %s, %s\n", m, purchases, customers, transactions > "/dev/stderr"
  }
' "$in"
