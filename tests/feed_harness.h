// The change feed's differential harness (tests/feed_replica_test.cc, feed_erasure_test.cc):
// a random workload that writes every kind of change a database has, the logical state of a
// database as text (every stored table, the exports, the segment answers), and a replica fed
// by feed::read + feed::apply in random batches with redelivered duplicates.
//
// The state text compares what a replica must equal: in plaintext mode every table's keys and
// values byte for byte (values are deterministic there), in encrypted mode every key (tokens
// are deterministic under the shared key material) and the values opened (segment bitmaps
// decoded, the journals and the audit trail through the API, records through the exports).
// Meta keys local to a file (header, key bindings, nonce epoch, the feed's own state) and the
// feed tables are left out.
#pragma once

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "custdb/analytics.h"
#include "custdb/feed.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/db_impl.h"
#include "random_data.h"
#include "segment/segment_index.h"
#include "storage/lmdb.h"
#include "test_util.h"

namespace custdb::test::feedh {

inline std::string hex(std::span<const std::uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * b.size());
  for (std::uint8_t c : b) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

// Meta keys that belong to one file and never travel (custdb/feed.h, "What a change is").
inline bool local_meta_key(std::string_view k) {
  return k == "header" || k == "key_header" || k == "personal_key" || k == "file_id" || k == "key_binding" || k == "nonce_epoch" ||
         k == "shard" || k.starts_with("feed.") || k == "scrub.age";
}

// The named tables a replica must hold equal, with their names.
inline std::vector<std::pair<std::string, storage::Table>> compared_tables(const detail::DatabaseImpl& d) {
  const auto& t = d.tables();
  std::vector<std::pair<std::string, storage::Table>> out = {
      {"meta", t.meta},         {"customers", t.customers},
      {"relationships", t.relationships}, {"transactions", t.transactions},
      {"segments", t.segments}, {"audit", t.audit},
      {"erasures", t.erasures}, {"consent_history", t.consent_history},
      {"rule_moves", t.rule_moves}, {"holdings", t.holdings}};
  for (std::size_t i = 0; i < index::kIndexCount; ++i)
    out.emplace_back(index::spec(static_cast<index::IndexId>(i)).dbi_name, t.index[i]);
  return out;
}

// Every stored table as text (see the file comment).
inline std::string stored_state(const Database& db) {
  detail::DatabaseImpl& d = Database::Impl::of(const_cast<Database&>(db));
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  const bool enc = d.encrypted();
  std::ostringstream out;
  segment::SegmentIndex index(d, **st);
  for (auto& [name, table] : compared_tables(d)) {
    if (!table) continue;
    out << "== " << name << "\n";
    storage::Walker walk((*st)->txn, table, "test dump");
    auto s = walk.all([&](storage::Bytes k, storage::Bytes v) {
      const std::string_view key(reinterpret_cast<const char*>(k.data()), k.size());
      if (name == "meta" && local_meta_key(key)) return storage::Next::go_on();
      out << hex(k) << " ";
      if (name == "segments") {  // the members: chunk encodings may differ, answers not
        auto bits = index.read_chunk(key, v);
        if (!bits) out << "UNDECODABLE";
        else
          for (std::uint32_t x : *bits) out << x << ",";
      } else if (!enc) {
        out << hex(v);
      } else if (name.starts_with("idx.")) {
        out << hex(v);  // ids, not sealed
      }
      out << "\n";
      return storage::Next::go_on();
    });
    BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().to_string()));
  }
  return out.str();
}

inline std::string exports(const Database& db) {
  std::ostringstream out;
  for (io::Table t : {io::Table::kCustomers, io::Table::kRelationships, io::Table::kTransactions,
                      io::Table::kHoldings}) {
    io::ExportOptions o;
    o.reveal = true;
    out << "== export " << io::to_string(t) << "\n";
    auto s = io::export_table(db, t, out, io::Format::kCsv, o);
    BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().to_string()));
  }
  return out.str();
}

