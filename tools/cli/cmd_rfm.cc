// custdb rfm [--as-of DATE] [--period day|week] [--kinds K,...] [--format csv|table|json]: the
// RFM summary of every customer with a counted purchase (custdb::rfm_summary on one read
// snapshot; docs/analytics.md has the definitions).
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "custdb/analytics.h"
#include "custdb/io.h"

namespace custdb::cli {

RfmOptions rfm_options_arg(const std::string& as_of, const std::string& period,
                           const std::vector<std::string>& kinds, bool debits_negative) {
  RfmOptions o;
  o.debits_negative = debits_negative;
  // Resolved here (rather than left to the library) so that the output can name the day.
  o.as_of = as_of_arg("--as-of", as_of);
  auto unit = time_unit_from_string(period);
  if (!unit) die_usage("--period: day or week, not '" + period + "'");
  o.unit = *unit;
  if (!kinds.empty()) {
    o.kinds.clear();
    for (const std::string& k : kinds) {
      auto kind = from_string<TransactionKind>(k);
      if (!kind)
        die_usage("--kinds: not a transaction kind: '" + k +
                  "' (deposit, withdrawal, purchase, payment, transfer, investment, loan)");
      bool seen = false;
      for (auto have : o.kinds) seen = seen || have == *kind;
      if (!seen) o.kinds.push_back(*kind);
    }
  }
  return o;
}


namespace {

// The mean repeat spend rounded half away from zero to the currency's minor unit ("22.35",
// "1000" for JPY), exactly: the library sums the repeat days in integer minor units and divides
// once, so frequency · monetary_value · 10^digits recovers that sum exactly (below 2^53, any
// realistic spend; beyond that to the double's precision, never wrapping), and the rounding is done on the integers rather than on the binary double (where 22.345 is
// 22.34499...).
std::string money_text(const RfmRow& r, std::string_view currency, int digits) {
  if (r.frequency == 0) return format_amount(0, currency);
  const long double scale = std::pow(10.0L, digits);
  const long double n = static_cast<long double>(r.frequency);
  // 128 bits: near the limits the repeat sum exceeds an int64 (llroundl would overflow).
  const auto sum = static_cast<AmountSum>(std::roundl(static_cast<long double>(r.monetary_value) * n * scale));
  const AmountSum count = static_cast<AmountSum>(r.frequency);
  const AmountSum magnitude = ((sum < 0 ? -sum : sum) * 2 + count) / (2 * count);
  return format_amount(sum < 0 ? -magnitude : magnitude, currency);
}

}  // namespace

Command add_rfm(CLI::App& app, Globals& g) {
  struct Opts {
    std::string as_of, period = "week", format;
    std::vector<std::string> kinds;
    bool debits_negative = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "rfm", "Per customer: frequency, recency, T, mean repeat spend and R/F/M quintile scores");
  sub->add_option("--as-of", o->as_of, "Transactions up to the end of this day count (default: today, UTC)");
  sub->add_option("--period", o->period, "Unit of recency and T: day or week (= 7 days)")
      ->capture_default_str();
  sub->add_option("--kinds", o->kinds, "Transaction kinds that count as purchases (default: purchase)")
      ->delimiter(',');
  sub->add_flag("--debits-negative", o->debits_negative,
                "The ledger stores purchases as negative amounts (refunds positive): negate "
                "every counted amount, so the biggest spenders get the highest M score");
  sub->add_option("--format", o->format, "csv, table or json (default: table, or json with --json)")
      ->check(CLI::IsMember({"csv", "table", "json"}));
  return {sub, [&g, o] {
            const RfmOptions opts =
                rfm_options_arg(o->as_of, o->period, o->kinds, o->debits_negative);
            const std::string format = !o->format.empty() ? o->format : g.json ? "json" : "table";
            Database db = open_database(g, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            const int digits = currency_digits(currency);
            std::vector<RfmRow> rows;
            {
              auto txn = must(db.begin_read());
              rows = must(rfm_summary(txn, opts));
            }
            if (format == "json") {
              Json arr = Json::array();
              for (const RfmRow& r : rows)
                arr.push(Json::object()
                             .set("id", r.id)
                             .set("frequency", r.frequency)
                             .set("recency", r.recency)
                             .set("T", r.T)
                             .set("monetary_value", r.monetary_value)
                             .set("r_score", static_cast<int>(r.r_score))
                             .set("f_score", static_cast<int>(r.f_score))
                             .set("m_score", static_cast<int>(r.m_score)));
              Json kinds = Json::array();
              for (auto k : opts.kinds) kinds.push(to_string(k));
              print_json(Json::object()
                             .set("as_of", format_date(*opts.as_of))
                             .set("period", to_string(opts.unit))
                             .set("kinds", std::move(kinds))
                             .set("debits_negative", opts.debits_negative)
                             .set("currency", currency)
                             .set("customers", rows.size())
                             .set("rows", std::move(arr)));
              return kExitOk;
            }
            if (format == "csv") {
              std::string out = "id,frequency,recency,T,monetary_value,r_score,f_score,m_score\n";
              for (const RfmRow& r : rows) {
                out += std::to_string(r.id) + ',' + std::to_string(r.frequency) + ',' +
                       decimal_text(r.recency, 6) + ',' + decimal_text(r.T, 6) + ',' +
                       money_text(r, currency, digits) + ',' + std::to_string(r.r_score) +
                       ',' + std::to_string(r.f_score) + ',' + std::to_string(r.m_score) + '\n';
              }
              std::fputs(out.c_str(), stdout);
              return kExitOk;
            }
            TextTable table({"id", "frequency", "recency", "T", "monetary_value", "r_score",
                             "f_score", "m_score"},
                            {0, 1, 2, 3, 4, 5, 6, 7});
            for (const RfmRow& r : rows)
              table.add({std::to_string(r.id), std::to_string(r.frequency),
                         decimal_text(r.recency, 6), decimal_text(r.T, 6),
                         money_text(r, currency, digits), std::to_string(r.r_score),
                         std::to_string(r.f_score), std::to_string(r.m_score)});
            table.print();
            std::printf("%zu customers as of %s; recency and T in %ss; monetary_value in %s "
                        "(purchases %s in the ledger)\n",
                        rows.size(), format_date(*opts.as_of).c_str(),
                        std::string(to_string(opts.unit)).c_str(), currency.c_str(),
                        opts.debits_negative ? "negative" : "positive");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
