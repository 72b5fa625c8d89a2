// custdb rules list | set FILE | apply: the stored rules that keep tiers and lifecycle stages
// current (custdb/analytics.h, docs/analytics.md).
//   list                                          the stored rules, in order
//   set FILE                                      replace them (one rule a line; - for stdin)
//   apply [--as-of DATE] [--batch N] [--dry-run]  apply_rules: the moves between values
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common.h"
#include "custdb/analytics.h"
#include "custdb/io.h"
#include "custdb/query.h"

namespace custdb::cli {
namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view field_of(const Rule& r) { return std::holds_alternative<Tier>(r.assign) ? "tier" : "stage"; }
std::string value_of(const Rule& r) {
  return std::string(std::visit([](auto v) { return to_string(v); }, r.assign));
}

}  // namespace

Command add_rules(CLI::App& app, Globals& g) {
  struct Opts {
    std::string file;
    std::string as_of;
    std::size_t batch = 10'000;
    bool dry_run = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "rules", "Rules that set tier and stage from segment queries: list, set, apply");
  sub->require_subcommand(1);

  CLI::App* list = sub->add_subcommand("list", "The stored rules, in the order they are tried");
  CLI::App* set = sub->add_subcommand(
      "set", "Replace the stored rules with FILE's: one 'tier|stage = VALUE when QUERY' a line");
  set->add_option("file", o->file, "The rules file (- for standard input); # comments and blank lines are skipped")
      ->required();
  CLI::App* apply = sub->add_subcommand(
      "apply", "Evaluate the rules as of a date and write the tiers and stages that change");
  apply->add_option("--as-of", o->as_of, "The day the queries are evaluated on (default: today, UTC)");
  apply->add_option("--batch", o->batch, "Customers changed per write transaction")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  apply->add_flag("--dry-run", o->dry_run, "Report the moves, change nothing");
  for (CLI::App* s : {list, set, apply}) s->fallthrough();

  return {sub, [&g, o, list, set] {
            if (list->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              std::vector<Rule> stored;
              {
                auto txn = must(db.begin_read());
                stored = must(rules(txn));
              }
              if (g.json) {
                Json arr = Json::array();
                for (const Rule& r : stored)
                  arr.push(Json::object()
                               .set("field", field_of(r))
                               .set("value", value_of(r))
                               .set("when", r.when)
                               .set("rule", to_string(r)));
                print_json(arr);
                return kExitOk;
              }
              if (stored.empty()) {
                std::printf("no rules stored\n");
                return kExitOk;
              }
              TextTable table({"#", "field", "value", "when"}, {0});
              for (std::size_t i = 0; i < stored.size(); ++i)
                table.add({std::to_string(i + 1), std::string(field_of(stored[i])),
                           value_of(stored[i]), stored[i].when});
              table.print();
              return kExitOk;
            }

            if (set->parsed()) {
              const bool from_stdin = o->file == "-";
              const std::string source = from_stdin ? "<stdin>" : o->file;
              std::ifstream file;
              if (!from_stdin) {
                file.open(o->file, std::ios::binary);
                if (!file) die_failure("cannot read " + o->file);
              }
              std::istream& in = from_stdin ? std::cin : file;
              Database db = open_database(g, /*read_only=*/false);
              // The current schema: rules may name custom attributes.
              const query::ParseOptions po = must(must(db.begin_read()).parse_options());
              std::vector<Rule> parsed;
              bool bad = false;
              std::uint64_t line_no = 0;
              for (std::string line; std::getline(in, line);) {
                ++line_no;
                std::string_view text = trimmed(line);
                if (text.empty() || text.front() == '#') continue;
                auto rule = parse_rule(text, po);
                if (!rule) {
                  warn(source + ":" + std::to_string(line_no) + ": " + rule.error().message());
                  bad = true;
                  continue;
                }
                parsed.push_back(std::move(*rule));
              }
              if (in.bad()) die_failure("cannot read " + source);
              if (bad) {
                warn("no rules stored (the stored rules are unchanged)");
                return kExitUsage;
              }
              must(set_rules(db, parsed));
              if (g.json) {
                print_json(Json::object().set("file", source).set("rules", parsed.size()));
              } else {
                std::printf("stored %zu rule%s from %s\n", parsed.size(),
                            parsed.size() == 1 ? "" : "s", source.c_str());
              }
              return kExitOk;
            }

            // apply
            ApplyOptions ao;
            ao.as_of = as_of_arg("--as-of", o->as_of);
            ao.batch = o->batch;
            ao.dry_run = o->dry_run;
            // A dry run writes nothing: it needs only read access.
            Database db = open_database(g, /*read_only=*/o->dry_run);
            const auto start = std::chrono::steady_clock::now();
            Result<RuleReport> result;
            {
              Progress bar(o->dry_run ? "rules (dry run)" : "rules");
              ProgressTicker ticker(bar, nullptr);
              result = apply_rules(db, ao);
            }
            RuleReport report = must(std::move(result));
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (g.json) {
              Json moves = Json::array();
              for (const auto& m : report.moves)
                moves.push(Json::object()
                               .set("field", m.field)
                               .set("from", m.from)
                               .set("to", m.to)
                               .set("customers", m.customers));
              print_json(Json::object()
                             .set("as_of", format_date(*ao.as_of))
                             .set("dry_run", ao.dry_run)
                             .set("customers", report.customers)
                             .set("changed", report.changed)
                             .set("excluded_no_profiling_consent",
                                  report.excluded_no_profiling_consent)
                             .set("moves", std::move(moves))
                             .set("elapsed_seconds", elapsed));
              return kExitOk;
            }
            if (!report.moves.empty()) {
              TextTable table({"field", "from", "to", "customers"}, {3});
              for (const auto& m : report.moves)
                table.add({m.field, m.from, m.to, std::to_string(m.customers)});
              table.print();
            }
            std::printf("examined %llu customers as of %s: %llu %s in %.2f s%s\n",
                        static_cast<unsigned long long>(report.customers),
                        format_date(*ao.as_of).c_str(),
                        static_cast<unsigned long long>(report.changed),
                        ao.dry_run ? "would change" : "changed", elapsed,
                        ao.dry_run ? " (dry run: nothing written)" : "");
            if (report.excluded_no_profiling_consent > 0)
              std::printf("%llu customers left as they are: they refused profiling\n",
                          static_cast<unsigned long long>(report.excluded_no_profiling_consent));
            return kExitOk;
          }};
}

}  // namespace custdb::cli
