// src/analytics/models.cc — the CLV models of custdb::clv (include/custdb/analytics.h): BG/NBD
// and Gamma-Gamma, fitted by maximum likelihood and scored in closed form.
//
// Sources and formulas:
//  - BG/NBD: P. S. Fader, B. G. S. Hardie, K. L. Lee, "'Counting Your Customers' the Easy Way:
//    An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 2005 (FHL 2005).
//      eq. (6)  individual likelihood L(r,α,a,b | x,t_x,T)            -> bgnbd_log_likelihood
//      eq. (9)  E[X(t)] for a new customer                             -> expected_purchases_new
//      eq. (10) E[Y(t) | x,t_x,T], purchases in (T, T+t]               -> expected_purchases
//      P(alive | x,t_x,T), as in Fader, Hardie & Lee's note "Computing P(alive) Using the BG/NBD
//      Model" (one over the denominator of eq. (10)):
//          1 / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))       -> p_alive
//  - Gamma-Gamma: P. S. Fader, B. G. S. Hardie, "The Gamma-Gamma Model of Monetary Value", 2013
//    note (after Colombo & Jiang 1999; also Fader, Hardie & Lee, "RFM and CLV", JMR 2005). The
//    density of the mean repeat spend zbar given x:
//      f(zbar | p,q,γ,x) = Γ(px+q) / (Γ(px)Γ(q)) · γ^q zbar^(px−1) x^(px) / (γ + x·zbar)^(px+q)
//                                                                      -> gamma_gamma_log_likelihood
//    and the posterior mean spend per purchase
//      E[Z | p,q,γ,x,zbar] = p(γ + x·zbar) / (px + q − 1)              -> expected_value
//
// How eq. (9)/(10) are evaluated. With z = t/(α+T+t) (so 1 − z = (α+T)/(α+T+t)), Euler's
// transformation 2F1(a1,b1;c;z) = (1−z)^(c−a1−b1) 2F1(c−a1,c−b1;c;z) turns the bracket of eq. (10)
// into  1 − (1−z)^(a−1) · 2F1(A, a−1; C; z)  with  A = a+b−1−r,  C = a+b+x−1.  Writing
// 2F1(A, a−1; C; z) = 1 + (a−1)/C · S(z),  S(z) = Σ_{n≥1} (A)_n (a)_{n−1} / ((C+1)_{n−1} n!) z^n,
// the numerator of eq. (10) becomes
//      C/(a−1) · [1 − (1−z)^(a−1) F] = −C·ln(1−z)·φ((a−1)ln(1−z)) − (1−z)^(a−1) · S(z),
// φ(y) = (e^y − 1)/y. This is the same number, but it has no division by a−1 (a = 1 is the
// removable singularity of eq. (9)/(10), handled as its limit, not NaN), none by C (a+b = 1 with
// x = 0), and no (1−z)^(−(r+x)) growth for large x. a < 1 needs nothing special: eq. (9)/(10) hold
// for every a > 0 (E[X(∞)] is then infinite, not the finite (a+b−1)/(a−1)). S(z) is summed in long
// double until the bound on its tail drops below 1e-17 of the sum; terms are eventually positive
// and shrink like n^(a−r−x−2) z^n, so for z > 0.99 (t > 99·(α+T)) the numerator is instead
// integrated numerically from its definition (see alive_purchases_integral); the two agree to
// ~1e-13 where both apply.
#include <boost/math/quadrature/tanh_sinh.hpp>
#include <nlopt.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <optional>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "custdb/analytics.h"

namespace custdb::clv {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ln Γ(v) for v > 0. lgamma_r does not write the global signgam, so it is thread-safe.
double lgam(double v) {
#if defined(__GLIBC__) || defined(__APPLE__)
  int sign;
  return ::lgamma_r(v, &sign);
#else
  return std::lgamma(v);
#endif
}
double lbeta(double a, double b) { return lgam(a) + lgam(b) - lgam(a + b); }

// ln(e^u + e^v) without overflow.
double log_add_exp(double u, double v) {
  double hi = std::max(u, v), lo = std::min(u, v);
  if (hi == -std::numeric_limits<double>::infinity()) return hi;
  return hi + std::log1p(std::exp(lo - hi));
}

bool positive(double v) { return std::isfinite(v) && v > 0; }
bool valid(const BgNbdParams& m) {
  return positive(m.r) && positive(m.alpha) && positive(m.a) && positive(m.b);
}
bool valid(const GammaGammaParams& m) { return positive(m.p) && positive(m.q) && positive(m.gamma); }

Status validate_rows(std::span<const Summary> customers) {
  for (std::size_t i = 0; i < customers.size(); ++i)
    if (const char* why = summary_problem(customers[i]))
      return make_error(ErrorCode::kInvalidArgument,
                        (customers[i].id != 0
                             ? "customer " + std::to_string(customers[i].id)
                             : "customer at position " + std::to_string(i) + " (no id given)") +
                            ": " + why);
  return {};
}

// ---- the optimiser ------------------------------------------------------------------------------

// Bounds on the log-parameters: every parameter in [1e-13, 1e13], far outside anything real data
// give, so that an optimum on a bound means the data do not identify the model.
constexpr double kLogBound = 30.0;
constexpr double kBoundSlack = 1e-3;
constexpr double kPenalty = 1e100;  // objective where the likelihood is not finite

struct Optimum {
  std::vector<double> theta;
  double value = 0;  // minimised objective
  int evaluations = 0;
  bool converged = false;
};

// Minimises f over theta (log-parameters) with NLopt's Nelder-Mead simplex, restarting from the
// best point until a restart no longer improves the objective (the simplex can collapse early
// on a curved valley; a fresh simplex fixes that). Deterministic: no random numbers involved.
// converged: the last run stopped on its tolerances, not on its evaluation limit, and did not
// improve on the one before.
using Objective = std::function<double(const double* theta)>;
Result<Optimum> minimise(const Objective& f, std::vector<double> theta, const char* model) {
  const unsigned n = static_cast<unsigned>(theta.size());
  struct Data {
    const Objective* f;
    int evaluations = 0;
  } data{&f};
  auto objective = [](unsigned, const double* x, double*, void* d) -> double {
    auto* data = static_cast<Data*>(d);
    ++data->evaluations;
    double v = (*data->f)(x);
    return std::isfinite(v) ? v : kPenalty;
  };
  double best = objective(n, theta.data(), nullptr, &data);
  if (best >= kPenalty)
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string(model) + " fit: the likelihood is not finite at the start");
  constexpr int kMaxRuns = 8;
  constexpr int kMaxEvaluationsPerRun = 4000;
  bool converged = false;
  for (int run = 0; run < kMaxRuns; ++run) {
    try {
      nlopt::opt opt(nlopt::LN_NELDERMEAD, n);
      opt.set_lower_bounds(std::vector<double>(n, -kLogBound));
      opt.set_upper_bounds(std::vector<double>(n, kLogBound));
      opt.set_min_objective(objective, &data);
      opt.set_xtol_rel(1e-10);
      opt.set_xtol_abs(1e-10);
      opt.set_ftol_rel(1e-14);  // the objective is a mean log-likelihood, ~1; double noise ~1e-15
      opt.set_maxeval(kMaxEvaluationsPerRun);
      opt.set_initial_step(run == 0 ? 0.5 : 0.1);
      std::vector<double> x = theta;
      double fx = best;
      nlopt::result how = nlopt::SUCCESS;
      try {
        how = opt.optimize(x, fx);
      } catch (const nlopt::roundoff_limited&) {
        // x and fx hold the best point found: usable when finite.
        fx = objective(n, x.data(), nullptr, &data);
      }
      if (!std::isfinite(fx) || fx >= kPenalty || fx > best) {
        converged = how != nlopt::MAXEVAL_REACHED;
        break;
      }
      bool improved = best - fx > 1e-13 * std::max(1.0, std::abs(best));
      theta = std::move(x);
      best = fx;
      converged = how != nlopt::MAXEVAL_REACHED && !improved;
      if (!improved) break;
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kFailedPrecondition,
                        std::string(model) + " fit: the optimiser failed: " + e.what());
    }
  }
  return Optimum{std::move(theta), best, data.evaluations, converged};
}

// Runs minimise from each start; returns the best optimum and how many starts agreed with it.
struct MultiOptimum {
  Optimum best;
  int evaluations = 0;
  int agreed = 0;
  int starts = 0;
};
Result<MultiOptimum> minimise_from(const Objective& f, const std::vector<std::vector<double>>& starts,
                                   const char* model) {
  std::vector<Optimum> found;
  std::optional<Error> first_error;
  MultiOptimum out;
  for (const auto& start : starts) {
    auto opt = minimise(f, start, model);
    if (!opt) {
      if (!first_error) first_error = opt.error();
      continue;
    }
    out.evaluations += opt->evaluations;
    found.push_back(std::move(*opt));
  }
  if (found.empty()) return tl::unexpected(*first_error);
  std::size_t best = 0;
  for (std::size_t i = 1; i < found.size(); ++i)
    if (found[i].value < found[best].value) best = i;
  for (const Optimum& o : found) {
    bool same = std::abs(o.value - found[best].value) <=
                1e-7 * std::max(1.0, std::abs(found[best].value));
    for (std::size_t j = 0; same && j < o.theta.size(); ++j)
      same = std::abs(o.theta[j] - found[best].theta[j]) <= 1e-3;
    if (same) ++out.agreed;
  }
  out.starts = static_cast<int>(starts.size());
  out.best = std::move(found[best]);
  return out;
}

// kFailedPrecondition when a parameter ran to a bound (the maximum is at infinity or zero), or
// a shape parameter (dimensionless: shape[i] true) left [1e-6, 1e6]: the likelihood then rises
// toward a limit of the model without the heterogeneity it describes (a gamma or beta mixing
// distribution collapsing to a point), which real customer bases do not show and which the
// data cannot tell apart from ever larger values.
constexpr double kShapeLimit = 1e6;
Status check_bounds(const std::vector<double>& theta, const char* const* names,
                    const bool* shape, const char* const* meaning, const char* model) {
  for (std::size_t i = 0; i < theta.size(); ++i) {
    if (std::abs(theta[i]) > kLogBound - kBoundSlack)
      return make_error(ErrorCode::kFailedPrecondition,
                        std::string(model) + " fit is degenerate: " + names[i] +
                            (theta[i] > 0 ? " grows without bound" : " shrinks to zero") +
                            " (the data do not identify the model)");
    if (shape[i] && std::abs(theta[i]) > std::log(kShapeLimit)) {
      char value[32];
      std::snprintf(value, sizeof value, "%.3g", std::exp(theta[i]));
      return make_error(ErrorCode::kFailedPrecondition,
                        std::string(model) + " fit is degenerate: " + names[i] + " runs to " +
                            value + (theta[i] > 0 ? " (above 1e6" : " (below 1e-6") +
                            "): the data show no heterogeneity in " + meaning[i] +
                            ", so the likelihood keeps rising toward a limit of the model "
                            "(the data do not identify it; too little variation, or data the "
                            "model does not describe)");
    }
  }
  return {};
}

// ---- E[Y(t)] -----------------------------------------------------------------------------------

// Beyond this z the series needs more than ~4,000 terms and the quadrature is faster.
constexpr double kSeriesMaxZ = 0.99;

// φ(y) = (e^y − 1)/y, 1 at 0.
double expm1_ratio(double y) { return y == 0 ? 1.0 : std::expm1(y) / y; }

// The numerator of eq. (10) by the series S(z) of the comment at the top. NaN if it does not
// converge within n_max terms.
double alive_purchases_series(const BgNbdParams& m, double x, double z, double L) {
  const long double A = m.a + m.b - 1 - m.r;
  const long double C = m.a + m.b + x - 1;
  const long double a = m.a;
  const long double zl = z;
  // S(z) = Σ_{n≥1} term_n, term_1 = A z, term_{n+1} = term_n · (A+n)(a+n−1) / ((C+n)(n+1)) · z.
  long double term = A * zl, sum = term;
  constexpr long n_max = 1'000'000;
  bool converged = false;
  for (long n = 1; n < n_max; ++n) {
    if (term == 0) {
      converged = true;
      break;
    }
    const long double ratio = (A + n) * (a + n - 1) / ((C + n) * (n + 1)) * zl;
    term *= ratio;
    sum += term;
    // Past the largest term, the tail is at most term · q/(1 − q), q = max(ratio, z) (the
    // ratios tend to z).
    const long double q = std::max(std::abs(ratio), zl);
    if (q < 1 && std::abs(term) * q / (1 - q) <= 1e-17L * std::abs(sum)) {
      converged = true;
      break;
    }
  }
  if (!converged) return kNaN;
  const double y = (m.a - 1) * L;
  return static_cast<double>(-C * L * expm1_ratio(y) - std::exp(static_cast<long double>(y)) * sum);
}

// The numerator of eq. (10) from its derivation (FHL 2005, appendix): with u = t/(α+T) and
// k = r + x it is the posterior mean of (1 − e^(−λpt))/p given "alive at T", which after
// integrating λ out is
//     1/B(a, b+x) · ∫_0^1 p^(a−2) (1−p)^(b+x−1) [1 − (1 + p·u)^(−k)] dp,
// computed by tanh-sinh quadrature (the endpoint singularities p^(a−1), (1−p)^(b+x−1) are what
// it is made for). Used where the series converges slowly (z near 1: t ≫ α + T).
double alive_purchases_integral(const BgNbdParams& m, double x, double u) {
  // One per thread: Boost 1.74 declares the [−1, 1] overload taking the complement non-const.
  thread_local boost::math::quadrature::tanh_sinh<double> integrator;
  const double a = m.a, e = m.b + x - 1, k = m.r + x;
  // On v ∈ [−1, 1], p = (1+v)/2; vc is the distance to the nearer end, so 1 − p stays exact.
  auto f = [&](double v, double vc) {
    double p, q;
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
    const double pu = p * u;  // [1 − (1 + pu)^(−k)] / p, k·u in the limit p → 0
    const double ratio =
        pu < 1e-10 ? k * u * (1 - (k + 1) * pu / 2) : -std::expm1(-k * std::log1p(pu)) / p;
    return 0.5 * std::pow(p, a - 1) * std::pow(q, e) * ratio;
  };
  try {
    const double integral = integrator.integrate(f, 1e-12);
    return std::exp(std::log(integral) - lbeta(a, m.b + x));
  } catch (const std::exception&) {  // Boost.Math reports non-finite values by exceptions
    return kNaN;
  }
}

// The numerator of eq. (10) as printed: (a+b+x−1)/(a−1) · [1 − (K/(K+t))^(r+x) · 2F1(r+x, b+x;
// a+b+x−1; z)], the series summed in long double. Used when a ≥ 2, where the printed form has
// no cancellation worth fearing and converges geometrically (term ratios tend to
// z·(b+x)/(a+b+x−1) < z), whereas the transformed series above needs ~a·z terms before its
// terms shrink: hopeless for the very large a a fit on data without dropout produces. NaN when
// it does not converge.
double alive_purchases_printed(const BgNbdParams& m, double x, double K, double t, double z) {
  const long double a1 = m.r + x, b1 = m.b + x, c1 = m.a + m.b + x - 1, zl = z;
  long double term = 1, sum = 1;
  for (long n = 0; n < 200'000; ++n) {
    term *= (a1 + n) * (b1 + n) / ((c1 + n) * (n + 1)) * zl;
    sum += term;
    if (std::abs(term) <= 1e-18L * std::abs(sum) && n > 2) {
      const long double scale = std::pow(static_cast<long double>(K) / (K + t), a1);
      return static_cast<double>(c1 / (m.a - 1) * (1 - scale * sum));
    }
  }
  return kNaN;
}

// The numerator of eq. (10) (eq. (9) when x = 0 and T = 0): the expected purchases in the next t
// of a customer alive now, with K = α + T.
double alive_purchases(const BgNbdParams& m, double x, double K, double t) {
  if (t == 0) return 0;
  const double u = t / K;
  const double z = t / (K + t);
  if (m.a >= 2)
    if (double v = alive_purchases_printed(m, x, K, t, z); std::isfinite(v)) return v;
  if (z > kSeriesMaxZ) return alive_purchases_integral(m, x, u);
  return alive_purchases_series(m, x, z, -std::log1p(u));
}

// ---- E[Y(k)] for k = 1..H in time linear in H ------------------------------------------------
//
// lifetime_value needs the numerator N(k) of eq. (10) at every period k = 1..H. Evaluated from
// scratch, each costs a series of ~1/(1−z) terms (or a quadrature), z = k/(K+k): the sum is
// quadratic in H. Instead N is advanced from period to period. With L = ln(1−z), the comment at
// the top gives N = −C·L·φ((a−1)L) − (1−z)^(a−1)·S(z), and S = C/(a−1)·(2F1(A, a−1; C; z) − 1)
// satisfies the hypergeometric equation with a constant right-hand side (L[1] = −A(a−1)):
//     z(1−z)·S'' + [C − (A+a)·z]·S' − A(a−1)·S = A·C,
// valid at a = 1 too. S and S' are seeded once at z = 1/2 by the series, then carried from z_k
// to z_{k+1} by the Taylor series of S about z_k, whose coefficients follow from the equation
// (a three-term recurrence); the step is 1/(K+k+1) of the distance to the singular point z = 1,
// so a few terms reach long double precision. Periods with z ≤ 1/2 (k ≤ K), where the series
// converges geometrically, are evaluated directly. Checked: the last period is also evaluated
// directly, and if the two differ by more than 1e-10 (relative) or anything is not finite, every
// period is evaluated directly instead (the former, quadratic, way).

// Advances y and y' of  z(1−z)·y'' + [c − (a1+b1+1)·z]·y' − a1·b1·y = f  from z to z_to < 1, by
// Taylor series, in steps of at most half the distance to z = 1. false if a series does not
// converge.
// 1/((n+1)(n+2)) for the first terms: a division per term is most of a step's cost.
constexpr int kInversePairs = 32;
constexpr auto kInversePair = [] {
  std::array<long double, kInversePairs> out{};
  for (int n = 0; n < kInversePairs; ++n) out[n] = 1.0L / ((n + 1) * (n + 2));
  return out;
}();

struct HypergeometricEquation {
  long double a1, b1, c, f;
};
bool advance(const HypergeometricEquation& e, long double& z_io, long double z_to_in,
             long double& y_io, long double& dy_io) {
  // In double (SSE): x87 long double arithmetic was most of the cost, and the end check of
  // alive_purchases_each_period bounds the error either way.
  double z = static_cast<double>(z_io), y = static_cast<double>(y_io), dy = static_cast<double>(dy_io);
  const double z_to = static_cast<double>(z_to_in);
  while (z < z_to) {
    const double h = std::min(z_to - z, (1 - z) / 2);
    const double p0 = z * (1 - z), p1 = 1 - 2 * z, q0 = static_cast<double>(e.c) - static_cast<double>(e.a1 + e.b1 + 1) * z;
    const double inv_p0 = 1 / p0;
    double c_n = y, c_n1 = dy;  // Taylor coefficients c_n, c_{n+1}
    double h_n1 = h;            // h^(n+1)
    double sum = y + dy * h, dsum = dy;
    int small = 0;
    bool converged = false;
    for (int n = 0; n < 4000; ++n) {
      // (n+1)(n+2)·p0·c_{n+2} = f·[n=0] − (n+1)(p1·n + q0)·c_{n+1} + (n+a1)(n+b1)·c_n
      const double c_n2 = ((n == 0 ? static_cast<double>(e.f) : 0.0) - (n + 1) * (p1 * n + q0) * c_n1 +
                                (n + static_cast<double>(e.a1)) * (n + static_cast<double>(e.b1)) * c_n) *
                               inv_p0 * (n < kInversePairs ? static_cast<double>(kInversePair[n]) : 1.0 / ((n + 1) * (n + 2)));
      const double dterm = (n + 2) * c_n2 * h_n1;
      h_n1 *= h;
      const double term = c_n2 * h_n1;
      sum += term;
      dsum += dterm;
      c_n = c_n1;
      c_n1 = c_n2;
      if (!std::isfinite(sum) || !std::isfinite(dsum))
        return false;
      const double scale = std::abs(sum) + std::abs(dsum) * h;
      if (std::abs(term) <= 1e-19 * scale && std::abs(dterm) * h <= 1e-19 * scale) {
        if (++small == 2) {
          converged = true;
          break;
        }
      } else {
        small = 0;
      }
    }
    if (!converged) return false;
    y = sum;
    dy = dsum;
    z = h == z_to - z ? z_to : z + h;
  }
  z_io = z;
  y_io = y;
  dy_io = dy;
  return true;
}

// S(z) and S'(z) of the comment above by their series (z ≤ 1/2). false if it does not converge.
bool seed_s(const BgNbdParams& m, double x, long double z, long double& s, long double& ds) {
  const long double A = m.a + m.b - 1 - m.r, C = m.a + m.b + x - 1, a = m.a;
  long double term = A * z, sum = term, dsum = A;  // term_n; S' = Σ n·term_n / z
  for (long n = 1; n < 10'000'000; ++n) {
    if (term == 0) break;
    const long double ratio = (A + n) * (a + n - 1) / ((C + n) * (n + 1)) * z;
    term *= ratio;
    sum += term;
    dsum += (n + 1) * term / z;
    const long double q = std::max(std::abs(ratio), z);
    if (q < 1 && std::abs(term) * (n + 2) * q / ((1 - q) * (1 - q)) <=
                     1e-19L * (std::abs(sum) + std::abs(dsum) * z))
      break;
    if (n == 10'000'000 - 1 || !std::isfinite(static_cast<double>(sum))) return false;
  }
  s = sum;
  ds = dsum;
  return true;
}

// N(k) for k = 0..horizon into out (out[0] = 0), as described above.
void alive_purchases_each_period(const BgNbdParams& m, double x, double K, int horizon,
                                 std::vector<double>& out) {
  out.assign(static_cast<std::size_t>(horizon) + 1, 0.0);
  int k = 1;
  for (; k <= horizon && k <= K; ++k) out[k] = alive_purchases(m, x, K, k);
  if (k > horizon) return;
  const long double A = m.a + m.b - 1 - m.r, C = m.a + m.b + x - 1;
  const HypergeometricEquation eq{A, m.a - 1.0L, C, A * C};
  long double z = 0.5L, s, ds;
  bool ok = seed_s(m, x, z, s, ds);
  const int first_stepped = k;
  for (; ok && k <= horizon; ++k) {
    const long double z_k = static_cast<long double>(k) / (K + static_cast<long double>(k));
    if (!advance(eq, z, z_k, s, ds)) {
      ok = false;
      break;
    }
    const double L = -std::log1p(static_cast<double>(k) / K);  // ln(1 − z_k)
    const double y = (m.a - 1) * L;
    out[k] = static_cast<double>(-C * L * expm1_ratio(y) - std::exp(y) * s);
    if (!std::isfinite(out[k])) ok = false;
  }
  if (ok) {
    const double direct = alive_purchases(m, x, K, horizon);
    ok = std::isfinite(direct) &&
         std::abs(direct - out[horizon]) <= 1e-10 * std::max(std::abs(direct), 1e-300);
  }
  if (!ok)
    for (k = first_stepped; k <= horizon; ++k) out[k] = alive_purchases(m, x, K, k);
}

// ln of the second term of the denominator of eq. (10) / P(alive): ln[a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)].
double log_dropout_odds(const BgNbdParams& m, const Summary& s) {
  return std::log(m.a) - std::log(m.b + s.x - 1) +
         (m.r + s.x) * std::log1p((s.T - s.t_x) / (m.alpha + s.t_x));
}

