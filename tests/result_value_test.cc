// Result<T>::value() and operator* on an rvalue return the value (moved), not a reference into
// the temporary (issue 12, point 14): `for (CustomerId id : txn.ids(q).value())` is safe. Under
// AddressSanitizer (CUSTDB_SANITIZE, as CI runs the suite) the loops below would report a
// stack- or heap-use-after-scope with a reference.
#include <boost/test/unit_test.hpp>
#include <numeric>
#include <type_traits>

#include "custdb/query.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

Result<std::vector<std::uint64_t>> numbers(int n) {
  std::vector<std::uint64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

// A value whose destructor scribbles its storage, so a dangling use reads garbage even
// without a sanitizer.
struct Loud {
  std::vector<std::string> items{"a", "b", "c"};
  ~Loud() { items.assign(3, std::string(64, '#')); }
};

Result<Loud> loud() { return Loud{}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(result_value)

// The API: rvalue access yields T; lvalue access references; Status is unchanged.
static_assert(std::is_same_v<decltype(numbers(1).value()), std::vector<std::uint64_t>>);
static_assert(std::is_same_v<decltype(*numbers(1)), std::vector<std::uint64_t>>);
static_assert(std::is_same_v<decltype(std::declval<Result<int>&>().value()), int&>);
static_assert(std::is_same_v<decltype(*std::declval<const Result<int>&>()), const int&>);
static_assert(std::is_base_of_v<tl::expected<void, Error>, Status>);

BOOST_AUTO_TEST_CASE(loop_over_a_temporary_result) {
  std::uint64_t sum = 0;
  for (std::uint64_t x : numbers(1000).value()) sum += x;
  BOOST_TEST(sum == 500500u);
  sum = 0;
  for (std::uint64_t x : *numbers(10)) sum += x;
  BOOST_TEST(sum == 55u);
  std::string joined;
  for (const std::string& s : loud().value().items) joined += s;
  BOOST_TEST(joined == "abc");
}

BOOST_AUTO_TEST_CASE(loop_over_ids_of_a_query) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  for (int i = 1; i <= 50; ++i) must(db.insert_customer(sample_customer(i)));
  auto txn = must(db.begin_read());
  const auto q = query::parse("tier = gold").value();
  std::vector<CustomerId> seen;
  for (CustomerId id : txn.ids(q).value()) seen.push_back(id);  // the loop everyone writes
  BOOST_TEST(seen == must(txn.ids(q)));
  BOOST_TEST(seen.size() == 10u);
}

BOOST_AUTO_TEST_CASE(value_of_an_error_throws) {
  Result<int> bad = make_error(ErrorCode::kInvalidArgument, "no");
  BOOST_CHECK_THROW(std::move(bad).value(), tl::bad_expected_access<Error>);
  BOOST_CHECK_THROW(bad.value(), tl::bad_expected_access<Error>);
}

BOOST_AUTO_TEST_SUITE_END()
