// Erasure attacked (issue #16 point 2, breaker B1): after erase_customer and its scrub, no byte
// of the customer's personal data in data.mdb (free pages included) or lock.mdb, in both modes,
// under the conditions a hostile user or a busy deployment produces: customers updated many
// times, records in overflow pages, keys that are branch separators, readers of other
// processes, explicit transactions, damaged files, upgraded fixtures, concurrent writers,
// SIGKILL. Each finding of the review has its regression test here (named in its comment).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

#include "codec/record_codec.h"
#include "erasure_scan.h"
#include "engine/db_impl.h"
#include "index/index_keys.h"
#include "index/segments.h"
#include "custdb/query.h"
#include "program.h"
#include "segment/segment_index.h"
#include "storage/page_check.h"
#include "storage/scrub.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb {
namespace {

using namespace test;
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Which of `values` occur in any file of the database directory (data.mdb, lock.mdb, ...).
std::vector<std::string> found_in_dir(const fs::path& dir, const std::vector<std::string>& values) {
  std::set<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = slurp(e.path());
    for (const auto& v : values)
      if (bytes.find(v) != std::string::npos) found.insert(v);
  }
  return {found.begin(), found.end()};
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    s += s.empty() ? "" : ", ";
    for (char c : x) s += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c));
  }
  return s;
}

// The plaintext values of a customer that must not survive its erasure (keep-ledger: all of
// them are personal fields).
std::vector<std::string> personal_values(const Customer& c) {
  std::vector<std::string> v;
  if (!c.name.empty()) v.push_back(c.name);
  if (c.email) v.push_back(*c.email);
  if (c.phone) v.push_back(*c.phone);
  if (!c.external_ref.empty()) v.push_back(c.external_ref);
  if (!c.address.city.empty()) v.push_back(c.address.city);
  if (!c.address.region.empty()) v.push_back(c.address.region);
  return v;
}

// The keys a key holder can compute from guessed values (tokens in encrypted mode, the values
// themselves in plaintext): the customer's index keys and its text postings' keys.
std::vector<std::string> derived_keys(Database& db, const Customer& c) {
  auto& d = Database::Impl::of(db);
  std::vector<index::IndexEntry> entries;
  d.keys().customer_entries(c, entries);
  std::vector<std::string> out;
  for (const auto& e : entries)
    if (e.index != index::IndexId::kRelByCustomer && e.index != index::IndexId::kTxnByCustomer &&
        e.key.size() >= 8)
      out.push_back(e.key);
  for (const auto& p : index::customer_postings(c, d.seg_keys().text_fold()))
    if (p.field == index::SegField::kCity || p.field == index::SegField::kRegion)
      out.push_back(d.seg_keys().posting_key(p));
  return out;
}

// ---- an independent look at the file ------------------------------------------------------

std::uint16_t rd16(const std::string& f, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, f.data() + at, 2);
  return v;
}
std::uint64_t rd64(const std::string& f, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, f.data() + at, 8);
  return v;
}

struct FileLook {
  std::size_t nonzero_free_pages = 0;
  std::size_t pages_with_dirty_gap = 0;
  std::size_t free_pages = 0;
  std::size_t unaccounted_nonzero = 0;  // pages in no snapshot and not free, not zero
};

// page_check's walk of the newest snapshot and of the previous one (its meta chosen by
// breaking the newest in a copy): free pages outside both must be zero, branch/leaf gaps of
// both must be zero, and a page neither reaches nor lists as free must be zero too.
FileLook look_at(const fs::path& data_mdb) {
  const std::string f = slurp(data_mdb);
  std::vector<std::uint8_t> use_new, use_old;
  storage::PageCheckOptions o;
  o.page_use = &use_new;
  auto r = storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(f.data()), f.size()), o);
  BOOST_TEST_REQUIRE(r.clean(), r.summary());
  const std::size_t ps = r.page_size;
  std::string older = f;
  const std::size_t txn_at = 16 + 24 + 2 * 48 + 8;
  const bool newer1 = rd64(f, txn_at) < rd64(f, ps + txn_at);
  std::memset(older.data() + (newer1 ? ps : 0) + txn_at, 0, 8);
  storage::PageCheckOptions o2;
  o2.page_use = &use_old;
  o2.max_problems = 1'000'000;
  (void)storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(older.data()), older.size()), o2);
  FileLook look;
  for (std::size_t p = 2; (p + 1) * ps <= f.size(); ++p) {
    const bool in_new = p < use_new.size() && use_new[p] == 1;
    const bool is_free = p < use_new.size() && use_new[p] == 2;
    const bool in_old = p < use_old.size() && use_old[p] == 1;
    const char* page = f.data() + p * ps;
    const bool zero = std::all_of(page, page + ps, [](char c) { return c == 0; });
    if (is_free) {
      ++look.free_pages;
      if (!in_old && !zero) ++look.nonzero_free_pages;
    }
    if (!in_new && !is_free && !in_old && !zero) ++look.unaccounted_nonzero;
    if (in_new || in_old) {
      const std::uint16_t flags = rd16(f, p * ps + 10) & 0x3f;
      if (flags != 0x01 && flags != 0x02) continue;
      const std::size_t lower = rd16(f, p * ps + 12), upper = rd16(f, p * ps + 14);
      if (lower > upper || upper > ps) continue;
      if (std::any_of(page + lower, page + upper, [](char c) { return c != 0; }))
        ++look.pages_with_dirty_gap;
    }
  }
  return look;
}


