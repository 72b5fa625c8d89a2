// The CLV models (custdb::clv): BG/NBD and Gamma-Gamma fits on the CDNOW sample against the
// published estimates, closed-form scores against the published example and against independent
// computations (the hypergeometric series of eq. (9) summed as printed, and the posterior
// expectation integrated numerically), properties of the scores, guards and determinism.
#include <boost/math/quadrature/tanh_sinh.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "custdb/analytics.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using custdb::clv::BgNbdParams;
using custdb::clv::GammaGammaParams;
using custdb::clv::Summary;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// FHL 2005, table / section 4: the BG/NBD on the CDNOW sample's 39-week calibration period.
const BgNbdParams kPublished{0.243, 4.414, 0.793, 2.426};
// Fader & Hardie's Gamma-Gamma note, on the same customers.
const GammaGammaParams kPublishedGg{6.25, 3.74, 15.44};

// tests/fixtures/cdnow/cdnow_summary_1997-09-30.csv: ID,x,t_x,T,zbar with CRLF line ends.
std::vector<Summary> load_cdnow() {
  std::ifstream in(CUSTDB_FIXTURE_DIR "/cdnow/cdnow_summary_1997-09-30.csv", std::ios::binary);
  BOOST_TEST_REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  BOOST_TEST_REQUIRE(line == "ID,x,t_x,T,zbar");
  std::vector<Summary> rows;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<double> f;
    std::size_t start = 0;
    for (;;) {
      std::size_t comma = line.find(',', start);
      f.push_back(std::stod(line.substr(start, comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    BOOST_TEST_REQUIRE(f.size() == 5u);
    rows.push_back({f[1], f[2], f[3], f[4]});
  }
  return rows;
}

const std::vector<Summary>& cdnow() {
  static const std::vector<Summary> rows = load_cdnow();
  return rows;
}

// ---- independent references ---------------------------------------------------------------------

// Eq. (9) exactly as printed: (a+b−1)/(a−1) · [1 − (α/(α+t))^r · 2F1(r, b; a+b−1; t/(α+t))], the
// series summed term by term in long double. Needs a+b > 1 and a != 1.
long double eq9_series(const BgNbdParams& m, long double t) {
  const long double r = m.r, alpha = m.alpha, a = m.a, b = m.b;
  const long double z = t / (alpha + t), c = a + b - 1;
  long double term = 1, sum = 1;
  for (int n = 0; n < 10'000'000; ++n) {
    term *= (r + n) * (b + n) / ((c + n) * (n + 1)) * z;
    sum += term;
    if (term < 1e-22L * sum && n > 10) break;
  }
  return c / (a - 1) * (1 - std::pow(alpha / (alpha + t), r) * sum);
}

// E[Y(t) | x, t_x, T] from its definition, not from eq. (10): the posterior expectation of
// (1 − e^(−λpt))/p over (λ, p) and "alive at T". Integrating λ out in closed form leaves
//   Γ(r+x)α^r / (Γ(r) B(a,b) (α+T)^(r+x)) · ∫_0^1 p^(a−2) (1−p)^(b+x−1) [1 − (1 + p t/(α+T))^(−(r+x))] dp
// divided by the likelihood of eq. (6) (less their common factor). The integral is
// done by tanh-sinh quadrature on [−1, 1], whose second argument keeps 1 − p exact near p = 1.
double posterior_expectation(const BgNbdParams& m, const Summary& s, double t) {
  const double r = m.r, alpha = m.alpha, a = m.a, b = m.b, x = s.x;
  const double u = t / (alpha + s.T), k = r + x;
  auto f = [&](double v, double vc) {
    double p, q;  // p = (1 + v)/2, q = 1 − p
    if (v < -0.5) {
      p = -vc / 2;
      q = 1 - p;
    } else if (v > 0.5) {
      q = vc / 2;
      p = 1 - q;
    } else {
      p = (1 + v) / 2;
      q = (1 - v) / 2;
    }
    // [1 − (1 + pu)^(−k)] / p, finite as p → 0 (where it tends to k·u).
    const double pu = p * u;
    const double ratio =
        pu < 1e-10 ? k * u * (1 - (k + 1) * pu / 2) : -std::expm1(-k * std::log1p(pu)) / p;
    return 0.5 * std::pow(p, a - 1) * std::pow(q, b + x - 1) * ratio;
  };
  boost::math::quadrature::tanh_sinh<double> integrator;
  const double integral = integrator.integrate(f, 1e-13);
  auto beta = [](double p, double q) {
    return std::exp(std::lgamma(p) + std::lgamma(q) - std::lgamma(p + q));
  };
  // The common factor Γ(r+x)α^r / (Γ(r) B(a,b) (α+T)^(r+x)) of the numerator and eq. (6)
  // cancels, which leaves no powers that underflow for large x.
  double likelihood = beta(a, b + x);
  if (x > 0) likelihood += beta(a + 1, b + x - 1) * std::pow((alpha + s.T) / (alpha + s.t_x), k);
  return integral / likelihood;
}

std::string error_of(const auto& result) { return result ? "" : result.error().to_string(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(clv_models)

// ---- fits on CDNOW -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cdnow_fixture_reads_every_row) {
  BOOST_TEST(cdnow().size() == 2357u);
  BOOST_TEST(cdnow().front().x == 2);
  BOOST_TEST(cdnow().front().t_x == 30.43);
  BOOST_TEST(cdnow().back().T == 27.0);
}

BOOST_AUTO_TEST_CASE(bgnbd_fit_matches_the_published_estimates) {
  auto start = std::chrono::steady_clock::now();
  auto fit = clv::fit_bgnbd(cdnow());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_REQUIRE(fit.has_value(), error_of(fit));
  BOOST_TEST_MESSAGE("BG/NBD: r " << fit->params.r << " alpha " << fit->params.alpha << " a "
                                  << fit->params.a << " b " << fit->params.b << " LL "
                                  << fit->log_likelihood << ", " << fit->iterations
                                  << " evaluations, " << ms << " ms");
  BOOST_CHECK_CLOSE(fit->params.r, 0.243, 1.0);
  BOOST_CHECK_CLOSE(fit->params.alpha, 4.414, 1.0);
  BOOST_CHECK_CLOSE(fit->params.a, 0.793, 1.0);
  BOOST_CHECK_CLOSE(fit->params.b, 2.426, 1.0);
  BOOST_CHECK_SMALL(fit->log_likelihood - (-9582.4), 0.1);
  BOOST_TEST(fit->customers == 2357u);
  BOOST_TEST(fit->iterations > 0);

  // log_likelihood is the sum of the per-customer function at the fitted parameters.
  double sum = 0;
  for (const Summary& s : cdnow()) sum += clv::bgnbd_log_likelihood(fit->params, s);
  BOOST_CHECK_CLOSE(sum, fit->log_likelihood, 1e-9);
  // It is the maximum: the published (rounded) parameters do no better.
  double published = 0;
  for (const Summary& s : cdnow()) published += clv::bgnbd_log_likelihood(kPublished, s);
  BOOST_TEST(published <= fit->log_likelihood);
  BOOST_CHECK_SMALL(published - (-9582.4), 0.1);
}

BOOST_AUTO_TEST_CASE(gamma_gamma_fit_matches_the_published_estimates) {
  auto start = std::chrono::steady_clock::now();
  auto fit = clv::fit_gamma_gamma(cdnow());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_REQUIRE(fit.has_value(), error_of(fit));
  BOOST_TEST_MESSAGE("Gamma-Gamma: p " << fit->params.p << " q " << fit->params.q << " gamma "
                                       << fit->params.gamma << " LL " << fit->log_likelihood << ", "
                                       << fit->iterations << " evaluations, " << ms << " ms");
  BOOST_CHECK_CLOSE(fit->params.p, 6.25, 1.0);
  BOOST_CHECK_CLOSE(fit->params.q, 3.74, 1.0);
  BOOST_CHECK_CLOSE(fit->params.gamma, 15.44, 1.0);
  BOOST_TEST(fit->customers == 946u);

  double sum = 0;
  std::size_t used = 0;
  for (const Summary& s : cdnow()) {
    if (s.x == 0) {
      BOOST_TEST(std::isnan(clv::gamma_gamma_log_likelihood(fit->params, s)));
      continue;
    }
    sum += clv::gamma_gamma_log_likelihood(fit->params, s);
    ++used;
  }
  BOOST_TEST(used == 946u);
  BOOST_CHECK_CLOSE(sum, fit->log_likelihood, 1e-9);
  double published = 0;
  for (const Summary& s : cdnow())
    if (s.x > 0) published += clv::gamma_gamma_log_likelihood(kPublishedGg, s);
  BOOST_TEST(published <= fit->log_likelihood);
}

BOOST_AUTO_TEST_CASE(fits_are_deterministic) {
  auto a = clv::fit_bgnbd(cdnow()), b = clv::fit_bgnbd(cdnow());
  BOOST_TEST_REQUIRE((a.has_value() && b.has_value()));
  BOOST_TEST((a->params == b->params));
  BOOST_TEST(a->log_likelihood == b->log_likelihood);
  BOOST_TEST(a->iterations == b->iterations);
  auto c = clv::fit_gamma_gamma(cdnow()), d = clv::fit_gamma_gamma(cdnow());
  BOOST_TEST_REQUIRE((c.has_value() && d.has_value()));
  BOOST_TEST((c->params == d->params));
  BOOST_TEST(c->log_likelihood == d->log_likelihood);
}

// Days instead of weeks: α scales by 7, r, a, b do not move, and the log-likelihood moves by
// −ln 7 per repeat purchase (eq. (6) is a density in the timing of the x purchases).
BOOST_AUTO_TEST_CASE(bgnbd_fit_follows_the_time_unit) {
  std::vector<Summary> days = cdnow();
  double purchases = 0;
  for (Summary& s : days) {
    s.t_x *= 7;
    s.T *= 7;
    purchases += s.x;
  }
  auto weeks_fit = clv::fit_bgnbd(cdnow());
  auto days_fit = clv::fit_bgnbd(days);
  BOOST_TEST_REQUIRE(weeks_fit.has_value());
  BOOST_TEST_REQUIRE(days_fit.has_value(), error_of(days_fit));
  BOOST_CHECK_CLOSE(days_fit->params.alpha, 7 * weeks_fit->params.alpha, 0.01);
  BOOST_CHECK_CLOSE(days_fit->params.r, weeks_fit->params.r, 0.01);
  BOOST_CHECK_CLOSE(days_fit->params.a, weeks_fit->params.a, 0.01);
  BOOST_CHECK_CLOSE(days_fit->params.b, weeks_fit->params.b, 0.01);
  BOOST_CHECK_SMALL(days_fit->log_likelihood - (weeks_fit->log_likelihood - purchases * std::log(7.0)),
                    1e-5);
}

// ---- scores against known answers --------------------------------------------------------------

// FHL 2005, section 5: the customer with x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases
// in the next 39 weeks.
BOOST_AUTO_TEST_CASE(conditional_expectation_of_the_published_example) {
  Summary s{2, 30.43, 38.86, 0};
  BOOST_CHECK_SMALL(clv::expected_purchases(kPublished, s, 39) - 1.226, 5e-4);
  BOOST_CHECK_CLOSE(clv::expected_purchases(kPublished, s, 39), posterior_expectation(kPublished, s, 39),
                    1e-6);
}

BOOST_AUTO_TEST_CASE(new_customer_expectation_matches_the_printed_series_and_the_integral) {
  // Up to t = 436 the library sums a series, beyond it integrates (z = t/(α+t) > 0.99).
  for (double t : {0.5, 1.0, 10.0, 39.0, 78.0, 156.0, 520.0, 5000.0, 20000.0}) {
    BOOST_TEST_CONTEXT("t " << t) {
      const double got = clv::expected_purchases_new(kPublished, t);
      BOOST_CHECK_CLOSE(got, static_cast<double>(eq9_series(kPublished, t)), 1e-9);
      BOOST_CHECK_CLOSE(got, posterior_expectation(kPublished, Summary{0, 0, 0, 0}, t), 1e-7);
    }
  }
  // The same with a > 1, where E[X(∞)] = (a+b−1)/(a−1) is finite.
  const BgNbdParams m{1.3, 12.0, 2.5, 4.0};
  for (double t : {1.0, 52.0, 1e3, 1e4})
    BOOST_CHECK_CLOSE(clv::expected_purchases_new(m, t), static_cast<double>(eq9_series(m, t)), 1e-9);
  BOOST_TEST(clv::expected_purchases_new(m, 1e7) < (m.a + m.b - 1) / (m.a - 1));
  BOOST_CHECK_CLOSE(clv::expected_purchases_new(m, 1e7), (m.a + m.b - 1) / (m.a - 1), 1e-3);
  BOOST_CHECK_CLOSE(clv::expected_purchases_new(m, 1e15), (m.a + m.b - 1) / (m.a - 1), 1e-9);
  // For small t a new customer buys at the mean rate r/α.
  BOOST_CHECK_CLOSE(clv::expected_purchases_new(m, 1e-6) / 1e-6, m.r / m.alpha, 1e-3);
}

// Eq. (10) against the posterior expectation over a spread of parameters and customers,
// including the places where the printed formula divides by zero (a = 1; a + b = 1 with x = 0),
// b < 1, many purchases, and horizons far beyond α + T (z near 1).
BOOST_AUTO_TEST_CASE(conditional_expectation_matches_the_integral) {
  const BgNbdParams params[] = {
      kPublished,       {1.0, 1.0, 1.0, 1.0},  {0.5, 2.0, 1.0 + 1e-9, 3.0}, {2.0, 30.0, 0.4, 0.6},
      {0.8, 7.0, 3.0, 0.5}, {5.0, 0.5, 1.7, 9.0}, {0.05, 100.0, 0.3, 0.2},
      {1.0, 5.0, 50.0, 80.0},
  };
  const Summary customers[] = {
      {0, 0, 38.86, 0}, {0, 0, 0, 0},     {1, 0.5, 10, 0},   {2, 30.43, 38.86, 0},
      {7, 35, 38.86, 0}, {7, 5, 38.86, 0}, {60, 300, 365, 0}, {300, 52, 52, 0},
  };
  for (const BgNbdParams& m : params)
    for (const Summary& s : customers)
      for (double t : {0.25, 39.0, 365.0, 5000.0}) {
        BOOST_TEST_CONTEXT("r " << m.r << " alpha " << m.alpha << " a " << m.a << " b " << m.b
                                << " x " << s.x << " t_x " << s.t_x << " T " << s.T << " t " << t) {
          const double got = clv::expected_purchases(m, s, t);
          const double want = posterior_expectation(m, s, t);
          BOOST_TEST(std::isfinite(got));
          BOOST_CHECK_CLOSE(got, want, 1e-6);
        }
      }
}

// A fit on data without dropout heterogeneity sends a and b to ~10^7 (the demo's synthetic base
// did): scoring must stay finite and quick there (the transformed series needs ~a·z terms).
BOOST_AUTO_TEST_CASE(huge_beta_parameters_score_finitely) {
  const BgNbdParams m{0.568499, 11.137, 1.16095e7, 1.53201e7};
  const double dropout = m.a / (m.a + m.b);
  double previous = 0;
  for (double t : {1.0, 13.0, 52.0, 520.0}) {
    const Summary s{3, 20, 40, 0};
    const double e = clv::expected_purchases(m, s, t);
    BOOST_TEST_REQUIRE(std::isfinite(e));
    BOOST_TEST(e > previous);
    previous = e;
    // With dropout fixed at p after every purchase, at most 1/p more purchases are expected.
    BOOST_TEST(e <= 1 / dropout + 1e-9);
  }
  const double alive = clv::p_alive(m, Summary{3, 20, 40, 0});
  BOOST_TEST((alive > 0 && alive < 1));
}

// ---- properties of the scores ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(p_alive_properties) {
  BOOST_TEST(clv::p_alive(kPublished, {0, 0, 38.86, 0}) == 1.0);
  BOOST_TEST(clv::p_alive(kPublished, {0, 0, 0, 0}) == 1.0);
  // A customer whose last purchase is today is alive for sure... almost: only the dropout
  // term with t_x = T remains, a/(b+x−1).
  BOOST_CHECK_CLOSE(clv::p_alive(kPublished, {3, 20, 20, 0}), 1 / (1 + 0.793 / (2.426 + 2)), 1e-12);
  // Fixed x and t_x: the longer the silence, the less likely alive.
  double previous = 1.0;
  for (double T : {31.0, 35.0, 40.0, 60.0, 100.0, 1000.0}) {
    const double p = clv::p_alive(kPublished, {2, 30.43, T, 0});
    BOOST_TEST(p < previous);
    BOOST_TEST(p > 0.0);
    previous = p;
  }
  // An extreme silence underflows to 0, not NaN.
  BOOST_TEST(clv::p_alive(kPublished, {500, 1, 1e6, 0}) == 0.0);
}

BOOST_AUTO_TEST_CASE(expected_purchases_properties) {
  const Summary s{2, 30.43, 38.86, 0};
  BOOST_TEST(clv::expected_purchases(kPublished, s, 0) == 0.0);
  BOOST_TEST(clv::expected_purchases_new(kPublished, 0) == 0.0);
  double previous = 0;
  for (double t : {0.1, 1.0, 5.0, 39.0, 52.0, 104.0, 1000.0}) {
    const double e = clv::expected_purchases(kPublished, s, t);
    BOOST_TEST(e > previous);
    previous = e;
  }
  // Scaled by P(alive): a customer silent for long expects less than an active one.
  BOOST_TEST(clv::expected_purchases(kPublished, {2, 5, 38.86, 0}, 39) <
             clv::expected_purchases(kPublished, {2, 38, 38.86, 0}, 39));
  // a = 1 is the limit, not NaN: continuous across it.
  const double below = clv::expected_purchases({0.5, 3, 1 - 1e-7, 2}, s, 39);
  const double at = clv::expected_purchases({0.5, 3, 1, 2}, s, 39);
  const double above = clv::expected_purchases({0.5, 3, 1 + 1e-7, 2}, s, 39);
  BOOST_TEST(std::isfinite(at));
  BOOST_CHECK_CLOSE(below, at, 1e-4);
  BOOST_CHECK_CLOSE(above, at, 1e-4);
}

BOOST_AUTO_TEST_CASE(expected_value_properties) {
  const double population = 6.25 * 15.44 / (3.74 - 1);
  BOOST_CHECK_CLOSE(clv::expected_value(kPublishedGg, {0, 0, 10, 0}), population, 1e-12);
  // A weighted mean of the population mean and the customer's own mean.
  const double e = clv::expected_value(kPublishedGg, {2, 20, 30, 50});
  BOOST_TEST(e > population);
  BOOST_TEST(e < 50.0);
  BOOST_CHECK_CLOSE(e, 6.25 * (15.44 + 2 * 50) / (6.25 * 2 + 3.74 - 1), 1e-12);
  // Many purchases: the customer's own mean dominates.
  BOOST_CHECK_CLOSE(clv::expected_value(kPublishedGg, {1e6, 20, 30, 50}), 50.0, 0.01);
  BOOST_CHECK_CLOSE(clv::expected_value(kPublishedGg, {1e6, 20, 30, 3}), 3.0, 0.01);
  // q <= 1: the mean is infinite.
  BOOST_TEST(std::isnan(clv::expected_value({6.25, 1.0, 15.44}, {0, 0, 10, 0})));
  BOOST_TEST(std::isnan(clv::expected_value({6.25, 0.5, 15.44}, {2, 20, 30, 50})));
}

BOOST_AUTO_TEST_CASE(lifetime_value_properties) {
  for (const Summary& s : {Summary{2, 30.43, 38.86, 22.35}, Summary{0, 0, 38.86, 0},
                           Summary{14, 38, 38.86, 40}}) {
    BOOST_TEST_CONTEXT("x " << s.x) {
      const double value = clv::expected_value(kPublishedGg, s);
      // Undiscounted, the sum telescopes.
      for (int horizon : {1, 13, 52}) {
        const double undiscounted =
            clv::lifetime_value(kPublished, kPublishedGg, s, horizon, 0.0, TimeUnit::kWeek);
        BOOST_CHECK_CLOSE(undiscounted, value * clv::expected_purchases(kPublished, s, horizon), 1e-9);
        const double discounted =
            clv::lifetime_value(kPublished, kPublishedGg, s, horizon, 0.1, TimeUnit::kWeek);
        BOOST_TEST(discounted < undiscounted);
        BOOST_TEST(discounted > 0.0);
        // A day-unit horizon of the same length in days discounts less than weeks do.
        BOOST_TEST(clv::lifetime_value(kPublished, kPublishedGg, s, horizon, 0.1, TimeUnit::kDay) >
                   discounted);
      }
      // One period, by hand.
      BOOST_CHECK_CLOSE(clv::lifetime_value(kPublished, kPublishedGg, s, 1, 0.1, TimeUnit::kWeek),
                        value * clv::expected_purchases(kPublished, s, 1) / std::pow(1.1, 7 / 365.25),
                        1e-9);
      BOOST_TEST(clv::lifetime_value(kPublished, kPublishedGg, s, 0, 0.1, TimeUnit::kWeek) == 0.0);
      // More discount, less value.
      BOOST_TEST(clv::lifetime_value(kPublished, kPublishedGg, s, 52, 0.2, TimeUnit::kWeek) <
                 clv::lifetime_value(kPublished, kPublishedGg, s, 52, 0.1, TimeUnit::kWeek));
    }
  }
  const Summary s{2, 30.43, 38.86, 22.35};
  BOOST_TEST(std::isnan(clv::lifetime_value(kPublished, kPublishedGg, s, -1, 0.1, TimeUnit::kWeek)));
  BOOST_TEST(std::isnan(clv::lifetime_value(kPublished, kPublishedGg, s, 52, -0.1, TimeUnit::kWeek)));
  BOOST_TEST(std::isnan(clv::lifetime_value(kPublished, kPublishedGg, s, 52, kNaN, TimeUnit::kWeek)));
  BOOST_TEST(std::isnan(clv::lifetime_value(kPublished, {6.25, 0.9, 15.44}, s, 52, 0.1, TimeUnit::kWeek)));
}

// ---- guards ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rows_that_cannot_be_data_are_invalid_arguments) {
  const Summary bad[] = {
      {-1, 0, 10, 0},       // negative x
      {1.5, 3, 10, 5},      // fractional x
      {2, 12, 10, 5},       // t_x > T
      {2, 0, 10, 5},        // x > 0 with t_x = 0
      {0, 3, 10, 0},        // x = 0 with t_x > 0
      {2, 3, -10, 5},       // negative T
      {2, -3, 10, 5},       // negative t_x
      {kNaN, 3, 10, 5},     {2, kNaN, 10, 5}, {2, 3, kNaN, 5}, {2, 3, 10, kNaN},
      {2, 3, std::numeric_limits<double>::infinity(), 5},
  };
  // A negative mean repeat spend is data (refunds outweigh the repeat purchases): the
  // Gamma-Gamma fit leaves the customer out (tests/analytics_edges_test.cc has more).
  BOOST_TEST(clv::summary_problem({2, 3, 10, -5}) == nullptr);
  for (const Summary& b : bad) {
    BOOST_TEST_CONTEXT("x " << b.x << " t_x " << b.t_x << " T " << b.T << " zbar " << b.monetary_value) {
      // Errors name the customer id (issue #15: never a row index).
      std::vector<Summary> rows(cdnow().begin(), cdnow().begin() + 40);
      for (std::size_t i = 0; i < rows.size(); ++i) rows[i].id = 5000 + i;
      rows[17] = b;
      rows[17].id = 1000;
      auto bg = clv::fit_bgnbd(rows);
      BOOST_TEST_REQUIRE(!bg.has_value());
      BOOST_TEST(bg.error().code() == ErrorCode::kInvalidArgument);
      BOOST_TEST(bg.error().message().starts_with("customer 1000: "), bg.error().message());
      BOOST_TEST(bg.error().message().find("row") == std::string::npos, bg.error().message());
      auto gg = clv::fit_gamma_gamma(rows);
      BOOST_TEST_REQUIRE(!gg.has_value());
      BOOST_TEST(gg.error().code() == ErrorCode::kInvalidArgument);
      BOOST_TEST(gg.error().message().starts_with("customer 1000: "), gg.error().message());
      // The scoring functions answer NaN.
      BOOST_TEST(std::isnan(clv::bgnbd_log_likelihood(kPublished, b)));
      BOOST_TEST(std::isnan(clv::p_alive(kPublished, b)));
      BOOST_TEST(std::isnan(clv::expected_purchases(kPublished, b, 39)));
      BOOST_TEST(std::isnan(clv::lifetime_value(kPublished, kPublishedGg, b, 52, 0.1, TimeUnit::kWeek)));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_parameters_and_horizons_give_nan) {
  const Summary s{2, 30.43, 38.86, 22.35};
  for (const BgNbdParams& m : {BgNbdParams{0, 4, 0.8, 2.4}, BgNbdParams{0.2, -4, 0.8, 2.4},
                               BgNbdParams{0.2, 4, kNaN, 2.4}, BgNbdParams{0.2, 4, 0.8, 0}}) {
    BOOST_TEST(std::isnan(clv::bgnbd_log_likelihood(m, s)));
    BOOST_TEST(std::isnan(clv::p_alive(m, s)));
    BOOST_TEST(std::isnan(clv::expected_purchases(m, s, 39)));
    BOOST_TEST(std::isnan(clv::expected_purchases_new(m, 39)));
  }
  BOOST_TEST(std::isnan(clv::expected_purchases(kPublished, s, -1)));
  BOOST_TEST(std::isnan(clv::expected_purchases(kPublished, s, kNaN)));
  BOOST_TEST(std::isnan(clv::expected_purchases_new(kPublished, std::numeric_limits<double>::infinity())));
  BOOST_TEST(std::isnan(clv::gamma_gamma_log_likelihood({0, 3, 15}, s)));
  BOOST_TEST(std::isnan(clv::gamma_gamma_log_likelihood(kPublishedGg, {0, 0, 10, 0})));
  BOOST_TEST(std::isnan(clv::expected_value({6.25, 3.74, -1}, s)));
}

BOOST_AUTO_TEST_CASE(too_little_data_is_a_failed_precondition) {
  auto expect = [](const auto& result, const char* what) {
    BOOST_TEST_CONTEXT(what) {
      BOOST_TEST_REQUIRE(!result.has_value());
      BOOST_TEST(result.error().code() == ErrorCode::kFailedPrecondition);
      BOOST_TEST(!result.error().message().empty());
    }
  };
  const std::vector<Summary> none;
  expect(clv::fit_bgnbd(none), "bgnbd: empty");
  expect(clv::fit_gamma_gamma(none), "gamma-gamma: empty");
  const std::vector<Summary> one{{2, 30.43, 38.86, 22.35}};
  expect(clv::fit_bgnbd(one), "bgnbd: one customer");
  expect(clv::fit_gamma_gamma(one), "gamma-gamma: one customer");
  std::vector<Summary> nobody_repeats;
  for (int i = 0; i < 100; ++i) nobody_repeats.push_back({0, 0, 10.0 + i % 30, 0});
  expect(clv::fit_bgnbd(nobody_repeats), "bgnbd: nobody repeats");
  expect(clv::fit_gamma_gamma(nobody_repeats), "gamma-gamma: nobody repeats");
  // Repeat purchases of no value are outside the Gamma-Gamma's support.
  std::vector<Summary> no_value = nobody_repeats;
  no_value[3] = {2, 5, 12, 0};
  no_value[4] = {1, 5, 12, 0};
  expect(clv::fit_gamma_gamma(no_value), "gamma-gamma: repeats of no value");
  no_value[5] = {1, 5, 12, 7};
  expect(clv::fit_gamma_gamma(no_value), "gamma-gamma: one repeat of value");
}

// Small and odd data sets: a fit either succeeds with finite numbers or says why it cannot;
// nothing throws.
BOOST_AUTO_TEST_CASE(odd_data_never_throws_and_fits_are_finite) {
  std::vector<std::vector<Summary>> sets;
  sets.push_back({{1, 5, 10, 20}, {0, 0, 10, 0}});
  sets.push_back({{1, 5, 10, 20}, {1, 5, 10, 20}, {1, 5, 10, 20}});  // identical customers
  sets.push_back({{3, 10, 10, 20}, {5, 10, 10, 30}, {2, 10, 10, 25}});  // all alive at T
  sets.push_back({{1, 1e-9, 1e6, 1e-9}, {1e5, 1e6, 1e6, 1e9}, {0, 0, 1e-9, 0}});  // extremes
  sets.push_back({{0, 0, 0, 0}, {0, 0, 0, 0}, {2, 3, 4, 5}});  // T = 0: first purchase today
  std::vector<Summary> cut(cdnow().begin(), cdnow().begin() + 25);
  sets.push_back(cut);
  for (std::size_t i = 0; i < sets.size(); ++i) {
    BOOST_TEST_CONTEXT("set " << i) {
      Result<clv::Fit<BgNbdParams>> bg = make_error(ErrorCode::kInternal, "not run");
      BOOST_CHECK_NO_THROW(bg = clv::fit_bgnbd(sets[i]));
      if (bg) {
        BOOST_TEST(std::isfinite(bg->params.r));
        BOOST_TEST(std::isfinite(bg->params.alpha));
        BOOST_TEST(std::isfinite(bg->params.a));
        BOOST_TEST(std::isfinite(bg->params.b));
        BOOST_TEST(std::isfinite(bg->log_likelihood));
      } else {
        BOOST_TEST(bg.error().code() == ErrorCode::kFailedPrecondition, bg.error().to_string());
      }
      Result<clv::Fit<GammaGammaParams>> gg = make_error(ErrorCode::kInternal, "not run");
      BOOST_CHECK_NO_THROW(gg = clv::fit_gamma_gamma(sets[i]));
      if (gg) {
        BOOST_TEST(std::isfinite(gg->params.p));
        BOOST_TEST(std::isfinite(gg->params.q));
        BOOST_TEST(std::isfinite(gg->params.gamma));
        BOOST_TEST(std::isfinite(gg->log_likelihood));
      } else {
        BOOST_TEST(gg.error().code() == ErrorCode::kFailedPrecondition, gg.error().to_string());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
