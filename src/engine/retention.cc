// Retention (custdb/privacy.h, docs/security.md "Retention"): a stored policy of rules
// "erase when QUERY" / "anonymize when QUERY", applied in bounded write transactions and
// resumable after a crash.
//
// Storage (meta, each sealed in encrypted mode, checksummed in plaintext):
//   retention.policy  the policy's canonical text: rules joined by "; "
//   retention.run     an interrupted (or running) application: the policy it applies, its
//                     phase, how far it got and per rule what it planned and did (RunState)
//   retention.plan    that run's plan: the ids to erase, be64 each, rule after rule
// An application first decides every customer on one snapshot (the plan: per rule, in order,
// the matching customers no earlier rule matched, less customers an anonymize rule would not
// change because they are anonymized already), stores the plan with the run state in one
// transaction, then erases the plan in batches, each batch recording its position in the same
// transaction as its erasures. A crash loses at most the uncommitted batch; the next call finds
// the run state and continues from the recorded position with the stored plan (so the result is
// the one the interrupted run would have had, whatever the erasures did to later queries). Then
// one scrub; the run state is removed once the scrub returned. A dry run computes the same plan
// (or, with an interrupted run pending, what resuming it would do) and writes nothing.
#include <algorithm>
#include <unordered_set>

#include "custdb/query.h"
#include "engine/db_impl.h"
#include "util/coding.h"
#include "util/message.h"
#include "util/normalize.h"

namespace custdb {
namespace {

using detail::DatabaseImpl;
using detail::TxnState;
using coding::as_bytes;

constexpr std::string_view kPolicyKey = detail::kMetaRetentionPolicy;
constexpr std::string_view kRunKey = "retention.run";
constexpr std::string_view kPlanKey = "retention.plan";
constexpr std::uint8_t kRunVersion = 1;

struct PolicyRule {
  EraseMode mode = EraseMode::kFull;
  std::string query;  // canonical query text
  std::string text() const {
    return std::string(mode == EraseMode::kFull ? "erase" : "anonymize") + " when " + query;
  }
};

tl::unexpected<Error> bad_rule(std::size_t n, std::string_view text, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "retention rule " + std::to_string(n) + " " +
                                                     message::quoted(text) + ": " + why);
}

// The policy's rules: split at ';' outside single-quoted text (a query writes a quote inside
// quoted text as '', which toggles twice), blank pieces skipped.
std::vector<std::string_view> split_rules(std::string_view policy) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= policy.size(); ++i) {
    if (i < policy.size() && policy[i] == '\'') quoted = !quoted;
    if (i == policy.size() || (!quoted && policy[i] == ';')) {
      std::string_view piece = normalize::trim_view(policy.substr(start, i - start));
      if (!piece.empty()) out.push_back(piece);
      start = i + 1;
    }
  }
  return out;
}

Result<std::vector<PolicyRule>> parse_policy(std::string_view policy,
                                             const query::ParseOptions& options) {
  std::vector<PolicyRule> rules;
  const auto pieces = split_rules(policy);
  if (pieces.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "retention policy: no rule (expected 'erase when QUERY' or 'anonymize when "
                      "QUERY', separated by ';'; \"\" removes the policy)");
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    std::string_view rest = pieces[i];
    auto next_word = [&]() {
      rest = normalize::trim_view(rest);
      std::size_t n = 0;
      while (n < rest.size() && normalize::kWhitespace.find(rest[n]) == std::string_view::npos) ++n;
      std::string_view w = rest.substr(0, n);
      rest.remove_prefix(n);
      return w;
    };
    PolicyRule rule;
    std::string_view action = next_word();
    if (normalize::iequals(action, "erase")) rule.mode = EraseMode::kFull;
    else if (normalize::iequals(action, "anonymize") || normalize::iequals(action, "anonymise"))
      rule.mode = EraseMode::kKeepLedger;
    else
      return bad_rule(i + 1, pieces[i], "expected 'erase when QUERY' or 'anonymize when QUERY'");
    if (!normalize::iequals(next_word(), "when"))
      return bad_rule(i + 1, pieces[i], "expected 'when' after " + std::string(action));
    auto q = query::parse(normalize::trim_view(rest), options);
    if (!q) return bad_rule(i + 1, pieces[i], q.error().message());
    rule.query = q->to_string(options);
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string policy_text(const std::vector<PolicyRule>& rules) {
  std::string text;
  for (const PolicyRule& r : rules) {
    if (!text.empty()) text += "; ";
    text += r.text();
  }
  return text;
}

// The state of an application in progress (meta retention.run).
struct RunState {
  enum Phase : std::uint8_t { kErasing = 0, kScrubbing = 1 };
  std::string policy;             // the canonical policy it applies
  Phase phase = kErasing;
  std::uint64_t position = 0;     // plan entries processed (committed)
  std::vector<std::uint64_t> planned;  // per rule
  std::vector<std::uint64_t> done;     // per rule: customers erased so far
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto p : planned) n += p;
    return n;
  }
};

