// The segment index of custom attributes (src/segment/attribute_index.h, issue #17): postings
// and slices written by the write path exactly for the ids attribute_indexed_for says, queries
// answered from them equal to a brute-force evaluation, explain telling index from scan, the
// consistency check covering attribute postings, and report / rank over attribute keys equal to
// brute force. Both storage modes.
//
// The schema is given to the write transaction directly (TxnState::schema), so these tests
// exercise the index without the schema store; everything happens in one write transaction
// (queries flush its queued postings first), which is then aborted.
#include <map>
#include <random>
#include <set>

#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/db_impl.h"
#include "segment/attribute_index.h"
#include "segment/segment_index.h"
#include "segment/slices.h"
#include "test_util.h"
#include "util/coding.h"
#include "util/normalize.h"

namespace custdb::test {
namespace {

using query::Cmp;
using query::Node;
using query::Value;

constexpr int kCustomers = 400;

AttributeDef def_of(std::uint32_t id, std::string name, AttributeType t,
                    IndexState s = IndexState::kReady) {
  AttributeDef d;
  d.id = id;
  d.name = std::move(name);
  d.type = t;
  d.indexed = s != IndexState::kNone;
  d.index_state = s;
  return d;
}

Schema test_schema() {
  Schema s;
  s.version = 9;
  auto branch = def_of(1, "branch", AttributeType::kEnum);
  branch.values = {"B017", "B018", "B019"};
  s.attributes.push_back(branch);
  s.attributes.push_back(def_of(2, "loyalty_points", AttributeType::kInteger));
  s.attributes.push_back(def_of(3, "kyc_review", AttributeType::kDate));
  auto nick = def_of(4, "nickname", AttributeType::kText);
  nick.personal = true;
  s.attributes.push_back(nick);
  s.attributes.push_back(def_of(5, "interests", AttributeType::kTagSet));
  s.attributes.push_back(def_of(6, "vip", AttributeType::kBool));
  auto score = def_of(7, "score", AttributeType::kDecimal);
  score.scale = 2;
  s.attributes.push_back(score);
  s.attributes.push_back(def_of(8, "unindexed", AttributeType::kInteger, IndexState::kNone));
  auto building = def_of(9, "building", AttributeType::kEnum, IndexState::kBuilding);
  building.values = {"x", "y"};
  building.work_cursor = kCustomers / 2;  // ids below are indexed
  s.attributes.push_back(building);
  s.attributes.push_back(def_of(10, "seen_at", AttributeType::kTimestamp));
  s.attributes.push_back(def_of(11, "balance", AttributeType::kAmount));
  return s;
}

const char* const kNicks[] = {"Ann", "bob", "CARL", "Straße", "strasse", "zoë"};
const char* const kBranches[] = {"B017", "B018", "B019"};
const char* const kTags[] = {"golf", "tennis", "chess", "sailing"};

// Random attribute values; each attribute absent sometimes.
Attributes random_attributes(std::mt19937& r) {
  Attributes a;
  auto maybe = [&] { return r() % 5 != 0; };
  if (maybe()) a["branch"] = std::string(kBranches[r() % 3]);
  if (maybe()) a["loyalty_points"] = static_cast<std::int64_t>(r() % 3000) - 500;
  if (maybe()) a["kyc_review"] = std::chrono::sys_days{std::chrono::days(static_cast<int>(r() % 40000) - 20000)};
  if (maybe()) a["nickname"] = std::string(kNicks[r() % std::size(kNicks)]);
  if (maybe()) {
    std::set<std::string> tags;
    for (int i = 0, n = 1 + static_cast<int>(r() % 3); i < n; ++i) tags.insert(kTags[r() % 4]);
    a["interests"] = std::vector<std::string>(tags.begin(), tags.end());
  }
  if (maybe()) a["vip"] = r() % 2 == 0;
  if (maybe()) a["score"] = static_cast<std::int64_t>(r() % 20001) - 10000;
  if (maybe()) a["unindexed"] = static_cast<std::int64_t>(r() % 10);
  if (maybe()) a["building"] = std::string(r() % 2 ? "x" : "y");
  if (maybe())
    a["seen_at"] = std::chrono::sys_time<std::chrono::milliseconds>{
        std::chrono::milliseconds(static_cast<std::int64_t>(r()) * 1000 - (std::int64_t{1} << 40))};
  if (maybe())
    a["balance"] = r() % 7 == 0 ? -kMaxAmount
                                : static_cast<std::int64_t>(r()) - (std::int64_t{1} << 31);
  return a;
}

Node attr(const AttributeDef& d, Node::Kind kind, Cmp cmp, std::vector<Value> values) {
  Node n;
  n.kind = kind;
  n.field = query::Field::kAttribute;
  n.cmp = cmp;
  n.values = std::move(values);
  n.attribute = d.name;
  n.attribute_type = d.type;
  n.attribute_scale = d.scale;
  return n;
}

// The reference semantics of a kAttribute predicate (query.h): absent is absent.
std::optional<std::int64_t> number_of(const AttributeValue& v) { return segment::attribute_number(v); }
bool equals(const AttributeDef& d, const AttributeValue& v, const Value& operand) {
  switch (d.type) {
    case AttributeType::kEnum: return std::get<std::string>(v) == std::get<std::string>(operand);
    case AttributeType::kText:
      return normalize::fold(std::get<std::string>(v)) == normalize::fold(std::get<std::string>(operand));
    case AttributeType::kBool: return std::get<bool>(v) == (std::get<std::int64_t>(operand) != 0);
    case AttributeType::kTagSet: {
      const auto& tags = std::get<std::vector<std::string>>(v);
      return std::find(tags.begin(), tags.end(), std::get<std::string>(operand)) != tags.end();
    }
    default: return number_of(v) == std::get<std::int64_t>(operand);
  }
}
bool brute(const Node& n, const Customer& c, const Schema& schema) {
  switch (n.kind) {
    case Node::Kind::kAnd:
      return std::all_of(n.children.begin(), n.children.end(), [&](const Node& k) { return brute(k, c, schema); });
    case Node::Kind::kOr:
      return std::any_of(n.children.begin(), n.children.end(), [&](const Node& k) { return brute(k, c, schema); });
    case Node::Kind::kNot: return !brute(n.children[0], c, schema);
    default: break;
  }
  const AttributeDef& d = *schema.find(n.attribute);
  auto it = c.attributes.find(d.name);
  const bool present = it != c.attributes.end();
  if (n.kind == Node::Kind::kIn)
    return present && std::any_of(n.values.begin(), n.values.end(),
                                  [&](const Value& v) { return equals(d, it->second, v); });
  if (n.kind == Node::Kind::kBetween) {
    if (!present) return false;
    auto x = *number_of(it->second);
    return std::get<std::int64_t>(n.values[0]) <= x && x <= std::get<std::int64_t>(n.values[1]);
  }
  if (n.cmp == Cmp::kNe) return !(present && equals(d, it->second, n.values[0]));
  if (!present) return false;
  if (n.cmp == Cmp::kEq) return equals(d, it->second, n.values[0]);
  const std::int64_t x = *number_of(it->second), v = std::get<std::int64_t>(n.values[0]);
  switch (n.cmp) {
    case Cmp::kLt: return x < v;
    case Cmp::kLe: return x <= v;
    case Cmp::kGt: return x > v;
    case Cmp::kGe: return x >= v;
    default: return false;
  }
}

// A random operand of d, often a value some customer has.
Value operand(const AttributeDef& d, std::mt19937& r, const std::vector<Customer>& cs) {
  switch (d.type) {
    case AttributeType::kEnum: return d.values[r() % d.values.size()];
    case AttributeType::kText: return normalize::fold(kNicks[r() % std::size(kNicks)]);
    case AttributeType::kTagSet: return std::string(kTags[r() % 4]);
    case AttributeType::kBool: return static_cast<std::int64_t>(r() % 2);
    default: {
      const Customer& c = cs[r() % cs.size()];
      auto it = c.attributes.find(d.name);
      if (it != c.attributes.end() && r() % 2) return *number_of(it->second) + static_cast<std::int64_t>(r() % 3) - 1;
      return static_cast<std::int64_t>(r() % 2000) - 200;
    }
  }
}

Node random_predicate(const Schema& s, std::mt19937& r, const std::vector<Customer>& cs) {
  std::vector<const AttributeDef*> usable;
  for (const auto& d : s.attributes)
    if (segment::attribute_queryable(d)) usable.push_back(&d);
  const AttributeDef& d = *usable[r() % usable.size()];
  const bool ordered = segment::is_sliced_attribute(d.type);
  switch (r() % (ordered ? 5 : 3)) {
    case 0: return attr(d, Node::Kind::kCompare, Cmp::kEq, {operand(d, r, cs)});
    case 1:
      if (d.type == AttributeType::kTagSet) return attr(d, Node::Kind::kCompare, Cmp::kEq, {operand(d, r, cs)});
      return attr(d, Node::Kind::kCompare, Cmp::kNe, {operand(d, r, cs)});
    case 2: return attr(d, Node::Kind::kIn, Cmp::kEq, {operand(d, r, cs), operand(d, r, cs)});
    case 3: {
      static constexpr Cmp kCmps[] = {Cmp::kLt, Cmp::kLe, Cmp::kGt, Cmp::kGe};
      return attr(d, Node::Kind::kCompare, kCmps[r() % 4], {operand(d, r, cs)});
    }
    default: {
      auto a = std::get<std::int64_t>(operand(d, r, cs)), b = std::get<std::int64_t>(operand(d, r, cs));
      return attr(d, Node::Kind::kBetween, Cmp::kEq, {std::min(a, b), std::max(a, b)});
    }
  }
}

Node random_query(const Schema& s, std::mt19937& r, const std::vector<Customer>& cs, int depth = 0) {
  if (depth >= 2 || r() % 3 == 0) return random_predicate(s, r, cs);
  Node n;
  switch (r() % 3) {
    case 0:
      n.kind = Node::Kind::kNot;
      n.children.push_back(random_predicate(s, r, cs));
      return n;
    case 1: n.kind = Node::Kind::kAnd; break;
    default: n.kind = Node::Kind::kOr; break;
  }
  for (int i = 0; i < 2; ++i) n.children.push_back(random_query(s, r, cs, depth + 1));
  if (n.children[0].kind == n.kind || n.children[1].kind == n.kind) return n.children[0];  // flat
  return n;
}

// Every customer: `not region in [""]`.
Node everyone() {
  Node none;
  none.kind = Node::Kind::kIn;
  none.field = query::Field::kRegion;
  none.values = {std::string()};
  Node all;
  all.kind = Node::Kind::kNot;
  all.children = {none};
  return all;
}

// One write transaction with the test schema, holding kCustomers random customers (ids 1..).
struct Fixture {
  TempDir dir;
  Database db;
  std::shared_ptr<const Schema> schema = std::make_shared<const Schema>(test_schema());
  WriteTxn w;
  std::map<CustomerId, Customer> customers;  // as inserted (attributes as given)

