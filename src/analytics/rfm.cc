// RFM summaries from the transaction table (custdb/analytics.h, docs/analytics.md).
//
// One pass over idx.txn_by_customer: each customer's transactions are one run of duplicates
// under one key, so a customer is summarised from its own handful of records and memory does
// not grow with the number of transactions. The pass must see every transaction exactly once:
// the entries walked are checked against the index's recorded entry count and the
// transaction table's (a torn file or a lost entry), and each run against repeats (a
// duplicated entry), so a damaged file is kCorruption rather than a summary of part of it.
#include <lmdb.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analytics/analytics_internal.h"
#include "custdb/io.h"
#include "engine/db_impl.h"

namespace custdb {
namespace analytics {
namespace {

using detail::Access;
using detail::DatabaseImpl;
using detail::TxnState;

// Quintile score of each value: 1 + floor(5 · rank / n), where rank is the 0-based position of
// the first value equal to it in ascending order, so ties share a score.
std::vector<std::uint8_t> quintiles(const std::vector<double>& values) {
  const std::size_t n = values.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<std::uint8_t> score(n);
  std::size_t tie_start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && values[order[i]] != values[order[i - 1]]) tie_start = i;
    score[order[i]] = static_cast<std::uint8_t>(1 + (5 * tie_start) / n);
  }
  return score;
}

}  // namespace

Status validate(const RfmOptions& o) {
  if (o.kinds.empty())
    return make_error(ErrorCode::kInvalidArgument, "kinds: at least one transaction kind");
  if (o.unit != TimeUnit::kDay && o.unit != TimeUnit::kWeek)
    return make_error(ErrorCode::kInvalidArgument, "unit: day or week");
  return {};
}

double unit_days(TimeUnit u) { return u == TimeUnit::kWeek ? 7.0 : 1.0; }

std::optional<RfmRow> summarise(CustomerId id, std::vector<std::pair<std::int64_t, AmountSum>>& days,
                                Date as_of, TimeUnit unit, int currency_digits) {
  if (days.empty()) return std::nullopt;
  std::sort(days.begin(), days.end());
  // Same-day purchases are one purchase: merge, summing values.
  std::size_t n = 0;
  for (std::size_t i = 0; i < days.size(); ++i) {
    if (n > 0 && days[n - 1].first == days[i].first) days[n - 1].second += days[i].second;
    else days[n++] = days[i];
  }
  days.resize(n);
  const double per = unit_days(unit);
  RfmRow row;
  row.id = id;
  row.frequency = n - 1;
  row.recency = static_cast<double>(days.back().first - days.front().first) / per;
  row.T = static_cast<double>(as_of.time_since_epoch().count() - days.front().first) / per;
  if (n > 1) {
    // Repeat days only; summed in integers (minor units) so the mean is exact to one rounding.
    AmountSum repeat = 0;
    for (std::size_t i = 1; i < n; ++i) repeat += days[i].second;
    row.monetary_value = static_cast<double>(static_cast<long double>(repeat) /
                                             static_cast<long double>(n - 1) /
                                             std::pow(10.0L, currency_digits));
  }
  return row;
}

void assign_scores(std::vector<RfmRow>& rows) {
  std::vector<double> since_last(rows.size()), freq(rows.size()), money(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    since_last[i] = -(rows[i].T - rows[i].recency);  // fewer days since the last purchase is better
    freq[i] = static_cast<double>(rows[i].frequency);
    money[i] = rows[i].monetary_value;
  }
  auto r = quintiles(since_last), f = quintiles(freq), m = quintiles(money);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].r_score = r[i];
    rows[i].f_score = f[i];
    rows[i].m_score = m[i];
  }
}

