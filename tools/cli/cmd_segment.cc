// custdb segment QUERY [--count] [--ids] [--limit N] [--explain] [--top N [--by ATTR]]
// [--as-of DATE]: the customers matching a segment query (custdb/query.h).
#include <limits>

#include "common.h"
#include "custdb/io.h"
#include "custdb/query.h"
#include "io/display.h"  // kMaskedDate

namespace custdb::cli {

Command add_segment(CLI::App& app, Globals& g) {
  struct Opts {
    std::vector<std::string> query;
    bool count = false, ids = false, explain = false;
    std::size_t limit = 20;
    std::size_t top = 0;
    std::string by = "total_amount";
    std::string as_of;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "segment", "Customers matching a query, e.g. \"tier in (gold, platinum) and region = east\"");
  sub->add_option("query", o->query, "The query (words are joined with spaces)")->required();
  auto* count = sub->add_flag("--count", o->count, "Print only the number of matches");
  auto* ids = sub->add_flag("--ids", o->ids, "Print the matching ids, one per line");
  auto* explain = sub->add_flag("--explain", o->explain, "Print the query plan with set sizes");
  auto* limit = sub->add_option("--limit", o->limit,
                                "Rows in the table (default 20; 0: all); with --ids, at most this many ids")
                   ->check(CLI::NonNegativeNumber);  // "-1" would wrap to "all"
  auto* top = sub->add_option("--top", o->top,
                              "The N members with the highest value of --by (ids and values, "
                              "from the index)")
                 // (CLI::PositiveNumber would say "Value 0 not in range 0.000000 to 1.79e308")
                 ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()));
  auto* by = sub->add_option("--by", o->by,
                             "The ranking attribute of --top: total_amount, txn_count, "
                             "last_txn_at, first_txn_at, created_at, birth_date, clv, p_alive, "
                             "expected_purchases, income_band, r_score, f_score, m_score, or an integer, "
                             "decimal, amount, date or timestamp custom attribute")
                 ->capture_default_str();
  sub->add_option("--as-of", o->as_of, "Date `age` is computed on (default: today)");
  count->excludes(ids)->excludes(explain)->excludes(top);
  ids->excludes(explain)->excludes(top);
  explain->excludes(top);
  by->needs(top);
  limit->excludes(top);
  return {sub, [&g, o, limit, top] {
            SegmentOptions so;
            if (!o->as_of.empty()) so.as_of = parse_date_arg("--as-of", o->as_of);
            // With --reveal: recorded in the audit trail (the query, the ids shown) before
            // anything is shown.
            Database db = open_database_recorded(g, /*record=*/false, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            auto txn = must(db.begin_read());
            // The snapshot's schema: the query and --by may name custom attributes.
            const query::ParseOptions po = must(txn.parse_options());
            auto q = query::parse(join(o->query, " "), po);
            if (!q) die_usage(q.error().message());  // "at N: expected ..., found ..."
            const MeasureKey rank_by = measure_key_arg("--by", o->by, *po.schema);
            const MeasureFormat format = measure_format(rank_by, *po.schema);
            auto record = [&](std::vector<CustomerId> shown, std::uint64_t matched,
                              std::string_view mode) {
              if (!g.reveal) return;
              record_access(db, g, "segment --reveal", std::move(shown), matched,
                            std::string(mode) + " query: " + audit_text(audit_query_text(*q, po), 600));
            };
            if (o->explain) {  // one traced evaluation
              std::string plan = must(txn.explain(*q, so));
              record({}, 0, "--explain;");
              if (g.json) print_json(Json::object().set("query", q->to_string(po)).set("plan", plan));
              else std::fputs(plan.c_str(), stdout);
              return kExitOk;
            }

            // Evaluated once: the count, the ids and the page all come from this answer.
            Segment seg = must(txn.select(*q, so));

            if (top->count()) {  // ids and values from the index; no record is read
              std::vector<Ranked> ranked = must(seg.rank(rank_by, o->top));
              const std::string name = format.name;
              {
                std::vector<CustomerId> shown;
                for (const Ranked& r : ranked) shown.push_back(r.id);
                record(std::move(shown), must(seg.count()), "--top " + std::to_string(o->top) + " --by " + name + ";");
              }
              // A birth date next to its customer's id is personal data: masked unless --reveal,
              // as get, segment's table and export mask it (docs/cli.md, Masking).
              // So is a personal custom attribute's value.
              const bool masked =
                  !g.reveal && (format.builtin ? *format.builtin == RankBy::kBirthDate : format.personal);
              const std::string mask =
                  format.builtin || format.type == AttributeType::kDate ||
                          format.type == AttributeType::kTimestamp
                      ? std::string(io::kMaskedDate)
                      : std::string("***");
              auto text = [&](std::int64_t v) {
                return masked ? mask : measure_text(format, v, currency);
              };
              if (g.json) {
                Json arr = Json::array();
                for (const Ranked& r : ranked)
                  arr.push(Json::object().set("id", r.id).set(
                      name, masked ? Json(mask) : measure_json(format, r.value, currency)));
                print_json(Json::object()
                               .set("by", name)
                               .set("count", must(seg.count()))
                               .set("top", std::move(arr)));
                return kExitOk;
              }
              TextTable table({"rank", "id", name}, {0, 1, 2});
              std::size_t rank = 0;
              for (const Ranked& r : ranked)
                table.add({std::to_string(++rank), std::to_string(r.id),
                           text(r.value)});
              table.print();
              std::printf("top %zu of %llu matching customers by %s%s\n", ranked.size(),
                          static_cast<unsigned long long>(must(seg.count())), name.c_str(),
                          measure_is_amount(format) ? (" (amounts in " + currency + ")").c_str() : "");
              return kExitOk;
            }

            if (o->count) {
              std::uint64_t n = must(seg.count());
              record({}, n, "--count;");
              if (g.json) print_json(Json::object().set("count", n));
              else std::printf("%llu\n", static_cast<unsigned long long>(n));
              return kExitOk;
            }
            if (o->ids) {
              std::vector<CustomerId> list;
              if (limit->count()) list = must(seg.page(o->limit, 0)).ids;
              else list = must(seg.ids());
              record(list, must(seg.count()), "--ids;");
              if (g.json) {
                Json arr = Json::array();
                for (CustomerId id : list) arr.push(id);
                print_json(arr);
              } else {
                std::string out;
                for (CustomerId id : list) out += std::to_string(id) + '\n';
                std::fputs(out.c_str(), stdout);
              }
              return kExitOk;
            }

            const std::uint64_t total = must(seg.count());
            SegmentPage page = must(seg.page(o->limit, 0));
            std::vector<Customer> rows;
            for (CustomerId id : page.ids)
              if (auto c = must(txn.get_customer(id))) rows.push_back(std::move(*c));
            record(page.ids, total, "table;");
            if (g.json) {
              Json arr = Json::array();
              const Schema schema = must(txn.schema());
              for (const Customer& c : rows) arr.push(customer_json(g, c, currency, &schema));
              print_json(Json::object().set("count", total).set("customers", std::move(arr)));
              return kExitOk;
            }
            TextTable table({"id", "name", "tier", "stage", "region", "txn_count", "total"},
                            {0, 5, 6});
            for (const Customer& c : rows)
              table.add({std::to_string(c.id), shown_name(g, c), std::string(to_string(c.tier)),
                         std::string(to_string(c.stage)), c.address.region,
                         std::to_string(c.aggregates.txn_count),
                         money(c.aggregates.total_amount, currency)});
            table.print();
            std::printf("%zu of %llu matching customers shown\n", rows.size(),
                        static_cast<unsigned long long>(total));
            return kExitOk;
          }};
}

}  // namespace custdb::cli
