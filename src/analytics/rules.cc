// Rules that keep tiers and lifecycle stages current (custdb/analytics.h, docs/analytics.md).
//
// Stored as their text, one rule a line, in the sealed meta value "analytics.rules". Applying
// them evaluates every rule's segment on one snapshot (index work, not a scan of customers),
// decides each customer's value first-match-wins per field, and writes only the customers
// whose value changes, in bounded write transactions.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "analytics/analytics_internal.h"
#include "custdb/query.h"
#include "engine/analytics_access.h"
#include "query/field_rules.h"
#include "util/normalize.h"

namespace custdb {
namespace {

std::string_view field_name(const Rule& r) {
  return std::holds_alternative<Tier>(r.assign) ? "tier" : "stage";
}
std::string_view value_name(const Rule& r) {
  return std::visit([](auto v) { return to_string(v); }, r.assign);
}

tl::unexpected<Error> bad_rule(std::string_view text, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument,
                    "rule '" + std::string(text) + "': " + why);
}

Result<Rule> parse_with(std::string_view text, const query::ParseOptions& options) {
  std::string_view rest = normalize::trim_view(text);
  auto next_word = [&]() {
    rest = normalize::trim_view(rest);
    std::size_t n = 0;
    // Words end at white space (the one set trimming uses: space, tab, CR, LF) or at '='.
    while (n < rest.size() && rest[n] != '=' &&
           normalize::kWhitespace.find(rest[n]) == std::string_view::npos)
      ++n;
    std::string_view w = rest.substr(0, n);
    rest.remove_prefix(n);
    return w;
  };
  std::string_view field = next_word();
  rest = normalize::trim_view(rest);
  if (rest.empty() || rest[0] != '=')
    return bad_rule(text, "expected 'tier = <tier> when <query>' or 'stage = <stage> when <query>'");
  rest.remove_prefix(1);
  std::string_view value = next_word();
  std::string_view when = next_word();
  if (!normalize::iequals(when, "when")) return bad_rule(text, "expected 'when' after the value");
  Rule rule;
  if (normalize::iequals(field, "tier")) {
    auto t = from_string<Tier>(value);
    if (!t) return bad_rule(text, "unknown tier '" + std::string(value) + "'");
    rule.assign = *t;
  } else if (normalize::iequals(field, "stage")) {
    auto s = from_string<Stage>(value);
    if (!s) return bad_rule(text, "unknown stage '" + std::string(value) + "'");
    rule.assign = *s;
  } else {
    return bad_rule(text, "a rule sets tier or stage, not '" + std::string(field) + "'");
  }
  auto q = query::parse(normalize::trim_view(rest), options);
  if (!q) return bad_rule(text, q.error().message());
  rule.when = q->to_string(options);  // canonical text
  return rule;
}

Result<std::vector<Rule>> stored_rules(const ReadView& view) {
  auto text = analytics_access::get_sealed_meta(view, analytics_access::MetaKey::kRules);
  if (!text) return tl::unexpected(text.error());
  std::vector<Rule> out;
  if (!*text) return out;
  // The view's schema: rules may name custom attributes (rename/drop refuse named ones).
  auto options = view.parse_options();
  if (!options) return tl::unexpected(options.error());
  std::string_view rest = **text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.empty()) continue;
    auto rule = parse_with(line, *options);
    if (!rule) return make_error(ErrorCode::kCorruption, "stored rules: " + rule.error().message());
    out.push_back(std::move(*rule));
  }
  return out;
}

}  // namespace

Result<Rule> parse_rule(std::string_view text, const query::ParseOptions& options) {
  return parse_with(text, options);
}

std::string to_string(const Rule& rule) {
  return std::string(field_name(rule)) + " = " + std::string(value_name(rule)) + " when " + rule.when;
}

Result<std::vector<Rule>> rules(const ReadView& view) {
  return stored_rules(view);
}

Status set_rules(Database& db, std::span<const Rule> list) {
  query::ParseOptions options;
  {
    auto view = db.begin_read();
    if (!view) return tl::unexpected(view.error());
    auto o = view->parse_options();  // custom attribute names of the current schema
    if (!o) return tl::unexpected(o.error());
    options = std::move(*o);
  }
  std::string text;
  for (const Rule& rule : list) {
    // Re-parse: a Rule built in code must be as valid as one read from text.
    auto checked = parse_with(to_string(rule), options);
    if (!checked) return tl::unexpected(checked.error());
    text += to_string(*checked) + "\n";
  }
  return db.write([&](WriteTxn& txn) {
    return analytics_access::put_sealed_meta(txn, analytics_access::MetaKey::kRules, text);
  });
}