// What the API reads beside the tables: journals, the audit trail, consents, stored settings.
inline std::string logical_state(const Database& db) {
  std::ostringstream out;
  auto view = db.begin_read();
  BOOST_TEST_REQUIRE(view.has_value());
  auto journal = must(view->erasure_journal());
  out << "== journal\n";
  for (const auto& e : journal)
    out << e.seq << " " << e.customer << " " << to_string(e.mode) << " "
        << e.at.time_since_epoch().count() << "\n";
  out << "== audit\n";
  for (const auto& a : must(view->audit_log()))
    out << a.seq << " " << a.event.command << " " << a.event.count << " " << a.event.subjects.size()
        << " " << a.at.time_since_epoch().count() << "\n";
  out << "== settings\n";
  auto policy = must(view->retention_policy());
  out << "retention " << policy.value_or("-") << "\n";
  for (const auto& r : must(rules(*view))) out << "rule " << to_string(r) << "\n";
  auto schema = must(view->schema());
  for (const auto& a : schema.attributes)
    out << "attr " << a.name << " " << a.id << " " << static_cast<int>(a.index_state) << " "
        << a.indexed << "\n";
  out << "== consent history, rule moves\n";
  must(view->for_each_customer([&](const Customer& c) {
    for (const auto& h : view->consent_history(c.id).value())
      out << c.id << " " << to_string(h.purpose) << " " << h.seq << "\n";
    for (const auto& m : view->rule_moves(c.id).value())
      out << c.id << " " << m.field << " " << m.to << "\n";
    out << c.id << " scores " << (c.scores ? c.scores->clv : -1) << "\n";
    return true;
  }));
  return out.str();
}

inline const char* const kQueries[] = {
    "tier = gold",          "city = boston",           "region = east",
    "tag = vip",            "total_amount > 100.00",   "txn_count >= 2",
    "birth_date < 1970-01-01", "consent_email = granted", "aum > 10.00",
    "holds(mortgage)",      "products >= 1",           "branch = b1",
    "points > 10",          "points < 0",              "r_score >= 3",
    "stage = at_risk",      "not tag = student and tier != bronze",
};

// Segment answers: counts, ids and groups.
inline std::string answers(const Database& db) {
  std::ostringstream out;
  auto view = db.begin_read();
  BOOST_TEST_REQUIRE(view.has_value());
  auto po = view->parse_options();
  for (const char* text : kQueries) {
    out << text << ": ";
    auto q = po ? query::parse(text, *po) : query::parse(text);
    if (!q) {
      out << "parse error\n";
      continue;
    }
    auto ids = view->ids(*q);
    if (!ids) {
      out << "error " << ids.error().message() << "\n";
      continue;
    }
    out << ids->size() << ":";
    for (CustomerId id : *ids) out << " " << id;
    out << "\n";
  }
  for (GroupBy g : {GroupBy::kTier, GroupBy::kCity, GroupBy::kTag, GroupBy::kRegion,
                    GroupBy::kConsentEmail, GroupBy::kRScore}) {
    auto rows = view->group_all(g);
    out << "group " << static_cast<int>(g) << ":";
    if (!rows) out << " error " << rows.error().message();
    else
      for (const auto& r : *rows)
        out << " " << r.group << "=" << r.customers << "/" << static_cast<long long>(r.total_amount_sum);
    out << "\n";
  }
  return out.str();
}

inline std::string state(const Database& db) {
  return stored_state(db) + exports(db) + logical_state(db) + answers(db);
}

inline void require_clean(const Database& db, const std::string& who) {
  auto report = db.check();
  BOOST_TEST_REQUIRE(report.has_value(), who << ": " << (report ? "" : report.error().to_string()));
  std::string problems;
  for (const auto& p : report->problems) problems += p.where + ": " + p.what + "\n";
  BOOST_TEST(report->clean(), who << " check: " << problems);
}

// The first line where a and b differ, for messages.
inline std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream x(a), y(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ga = static_cast<bool>(std::getline(x, la)), gb = static_cast<bool>(std::getline(y, lb));
    if (!ga && !gb) return "equal";
    if (!ga || !gb || la != lb)
      return "line " + std::to_string(line) + ":\n  primary: " + (ga ? la : "<end>") +
             "\n  replica: " + (gb ? lb : "<end>");
  }
}

// ---- the random workload ---------------------------------------------------------------------