// The separators (branch keys after each branch page's first) of named DB `name` in the
// newest snapshot of a plain LMDB file: which keys sit at page boundaries.
std::vector<std::string> branch_keys(const fs::path& data_mdb, const std::string& name) {
  const std::string f = slurp(data_mdb);
  const std::size_t ps = 4096;
  const std::size_t txn_at = 16 + 24 + 2 * 48 + 8;
  const std::size_t meta = rd64(f, txn_at) < rd64(f, ps + txn_at) ? ps : 0;
  const std::size_t main_db = meta + 16 + 24 + 48;
  std::vector<std::string> out;
  // walk(pgno, depth, level, on_leaf_node)
  std::function<void(std::uint64_t, int, int, const std::function<void(const char*, std::size_t)>&)> walk =
      [&](std::uint64_t pg, int level, int depth, const std::function<void(const char*, std::size_t)>& leaf) {
        const std::size_t at = pg * ps;
        const std::size_t lower = rd16(f, at + 12);
        const std::size_t n = (lower - 16) / 2;
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t off = at + rd16(f, at + 16 + 2 * i);
          const std::size_t ksize = rd16(f, off + 6);
          if (level < depth) {
            const std::uint64_t child = rd16(f, off) | std::uint64_t{rd16(f, off + 2)} << 16 |
                                        std::uint64_t{rd16(f, off + 4)} << 32;
            if (i > 0) out.emplace_back(f.data() + off + 8, ksize);
            walk(child, level + 1, depth, leaf);
          } else {
            leaf(f.data() + off, ksize);
          }
        }
      };
  std::uint64_t root = ~std::uint64_t{0};
  int depth = 0;
  std::vector<std::string> ignore;
  auto saved = std::move(out);
  walk(rd64(f, main_db + 40), 1, rd16(f, main_db + 6), [&](const char* node, std::size_t ksize) {
    if (std::string_view(node + 8, ksize) == name) {
      root = rd64(f, static_cast<std::size_t>(node + 8 + ksize + 40 - f.data()));
      depth = rd16(f, static_cast<std::size_t>(node + 8 + ksize + 6 - f.data()));
    }
  });
  out.clear();
  if (root != ~std::uint64_t{0}) walk(root, 1, depth, [](const char*, std::size_t) {});
  return out;
}

// The whole attack after an erasure: plaintext values anywhere in the directory's files (both
// modes: encrypted mode must never have them in the clear), values in any live value opened
// with the key, keys derivable from the values (tokens) anywhere in the files, and the file's
// free pages and gaps zero.
void require_gone(Database& db, const fs::path& dir, const std::vector<std::string>& values,
                  const std::vector<std::string>& keys, const char* when) {
  auto a = found_in_dir(dir, values);
  BOOST_TEST(a.empty(), when << ": in the files: " << joined(a));
  // Every live value opened with every key the database holds (personal blobs included).
  auto b = erasure_scan::found_in_live_values(db, values);
  BOOST_TEST(b.empty(), when << ": in live values: " << joined(b));
  auto c = found_in_dir(dir, keys);
  BOOST_TEST(c.empty(), when << ": " << c.size() << " derived keys in the files");
  FileLook look = look_at(dir / "data.mdb");
  BOOST_TEST(look.nonzero_free_pages == 0u, when);
  BOOST_TEST(look.pages_with_dirty_gap == 0u, when);
  BOOST_TEST(look.unaccounted_nonzero == 0u, when);
}

Customer marked(const std::string& tag, int i) {
  Customer c = sample_customer(i);
  // Every value ends in a non-digit, so none is a substring of another customer's.
  c.name = "Zq" + tag + "Name" + std::to_string(i) + "Q";
  c.email = "zq" + tag + std::to_string(i) + "@mark.example";
  c.phone = "+4930" + std::to_string(5550000 + i);
  c.external_ref = "ZQREF-" + tag + "-" + std::to_string(i) + "Q";
  c.address.city = "Zqcity" + tag + std::to_string(i) + "Q";
  c.address.region = "Zqregion" + tag + std::to_string(i) + "Q";
  return c;
}

BOOST_AUTO_TEST_SUITE(erasure_attack)

// Updated many times before the erasure: every old version went to a free page at some
// commit, some reused, some not; none may survive.
BOOST_DATA_TEST_CASE(updated_many_times_then_erased, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::vector<Customer> others;
  for (int i = 0; i < 300; ++i) others.push_back(sample_customer(i));
  auto ids = must(db.insert_customers(others));
  const CustomerId victim = must(db.insert_customer(marked("v", 0)));
  std::vector<std::string> values, keys;
  for (int v = 1; v <= 40; ++v) {
    Customer now = marked("v", v);
    values.push_back(now.name);
    values.push_back(*now.email);
    values.push_back(now.external_ref);
    values.push_back(now.address.city);
    now.id = victim;
    for (auto& k : derived_keys(db, now)) keys.push_back(k);
    must(db.write([&](WriteTxn& w) -> Status {
      auto u = w.update_customer(victim, [&](Customer& c) {
        c.name = now.name;
        c.email = now.email;
        c.phone = now.phone;
        c.external_ref = now.external_ref;
        c.address = now.address;
      });
      if (!u) return tl::unexpected(u.error());
      auto t = sample_txn(victim, 100 + v, "2024-03-01T10:00:00Z");
      t.description = "zqmemo of version " + std::to_string(v);
      if (auto x = w.add_transaction(t); !x) return tl::unexpected(x.error());
      // Others change too, so the victim's pages move around.
      return w.update_customer(ids[static_cast<std::size_t>(v) * 7], [&](Customer& c) {
               c.name += "+";
             }).transform([](bool) {});
    }));
  }
  for (int v = 1; v <= 40; ++v) values.push_back("zqmemo of version " + std::to_string(v));
  if (mode == Mode::kPlain) BOOST_TEST_REQUIRE(!found_in_dir(dir.path(), values).empty());
  ErasureReport r = must(db.erase_customer(victim, EraseMode::kFull));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.scrub.complete);
  require_gone(db, dir.path(), values, keys, "full");
  require_clean(db);
}

