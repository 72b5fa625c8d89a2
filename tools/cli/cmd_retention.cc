// custdb retention show | set POLICY | apply [--dry-run] [--batch N]: the stored retention
// policy (Database::set_retention_policy / apply_retention, custdb/privacy.h).
//   show                       the stored policy, one rule a line
//   set POLICY                 replace it ("erase when Q; anonymize when Q"; "" removes it)
//   apply [--dry-run] [--batch N]
//                              erase/anonymize what the policy matches, in bounded write
//                              transactions; resumes a run a crash interrupted; then scrubs
#include <chrono>
#include <cstdio>

#include "common.h"
#include "custdb/privacy.h"

namespace custdb::cli {
namespace {

std::string_view action_of(EraseMode m) { return m == EraseMode::kFull ? "erase" : "anonymize"; }

// The stored policy's rules, split where it stores them ("; " between rules).
std::vector<std::string> rules_of(const std::string& policy) {
  std::vector<std::string> out;
  bool quoted = false;
  std::string cur;
  for (char ch : policy) {
    if (ch == '\'') quoted = !quoted;
    if (ch == ';' && !quoted) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    if (cur.empty() && ch == ' ') continue;
    cur += ch;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

Command add_retention(CLI::App& app, Globals& g) {
  struct Opts {
    std::string policy;
    std::size_t batch = 1000;
    bool dry_run = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("retention", "Show, set or apply the retention policy");
  sub->require_subcommand(1);
  CLI::App* show = sub->add_subcommand("show", "The stored retention policy, one rule a line");
  CLI::App* set = sub->add_subcommand(
      "set", "Replace the policy: 'erase when QUERY' or 'anonymize when QUERY' rules separated by ';' (\"\" removes it)");
  set->add_option("policy", o->policy, "The policy text")->required();
  CLI::App* apply = sub->add_subcommand(
      "apply", "Erase or anonymize the customers the policy matches (today, UTC), then scrub");
  apply->add_flag("--dry-run", o->dry_run, "Print the counts per rule, change nothing");
  apply->add_option("--batch", o->batch, "Customers erased per write transaction")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  for (CLI::App* s : {show, set, apply}) s->fallthrough();

  return {sub, [&g, o, show, set] {
            if (show->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              std::optional<std::string> policy;
              {
                auto txn = must(db.begin_read());
                policy = must(txn.retention_policy());
              }
              if (g.json) {
                Json rules = Json::array();
                if (policy)
                  for (const auto& r : rules_of(*policy)) rules.push(r);
                print_json(Json::object().set("policy", policy).set("rules", std::move(rules)));
                return kExitOk;
              }
              if (!policy) {
                std::printf("no retention policy set\n");
                return kExitOk;
              }
              TextTable table({"#", "rule"}, {0});
              const auto rules = rules_of(*policy);
              for (std::size_t i = 0; i < rules.size(); ++i) table.add({std::to_string(i + 1), rules[i]});
              table.print();
              return kExitOk;
            }

            if (set->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              Status s = db.set_retention_policy(o->policy);
              if (!s && s.error().code() == ErrorCode::kInvalidArgument) {
                warn(s.error().message());
                warn("retention policy unchanged");
                return kExitUsage;
              }
              must(s);
              std::optional<std::string> policy;
              {
                auto txn = must(db.begin_read());
                policy = must(txn.retention_policy());
              }
              if (g.json) {
                print_json(Json::object().set("policy", policy));
              } else if (policy) {
                std::printf("retention policy stored: %s\n", policy->c_str());
              } else {
                std::printf("retention policy removed\n");
              }
              return kExitOk;
            }

            // apply
            RetentionOptions ro;
            ro.dry_run = o->dry_run;
            ro.batch = o->batch;
            // A dry run writes nothing: it needs only read access.
            Database db = open_database(g, /*read_only=*/o->dry_run);
            const auto start = std::chrono::steady_clock::now();
            Result<RetentionReport> result;
            {
              Progress bar(o->dry_run ? "retention (dry run)" : "retention");
              ro.progress = [&bar](std::uint64_t done, std::uint64_t total) {
                bar.set_total(total);
                bar.update(done);
              };
              result = db.apply_retention(ro);
            }
            RetentionReport report = must(std::move(result));
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::uint64_t total = 0;
            for (const auto& a : report.actions) total += a.customers;
            if (g.json) {
              Json actions = Json::array();
              for (const auto& a : report.actions)
                actions.push(Json::object()
                                 .set("rule", a.rule)
                                 .set("action", action_of(a.mode))
                                 .set("customers", a.customers));
              Json out = Json::object()
                             .set("dry_run", report.dry_run)
                             .set("resumed", report.resumed)
                             .set("actions", std::move(actions))
                             .set("customers", total);
              if (!report.dry_run)
                out.set("scrub", Json::object()
                                     .set("complete", report.scrub.complete)
                                     .set("free_pages_zeroed", report.scrub.free_pages_zeroed)
                                     .set("free_pages_pinned", report.scrub.free_pages_pinned)
                                     .set("slack_bytes_zeroed", report.scrub.slack_bytes_zeroed));
              out.set("elapsed_seconds", elapsed);
              print_json(out);
              return kExitOk;
            }
            TextTable table({"#", "action", "customers", "rule"}, {0, 2});
            for (std::size_t i = 0; i < report.actions.size(); ++i) {
              const auto& a = report.actions[i];
              table.add({std::to_string(i + 1), std::string(action_of(a.mode)),
                         std::to_string(a.customers), a.rule});
            }
            table.print();
            std::printf("%llu customer%s %s in %.2f s%s%s\n", static_cast<unsigned long long>(total),
                        total == 1 ? "" : "s",
                        report.dry_run ? "would be erased or anonymized" : "erased or anonymized",
                        elapsed, report.resumed ? " (resumed an interrupted run)" : "",
                        report.dry_run ? " (dry run: nothing written)" : "");
            if (!report.dry_run && !report.scrub.complete)
              warn("scrub incomplete: " + std::to_string(report.scrub.free_pages_pinned) +
                   " free pages pinned by a live reader; run 'custdb scrub' once it ended");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