// Writes random changes of every kind to a database, each its own committed operation (some
// of several writes in one WriteTxn). Failures the engine refuses (validation, a customer gone)
// are part of the game: a refused operation writes nothing.
class Workload {
 public:
  Workload(Database& db, std::uint32_t seed, fs::path scratch)
      : db_(db), r_(seed), scratch_(std::move(scratch)) {}

  std::vector<CustomerId> live() {
    std::vector<CustomerId> out;
    auto view = db_.begin_read();
    if (view) (void)view->for_each_customer([&](const Customer& c) { out.push_back(c.id); return true; });
    return out;
  }

  CustomerId any_customer() {
    auto ids = live();
    return ids.empty() ? 0 : ids[r_() % ids.size()];
  }

  Customer new_customer() {
    Customer c = random_customer(r_);
    const std::string u = std::to_string(++uniq_);
    c.name = "Person" + u + "x";
    if (r_() % 3) c.email = "person" + u + "@example.org";
    if (r_() % 3) c.external_ref = "REF" + u;
    if (r_() % 4 == 0) c.phone = "+1 212 555 " + std::to_string(1000 + uniq_ % 9000);
    if (has_attrs_ && r_() % 2) {
      c.attributes["branch"] = std::string(r_() % 2 ? "b1" : "b2");
      c.attributes["points"] = static_cast<std::int64_t>(r_() % 40) - 5;
    }
    return c;
  }

  // One random operation; returns its name (for messages).
  std::string step() {
    const int op = static_cast<int>(r_() % 100);
    if (op < 14) return insert();
    if (op < 24) return update();
    if (op < 38) return add_txn();
    if (op < 43) return amend();
    if (op < 46) return remove_txn();
    if (op < 54) return holding();
    if (op < 60) return relationship();
    if (op < 65) return consent();
    if (op < 70) return schema_work();
    if (op < 73) return analytics();
    if (op < 75) return retention();
    if (op < 81) return erase();
    if (op < 84) return delete_cascade();
    if (op < 87) return import();
    return mixed();
  }

  std::string insert() {
    auto n = 1 + r_() % 3;
    std::vector<Customer> cs;
    for (std::size_t i = 0; i < n; ++i) cs.push_back(new_customer());
    (void)db_.insert_customers(cs);
    return "insert";
  }