// Records and values long enough for overflow pages (names, cities, regions, refs at their
// limits, 64 long tags), and long memos: the overflow runs freed by the erasure, and the
// tails of the runs that stay.
BOOST_DATA_TEST_CASE(overflow_records_and_long_memos, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  auto big = [](const std::string& tag, int i) {
    Customer c = marked(tag, i);
    c.name += std::string(200 - c.name.size(), 'n');
    c.address.city += std::string(200 - c.address.city.size(), 'c');
    c.address.region += std::string(200 - c.address.region.size(), 'r');
    c.external_ref += std::string(200 - c.external_ref.size(), 'x');
    c.tags.clear();
    for (int t = 0; t < 64; ++t) c.tags.push_back("tag" + std::to_string(t) + std::string(40, 't'));
    return c;
  };
  std::vector<Customer> rows;
  for (int i = 0; i < 40; ++i) rows.push_back(big("o", i));
  auto ids = must(db.insert_customers(rows));
  std::vector<std::string> values_full, values_keep, keys_full, keys_keep;
  must(db.write([&](WriteTxn& w) -> Status {
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (int k = 0; k < 3; ++k) {
        auto t = sample_txn(ids[i], 100 + k, "2024-03-01T10:00:00Z");
        std::string memo = "zqlongmemo-" + std::to_string(i) + "-" + std::to_string(k) + "-";
        memo += std::string(1000 - memo.size(), 'm');
        t.description = memo;
        if (auto x = w.add_transaction(t); !x) return tl::unexpected(x.error());
      }
    return {};
  }));
  std::vector<CustomerId> full, keep;
  for (std::size_t i = 0; i < ids.size(); i += 3) {
    Customer c = rows[i];
    c.id = ids[i];
    auto& vals = i % 2 ? values_keep : values_full;
    auto& keys = i % 2 ? keys_keep : keys_full;
    for (auto& v : personal_values(c)) vals.push_back(v);
    for (int k = 0; k < 3; ++k)
      vals.push_back("zqlongmemo-" + std::to_string(i) + "-" + std::to_string(k) + "-");
    for (auto& k : derived_keys(db, c)) keys.push_back(k);
    (i % 2 ? keep : full).push_back(ids[i]);
  }
  if (mode == Mode::kPlain) BOOST_TEST_REQUIRE(found_in_dir(dir.path(), values_full).size() == values_full.size());
  ErasureReport r = must(db.erase_customers(full, EraseMode::kFull));
  BOOST_TEST(r.erased == full.size());
  ErasureReport r2 = must(db.erase_customers(keep, EraseMode::kKeepLedger));
  BOOST_TEST(r2.erased == keep.size());
  BOOST_TEST(r2.scrub.complete);
  std::vector<std::string> all = values_full, keys = keys_full;
  all.insert(all.end(), values_keep.begin(), values_keep.end());
  keys.insert(keys.end(), keys_keep.begin(), keys_keep.end());
  require_gone(db, dir.path(), all, keys, "overflow");
  // The survivors read back whole.
  auto txn = must(db.begin_read());
  auto c1 = must(txn.get_customer(ids[1]));
  BOOST_TEST_REQUIRE(c1.has_value());
  BOOST_TEST(c1->name == rows[1].name);
  BOOST_TEST(c1->tags.size() == 64u);
  require_clean(db);
}


// Keep-ledger: the personal fields leave every index a query can reach (postings, slices,
// lookups), not only the record: nothing finds the customer by its old city, region,
// birth date, gender, email, phone or ref.
BOOST_DATA_TEST_CASE(keep_ledger_leaves_no_query_path, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::vector<Customer> rows;
  for (int i = 0; i < 50; ++i) rows.push_back(sample_customer(i));
  Customer v = marked("k", 1);
  v.birth_date = parse_date("1901-02-03").value();  // the extreme: the extent's low end
  v.gender = Gender::kFemale;
  v.tags = {"zqonlytag"};
  rows.push_back(v);
  auto ids = must(db.insert_customers(rows));
  const CustomerId victim = ids.back();
  auto count = [&](const std::string& q) {
    auto txn = must(db.begin_read());
    auto ids2 = must(txn.ids(must(query::parse(q))));
    return std::count(ids2.begin(), ids2.end(), victim);
  };
  const std::vector<std::string> queries = {
      "city = " + v.address.city, "region = " + v.address.region, "birth_date = 1901-02-03",
      "birth_date < 1950-01-01", "gender = female", "age > 100"};
  for (const auto& q : queries) BOOST_TEST_REQUIRE(count(q) == 1, q);
  must(db.erase_customer(victim, EraseMode::kKeepLedger));
  for (const auto& q : queries) BOOST_TEST(count(q) == 0, q);
  BOOST_TEST(count("tag = zqonlytag") == 1);  // tags stay (docs/security.md)
  auto txn = must(db.begin_read());
  BOOST_TEST(must(txn.find_by_email(*v.email)).empty());
  BOOST_TEST(must(txn.find_by_phone(*v.phone)).empty());
  BOOST_TEST(!must(txn.find_by_external_ref(v.external_ref)).has_value());
  v.id = victim;
  require_gone(db, dir.path(), personal_values(v), derived_keys(db, v), "keep-ledger");
  require_clean(db);
}