// version u8 | phase u8 | position u64 | policy length u32 | policy | rules u32 |
// per rule: planned u64, done u64. Big-endian.
std::string encode_run(const RunState& r) {
  std::string out;
  auto put8 = [&](std::uint8_t v) { out.push_back(static_cast<char>(v)); };
  auto put32 = [&](std::uint32_t v) {
    std::uint8_t b[4];
    coding::put_u32(b, v);
    out.append(reinterpret_cast<const char*>(b), 4);
  };
  auto put64 = [&](std::uint64_t v) {
    std::uint8_t b[8];
    coding::put_u64(b, v);
    out.append(reinterpret_cast<const char*>(b), 8);
  };
  put8(kRunVersion);
  put8(r.phase);
  put64(r.position);
  put32(static_cast<std::uint32_t>(r.policy.size()));
  out += r.policy;
  put32(static_cast<std::uint32_t>(r.planned.size()));
  for (std::size_t i = 0; i < r.planned.size(); ++i) {
    put64(r.planned[i]);
    put64(r.done[i]);
  }
  return out;
}

std::optional<RunState> decode_run(std::string_view v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
  std::size_t n = v.size(), at = 0;
  auto need = [&](std::size_t k) { return n - at >= k; };
  if (!need(14) || p[0] != kRunVersion || p[1] > RunState::kScrubbing) return std::nullopt;
  RunState r;
  r.phase = static_cast<RunState::Phase>(p[1]);
  r.position = coding::get_u64(p + 2);
  const std::uint32_t len = coding::get_u32(p + 10);
  at = 14;
  if (!need(len)) return std::nullopt;
  r.policy.assign(v.substr(at, len));
  at += len;
  if (!need(4)) return std::nullopt;
  const std::uint32_t rules = coding::get_u32(p + at);
  at += 4;
  if (n - at != std::size_t{16} * rules) return std::nullopt;
  for (std::uint32_t i = 0; i < rules; ++i, at += 16) {
    r.planned.push_back(coding::get_u64(p + at));
    r.done.push_back(coding::get_u64(p + at + 8));
  }
  if (r.position > r.total()) return std::nullopt;
  return r;
}

// A plan: the ids to erase, rule after rule (RunState::planned says how many each).
using Plan = std::vector<CustomerId>;

std::string encode_plan(const Plan& plan) {
  std::string out(plan.size() * 8, '\0');
  for (std::size_t i = 0; i < plan.size(); ++i)
    coding::put_u64(reinterpret_cast<std::uint8_t*>(out.data()) + 8 * i, plan[i]);
  return out;
}

std::optional<Plan> decode_plan(std::string_view v, std::uint64_t expected) {
  if (v.size() != expected * 8) return std::nullopt;
  Plan plan(expected);
  for (std::size_t i = 0; i < plan.size(); ++i)
    plan[i] = coding::get_u64(reinterpret_cast<const std::uint8_t*>(v.data()) + 8 * i);
  return plan;
}

// The rule (index) plan entry `pos` belongs to.
std::size_t rule_of(const RunState& r, std::uint64_t pos) {
  for (std::size_t i = 0; i < r.planned.size(); ++i) {
    if (pos < r.planned[i]) return i;
    pos -= r.planned[i];
  }
  return r.planned.size();
}

TxnState& state_of(const ReadView& view) { return *ReadView::State::of(view); }

// Decides every customer on the view's snapshot, as of today: per rule in order, the customers
// its query matches and no earlier rule matched; an anonymize rule leaves out customers that
// are anonymized already (erasing them again with kKeepLedger changes nothing).
Result<Plan> make_plan(const ReadView& view, const std::vector<PolicyRule>& rules,
                       const query::ParseOptions& po, RunState& run) {
  Plan plan;
  std::unordered_set<CustomerId> claimed;
  SegmentOptions so;
  so.as_of = detail::today_utc();
  run.planned.assign(rules.size(), 0);
  run.done.assign(rules.size(), 0);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto q = query::parse(rules[i].query, po);
    if (!q) return make_error(ErrorCode::kCorruption, "stored retention rule: " + q.error().message());
    auto ids = view.ids(*q, so);
    if (!ids) return tl::unexpected(ids.error());
    for (CustomerId id : *ids) {
      if (!claimed.insert(id).second) continue;
      if (rules[i].mode == EraseMode::kKeepLedger) {
        auto c = view.get_customer(id);
        if (!c) return tl::unexpected(c.error());
        if (!*c || (*c)->anonymized) continue;
      }
      plan.push_back(id);
      ++run.planned[i];
    }
  }
  return plan;
}

