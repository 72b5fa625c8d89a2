// custdb report [--segment QUERY] [--by A[,B]] [--measure M,...] [--as-of DATE]
// [--shards A,B,C]: grouped aggregates over every customer or over a segment; with --shards
// (instead of --db) over every shard's customers, the shards' rows merged (custdb/shards.h). Group and measure names may be custom
// attributes of the customers table (custdb/attributes.h).
//
// Two layouts. Without --measure and with one wave-1 attribute (tier, region, stage, type),
// the wave-1 table (ReadView::group_all / group: customers, total sum/min/max/avg, txn count,
// and a total row), kept as it was. Otherwise the general report (ReadView::report_all /
// report): zero to two group attributes, and per measure its count, sum, min, max and average
// (default measures: total_amount, txn_count).
#include <cmath>

#include "common.h"
#include "io/display.h"  // kMaskedDate
#include "custdb/query.h"
#include "shards_arg.h"

namespace custdb::cli {
namespace {

// Every customer, as group_all and report_all select them: `not` of an empty categorical set
// is the universe posting.
const query::Node& everyone() {
  static const query::Node all = [] {
    query::Node none;
    none.kind = query::Node::Kind::kIn;
    none.field = query::Field::kRegion;
    none.values = {std::string()};
    query::Node n;
    n.kind = query::Node::Kind::kNot;
    n.children = {none};
    return n;
  }();
  return all;
}

bool wave1_group(GroupBy g) {
  return g == GroupBy::kTier || g == GroupBy::kRegion || g == GroupBy::kStage ||
         g == GroupBy::kType;
}

// The wave-1 table, byte for byte what `custdb report` printed before --measure existed.
int print_wave1(const Globals& g, const std::string& by, const std::vector<GroupRow>& rows,
                const std::string& currency) {
  // The average, rounded to the currency's minor unit.
  auto avg = [&](const GroupRow& r) {
    return format_amount(static_cast<std::int64_t>(std::llround(r.total_amount_avg)), currency);
  };
  if (g.json) {
    Json arr = Json::array();
    for (const GroupRow& r : rows)
      arr.push(Json::object()
                   .set(by, r.group)
                   .set("customers", r.customers)
                   .set("total_amount_sum", format_amount(r.total_amount_sum, currency))
                   .set("total_amount_min", format_amount(r.total_amount_min, currency))
                   .set("total_amount_max", format_amount(r.total_amount_max, currency))
                   .set("total_amount_avg", avg(r))
                   .set("txn_count", r.txn_count_sum));
    print_json(Json::object().set("by", by).set("currency", currency).set("groups", std::move(arr)));
    return kExitOk;
  }
  TextTable table({by, "customers", "total_sum", "total_min", "total_max", "total_avg", "txn_count"},
                  {1, 2, 3, 4, 5, 6});
  std::uint64_t customers = 0, txns = 0;
  AmountSum sum = 0;  // exact: never wraps (see custdb/types.h)
  for (const GroupRow& r : rows) {
    customers += r.customers;
    txns += r.txn_count_sum;
    sum += r.total_amount_sum;
    table.add({r.group.empty() ? "(none)" : r.group, std::to_string(r.customers),
               format_amount(r.total_amount_sum, currency), format_amount(r.total_amount_min, currency),
               format_amount(r.total_amount_max, currency), avg(r), std::to_string(r.txn_count_sum)});
  }
  table.add({"(all)", std::to_string(customers), format_amount(sum, currency), "", "", "",
             std::to_string(txns)});
  table.print();
  std::printf("amounts in %s\n", currency.c_str());
  return kExitOk;
}

// Birth dates are personal data: a group's min, max or average of one is a customer's birth
// date (a group of one shows it), so they are masked like every birth date unless --reveal;
// so are the statistics of a personal custom attribute.
bool masked(const Globals& g, const MeasureFormat& m) {
  if (g.reveal) return false;
  return m.builtin ? *m.builtin == Measure::kBirthDate : m.personal;
}

// The general report: one column group per measure.
int print_report(const Globals& g, const ReportSpec& spec, const std::vector<ReportRow>& rows,
                 const std::string& currency, const Schema& schema) {
  std::vector<MeasureFormat> formats;
  for (const MeasureKey& k : spec.measures) formats.push_back(measure_format(k, schema));
  // A personal attribute's values are personal data: its group labels are masked unless
  // --reveal (the counts still show).
  std::vector<bool> masked_group;
  for (const GroupKey& k : spec.by) {
    const AttributeDef* def = k.builtin ? nullptr : schema.find(k.custom);
    masked_group.push_back(def && def->personal && !g.reveal);
  }
  auto label = [&](const ReportRow& r, std::size_t i) {
    return masked_group[i] && !r.group[i].empty() ? std::string("***") : r.group[i];
  };
  auto masked_text = [&](const MeasureFormat& m) {
    const bool date = m.builtin || m.type == AttributeType::kDate || m.type == AttributeType::kTimestamp;
    return date ? std::string(io::kMaskedDate) : std::string("***");
  };
  if (g.json) {
    Json by = Json::array(), measures = Json::array(), groups = Json::array();
    for (const GroupKey& b : spec.by) by.push(b.name());
    for (const MeasureFormat& m : formats) measures.push(m.name);
    for (const ReportRow& r : rows) {
      Json row = Json::object();
      for (std::size_t i = 0; i < spec.by.size(); ++i) row.set(spec.by[i].name(), label(r, i));
      row.set("customers", r.customers);
      Json ms = Json::array();
      for (std::size_t i = 0; i < formats.size(); ++i) {
        const MeasureFormat& m = formats[i];
        const MeasureStats& s = r.measures[i];
        Json one = Json::object().set("measure", m.name).set("count", s.count);
        if (measure_has_sum(m))
          one.set("sum", masked(g, m) && !m.builtin ? Json(masked_text(m))
                                                    : measure_json(m, s.sum, currency));
        auto opt = [&](const std::optional<std::int64_t>& v) {
          if (v && masked(g, m)) return Json(masked_text(m));
          return v ? measure_json(m, *v, currency) : Json();
        };
        one.set("min", opt(s.min)).set("max", opt(s.max)).set("avg", opt(s.avg()));
        ms.push(std::move(one));
      }
      row.set("measures", std::move(ms));
      groups.push(std::move(row));
    }
    print_json(Json::object()
                   .set("by", std::move(by))
                   .set("measures", std::move(measures))
                   .set("currency", currency)
                   .set("groups", std::move(groups)));
    return kExitOk;
  }
  std::vector<std::string> headers;
  std::vector<std::size_t> right;
  for (const GroupKey& b : spec.by) headers.push_back(b.name());
  right.push_back(headers.size());
  headers.push_back("customers");
  for (const MeasureFormat& m : formats) {
    for (const char* stat : {"count", "sum", "min", "max", "avg"}) {
      if (std::string_view(stat) == "sum" && !measure_has_sum(m)) continue;
      right.push_back(headers.size());
      headers.push_back(m.name + "_" + stat);
    }
  }
  TextTable table(headers, right);
  for (const ReportRow& r : rows) {
    std::vector<std::string> cells;
    for (std::size_t i = 0; i < r.group.size(); ++i)
      cells.push_back(r.group[i].empty() ? "(none)" : label(r, i));
    cells.push_back(std::to_string(r.customers));
    for (std::size_t i = 0; i < formats.size(); ++i) {
      const MeasureFormat& m = formats[i];
      const MeasureStats& s = r.measures[i];
      auto opt = [&](const std::optional<std::int64_t>& v) {
        if (v && masked(g, m)) return masked_text(m);
        return v ? measure_text(m, *v, currency) : std::string();
      };
      cells.push_back(std::to_string(s.count));
      if (measure_has_sum(m))
        cells.push_back(masked(g, m) && !m.builtin ? masked_text(m)
                                                   : measure_text(m, s.sum, currency));
      cells.push_back(opt(s.min));
      cells.push_back(opt(s.max));
      cells.push_back(opt(s.avg()));
    }
    table.add(std::move(cells));
  }
  table.print();
  bool amounts = false;
  for (const MeasureFormat& m : formats) amounts |= measure_is_amount(m);
  if (amounts) std::printf("amounts in %s\n", currency.c_str());
  return kExitOk;
}

}  // namespace

Command add_report(CLI::App& app, Globals& g) {
  struct Opts {
    std::string by = "tier";
    std::string measures;
    std::string segment;
    std::string as_of;
    std::string shards;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "report", "Grouped aggregates (count, sum, min, max, avg) of every customer or of a segment");
  sub->add_option("--by", o->by,
                  "Zero, one or two group attributes, comma-separated ('': one row of everyone): "
                  "tier, region, stage, type, city, "
                  "country, gender, risk, income_band, tag, consent_email, consent_sms, "
                  "consent_phone, consent_profiling, consent_sharing, r_score, f_score, m_score, or an "
                  "enum, text, bool or tag_set custom attribute")
      ->capture_default_str();
  auto* measure = sub->add_option(
      "--measure", o->measures,
      "Measures, comma-separated: total_amount, txn_count, last_txn_at, first_txn_at, "
      "created_at, birth_date, clv, p_alive, expected_purchases, income_band, r_score, f_score, "
      "m_score, or an integer, decimal, amount, date or timestamp custom attribute (default: "
      "the totals table)");
  sub->add_option("--segment", o->segment, "Only the customers matching this segment query");
  sub->add_option("--as-of", o->as_of,
                  "Date `age` in the --segment query is computed on (default: today)");
  sub->add_option("--shards", o->shards,
                  "Instead of --db: the shards' directories A,B,C (in their placement order); "
                  "the rows of every shard merged (--reveal is refused)");
  return {sub, [&g, o, measure] {
            // Built-in names are checked before the database opens (a misspelt one is a usage
            // error); other names are custom attributes, resolved against the schema below.
            std::vector<std::string> by_names = split_names(o->by);
            if (by_names.size() > 2)
              die_usage("--by: at most two attributes, got " + std::to_string(by_names.size()));
            std::vector<std::string> measure_names;
            if (measure->count()) {
              measure_names = split_names(o->measures);
              if (measure_names.empty()) die_usage("--measure: expected one or more attributes");
            }
            SegmentOptions so;
            if (!o->as_of.empty()) so.as_of = parse_date_arg("--as-of", o->as_of);

            std::optional<shards::ShardSet> set;
            std::optional<Database> single;
            if (!o->shards.empty()) set.emplace(open_shards(g, o->shards));
            else single.emplace(open_database(g, /*read_only=*/true));
            // Shards: shard 0's snapshot names the custom attributes (every shard declares the
            // same schema).
            Database& db = set ? set->shard(0) : *single;
            const std::string currency = db.info().base_currency;
            auto txn = must(db.begin_read());
            const query::ParseOptions po = must(txn.parse_options());  // the schema's names
            const Schema& schema = *po.schema;
            ReportSpec spec;
            for (const std::string& name : by_names)
              spec.by.push_back(group_key_arg("--by", name, schema));
            if (spec.by.size() == 2 && spec.by[0].name() == spec.by[1].name())
              die_usage("--by: the same attribute twice");
            for (const std::string& name : measure_names)
              spec.measures.push_back(measure_key_arg("--measure", name, schema));
            std::optional<query::Node> q;
            if (!o->segment.empty()) {
              auto parsed = query::parse(o->segment, po);
              if (!parsed) die_usage(parsed.error().message());
              q = std::move(*parsed);
            }

            if (spec.measures.empty() && spec.by.size() == 1 && spec.by[0].builtin &&
                wave1_group(*spec.by[0].builtin)) {
              const GroupBy by0 = *spec.by[0].builtin;
              const std::string by = to_string(by0);
              auto rows = set ? must(set->group(q ? *q : everyone(), by0, so))
                          : q ? must(txn.group(*q, by0, so)) : must(txn.group_all(by0));
              return print_wave1(g, by, rows, currency);
            }
            if (spec.measures.empty()) spec.measures = {Measure::kTotalAmount, Measure::kTxnCount};
            auto rows = set ? must(set->report(q ? *q : everyone(), spec, so))
                        : q ? must(txn.report(*q, spec, so)) : must(txn.report_all(spec));
            return print_report(g, spec, rows, currency, schema);
          }};
}

}  // namespace custdb::cli