// A damaged file: the scrub refuses with a clear error, never crashes, and writes nothing
// where its walk found the damage.
BOOST_AUTO_TEST_CASE(damaged_file_is_refused) {
  TempDir dir;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 200; ++i) rows.push_back(sample_customer(i));
    must(db.insert_customers(rows));
    must(db.erase_customer(3, EraseMode::kFull));
  }
  const fs::path file = dir.path() / "data.mdb";
  const std::string good = slurp(file);
  const std::size_t ps = 4096;
  const std::size_t txn_at = 16 + 24 + 2 * 48 + 8, last_at = txn_at - 8;
  const bool newer1 = rd64(good, txn_at) < rd64(good, ps + txn_at);
  struct Case {
    const char* what;
    std::function<void(std::string&)> damage;
  };
  const std::vector<Case> cases = {
      {"older meta's last page huge",
       [&](std::string& f) {
         const std::uint64_t huge = std::uint64_t{1} << 60;
         std::memcpy(f.data() + (newer1 ? 0 : ps) + last_at, &huge, 8);
       }},
      {"newest meta's last page huge",
       [&](std::string& f) {
         const std::uint64_t huge = std::uint64_t{1} << 60;
         std::memcpy(f.data() + (newer1 ? ps : 0) + last_at, &huge, 8);
       }},
      {"truncated to half", [&](std::string& f) { f.resize(f.size() / 2 / ps * ps); }},
      {"truncated mid-page", [&](std::string& f) { f.resize(f.size() - 100); }},
      {"truncated to one page", [&](std::string& f) { f.resize(ps); }},
      {"a page of garbage",
       [&](std::string& f) {
         std::mt19937 rng(1);
         for (std::size_t i = 3 * ps; i < 4 * ps && i < f.size(); ++i) f[i] = static_cast<char>(rng());
       }},
  };
  for (const auto& c : cases) {
    std::string f = good;
    c.damage(f);
    write_bytes(file, f);
    storage::ScrubFileOptions o;
    auto r = storage::scrub_file(file, o);
    // A clear error, the file as it was; never a crash (std::bad_alloc from a meta's
    // last_pgno), never a tail zeroed from a wrapped offset.
    BOOST_TEST(!r.has_value(), c.what);
    if (!r) {
      BOOST_TEST_MESSAGE(c.what << ": " << r.error().to_string());
      BOOST_TEST(r.error().code() == ErrorCode::kCorruption, c.what);
    }
    BOOST_TEST((slurp(file) == f), c.what << ": the scrub changed the damaged file");
  }
  // Through an open database: damage after the open.
  write_bytes(file, good);
  auto db = open_db(Mode::kPlain, dir.path());
  std::string f = good;
  const std::uint64_t huge = std::uint64_t{1} << 60;
  std::memcpy(f.data() + (newer1 ? 0 : ps) + last_at, &huge, 8);
  write_bytes(file, f);
  // The ageing commit writes that meta page anew: the scrub then completes.
  auto s = db.scrub();
  BOOST_TEST_REQUIRE(s.has_value(), s.error().to_string());
  BOOST_TEST(s->complete);
  BOOST_TEST(must(db.begin_read()).get_customer(4).value().has_value());
  require_clean(db);
}

// Keys chosen so the erased customers' email, phone, ref and city are exactly the branch
// separators of their indexes (found by walking the file): the keys LMDB copied into branch
// pages, which a delete leaves behind. Full and keep-ledger, both modes (tokens there).
BOOST_DATA_TEST_CASE(separators_at_page_boundaries, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::vector<Customer> rows;
  for (int i = 0; i < 3000; ++i) rows.push_back(marked("s", i));
  auto ids = must(db.insert_customers(rows));
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i].id = ids[i];
  const fs::path file = dir.path() / "data.mdb";
  std::set<std::string> seps;
  for (const char* t : {"idx.email", "idx.phone", "idx.external_ref", "idx.segments"})
    for (auto& k : branch_keys(file, t)) seps.insert(k);
  BOOST_TEST_REQUIRE(seps.size() > 20u);
  std::vector<CustomerId> full, keep;
  std::vector<std::string> values, keys;
  for (const auto& c : rows) {
    auto derived = derived_keys(db, c);
    bool at_boundary = false;
    for (const auto& k : derived)
      for (const auto& sep : seps)
        if (sep.find(k) != std::string::npos) at_boundary = true;
    if (!at_boundary) continue;
    (c.id % 2 ? full : keep).push_back(c.id);
    for (auto& v : personal_values(c)) values.push_back(v);
    for (auto& k : derived) keys.push_back(k);
  }
  BOOST_TEST_MESSAGE(mode << ": " << full.size() + keep.size() << " customers at page boundaries");
  BOOST_TEST_REQUIRE(full.size() + keep.size() >= 10u);
  ErasureReport r = must(db.erase_customers(full, EraseMode::kFull));
  BOOST_TEST(r.erased == full.size());
  ErasureReport r2 = must(db.erase_customers(keep, EraseMode::kKeepLedger));
  BOOST_TEST(r2.erased == keep.size());
  BOOST_TEST(r2.scrub.complete);
  require_gone(db, dir.path(), values, keys, "separators");
  auto txn = must(db.begin_read());
  for (const auto& c : rows) {
    if (std::find(full.begin(), full.end(), c.id) != full.end() ||
        std::find(keep.begin(), keep.end(), c.id) != keep.end())
      continue;
    if (c.id % 97 != 0) continue;
    BOOST_TEST(must(txn.find_by_email(*c.email)).size() == 1u);
  }
  require_clean(db);
}