// What erasing plan[from..] would do on the view's snapshot: per rule, the customers it would
// erase (existing; for anonymize, not anonymized yet). A dry run of an interrupted run.
Result<std::vector<std::uint64_t>> would_erase(const ReadView& view, const RunState& run,
                                               const std::vector<PolicyRule>& rules,
                                               const Plan& plan) {
  std::vector<std::uint64_t> out(run.planned.size(), 0);
  for (std::uint64_t pos = run.position; pos < plan.size(); ++pos) {
    const std::size_t r = rule_of(run, pos);
    auto c = view.get_customer(plan[pos]);
    if (!c) return tl::unexpected(c.error());
    if (!*c) continue;
    if (rules[r].mode == EraseMode::kKeepLedger && (*c)->anonymized) continue;
    ++out[r];
  }
  return out;
}

Status refuse_analyst(const Database& db, std::string_view what) {
  if (db.info().role == KeyRole::kAnalyst)
    return make_error(ErrorCode::kPermissionDenied,
                      std::string(what) + " needs the owner's key (opened with an analyst key)");
  return {};
}

}  // namespace

Result<std::optional<std::string>> ReadView::retention_policy() const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (state_->poisoned) return tl::unexpected(*state_->failure);
  return db_->get_sealed_meta(*state_, kPolicyKey);
}

Status Database::set_retention_policy(std::string_view policy) {
  if (auto s = refuse_analyst(*this, "setting the retention policy"); !s) return s;
  query::ParseOptions po;
  {
    auto view = begin_read();
    if (!view) return tl::unexpected(view.error());
    auto o = view->parse_options();  // the current schema: rules may name custom attributes
    if (!o) return tl::unexpected(o.error());
    po = std::move(*o);
  }
  std::optional<std::string> text;
  std::size_t rule_count = 0;
  if (!normalize::trim_view(policy).empty()) {
    auto rules = parse_policy(policy, po);
    if (!rules) return tl::unexpected(rules.error());
    text = policy_text(*rules);
    rule_count = rules->size();
  }
  DatabaseImpl& d = *impl_;
  return write([&](WriteTxn& txn) -> Status {
    TxnState& st = state_of(txn);
    Status s = text ? d.put_sealed_meta(st, kPolicyKey, *text)
                    : d.del(st, d.tables().meta, as_bytes(kPolicyKey));
    if (!s) return s;
    AuditEvent ev;
    ev.command = text ? "retention set" : "retention clear";
    ev.count = rule_count;
    ev.detail = "rules=" + std::to_string(rule_count);
    auto a = d.append_audit(state_of(txn), ev);
    if (!a) return tl::unexpected(a.error());
    return {};
  });
}

