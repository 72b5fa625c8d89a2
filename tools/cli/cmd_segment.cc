// custdb segment QUERY [--count] [--ids] [--limit N] [--explain] [--top N [--by ATTR]]
// [--as-of DATE] [--shards A,B,C]: the customers matching a segment query (custdb/query.h).
// With --shards (instead of --db) the query runs on every shard (custdb/shards.h) and the
// answers are merged; the output is what one database holding every shard's customers prints.
#include <functional>
#include <limits>
#include <optional>

#include "common.h"
#include "custdb/io.h"
#include "custdb/query.h"
#include "io/display.h"  // kMaskedDate
#include "shards_arg.h"

namespace custdb::cli {

namespace {
// The answers the output is printed from: one segment of one database, or the merged answers
// of a ShardSet (each call a scatter-gather).
struct Answers {
  std::function<std::uint64_t()> count;
  std::function<std::vector<CustomerId>()> ids;
  std::function<SegmentPage(std::size_t limit)> page;
  std::function<std::vector<Ranked>(const MeasureKey&, std::size_t)> rank;
  std::function<std::optional<Customer>(CustomerId)> get;
};
}  // namespace

Command add_segment(CLI::App& app, Globals& g) {
  struct Opts {
    std::vector<std::string> query;
    bool count = false, ids = false, explain = false;
    std::size_t limit = 20;
    std::size_t top = 0;
    std::string by = "total_amount";
    std::string as_of;
    std::string shards;
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
  sub->add_option("--shards", o->shards,
                  "Instead of --db: the shards' directories A,B,C (in their placement order); "
                  "the answers of every shard merged (--explain and --reveal are refused)");
  count->excludes(ids)->excludes(explain)->excludes(top);
  ids->excludes(explain)->excludes(top);
  explain->excludes(top);
  by->needs(top);
  limit->excludes(top);
  return {sub, [&g, o, limit, top] {
            SegmentOptions so;
            if (!o->as_of.empty()) so.as_of = parse_date_arg("--as-of", o->as_of);
            const bool sharded = !o->shards.empty();
            if (sharded && o->explain)
              die_usage("--explain cannot be merged across --shards (each shard has its own "
                        "plan): run it on one shard with --db");
            std::optional<Database> single;
            std::optional<shards::ShardSet> set;
            if (sharded) {
              set.emplace(open_shards(g, o->shards));
            } else {
              // With --reveal: recorded in the audit trail (the query, the ids shown) before
              // anything is shown.
              single.emplace(open_database_recorded(g, /*record=*/false, /*read_only=*/true));
            }
            Database& db = sharded ? set->shard(0) : *single;
            const std::string currency = db.info().base_currency;
            // Shards: shard 0's snapshot names the custom attributes (every shard declares the
            // same schema).
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

            // One database: evaluated once; the count, the ids and the page all come from this
            // answer. Shards: each call asks every shard.
            std::optional<Segment> seg;
            Answers ans;
            if (sharded) {
              const shards::ShardSet& s = *set;
              const query::Node& node = *q;
              ans.count = [&] { return must(s.count(node, so)); };
              ans.ids = [&] { return must(s.ids(node, so)); };
              ans.page = [&](std::size_t limit) { return must(s.page(node, limit, 0, so)); };
              ans.rank = [&](const MeasureKey& by, std::size_t n) { return must(s.rank(node, by, n, so)); };
              // Read from the customer's shard; an error names the shard, as the ShardSet's do.
              // Shards opened read-only without a placement (loaded file by file, never opened
              // read-write through a ShardSet) may be given in another order: a customer not on
              // its routed shard is looked for on the others, never skipped.
              const std::vector<std::filesystem::path> paths = shard_list(o->shards);
              ans.get = [&s, paths](CustomerId id) -> std::optional<Customer> {
                const std::size_t routed = shards::shard_of(id, s.size());
                for (std::size_t k = 0; k < s.size(); ++k) {
                  const std::size_t i = k == 0 ? routed : (k <= routed ? k - 1 : k);
                  auto named = [&](const Error& e) {
                    return Error(e.code(), "shard " + std::to_string(i) + " (" + paths[i].string() +
                                               "): " + e.message());
                  };
                  auto read = s.shard(i).begin_read();
                  if (!read) die(named(read.error()));
                  auto c = read->get_customer(id);
                  if (!c) die(named(c.error()));
                  if (*c) return std::move(*c);
                }
                return std::nullopt;
              };
            } else {
              seg.emplace(must(txn.select(*q, so)));
              ans.count = [&] { return must(seg->count()); };
              ans.ids = [&] { return must(seg->ids()); };
              ans.page = [&](std::size_t limit) { return must(seg->page(limit, 0)); };
              ans.rank = [&](const MeasureKey& by, std::size_t n) { return must(seg->rank(by, n)); };
              ans.get = [&](CustomerId id) { return must(txn.get_customer(id)); };
            }

            if (top->count()) {  // ids and values from the index; no record is read
              std::vector<Ranked> ranked = ans.rank(rank_by, o->top);
              const std::string name = format.name;
              {
                std::vector<CustomerId> shown;
                for (const Ranked& r : ranked) shown.push_back(r.id);
                record(std::move(shown), ans.count(), "--top " + std::to_string(o->top) + " --by " + name + ";");
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
                               .set("count", ans.count())
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
                          static_cast<unsigned long long>(ans.count()), name.c_str(),
                          measure_is_amount(format) ? (" (amounts in " + currency + ")").c_str() : "");
              return kExitOk;
            }

            if (o->count) {
              std::uint64_t n = ans.count();
              record({}, n, "--count;");
              if (g.json) print_json(Json::object().set("count", n));
              else std::printf("%llu\n", static_cast<unsigned long long>(n));
              return kExitOk;
            }
            if (o->ids) {
              std::vector<CustomerId> list;
              if (limit->count()) list = ans.page(o->limit).ids;
              else list = ans.ids();
              record(list, ans.count(), "--ids;");
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

            const std::uint64_t total = ans.count();
            SegmentPage page = ans.page(o->limit);
            std::vector<Customer> rows;
            for (CustomerId id : page.ids)
              if (auto c = ans.get(id)) rows.push_back(std::move(*c));
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
