// index::diff_entries, the pure part of an index update (DatabaseImpl::update_entries deletes
// `removed` and puts `added`): against a set-based reference on random entry lists, and on the
// cases an update meets (insert, delete, unchanged, one key changed, duplicates).
#include <random>
#include <set>

#include "index/index_keys.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using index::EntryDiff;
using index::IndexEntry;
using index::IndexId;

namespace {

IndexEntry entry(IndexId index, std::string key, std::uint64_t owner) {
  return {index, std::move(key), index::IndexKeys::id_key(owner)};
}

std::vector<IndexEntry> random_entries(std::mt19937& r) {
  static const IndexId kIds[] = {IndexId::kExternalRef, IndexId::kEmail, IndexId::kPhone};
  std::vector<IndexEntry> out;
  for (int n = static_cast<int>(r() % 6); n > 0; --n)
    out.push_back(entry(kIds[r() % 3], std::string(1, static_cast<char>('a' + r() % 3)), 1 + r() % 2));
  return out;
}

bool sorted_unique(const std::vector<IndexEntry>& v) {
  return std::adjacent_find(v.begin(), v.end(), [](auto& a, auto& b) { return !(a < b); }) == v.end();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(entry_diff)

BOOST_AUTO_TEST_CASE(insert_delete_and_unchanged) {
  const std::vector<IndexEntry> some = {entry(IndexId::kEmail, "a@x.org", 7),
                                        entry(IndexId::kExternalRef, "EXT-7", 7)};
  EntryDiff insert = index::diff_entries({}, some);
  BOOST_TEST(insert.removed.empty());
  BOOST_TEST(insert.added.size() == 2u);
  BOOST_TEST(sorted_unique(insert.added));
  EntryDiff remove = index::diff_entries(some, {});
  BOOST_TEST(remove.added.empty());
  BOOST_TEST(remove.removed.size() == 2u);
  // The same entries in another order: nothing to write.
  EntryDiff same = index::diff_entries(some, {some[1], some[0]});
  BOOST_TEST(same.removed.empty());
  BOOST_TEST(same.added.empty());
}

BOOST_AUTO_TEST_CASE(a_changed_key_is_one_delete_and_one_put) {
  const auto ref = entry(IndexId::kExternalRef, "EXT-7", 7);
  EntryDiff d = index::diff_entries({ref, entry(IndexId::kEmail, "old@x.org", 7)},
                                    {entry(IndexId::kEmail, "new@x.org", 7), ref});
  BOOST_TEST_REQUIRE(d.removed.size() == 1u);
  BOOST_TEST_REQUIRE(d.added.size() == 1u);
  BOOST_TEST(d.removed[0].key == "old@x.org");
  BOOST_TEST(d.added[0].key == "new@x.org");
  // The same key for another owner is another entry (duplicate-key indexes hold both).
  EntryDiff moved = index::diff_entries({entry(IndexId::kEmail, "a@x.org", 1)},
                                        {entry(IndexId::kEmail, "a@x.org", 2)});
  BOOST_TEST(moved.removed.size() == 1u);
  BOOST_TEST(moved.added.size() == 1u);
}

BOOST_AUTO_TEST_CASE(duplicates_count_once) {
  const auto e = entry(IndexId::kPhone, "+15550101000", 3);
  EntryDiff d = index::diff_entries({e, e}, {e});
  BOOST_TEST(d.removed.empty());
  BOOST_TEST(d.added.empty());
  d = index::diff_entries({}, {e, e});
  BOOST_TEST(d.added.size() == 1u);
}

// Applying the diff to the old set gives the new set, and nothing in both is touched.
BOOST_AUTO_TEST_CASE(random_lists_agree_with_set_difference) {
  std::mt19937 r(2026);
  for (int i = 0; i < 3000; ++i) {
    const auto before = random_entries(r), after = random_entries(r);
    const EntryDiff d = index::diff_entries(before, after);
    BOOST_TEST(sorted_unique(d.removed));
    BOOST_TEST(sorted_unique(d.added));
    std::set<IndexEntry> old_set(before.begin(), before.end()), new_set(after.begin(), after.end());
    std::set<IndexEntry> applied = old_set;
    for (const auto& e : d.removed) {
      BOOST_TEST(old_set.count(e) == 1u);
      BOOST_TEST(new_set.count(e) == 0u);
      applied.erase(e);
    }
    for (const auto& e : d.added) {
      BOOST_TEST(new_set.count(e) == 1u);
      BOOST_TEST(old_set.count(e) == 0u);
      applied.insert(e);
    }
    BOOST_TEST((applied == new_set));
  }
}

BOOST_AUTO_TEST_SUITE_END()
