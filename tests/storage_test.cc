// The storage layer on its own (src/storage/lmdb.h): point reads, writes and deletes with their
// error classification, table statistics, and the range walker over keys and duplicates.
#include <string>
#include <vector>

#include "storage/lmdb.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;
using custdb::coding::as_bytes;
using custdb::coding::as_view;
using storage::Next;
using storage::Walker;

namespace {

// A scratch environment with one plain and one dupsort table, created in a committed write.
struct Store {
  TempDir dir;
  storage::Env env;
  storage::Table plain, dups;

  explicit Store(std::size_t map_size = std::size_t{64} << 20) {
    storage::Env::OpenParams p;
    p.dir = dir.path().string();
    p.map_size = map_size;
    p.sync = storage::Env::Sync::kNone;
    env = must(storage::Env::open(p));
    storage::Txn txn = begin(true);
    plain = *must(storage::open_table(txn, "plain", storage::TableKind::kUnique, true));
    dups = *must(storage::open_table(txn, "dups", storage::TableKind::kDupSorted, true));
    must(txn.commit("create"));
  }
  storage::Txn begin(bool write) {
    storage::Txn txn;
    Error e(ErrorCode::kInternal, "");
    BOOST_TEST_REQUIRE((storage::Txn::begin(env, write, txn, "begin", &e) ==
                        storage::Txn::Begin::kOk),
                       e.to_string());
    return txn;
  }
};

void put(const storage::Txn& t, storage::Table table, std::string_view k, std::string_view v) {
  must(storage::put(t, table, as_bytes(k), as_bytes(v)));
}

// Every (key, value) a walk visits, as "key=value".
struct Seen {
  std::vector<std::string> entries;
  storage::Visit visit(std::size_t stop_after = SIZE_MAX) {
    return [this, stop_after](storage::Bytes k, storage::Bytes v) {
      entries.push_back(std::string(as_view(k)) + "=" + std::string(as_view(v)));
      return entries.size() >= stop_after ? Next::stop() : Next::go_on();
    };
  }
};

using Strings = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(storage_layer)

BOOST_AUTO_TEST_CASE(fresh_table_stat_and_missing_keys) {
  Store s;
  auto txn = s.begin(false);
  auto st = must(storage::stat(txn, s.plain));
  BOOST_TEST(st.entries == 0u);
  BOOST_TEST(st.depth == 0u);
  BOOST_TEST(st.leaf_pages == 0u);
  BOOST_TEST(st.page_size >= 512u);
  BOOST_TEST(must(storage::entry_count(txn, s.dups, "dups")) == 0u);
  BOOST_TEST(!must(storage::get(txn, s.plain, as_bytes("absent"))).has_value());
  // A table that was never created is reported as absent, not as an error.
  BOOST_TEST(!must(storage::open_table(txn, "never", storage::TableKind::kUnique, false)));
}

BOOST_AUTO_TEST_CASE(put_get_delete) {
  Store s;
  auto txn = s.begin(true);
  put(txn, s.plain, "b", "2");
  put(txn, s.plain, "a", "1");
  put(txn, s.plain, "a", "one");  // overwrites
  BOOST_TEST(as_view(*must(storage::get(txn, s.plain, as_bytes("a")))) == "one");
  BOOST_TEST(must(storage::stat(txn, s.plain)).entries == 2u);
  BOOST_TEST(must(storage::del(txn, s.plain, as_bytes("a"))) == true);
  BOOST_TEST(must(storage::del(txn, s.plain, as_bytes("a"))) == false);  // not found: no error
  BOOST_TEST(!must(storage::get(txn, s.plain, as_bytes("a"))).has_value());

  put(txn, s.dups, "k", "x");
  put(txn, s.dups, "k", "y");
  BOOST_TEST(must(storage::has_dup(txn, s.dups, as_bytes("k"), as_bytes("y"))));
  BOOST_TEST(!must(storage::has_dup(txn, s.dups, as_bytes("k"), as_bytes("z"))));
  // Deleting one duplicate keeps the other.
  BOOST_TEST(must(storage::del(txn, s.dups, as_bytes("k"), as_bytes("x"))) == true);
  BOOST_TEST(must(storage::del(txn, s.dups, as_bytes("k"), as_bytes("x"))) == false);
  BOOST_TEST(as_view(*must(storage::get(txn, s.dups, as_bytes("k")))) == "y");
  must(txn.commit("commit"));

  auto read = s.begin(false);
  BOOST_TEST(as_view(*must(storage::get(read, s.plain, as_bytes("b")))) == "2");
  BOOST_TEST(must(storage::stat(read, s.dups)).entries == 1u);
}

BOOST_AUTO_TEST_CASE(refused_puts_are_already_exists) {
  Store s;
  auto txn = s.begin(true);
  put(txn, s.plain, "a", "1");
  auto again = storage::put(txn, s.plain, as_bytes("a"), as_bytes("2"), storage::Put::kNoOverwrite);
  BOOST_TEST_REQUIRE(!again);
  BOOST_TEST(again.error().code() == ErrorCode::kAlreadyExists);
  BOOST_TEST(as_view(*must(storage::get(txn, s.plain, as_bytes("a")))) == "1");

  put(txn, s.dups, "k", "x");
  auto dup = storage::put(txn, s.dups, as_bytes("k"), as_bytes("x"), storage::Put::kNoDupData);
  BOOST_TEST_REQUIRE(!dup);
  BOOST_TEST(dup.error().code() == ErrorCode::kAlreadyExists);
  // Appending a key that does not sort last is refused as well.
  auto append = storage::put(txn, s.plain, as_bytes("0"), as_bytes("v"), storage::Put::kAppend);
  BOOST_TEST_REQUIRE(!append);
  BOOST_TEST(append.error().code() == ErrorCode::kAlreadyExists);
}

BOOST_AUTO_TEST_CASE(a_full_map_is_resource_exhausted) {
  Store s(std::size_t{1} << 20);  // 1 MiB: 256 pages
  auto txn = s.begin(true);
  const std::string value(3000, 'v');
  Status failed;
  for (int i = 0; i < 1000 && failed; ++i)
    failed = storage::put(txn, s.plain, as_bytes("key" + std::to_string(1000 + i)), as_bytes(value),
                          storage::Put::kOverwrite, "fill");
  BOOST_TEST_REQUIRE(!failed);
  BOOST_TEST(failed.error().code() == ErrorCode::kResourceExhausted);
  BOOST_TEST(failed.error().message().find("fill: the database is full") != std::string::npos,
             failed.error().message());
  BOOST_TEST(failed.error().message().find(std::to_string(std::size_t{1} << 20)) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(key_walks) {
  Store s;
  {
    auto txn = s.begin(true);
    for (const char* k : {"a1", "b1", "b2", "b3", "c1", "ca"}) put(txn, s.plain, k, k);
    must(txn.commit("commit"));
  }
  auto txn = s.begin(false);
  {
    Seen seen;
    must(Walker(txn, s.plain, "all").all(seen.visit()));
    BOOST_TEST(seen.entries == (Strings{"a1=a1", "b1=b1", "b2=b2", "b3=b3", "c1=c1", "ca=ca"}),
               boost::test_tools::per_element());
  }
  {
    Seen seen;  // a prefix, then stops at the first key outside it
    must(Walker(txn, s.plain, "prefix").prefix(as_bytes("b"), seen.visit()));
    BOOST_TEST(seen.entries == (Strings{"b1=b1", "b2=b2", "b3=b3"}), boost::test_tools::per_element());
  }
  {
    Seen seen;  // a seek between keys starts at the next one; the callback stops the walk
    must(Walker(txn, s.plain, "from").from(as_bytes("b15"), seen.visit(2)));
    BOOST_TEST(seen.entries == (Strings{"b2=b2", "b3=b3"}), boost::test_tools::per_element());
  }
  {
    Seen seen;  // a seek past the last key visits nothing
    must(Walker(txn, s.plain, "from").from(as_bytes("zz"), seen.visit()));
    BOOST_TEST(seen.entries.empty());
    must(Walker(txn, s.plain, "prefix").prefix(as_bytes("d"), seen.visit()));
    BOOST_TEST(seen.entries.empty());
  }
  {
    // skip_past: one entry per first letter.
    std::vector<std::string> firsts;
    must(Walker(txn, s.plain, "skip").all([&](storage::Bytes k, storage::Bytes) {
      firsts.emplace_back(as_view(k));
      return Next::skip_past(std::string(1, static_cast<char>(k[0])) + "\xff");
    }));
    BOOST_TEST(firsts == (Strings{"a1", "b1", "c1"}), boost::test_tools::per_element());
  }
  {
    // skip_past an existing key continues right after it.
    std::vector<std::string> keys;
    must(Walker(txn, s.plain, "skip").all([&](storage::Bytes k, storage::Bytes) {
      keys.emplace_back(as_view(k));
      return as_view(k) == "a1" ? Next::skip_past("b2") : Next::go_on();
    }));
    BOOST_TEST(keys == (Strings{"a1", "b3", "c1", "ca"}), boost::test_tools::per_element());
  }
  {
    std::size_t n = 0;
    must(Walker(txn, s.plain, "plain").all_verified([&](storage::Bytes, storage::Bytes) {
      ++n;
      return Next::go_on();
    }));
    BOOST_TEST(n == 6u);
  }
}

BOOST_AUTO_TEST_CASE(duplicate_walks) {
  Store s;
  {
    auto txn = s.begin(true);
    for (const char* v : {"10", "20", "30", "40"}) put(txn, s.dups, "k", v);
    put(txn, s.dups, "j", "05");
    put(txn, s.dups, "m", "99");
    must(txn.commit("commit"));
  }
  auto txn = s.begin(false);
  Walker w(txn, s.dups, "dups");
  {
    Seen seen;
    must(w.dups(as_bytes("k"), Walker::Order::kForward, seen.visit()));
    BOOST_TEST(seen.entries == (Strings{"k=10", "k=20", "k=30", "k=40"}),
               boost::test_tools::per_element());
  }
  {
    Seen seen;  // backward: the last value first, never leaving the key
    must(w.dups(as_bytes("k"), Walker::Order::kBackward, seen.visit()));
    BOOST_TEST(seen.entries == (Strings{"k=40", "k=30", "k=20", "k=10"}),
               boost::test_tools::per_element());
  }
  {
    Seen seen;  // forward from a value between two stored ones
    must(w.dups(as_bytes("k"), Walker::Order::kForward, seen.visit(), as_bytes("25")));
    BOOST_TEST(seen.entries == (Strings{"k=30", "k=40"}), boost::test_tools::per_element());
  }
  {
    Seen seen;  // from a value past the last one, and an absent key: nothing
    must(w.dups(as_bytes("k"), Walker::Order::kForward, seen.visit(), as_bytes("50")));
    must(w.dups(as_bytes("l"), Walker::Order::kBackward, seen.visit()));
    BOOST_TEST(seen.entries.empty());
  }
  BOOST_TEST(must(w.dup_count(as_bytes("k"))) == 4u);
  BOOST_TEST(must(w.dup_count(as_bytes("l"))) == 0u);
  {
    Strings keys;
    must(w.keys([&](storage::Bytes k, std::size_t n) {
      keys.push_back(std::string(as_view(k)) + ":" + std::to_string(n));
      return true;
    }));
    BOOST_TEST(keys == (Strings{"j:1", "k:4", "m:1"}), boost::test_tools::per_element());
  }
  {
    Seen seen;  // a full walk visits every value of every key
    must(w.all(seen.visit()));
    BOOST_TEST(seen.entries.size() == 6u);
  }
}

BOOST_AUTO_TEST_CASE(point_reader_in_ascending_order) {
  Store s;
  {
    auto txn = s.begin(true);
    for (std::uint64_t id = 1; id <= 2000; id += 2) {
      coding::IdKey k(id);
      must(storage::put(txn, s.plain, k.span(), k.span()));
    }
    must(txn.commit("commit"));
  }
  auto txn = s.begin(false);
  storage::PointReader reader(txn, s.plain);
  std::size_t found = 0;
  for (std::uint64_t id = 1; id <= 2001; ++id) {
    coding::IdKey k(id);
    auto v = must(reader.get(k.span()));
    if (id % 2 == 1 && id < 2000) {
      BOOST_TEST_REQUIRE(v.has_value());
      BOOST_TEST(coding::get_u64(v->data()) == id);
      ++found;
    } else {
      BOOST_TEST(!v.has_value());
    }
  }
  BOOST_TEST(found == 1000u);
}

BOOST_AUTO_TEST_CASE(codings_keep_numeric_order) {
  // Big-endian, sign-biased: byte order is numeric order, and every value reads back.
  const std::int64_t values[] = {INT64_MIN, -1'000'000, -1, 0, 1, 255, 256, INT64_MAX};
  std::string prev;
  for (std::int64_t v : values) {
    std::uint8_t b[8];
    coding::put_i64(b, v);
    BOOST_TEST(coding::get_i64(b) == v);
    std::string cur(reinterpret_cast<const char*>(b), 8);
    if (!prev.empty()) BOOST_TEST(prev.compare(cur) < 0);  // memcmp order, as LMDB's
    prev = cur;
  }
  std::uint8_t b[8];
  coding::put_le64(b, 0x0102030405060708u);
  BOOST_TEST(b[0] == 0x08);
  BOOST_TEST(coding::get_le64(b) == 0x0102030405060708u);
  coding::put_i32(b, -1);
  BOOST_TEST(coding::get_i32(b) == -1);
  BOOST_TEST(b[0] == 0x7f);
}

// skip_past in a dupsort table skips every value of the key; a backward dups walk `from` a
// value starts at the last value <= it (the last value when it is beyond them all).
BOOST_AUTO_TEST_CASE(dupsort_skip_past_and_backward_from) {
  Store s;
  {
    auto txn = s.begin(true);
    for (const char* v : {"10", "20", "30"}) put(txn, s.dups, "k", v);
    for (const char* v : {"11", "12"}) put(txn, s.dups, "m", v);
    put(txn, s.dups, "n", "13");
    must(txn.commit("commit"));
  }
  auto txn = s.begin(false);
  Walker w(txn, s.dups, "dups");
  {
    Seen seen;  // skip_past the visited key: one entry per key
    must(w.all([&](storage::Bytes k, storage::Bytes v) {
      seen.entries.push_back(std::string(as_view(k)) + "=" + std::string(as_view(v)));
      return Next::skip_past(std::string(as_view(k)));
    }));
    BOOST_TEST(seen.entries == (Strings{"k=10", "m=11", "n=13"}), boost::test_tools::per_element());
  }
  auto backward = [&](const char* key, const char* from) {
    Seen seen;
    must(w.dups(as_bytes(key), Walker::Order::kBackward, seen.visit(), as_bytes(from)));
    return seen.entries;
  };
  BOOST_TEST(backward("k", "99") == (Strings{"k=30", "k=20", "k=10"}), boost::test_tools::per_element());
  BOOST_TEST(backward("k", "25") == (Strings{"k=20", "k=10"}), boost::test_tools::per_element());
  BOOST_TEST(backward("k", "20") == (Strings{"k=20", "k=10"}), boost::test_tools::per_element());
  BOOST_TEST(backward("k", "05").empty());
  BOOST_TEST(backward("l", "99").empty());  // an absent key, from beyond every value
  BOOST_TEST(backward("m", "99") == (Strings{"m=12", "m=11"}), boost::test_tools::per_element());
}

// A callback may end the walk's transaction (a commit, an abort, the transaction destroyed):
// the walk stops with kFailedPrecondition and never touches its cursor again (LMDB freed a
// write transaction's cursors with it; the sanitizer build sees any use or double free).
BOOST_AUTO_TEST_CASE(a_callback_that_ends_the_transaction_stops_the_walk) {
  Store s;
  {
    auto txn = s.begin(true);
    for (const char* k : {"a", "b", "c"}) put(txn, s.plain, k, k);
    for (const char* v : {"1", "2", "3"}) put(txn, s.dups, "k", v);
    for (const char* k : {"l", "m"}) put(txn, s.dups, k, "1");
    must(txn.commit("commit"));
  }
  for (bool write : {true, false}) {
    for (int how = 0; how < 5; ++how) {
      auto txn = std::make_unique<storage::Txn>(s.begin(write));
      int visits = 0;
      auto end = [&] {
        ++visits;
        if (write && visits == 2) (void)txn->commit("commit");
        else if (visits == 2) txn.reset();  // destroyed: aborts
        return Next::go_on();
      };
      Walker w(*txn, how >= 3 ? s.dups : s.plain, "walk");
      Status r;
      switch (how) {
        case 0: r = w.all([&](storage::Bytes, storage::Bytes) { return end(); }); break;
        case 1: r = w.from(as_bytes("a"), [&](storage::Bytes, storage::Bytes) { return end(); }); break;
        case 2: r = w.all_verified([&](storage::Bytes, storage::Bytes) { return end(); }); break;
        case 3: r = w.dups(as_bytes("k"), Walker::Order::kForward,
                           [&](storage::Bytes, storage::Bytes) { return end(); }); break;
        case 4: r = w.keys([&](storage::Bytes, std::size_t) { end(); return true; }); break;
      }
      BOOST_TEST(visits == 2, "walk " << how);
      BOOST_TEST_REQUIRE(!r.has_value(), "walk " << how);
      BOOST_TEST(r.error().code() == ErrorCode::kFailedPrecondition, r.error().to_string());
    }
    // A point reader whose transaction ended answers kFailedPrecondition.
    auto txn = std::make_unique<storage::Txn>(s.begin(write));
    storage::PointReader reader(*txn, s.plain);
    BOOST_TEST(must(reader.get(as_bytes("a"))).has_value());
    if (write) txn->abort();
    else txn.reset();
    auto after = reader.get(as_bytes("b"));
    BOOST_TEST_REQUIRE(!after.has_value());
    BOOST_TEST(after.error().code() == ErrorCode::kFailedPrecondition);
  }
}

BOOST_AUTO_TEST_SUITE_END()