double p_alive_unchecked(const BgNbdParams& m, const Summary& s) {
  if (s.x == 0) return 1.0;
  return 1.0 / (1.0 + std::exp(log_dropout_odds(m, s)));  // e^big = inf gives 0, as it should
}

}  // namespace

// T = 0 is data (first purchase on the as-of day, so x = t_x = 0): it contributes ln L = 0 to the
// BG/NBD likelihood and P(alive) = 1. A negative or zero monetary_value is data too (refunds
// outweigh the repeat purchases): the Gamma-Gamma fit leaves such customers out.
const char* summary_problem(const Summary& s) {
  if (!std::isfinite(s.x) || !std::isfinite(s.t_x) || !std::isfinite(s.T) ||
      !std::isfinite(s.monetary_value))
    return "a value is not finite";
  if (s.x < 0) return "x (frequency) is negative";
  if (s.x != std::floor(s.x)) return "x (frequency) is not a whole number";
  if (s.t_x < 0) return "t_x (recency) is negative";
  if (s.T < 0) return "T is negative";
  if (s.t_x > s.T) return "t_x (recency) exceeds T";
  if (s.x > 0 && s.t_x == 0) return "x > 0 needs t_x > 0 (repeat purchases come after the first)";
  if (s.x == 0 && s.t_x != 0) return "x = 0 needs t_x = 0";
  return nullptr;
}

// ---- log-likelihoods ---------------------------------------------------------------------------

double bgnbd_log_likelihood(const BgNbdParams& m, const Summary& s) {
  if (!valid(m) || summary_problem(s)) return kNaN;
  const double x = s.x, r = m.r, alpha = m.alpha;
  const double common =
      lgam(r + x) - lgam(r) + r * std::log(alpha) + lbeta(m.a, m.b + x) - lbeta(m.a, m.b);
  const double l1 = -(r + x) * std::log(alpha + s.T);
  if (x == 0) return common + l1;
  // B(a+1, b+x−1) / B(a, b+x) = a / (b+x−1).
  const double l2 = std::log(m.a) - std::log(m.b + x - 1) - (r + x) * std::log(alpha + s.t_x);
  return common + log_add_exp(l1, l2);
}

double gamma_gamma_log_likelihood(const GammaGammaParams& m, const Summary& s) {
  if (!valid(m) || summary_problem(s) || s.x <= 0 || s.monetary_value <= 0) return kNaN;
  const double px = m.p * s.x, q = m.q, g = m.gamma, z = s.monetary_value;
  return lgam(px + q) - lgam(px) - lgam(q) + q * std::log(g) + (px - 1) * std::log(z) +
         px * std::log(s.x) - (px + q) * std::log(g + s.x * z);
}

// ---- fits ---------------------------------------------------------------------------------------