// A reader of another process (its slot in lock.mdb) that began before the erasure: the scrub
// keeps what it can read and says so; once it ends (or is killed holding its snapshot), the
// next scrub completes and the scan finds nothing.
BOOST_DATA_TEST_CASE(reader_of_another_process, boost::unit_test::data::make({0, 1}), killed) {
  TempDir dir;
  Customer v = marked("r", 1);
  {
    auto db = open_db(Mode::kPlain, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 100; ++i) rows.push_back(sample_customer(i));
    rows.push_back(v);
    v.id = must(db.insert_customers(rows)).back();
  }
  int up[2], down[2];
  BOOST_TEST_REQUIRE(pipe(up) == 0);
  BOOST_TEST_REQUIRE(pipe(down) == 0);
  const pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    auto db = Database::open(dir.path(), options_for(Mode::kPlain));
    if (!db) _exit(2);
    auto txn = db->begin_read();
    if (!txn) _exit(3);
    auto c = txn->get_customer(v.id);
    char ok = c && *c && (*c)->name == v.name ? 'y' : 'n';
    if (write(up[1], &ok, 1) != 1) _exit(4);
    char go;
    if (read(down[0], &go, 1) != 1) _exit(5);
    // Its snapshot still reads whole after the erasure and the scrub.
    auto again = txn->get_customer(v.id);
    _exit(again && *again && (*again)->email == v.email ? 0 : 6);
  }
  close(up[1]);
  close(down[0]);
  char ok = 0;
  BOOST_TEST_REQUIRE(read(up[0], &ok, 1) == 1);
  BOOST_TEST_REQUIRE(ok == 'y');
  auto db = open_db(Mode::kPlain, dir.path());
  ErasureReport r = must(db.erase_customer(v.id, EraseMode::kFull));
  BOOST_TEST(!r.scrub.complete);
  BOOST_TEST(r.scrub.free_pages_pinned > 0u);
  BOOST_TEST(!found_in_dir(dir.path(), personal_values(v)).empty());
  int status = 0;
  if (killed) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else {
    char go = 'g';
    BOOST_TEST_REQUIRE(write(down[1], &go, 1) == 1);
    waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0, "the reader's snapshot changed under it");
  }
  close(up[0]);
  close(down[1]);
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  BOOST_TEST(s.free_pages_pinned == 0u);
  require_gone(db, dir.path(), personal_values(v), derived_keys(db, v), "after the reader");
  require_clean(db);
}

// In an explicit transaction: aborted, nothing is erased (and nothing journaled); committed
// without a scrub, the bytes stay until one runs, however many writes come between; the scrub
// then removes them.
BOOST_DATA_TEST_CASE(explicit_txn_abort_and_commit_without_scrub, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  std::vector<Customer> rows;
  for (int i = 0; i < 200; ++i) rows.push_back(sample_customer(i));
  Customer v = marked("t", 1);
  rows.push_back(v);
  v.id = must(db.insert_customers(rows)).back();
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.erase_customer(v.id, EraseMode::kFull)));
    BOOST_TEST(!must(w.erase_customer(v.id, EraseMode::kFull)));  // gone in this txn
    w.abort();
  }
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.get_customer(v.id)).has_value());
    BOOST_TEST(must(txn.erasure_journal()).empty());
  }
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.erase_customer(v.id, EraseMode::kKeepLedger)));
    BOOST_TEST(must(w.erase_customer(v.id, EraseMode::kFull)));  // then the rest, same txn
    must(w.commit());
  }
  for (int k = 0; k < 30; ++k) must(db.insert_customer(sample_customer(1000 + k)));
  if (mode == Mode::kPlain) BOOST_TEST(!found_in_dir(dir.path(), personal_values(v)).empty());
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  require_gone(db, dir.path(), personal_values(v), derived_keys(db, v), "after the scrub");
  auto txn = must(db.begin_read());
  auto j = must(txn.erasure_journal());
  BOOST_TEST_REQUIRE(j.size() == 2u);
  BOOST_TEST(j[0].mode == EraseMode::kKeepLedger);
  BOOST_TEST(j[1].mode == EraseMode::kFull);
  require_clean(db);
}

// A batch with duplicates, unknown ids and id 0; a read-only handle refuses both calls.
BOOST_AUTO_TEST_CASE(batch_duplicates_unknown_and_read_only) {
  TempDir dir;
  Customer v = marked("d", 1);
  {
    auto db = open_db(Mode::kPlain, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 20; ++i) rows.push_back(sample_customer(i));
    rows.push_back(v);
    v.id = must(db.insert_customers(rows)).back();
  }
  {
    Options o;
    o.read_only = true;
    auto ro = open_db(Mode::kPlain, dir.path(), o);
    auto e = ro.erase_customer(v.id, EraseMode::kFull);
    BOOST_TEST_REQUIRE(!e.has_value());
    BOOST_TEST(e.error().code() == ErrorCode::kReadOnly);
    auto s = ro.scrub();
    BOOST_TEST_REQUIRE(!s.has_value());
    BOOST_TEST(s.error().code() == ErrorCode::kReadOnly);
    BOOST_TEST(must(ro.get_customer(v.id)).has_value());
  }
  auto db = open_db(Mode::kPlain, dir.path());
  const std::vector<CustomerId> ids = {v.id, v.id, 0, 999999, v.id, ~CustomerId{0}};
  ErasureReport r = must(db.erase_customers(ids, EraseMode::kFull));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.not_found == 5u);
  BOOST_TEST(r.scrub.complete);
  BOOST_TEST(must(must(db.begin_read()).erasure_journal()).size() == 1u);
  require_gone(db, dir.path(), personal_values(v), derived_keys(db, v), "batch");
  // An empty batch still scrubs.
  ErasureReport none = must(db.erase_customers({}, EraseMode::kFull));
  BOOST_TEST(none.erased == 0u);
  BOOST_TEST(none.scrub.complete);
  require_clean(db);
}

