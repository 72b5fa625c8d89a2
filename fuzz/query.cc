// Fuzz target query: the bytes as segment-query text (custdb/query.h).
//
// - query::parse never crashes; a rejection is kInvalidArgument "at <position>: ...".
// - A parsed tree prints canonically: parse(to_string(q)) == q and printing that again gives
//   the same text.
// - The planner agrees with the definition: on a fixed database of 200 random customers (with
//   transactions and relationships, built once per process, in plaintext and in encrypted mode
//   from the same random stream), ReadTxn::ids and ::count equal the brute-force answer,
//   query::matches over every customer with an EvalContext whose `related` comes from
//   relationships_of. Paging with a resume cursor reassembles ids; explain() succeeds.
#include <map>
#include <random>
#include <set>

#include "custdb/check.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "fuzz_util.h"
#include "random_data.h"

using namespace custdb;
using custdb::fuzz::must;

namespace {

const Date kAsOf = parse_date("2026-06-15").value();

// The random customer base of tests/segment_test.cc (tests/random_data.h).
using test::random_customer;
using test::random_txn;

void fill(Database& db, int n) {
  std::mt19937 r(2026);
  auto txn = must(db.begin_write(), "begin_write");
  for (int i = 0; i < n; ++i) {
    CustomerId id = must(txn.insert_customer(random_customer(r)), "insert_customer");
    for (int k = static_cast<int>(r() % 6); k > 0; --k)
      must(txn.add_transaction(random_txn(r, id)), "add_transaction");
  }
  const char* types[] = {"household", "spouse", "referral", "godparent", "employer"};
  for (int i = 0; i < n / 2; ++i) {
    Relationship rel;
    rel.from = 1 + r() % static_cast<unsigned>(n);
    rel.to = 1 + r() % static_cast<unsigned>(n);
    std::string t = types[r() % 5];
    if (t == "godparent") rel.type = RelationType::kCustom, rel.custom_type = t;
    else rel.type = *from_string<RelationType>(t);
    (void)txn.add_relationship(rel);  // self-links and duplicates are refused: fine
  }
  must(txn.commit(), "commit");
}

struct World {
  fuzz::ScratchDir dir{"query"};
  std::vector<Database> dbs;  // [0] plaintext, [1] encrypted; same records
  std::vector<ReadTxn> txns;  // one snapshot each for the whole process: nothing writes
  std::vector<Customer> customers;
  std::map<CustomerId, std::vector<std::pair<Relationship, Customer>>> related;