  std::string update() {
    CustomerId id = any_customer();
    if (!id) return insert();
    (void)db_.write([&](WriteTxn& t) -> Status {
      auto done = t.update_customer(id, [&](Customer& c) {
        c.tier = static_cast<Tier>(r_() % 5);
        if (r_() % 2) c.address.city = pick(r_, kCities);
        else c.address.city.clear();
        if (r_() % 2) c.tags = {pick(r_, kTags)};
        if (r_() % 3 == 0) c.income_band = static_cast<std::uint8_t>(1 + r_() % 10);
        if (r_() % 3 == 0) c.email = "moved" + std::to_string(++uniq_) + "@example.org";
        if (has_attrs_ && r_() % 2) c.attributes["points"] = static_cast<std::int64_t>(r_() % 60) - 10;
        if (has_attrs_ && r_() % 3 == 0) c.attributes.erase("branch");
      });
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "update";
  }

  Transaction txn_of(CustomerId id) {
    Transaction t = random_txn(r_, id);
    t.description = "memo" + std::to_string(++uniq_);
    return t;
  }

  std::string add_txn() {
    CustomerId id = any_customer();
    if (!id) return insert();
    (void)db_.write([&](WriteTxn& t) -> Status {
      for (int i = 0, n = 1 + static_cast<int>(r_() % 3); i < n; ++i)
        if (auto x = t.add_transaction(txn_of(id)); !x) return tl::unexpected(x.error());
      return {};
    });
    return "add_txn";
  }

  std::vector<Transaction> all_txns() {
    std::vector<Transaction> out;
    auto view = db_.begin_read();
    if (view) (void)view->for_each_transaction([&](const Transaction& t) { out.push_back(t); return true; });
    return out;
  }

  std::string amend() {
    auto txns = all_txns();
    if (txns.empty()) return add_txn();
    const Transaction x = txns[r_() % txns.size()];
    CustomerId to = r_() % 3 == 0 ? any_customer() : x.customer_id;  // a move to another customer
    (void)db_.write([&](WriteTxn& t) -> Status {
      auto done = t.amend_transaction(x.id, [&](Transaction& y) {
        y.amount = static_cast<std::int64_t>(r_() % 100000);
        y.customer_id = to;
        y.holding_id.reset();
        y.description = "amended" + std::to_string(++uniq_);
      });
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "amend";
  }

  std::string remove_txn() {
    auto txns = all_txns();
    if (txns.empty()) return add_txn();
    const TransactionId id = txns[r_() % txns.size()].id;
    (void)db_.write([&](WriteTxn& t) -> Status {
      auto done = t.remove_transaction(id);
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "remove_txn";
  }

  std::string holding() {
    CustomerId id = any_customer();
    if (!id) return insert();
    std::vector<Holding> hs;
    {
      auto view = db_.begin_read();
      if (view) (void)view->for_each_holding([&](const Holding& h) { hs.push_back(h); return true; });
    }
    const int what = static_cast<int>(r_() % 4);
    if (what == 0 || hs.empty()) {
      Holding h;
      h.customer_id = id;
      h.product_type = r_() % 2 ? ProductType::kSavings : ProductType::kMortgage;
      h.currency = "USD";
      h.balance = static_cast<std::int64_t>(r_() % 1000000);
      h.opened_on = parse_date("2024-01-01");
      if (r_() % 2) h.account_ref = "ACC" + std::to_string(++uniq_);
      (void)db_.insert_holding(h);
      return "insert_holding";
    }
    const Holding h = hs[r_() % hs.size()];
    (void)db_.write([&](WriteTxn& t) -> Status {
      if (what == 1) {
        auto done = t.update_holding(h.id, [&](Holding& y) { y.product_code = "P" + std::to_string(r_() % 9); });
        if (!done) return tl::unexpected(done.error());
      } else if (what == 2) {
        StatementBalance b;
        b.balance = static_cast<std::int64_t>(r_() % 5000000);
        b.as_of = parse_date("2025-06-01").value() + std::chrono::days(++uniq_ % 100);
        auto done = t.set_balance(h.id, b);
        if (!done) return tl::unexpected(done.error());
        Transaction p = txn_of(h.customer_id);
        p.holding_id = h.id;
        if (auto x = t.add_transaction(p); !x) return tl::unexpected(x.error());
      } else {
        auto done = t.remove_holding(h.id, DeleteMode::kCascade);
        if (!done) return tl::unexpected(done.error());
      }
      return {};
    });
    return "holding";
  }

  std::string relationship() {
    auto ids = live();
    if (ids.size() < 2) return insert();
    (void)db_.write([&](WriteTxn& t) -> Status {
      if (r_() % 3 == 0) {
        auto rels = t.relationships_of(ids[r_() % ids.size()]);
        if (rels && !rels->empty()) {
          auto done = t.remove_relationship((*rels)[r_() % rels->size()].id);
          if (!done) return tl::unexpected(done.error());
          return {};
        }
      }
      Relationship rel;
      rel.from = ids[r_() % ids.size()];
      rel.to = ids[r_() % ids.size()];
      rel.type = static_cast<RelationType>(r_() % 3);
      auto x = t.add_relationship(rel);
      if (!x) return tl::unexpected(x.error());
      return {};
    });
    return "relationship";
  }

  std::string consent() {
    CustomerId id = any_customer();
    if (!id) return insert();
    (void)db_.write([&](WriteTxn& t) -> Status {
      Consent c{static_cast<ConsentState>(1 + r_() % 2), parse_date("2025-01-01")};
      auto done = t.set_consent(id, static_cast<ConsentPurpose>(r_() % 5), c);
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "consent";
  }

  std::string schema_work() {
    auto schema = db_.schema();
    if (!schema) return "schema?";
    auto has = [&](const char* n) {
      for (const auto& a : schema->attributes)
        if (a.name == n) return true;
      return false;
    };
    if (!has("branch")) {
      AttributeDef b;
      b.name = "branch";
      b.type = AttributeType::kEnum;
      b.values = {"b1", "b2"};
      b.indexed = true;
      (void)db_.add_attribute(b);
      AttributeDef p;
      p.name = "points";
      p.type = AttributeType::kInteger;
      p.indexed = r_() % 2;
      (void)db_.add_attribute(p);
      has_attrs_ = true;
      return "add_attribute";
    }
    has_attrs_ = true;
    switch (r_() % 4) {
      case 0: (void)db_.set_indexed("points", r_() % 2); return "set_indexed";
      case 1: (void)db_.set_indexed("branch", r_() % 2); return "set_indexed";
      case 2: (void)db_.drop_attribute("points"); (void)db_.finish_schema_work(); has_attrs_ = false;
        return "drop_attribute";
      default: (void)db_.finish_schema_work(); return "finish_schema_work";
    }
  }

  std::string analytics() {
    if (r_() % 2) {
      std::vector<Rule> list;
      if (auto r = parse_rule(r_() % 2 ? "tier = gold when total_amount > 500.00"
                                       : "stage = at_risk when txn_count < 2"))
        list.push_back(*r);
      (void)set_rules(db_, list);
      ApplyOptions o;
      o.as_of = parse_date("2026-01-01");
      o.batch = 1 + r_() % 20;
      (void)apply_rules(db_, o);
      return "rules";
    }
    auto view = db_.begin_read();
    if (!view) return "scores?";
    RfmOptions ro;
    ro.as_of = parse_date("2026-01-01").value();
    auto model = fit_clv(*view, ro);
    view = db_.begin_read();  // end the view before writing
    if (!model) return "scores (no model)";
    (void)store_model(db_, *model);
    ScoreOptions so;
    so.as_of = parse_date("2026-01-01");
    so.batch = 1 + r_() % 20;
    (void)score_customers(db_, so);
    return "scores";
  }

  std::string retention() {
    (void)db_.set_retention_policy(r_() % 2 ? "anonymize when tier = platinum and txn_count = 0"
                                            : "erase when tier = diamond and stage = churned");
    RetentionOptions o;
    o.batch = 1 + r_() % 3;
    (void)db_.apply_retention(o);
    return "retention";
  }

  std::string erase() {
    CustomerId id = any_customer();
    if (!id) return insert();
    (void)db_.erase_customer(id, r_() % 2 ? EraseMode::kFull : EraseMode::kKeepLedger);
    return "erase";
  }

  std::string delete_cascade() {
    CustomerId id = any_customer();
    if (!id) return insert();
    (void)db_.write([&](WriteTxn& t) -> Status {
      auto done = t.delete_customer(id, DeleteMode::kCascade);
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "delete";
  }

  std::string import() {
    const fs::path file = scratch_ / ("import" + std::to_string(++uniq_) + ".csv");
    {
      std::ofstream out(file);
      out << "id,name,email,city,tier,tags\n";
      for (int i = 0; i < 3; ++i)
        out << "," << "Imported" << ++uniq_ << "y,imp" << uniq_ << "@example.net,"
            << pick(r_, kCities) << ",gold,vip\n";
    }
    (void)io::import_file(db_, io::Table::kCustomers, file, io::Format::kCsv);
    return "import";
  }

  // Several writes in one transaction, an erasure among them (its own entry's parts and the
  // earlier writes of the same transaction).
  std::string mixed() {
    CustomerId victim = any_customer();
    (void)db_.write([&](WriteTxn& t) -> Status {
      auto a = t.insert_customer(new_customer());
      if (!a) return tl::unexpected(a.error());
      if (auto x = t.add_transaction(txn_of(*a)); !x) return tl::unexpected(x.error());
      if (victim && victim != *a && r_() % 2) {
        auto e = t.erase_customer(victim, r_() % 2 ? EraseMode::kFull : EraseMode::kKeepLedger);
        if (!e) return tl::unexpected(e.error());
      }
      auto done = t.update_customer(*a, [&](Customer& c) { c.tier = Tier::kGold; c.address.city = "Lyon"; });
      if (!done) return tl::unexpected(done.error());
      return {};
    });
    return "mixed";
  }

 private:
  Database& db_;
  std::mt19937 r_;
  fs::path scratch_;
  std::uint64_t uniq_ = 0;
  bool has_attrs_ = false;
};

}  // namespace custdb::test::feedh
