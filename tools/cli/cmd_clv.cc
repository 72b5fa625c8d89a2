// custdb clv fit | show | score: the BG/NBD and Gamma-Gamma customer-lifetime-value models
// (custdb/analytics.h, docs/analytics.md).
//   fit   [--as-of DATE] [--period day|week] [--kinds K,...]  fit_clv on one snapshot, store_model
//   show                                                       the stored model
//   score [--as-of DATE] [--horizon N] [--discount RATE] [--batch N]   score_customers
#include <chrono>
#include <cstdio>

#include "common.h"
#include "custdb/analytics.h"

namespace custdb::cli {


namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string number(double v, const char* format = "%.6g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string kinds_text(const std::vector<TransactionKind>& kinds) {
  std::vector<std::string> names;
  for (auto k : kinds) names.emplace_back(to_string(k));
  return join(names, ",");
}

std::string hash_text(std::uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Json model_json(const ClvModel& m) {
  Json kinds = Json::array();
  for (auto k : m.kinds) kinds.push(to_string(k));
  return Json::object()
      .set("as_of", format_date(m.as_of))
      .set("unit", to_string(m.unit))
      .set("kinds", std::move(kinds))
      .set("customers", m.customers)
      .set("repeat_customers", m.repeat_customers)
      .set("summary_hash", hash_text(m.summary_hash))
      .set("fitted_at", format_timestamp(m.fitted_at))
      .set("bgnbd", Json::object()
                        .set("r", m.bgnbd.r)
                        .set("alpha", m.bgnbd.alpha)
                        .set("a", m.bgnbd.a)
                        .set("b", m.bgnbd.b)
                        .set("log_likelihood", m.bgnbd_log_likelihood))
      .set("gamma_gamma", Json::object()
                              .set("p", m.gamma_gamma.p)
                              .set("q", m.gamma_gamma.q)
                              .set("gamma", m.gamma_gamma.gamma)
                              .set("log_likelihood", m.gamma_gamma_log_likelihood));
}

void print_model(const ClvModel& m) {
  print_pairs({
      {"as_of", format_date(m.as_of)},
      {"unit", std::string(to_string(m.unit))},
      {"kinds", kinds_text(m.kinds)},
      {"customers", std::to_string(m.customers)},
      {"repeat_customers", std::to_string(m.repeat_customers)},
      {"summary_hash", hash_text(m.summary_hash)},
      {"fitted_at", format_timestamp(m.fitted_at)},
      {"BG/NBD r", number(m.bgnbd.r)},
      {"BG/NBD alpha", number(m.bgnbd.alpha)},
      {"BG/NBD a", number(m.bgnbd.a)},
      {"BG/NBD b", number(m.bgnbd.b)},
      {"BG/NBD log-likelihood", number(m.bgnbd_log_likelihood, "%.4f")},
      {"Gamma-Gamma p", number(m.gamma_gamma.p)},
      {"Gamma-Gamma q", number(m.gamma_gamma.q)},
      {"Gamma-Gamma gamma", number(m.gamma_gamma.gamma)},
      {"Gamma-Gamma log-likelihood", number(m.gamma_gamma_log_likelihood, "%.4f")},
  });
}

}  // namespace

Command add_clv(CLI::App& app, Globals& g) {
  struct Opts {
    // fit
    std::string as_of, period = "week";
    std::vector<std::string> kinds;
    // score
    std::string score_as_of;
    int horizon = 52;
    double discount = 0.10;
    std::size_t batch = 10'000;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "clv", "Customer lifetime value: fit the BG/NBD and Gamma-Gamma models, show, score");
  sub->require_subcommand(1);

  CLI::App* fit = sub->add_subcommand(
      "fit", "Fit both models to the RFM summary as of a date and store them in the database");
  fit->add_option("--as-of", o->as_of, "The end of the data fitted on (default: today, UTC)");
  fit->add_option("--period", o->period, "Time unit of the model: day or week")->capture_default_str();
  fit->add_option("--kinds", o->kinds, "Transaction kinds that count as purchases (default: purchase)")
      ->delimiter(',');

  CLI::App* show = sub->add_subcommand("show", "The stored model: what it was fitted on and its parameters");

  CLI::App* score = sub->add_subcommand(
      "score", "Score every customer with the stored model (p_alive, expected_purchases, clv, r/f/m_score)");
  score->add_option("--as-of", o->score_as_of, "The day scored (default: today, UTC)");
  score->add_option("--horizon", o->horizon, "Periods of the model's unit ahead")
      ->capture_default_str()
      ->check(CLI::Range(0, 100'000));
  score->add_option("--discount", o->discount, "Annual discount rate of clv (0.10 = 10 %)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  score->add_option("--batch", o->batch, "Customers per write transaction")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  for (CLI::App* s : {fit, show, score}) s->fallthrough();

  return {sub, [&g, o, fit, show] {
            if (fit->parsed()) {
              const RfmOptions opts = rfm_options_arg(o->as_of, o->period, o->kinds);
              Database db = open_database(g, /*read_only=*/false);
              const auto start = Clock::now();
              Result<ClvModel> fitted;
              {
                Progress bar("fit");
                ProgressTicker ticker(bar, nullptr);  // no progress to report: elapsed time
                auto txn = must(db.begin_read());
                fitted = fit_clv(txn, opts);
              }  // the snapshot ends before the write
              ClvModel model = must(std::move(fitted));
              must(store_model(db, model));
              const double elapsed = seconds_since(start);
              if (g.json) {
                print_json(model_json(model).set("stored", true).set("elapsed_seconds", elapsed));
                return kExitOk;
              }
              print_model(model);
              std::printf("fitted on %llu customers (%llu with repeat purchases) and stored in %.2f s\n",
                          static_cast<unsigned long long>(model.customers),
                          static_cast<unsigned long long>(model.repeat_customers), elapsed);
              return kExitOk;
            }
            if (show->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              std::optional<ClvModel> model;
              {
                auto txn = must(db.begin_read());
                model = must(load_model(txn));
              }
              if (!model) die_failure("no CLV model stored: fit one first (custdb clv fit)");
              if (g.json) print_json(model_json(*model));
              else print_model(*model);
              return kExitOk;
            }
            // score
            ScoreOptions so;
            so.as_of = as_of_arg("--as-of", o->score_as_of);
            so.horizon = o->horizon;
            so.annual_discount = o->discount;
            so.batch = o->batch;
            Database db = open_database(g, /*read_only=*/false);
            const auto start = Clock::now();
            Result<ScoreReport> result;
            {
              Progress bar("score");
              ProgressTicker ticker(bar, nullptr);
              result = score_customers(db, so);
            }
            ScoreReport report = must(std::move(result));
            const double elapsed = seconds_since(start);
            if (g.json) {
              print_json(Json::object()
                             .set("as_of", format_date(report.as_of))
                             .set("horizon", so.horizon)
                             .set("discount", so.annual_discount)
                             .set("scored", report.scored)
                             .set("cleared", report.cleared)
                             .set("elapsed_seconds", elapsed));
              return kExitOk;
            }
            std::printf("scored %llu customers as of %s (horizon %d periods, discount %s), "
                        "cleared the scores of %llu, in %.2f s\n",
                        static_cast<unsigned long long>(report.scored),
                        format_date(report.as_of).c_str(), so.horizon,
                        decimal_text(so.annual_discount, 6).c_str(),
                        static_cast<unsigned long long>(report.cleared), elapsed);
            return kExitOk;
          }};
}

}  // namespace custdb::cli