// The CLI refuses bad arguments with a usage error (exit 2) and erases nothing. Finding: ids
// went through CLI11's integer conversion, so `custdb erase 010` erased customer 8 (octal),
// `erase 0x0a` customer 10, `erase " 5"` and `erase +6` customers 5 and 6: a zero-padded id
// from a spreadsheet erased another customer, irreversibly. Ids are now decimal digits only.
BOOST_AUTO_TEST_CASE(cli_bad_arguments) {
  TempDir dir;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 5; ++i) rows.push_back(sample_customer(i));
    must(db.insert_customers(rows));
  }
  const std::string d = dir.path().string();
  const std::vector<std::vector<std::string>> bad = {
      {"erase"}, {"erase", "abc"}, {"erase", "-1"}, {"erase", "1x"}, {"erase", ""},
      {"erase", "18446744073709551616"}, {"erase", "99999999999999999999999"},
      {"erase", "--keep-ledger"}, {"erase", "1", "--bogus"}, {"erase", "--journal", "1"},
      {"erase", "0x1"}, {"erase", " 1"}, {"erase", "+1"}, {"erase", "1", "abc"},
      {"erase", "010"}, {"erase", "0x0a"}, {"erase", "00"}, {"erase", "0"}, {"erase", "04"},
      {"erase", "2", "03"}, {"erase", "9223372036854775808"}, {"erase", "1 "},
      {"scrub", "1"}, {"scrub", "--bogus"}};
  for (const auto& args : bad) {
    std::vector<std::string> a = {"--db", d};
    a.insert(a.end(), args.begin(), args.end());
    auto r = run_cli(a);
    std::string line;
    for (const auto& x : args) line += "'" + x + "' ";
    BOOST_TEST(r.code == 2, line << r.describe());
  }
  {
    auto db = open_db(Mode::kPlain, dir.path());
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.erasure_journal()).empty());
    BOOST_TEST(must(txn.counts()).customers == 5u);
  }
  // Plain decimal still works.
  auto r = run_cli({"--db", d, "erase", "3", "9223372036854775807"});
  BOOST_TEST(r.code == 0, r.describe());
  BOOST_TEST(contains(r.out, "erased 1 customer (full); 1 id had nothing to erase"), r.out);
}

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// An older file (format 1, 2, 3 fixtures), upgraded by the open, then an erasure: the
// upgrade's own commits left the old forms of every record and key in free pages; none of the
// victim's may survive, in any form the file ever held (as typed, folded, normalized).
BOOST_DATA_TEST_CASE(erase_in_upgraded_fixtures,
                     boost::unit_test::data::make({1, 2, 3}) * kModes, format, mode) {
  TempDir dir;
  const std::string which = "v" + std::to_string(format) + "_db";
  fs::copy_file(fs::path(CUSTDB_FIXTURE_DIR) / which /
                    (mode == Mode::kPlain ? "plaintext" : "encrypted") / "data.mdb",
                dir.path() / "data.mdb");
  Options o;
  if (mode == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  auto db = must(Database::open(dir.path(), o));
  const CustomerId victim = format == 1 ? 7 : format == 2 ? 9004 : 9001;
  std::vector<Customer> all;
  {
    auto txn = must(db.begin_read());
    for (CustomerId id = 1; id < 10000; ++id)
      if (auto c = must(txn.get_customer(id))) all.push_back(*c);
  }
  auto it = std::find_if(all.begin(), all.end(), [&](const Customer& c) { return c.id == victim; });
  BOOST_TEST_REQUIRE((it != all.end()));
  const Customer v = *it;
  std::vector<std::string> candidates = personal_values(v);
  for (auto x : personal_values(v)) candidates.push_back(lower_ascii(x));
  if (format == 2)
    for (const char* x : {"ana@example.com", "+491701234567", "São Paulo", "SÃO PAULO", "são paulo"})
      candidates.push_back(x);
  if (format == 3) candidates.push_back("card ending 4242");
  std::vector<std::string> values;
  for (const auto& x : candidates) {
    if (x.size() < 6) continue;
    bool shared = false;
    for (const auto& c : all)
      if (c.id != victim)
        for (const auto& y : personal_values(c))
          if (y.find(x) != std::string::npos || lower_ascii(y).find(x) != std::string::npos) shared = true;
    if (!shared) values.push_back(x);
  }
  BOOST_TEST_MESSAGE(which << " " << mode << ": scanning for " << joined(values));
  BOOST_TEST_REQUIRE(values.size() >= 3u);
  if (mode == Mode::kPlain) BOOST_TEST_REQUIRE(!found_in_dir(dir.path(), values).empty());
  std::set<std::string> others_keys;
  for (const auto& c : all)
    if (c.id != victim)
      for (auto& k : derived_keys(db, c)) others_keys.insert(k);
  std::vector<std::string> keys;
  for (auto& k : derived_keys(db, v))
    if (!others_keys.count(k)) keys.push_back(k);
  BOOST_TEST_REQUIRE(keys.size() >= 2u);
  ErasureReport r = must(db.erase_customer(victim, EraseMode::kFull));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.scrub.complete);
  require_gone(db, dir.path(), values, keys, which.c_str());
  require_clean(db);
}

