// Subject access (ReadView::subject_record, io::write_subject_json): everything held about one
// customer and nothing about anyone else, in both storage modes.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <set>
#include <sstream>

#include "custdb/io.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace pt = boost::property_tree;

struct World {
  CustomerId me = 0, other = 0, third = 0;
};

World build(Database& db) {
  World w;
  Customer a = sample_customer(1);
  a.name = "Zelda \"Quote\" Back\\slash";
  a.email = "zelda@example.com";
  a.tags = {"vip"};
  a.consent_sms = {ConsentState::kDenied, parse_date("2024-06-01"), "branch"};
  w.me = must(db.insert_customer(a));
  w.other = must(db.insert_customer(sample_customer(2)));
  w.third = must(db.insert_customer(sample_customer(3)));
  auto txn = must(db.begin_write());
  must(txn.add_relationship({0, w.me, w.other, RelationType::kHousehold, "", {}}));
  must(txn.add_relationship({0, w.third, w.me, RelationType::kCustom, "godparent", {}}));
  must(txn.add_relationship({0, w.other, w.third, RelationType::kHousehold, "", {}}));
  Transaction t1 = sample_txn(w.me, 1250, "2025-03-01T10:00:00Z");
  t1.description = "memo: \"rent\"\tmarch";
  must(txn.add_transaction(t1));
  must(txn.add_transaction(sample_txn(w.me, 300, "2025-01-01T10:00:00Z")));
  must(txn.add_transaction(sample_txn(w.other, 999, "2025-02-01T10:00:00Z")));
  AuditEvent e;
  e.command = "get --reveal";
  e.subjects = {w.me};
  e.count = 1;
  must(txn.record_audit_event(e));
  e.subjects = {w.other};
  e.detail = "about someone else";
  must(txn.record_audit_event(e));
  must(txn.commit());
  return w;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(subject_export)

BOOST_DATA_TEST_CASE(record_holds_everything_about_one_customer, kModes, m) {
  TempDir dir;
  auto db = open_db(m, dir.path());
  const World w = build(db);
  auto r = must(db.begin_read());
  auto rec = must(r.subject_record(w.me));
  BOOST_TEST_REQUIRE(rec.has_value());
  BOOST_TEST(rec->customer.id == w.me);
  BOOST_TEST(rec->customer.email == std::optional<std::string>("zelda@example.com"));
  BOOST_TEST_REQUIRE(rec->relationships.size() == 2u);  // both directions, not other->third
  for (const auto& rel : rec->relationships) BOOST_TEST((rel.from == w.me || rel.to == w.me));
  BOOST_TEST_REQUIRE(rec->transactions.size() == 2u);
  BOOST_TEST(rec->transactions[0].amount == 300);  // by time
  BOOST_TEST(rec->transactions[1].amount == 1250);
  BOOST_TEST_REQUIRE(rec->audit.size() == 1u);  // not the entry about `other`
  BOOST_TEST(rec->audit[0].event.command == "get --reveal");
  BOOST_TEST(rec->customer.aggregates.txn_count == 2u);

  BOOST_TEST(!must(r.subject_record(999999)).has_value());
}

BOOST_DATA_TEST_CASE(json_document_is_valid_and_complete, kModes, m) {
  TempDir dir;
  auto db = open_db(m, dir.path());
  const World w = build(db);
  auto r = must(db.begin_read());
  auto rec = must(r.subject_record(w.me));
  BOOST_TEST_REQUIRE(rec.has_value());
  std::ostringstream out;
  must(io::write_subject_json(*rec, db.info().base_currency, out));
  const std::string text = out.str();
  BOOST_TEST_REQUIRE(!text.empty());
  BOOST_TEST(text.back() == '\n');
  pt::ptree doc;
  std::istringstream in(text);
  BOOST_REQUIRE_NO_THROW(pt::read_json(in, doc));
  BOOST_TEST(doc.get<std::string>("format") == "custdb-subject-1");
  BOOST_TEST(doc.get<std::string>("customer.name") == "Zelda \"Quote\" Back\\slash");
  BOOST_TEST(doc.get<std::string>("customer.email") == "zelda@example.com");
  BOOST_TEST(doc.get<std::string>("customer.consents.sms_marketing.state") == "denied");
  BOOST_TEST(doc.get<std::string>("customer.consents.sms_marketing.source") == "branch");
  BOOST_TEST(doc.get<std::string>("customer.consents.sms_marketing.date") == "2024-06-01");
  BOOST_TEST(doc.get<std::string>("customer.address.city") == "Springfield");
  BOOST_TEST(doc.get<std::string>("customer.aggregates.total_amount") == "15.50");
  BOOST_TEST(doc.get_child("relationships").size() == 2u);
  std::set<std::string> directions;
  for (const pt::ptree::value_type& rel : doc.get_child("relationships"))
    directions.insert(rel.second.get<std::string>("direction"));
  BOOST_TEST((directions == std::set<std::string>{"from", "to"}));
  BOOST_TEST(doc.get_child("transactions").size() == 2u);
  BOOST_TEST(doc.get_child("transactions").back().second.get<std::string>("description") ==
             "memo: \"rent\"\tmarch");  // escaped in JSON, read back exactly
  BOOST_TEST(doc.get_child("audit").size() == 1u);
  BOOST_TEST(!contains(text, "about someone else"));
  BOOST_TEST(!contains(text, sample_customer(2).name));  // the household member's name
  BOOST_TEST(!contains(text, "\t"));                      // no raw control byte in the document
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