  explicit Fixture(Mode m, std::uint32_t seed)
      : db(open_db(m, dir.path())), w(must(db.begin_write())) {
    ReadView::State::of(w)->schema = schema;
    std::mt19937 r(seed);
    for (int i = 0; i < kCustomers; ++i) {
      Customer c = sample_customer(i);
      c.attributes = random_attributes(r);
      CustomerId id = must(w.insert_customer(c));
      c.id = id;
      customers[id] = std::move(c);
    }
  }
  detail::DatabaseImpl& impl() { return Database::Impl::of(db); }
  detail::TxnState& st() { return *ReadView::State::of(w); }
  std::vector<Customer> list() const {
    std::vector<Customer> out;
    for (const auto& [id, c] : customers) out.push_back(c);
    return out;
  }
  std::vector<CustomerId> expected(const Node& q) const {
    std::vector<CustomerId> out;
    for (const auto& [id, c] : customers)
      if (brute(q, c, *schema)) out.push_back(id);
    return out;
  }
  // The consistency check of the segment index in this transaction, against the customers as
  // stored with the attributes as inserted.
  std::vector<std::string> segment_problems() {
    must(impl().flush_postings(st()));
    segment::SegmentCheck check(impl().seg_keys());
    check.set_schema(schema);
    for (const auto& [id, c] : customers) {
      auto stored = must(impl().load_customer(st(), id));
      BOOST_TEST_REQUIRE(stored.has_value());
      stored->attributes = c.attributes;
      check.expect(*stored);
    }
    segment::SegmentIndex index(impl(), st());
    std::vector<std::string> out;
    std::uint64_t chunks = 0;
    must(check.verify(index, chunks, [&](CheckProblem::Kind k, std::string where, std::string what) {
      out.push_back(std::string(to_string(k)) + " " + where + ": " + what);
    }));
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(attribute_index)

BOOST_DATA_TEST_CASE(queries_from_the_index_equal_brute_force, kModes, mode) {
  Fixture f(mode, 17);
  const auto cs = f.list();
  std::mt19937 r(4242);
  for (int i = 0; i < 150; ++i) {
    const Node q = random_query(*f.schema, r, cs);
    auto seg = f.w.select(q);
    BOOST_TEST_REQUIRE(seg.has_value(), (seg ? "" : seg.error().to_string()));
    auto ids = must(seg->ids());
    BOOST_TEST(ids == f.expected(q), "query " << i);
  }
  // Updates and deletes move the postings (the records carry the attributes back).
  std::mt19937 r2(99);
  for (int i = 0; i < 60; ++i) {
    auto it = std::next(f.customers.begin(), static_cast<long>(r2() % f.customers.size()));
    const CustomerId id = it->first;
    if (i % 10 == 9) {
      must(f.w.delete_customer(id, DeleteMode::kCascade));
      f.customers.erase(it);
      continue;
    }
    Attributes next = random_attributes(r2);
    must(f.w.update_customer(id, [&](Customer& c) { c.attributes = next; }));
    it->second.attributes = next;
  }
  for (int i = 0; i < 100; ++i) {
    const Node q = random_query(*f.schema, r, cs);
    auto ids = must(must(f.w.select(q)).ids());
    BOOST_TEST(ids == f.expected(q), "query after updates " << i);
  }
  const auto problems = f.segment_problems();
  for (const auto& p : problems) BOOST_TEST_MESSAGE(p);
  BOOST_TEST(problems.empty());
  f.w.abort();
}

BOOST_DATA_TEST_CASE(postings_exist_exactly_for_the_indexed_ids, kModes, mode) {
  Fixture f(mode, 5);
  must(f.impl().flush_postings(f.st()));
  segment::SegmentIndex index(f.impl(), f.st());
  const AttributeDef& building = *f.schema->find("building");
  const AttributeDef& unindexed = *f.schema->find("unindexed");
  for (const char* v : {"x", "y"}) {
    auto m = must(segment::attribute_members(index, building, v));
    std::vector<CustomerId> got, want;
    m.for_each([&](std::uint64_t id) { return got.push_back(id), true; });
    for (const auto& [id, c] : f.customers) {
      auto it = c.attributes.find("building");
      if (id < building.work_cursor && it != c.attributes.end() && std::get<std::string>(it->second) == v)
        want.push_back(id);
    }
    BOOST_TEST(!want.empty());
    BOOST_TEST(got == want);
  }
  // No slice of the unindexed attribute exists.
  for (int slice = 0; slice < segment::kSlicesPerField; ++slice) {
    auto m = must(index.members_of_key(f.impl().seg_keys().attribute_slice_key(unindexed.id, false, slice)));
    BOOST_TEST(m.empty());
  }
  // The schema work's queue_attribute_postings (backfill of one customer past the cursor)
  // adds exactly that customer's posting.
  const CustomerId past = building.work_cursor + 1;
  const Customer& c = f.customers.at(past);
  if (auto it = c.attributes.find("building"); it != c.attributes.end()) {
    segment::queue_attribute_postings(f.impl().seg_keys(), f.st(), building, nullptr, &c);
    must(f.impl().flush_postings(f.st()));
    auto m = must(segment::attribute_members(index, building, std::get<std::string>(it->second)));
    BOOST_TEST(m.contains(past));
  }
  f.w.abort();
}

BOOST_DATA_TEST_CASE(explain_says_index_or_scan, kModes, mode) {
  Fixture f(mode, 3);
  const Schema& s = *f.schema;
  auto indexed = must(f.w.explain(attr(*s.find("branch"), Node::Kind::kCompare, Cmp::kEq, {std::string("B017")})));
  BOOST_TEST(contains(indexed, "index "), indexed);
  BOOST_TEST(!contains(indexed, "scan:"), indexed);
  auto scanned = must(f.w.explain(attr(*s.find("unindexed"), Node::Kind::kCompare, Cmp::kGe, {std::int64_t{3}})));
  BOOST_TEST(contains(scanned, "scan: attribute unindexed not indexed"), scanned);
  // A building index is not queryable yet: scanned too.
  auto building = must(f.w.explain(attr(*s.find("building"), Node::Kind::kCompare, Cmp::kEq, {std::string("x")})));
  BOOST_TEST(contains(building, "scan: attribute building not indexed"), building);
  // A node made for another type is refused, naming the attribute.
  auto wrong = attr(*s.find("branch"), Node::Kind::kCompare, Cmp::kEq, {std::int64_t{1}});
  wrong.attribute_type = AttributeType::kInteger;
  auto e = f.w.select(wrong);
  BOOST_TEST_REQUIRE(!e.has_value());
  BOOST_TEST(e.error().code() == ErrorCode::kInvalidArgument);
  BOOST_TEST(contains(e.error().message(), "branch"));
  f.w.abort();
}

BOOST_DATA_TEST_CASE(check_finds_missing_and_orphan_attribute_postings, kModes, mode) {
  Fixture f(mode, 11);
  BOOST_TEST_REQUIRE(f.segment_problems().empty());
  const AttributeDef& branch = *f.schema->find("branch");
  const AttributeDef& loyalty = *f.schema->find("loyalty_points");
  const AttributeDef& unindexed = *f.schema->find("unindexed");
  // Remove a branch posting's chunk: missing.
  const std::string key = segment::chunk_key(f.impl().seg_keys().attribute_key(branch.id, false, "B018"), 0);
  must(f.impl().del(f.st(), f.impl().tables().segments, coding::as_bytes(key)));
  auto problems = f.segment_problems();
  BOOST_TEST(problems.size() == 1u);
  BOOST_TEST((!problems.empty() && contains(problems[0], "missing")), problems.size());
  // Put it back by re-queuing; then a stray slice bit of an unindexed attribute: orphan.
  for (const auto& [id, c] : f.customers)
    if (auto it = c.attributes.find("branch"); it != c.attributes.end() && std::get<std::string>(it->second) == "B018")
      f.st().posting_deltas[key].push_back({segment::low_bits(id), true});
  BOOST_TEST(f.segment_problems().empty());
  Customer stray = f.customers.begin()->second;
  stray.attributes = {{"unindexed", std::int64_t{5}}};
  segment::queue_attribute_postings(f.impl().seg_keys(), f.st(), unindexed, nullptr, &stray);
  problems = f.segment_problems();
  BOOST_TEST(!problems.empty());
  for (const auto& p : problems) BOOST_TEST(contains(p, "orphan"), p);
  segment::queue_attribute_postings(f.impl().seg_keys(), f.st(), unindexed, &stray, nullptr);
  BOOST_TEST(f.segment_problems().empty());
  // A slice bit of an indexed ordered attribute lost: missing.
  Customer c = f.customers.begin()->second;
  if (c.attributes.count("loyalty_points")) {
    Customer without = c;
    without.attributes.erase("loyalty_points");
    segment::queue_attribute_postings(f.impl().seg_keys(), f.st(), loyalty, &c, &without);
    problems = f.segment_problems();
    BOOST_TEST(!problems.empty());
  }
  f.w.abort();
}

BOOST_DATA_TEST_CASE(report_and_rank_equal_brute_force, kModes, mode) {
  Fixture f(mode, 23);
  auto seg = must(f.w.select(everyone()));
  // Group by each categorical attribute, measure each ordered one.
  const std::vector<std::string> groups = {"branch", "nickname", "interests", "vip"};
  const std::vector<std::string> measures = {"loyalty_points", "kyc_review", "score", "seen_at", "balance"};
  ReportSpec spec;
  for (const auto& m : measures) spec.measures.push_back(MeasureKey::attribute(m));
  for (const auto& g : groups) {
    spec.by = {GroupKey::attribute(g)};
    const AttributeDef& gd = *f.schema->find(g);
    auto rows = must(seg.report(spec));
    // Brute force: label -> members.
    std::map<std::string, std::vector<const Customer*>> want;
    for (const auto& [id, c] : f.customers) {
      auto it = c.attributes.find(g);
      auto values = segment::attribute_values(gd, c);
      if (values.empty()) want[""].push_back(&c);
      for (auto& v : values) {
        if (gd.type == AttributeType::kBool) v = v == "1" ? "true" : "false";
        want[v].push_back(&c);
      }
      (void)it;
    }
    BOOST_TEST(rows.size() == want.size(), g);
    for (const auto& row : rows) {
      BOOST_TEST_REQUIRE(row.group.size() == 1u);
      auto w = want.find(row.group[0]);
      BOOST_TEST_REQUIRE((w != want.end()), g << " group " << row.group[0]);
      BOOST_TEST(row.customers == w->second.size(), g << " group " << row.group[0]);
      for (std::size_t k = 0; k < measures.size(); ++k) {
        MeasureStats m;
        for (const Customer* c : w->second)
          if (auto v = segment::attribute_number(*f.schema->find(measures[k]), *c)) {
            ++m.count;
            m.sum += *v;
            m.min = m.min ? std::min(*m.min, *v) : *v;
            m.max = m.max ? std::max(*m.max, *v) : *v;
          }
        BOOST_TEST(row.measures[k].count == m.count, g << "/" << measures[k]);
        BOOST_TEST((row.measures[k].sum == m.sum), g << "/" << measures[k]);
        BOOST_TEST((row.measures[k].min == m.min), g << "/" << measures[k]);
        BOOST_TEST((row.measures[k].max == m.max), g << "/" << measures[k]);
      }
    }
  }
  // Rank and top.
  for (const auto& m : measures) {
    const AttributeDef& d = *f.schema->find(m);
    std::vector<Ranked> want;
    for (const auto& [id, c] : f.customers)
      if (auto v = segment::attribute_number(d, c)) want.push_back({id, *v});
    std::sort(want.begin(), want.end(), [](const Ranked& a, const Ranked& b) {
      return a.value != b.value ? a.value > b.value : a.id < b.id;
    });
    want.resize(std::min<std::size_t>(want.size(), 15));
    auto got = must(seg.rank(MeasureKey::attribute(m), 15));
    BOOST_TEST((got == want), m);
    auto top = must(seg.top(MeasureKey::attribute(m), 15));
    BOOST_TEST_REQUIRE(top.size() == want.size());
    for (std::size_t i = 0; i < top.size(); ++i) BOOST_TEST(top[i].id == want[i].id);
  }
  // An unindexed attribute: refused, naming the command; a categorical measure: invalid.
  auto refused = seg.rank(MeasureKey::attribute("unindexed"), 3);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == ErrorCode::kFailedPrecondition);
  BOOST_TEST(contains(refused.error().message(), "custdb schema index unindexed"));
  auto wrong = seg.report({{GroupKey::attribute("loyalty_points")}, {}});
  BOOST_TEST_REQUIRE(!wrong.has_value());
  BOOST_TEST(wrong.error().code() == ErrorCode::kInvalidArgument);
  auto unknown = seg.report({{}, {MeasureKey::attribute("nope")}});
  BOOST_TEST_REQUIRE(!unknown.has_value());
  BOOST_TEST(unknown.error().code() == ErrorCode::kInvalidArgument);
  f.w.abort();
}

// End to end through the stored schema (Database::add_attribute / set_indexed): values written
// before the index exists are backfilled in small batches, queries move from scan to index
// with equal answers, check() is clean at every step, and an index drop leaves no posting.
BOOST_DATA_TEST_CASE(backfill_and_index_drop_through_the_schema, kModes, mode) {
  TempDir dir;
  Database db = open_db(mode, dir.path());
  Schema declared = test_schema();
  for (AttributeDef d : declared.attributes) {
    d.indexed = false;
    d.index_state = IndexState::kNone;
    d.work_cursor = 0;
    d.id = 0;
    must(db.add_attribute(d));
  }
  std::map<CustomerId, Customer> customers;
  std::mt19937 r(31);
  {
    auto w = must(db.begin_write());
    for (int i = 0; i < 300; ++i) {
      Customer c = sample_customer(i);
      c.attributes = random_attributes(r);
      c.id = must(w.insert_customer(c));
      customers[c.id] = std::move(c);
    }
    must(w.commit());
  }
  require_clean(db);
  std::vector<Customer> list;
  for (const auto& [id, c] : customers) list.push_back(c);
  auto answers = [&](const Schema& s, std::mt19937& qr, bool want_index) {
    auto view = must(db.begin_read());
    for (int i = 0; i < 40; ++i) {
      Node q = random_predicate(s, qr, list);
      std::vector<CustomerId> want;
      for (const auto& [id, c] : customers)
        if (brute(q, c, s)) want.push_back(id);
      BOOST_TEST(must(must(view.select(q)).ids()) == want, q.attribute << " query " << i);
      auto plan = must(view.explain(q));
      BOOST_TEST(contains(plan, "scan: attribute") != want_index, plan);
    }
  };
  // Not indexed yet: the queries scan (answers need query::matches on attributes).
  {
    Schema all_ready = must(db.schema());
    for (auto& d : all_ready.attributes) d.index_state = IndexState::kReady;  // to pick predicates
    std::mt19937 qr(1);
    auto view = must(db.begin_read());
    Node q = random_predicate(all_ready, qr, list);
    BOOST_TEST(contains(must(view.explain(q)), "scan: attribute " + q.attribute + " not indexed"));
  }
  std::vector<SchemaProgress> progress;
  SchemaWorkOptions o;
  o.batch = 37;
  o.progress = [&](const SchemaProgress& p) { progress.push_back(p); };
  for (const char* name : {"branch", "loyalty_points", "nickname", "interests", "vip", "score",
                           "kyc_review", "seen_at", "balance"})
    must(db.set_indexed(name, true, o));
  BOOST_TEST(progress.size() >= 9u * (300u / 37u));
  require_clean(db);
  Schema stored = must(db.schema());
  BOOST_TEST(stored.find("branch")->index_state == IndexState::kReady);
  std::mt19937 qr(2);
  Schema queryable = stored;
  std::erase_if(queryable.attributes, [](const AttributeDef& d) { return !segment::attribute_queryable(d); });
  answers(queryable, qr, /*want_index=*/true);
  // Report on a backfilled attribute.
  {
    auto view = must(db.begin_read());
    auto rows = must(view.report_all({{GroupKey::attribute("branch")}, {MeasureKey::attribute("loyalty_points")}}));
    std::uint64_t total = 0;
    for (const auto& row : rows) total += row.customers;
    BOOST_TEST(total == customers.size());
  }
  // Writes after the backfill keep the postings; an index drop removes them all.
  {
    auto w = must(db.begin_write());
    for (int i = 0; i < 30; ++i) {
      auto it = std::next(customers.begin(), static_cast<long>(r() % customers.size()));
      Attributes next = random_attributes(r);
      must(w.update_customer(it->first, [&](Customer& c) { c.attributes = next; }));
      it->second.attributes = next;
    }
    must(w.commit());
  }
  require_clean(db);
  answers(queryable, qr, true);
  for (const char* name : {"branch", "loyalty_points", "interests", "nickname"})
    must(db.set_indexed(name, false, o));
  require_clean(db);
  {
    auto& impl = Database::Impl::of(db);
    auto st = must(impl.begin(false));
    segment::SegmentIndex index(impl, *st);
    const Schema now = must(db.schema());
    for (const char* name : {"loyalty_points"}) {
      const AttributeDef& d = *now.find(name);
      for (int slice = 0; slice < segment::kSlicesPerField; ++slice)
        BOOST_TEST(must(index.members_of_key(impl.seg_keys().attribute_slice_key(d.id, d.personal, slice))).empty());
    }
    const AttributeDef& b = *now.find("branch");
    for (const auto& v : b.values) BOOST_TEST(must(segment::attribute_members(index, b, v)).empty());
    if (mode == Mode::kEncrypted) {
      const AttributeDef& t = *now.find("interests");
      BOOST_TEST(!must(impl.get_sealed_meta(*st, std::string(segment::kAttributeDictionaryPrefix) +
                                                    std::to_string(t.id))).has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(plaintext_keys_follow_the_documented_layout) {
  segment::SegmentKeys keys(nullptr, std::uint32_t{5});
  const std::string k = keys.attribute_key(0x01020304, false, "B017");
  BOOST_TEST(k == std::string("\x1c\x08\x01\x02\x03\x04" "B017", 10));
  const std::string s = keys.attribute_slice_key(7, false, 64);
  BOOST_TEST(s == std::string("\x5c\x05\x00\x00\x00\x07\x40", 7));
  // A long value: a 224-byte prefix, 0xFF and a hash; distinct values, distinct keys.
  const std::string a(300, 'a'), b = std::string(299, 'a') + "b";
  const std::string ka = keys.attribute_key(1, false, a), kb = keys.attribute_key(1, false, b);
  BOOST_TEST(ka.size() == 6u + 224u + 17u);
  BOOST_TEST(ka != kb);
  BOOST_TEST(static_cast<unsigned char>(ka[6 + 224]) == 0xFFu);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
