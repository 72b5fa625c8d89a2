// RFM summaries from the transaction table (custdb/analytics.h, docs/analytics.md).
//
// One pass over the customers' transactions (analytics_access::for_each_customer_transactions,
// which hands over one customer's transactions at a time and proves the pass saw every
// transaction exactly once), so a customer is summarised from its own handful of records and
// memory does not grow with the number of transactions; a damaged file is kCorruption rather
// than a summary of part of it.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "analytics/analytics_internal.h"
#include "custdb/money.h"
#include "engine/analytics_access.h"

namespace custdb {
namespace analytics {
namespace {

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

Result<std::vector<RfmRow>> summarise_view(const ReadView& view, const RfmOptions& options,
                                           std::uint64_t* excluded) {
  if (auto s = validate(options); !s) return tl::unexpected(s.error());
  // Refused profiling: never summarised, so never in a fit, a score or an RFM ranking.
  auto denied = analytics_access::profiling_denied(view);
  if (!denied) return tl::unexpected(denied.error());
  std::uint64_t left_out = 0;
  const Date as_of = options.as_of.value_or(analytics_access::today_utc());
  // Transactions before the end of the as-of day count.
  const Timestamp end =
      std::chrono::time_point_cast<std::chrono::milliseconds>(as_of + std::chrono::days{1});
  bool counted_kind[256] = {};
  for (auto k : options.kinds) counted_kind[static_cast<std::uint8_t>(k)] = true;
  const int digits = currency_digits(analytics_access::base_currency(view));

  std::vector<RfmRow> rows;
  // (day, base amount) of one customer; a day's sum is exact (AmountSum), as the counted
  // kinds' amounts may sum beyond an int64 where the customer's whole total does not.
  std::vector<std::pair<std::int64_t, AmountSum>> days;
  auto scanned = analytics_access::for_each_customer_transactions(
      view, [&](CustomerId customer, std::span<const Transaction> transactions) {
        days.clear();
        for (const Transaction& txn : transactions) {
          if (!counted_kind[static_cast<std::uint8_t>(txn.kind)] || txn.ts >= end) continue;
          const auto day = std::chrono::floor<std::chrono::days>(txn.ts).time_since_epoch();
          // Sign convention: purchases positive in the summary (refunds negative), whichever
          // way the ledger books them.
          const AmountSum amount = txn.base_amount.value_or(txn.amount);
          days.emplace_back(day.count(), options.debits_negative ? -amount : amount);
        }
        auto row = summarise(customer, days, as_of, options.unit, digits);
        if (!row) return;
        if (std::binary_search(denied->begin(), denied->end(), customer)) {
          ++left_out;
          return;
        }
        rows.push_back(*row);
      });
  if (!scanned) return tl::unexpected(scanned.error());
  if (excluded) *excluded = left_out;
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
