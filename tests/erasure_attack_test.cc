// Erasure attacked (issue #16 point 2, breaker B1): after erase_customer and its scrub, no byte
// of the customer's personal data in data.mdb (free pages included) or lock.mdb, in both modes,
// under the conditions a hostile user or a busy deployment produces: customers updated many
// times, records in overflow pages, keys that are branch separators, readers of other
// processes, explicit transactions, damaged files, upgraded fixtures, concurrent writers,
// SIGKILL. Each finding of the review has its regression test here (named in its comment).
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

// Every live value of every table, opened with the database's key where sealed.
std::vector<std::string> found_in_live_values(Database& db, const std::vector<std::string>& values) {
  auto& d = Database::Impl::of(db);
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  const auto& t = d.tables();
  std::vector<std::pair<storage::Table, std::optional<codec::Table>>> tables = {
      {t.customers, codec::Table::kCustomers}, {t.relationships, codec::Table::kRelationships},
      {t.transactions, codec::Table::kTransactions}, {t.meta, codec::Table::kMeta},
      {t.segments, codec::Table::kPostings}, {t.erasures, codec::Table::kErasures},
      {t.audit, codec::Table::kAudit}, {t.consent_history, codec::Table::kConsentHistory},
      {t.rule_moves, codec::Table::kRuleMoves}};
  for (auto idx : t.index) tables.push_back({idx, std::nullopt});
  std::set<std::string> found;
  std::vector<std::uint8_t> scratch;
  for (auto [table, kind] : tables) {
    if (!table) continue;
    storage::Walker w((*st)->txn, table, "test");
    auto s = w.all([&](storage::Bytes k, storage::Bytes v) {
      std::string text(coding::as_view(k));
      text += coding::as_view(v);
      if (kind)
        if (auto p = d.codec().unwrap(*kind, k, v, scratch)) text += coding::as_view(*p);
      for (const auto& x : values)
        if (text.find(x) != std::string::npos) found.insert(x);
      return storage::Next::go_on();
    });
    BOOST_TEST_REQUIRE(s.has_value());
  }
  return {found.begin(), found.end()};
}

// The whole attack after an erasure: plaintext values anywhere in the directory's files (both
// modes: encrypted mode must never have them in the clear), values in any live value opened
// with the key, keys derivable from the values (tokens) anywhere in the files, and the file's
// free pages and gaps zero.
void require_gone(Database& db, const fs::path& dir, const std::vector<std::string>& values,
                  const std::vector<std::string>& keys, const char* when) {
  auto a = found_in_dir(dir, values);
  BOOST_TEST(a.empty(), when << ": in the files: " << joined(a));
  auto b = found_in_live_values(db, values);
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
  c.name = "Zq" + tag + "Name" + std::to_string(i);
  c.email = "zq" + tag + std::to_string(i) + "@mark.example";
  c.phone = "+4930" + std::to_string(5550000 + i);
  c.external_ref = "ZQREF-" + tag + "-" + std::to_string(i);
  c.address.city = "Zqcity" + tag + std::to_string(i);
  c.address.region = "Zqregion" + tag + std::to_string(i);
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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb
