// Fitting the CLV models to the database's own RFM summary, storing the fitted model, and
// scoring every customer with it (custdb/analytics.h, docs/analytics.md).
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "analytics/analytics_internal.h"
#include "custdb/money.h"
#include "engine/analytics_access.h"

namespace custdb {
namespace {

std::uint64_t hash_rows(const std::vector<RfmRow>& rows) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const RfmRow& r : rows) {
    unsigned char bytes[40];
    std::memcpy(bytes, &r.id, 8);
    std::memcpy(bytes + 8, &r.frequency, 8);
    std::memcpy(bytes + 16, &r.recency, 8);
    std::memcpy(bytes + 24, &r.T, 8);
    std::memcpy(bytes + 32, &r.monetary_value, 8);
    XXH3_64bits_update(state, bytes, sizeof bytes);
  }
  std::uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

std::vector<clv::Summary> summaries(const std::vector<RfmRow>& rows) {
  std::vector<clv::Summary> out;
  out.reserve(rows.size());
  for (const RfmRow& r : rows)
    out.push_back({static_cast<double>(r.frequency), r.recency, r.T, r.monetary_value, r.id});
  return out;
}

// ---- the stored model: "name=value" lines, doubles in shortest round-trip form ----

std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string serialize(const ClvModel& m) {
  std::string kinds;
  for (auto k : m.kinds) kinds += (kinds.empty() ? "" : ",") + std::string(to_string(k));
  std::string out = "format=1\n";
  auto line = [&](const char* name, const std::string& v) { out += name + ("=" + v) + "\n"; };
  line("r", number(m.bgnbd.r));
  line("alpha", number(m.bgnbd.alpha));
  line("a", number(m.bgnbd.a));
  line("b", number(m.bgnbd.b));
  line("bgnbd_log_likelihood", number(m.bgnbd_log_likelihood));
  line("p", number(m.gamma_gamma.p));
  line("q", number(m.gamma_gamma.q));
  line("gamma", number(m.gamma_gamma.gamma));
  line("gamma_gamma_log_likelihood", number(m.gamma_gamma_log_likelihood));
  line("as_of", format_date(m.as_of));
  line("unit", std::string(to_string(m.unit)));
  line("kinds", kinds);
  line("debits_negative", m.debits_negative ? "1" : "0");
  line("non_positive_value_customers", std::to_string(m.non_positive_value_customers));
  line("excluded_no_profiling_consent", std::to_string(m.excluded_no_profiling_consent));
  auto diagnostics = [&](const char* prefix, const clv::FitDiagnostics& d) {
    line((std::string(prefix) + "_converged").c_str(), d.converged ? "1" : "0");
    line((std::string(prefix) + "_restarts_agreed").c_str(), std::to_string(d.restarts_agreed));
    line((std::string(prefix) + "_starts").c_str(), std::to_string(d.starts));
    line((std::string(prefix) + "_log_likelihood_per_customer").c_str(),
         number(d.log_likelihood_per_customer));
  };
  diagnostics("bgnbd", m.bgnbd_diagnostics);
  diagnostics("gamma_gamma", m.gamma_gamma_diagnostics);
  line("customers", std::to_string(m.customers));
  line("repeat_customers", std::to_string(m.repeat_customers));
  line("summary_hash", std::to_string(m.summary_hash));
  line("fitted_at", std::to_string(m.fitted_at.time_since_epoch().count()));
  return out;
}

Result<ClvModel> deserialize(std::string_view text) {
  std::map<std::string, std::string, std::less<>> kv;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    kv.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  auto bad = [](const std::string& what) {
    return make_error(ErrorCode::kCorruption, "stored CLV model: bad " + what);
  };
  if (kv["format"] != "1") return bad("format");
  ClvModel m;
  auto real = [&](const char* name, double& out) {
    const std::string& v = kv[name];
    if (v == "inf" || v == "-inf" || v == "nan") return false;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size();
  };
  auto whole = [&](const char* name, auto& out) {
    const std::string& v = kv[name];
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size();
  };
  std::int64_t fitted = 0;
  if (!real("r", m.bgnbd.r) || !real("alpha", m.bgnbd.alpha) || !real("a", m.bgnbd.a) ||
      !real("b", m.bgnbd.b) || !real("bgnbd_log_likelihood", m.bgnbd_log_likelihood) ||
      !real("p", m.gamma_gamma.p) || !real("q", m.gamma_gamma.q) ||
      !real("gamma", m.gamma_gamma.gamma) ||
      !real("gamma_gamma_log_likelihood", m.gamma_gamma_log_likelihood) ||
      !whole("customers", m.customers) || !whole("repeat_customers", m.repeat_customers) ||
      !whole("summary_hash", m.summary_hash) || !whole("fitted_at", fitted))
    return bad("number");
  m.fitted_at = Timestamp{std::chrono::milliseconds{fitted}};
  // Added with the sign convention and the fit diagnostics: a model stored before has none of
  // these lines and reads as purchases positive, no diagnostics recorded.
  auto optional_flag = [&](const char* name, bool& out) {
    auto it = kv.find(name);
    if (it == kv.end()) return true;
    if (it->second != "0" && it->second != "1") return false;
    out = it->second == "1";
    return true;
  };
  auto optional_whole = [&](const char* name, auto& out) {
    return kv.find(name) == kv.end() || whole(name, out);
  };
  auto optional_real = [&](const char* name, double& out) {
    return kv.find(name) == kv.end() || real(name, out);
  };
  auto optional_diagnostics = [&](const std::string& prefix, clv::FitDiagnostics& d) {
    return optional_flag((prefix + "_converged").c_str(), d.converged) &&
           optional_whole((prefix + "_restarts_agreed").c_str(), d.restarts_agreed) &&
           optional_whole((prefix + "_starts").c_str(), d.starts) &&
           optional_real((prefix + "_log_likelihood_per_customer").c_str(),
                         d.log_likelihood_per_customer);
  };
  if (!optional_flag("debits_negative", m.debits_negative) ||
      !optional_whole("non_positive_value_customers", m.non_positive_value_customers) ||
      !optional_whole("excluded_no_profiling_consent", m.excluded_no_profiling_consent) ||
      !optional_diagnostics("bgnbd", m.bgnbd_diagnostics) ||
      !optional_diagnostics("gamma_gamma", m.gamma_gamma_diagnostics))
    return bad("number");
  auto as_of = parse_date(kv["as_of"]);
  auto unit = time_unit_from_string(kv["unit"]);
  if (!as_of || !unit) return bad("date or unit");
  m.as_of = *as_of;
  m.unit = *unit;
  std::string_view kinds = kv["kinds"];
  while (!kinds.empty()) {
    auto comma = kinds.find(',');
    auto kind = from_string<TransactionKind>(kinds.substr(0, comma));
    if (!kind) return bad("kinds");
    m.kinds.push_back(*kind);
    kinds.remove_prefix(comma == std::string_view::npos ? kinds.size() : comma + 1);
  }
  return m;
}

}  // namespace

