// Custom attributes against brute force (issue #17, "Must show"): random schemas (every type,
// indexed or not, personal or not, required with a default or optional), random records
// (inserts, updates, deletes, transactions with attributes), random queries over custom and
// built-in fields, in plaintext and encrypted mode.
//
// Two references, both independent of the segment index:
//  - query::matches (the reference evaluator) over every customer as decoded
//    (ReadView::for_each_customer);
//  - this file's own evaluator of each generated predicate over this file's own model of the
//    stored values (what was written, defaults applied): the semantics of query.h's comment
//    written out again, so that a mistake shared by the evaluator and the planner shows too.
// The engine's answer (ReadView::select: count and ids) must equal both; the decoded records
// must equal the model.
//
// Scenarios: a random schema declared up front; an index built (set_indexed, a tiny batch)
// while another thread writes and a third reads; an index dropped the same way; after a rename
// and a drop (and a new attribute under a dropped name: no old value comes back); reports,
// rank and top on custom attributes against a brute force.
//
// Decimal attributes get scales 0..6 here: the builder's Decimal operand holds millionths
// (query.h), so a scale of 7..9 cannot be written with it.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "custdb/query.h"
#include "demo.h"
#include "random_data.h"
#include "test_util.h"
#include "util/normalize.h"

using namespace custdb;
using namespace custdb::test;
using query::Field;

namespace {

const Date kAsOf = parse_date("2026-06-15").value();
constexpr AttributeType kAllTypes[] = {
    AttributeType::kText, AttributeType::kEnum, AttributeType::kInteger, AttributeType::kDecimal,
    AttributeType::kAmount, AttributeType::kDate, AttributeType::kTimestamp, AttributeType::kBool,
    AttributeType::kTagSet};

bool is_ordered(AttributeType t) {
  return t == AttributeType::kInteger || t == AttributeType::kDecimal ||
         t == AttributeType::kAmount || t == AttributeType::kDate || t == AttributeType::kTimestamp;
}

std::int64_t days(Date d) { return d.time_since_epoch().count(); }
std::int64_t ms(Timestamp t) { return t.time_since_epoch().count(); }

const std::int64_t kMinDay = days(parse_date("1800-01-01").value());
const std::int64_t kMaxDay = days(parse_date("2200-12-31").value());
const std::int64_t kMinMs = ms(parse_timestamp("1800-01-01").value());
const std::int64_t kMaxMs = ms(parse_timestamp("2200-12-31T23:59:59.999Z").value());

// Text values: mixed case and non-ASCII on purpose (queries fold, stored values keep case).
const char* const kTexts[] = {"Alpha", "alpha", "BETA", "Gamma Ray", "Ökonom", "ökonom", "Straße"};
const char* const kEnumValues[] = {"Red", "green", "BLUE", "Teal", "amber"};
const char* const kTagValues[] = {"x", "y", "zed", "wü"};

// ---- the schema -------------------------------------------------------------------------------

// A random value of `def`, as stored (normalized: tags sorted unique, enum as declared).
AttributeValue random_value(const AttributeDef& def, std::mt19937& r) {
  switch (def.type) {
    case AttributeType::kText: return std::string(pick(r, kTexts));
    case AttributeType::kEnum: return def.values[r() % def.values.size()];
    case AttributeType::kInteger: {
      const std::int64_t edge[] = {std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max(), 0, -1, 1, 1000};
      if (r() % 8 == 0) return edge[r() % std::size(edge)];
      return static_cast<std::int64_t>(r() % 41) - 20;  // ties
    }
    case AttributeType::kDecimal:
      return static_cast<std::int64_t>(r() % 2001) - 1000;
    case AttributeType::kAmount: {
      if (r() % 10 == 0) return r() % 2 ? kMaxAmount : -kMaxAmount;
      return static_cast<std::int64_t>(r() % 100'000) - 20'000;
    }
    case AttributeType::kDate: {
      if (r() % 10 == 0) return Date{std::chrono::days{r() % 2 ? kMinDay : kMaxDay}};
      return Date{std::chrono::days{days(parse_date("2020-01-01").value()) + r() % 2000}};
    }
    case AttributeType::kTimestamp: {
      if (r() % 10 == 0) return Timestamp{std::chrono::milliseconds{r() % 2 ? kMinMs : kMaxMs}};
      return random_ts(r);
    }
    case AttributeType::kBool: return r() % 2 == 0;
    case AttributeType::kTagSet: {
      std::vector<std::string> tags;
      const auto& pool = def.values;  // declared (folded) or the open pool
      std::vector<std::string> open(std::begin(kTagValues), std::end(kTagValues));
      const auto& from = pool.empty() ? open : pool;
      for (const std::string& t : from)
        if (r() % 2) tags.push_back(t);
      if (tags.empty()) tags.push_back(from[r() % from.size()]);
      std::sort(tags.begin(), tags.end());
      return tags;
    }
  }
  return std::int64_t{0};
}

// A random schema for `table`: every type at least once (customers), the flags drawn. Scales
// 0..6 (see the file comment).
std::vector<AttributeDef> random_schema(std::mt19937& r, AttributeTable table, int extra) {
  std::vector<AttributeType> types(std::begin(kAllTypes), std::end(kAllTypes));
  for (int i = 0; i < extra; ++i) types.push_back(pick(r, kAllTypes));
  std::vector<AttributeDef> out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    AttributeDef d;
    d.table = table;
    d.type = types[i];
    d.name = std::string(table == AttributeTable::kCustomers ? "c" : "t") + std::to_string(i) + "_" +
             std::string(to_string(d.type));
    if (d.type == AttributeType::kEnum) {
      for (const char* v : kEnumValues)
        if (d.values.empty() || r() % 3) d.values.push_back(v);
    }
    if (d.type == AttributeType::kTagSet && r() % 2)
      for (const char* v : kTagValues) d.values.push_back(normalize::fold(v));
    if (d.type == AttributeType::kDecimal) d.scale = static_cast<int>(r() % 7);
    d.personal = r() % 3 == 0;
    d.indexed = table == AttributeTable::kCustomers && r() % 3 != 0;
    if (r() % 4 == 0) {
      d.required = true;
      d.default_value = random_value(d, r);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// ---- the model ----------------------------------------------------------------------------------

// What each customer's attributes must decode to (live attributes, defaults applied).
using Model = std::map<CustomerId, Attributes>;

// Random attribute values for a record under `schema`'s live attributes of `table`. Required
// ones are sometimes omitted (the default is stored).
Attributes random_attributes(const Schema& schema, AttributeTable table, std::mt19937& r) {
  Attributes a;
  for (const AttributeDef& d : schema.attributes) {
    if (d.dropping || d.table != table) continue;
    if (r() % 3 == 0) continue;
    a[d.name] = random_value(d, r);
  }
  return a;
}

// `written` as the engine must present it: every required attribute missing takes its default.
Attributes with_defaults(const Schema& schema, Attributes written, AttributeTable table) {
  for (const AttributeDef& d : schema.attributes)
    if (!d.dropping && d.table == table && d.required && d.default_value && !written.count(d.name))
      written[d.name] = *d.default_value;
  return written;
}

std::string describe(const AttributeValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<T, std::string>) return "'" + x + "'";
        else if constexpr (std::is_same_v<T, Date>) return format_date(x);
        else if constexpr (std::is_same_v<T, Timestamp>) return format_timestamp(x);
        else {
          std::string s = "{";
          for (const auto& t : x) s += t + ",";
          return s + "}";
        }
      },
      v);
}

std::string describe(const Attributes& a) {
  std::string s;
  for (const auto& [k, v] : a) s += k + "=" + describe(v) + " ";
  return s;
}

// ---- predicates with their own evaluator ----------------------------------------------------------

struct Pred {
  query::Node node;
  std::function<bool(const Customer&)> eval;  // this file's semantics, over decoded records
};

// The ordered int64 of a value (query.h's units), for ordered types.
std::int64_t ordered(const AttributeValue& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto* d = std::get_if<Date>(&v)) return days(*d);
  if (auto* t = std::get_if<Timestamp>(&v)) return ms(*t);
  return 0;
}

