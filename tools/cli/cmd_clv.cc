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

Json diagnostics_json(const clv::FitDiagnostics& d) {
  return Json::object()
      .set("converged", d.converged)
      .set("restarts_agreed", d.restarts_agreed)
      .set("starts", d.starts)
      .set("log_likelihood_per_customer", d.log_likelihood_per_customer);
}

std::string diagnostics_text(const clv::FitDiagnostics& d) {
  if (d.starts == 0) return "not recorded (model stored by an older custdb)";
  return std::string(d.converged ? "converged" : "NOT converged") + ", " +
         std::to_string(d.restarts_agreed) + " of " + std::to_string(d.starts) +
         " starts agreed, log-likelihood per customer " +
         number(d.log_likelihood_per_customer, "%.6f");
}

std::uint64_t no_repeat_customers(const ClvModel& m) {
  const std::uint64_t used = m.repeat_customers + m.non_positive_value_customers;
  return m.customers >= used ? m.customers - used : 0;
}

Json model_json(const ClvModel& m) {
  Json kinds = Json::array();
  for (auto k : m.kinds) kinds.push(to_string(k));
  return Json::object()
      .set("as_of", format_date(m.as_of))
      .set("unit", to_string(m.unit))
      .set("kinds", std::move(kinds))
      .set("debits_negative", m.debits_negative)
      .set("customers", m.customers)
      .set("repeat_customers", m.repeat_customers)
      .set("gamma_gamma_excluded",
           Json::object()
               .set("no_repeat_purchase", no_repeat_customers(m))
               .set("non_positive_value", m.non_positive_value_customers))
      .set("excluded_no_profiling_consent", m.excluded_no_profiling_consent)
      .set("summary_hash", hash_text(m.summary_hash))
      .set("fitted_at", format_timestamp(m.fitted_at))
      .set("bgnbd", Json::object()
                        .set("r", m.bgnbd.r)
                        .set("alpha", m.bgnbd.alpha)
                        .set("a", m.bgnbd.a)
                        .set("b", m.bgnbd.b)
                        .set("log_likelihood", m.bgnbd_log_likelihood)
                        .set("diagnostics", diagnostics_json(m.bgnbd_diagnostics)))
      .set("gamma_gamma", Json::object()
                              .set("p", m.gamma_gamma.p)
                              .set("q", m.gamma_gamma.q)
                              .set("gamma", m.gamma_gamma.gamma)
                              .set("log_likelihood", m.gamma_gamma_log_likelihood)
                              .set("diagnostics", diagnostics_json(m.gamma_gamma_diagnostics)));
}

void print_model(const ClvModel& m) {
  print_pairs({
      {"as_of", format_date(m.as_of)},
      {"unit", std::string(to_string(m.unit))},
      {"kinds", kinds_text(m.kinds)},
      {"purchases", m.debits_negative ? "negative amounts (--debits-negative)" : "positive amounts"},
      {"customers", std::to_string(m.customers)},
      {"repeat_customers", std::to_string(m.repeat_customers)},
      {"Gamma-Gamma left out", std::to_string(no_repeat_customers(m)) + " without repeat purchases, " +
                                   std::to_string(m.non_positive_value_customers) +
                                   " with mean repeat value <= 0 (scored with the population mean)"},
      {"excluded_no_profiling_consent",
       std::to_string(m.excluded_no_profiling_consent) +
           " customers with purchases who refused profiling (not in the data)"},
      {"summary_hash", hash_text(m.summary_hash)},
      {"fitted_at", format_timestamp(m.fitted_at)},
      {"BG/NBD r", number(m.bgnbd.r)},
      {"BG/NBD alpha", number(m.bgnbd.alpha)},
      {"BG/NBD a", number(m.bgnbd.a)},
      {"BG/NBD b", number(m.bgnbd.b)},
      {"BG/NBD log-likelihood", number(m.bgnbd_log_likelihood, "%.4f")},
      {"BG/NBD fit", diagnostics_text(m.bgnbd_diagnostics)},
      {"Gamma-Gamma p", number(m.gamma_gamma.p)},
      {"Gamma-Gamma q", number(m.gamma_gamma.q)},
      {"Gamma-Gamma gamma", number(m.gamma_gamma.gamma)},
      {"Gamma-Gamma log-likelihood", number(m.gamma_gamma_log_likelihood, "%.4f")},
      {"Gamma-Gamma fit", diagnostics_text(m.gamma_gamma_diagnostics)},
  });
}

}  // namespace

Command add_clv(CLI::App& app, Globals& g) {
  struct Opts {
    // fit
    std::string as_of, period = "week";
    std::vector<std::string> kinds;
    bool debits_negative = false;
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
  fit->add_flag("--debits-negative", o->debits_negative,
                "The ledger stores purchases as negative amounts (refunds positive); stored with "
                "the model, so scoring uses it too");

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
              const RfmOptions opts = rfm_options_arg(o->as_of, o->period, o->kinds, o->debits_negative);
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
              std::printf("fitted on %llu customers (%llu with repeat purchases of positive value "
                          "in the Gamma-Gamma fit; %llu left out whose mean repeat value is 0 or "
                          "negative) and stored in %.2f s\n",
                          static_cast<unsigned long long>(model.customers),
                          static_cast<unsigned long long>(model.repeat_customers),
                          static_cast<unsigned long long>(model.non_positive_value_customers),
                          elapsed);
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
              Json skipped_ids = Json::array();
              for (CustomerId id : report.skipped_ids) skipped_ids.push(id);
              print_json(Json::object()
                             .set("as_of", format_date(report.as_of))
                             .set("horizon", so.horizon)
                             .set("discount", so.annual_discount)
                             .set("scored", report.scored)
                             .set("cleared", report.cleared)
                             .set("skipped", report.skipped)
                             .set("skipped_ids", std::move(skipped_ids))
                             .set("population_mean_value", report.population_mean_value)
                             .set("excluded_no_profiling_consent",
                                  report.excluded_no_profiling_consent)
                             .set("elapsed_seconds", elapsed));
              return kExitOk;
            }
            std::printf("scored %llu customers as of %s (horizon %d periods, discount %s), "
                        "cleared the scores of %llu, in %.2f s\n",
                        static_cast<unsigned long long>(report.scored),
                        format_date(report.as_of).c_str(), so.horizon,
                        decimal_text(so.annual_discount, 6).c_str(),
                        static_cast<unsigned long long>(report.cleared), elapsed);
            if (report.excluded_no_profiling_consent > 0)
              std::printf("%llu customers not scored: they refused profiling (any scores they "
                          "held were cleared)\n",
                          static_cast<unsigned long long>(report.excluded_no_profiling_consent));
            if (report.population_mean_value > 0)
              std::printf("%llu customers whose mean repeat value is 0 or negative (refunds) were "
                          "valued at the population mean spend per purchase\n",
                          static_cast<unsigned long long>(report.population_mean_value));
            if (report.skipped > 0) {
              std::string ids;
              for (CustomerId id : report.skipped_ids) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
              std::fprintf(stderr,
                           "warning: %llu customers skipped: the model gives them a non-finite "
                           "score (their old scores were removed): customers %s%s\n",
                           static_cast<unsigned long long>(report.skipped), ids.c_str(),
                           report.skipped > report.skipped_ids.size() ? ", ..." : "");
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