  World() {
    std::vector<std::uint8_t> raw(32, 9);
    Options plain, enc;
    plain.sync = enc.sync = SyncMode::kNone;
    enc.key = must(KeyMaterial::from_raw_key(raw), "key");
    dbs.push_back(must(Database::open(dir.path() / "plain", plain), "open plaintext"));
    dbs.push_back(must(Database::open(dir.path() / "enc", enc), "open encrypted"));
    for (auto& db : dbs) {
      fill(db, 200);
      auto report = must(db.check(), "check");
      FUZZ_CHECK(report.clean(), "the query database is not clean");
      txns.push_back(must(db.begin_read(), "begin_read"));
    }
    ReadTxn& t = txns[0];
    must(t.for_each_customer([&](const Customer& c) {
      customers.push_back(c);
      return true;
    }), "for_each_customer");
    std::map<CustomerId, const Customer*> by_id;
    for (const auto& c : customers) by_id[c.id] = &c;
    for (const auto& c : customers) {
      auto& list = related[c.id];
      for (const auto& rel : must(t.relationships_of(c.id), "relationships_of"))
        list.emplace_back(rel, *by_id.at(rel.from == c.id ? rel.to : rel.from));
    }
  }
};

World& world() {
  static World w;  // destroyed at exit: snapshots, then databases, then the directory
  return w;
}

// A fixed schema of one customers attribute per type, which the parser and printer are fuzzed
// with (custom attribute predicates: custdb/attributes.h). The fuzz databases do not declare
// it, so trees naming these attributes are checked for parse/print only.
const query::ParseOptions& fuzz_options() {
  static const query::ParseOptions options = [] {
    auto schema = std::make_shared<Schema>();
    schema->version = 1;
    auto add = [&](std::string name, AttributeType type, std::vector<std::string> values = {},
                   int scale = 0) {
      AttributeDef d;
      d.name = std::move(name);
      d.type = type;
      d.values = std::move(values);
      d.scale = scale;
      d.id = static_cast<std::uint32_t>(schema->attributes.size() + 1);
      schema->attributes.push_back(std::move(d));
    };
    add("note", AttributeType::kText);
    add("branch", AttributeType::kEnum, {"B017", "north", "South"});
    add("points", AttributeType::kInteger);
    add("ratio", AttributeType::kDecimal, {}, 3);
    add("credit", AttributeType::kAmount);
    add("kyc_review", AttributeType::kDate);
    add("seen_at", AttributeType::kTimestamp);
    add("vip", AttributeType::kBool);
    add("labels", AttributeType::kTagSet);
    query::ParseOptions o;
    o.schema = std::move(schema);
    return o;
  }();
  return options;
}

bool names_attribute(const query::Node& q) {
  if (q.field == query::Field::kAttribute) return true;
  for (const auto& c : q.children)
    if (names_attribute(c)) return true;
  return false;
}

std::vector<CustomerId> brute_force(const World& w, const query::Node& q) {
  query::EvalContext ctx;
  ctx.as_of = kAsOf;
  ctx.related = [&](CustomerId id) { return w.related.at(id); };
  std::vector<CustomerId> ids;
  for (const auto& c : w.customers)
    if (query::matches(q, c, ctx)) ids.push_back(c.id);
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const query::ParseOptions& po = fuzz_options();
  auto q = query::parse(text, po);
  if (!q) {
    FUZZ_CHECK(q.error().code() == ErrorCode::kInvalidArgument, "parse error code: %s",
               q.error().to_string().c_str());
    FUZZ_CHECK(q.error().message().rfind("at ", 0) == 0, "parse error without a position: %s",
               q.error().message().c_str());
    return 0;
  }
  const std::string printed = q->to_string(po);
  auto again = query::parse(printed, po);
  FUZZ_CHECK(again.has_value(), "canonical text does not parse: '%s': %s", printed.c_str(),
             again ? "" : again.error().to_string().c_str());
  FUZZ_CHECK(*again == *q, "canonical text parses to another tree: '%s'", printed.c_str());
  FUZZ_CHECK(again->to_string(po) == printed, "printing is not stable: '%s' then '%s'",
             printed.c_str(), again->to_string(po).c_str());
  if (names_attribute(*q)) return 0;  // the databases do not declare the fuzz schema

  const auto want = brute_force(w, *q);
  SegmentOptions o;
  o.as_of = kAsOf;
  for (std::size_t i = 0; i < w.txns.size(); ++i) {
    const char* mode = i == 0 ? "plaintext" : "encrypted";
    const ReadTxn& t = w.txns[i];
    auto ids = t.ids(*q, o);
    FUZZ_CHECK(ids.has_value(), "%s ids('%s'): %s", mode, printed.c_str(),
               ids ? "" : ids.error().to_string().c_str());
    FUZZ_CHECK(*ids == want, "%s planner disagrees with brute force on '%s': %zu vs %zu ids",
               mode, printed.c_str(), ids->size(), want.size());
    auto n = t.count(*q, o);
    FUZZ_CHECK(n.has_value() && *n == want.size(), "%s count('%s') = %s, brute force %zu", mode,
               printed.c_str(), n ? std::to_string(*n).c_str() : n.error().to_string().c_str(),
               want.size());
    // Pages of 64 with the resume cursor reassemble the list.
    std::vector<CustomerId> paged;
    CustomerId after = 0;
    for (int guard = 0; guard < 100; ++guard) {
      auto p = t.page(*q, 64, after, o);
      FUZZ_CHECK(p.has_value(), "%s page('%s'): %s", mode, printed.c_str(),
                 p ? "" : p.error().to_string().c_str());
      paged.insert(paged.end(), p->ids.begin(), p->ids.end());
      if (!p->next) break;
      after = *p->next;
    }
    FUZZ_CHECK(paged == want, "%s pages of '%s' do not reassemble the segment", mode,
               printed.c_str());
    auto plan = t.explain(*q, o);
    FUZZ_CHECK(plan.has_value(), "%s explain('%s'): %s", mode, printed.c_str(),
               plan ? "" : plan.error().to_string().c_str());
  }
  return 0;
}