Result<ClvModel> fit_clv(const ReadView& view, const RfmOptions& options) {
  RfmOptions o = options;
  if (!o.as_of) o.as_of = analytics_access::today_utc();
  std::uint64_t excluded = 0;
  auto rows = analytics::summarise_view(view, o, &excluded);
  if (!rows) return tl::unexpected(rows.error());
  // Rows from the summary are always data; a row that somehow is not (a bug) is left out rather
  // than stopping the fit for everyone.
  auto data = summaries(*rows);
  std::erase_if(data, [](const clv::Summary& s) { return clv::summary_problem(s) != nullptr; });
  auto bg = clv::fit_bgnbd(data);
  if (!bg) return tl::unexpected(bg.error());
  auto gg = clv::fit_gamma_gamma(data);
  if (!gg) return tl::unexpected(gg.error());
  ClvModel m;
  m.bgnbd = bg->params;
  m.bgnbd_log_likelihood = bg->log_likelihood;
  m.gamma_gamma = gg->params;
  m.gamma_gamma_log_likelihood = gg->log_likelihood;
  m.as_of = *o.as_of;
  m.unit = o.unit;
  m.kinds = o.kinds;
  m.debits_negative = o.debits_negative;
  m.customers = bg->customers;
  m.repeat_customers = gg->customers;
  m.non_positive_value_customers = gg->excluded_non_positive;
  m.excluded_no_profiling_consent = excluded;
  m.bgnbd_diagnostics = bg->diagnostics;
  m.gamma_gamma_diagnostics = gg->diagnostics;
  m.summary_hash = hash_rows(*rows);
  m.fitted_at = analytics_access::now_ms();
  return m;
}