Result<RetentionReport> Database::apply_retention(const RetentionOptions& options) {
  if (options.batch == 0) return make_error(ErrorCode::kInvalidArgument, "batch: at least 1");
  if (!options.dry_run)
    if (auto s = refuse_analyst(*this, "applying the retention policy"); !s)
      return tl::unexpected(s.error());
  DatabaseImpl& d = *impl_;
  query::ParseOptions po;  // the run's snapshot's (custom attribute names), set below

  RetentionReport report;
  report.dry_run = options.dry_run;
  std::vector<PolicyRule> rules;
  RunState run;
  Plan plan;
  bool fresh = false;  // a new run: its plan and state are not stored yet
  {
    auto view = begin_read();
    if (!view) return tl::unexpected(view.error());
    TxnState& st = state_of(*view);
    auto parse_options = view->parse_options();
    if (!parse_options) return tl::unexpected(parse_options.error());
    po = std::move(*parse_options);
    auto text = d.get_sealed_meta(st, kPolicyKey);
    if (!text) return tl::unexpected(text.error());
    if (!*text)
      return make_error(ErrorCode::kFailedPrecondition,
                        "no retention policy is set (custdb retention set POLICY)");
    auto parsed = parse_policy(**text, po);
    if (!parsed)
      return make_error(ErrorCode::kCorruption, "stored retention policy: " + parsed.error().message());
    rules = std::move(*parsed);
    // An interrupted run of this very policy continues; anything else starts over.
    auto stored_run = d.get_sealed_meta(st, kRunKey);
    if (!stored_run) return tl::unexpected(stored_run.error());
    if (*stored_run) {
      auto r = decode_run(**stored_run);
      if (r && r->policy == **text && r->planned.size() == rules.size()) {
        auto stored_plan = d.get_sealed_meta(st, kPlanKey);
        if (!stored_plan) return tl::unexpected(stored_plan.error());
        if (r->phase == RunState::kScrubbing) {
          run = std::move(*r);
          report.resumed = true;
        } else if (*stored_plan) {
          if (auto p = decode_plan(**stored_plan, r->total())) {
            run = std::move(*r);
            plan = std::move(*p);
            report.resumed = true;
          }
        }
      }
    }
    if (!report.resumed) {
      run = RunState{};
      run.policy = **text;
      auto p = make_plan(*view, rules, po, run);
      if (!p) return tl::unexpected(p.error());
      plan = std::move(*p);
      fresh = true;
    }
    for (std::size_t i = 0; i < rules.size(); ++i)
      report.actions.push_back({rules[i].text(), rules[i].mode, 0});
    if (options.dry_run) {
      if (fresh) {
        for (std::size_t i = 0; i < rules.size(); ++i) report.actions[i].customers = run.planned[i];
      } else {
        std::vector<std::uint64_t> more(rules.size(), 0);
        if (run.phase == RunState::kErasing) {
          auto m = would_erase(*view, run, rules, plan);
          if (!m) return tl::unexpected(m.error());
          more = std::move(*m);
        }
        for (std::size_t i = 0; i < rules.size(); ++i)
          report.actions[i].customers = run.done[i] + more[i];
      }
      return report;
    }
  }

  // Store the plan and the run state before the first erasure.
  if (fresh) {
    auto s = write([&](WriteTxn& txn) -> Status {
      TxnState& st = state_of(txn);
      if (auto s2 = d.put_sealed_meta(st, kPlanKey, encode_plan(plan)); !s2) return s2;
      return d.put_sealed_meta(st, kRunKey, encode_run(run));
    });
    if (!s) return tl::unexpected(s.error());
  }

  // Erase in batches; each commits its erasures with its position.
  const std::uint64_t total = plan.size();
  while (run.phase == RunState::kErasing && run.position < total) {
    const std::uint64_t from = run.position;
    const std::uint64_t to = std::min<std::uint64_t>(total, from + options.batch);
    RunState next;
    auto s = write([&](WriteTxn& txn) -> Status {
      next = run;  // from the committed state: a retried body starts over
      for (std::uint64_t pos = from; pos < to; ++pos) {
        const std::size_t r = rule_of(run, pos);
        auto erased = txn.erase_customer(plan[pos], rules[r].mode);
        if (!erased) return tl::unexpected(erased.error());
        if (*erased) ++next.done[r];
      }
      next.position = to;
      return d.put_sealed_meta(state_of(txn), kRunKey, encode_run(next));
    });
    if (!s) return tl::unexpected(s.error());
    run = std::move(next);
    if (options.progress) options.progress(run.position, total);
  }

  // Erasures done: drop the plan, record the run, then scrub.
  std::uint64_t erased = 0;
  for (auto n : run.done) erased += n;
  if (run.phase == RunState::kErasing) {
    auto s = write([&](WriteTxn& txn) -> Status {
      TxnState& st = state_of(txn);
      RunState next = run;
      next.phase = RunState::kScrubbing;
      if (auto s2 = d.del(st, d.tables().meta, as_bytes(kPlanKey)); !s2) return s2;
      if (auto s2 = d.put_sealed_meta(st, kRunKey, encode_run(next)); !s2) return s2;
      AuditEvent ev;
      ev.command = "retention apply";
      ev.count = erased;
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if (!ev.detail.empty()) ev.detail += ' ';
        ev.detail += "rule" + std::to_string(i + 1) + "." +
                     (rules[i].mode == EraseMode::kFull ? "erase" : "anonymize") + "=" +
                     std::to_string(run.done[i]);
      }
      if (report.resumed) ev.detail += " resumed";
      auto a = d.append_audit(state_of(txn), ev);
      if (!a) return tl::unexpected(a.error());
      return {};
    });
    if (!s) return tl::unexpected(s.error());
    run.phase = RunState::kScrubbing;
  }
  if (erased > 0) {
    auto scrubbed = scrub();
    if (!scrubbed) return tl::unexpected(scrubbed.error());
    report.scrub = *scrubbed;
  }
  auto s = write([&](WriteTxn& txn) -> Status {
    return d.del(state_of(txn), d.tables().meta, as_bytes(kRunKey));
  });
  if (!s) return tl::unexpected(s.error());
  for (std::size_t i = 0; i < rules.size(); ++i) report.actions[i].customers = run.done[i];
  return report;
}

}  // namespace custdb