Result<Fit<BgNbdParams>> fit_bgnbd(std::span<const Summary> customers) {
  if (auto ok = validate_rows(customers); !ok) return tl::unexpected(ok.error());
  if (customers.size() < 2)
    return make_error(ErrorCode::kFailedPrecondition,
                      "BG/NBD fit needs at least 2 customers; got " + std::to_string(customers.size()));
  // Identical rows contribute identical terms: fit on the distinct (x, t_x, T) with weights, and
  // the terms that depend on x alone once per distinct x.
  std::map<std::tuple<double, double, double>, double> distinct;
  std::uint64_t repeaters = 0;
  double sum_T = 0, sum_x = 0;
  for (const Summary& s : customers) {
    distinct[{s.x, s.t_x, s.T}] += 1;
    if (s.x > 0) ++repeaters;
    sum_T += s.T;
    sum_x += s.x;
  }
  if (repeaters == 0)
    return make_error(ErrorCode::kFailedPrecondition,
                      "BG/NBD fit needs repeat purchases; no customer has x > 0");
  if (sum_T == 0)
    return make_error(ErrorCode::kFailedPrecondition, "BG/NBD fit needs T > 0 for some customer");
  if (distinct.size() < 2)
    return make_error(ErrorCode::kFailedPrecondition,
                      "BG/NBD fit: too little variation in the data: all " +
                          std::to_string(customers.size()) +
                          " customers have the same frequency, recency and T (the model's "
                          "heterogeneity cannot be estimated)");
  struct Row {
    std::size_t xi;  // index into xs
    double t_x, T, weight;
  };
  std::vector<double> xs;
  std::vector<Row> rows;
  rows.reserve(distinct.size());
  for (const auto& [key, weight] : distinct) {
    const auto& [x, t_x, T] = key;
    if (xs.empty() || xs.back() != x) xs.push_back(x);  // the map is sorted by x first
    rows.push_back({xs.size() - 1, t_x, T, weight});
  }
  const double n = static_cast<double>(customers.size());
  std::vector<double> x_common(xs.size()), x_odds(xs.size());
  auto neg_mean_ll = [&](const double* theta) -> double {
    const double r = std::exp(theta[0]), alpha = std::exp(theta[1]), a = std::exp(theta[2]),
                 b = std::exp(theta[3]);
    const double base = -lgam(r) + r * std::log(alpha) - lbeta(a, b);
    for (std::size_t j = 0; j < xs.size(); ++j) {
      x_common[j] = base + lgam(r + xs[j]) + lbeta(a, b + xs[j]);
      x_odds[j] = xs[j] > 0 ? std::log(a) - std::log(b + xs[j] - 1) : 0;
    }
    double ll = 0;
    for (const Row& row : rows) {
      const double x = xs[row.xi];
      double l = -(r + x) * std::log(alpha + row.T);
      if (x > 0) l = log_add_exp(l, x_odds[row.xi] - (r + x) * std::log(alpha + row.t_x));
      ll += row.weight * (x_common[row.xi] + l);
    }
    return -ll / n;
  };
  // Start: r = 1, a = 1, b = 1, and α so that the mean rate r/α matches the purchases per unit.
  // Two more starts on either side (same mean rate r/α) tell a well-identified optimum from a
  // flat ridge or a second optimum.
  const double rate = std::max(sum_x / sum_T, 1e-6);
  const double l_rate = std::log(rate), l2 = std::log(2.0);
  auto multi = minimise_from(neg_mean_ll,
                             {{0.0, -l_rate, 0.0, 0.0},
                              {-l2, -l2 - l_rate, -l2, l2},
                              {l2, l2 - l_rate, l2, -l2}},
                             "BG/NBD");
  if (!multi) return tl::unexpected(multi.error());
  const Optimum& opt = multi->best;
  static const char* const kNames[] = {"r", "alpha", "a", "b"};
  static const bool kShape[] = {true, false, true, true};
  static const char* const kMeaning[] = {"purchase rates", "", "dropout probabilities",
                                         "dropout probabilities"};
  if (auto ok = check_bounds(opt.theta, kNames, kShape, kMeaning, "BG/NBD"); !ok)
    return tl::unexpected(ok.error());
  Fit<BgNbdParams> fit;
  fit.params = {std::exp(opt.theta[0]), std::exp(opt.theta[1]), std::exp(opt.theta[2]),
                std::exp(opt.theta[3])};
  fit.log_likelihood = -opt.value * n;
  fit.customers = customers.size();
  fit.iterations = multi->evaluations;
  fit.diagnostics = {opt.converged, multi->agreed, multi->starts, -opt.value};
  return fit;
}