Status store_model(Database& db, const ClvModel& model) {
  const std::string text = serialize(model);
  auto check = deserialize(text);  // what is stored must load
  if (!check) return make_error(ErrorCode::kInvalidArgument, "model: not storable");
  if (model.kinds.empty()) return make_error(ErrorCode::kInvalidArgument, "model: no kinds");
  return db.write([&](WriteTxn& txn) {
    return analytics_access::put_sealed_meta(txn, analytics_access::MetaKey::kClvModel, text);
  });
}

Result<std::optional<ClvModel>> load_model(const ReadView& view) {
  auto text = analytics_access::get_sealed_meta(view, analytics_access::MetaKey::kClvModel);
  if (!text) return tl::unexpected(text.error());
  if (!*text) return std::optional<ClvModel>();
  auto m = deserialize(**text);
  if (!m) return tl::unexpected(m.error());
  return std::optional<ClvModel>(std::move(*m));
}

Result<ScoreReport> score_customers(Database& db, const ScoreOptions& options) {
  if (options.horizon < 0 || options.horizon > 100'000)
    return make_error(ErrorCode::kInvalidArgument, "horizon: 0 to 100000 periods");
  if (!std::isfinite(options.annual_discount) || options.annual_discount < 0)
    return make_error(ErrorCode::kInvalidArgument, "discount: a rate of 0 or more");
  if (options.batch == 0) return make_error(ErrorCode::kInvalidArgument, "batch: at least 1");
  const Date as_of = options.as_of.value_or(analytics_access::today_utc());

  // Read everything needed from one snapshot, then end it: the batches below are many short
  // write transactions, and a snapshot held across them would keep their freed pages from
  // being reused.
  ClvModel model;
  std::vector<RfmRow> rows;
  std::vector<CustomerId> previously_scored;
  std::vector<CustomerId> denied;  // refused profiling: scores cleared, never written
  std::uint64_t excluded = 0;
  {
    auto view = db.begin_read();
    if (!view) return tl::unexpected(view.error());
    auto m = load_model(*view);
    if (!m) return tl::unexpected(m.error());
    if (!*m)
      return make_error(ErrorCode::kFailedPrecondition,
                        "no CLV model stored: fit one first (custdb clv fit)");
    model = **m;
    RfmOptions rfm;
    rfm.as_of = as_of;
    rfm.unit = model.unit;
    rfm.kinds = model.kinds;
    rfm.debits_negative = model.debits_negative;
    auto r = analytics::summarise_view(*view, rfm, &excluded);
    if (!r) return tl::unexpected(r.error());
    rows = std::move(*r);
    auto scored = analytics_access::scored_customers(*view);
    if (!scored) return tl::unexpected(scored.error());
    previously_scored = std::move(*scored);
    auto d = analytics_access::profiling_denied(*view);
    if (!d) return tl::unexpected(d.error());
    denied = std::move(*d);
  }
  if (!(model.gamma_gamma.q > 1))
    return make_error(ErrorCode::kFailedPrecondition,
                      "the stored Gamma-Gamma model has q <= 1: its mean spend is infinite");

  const double scale = std::pow(10.0, currency_digits(analytics_access::base_currency(db)));
  // The model's arithmetic (a hypergeometric series per horizon step) dominates: spread it
  // over the cores. Each worker fills its own slice. A customer the model cannot score (a
  // non-finite or out-of-range number) is skipped and counted; its old scores are removed.
  std::vector<std::pair<CustomerId, std::optional<Scores>>> writes(rows.size());
  std::vector<char> non_finite(rows.size(), 0);
  auto score_slice = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const RfmRow& r = rows[i];
      clv::Summary s{static_cast<double>(r.frequency), r.recency, r.T, r.monetary_value, r.id};
      double p = clv::p_alive(model.bgnbd, s);
      double e = clv::expected_purchases(model.bgnbd, s, options.horizon);
      double ev = clv::expected_value(model.gamma_gamma, s);
      double v = clv::lifetime_value(model.bgnbd, model.gamma_gamma, s, options.horizon,
                                     options.annual_discount, model.unit);
      if (!std::isfinite(p) || !std::isfinite(e) || !std::isfinite(ev) || !std::isfinite(v) ||
          std::fabs(v * scale) > 9e18 || std::fabs(ev * scale) > 9e18 || e > 1e12) {
        non_finite[i] = 1;
        writes[i] = {r.id, std::nullopt};
        continue;
      }
      Scores sc;
      sc.as_of = as_of;
      sc.p_alive = std::clamp(p, 0.0, 1.0);
      sc.expected_purchases = std::max(e, 0.0);
      sc.expected_value = std::llround(ev * scale);
      sc.clv = std::llround(v * scale);
      sc.r_score = r.r_score;
      sc.f_score = r.f_score;
      sc.m_score = r.m_score;
      writes[i] = {r.id, sc};
    }
  };
  {
    const std::size_t workers =
        std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
    const std::size_t per = (rows.size() + workers - 1) / workers;
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers && w * per < rows.size(); ++w)
      pool.emplace_back(score_slice, w * per, std::min(rows.size(), (w + 1) * per));
    score_slice(0, std::min(rows.size(), per));
    for (auto& t : pool) t.join();
  }
  ScoreReport report;
  report.as_of = as_of;
  report.excluded_no_profiling_consent = excluded;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (non_finite[i]) {
      ++report.skipped;
      if (report.skipped_ids.size() < 100) report.skipped_ids.push_back(rows[i].id);
    } else if (rows[i].frequency > 0 && rows[i].monetary_value <= 0) {
      ++report.population_mean_value;
    }
  }
  if (!rows.empty() && report.skipped == rows.size())
    return make_error(ErrorCode::kFailedPrecondition,
                      "the stored model gives none of the " + std::to_string(rows.size()) +
                          " customers a finite score (customer " +
                          std::to_string(rows.front().id) + " first); refit it");
  // Customers scored before who have no purchase by as_of now: their old scores go.
  {
    std::size_t i = 0;
    for (CustomerId id : previously_scored) {
      while (i < rows.size() && rows[i].id < id) ++i;
      if (i == rows.size() || rows[i].id != id) writes.emplace_back(id, std::nullopt);
    }
  }
  auto written = analytics_access::write_batches(
      db, writes.size(), options.batch,
      [&](WriteTxn& txn, std::size_t from, std::size_t to) -> Status {
        std::uint64_t scored = 0, cleared = 0;
        for (std::size_t i = from; i < to; ++i) {
          auto done = analytics_access::set_scores(txn, writes[i].first, writes[i].second);
          if (!done) return tl::unexpected(done.error());
          // false: deleted meanwhile, or profiling refused meanwhile (the engine then clears
          // instead). A skipped customer's removal is counted in skipped, a customer who
          // refused profiling in excluded_no_profiling_consent.
          const bool refused = i >= rows.size() &&
                               std::binary_search(denied.begin(), denied.end(), writes[i].first);
          if (*done && !refused && (writes[i].second || i >= rows.size()))
            ++(writes[i].second ? scored : cleared);
        }
        report.scored += scored;
        report.cleared += cleared;
        return {};
      });
  if (!written) return tl::unexpected(written.error());
  return report;
}

}  // namespace custdb