Result<std::vector<RfmRow>> summarise_view(const ReadView& view, const RfmOptions& options) {
  if (auto s = validate(options); !s) return tl::unexpected(s.error());
  TxnState* st = Access::state(view);
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  const DatabaseImpl& db = Access::impl(view);
  const Date as_of = options.as_of.value_or(detail::today_utc());
  // Transactions before the end of the as-of day count.
  const Timestamp end = std::chrono::time_point_cast<std::chrono::milliseconds>(as_of + std::chrono::days{1});
  bool counted_kind[256] = {};
  for (auto k : options.kinds) counted_kind[static_cast<std::uint8_t>(k)] = true;
  const int digits = io::currency_digits(db.base_currency);

  std::vector<RfmRow> rows;
  // (day, base amount) of one customer; a day's sum is exact (AmountSum), as the counted
  // kinds' amounts may sum beyond an int64 where the customer's whole total does not.
  std::vector<std::pair<std::int64_t, AmountSum>> days;
  storage::Cursor cur(st->txn.get(),
                      db.dbi_index[static_cast<std::size_t>(index::IndexId::kTxnByCustomer)]);
  if (cur.open_rc()) return tl::unexpected(storage::lmdb_error(cur.open_rc(), "cursor"));
  const storage::Table index_dbi = db.dbi_index[static_cast<std::size_t>(index::IndexId::kTxnByCustomer)];
  auto index_entries = storage::entry_count(st->txn.get(), index_dbi, "idx.txn_by_customer");
  if (!index_entries) return tl::unexpected(index_entries.error());
  auto table_entries = storage::entry_count(st->txn.get(), db.dbi_transactions, "transactions");
  if (!table_entries) return tl::unexpected(table_entries.error());
  std::uint64_t walked = 0;
  std::vector<TransactionId> run;  // one customer's transaction ids, to find repeats
  MDB_val k, v;
  int rc = cur.get(k, v, MDB_FIRST);
  std::string prev_key;
  while (rc == 0) {
    // Keys ascend strictly in an intact tree; a stale page (torn copy) breaks the order.
    if (walked > 0 && !(std::string_view(prev_key) < storage::to_view(k)))
      return make_error(ErrorCode::kCorruption,
                        "idx.txn_by_customer: keys out of order (damaged or torn file)");
    prev_key.assign(storage::to_view(k));
    // One key: one customer's transactions.
    days.clear();
    run.clear();
    CustomerId customer = 0;
    for (; rc == 0; rc = cur.get(k, v, MDB_NEXT_DUP)) {
      ++walked;
      run.push_back(index::IndexKeys::owner_id(storage::to_view(v)));
      auto t = db.load_transaction(*st, run.back());
      if (!t) return tl::unexpected(t.error());
      if (!*t || (customer != 0 && (*t)->customer_id != customer))
        return make_error(ErrorCode::kCorruption, "idx.txn_by_customer names a wrong transaction");
      customer = (*t)->customer_id;
      const Transaction& txn = **t;
      if (!counted_kind[static_cast<std::uint8_t>(txn.kind)] || txn.ts >= end) continue;
      days.emplace_back(std::chrono::floor<std::chrono::days>(txn.ts).time_since_epoch().count(),
                        txn.base_amount.value_or(txn.amount));
    }
    if (rc != MDB_NOTFOUND) break;
    std::sort(run.begin(), run.end());
    if (std::adjacent_find(run.begin(), run.end()) != run.end())
      return make_error(ErrorCode::kCorruption,
                        "idx.txn_by_customer names a transaction of customer " +
                            std::to_string(customer) + " twice");
    if (auto row = summarise(customer, days, as_of, options.unit, digits)) rows.push_back(*row);
    rc = cur.get(k, v, MDB_NEXT_NODUP);
  }
  if (rc != MDB_NOTFOUND) return tl::unexpected(storage::lmdb_error(rc, "rfm"));
  if (auto s = storage::check_walked("idx.txn_by_customer", walked, *index_entries); !s)
    return tl::unexpected(s.error());
  if (*index_entries != *table_entries)
    return make_error(ErrorCode::kCorruption,
                      "idx.txn_by_customer records " + std::to_string(*index_entries) +
                          " entries where the transactions table records " +
                          std::to_string(*table_entries));
  std::sort(rows.begin(), rows.end(), [](const RfmRow& a, const RfmRow& b) { return a.id < b.id; });
  assign_scores(rows);
  return rows;
}

}  // namespace analytics

std::string_view to_string(TimeUnit u) { return u == TimeUnit::kDay ? "day" : "week"; }

std::optional<TimeUnit> time_unit_from_string(std::string_view s) {
  if (s == "day" || s == "days") return TimeUnit::kDay;
  if (s == "week" || s == "weeks") return TimeUnit::kWeek;
  return std::nullopt;
}

Result<std::vector<RfmRow>> rfm_summary(const ReadView& view, const RfmOptions& options) {
  return analytics::summarise_view(view, options);
}

}  // namespace custdb