Result<Fit<GammaGammaParams>> fit_gamma_gamma(std::span<const Summary> customers) {
  if (auto ok = validate_rows(customers); !ok) return tl::unexpected(ok.error());
  struct Row {
    std::size_t xi;
    double x, log_x, zbar, log_zbar;
  };
  std::vector<Row> rows;
  std::vector<double> xs;
  double sum_zbar = 0, min_zbar = 0, max_zbar = 0;
  std::uint64_t no_repeat = 0, non_positive = 0;
  for (const Summary& s : customers) {
    // The model's support (Fader, Hardie & Lee 2005): repeat purchases of positive mean value.
    if (s.x <= 0) {
      ++no_repeat;
      continue;
    }
    if (s.monetary_value <= 0) {
      ++non_positive;
      continue;
    }
    if (rows.empty() || s.monetary_value < min_zbar) min_zbar = s.monetary_value;
    if (rows.empty() || s.monetary_value > max_zbar) max_zbar = s.monetary_value;
    rows.push_back({0, s.x, std::log(s.x), s.monetary_value, std::log(s.monetary_value)});
    xs.push_back(s.x);
    sum_zbar += s.monetary_value;
  }
  const std::string left_out = " (left out: " + std::to_string(no_repeat) +
                               " without repeat purchases, " + std::to_string(non_positive) +
                               " whose mean repeat value is 0 or negative)";
  if (rows.size() < 2)
    return make_error(ErrorCode::kFailedPrecondition,
                      "Gamma-Gamma fit needs at least 2 customers with repeat purchases of "
                      "positive value (x > 0, monetary_value > 0); got " +
                          std::to_string(rows.size()) + left_out);
  if (min_zbar == max_zbar)
    return make_error(ErrorCode::kFailedPrecondition,
                      "Gamma-Gamma fit: too little variation in the data: all " +
                          std::to_string(rows.size()) +
                          " customers used have the same mean repeat value" + left_out);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  for (Row& row : rows)
    row.xi = static_cast<std::size_t>(std::lower_bound(xs.begin(), xs.end(), row.x) - xs.begin());
  const double n = static_cast<double>(rows.size());
  std::vector<double> x_lg(xs.size());
  auto neg_mean_ll = [&](const double* theta) -> double {
    const double p = std::exp(theta[0]), q = std::exp(theta[1]), g = std::exp(theta[2]);
    for (std::size_t j = 0; j < xs.size(); ++j) x_lg[j] = lgam(p * xs[j] + q) - lgam(p * xs[j]);
    const double base = -lgam(q) + q * std::log(g);
    double ll = 0;
    for (const Row& row : rows) {
      const double px = p * row.x;
      ll += x_lg[row.xi] + (px - 1) * row.log_zbar + px * row.log_x -
            (px + q) * std::log(g + row.x * row.zbar);
    }
    return -(ll / n + base);
  };
  // Start: p = 1, q = 2 and γ = the mean zbar (the population mean pγ/(q−1) then matches it).
  // The other two starts keep that mean too: p = 4, q = 4, γ = 3/4 of it; p = q − 1 = 1/2.
  const double l_mean = std::log(sum_zbar / n);
  auto multi = minimise_from(neg_mean_ll,
                             {{0.0, std::log(2.0), l_mean},
                              {std::log(4.0), std::log(4.0), l_mean + std::log(0.75)},
                              {std::log(0.5), std::log(1.5), l_mean}},
                             "Gamma-Gamma");
  if (!multi) return tl::unexpected(multi.error());
  const Optimum& opt = multi->best;
  static const char* const kNames[] = {"p", "q", "gamma"};
  static const bool kShape[] = {true, true, false};
  static const char* const kMeaning[] = {"spend from purchase to purchase",
                                         "the customers' mean spend", ""};
  if (auto ok = check_bounds(opt.theta, kNames, kShape, kMeaning, "Gamma-Gamma"); !ok)
    return tl::unexpected(ok.error());
  Fit<GammaGammaParams> fit;
  fit.params = {std::exp(opt.theta[0]), std::exp(opt.theta[1]), std::exp(opt.theta[2])};
  fit.log_likelihood = -opt.value * n;
  fit.customers = rows.size();
  fit.iterations = multi->evaluations;
  fit.diagnostics = {opt.converged, multi->agreed, multi->starts, -opt.value};
  fit.excluded_no_repeat = no_repeat;
  fit.excluded_non_positive = non_positive;
  return fit;
}

// ---- scoring -----------------------------------------------------------------------------------

double p_alive(const BgNbdParams& m, const Summary& s) {
  if (!valid(m) || summary_problem(s)) return kNaN;
  return p_alive_unchecked(m, s);
}

double expected_purchases(const BgNbdParams& m, const Summary& s, double t) {
  if (!valid(m) || summary_problem(s) || !std::isfinite(t) || t < 0) return kNaN;
  return alive_purchases(m, s.x, m.alpha + s.T, t) * p_alive_unchecked(m, s);
}

double expected_purchases_new(const BgNbdParams& m, double t) {
  if (!valid(m) || !std::isfinite(t) || t < 0) return kNaN;
  return alive_purchases(m, 0, m.alpha, t);
}

double expected_value(const GammaGammaParams& m, const Summary& s) {
  if (!valid(m) || summary_problem(s) || m.q <= 1) return kNaN;
  // Outside the model's support (no repeat purchase, or refunds outweigh the repeat purchases):
  // the population mean, as the Gamma-Gamma fit left these customers out.
  if (s.x == 0 || s.monetary_value <= 0) return m.p * m.gamma / (m.q - 1);
  return m.p * (m.gamma + s.x * s.monetary_value) / (m.p * s.x + m.q - 1);
}

double lifetime_value(const BgNbdParams& bg, const GammaGammaParams& gg, const Summary& s,
                      int horizon, double annual_discount, TimeUnit unit) {
  if (!valid(bg) || summary_problem(s) || horizon < 0 || !std::isfinite(annual_discount) ||
      annual_discount < 0)
    return kNaN;
  double days;
  switch (unit) {
    case TimeUnit::kDay: days = 1; break;
    case TimeUnit::kWeek: days = 7; break;
    default: return kNaN;
  }
  const double value = expected_value(gg, s);
  if (!std::isfinite(value)) return kNaN;
  // E[Y(k)] = alive_purchases(k) · P(alive): P(alive) factors out of the sum.
  const double alive = p_alive_unchecked(bg, s);
  const double K = bg.alpha + s.T;
  const double log_growth = std::log1p(annual_discount) * days / 365.25;
  thread_local std::vector<double> purchases;  // N(k), k = 0..horizon
  alive_purchases_each_period(bg, s.x, K, horizon, purchases);
  double sum = 0;
  for (int k = 1; k <= horizon; ++k)
    sum += (purchases[k] - purchases[k - 1]) * std::exp(-log_growth * k);
  return value * alive * sum;
}

}  // namespace custdb::clv
