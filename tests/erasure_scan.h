// The erasure attacks as a header, for the suites that must show an erased customer is
// unrecoverable (erasure_test, retention_test: a restored backup).
//  - look_at: the file's free pages (not reachable from the previous snapshot) and the gaps of
//    live pages must be zero;
//  - found_in_live_values: every live value of every table, opened with the database's key
//    where sealed, searched for the values.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "codec/record_codec.h"
#include "engine/db_impl.h"
#include "storage/page_check.h"
#include "util/coding.h"

namespace custdb::test::erasure_scan {

namespace fs = std::filesystem;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::uint16_t rd16(const std::string& f, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, f.data() + at, 2);
  return v;
}
inline std::uint64_t rd64(const std::string& f, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, f.data() + at, 8);
  return v;
}

struct FileLook {
  std::size_t nonzero_free_pages = 0;   // free in the newest snapshot, in no snapshot, not zero
  std::size_t pages_with_dirty_gap = 0; // branch/leaf pages of either snapshot
  std::size_t free_pages = 0;
};

// Walks the newest snapshot (page_check) and the previous one (the same walk on a copy whose
// newest meta is broken, so the older is picked): a free page of the newest snapshot that the
// previous one does not reach must be all zero; every branch or leaf page either reaches must
// have zeros between mp_lower and mp_upper.
inline FileLook look_at(const fs::path& data_mdb) {
  const std::string f = read_file(data_mdb);
  std::vector<std::uint8_t> use_new, use_old;
  storage::PageCheckOptions o;
  o.page_use = &use_new;
  auto r = storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(f.data()), f.size()), o);
  BOOST_TEST_REQUIRE(r.clean(), r.summary());
  const std::size_t ps = r.page_size;
  std::string older = f;
  const std::size_t txn_at = 16 + 24 + 2 * 48 + 8;
  const bool newer1 = rd64(f, txn_at) < rd64(f, ps + txn_at);
  std::memset(older.data() + (newer1 ? ps : 0) + txn_at, 0, 8);  // the newest meta's txnid
  storage::PageCheckOptions o2;
  o2.page_use = &use_old;
  o2.max_problems = 1'000'000;  // the older free list does not describe the newest file
  (void)storage::check_pages(std::span(reinterpret_cast<const std::uint8_t*>(older.data()), older.size()), o2);
  FileLook look;
  for (std::size_t p = 2; p < use_new.size() && (p + 1) * ps <= f.size(); ++p) {
    const bool in_old = p < use_old.size() && use_old[p] == 1;
    const char* page = f.data() + p * ps;
    if (use_new[p] == 2) {
      ++look.free_pages;
      if (!in_old && std::any_of(page, page + ps, [](char c) { return c != 0; }))
        ++look.nonzero_free_pages;
    }
    if (use_new[p] == 1 || in_old) {
      const std::uint16_t flags = rd16(f, p * ps + 10) & 0x3f;
      if (flags != 0x01 && flags != 0x02) continue;  // branch or leaf (not LEAF2, overflow)
      const std::size_t lower = rd16(f, p * ps + 12), upper = rd16(f, p * ps + 14);
      if (lower > upper || upper > ps) continue;
      if (std::any_of(page + lower, page + upper, [](char c) { return c != 0; }))
        ++look.pages_with_dirty_gap;
    }
  }
  return look;
}

// Which of `values` occur anywhere in the file (memmem of the whole data.mdb).
inline std::vector<std::string> found_in(const fs::path& file, const std::vector<std::string>& values) {
  const std::string bytes = read_file(file);
  std::vector<std::string> out;
  for (const auto& v : values)
    if (bytes.find(v) != std::string::npos) out.push_back(v);
  return out;
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Every live value of every table, opened with every key the database holds where it is
// sealed (the envelope of its table; in split files also the personal key's blobs), searched
// for `values`: what someone holding the owner's secret reads.
inline std::vector<std::string> found_in_live_values(Database& db, const std::vector<std::string>& values) {
  auto& d = Database::Impl::of(db);
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  const auto& t = d.tables();
  std::vector<std::pair<storage::Table, std::optional<codec::Table>>> tables = {
      {t.customers, codec::Table::kCustomers}, {t.relationships, codec::Table::kRelationships},
      {t.transactions, codec::Table::kTransactions}, {t.meta, codec::Table::kMeta},
      {t.segments, codec::Table::kPostings}, {t.erasures, codec::Table::kErasures},
      {t.audit, codec::Table::kAudit}, {t.consent_history, codec::Table::kConsentHistory},
      {t.rule_moves, codec::Table::kRuleMoves}, {t.holdings, codec::Table::kHoldings}};
  for (auto idx : t.index) tables.push_back({idx, std::nullopt});
  std::set<std::string> found;
  std::vector<std::uint8_t> scratch;
  std::size_t opened = 0;
  // Custom attribute values (format 5) are scanned too, in their text form.
  auto schema_r = d.schema_of(**st);
  const Schema schema = schema_r ? **schema_r : Schema{};
  auto attribute_text = [](const Attributes& attrs) {
    std::string out;
    for (const auto& [name, value] : attrs) {
      std::visit(
          [&](const auto& x) {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::string>) out += "|" + x;
            else if constexpr (std::is_same_v<X, std::vector<std::string>>)
              for (const auto& t : x) out += "|" + t;
          },
          value);
    }
    return out;
  };
  for (auto [table, kind] : tables) {
    if (!table) continue;
    storage::Walker w((*st)->txn, table, "test");
    auto s = w.all([&](storage::Bytes k, storage::Bytes v) {
      std::string text(coding::as_view(k));
      text += coding::as_view(v);
      if (kind) {
        auto p = d.codec().unwrap(*kind, k, v, scratch);
        if (p) {
          text += coding::as_view(*p);
          ++opened;
        }
        // Split files (format 4, encrypted): the personal fields sit in a blob sealed under
        // the personal key inside the record, and personal postings and meta values are
        // sealed under it whole. Open those too, with the owner's personal key.
        if (*kind == codec::Table::kCustomers) {
          if (auto c = d.codec().decode_customer(k, v, schema))
            text += c->name + "|" + c->email.value_or("") + "|" + c->phone.value_or("") + "|" +
                    c->external_ref + "|" + c->address.city + "|" + c->address.region +
                    attribute_text(c->attributes);
        } else if (*kind == codec::Table::kTransactions) {
          if (auto t = d.codec().decode_transaction(k, v, schema))
            text += t->description + attribute_text(t->attributes);
        } else if (*kind == codec::Table::kHoldings) {
          if (auto h = d.codec().decode_holding(k, v)) text += h->account_ref;  // format 6
        } else {
          for (codec::Table personal : {codec::Table::kPersonalPostings, codec::Table::kPersonalMeta})
            if (auto p2 = d.codec().unwrap_personal(personal, k, v, scratch)) {
              text += coding::as_view(*p2);
              ++opened;
            }
        }
      }
      for (const auto& x : values)
        if (text.find(x) != std::string::npos) found.insert(x);
      return storage::Next::go_on();
    });
    BOOST_TEST_REQUIRE(s.has_value());
  }
  BOOST_TEST(opened > 0u);
  return {found.begin(), found.end()};
}

}  // namespace custdb::test::erasure_scan