query::Operand operand(const AttributeDef& d, const AttributeValue& v, std::mt19937& r) {
  switch (d.type) {
    case AttributeType::kText: {
      std::string s = std::get<std::string>(v);
      return r() % 2 ? normalize::casefold(s) : s;  // folded or not: the same predicate
    }
    case AttributeType::kEnum: {
      std::string s = std::get<std::string>(v);
      if (r() % 3 == 0) for (char& ch : s) ch = normalize::ascii_lower(ch) == ch && ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch;
      return s;  // names match case-insensitively
    }
    case AttributeType::kBool: return std::string(std::get<bool>(v) ? "true" : "false");
    case AttributeType::kTagSet: return std::get<std::vector<std::string>>(v).front();
    case AttributeType::kInteger: return std::get<std::int64_t>(v);
    case AttributeType::kDecimal: {
      std::int64_t m = std::get<std::int64_t>(v);
      for (int i = d.scale; i < 6; ++i) m *= 10;
      return query::Decimal{m};
    }
    case AttributeType::kAmount: return query::Amount{std::get<std::int64_t>(v)};
    case AttributeType::kDate: return std::get<Date>(v);
    case AttributeType::kTimestamp: return std::get<Timestamp>(v);
  }
  return std::int64_t{0};
}

// Whether stored value `have` equals query value `want` (both as stored) under d's semantics.
bool equal_under(const AttributeDef& d, const AttributeValue& have, const AttributeValue& want) {
  switch (d.type) {
    case AttributeType::kText:
      return normalize::fold(std::get<std::string>(have)) == normalize::fold(std::get<std::string>(want));
    case AttributeType::kTagSet: {
      const auto& tags = std::get<std::vector<std::string>>(have);
      return std::find(tags.begin(), tags.end(), std::get<std::vector<std::string>>(want).front()) != tags.end();
    }
    case AttributeType::kEnum: case AttributeType::kBool: return have == want;
    default: return ordered(have) == ordered(want);
  }
}

// The value a customer has for `name` (as decoded), if any.
const AttributeValue* value_of(const Customer& c, const std::string& name) {
  auto it = c.attributes.find(name);
  return it == c.attributes.end() ? nullptr : &it->second;
}

// A random predicate on attribute d, comparing against values drawn from `seen` (the data) or
// fresh random ones. Only the comparisons d's type takes (query.h).
Pred attribute_predicate(const AttributeDef& d, const std::vector<AttributeValue>& seen, std::mt19937& r) {
  auto draw = [&]() -> AttributeValue {
    if (!seen.empty() && r() % 4) return seen[r() % seen.size()];
    return random_value(d, r);
  };
  const std::string name = d.name;
  const AttributeDef def = d;
  if (!is_ordered(d.type)) {
    const int roll = static_cast<int>(r() % (d.type == AttributeType::kTagSet ? 2 : 3));
    if (roll == 2) {  // !=
      AttributeValue v = draw();
      return {query::ne(d, operand(d, v, r)), [=](const Customer& c) {
                const AttributeValue* have = value_of(c, name);
                return !have || !equal_under(def, *have, v);
              }};
    }
    if (roll == 1) {  // in
      AttributeValue a = draw(), b = draw();
      return {query::in(d, {operand(d, a, r), operand(d, b, r)}), [=](const Customer& c) {
                const AttributeValue* have = value_of(c, name);
                return have && (equal_under(def, *have, a) || equal_under(def, *have, b));
              }};
    }
    AttributeValue v = draw();
    return {query::eq(d, operand(d, v, r)), [=](const Customer& c) {
              const AttributeValue* have = value_of(c, name);
              return have && equal_under(def, *have, v);
            }};
  }
  AttributeValue v = draw();
  const std::int64_t x = ordered(v);
  auto with = [&](auto make, auto cmp) -> Pred {
    return {make(d, operand(d, v, r)), [=](const Customer& c) {
              const AttributeValue* have = value_of(c, name);
              if (!have) return cmp(std::nullopt);
              return cmp(std::optional<std::int64_t>(ordered(*have)));
            }};
  };
  using O = std::optional<std::int64_t>;
  switch (r() % 8) {
    case 0: return with([](const AttributeDef& a, query::Operand o) { return query::lt(a, o); }, [x](O h) { return h && *h < x; });
    case 1: return with([](const AttributeDef& a, query::Operand o) { return query::le(a, o); }, [x](O h) { return h && *h <= x; });
    case 2: return with([](const AttributeDef& a, query::Operand o) { return query::gt(a, o); }, [x](O h) { return h && *h > x; });
    case 3: return with([](const AttributeDef& a, query::Operand o) { return query::ge(a, o); }, [x](O h) { return h && *h >= x; });
    case 4: return with([](const AttributeDef& a, query::Operand o) { return query::eq(a, o); }, [x](O h) { return h && *h == x; });
    case 5: return with([](const AttributeDef& a, query::Operand o) { return query::ne(a, o); }, [x](O h) { return !h || *h != x; });
    case 6: {
      AttributeValue hi = draw();
      const std::int64_t y = ordered(hi);
      return {query::between(d, operand(d, v, r), operand(d, hi, r)), [=](const Customer& c) {
                const AttributeValue* have = value_of(c, name);
                return have && x <= ordered(*have) && ordered(*have) <= y;
              }};
    }
    default: {
      AttributeValue b = draw();
      const std::int64_t y = ordered(b);
      return {query::in(d, {operand(d, v, r), operand(d, b, r)}), [=](const Customer& c) {
                const AttributeValue* have = value_of(c, name);
                return have && (ordered(*have) == x || ordered(*have) == y);
              }};
    }
  }
}

// Built-in predicates mixed in (evaluated by query::matches for the own reference too).
std::vector<Pred> builtin_predicates() {
  using namespace custdb::query;
  std::vector<Node> nodes = {eq(Field::kRegion, "east"), tag("vip"), in(Field::kStage, {Stage::kActive, Stage::kLoyal}),
                             ge(Field::kTier, Tier::kGold), lt(Field::kTotalAmount, Amount{50'000}),
                             ge(Field::kTxnCount, std::int64_t{2})};
  std::vector<Pred> out;
  for (Node& n : nodes) {
    Node copy = n;
    out.push_back({std::move(n), [copy](const Customer& c) {
                     query::EvalContext ctx;
                     ctx.as_of = kAsOf;
                     return query::matches(copy, c, ctx);
                   }});
  }
  return out;
}

// Every value present in the data per attribute name.
std::map<std::string, std::vector<AttributeValue>> seen_values(const std::vector<Customer>& all) {
  std::map<std::string, std::vector<AttributeValue>> out;
  for (const Customer& c : all)
    for (const auto& [k, v] : c.attributes) out[k].push_back(v);
  return out;
}

// A pool of predicates over the live customer attributes of `schema` and some built-ins.
std::vector<Pred> predicate_pool(const Schema& schema, const std::vector<Customer>& all, std::mt19937& r,
                                 int per_attribute = 6) {
  auto seen = seen_values(all);
  std::vector<Pred> pool = builtin_predicates();
  for (const AttributeDef& d : schema.attributes) {
    if (d.dropping || d.table != AttributeTable::kCustomers) continue;
    for (int i = 0; i < per_attribute; ++i) pool.push_back(attribute_predicate(d, seen[d.name], r));
  }
  return pool;
}

Pred combination(const std::vector<Pred>& pool, std::mt19937& r, int depth = 0) {
  const int roll = static_cast<int>(r() % 10);
  if (depth < 3 && roll < 5) {
    Pred a = combination(pool, r, depth + 1), b = combination(pool, r, depth + 1);
    if (roll < 3)
      return {query::all_of(a.node, b.node), [a, b](const Customer& c) { return a.eval(c) && b.eval(c); }};
    return {query::any_of(a.node, b.node), [a, b](const Customer& c) { return a.eval(c) || b.eval(c); }};
  }
  if (depth < 3 && roll < 6) {
    Pred a = combination(pool, r, depth + 1);
    return {query::negate(a.node), [a](const Customer& c) { return !a.eval(c); }};
  }
  return pool[r() % pool.size()];
}

std::vector<Customer> all_customers(const ReadView& view) {
  std::vector<Customer> out;
  must(view.for_each_customer([&](const Customer& c) {
    out.push_back(c);
    return true;
  }));
  return out;
}

// Compares the engine's answer with both references; returns "" or what differs (usable from
// any thread: no Boost.Test assertion inside).
std::string differs(const ReadView& view, const std::vector<Customer>& all, const Pred& p) {
  query::EvalContext ctx;
  ctx.as_of = kAsOf;
  std::vector<CustomerId> by_matches, by_own;
  for (const Customer& c : all) {
    if (query::matches(p.node, c, ctx)) by_matches.push_back(c.id);
    if (p.eval(c)) by_own.push_back(c.id);
  }
  auto opts = view.parse_options();
  const std::string text = opts ? p.node.to_string(*opts) : p.node.to_string();
  if (by_matches != by_own)
    return text + ": query::matches finds " + std::to_string(by_matches.size()) +
           ", the test's own evaluator " + std::to_string(by_own.size());
  auto seg = view.select(p.node, SegmentOptions{kAsOf});
  if (!seg) return text + ": select: " + seg.error().to_string();
  auto n = seg->count();
  auto ids = seg->ids();
  if (!n || !ids) return text + ": count/ids failed";
  if (*n != by_own.size() || *ids != by_own)
    return text + ": the engine finds " + std::to_string(*n) + " (" + std::to_string(ids->size()) +
           " ids), brute force " + std::to_string(by_own.size());
  // The text form round-trips under this snapshot's schema.
  if (opts) {
    auto back = query::parse(text, *opts);
    if (!back) return text + ": does not parse back: " + back.error().to_string();
    if (!(*back == p.node)) return text + ": parses back to " + back->to_string(*opts);
  }
  return "";
}

void require_same(const ReadView& view, const std::vector<Customer>& all, const Pred& p) {
  const std::string d = differs(view, all, p);
  BOOST_TEST_REQUIRE(d.empty(), d);
}

// The decoded records equal the model.
void require_model(const std::vector<Customer>& all, const Model& model) {
  BOOST_TEST_REQUIRE(all.size() == model.size());
  for (const Customer& c : all) {
    auto it = model.find(c.id);
    BOOST_TEST_REQUIRE((it != model.end()), "customer " << c.id << " not in the model");
    BOOST_TEST_REQUIRE((c.attributes == it->second), "customer " << c.id << " decodes "
                                                                 << describe(c.attributes) << ", wrote "
                                                                 << describe(it->second));
  }
}

std::vector<const Customer*> members(const std::vector<Customer>& all, const Pred& p);

// ---- the data ------------------------------------------------------------------------------------

struct World {
  TempDir dir;
  Database db;
  Model model;
  std::mt19937 r;
  std::vector<CustomerId> ids;

  World(Mode mode, std::uint32_t seed) : db(open_db(mode, dir / "db")), r(seed) {}

  Schema schema() { return must(db.schema()); }

  void declare(const std::vector<AttributeDef>& defs) {
    for (const AttributeDef& d : defs) {
      AttributeDef stored = must(db.add_attribute(d));
      BOOST_TEST_REQUIRE(stored.name == d.name);
      BOOST_TEST_REQUIRE(stored.id > 0u);
    }
  }

  // n random customers with random attributes and 0..3 transactions with attributes.
  void insert(int n) {
    const Schema s = schema();
    auto txn = must(db.begin_write());
    for (int i = 0; i < n; ++i) {
      Customer c = random_customer(r);
      c.attributes = random_attributes(s, AttributeTable::kCustomers, r);
      const Attributes want = with_defaults(s, c.attributes, AttributeTable::kCustomers);
      const CustomerId id = must(txn.insert_customer(c));
      model[id] = want;
      ids.push_back(id);
      for (int k = static_cast<int>(r() % 4); k > 0; --k) {
        Transaction t = random_txn(r, id);
        t.attributes = random_attributes(s, AttributeTable::kTransactions, r);
        const Attributes tw = with_defaults(s, t.attributes, AttributeTable::kTransactions);
        const TransactionId tid = must(txn.add_transaction(t));
        auto back = must(txn.get_transaction(tid));
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST_REQUIRE((back->attributes == tw), "transaction " << tid << " decodes "
                                                                    << describe(back->attributes));
      }
    }
    must(txn.commit());
  }

  // Random writes in one transaction: attribute values set, changed and removed, built-in
  // fields changed, customers deleted and added. Returns a description of a failure ("" if
  // none); usable from another thread. `model_mutex` guards the model.
  std::string churn(WriteTxn& txn, std::mt19937& rr, int writes, std::mutex* model_mutex = nullptr) {
    auto s = txn.schema();
    if (!s) return "schema: " + s.error().to_string();
    std::unique_lock<std::mutex> lock;
    if (model_mutex) lock = std::unique_lock<std::mutex>(*model_mutex);
    std::vector<CustomerId> live;
    for (const auto& [id, a] : model) live.push_back(id);
    for (int i = 0; i < writes && !live.empty(); ++i) {
      const CustomerId id = live[rr() % live.size()];
      switch (rr() % 6) {
        case 0: {
          auto d = txn.delete_customer(id, DeleteMode::kCascade);
          if (!d) return "delete: " + d.error().to_string();
          model.erase(id);
          live.erase(std::find(live.begin(), live.end(), id));
          break;
        }
        case 1: {
          Customer c = random_customer(rr);
          c.attributes = random_attributes(*s, AttributeTable::kCustomers, rr);
          auto nid = txn.insert_customer(c);
          if (!nid) return "insert: " + nid.error().to_string();
          model[*nid] = with_defaults(*s, c.attributes, AttributeTable::kCustomers);
          live.push_back(*nid);
          break;
        }
        default: {  // an update: some attributes set or removed, a built-in field moved
          Attributes next = model[id];
          for (auto it = next.begin(); it != next.end();)  // a dropped attribute's value is gone
            it = s->find(it->first) ? std::next(it) : next.erase(it);
          for (const AttributeDef& d : s->attributes) {
            if (d.dropping || d.table != AttributeTable::kCustomers) continue;
            const int roll = static_cast<int>(rr() % 4);
            if (roll == 0) next[d.name] = random_value(d, rr);
            else if (roll == 1 && !d.required) next.erase(d.name);
          }
          const Tier tier = static_cast<Tier>(rr() % 5);
          auto u = txn.update_customer(id, [&](Customer& c) {
            c.attributes = next;
            c.tier = tier;
          });
          if (!u) return "update of " + std::to_string(id) + ": " + u.error().to_string();
          model[id] = next;
        }
      }
    }
    return "";
  }
};

// A random required attribute's removal is refused, naming it, and changes nothing.
void check_required_refused(World& w) {
  const Schema s = w.schema();
  for (const AttributeDef& d : s.attributes) {
    if (d.dropping || d.table != AttributeTable::kCustomers || !d.required) continue;
    auto txn = must(w.db.begin_write());
    const CustomerId id = w.model.begin()->first;
    auto u = txn.update_customer(id, [&](Customer& c) { c.attributes.erase(d.name); });
    BOOST_TEST_REQUIRE(!u.has_value(), "removing required " << d.name);
    BOOST_TEST(u.error().code() == ErrorCode::kInvalidArgument);
    BOOST_TEST(contains(u.error().to_string(), d.name), u.error().to_string());
    must(txn.commit());
    return;
  }
}

// Wrong types and undeclared values are refused naming the attribute; nothing is stored.
void check_validation(World& w) {
  const Schema s = w.schema();
  const TableCounts before = must(must(w.db.begin_read()).counts());
  for (const AttributeDef& d : s.attributes) {
    if (d.dropping || d.table != AttributeTable::kCustomers) continue;
    Customer c = random_customer(w.r);
    c.attributes = random_attributes(s, AttributeTable::kCustomers, w.r);
    // A value of another alternative for every type.
    c.attributes[d.name] = d.type == AttributeType::kBool ? AttributeValue(std::string("yes")) : AttributeValue(true);
    auto txn = must(w.db.begin_write());
    auto id = txn.insert_customer(c);
    BOOST_TEST_REQUIRE(!id.has_value(), d.name << " took a value of the wrong type");
    BOOST_TEST(id.error().code() == ErrorCode::kInvalidArgument);
    BOOST_TEST(contains(id.error().to_string(), "attribute " + d.name), id.error().to_string());
    if (d.type == AttributeType::kEnum) {
      c.attributes[d.name] = std::string("undeclared_value");
      auto e = txn.insert_customer(c);
      BOOST_TEST_REQUIRE(!e.has_value(), d.name << " took an undeclared value");
      BOOST_TEST(contains(e.error().to_string(), d.name), e.error().to_string());
    }
    must(txn.commit());
  }
  // An attribute the schema does not declare.
  Customer c = random_customer(w.r);
  c.attributes["no_such_attribute"] = std::int64_t{1};
  auto txn = must(w.db.begin_write());
  auto id = txn.insert_customer(c);
  BOOST_TEST_REQUIRE(!id.has_value());
  BOOST_TEST(contains(id.error().to_string(), "no_such_attribute"), id.error().to_string());
  must(txn.commit());
  const TableCounts after = must(must(w.db.begin_read()).counts());
  BOOST_TEST(after.customers == before.customers);
}

const AttributeDef* first_of(const Schema& s, std::function<bool(const AttributeDef&)> want) {
  for (const AttributeDef& d : s.attributes)
    if (!d.dropping && d.table == AttributeTable::kCustomers && want(d)) return &d;
  return nullptr;
}

// ---- reports and rank -----------------------------------------------------------------------------

// The group values of a customer under a categorical attribute (segment.h: "true"/"false",
// one group per tag, "" without a value; text folded as indexed).
std::vector<std::string> groups_of(const Customer& c, const AttributeDef& d) {
  const AttributeValue* v = value_of(c, d.name);
  if (!v) return {""};
  switch (d.type) {
    case AttributeType::kBool: return {std::get<bool>(*v) ? "true" : "false"};
    case AttributeType::kTagSet: return std::get<std::vector<std::string>>(*v);
    case AttributeType::kText: return {normalize::fold(std::get<std::string>(*v))};
    default: return {std::get<std::string>(*v)};
  }
}

std::string text128(AmountSum v) {
  __extension__ using U128 = unsigned __int128;
  U128 m = v < 0 ? U128(0) - static_cast<U128>(v) : static_cast<U128>(v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  return (v < 0 ? "-" : "") + digits;
}

std::string row_text(const ReportRow& row) {
  std::string s = "[";
  for (const auto& g : row.group) s += g + "/";
  s += "] n=" + std::to_string(row.customers);
  for (const MeasureStats& m : row.measures)
    s += " (" + std::to_string(m.count) + " " + text128(m.sum) + " " +
         (m.min ? std::to_string(*m.min) : "-") + " " + (m.max ? std::to_string(*m.max) : "-") + ")";
  return s;
}

// Brute-force report: custom group attributes (categorical defs), custom measures (ordered defs).
std::vector<ReportRow> brute_report(const std::vector<const Customer*>& segment,
                                    const std::vector<const AttributeDef*>& by,
                                    const std::vector<const AttributeDef*>& measures) {
  std::map<std::vector<std::string>, ReportRow> rows;
  for (const Customer* c : segment) {
    std::vector<std::vector<std::string>> combos{{}};
    for (const AttributeDef* g : by) {
      std::vector<std::vector<std::string>> next;
      for (const auto& prefix : combos)
        for (const std::string& k : groups_of(*c, *g)) {
          next.push_back(prefix);
          next.back().push_back(k);
        }
      combos = std::move(next);
    }
    for (const auto& combo : combos) {
      ReportRow& row = rows[combo];
      row.group = combo;
      row.measures.resize(measures.size());
      ++row.customers;
      for (std::size_t i = 0; i < measures.size(); ++i) {
        const AttributeValue* v = value_of(*c, measures[i]->name);
        if (!v) continue;
        const std::int64_t x = ordered(*v);
        MeasureStats& m = row.measures[i];
        ++m.count;
        m.sum += x;
        m.min = m.min ? std::min(*m.min, x) : x;
        m.max = m.max ? std::max(*m.max, x) : x;
      }
    }
  }
  std::vector<ReportRow> out;
  for (auto& [k, row] : rows) out.push_back(std::move(row));
  return out;
}

// Reports are compared as sets of rows (the order of custom groups is checked separately: ""
// first).
void require_same_report(std::vector<ReportRow> got, std::vector<ReportRow> want, const std::string& what) {
  auto key = [](const ReportRow& a, const ReportRow& b) { return a.group < b.group; };
  std::sort(got.begin(), got.end(), key);
  std::sort(want.begin(), want.end(), key);
  std::string g, w;
  for (const ReportRow& row : got) g += row_text(row) + "\n";
  for (const ReportRow& row : want) w += row_text(row) + "\n";
  BOOST_TEST_REQUIRE(g == w, what << "\nengine:\n" << g << "brute force:\n" << w);
}

std::vector<Ranked> brute_rank(const std::vector<const Customer*>& segment, const AttributeDef& by, std::size_t n) {
  std::vector<Ranked> all;
  for (const Customer* c : segment)
    if (const AttributeValue* v = value_of(*c, by.name)) all.push_back({c->id, ordered(*v)});
  std::sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) {
    return a.value != b.value ? a.value > b.value : a.id < b.id;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

std::vector<const Customer*> members(const std::vector<Customer>& all, const Pred& p) {
  std::vector<const Customer*> out;
  for (const Customer& c : all)
    if (p.eval(c)) out.push_back(&c);
  return out;
}

// Runs `work` (schema work on attribute `name`, with a batch of 5) while a writer thread
// churns (checking its own transaction's answers every few rounds) and a reader thread checks
// every snapshot it takes, both until the work returns and at least 3 rounds each. Failures
// of the threads are collected and reported here.
void beside_writers(World& w, std::mutex& model_mutex, const std::string& name, const std::string& what,
                    int seed, const std::function<Status(const SchemaWorkOptions&)>& work) {
  std::atomic<bool> done{false};
  std::vector<std::string> failures;
  std::mutex failures_mutex;
  std::atomic<int> writes_during{0}, reads_during{0};
  auto fail = [&](std::string s) {
    std::lock_guard<std::mutex> g(failures_mutex);
    failures.push_back(std::move(s));
  };
  // Each thread body reports an exception as a failure (no Boost.Test call off the main
  // thread).
  auto guarded = [&](auto body) {
    return [&, body] {
      try {
        body();
      } catch (const std::exception& e) {
        fail(std::string("exception: ") + e.what());
      }
    };
  };
  std::thread writer(guarded([&] {
    std::mt19937 rr(91 + seed);
    for (int round = 0; !done || round < 3; ++round) {
      auto txn = w.db.begin_write();
      if (!txn) return fail("begin_write: " + txn.error().to_string());
      const std::string c = w.churn(*txn, rr, 4, &model_mutex);
      if (!c.empty()) return fail(c);
      auto s = txn->schema();
      const AttributeDef* now = s ? s->find(name) : nullptr;
      if (now && (now->index_state == IndexState::kBuilding || now->index_state == IndexState::kDropping))
        ++writes_during;
      if (round % 4 == 0) {  // inside the write transaction, its own writes flushed
        const auto all = all_customers(*txn);
        std::mt19937 qr(round);
        auto pool = predicate_pool(*s, all, qr, 3);
        for (int i = 0; i < 5; ++i)
          if (auto e = differs(*txn, all, combination(pool, qr)); !e.empty()) return fail("writer: " + e);
      }
      if (auto s2 = txn->commit(); !s2) return fail("commit: " + s2.error().to_string());
    }
  }));
  std::thread reader(guarded([&] {
    std::mt19937 qr(17 + seed);
    for (int round = 0; !done || round < 3; ++round) {
      auto read = w.db.begin_read();
      if (!read) return fail("begin_read: " + read.error().to_string());
      const auto all = all_customers(*read);
      auto s = read->schema();
      if (!s) return fail("schema: " + s.error().to_string());
      const AttributeDef* now = s->find(name);
      if (now && (now->index_state == IndexState::kBuilding || now->index_state == IndexState::kDropping))
        ++reads_during;
      auto pool = predicate_pool(*s, all, qr, 3);
      std::vector<Pred> mine;  // predicates on the attribute whose index moves
      auto seen = seen_values(all);
      if (now)
        for (int i = 0; i < 4; ++i) mine.push_back(attribute_predicate(*now, seen[name], qr));
      for (int i = 0; i < 6; ++i) {
        const Pred p = i % 2 && !mine.empty() ? mine[qr() % mine.size()] : combination(pool, qr);
        if (auto e = differs(*read, all, p); !e.empty()) return fail("reader: " + e);
      }
    }
  }));
  SchemaWorkOptions o;
  o.batch = 5;
  std::uint64_t batches = 0;
  o.progress = [&](const SchemaProgress& p) {
    ++batches;
    if (p.attribute != name) fail("progress names " + p.attribute);
  };
  Status st = work(o);
  done = true;
  writer.join();
  reader.join();
  must(st);
  for (const std::string& f : failures) BOOST_TEST_ERROR(f);
  BOOST_TEST_REQUIRE(failures.empty());
  BOOST_TEST(batches > 1u);
  BOOST_TEST_MESSAGE(what << " in " << batches << " batches; "
                            << writes_during << " writes and " << reads_during
                            << " reads saw the work unfinished");
}

void backfill_and_unindex(Mode mode) {
  World w(mode, 1710);
  std::vector<AttributeDef> defs = random_schema(w.r, AttributeTable::kCustomers, 0);
  for (AttributeDef& d : defs) d.indexed = false;  // indexes come later, online
  w.declare(defs);
  w.insert(300);
  {  // A required attribute added to the populated table: every record reads the default.
    AttributeDef late;
    late.name = "late_points";
    late.type = AttributeType::kInteger;
    late.required = true;
    late.default_value = std::int64_t{7};
    must(w.db.add_attribute(late));
    for (auto& [id, a] : w.model) a["late_points"] = std::int64_t{7};
    auto read = must(w.db.begin_read());
    require_model(all_customers(read), w.model);
  }
  std::mutex model_mutex;
  for (bool on : {true, false}) {
    for (const AttributeDef& d : must(w.db.schema()).attributes) {
      if (d.table != AttributeTable::kCustomers || d.dropping) continue;
      if (d.type != AttributeType::kEnum && d.type != AttributeType::kInteger &&
          d.type != AttributeType::kTagSet && d.name != "late_points")
        continue;
      BOOST_TEST_CONTEXT((on ? "index " : "unindex ") << d.name) {
        beside_writers(w, model_mutex, d.name, d.name + (on ? " indexed" : " unindexed"), on,
                       [&](const SchemaWorkOptions& o) { return w.db.set_indexed(d.name, on, o); });
        const Schema s = must(w.db.schema());
        const AttributeDef* after = s.find(d.name);
        BOOST_TEST_REQUIRE(after != nullptr);
        BOOST_TEST(after->index_state == (on ? IndexState::kReady : IndexState::kNone));
        BOOST_TEST(!s.has_pending_work());
        auto read = must(w.db.begin_read());
        const auto all = all_customers(read);
        {
          std::lock_guard<std::mutex> g(model_mutex);
          require_model(all, w.model);
        }
        std::mt19937 qr(5);
        auto seen = seen_values(all);
        for (int i = 0; i < 30; ++i) {
          const Pred p = attribute_predicate(*after, seen[d.name], qr);
          require_same(read, all, p);
          const std::string plan = must(read.explain(p.node, SegmentOptions{kAsOf}));
          BOOST_TEST(contains(plan, "scan: attribute " + d.name) == !on, plan);
        }
        require_clean(w.db);
      }
    }
  }
  // A drop beside writers and readers: an indexed attribute's index, then its values, go.
  const Schema before_drop = must(w.db.schema());  // victim points into it
  const AttributeDef* victim = first_of(before_drop, [](const AttributeDef& d) {
    return d.type == AttributeType::kInteger && d.name != "late_points";
  });
  BOOST_TEST_REQUIRE(victim != nullptr);
  const AttributeDef gone = *victim;
  must(w.db.set_indexed(gone.name, true));
  beside_writers(w, model_mutex, gone.name, gone.name + " dropped", 3, [&](const SchemaWorkOptions& o) {
    return w.db.drop_attribute(gone.name, AttributeTable::kCustomers, o);
  });
  const Schema s = must(w.db.schema());
  BOOST_TEST(s.find(gone.name) == nullptr);
  BOOST_TEST(s.by_id(gone.id) == nullptr);
  BOOST_TEST(!s.has_pending_work());
  for (auto& [id, a] : w.model) a.erase(gone.name);
  auto read = must(w.db.begin_read());
  const auto all = all_customers(read);
  require_model(all, w.model);
  std::mt19937 qr(6);
  auto pool = predicate_pool(s, all, qr);
  for (int i = 0; i < 60; ++i) require_same(read, all, combination(pool, qr));
  require_clean(w.db);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attribute_differential)

// A random schema declared on the empty database (indexes built as records arrive), random
// records and writes; queries equal both references inside the write transaction, after it and
// after commit; validation errors name the attribute; the check is clean.
BOOST_DATA_TEST_CASE(random_schemas_records_and_queries, kModes, mode) {
  for (std::uint32_t seed : {1701u, 1702u}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      World w(mode, seed);
      auto defs = random_schema(w.r, AttributeTable::kCustomers, 3);
      for (AttributeDef& d : random_schema(w.r, AttributeTable::kTransactions, 0)) defs.push_back(d);
      w.declare(defs);
      w.insert(250);
      {
        auto read = must(w.db.begin_read());
        const auto all = all_customers(read);
        require_model(all, w.model);
        const Schema s = must(read.schema());
        auto pool = predicate_pool(s, all, w.r);
        // The predicates must cut the data, not select all or nothing.
        std::size_t cut = 0;
        for (const Pred& p : pool) {
          const std::size_t n = members(all, p).size();
          cut += n > 0 && n < all.size();
        }
        BOOST_TEST(cut > pool.size() / 2, cut << " of " << pool.size() << " predicates cut the data");
        for (int i = 0; i < 250; ++i) require_same(read, all, combination(pool, w.r));
      }
      check_required_refused(w);
      check_validation(w);
      {
        auto txn = must(w.db.begin_write());
        std::mt19937 rr(seed * 3);
        BOOST_TEST_REQUIRE(w.churn(txn, rr, 120) == "");
        const auto all = all_customers(txn);  // the write transaction's own view
        require_model(all, w.model);
        auto pool = predicate_pool(must(txn.schema()), all, w.r);
        for (int i = 0; i < 80; ++i) require_same(txn, all, combination(pool, w.r));
        must(txn.commit());
      }
      auto read = must(w.db.begin_read());
      const auto all = all_customers(read);
      require_model(all, w.model);
      auto pool = predicate_pool(must(read.schema()), all, w.r);
      for (int i = 0; i < 150; ++i) require_same(read, all, combination(pool, w.r));
      // explain: a predicate on an attribute without an index says it scans.
      const Schema s = must(read.schema());
      if (const AttributeDef* plain = first_of(s, [](const AttributeDef& d) { return !d.indexed; })) {
        auto seen = seen_values(all);
        const Pred p = attribute_predicate(*plain, seen[plain->name], w.r);
        const std::string plan = must(read.explain(p.node, SegmentOptions{kAsOf}));
        BOOST_TEST(contains(plan, "scan: attribute " + plain->name + " not indexed"), plan);
      }
      require_clean(w.db);
    }
  }
}

// An index built and then dropped with a tiny batch while another thread writes and a third
// reads: every snapshot the reader takes, and every write transaction of the writer (after its
// writes), answers as the brute force does; at the end the index is ready (dropped), the check
// is clean and the answers equal the brute force. Also a required attribute added to a
// non-empty table: old records read its default, and its backfilled index holds it. Last, an
// indexed attribute dropped the same way beside the two threads.
BOOST_DATA_TEST_CASE(backfill_and_unindex_beside_writers, kModes, mode) { backfill_and_unindex(mode); }

// Rename (O(1)): the new name answers as the old did, the old name no longer parses and a node
// built with it is refused. Drop: the values leave every record and every answer, check is clean,
// and an attribute added under the dropped name starts empty (no value comes back).
BOOST_DATA_TEST_CASE(after_rename_and_drop, kModes, mode) {
  World w(mode, 1720);
  auto defs = random_schema(w.r, AttributeTable::kCustomers, 2);
  w.declare(defs);
  w.insert(250);
  Schema s = w.schema();

  // Rename every attribute with an index and one without.
  std::vector<std::pair<std::string, std::string>> renames;
  for (const AttributeDef& d : s.attributes)
    if (!d.dropping && d.table == AttributeTable::kCustomers && (renames.size() < 3))
      renames.emplace_back(d.name, "renamed_" + d.name);
  for (auto& [from, to] : renames) {
    const std::uint64_t version = w.schema().version;
    auto read_before = must(w.db.begin_read());
    const Schema before = must(read_before.schema());
    const AttributeDef old_def = *before.find(from);
    const query::Node old_node = query::eq(old_def, operand(old_def, random_value(old_def, w.r), w.r));
    const std::string old_text = old_node.to_string(must(read_before.parse_options()));
    must(w.db.rename_attribute(from, to));
    const Schema after = w.schema();
    BOOST_TEST(after.version == version + 1);
    BOOST_TEST_REQUIRE(after.find(to) != nullptr);
    BOOST_TEST(after.find(from) == nullptr);
    BOOST_TEST(after.find(to)->id == old_def.id);
    for (auto& [id, a] : w.model)
      if (auto it = a.find(from); it != a.end()) {
        a[to] = it->second;
        a.erase(it);
      }
    auto read = must(w.db.begin_read());
    auto opts = must(read.parse_options());
    BOOST_TEST(!query::parse(old_text, opts).has_value(), old_text << " still parses after the rename");
    auto stale = read.count(old_node, SegmentOptions{kAsOf});
    BOOST_TEST_REQUIRE(!stale.has_value(), "a node naming " << from << " after the rename");
    BOOST_TEST(stale.error().code() == ErrorCode::kInvalidArgument);
    // The snapshot from before the rename still knows the old name.
    BOOST_TEST(must(read_before.schema()).find(from) != nullptr);
  }
  {
    auto read = must(w.db.begin_read());
    const auto all = all_customers(read);
    require_model(all, w.model);
    auto pool = predicate_pool(must(read.schema()), all, w.r);
    for (int i = 0; i < 150; ++i) require_same(read, all, combination(pool, w.r));
  }

  // Drop two attributes (one indexed if any), a tiny batch, with progress.
  s = w.schema();
  std::vector<AttributeDef> dropped;
  if (const AttributeDef* d = first_of(s, [](const AttributeDef& d) { return d.indexed; })) dropped.push_back(*d);
  if (const AttributeDef* d = first_of(s, [&](const AttributeDef& d) { return dropped.empty() || d.name != dropped[0].name; }))
    dropped.push_back(*d);
  for (const AttributeDef& d : dropped) {
    SchemaWorkOptions o;
    o.batch = 7;
    std::uint64_t batches = 0;
    o.progress = [&](const SchemaProgress&) { ++batches; };
    must(w.db.drop_attribute(d.name, AttributeTable::kCustomers, o));
    BOOST_TEST(batches > 1u, d.name);
    for (auto& [id, a] : w.model) a.erase(d.name);
    const Schema after = w.schema();
    BOOST_TEST(after.find(d.name) == nullptr);
    BOOST_TEST(after.by_id(d.id) == nullptr, "the dropped def is still in the schema after the work");
    BOOST_TEST(!after.has_pending_work());
    auto read = must(w.db.begin_read());
    auto opts = must(read.parse_options());
    BOOST_TEST(!query::parse(d.name + " = 1", opts).has_value(), d.name << " still parses after the drop");
  }
  {
    auto read = must(w.db.begin_read());
    const auto all = all_customers(read);
    require_model(all, w.model);
    auto pool = predicate_pool(must(read.schema()), all, w.r);
    for (int i = 0; i < 150; ++i) require_same(read, all, combination(pool, w.r));
  }
  require_clean(w.db);

  // The dropped name again, same type, indexed: a new id, no value in any record, answers
  // equal the brute force (so no index entry of the old attribute answers for it).
  for (const AttributeDef& d : dropped) {
    AttributeDef again = d;
    again.id = 0;
    again.required = false;
    again.default_value.reset();
    again.indexed = true;
    AttributeDef stored = must(w.db.add_attribute(again));
    BOOST_TEST(stored.id != d.id);
    auto read = must(w.db.begin_read());
    const auto all = all_customers(read);
    require_model(all, w.model);  // nobody has it
    std::vector<AttributeValue> none;
    for (int i = 0; i < 20; ++i) require_same(read, all, attribute_predicate(stored, none, w.r));
  }
  // Records written now carry it; the rest still do not.
  w.insert(20);
  auto read = must(w.db.begin_read());
  const auto all = all_customers(read);
  require_model(all, w.model);
  auto pool = predicate_pool(must(read.schema()), all, w.r);
  for (int i = 0; i < 100; ++i) require_same(read, all, combination(pool, w.r));
  require_clean(w.db);
}

// Reports grouped by custom categorical attributes (and a built-in) with custom measures, rank
// and top by custom ordered attributes: equal to the brute force over random segments; an
// attribute without an index is refused (kFailedPrecondition naming it and the command).
BOOST_DATA_TEST_CASE(reports_and_rank_on_custom_attributes, kModes, mode) {
  World w(mode, 1730);
  auto defs = random_schema(w.r, AttributeTable::kCustomers, 4);
  for (AttributeDef& d : defs) d.indexed = true;
  AttributeDef plain;  // one without an index
  plain.name = "plain_points";
  plain.type = AttributeType::kInteger;
  defs.push_back(plain);
  w.declare(defs);
  w.insert(300);
  {
    auto txn = must(w.db.begin_write());
    std::mt19937 rr(3);
    BOOST_TEST_REQUIRE(w.churn(txn, rr, 80) == "");
    must(txn.commit());
  }
  auto read = must(w.db.begin_read());
  const auto all = all_customers(read);
  require_model(all, w.model);
  const Schema s = must(read.schema());
  std::vector<const AttributeDef*> categorical, ordered_defs;
  for (const AttributeDef& d : s.attributes) {
    if (d.dropping || d.table != AttributeTable::kCustomers || !d.indexed) continue;
    (is_ordered(d.type) ? ordered_defs : categorical).push_back(&d);
  }
  BOOST_TEST_REQUIRE(!categorical.empty());
  BOOST_TEST_REQUIRE(!ordered_defs.empty());
  auto pool = predicate_pool(s, all, w.r);
  std::vector<Pred> segments = {Pred{query::ge(Field::kTxnCount, std::int64_t{0}), [](const Customer&) { return true; }}};
  for (int i = 0; i < 5; ++i) segments.push_back(combination(pool, w.r));

  for (const Pred& seg : segments) {
    const auto in_segment = members(all, seg);
    // Every categorical attribute alone and paired, with every ordered one as a measure.
    for (std::size_t i = 0; i < categorical.size(); ++i) {
      for (std::size_t j = i; j < categorical.size(); ++j) {
        std::vector<const AttributeDef*> by{categorical[i]};
        if (j != i) by.push_back(categorical[j]);
        ReportSpec spec;
        for (const AttributeDef* g : by) spec.by.push_back(GroupKey::attribute(g->name));
        for (const AttributeDef* m : ordered_defs) spec.measures.push_back(MeasureKey::attribute(m->name));
        auto got = must(read.report(seg.node, spec, SegmentOptions{kAsOf}));
        auto want = brute_report(in_segment, by, ordered_defs);
        if (in_segment.empty() && got.size() <= 1) continue;
        require_same_report(got, want, "report of " + seg.node.to_string() + " by " + by[0]->name +
                                           (by.size() > 1 ? "," + by[1]->name : ""));
        // "" (no value) sorts first.
        for (std::size_t k = 1; k < got.size(); ++k)
          BOOST_TEST((got[k].group[0] != "" || got[k - 1].group[0] == ""), "\"\" not first");
      }
    }
    // A custom group beside a built-in one (tier).
    {
      ReportSpec spec{{GroupBy::kTier, GroupKey::attribute(categorical[0]->name)},
                      {MeasureKey::attribute(ordered_defs[0]->name), RankBy::kTotalAmount}};
      auto got = must(read.report(seg.node, spec, SegmentOptions{kAsOf}));
      std::map<std::vector<std::string>, std::pair<std::uint64_t, MeasureStats>> want;
      for (const Customer* c : in_segment)
        for (const std::string& g : groups_of(*c, *categorical[0])) {
          auto& [n, m] = want[{std::string(to_string(c->tier)), g}];
          ++n;
          if (const AttributeValue* v = value_of(*c, ordered_defs[0]->name)) {
            ++m.count;
            m.sum += ordered(*v);
            m.min = m.min ? std::min(*m.min, ordered(*v)) : ordered(*v);
            m.max = m.max ? std::max(*m.max, ordered(*v)) : ordered(*v);
          }
        }
      std::map<std::vector<std::string>, std::pair<std::uint64_t, MeasureStats>> have;
      for (const ReportRow& row : got) {
        if (row.customers == 0) continue;
        have[row.group] = {row.customers, row.measures.at(0)};
      }
      BOOST_TEST_REQUIRE(have.size() == want.size(), "tier x " << categorical[0]->name);
      for (const auto& [k, v] : want) {
        auto it = have.find(k);
        BOOST_TEST_REQUIRE((it != have.end()), "group " << k[0] << "/" << k[1] << " missing");
        BOOST_TEST(it->second.first == v.first);
        BOOST_TEST(it->second.second.count == v.second.count);
        BOOST_TEST(text128(it->second.second.sum) == text128(v.second.sum));
      }
    }
    // Rank and top by every ordered attribute.
    Segment selected = must(read.select(seg.node, SegmentOptions{kAsOf}));
    for (const AttributeDef* m : ordered_defs) {
      const std::size_t ranked = brute_rank(in_segment, *m, SIZE_MAX).size();
      for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5}, ranked / 2, ranked, ranked + 2}) {
        auto want = brute_rank(in_segment, *m, n);
        auto got = must(selected.rank(MeasureKey::attribute(m->name), n));
        BOOST_TEST_REQUIRE((got == want), seg.node.to_string() << " rank by " << m->name << " n " << n
                                                                << ": " << got.size() << " vs " << want.size());
        if (n <= 5) {
          auto top = must(selected.top(MeasureKey::attribute(m->name), n));
          BOOST_TEST_REQUIRE(top.size() == want.size(), "top by " << m->name);
          for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST_REQUIRE(top[i].id == want[i].id);
        }
      }
    }
  }
  // Without an index: refused, naming the attribute and the command.
  auto refused = read.report_all({{}, {MeasureKey::attribute("plain_points")}});
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(refused.error().to_string(), "custdb schema index plain_points"), refused.error().to_string());
  auto rank = read.rank(query::ge(Field::kTxnCount, std::int64_t{0}), MeasureKey::attribute("plain_points"), 3,
                        SegmentOptions{kAsOf});
  BOOST_TEST_REQUIRE(!rank.has_value());
  BOOST_TEST(rank.error().code() == ErrorCode::kFailedPrecondition);
}

// The README demo (scripts/demo.sh): two attributes declared on the empty database, the demo
// population fills them, and the demo's segment and report on them equal the brute force.
BOOST_DATA_TEST_CASE(demo_with_two_custom_attributes, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir / "db");
  AttributeDef branch;
  branch.name = "branch";
  branch.type = AttributeType::kEnum;
  branch.values = {"B017", "B021", "B042", "B105"};
  branch.indexed = true;
  AttributeDef points;
  points.name = "loyalty_points";
  points.type = AttributeType::kInteger;
  points.indexed = true;
  must(db.add_attribute(branch));
  must(db.add_attribute(points));
  must(synthetic::populate_demo(db, 600, 42));
  auto read = must(db.begin_read());
  const auto all = all_customers(read);
  std::size_t with_branch = 0, with_points = 0;
  for (const Customer& c : all) {
    with_branch += c.attributes.count("branch");
    with_points += c.attributes.count("loyalty_points");
  }
  BOOST_TEST(with_branch > all.size() * 3 / 4);
  BOOST_TEST(with_points > all.size() * 3 / 4);
  auto opts = must(read.parse_options());
  const query::Node q = must(query::parse("branch = \"B017\" and loyalty_points >= 1000", opts));
  std::size_t want = 0;
  for (const Customer& c : all) {
    const AttributeValue* b = value_of(c, "branch");
    const AttributeValue* p = value_of(c, "loyalty_points");
    want += b && std::get<std::string>(*b) == "B017" && p && std::get<std::int64_t>(*p) >= 1000;
  }
  BOOST_TEST(want > 0u);
  BOOST_TEST(must(read.count(q, SegmentOptions{kAsOf})) == want);
  const Schema s = must(read.schema());
  std::vector<const Customer*> everyone;
  for (const Customer& c : all) everyone.push_back(&c);
  require_same_report(must(read.report_all({{GroupKey::attribute("branch")}, {MeasureKey::attribute("loyalty_points")}})),
                      brute_report(everyone, {s.find("branch")}, {s.find("loyalty_points")}),
                      "report --by branch --measure loyalty_points");
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
