// Relationships: typed links listed from either end, with their rules.
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

BOOST_AUTO_TEST_SUITE(relationships)

BOOST_DATA_TEST_CASE(listed_from_either_end, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  CustomerId c = must(db.insert_customer(sample_customer(3)));
  auto txn = must(db.begin_write());
  RelationshipId r1 = must(txn.add_relationship({0, a, b, RelationType::kEmployer, "", {}}));
  RelationshipId r2 = must(txn.add_relationship({0, c, a, RelationType::kReferral, "",
                                                 parse_date("2021-03-04")}));
  RelationshipId r3 =
      must(txn.add_relationship({0, a, c, RelationType::kCustom, "Godparent", {}}));
  must(txn.commit());

  auto read = must(db.begin_read());
  auto of_a = must(read.relationships_of(a));
  BOOST_TEST_REQUIRE(of_a.size() == 3u);
  BOOST_TEST(of_a[0].id == r1);
  BOOST_TEST(of_a[1].id == r2);
  BOOST_TEST(of_a[2].id == r3);
  BOOST_TEST(of_a[2].custom_type == "godparent");
  BOOST_TEST((of_a[1].since == parse_date("2021-03-04")));
  auto of_b = must(read.relationships_of(b));
  BOOST_TEST_REQUIRE(of_b.size() == 1u);
  BOOST_TEST(of_b[0].from == a);
  BOOST_TEST(of_b[0].type == RelationType::kEmployer);
  BOOST_TEST(must(read.relationships_of(c)).size() == 2u);
  auto got = must(read.get_relationship(r2));
  BOOST_TEST_REQUIRE(got.has_value());
  BOOST_TEST(got->from == c);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(rules, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  auto txn = must(db.begin_write());
  must(txn.add_relationship({0, a, b, RelationType::kSpouse, "", {}}));
  must(txn.add_relationship({0, a, b, RelationType::kGuarantor, "", {}}));
  must(txn.add_relationship({0, b, a, RelationType::kGuarantor, "", {}}));  // directed: a new link

  auto code_of = [&](Relationship r) {
    auto res = txn.add_relationship(r);
    BOOST_TEST_REQUIRE(!res.has_value());
    return res.error().code();
  };
  BOOST_TEST((code_of({0, a, b, RelationType::kSpouse, "", {}}) == ErrorCode::kAlreadyExists));
  BOOST_TEST((code_of({0, b, a, RelationType::kSpouse, "", {}}) == ErrorCode::kAlreadyExists));
  BOOST_TEST((code_of({0, a, a, RelationType::kHousehold, "", {}}) == ErrorCode::kInvalidArgument));
  BOOST_TEST((code_of({0, a, 999, RelationType::kHousehold, "", {}}) ==
              ErrorCode::kFailedPrecondition));
  BOOST_TEST((code_of({0, 999, a, RelationType::kHousehold, "", {}}) ==
              ErrorCode::kFailedPrecondition));
  BOOST_TEST((code_of({0, a, b, RelationType::kCustom, "", {}}) == ErrorCode::kInvalidArgument));
  BOOST_TEST((code_of({0, a, b, RelationType::kCustom, "spouse", {}}) ==
              ErrorCode::kInvalidArgument));
  BOOST_TEST((code_of({0, a, b, static_cast<RelationType>(77), "", {}}) ==
              ErrorCode::kInvalidArgument));
  must(txn.commit());
  BOOST_TEST(must(must(db.begin_read()).counts()).relationships == 3u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(remove, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  CustomerId a = must(db.insert_customer(sample_customer(1)));
  CustomerId b = must(db.insert_customer(sample_customer(2)));
  auto txn = must(db.begin_write());
  RelationshipId r = must(txn.add_relationship({0, a, b, RelationType::kHousehold, "", {}}));
  BOOST_TEST(must(txn.remove_relationship(r)));
  BOOST_TEST(!must(txn.remove_relationship(r)));
  // Once removed, the same link may be made again.
  must(txn.add_relationship({0, b, a, RelationType::kHousehold, "", {}}));
  must(txn.commit());
  auto read = must(db.begin_read());
  BOOST_TEST(must(read.relationships_of(a)).size() == 1u);
  BOOST_TEST(!must(read.get_relationship(r)).has_value());
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE_END()