Result<RuleReport> apply_rules(Database& db, const ApplyOptions& options) {
  if (options.batch == 0) return make_error(ErrorCode::kInvalidArgument, "batch: at least 1");
  const Date as_of = options.as_of.value_or(analytics_access::today_utc());
  struct Change {
    CustomerId id;
    std::optional<Tier> tier;
    std::optional<Stage> stage;
    std::string tier_rule, stage_rule;  // the rules' text, for the rule-move log
  };
  std::vector<Change> changes;
  RuleReport report;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> moves;
  {
    auto view = db.begin_read();
    if (!view) return tl::unexpected(view.error());
    auto list = rules(*view);
    if (!list) return tl::unexpected(list.error());
    auto parse_options = view->parse_options();  // the snapshot's schema
    if (!parse_options) return tl::unexpected(parse_options.error());
    // Decide: per field, the first rule whose segment holds the customer.
    std::unordered_map<CustomerId, std::pair<Tier, std::size_t>> tier_of;   // value, rule
    std::unordered_map<CustomerId, std::pair<Stage, std::size_t>> stage_of;
    // Refused profiling: never moved by a rule (custdb/privacy.h).
    auto denied = analytics_access::profiling_denied(*view);
    if (!denied) return tl::unexpected(denied.error());
    SegmentOptions so;
    so.as_of = as_of;
    for (std::size_t r = 0; r < list->size(); ++r) {
      const Rule& rule = (*list)[r];
      auto q = query::parse(rule.when, *parse_options);
      if (!q) return make_error(ErrorCode::kCorruption, "stored rule: " + q.error().message());
      auto ids = view->ids(*q, so);
      if (!ids) return tl::unexpected(ids.error());
      for (CustomerId id : *ids) {
        if (auto t = std::get_if<Tier>(&rule.assign)) tier_of.try_emplace(id, *t, r);
        else stage_of.try_emplace(id, std::get<Stage>(rule.assign), r);
      }
    }
    // Compare with the current values.
    auto walked = view->for_each_customer([&](const Customer& c) {
      ++report.customers;
      Change ch{c.id, std::nullopt, std::nullopt, {}, {}};
      const auto tier_it = tier_of.find(c.id);
      const auto stage_it = stage_of.find(c.id);
      const bool would_move = (tier_it != tier_of.end() && tier_it->second.first != c.tier) ||
                              (stage_it != stage_of.end() && stage_it->second.first != c.stage);
      if (would_move && (c.consent_profiling.state == ConsentState::kDenied ||
                         std::binary_search(denied->begin(), denied->end(), c.id))) {
        ++report.excluded_no_profiling_consent;
        return true;
      }
      if (tier_it != tier_of.end() && tier_it->second.first != c.tier) {
        ch.tier = tier_it->second.first;
        ch.tier_rule = to_string((*list)[tier_it->second.second]);
        ++moves[{"tier", std::string(to_string(c.tier)), std::string(to_string(*ch.tier))}];
      }
      if (stage_it != stage_of.end() && stage_it->second.first != c.stage) {
        ch.stage = stage_it->second.first;
        ch.stage_rule = to_string((*list)[stage_it->second.second]);
        ++moves[{"stage", std::string(to_string(c.stage)), std::string(to_string(*ch.stage))}];
      }
      if (ch.tier || ch.stage) changes.push_back(std::move(ch));
      return true;
    });
    if (!walked) return tl::unexpected(walked.error());
  }
  for (const auto& [key, n] : moves)
    report.moves.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  report.changed = changes.size();
  if (options.dry_run) return report;

  auto written = analytics_access::write_batches(
      db, changes.size(), options.batch,
      [&](WriteTxn& txn, std::size_t from, std::size_t to) -> Status {
        for (std::size_t i = from; i < to; ++i) {
          const Change& ch = changes[i];
          // Read again in this transaction: a customer who refused profiling since the
          // snapshot is left alone; each move is logged with the value it replaced.
          auto now = txn.get_customer(ch.id);
          if (!now) return tl::unexpected(now.error());
          if (!*now || (*now)->consent_profiling.state == ConsentState::kDenied) continue;
          const Customer before = **now;
          auto done = txn.update_customer(ch.id, [&](Customer& c) {
            if (ch.tier) c.tier = *ch.tier;
            if (ch.stage) c.stage = *ch.stage;
          });
          if (!done) return tl::unexpected(done.error());
          if (!*done) continue;
          if (ch.tier && *ch.tier != before.tier) {
            RuleMove m{0, ch.id, "tier", std::string(to_string(before.tier)),
                       std::string(to_string(*ch.tier)), ch.tier_rule, {}};
            if (auto s = analytics_access::record_rule_move(txn, m); !s) return s;
          }
          if (ch.stage && *ch.stage != before.stage) {
            RuleMove m{0, ch.id, "stage", std::string(to_string(before.stage)),
                       std::string(to_string(*ch.stage)), ch.stage_rule, {}};
            if (auto s = analytics_access::record_rule_move(txn, m); !s) return s;
          }
        }
        return {};
      });
  if (!written) return tl::unexpected(written.error());
  return report;
}

}  // namespace custdb