// Writers in other threads and another process, and readers checking what they read, while
// erasures and scrubs run: the scrub takes the write lock, so no page it zeroes is handed out
// meanwhile; nothing a writer committed is lost, nothing a reader reads changes under it.
BOOST_AUTO_TEST_CASE(concurrent_writers_and_readers_during_scrub) {
  TempDir dir;
  std::vector<Customer> victims;
  {
    auto db = open_db(Mode::kPlain, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 300; ++i) rows.push_back(sample_customer(i));
    for (int i = 0; i < 40; ++i) rows.push_back(marked("c", i));
    auto ids = must(db.insert_customers(rows));
    for (int i = 0; i < 40; ++i) {
      victims.push_back(rows[300 + static_cast<std::size_t>(i)]);
      victims.back().id = ids[300 + static_cast<std::size_t>(i)];
    }
  }
  Options o;
  o.busy_timeout = std::chrono::milliseconds(-1);
  // Another process inserts customers named "proc N" until told to stop; reports how many.
  int stop_pipe[2], count_pipe[2];
  BOOST_TEST_REQUIRE(pipe(stop_pipe) == 0);
  BOOST_TEST_REQUIRE(pipe(count_pipe) == 0);
  const pid_t pid = fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    close(stop_pipe[1]);
    close(count_pipe[0]);
    fcntl(stop_pipe[0], F_SETFL, O_NONBLOCK);
    auto db = Database::open(dir.path(), options_for(Mode::kPlain, o));
    if (!db) _exit(2);
    std::uint64_t n = 0;
    char c;
    while (read(stop_pipe[0], &c, 1) != 1) {
      Customer x = sample_customer(5000 + static_cast<int>(n));
      x.name = "proc " + std::to_string(n);
      x.external_ref = "PROC-" + std::to_string(n);
      if (!db->insert_customer(x)) _exit(3);
      ++n;
    }
    if (write(count_pipe[1], &n, sizeof n) != sizeof n) _exit(4);
    _exit(0);
  }
  close(stop_pipe[0]);
  close(count_pipe[1]);
  auto db = open_db(Mode::kPlain, dir.path(), o);
  std::atomic<bool> stop{false};
  std::atomic<int> thread_inserts{0}, read_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int n = 0; !stop; ++n) {
        Customer x = sample_customer(7000 + n);
        x.name = "thread " + std::to_string(t) + " " + std::to_string(n);
        x.external_ref = "THR-" + std::to_string(t) + "-" + std::to_string(n);
        if (!db.insert_customer(x)) {
          ++read_errors;
          return;
        }
        ++thread_inserts;
      }
    });
  threads.emplace_back([&] {
    std::mt19937 rng(3);
    while (!stop) {
      auto txn = db.begin_read();
      if (!txn) {
        ++read_errors;
        return;
      }
      for (int k = 0; k < 50; ++k) {
        const int i = static_cast<int>(rng() % 300);
        auto c = txn->get_customer(static_cast<CustomerId>(i + 1));
        if (!c || !*c || (*c)->name != "Customer " + std::to_string(i)) ++read_errors;
      }
    }
  });
  for (const auto& v : victims) {
    auto r = db.erase_customer(v.id, EraseMode::kFull);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().to_string());
    BOOST_TEST(r->erased == 1u);
  }
  stop = true;
  for (auto& t : threads) t.join();
  char c = 's';
  BOOST_TEST_REQUIRE(write(stop_pipe[1], &c, 1) == 1);
  std::uint64_t proc_inserts = 0;
  BOOST_TEST_REQUIRE(read(count_pipe[0], &proc_inserts, sizeof proc_inserts) == sizeof proc_inserts);
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST_REQUIRE(WEXITSTATUS(status) == 0);
  close(stop_pipe[1]);
  close(count_pipe[0]);
  BOOST_TEST(read_errors == 0);
  BOOST_TEST_MESSAGE("inserted meanwhile: " << thread_inserts << " by threads, " << proc_inserts
                                            << " by the other process");
  auto counts = must(must(db.begin_read()).counts());
  BOOST_TEST(counts.customers == 300u + static_cast<std::uint64_t>(thread_inserts) + proc_inserts);
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  std::vector<std::string> values, keys;
  for (const auto& v : victims) {
    for (auto& x : personal_values(v)) values.push_back(x);
    for (auto& k : derived_keys(db, v)) keys.push_back(k);
  }
  require_gone(db, dir.path(), values, keys, "concurrent");
  BOOST_TEST_REQUIRE(storage::check_pages_file(dir.path() / "data.mdb")->clean());
  require_clean(db);
}

