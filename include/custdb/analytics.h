// custdb/analytics.h — customer value analytics over the engine's own tables: RFM summaries,
// the BG/NBD and Gamma-Gamma CLV models (fit and score), and rules that keep tiers and
// lifecycle stages current. docs/analytics.md has the definitions, formulas and sources.
//
// Three layers:
//  - pure model functions (namespace custdb::clv): values in, numbers out; thread-safe;
//  - reads over one snapshot (rfm_summary, fit_clv, load_model, rules): run on any ReadView;
//  - batch writers (store_model, score_customers, set_rules, apply_rules): take the Database
//    and write in bounded write transactions of their own, so a long run never holds the
//    write lock for long. Each batch is atomic; an interrupted run leaves whole batches done,
//    and running it again finishes the job (both are idempotent for a given as-of date).
#pragma once

#include "custdb/export.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "custdb/query.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb {

class Database;
class ReadView;

// ---- RFM summaries ------------------------------------------------------------------------------

// On-disk format (stored with a fitted model): never renumber.
enum class TimeUnit : std::uint8_t { kDay = 0, kWeek = 1 };  // a week is 7 days
CUSTDB_EXPORT std::string_view to_string(TimeUnit u);  // "day", "week"
CUSTDB_EXPORT std::optional<TimeUnit> time_unit_from_string(std::string_view s);

struct RfmOptions {
  // Transactions on or before this day count (the whole day, UTC). Default: today (UTC).
  std::optional<Date> as_of;
  // Unit of recency and T. Default: weeks.
  TimeUnit unit = TimeUnit::kWeek;
  // Which transaction kinds are purchases. Default: kPurchase only. Must not be empty.
  std::vector<TransactionKind> kinds = {TransactionKind::kPurchase};
  // Sign convention of the ledger (docs/analytics.md, "Sign convention"). false (default): a
  // purchase is a positive amount and a refund or reversal booked under a counted kind is a
  // negative one. true: the ledger stores purchases (debits to the customer) as negative amounts
  // and refunds as positive ones; every counted amount is negated before use, so in the summary
  // purchases are positive either way (monetary_value, the M score and the Gamma-Gamma fit).
  bool debits_negative = false;
};

// One customer's summary in the definitions of the customer-base analysis literature (Fader,
// Hardie & Lee 2005). Transactions on the same UTC day are one purchase, their base-currency
// amounts summed. Customers without a counted purchase on or before as_of have no row.
struct RfmRow {
  CustomerId id = 0;
  std::uint64_t frequency = 0;  // purchase days after the first ("x")
  double recency = 0;           // first to last purchase day, in the unit ("t_x")
  double T = 0;                 // first purchase day to as_of, in the unit
  double monetary_value = 0;    // mean value of the repeat purchase days, in major units of the
                                // base currency; 0 when frequency is 0 ("zbar"). Negative or 0
                                // when refunds outweigh the repeat purchases (sign convention)
  // Quintile scores 1..5 over the customers summarised (5 best): R by days since the last
  // purchase (fewer is better), F by frequency, M by monetary_value. Tied values share the
  // score of the lowest rank in the tie.
  std::uint8_t r_score = 0, f_score = 0, m_score = 0;

  friend bool operator==(const RfmRow&, const RfmRow&) = default;
};

// Every summarised customer, by id, in one pass over the transactions of the snapshot.
CUSTDB_EXPORT Result<std::vector<RfmRow>> rfm_summary(const ReadView& view,
                                                      const RfmOptions& options = {});

// ---- the models (pure functions) ---------------------------------------------------------------

namespace clv {

// BG/NBD (Fader, Hardie & Lee 2005): purchases at rate λ ~ Gamma(r, α) while alive; after each
// purchase the customer drops out with probability p ~ Beta(a, b).
struct BgNbdParams {
  double r = 0, alpha = 0, a = 0, b = 0;
  friend bool operator==(const BgNbdParams&, const BgNbdParams&) = default;
};
// Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999): spend per
// purchase ~ Gamma(p, ν), ν ~ Gamma(q, γ).
struct GammaGammaParams {
  double p = 0, q = 0, gamma = 0;
  friend bool operator==(const GammaGammaParams&, const GammaGammaParams&) = default;
};

// The inputs of one customer, in one time unit: x = frequency, t_x = recency, T, and the mean
// repeat spend (Gamma-Gamma only; may be negative or 0: refunds). `id` names the customer in
// error messages (0: not given; the message then says so).
struct Summary {
  double x = 0, t_x = 0, T = 0, monetary_value = 0;
  CustomerId id = 0;
};

// Why a row cannot be data (a non-finite value, negative x, t_x or T, fractional x, t_x > T,
// x > 0 with t_x = 0, x = 0 with t_x > 0), or nullptr. A negative or zero monetary_value is data.
CUSTDB_EXPORT const char* summary_problem(const Summary& s);

// How a fit ended (shown by `custdb clv fit` and `clv show`).
struct FitDiagnostics {
  // The optimiser stopped on its tolerances (not on its evaluation limit) and the last restart
  // from the best point no longer improved it.
  bool converged = false;
  // Of `starts` runs from different starting points, how many reached the best optimum (the
  // mean log-likelihood within 1e-7 and every log-parameter within 1e-3). starts − agreed > 0
  // says the likelihood has other optima or flat ridges: the best one is reported.
  int restarts_agreed = 0;
  int starts = 0;
  double log_likelihood_per_customer = 0;  // log_likelihood / customers

  friend bool operator==(const FitDiagnostics&, const FitDiagnostics&) = default;
};

template <class Params>
struct Fit {
  Params params;
  double log_likelihood = 0;  // at params, summed over the customers used
  std::uint64_t customers = 0;  // used in the fit
  int iterations = 0;           // objective evaluations, all starts
  FitDiagnostics diagnostics;
  // Gamma-Gamma only: customers left out of the fit. x = 0 (no repeat purchase), and x > 0 with
  // monetary_value <= 0 (refunds outweigh the repeat purchases: outside the model's support).
  // Both are scored with the population mean p·γ/(q−1) (expected_value).
  std::uint64_t excluded_no_repeat = 0;
  std::uint64_t excluded_non_positive = 0;
};

// Maximum likelihood by NLopt over the log-parameters (so every parameter stays positive), from
// several deterministic starting points; the best optimum is returned with its diagnostics.
// Errors:
//  - kInvalidArgument: a row that cannot be data (summary_problem), naming the customer id
//    ("customer 1000: t_x (recency) exceeds T"), or its position when no id was given;
//  - kFailedPrecondition, with the reason: too few customers; too little variation (every
//    customer the same (x, t_x, T), or every used customer the same spend); a degenerate
//    optimum — a parameter at the bounds [1e-13, 1e13] or a shape parameter (r, a, b; p, q)
//    outside [1e-6, 1e6], i.e. the likelihood rises toward a limit model without the
//    heterogeneity the model describes (the data do not identify it).
CUSTDB_EXPORT Result<Fit<BgNbdParams>> fit_bgnbd(std::span<const Summary> customers);
// Uses only customers with x > 0 and monetary_value > 0 (the model's support, Fader, Hardie &
// Lee 2005); the others are counted in excluded_no_repeat / excluded_non_positive.
CUSTDB_EXPORT Result<Fit<GammaGammaParams>> fit_gamma_gamma(std::span<const Summary> customers);

CUSTDB_EXPORT double bgnbd_log_likelihood(const BgNbdParams& m, const Summary& s);
CUSTDB_EXPORT double gamma_gamma_log_likelihood(const GammaGammaParams& m, const Summary& s);

// P(alive | x, t_x, T). 1 when x = 0 (the model has no dropout before the first repeat).
CUSTDB_EXPORT double p_alive(const BgNbdParams& m, const Summary& s);
// E[purchases in (T, T + t] | x, t_x, T].
CUSTDB_EXPORT double expected_purchases(const BgNbdParams& m, const Summary& s, double t);
// E[purchases in (0, t]] for a new customer.
CUSTDB_EXPORT double expected_purchases_new(const BgNbdParams& m, double t);
// E[spend per purchase | x, mean repeat spend]; the population mean p·γ/(q−1) when x = 0 or
// monetary_value <= 0 (outside the model's support: refunds outweigh the repeat purchases).
// Needs q > 1 (else the mean is infinite): returns NaN.
CUSTDB_EXPORT double expected_value(const GammaGammaParams& m, const Summary& s);
// Discounted value over `horizon` periods of the unit: sum over k = 1..horizon of
// expected_value · (E[purchases in (T, T+k]] − E[purchases in (T, T+k−1]]) / (1 + d)^(k·days/365.25)
// with d = annual_discount and days = 1 or 7 per period. Cost linear in horizon: E[Y(k)] is
// advanced from period to period (docs/analytics.md, "Customer lifetime value").
CUSTDB_EXPORT double lifetime_value(const BgNbdParams& bg, const GammaGammaParams& gg,
                                    const Summary& s, int horizon, double annual_discount,
                                    TimeUnit unit);

}  // namespace clv

// ---- fitting and scoring over the database ------------------------------------------------------

// A fitted model and what it was fitted on. Stored in the database (sealed when encrypted).
struct ClvModel {
  clv::BgNbdParams bgnbd;
  double bgnbd_log_likelihood = 0;
  clv::GammaGammaParams gamma_gamma;
  double gamma_gamma_log_likelihood = 0;
  // The data: the RFM summary as of `as_of` in `unit` over `kinds`.
  Date as_of{};
  TimeUnit unit = TimeUnit::kWeek;
  std::vector<TransactionKind> kinds;
  bool debits_negative = false;        // the sign convention (RfmOptions::debits_negative)
  std::uint64_t customers = 0;         // summarised (BG/NBD fit)
  std::uint64_t repeat_customers = 0;  // with repeat purchases of positive value (Gamma-Gamma)
  // Left out of the Gamma-Gamma fit because their mean repeat value is <= 0 (refunds); scored
  // with the population mean. (The others left out, customers - repeat_customers - this, have
  // no repeat purchase.)
  std::uint64_t non_positive_value_customers = 0;
  // Customers with purchases left out of the data because they refused profiling
  // (consent_profiling = denied, custdb/privacy.h): not in `customers`.
  std::uint64_t excluded_no_profiling_consent = 0;
  std::uint64_t summary_hash = 0;      // XXH3 of the summary rows, to tell two data sets apart
  Timestamp fitted_at{};
  clv::FitDiagnostics bgnbd_diagnostics, gamma_gamma_diagnostics;

  friend bool operator==(const ClvModel&, const ClvModel&) = default;
};

// Fits both models to the RFM summary of the snapshot. Does not store the model.
CUSTDB_EXPORT Result<ClvModel> fit_clv(const ReadView& view, const RfmOptions& options = {});
// Replaces the stored model (one write transaction).
CUSTDB_EXPORT Status store_model(Database& db, const ClvModel& model);
// The stored model, if any.
CUSTDB_EXPORT Result<std::optional<ClvModel>> load_model(const ReadView& view);

struct ScoreOptions {
  // The day scored. Default: today (UTC). RFM is taken as of this day with the model's unit
  // and kinds.
  std::optional<Date> as_of;
  // Periods of the model's unit for expected_purchases and clv. Default 52 (a year in weeks).
  int horizon = 52;
  // Annual discount rate for clv, >= 0. Default 10 %.
  double annual_discount = 0.10;
  // Customers per write transaction. Default 10,000.
  std::size_t batch = 10'000;
};

struct ScoreReport {
  Date as_of{};
  std::uint64_t scored = 0;   // customers whose Customer::scores were written
  std::uint64_t cleared = 0;  // customers with no purchase by as_of whose old scores were removed
  // Customers the model gives a non-finite (or out of range) score: not scored, and any old
  // scores of theirs removed so that no stale value is queried. The run goes on without them.
  std::uint64_t skipped = 0;
  std::vector<CustomerId> skipped_ids;  // the first 100 of them, by id
  // Customers with repeat purchases whose mean repeat value is <= 0 (refunds), scored with the
  // Gamma-Gamma population mean spend per purchase.
  std::uint64_t population_mean_value = 0;
  // Customers with purchases not scored because they refused profiling (consent_profiling =
  // denied); any scores they held were cleared (and are not counted in `cleared`).
  std::uint64_t excluded_no_profiling_consent = 0;
};

// Scores every customer with the stored model (kFailedPrecondition if none, or if the model
// gives no summarised customer a finite score) and writes Customer::scores, which the segment
// language reads as p_alive, expected_purchases, clv, r_score, f_score and m_score. One
// customer's non-finite score never stops the run: it is skipped and counted (ScoreReport).
CUSTDB_EXPORT Result<ScoreReport> score_customers(Database& db, const ScoreOptions& options = {});

// ---- rules --------------------------------------------------------------------------------------

// `tier = gold when total_amount > 1000.00`, `stage = at_risk when recency_days > 90`.
// Rules of one target are tried in order; the first whose query matches assigns the value.
// A customer no rule of a target matches keeps its value.
struct Rule {
  std::variant<Tier, Stage> assign;
  std::string when;  // segment query text (custdb/query.h)

  friend bool operator==(const Rule&, const Rule&) = default;
};
// Parses "tier = <tier> when <query>" / "stage = <stage> when <query>"; the query is parsed
// too (amounts with options.amount_decimals), and `when` holds its canonical text.
CUSTDB_EXPORT Result<Rule> parse_rule(std::string_view text,
                                      const query::ParseOptions& options = {});
CUSTDB_EXPORT std::string to_string(const Rule& rule);

// The stored rules, in order (empty when none were set).
CUSTDB_EXPORT Result<std::vector<Rule>> rules(const ReadView& view);
// Validates every rule, then replaces the stored list in one write transaction.
CUSTDB_EXPORT Status set_rules(Database& db, std::span<const Rule> rules);

struct ApplyOptions {
  std::optional<Date> as_of;     // the query as-of date (age, recency_days...). Default: today
  std::size_t batch = 10'000;    // customers changed per write transaction
  bool dry_run = false;          // report the moves, write nothing
};

struct RuleReport {
  struct Move {
    std::string field;  // "tier" or "stage"
    std::string from, to;
    std::uint64_t customers = 0;
  };
  std::uint64_t customers = 0;  // customers examined
  std::uint64_t changed = 0;    // customers whose tier or stage changed
  std::vector<Move> moves;      // by field, from, to
  // Customers a rule matched and would have moved, left as they are because they refused
  // profiling (consent_profiling = denied). Never moved, never counted in `changed`.
  std::uint64_t excluded_no_profiling_consent = 0;
};

// Evaluates the stored rules on one snapshot as of options.as_of and writes the changes in
// write transactions of options.batch customers each.
CUSTDB_EXPORT Result<RuleReport> apply_rules(Database& db, const ApplyOptions& options = {});

}  // namespace custdb