// SIGKILL of scrubs while a reader process holds a snapshot from before the erasures and
// checks, again and again, that every customer of it reads back exactly: the scrub never
// changes a byte that snapshot depends on, and each killed scrub leaves a valid file.
BOOST_AUTO_TEST_CASE(sigkill_scrub_beside_a_reader_process) {
  TempDir dir;
  std::vector<Customer> rows;
  for (int i = 0; i < 400; ++i) rows.push_back(marked("k", i));
  {
    auto db = open_db(Mode::kPlain, dir.path());
    auto ids = must(db.insert_customers(rows));
    for (std::size_t i = 0; i < ids.size(); ++i) rows[i].id = ids[i];
  }
  int up[2], down[2];
  BOOST_TEST_REQUIRE(pipe(up) == 0);
  BOOST_TEST_REQUIRE(pipe(down) == 0);
  const pid_t reader = fork();
  BOOST_TEST_REQUIRE(reader >= 0);
  if (reader == 0) {
    close(up[0]);
    close(down[1]);
    fcntl(down[0], F_SETFL, O_NONBLOCK);
    auto db = Database::open(dir.path(), options_for(Mode::kPlain));
    if (!db) _exit(2);
    auto txn = db->begin_read();
    if (!txn) _exit(3);
    char ok = 'y';
    if (write(up[1], &ok, 1) != 1) _exit(4);
    char c;
    int passes = 0;
    while (read(down[0], &c, 1) != 1 || passes == 0) {
      for (const auto& want : rows) {
        auto got = txn->get_customer(want.id);
        if (!got || !*got || (*got)->name != want.name || (*got)->email != want.email ||
            (*got)->address.city != want.address.city)
          _exit(10);
        auto hit = txn->find_by_email(*want.email);
        if (!hit || hit->size() != 1) _exit(11);
      }
      ++passes;
    }
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  char ok = 0;
  BOOST_TEST_REQUIRE(read(up[0], &ok, 1) == 1);
  std::vector<CustomerId> victims;
  for (std::size_t i = 0; i < rows.size(); i += 2) victims.push_back(rows[i].id);
  {
    auto db = open_db(Mode::kPlain, dir.path());
    must(db.write([&](WriteTxn& w) -> Status {
      for (CustomerId id : victims)
        if (auto e = w.erase_customer(id, EraseMode::kFull); !e) return tl::unexpected(e.error());
      return {};
    }));
  }
  std::mt19937 rng(9);
  int killed = 0;
  for (int round = 0; round < 15; ++round) {
    const pid_t pid = fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      auto db = Database::open(dir.path(), options_for(Mode::kPlain));
      if (!db) _exit(2);
      for (;;)
        if (!db->scrub()) _exit(3);
    }
    usleep(static_cast<useconds_t>(2'000 + rng() % 40'000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed;
    else BOOST_TEST_REQUIRE(false, "the scrubbing child exited " << WEXITSTATUS(status));
    BOOST_TEST_REQUIRE(storage::check_pages_file(dir.path() / "data.mdb")->clean());
  }
  BOOST_TEST(killed == 15);
  char go = 'g';
  BOOST_TEST_REQUIRE(write(down[1], &go, 1) == 1);
  int status = 0;
  waitpid(reader, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0, "the reader's snapshot changed under it (exit "
                                           << WEXITSTATUS(status) << ")");
  close(up[0]);
  close(down[1]);
  auto db = open_db(Mode::kPlain, dir.path());
  ScrubReport s = must(db.scrub());
  BOOST_TEST(s.complete);
  std::vector<std::string> values, keys;
  for (std::size_t i = 0; i < rows.size(); i += 2) {
    for (auto& x : personal_values(rows[i])) values.push_back(x);
    for (auto& k : derived_keys(db, rows[i])) keys.push_back(k);
  }
  require_gone(db, dir.path(), values, keys, "after the kills");
  require_clean(db);
}

// Finding: `custdb segment --reveal Q` recorded Q's text in the audit trail, which is
// append-only and hash-chained and so outlives an erasure: a query that singled a customer out
// by city and birth date kept both, next to the customer's id, after `custdb erase`. The CLI
// now records the values compared against personal fields as '?'.
BOOST_DATA_TEST_CASE(audit_trail_keeps_no_queried_personal_value, kModes, mode) {
  TempDir dir;
  Customer v = marked("a", 1);
  v.birth_date = parse_date("1903-04-05").value();
  {
    auto db = open_db(mode, dir.path());
    std::vector<Customer> rows;
    for (int i = 0; i < 30; ++i) rows.push_back(sample_customer(i));
    rows.push_back(v);
    v.id = must(db.insert_customers(rows)).back();
  }
  const std::string d = dir.path().string();
  std::vector<std::string> base = {"--db", d};
  if (mode == Mode::kEncrypted) {
    std::string hex;
    for (int i = 0; i < 32; ++i) hex += "07";  // test_key(7)
    write_bytes(dir.path() / "key.hex", hex + "\n");
    base.push_back("--key-file");
    base.push_back((dir.path() / "key.hex").string());
  }
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> a = base;
    a.insert(a.end(), args.begin(), args.end());
    return run_cli(a);
  };
  auto r = cli({"segment", "city = " + v.address.city + " and birth_date = 1903-04-05 and age > 100 and "
                "region in (" + v.address.region + ", x) and tier >= bronze", "--reveal"});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  BOOST_TEST_REQUIRE(contains(r.out, std::to_string(v.id)), r.out);
  r = cli({"erase", std::to_string(v.id)});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  auto db = open_db(mode, dir.path());
  const std::vector<std::string> values = {lower_ascii(v.address.city), v.address.city,
                                           lower_ascii(v.address.region), "1903-04-05"};
  auto txn = must(db.begin_read());
  auto log = must(txn.audit_log());
  bool seen = false;
  for (const auto& e : log) {
    for (const auto& x : values)
      BOOST_TEST(!contains(e.event.detail, x), "audit entry " << e.seq << ": " << e.event.detail);
    if (contains(e.event.command, "segment")) {
      seen = true;
      BOOST_TEST(contains(e.event.detail, "city = '?'"), e.event.detail);
      BOOST_TEST(contains(e.event.detail, "tier >= bronze"), e.event.detail);
    }
  }
  BOOST_TEST(seen);
  require_gone(db, dir.path(), values, derived_keys(db, v), "audit");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb
