// Holdings and privacy (issue #18 point 5; docs/security.md): account_ref is personal — sealed
// and blind-indexed in encrypted files, absent under an analyst key, removed by erasure (full:
// the holdings go; keep-ledger: they stay, balances and postings included, without their
// reference or its index entry), listed unmasked in the subject record. Holdings take part in
// the consistency check (which must find what is wrong with them, not only pass what is right),
// data-key rotation and backup/restore like the other tables.
#include <algorithm>
#include <map>

#include "custdb/privacy.h"
#include "custdb/query.h"
#include "engine/db_impl.h"
#include "engine/holding_math.h"
#include "erasure_scan.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb::test {
namespace {

using namespace erasure_scan;

// Distinctive account references: none may survive an erasure of their customer.
const std::string kRefA1 = "SE45QX5000000005839825";
const std::string kRefA2 = "CARD-QX-5512-7788-9931";
const std::string kRefB = "MORT-QX-20190501-4471";

std::shared_ptr<const KeyMaterial> analyst_secret() { return test_key(9); }

struct Built {
  CustomerId a = 0, b = 0;
  HoldingId a_savings = 0, a_card = 0, b_mortgage = 0;
};

Holding holding(CustomerId c, ProductType t, std::int64_t balance, const char* opened,
                std::string ref = "") {
  Holding h;
  h.customer_id = c;
  h.product_type = t;
  h.currency = "USD";
  h.balance = balance;
  h.opened_on = parse_date(opened);
  h.account_ref = std::move(ref);
  if (class_of(t) == ProductClass::kLiability) h.credit_limit = 1'000'000;
  return h;
}

// Customers a (savings + card, postings to both) and b (a mortgage), 10 others.
Built build(Database& db) {
  Built out;
  must(db.write([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < 12; ++i) {
      auto id = txn.insert_customer(sample_customer(i));
      if (!id) return tl::unexpected(id.error());
      if (i == 3) out.a = *id;
      if (i == 7) out.b = *id;
    }
    auto s = txn.insert_holding(holding(out.a, ProductType::kSavings, 500'000, "2018-02-03", kRefA1));
    if (!s) return tl::unexpected(s.error());
    out.a_savings = *s;
    auto c = txn.insert_holding(holding(out.a, ProductType::kCreditCard, 12'000, "2020-06-07", kRefA2));
    if (!c) return tl::unexpected(c.error());
    out.a_card = *c;
    auto m = txn.insert_holding(holding(out.b, ProductType::kMortgage, 25'000'000, "2019-05-01", kRefB));
    if (!m) return tl::unexpected(m.error());
    out.b_mortgage = *m;
    for (int i = 0; i < 4; ++i) {
      Transaction t = sample_txn(out.a, 1'000 * (i + 1), "2025-02-01T10:00:00Z");
      t.ts += std::chrono::hours(i);
      t.holding_id = i % 2 ? out.a_card : out.a_savings;
      if (auto r = txn.add_transaction(t); !r) return tl::unexpected(r.error());
    }
    Transaction t = sample_txn(out.b, -50'000, "2025-03-01T10:00:00Z");
    t.holding_id = out.b_mortgage;
    if (auto r = txn.add_transaction(t); !r) return tl::unexpected(r.error());
    return {};
  }));
  return out;
}

std::map<HoldingId, Holding> all_holdings(const Database& db) {
  std::map<HoldingId, Holding> out;
  auto txn = must(db.begin_read());
  must(txn.for_each_holding([&](const Holding& h) {
    out.emplace(h.id, h);
    return true;
  }));
  return out;
}

std::optional<Holding> by_ref(const Database& db, const std::string& ref) {
  auto txn = must(db.begin_read());
  return must(txn.find_holding_by_account_ref(ref));
}

bool has(const CheckReport& r, CheckProblem::Kind kind, std::string_view where) {
  for (const auto& p : r.problems)
    if (p.kind == kind && p.where == where) return true;
  return false;
}

void print(const CheckReport& r) {
  for (const auto& p : r.problems)
    BOOST_TEST_MESSAGE(to_string(p.kind) << " in " << p.where << ": " << p.what);
}

BOOST_AUTO_TEST_SUITE(holdings_privacy)

// The reference is found through the blind index (trimmed), unique, and in an encrypted file
// never in the clear.
BOOST_DATA_TEST_CASE(account_ref_sealed_and_looked_up, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  const Built b = build(db);
  auto found = by_ref(db, "  " + kRefA2 + " ");
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->id == b.a_card);
  BOOST_TEST(found->account_ref == kRefA2);
  BOOST_TEST(!by_ref(db, "NO-SUCH-REF").has_value());
  auto dup = db.insert_holding(holding(b.b, ProductType::kDeposit, 1, "2021-01-01", kRefA1));
  BOOST_TEST_REQUIRE(!dup.has_value());
  BOOST_TEST(dup.error().code() == ErrorCode::kAlreadyExists, dup.error().to_string());
  if (m == Mode::kEncrypted) {
    const auto in_file = found_in(dir.path() / "data.mdb", {kRefA1, kRefA2, kRefB});
    BOOST_TEST(in_file.empty(), joined(in_file));
  }
  BOOST_TEST(found_in_live_values(db, {kRefA1, kRefA2, kRefB}).size() == 3u);
  require_clean(db);
}

// Under an analyst key: balances and aggregates, never the reference.
BOOST_AUTO_TEST_CASE(analyst_key_sees_no_account_ref) {
  TempDir dir;
  Built b;
  std::map<HoldingId, Holding> owner_view;
  Customer a_owner;
  {
    Database db = open_db(Mode::kEncrypted, dir.path());
    b = build(db);
    owner_view = all_holdings(db);
    a_owner = *must(db.get_customer(b.a));
    must(db.add_analyst_key(*analyst_secret()));
  }
  Options o;
  o.key = analyst_secret();
  o.create_if_missing = false;
  Database analyst = must(Database::open(dir.path(), o));
  BOOST_TEST(analyst.info().role == KeyRole::kAnalyst);
  const auto seen = all_holdings(analyst);
  BOOST_TEST_REQUIRE(seen.size() == owner_view.size());
  for (const auto& [id, h] : seen) {
    BOOST_TEST(h.account_ref.empty(), "holding " << id);
    BOOST_TEST(!h.personal_available);
    Holding want = owner_view.at(id);
    want.account_ref.clear();
    want.personal_available = false;
    BOOST_TEST((h == want), "holding " << id);
  }
  auto txn = must(analyst.begin_read());
  auto ref = txn.find_holding_by_account_ref(kRefA1);
  BOOST_TEST_REQUIRE(!ref.has_value());
  BOOST_TEST(ref.error().code() == ErrorCode::kPermissionDenied, ref.error().to_string());
  BOOST_TEST(must(txn.holdings_of(b.a)).size() == 2u);
  auto a = must(txn.get_customer(b.a));
  BOOST_TEST((a->holdings == a_owner.holdings));
  // The aggregates answer segments for the analyst.
  auto po = must(txn.parse_options());
  auto q = must(query::parse("liabilities > 0 and aum >= 5000.00", po));
  BOOST_TEST(must(txn.ids(q)) == std::vector<CustomerId>{b.a});
  auto subject = txn.subject_record(b.a);
  BOOST_TEST_REQUIRE(!subject.has_value());
  BOOST_TEST(subject.error().code() == ErrorCode::kPermissionDenied);
}

// The subject record lists the customer's holdings by id, references unmasked.
BOOST_DATA_TEST_CASE(subject_record_lists_holdings, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  const Built b = build(db);
  auto txn = must(db.begin_read());
  auto r = must(txn.subject_record(b.a));
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST_REQUIRE(r->holdings.size() == 2u);
  BOOST_TEST(r->holdings[0].id == b.a_savings);
  BOOST_TEST(r->holdings[0].account_ref == kRefA1);
  BOOST_TEST(r->holdings[1].id == b.a_card);
  BOOST_TEST(r->holdings[1].account_ref == kRefA2);
  BOOST_TEST((r->holdings == must(txn.holdings_of(b.a))));
  auto rb = must(txn.subject_record(b.b));
  BOOST_TEST_REQUIRE(rb->holdings.size() == 1u);
  BOOST_TEST(rb->holdings[0].account_ref == kRefB);
  auto none = must(txn.subject_record(1));
  BOOST_TEST_REQUIRE(none.has_value());
  BOOST_TEST(none->holdings.empty());
}

// A full erasure removes the customer's holdings, their references and index entries; the
// other customer's stay. Nothing of the references is left in any live value, nor (after the
// scrub) anywhere in the file.
BOOST_DATA_TEST_CASE(erase_full_removes_holdings, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  const Built b = build(db);
  const auto before = all_holdings(db);
  ErasureReport r = must(db.erase_customer(b.a, EraseMode::kFull));
  BOOST_TEST(r.erased == 1u);
  BOOST_TEST(r.scrub.complete);
  const auto after = all_holdings(db);
  BOOST_TEST(after.size() == before.size() - 2);
  BOOST_TEST(!after.count(b.a_savings));
  BOOST_TEST(!after.count(b.a_card));
  BOOST_TEST((after.at(b.b_mortgage) == before.at(b.b_mortgage)));
  BOOST_TEST(!by_ref(db, kRefA1).has_value());
  BOOST_TEST(!by_ref(db, kRefA2).has_value());
  BOOST_TEST(by_ref(db, kRefB).has_value());
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.holdings_of(b.a)).empty());
    BOOST_TEST(!must(txn.get_holding(b.a_card)).has_value());
    BOOST_TEST(must(txn.postings_of(b.a_savings)).empty());
    BOOST_TEST(must(txn.counts()).holdings == 1u);
  }
  const auto live = found_in_live_values(db, {kRefA1, kRefA2, kRefB});
  BOOST_TEST((live == std::vector<std::string>{kRefB}), joined(live));
  const auto in_file = found_in(dir.path() / "data.mdb", {kRefA1, kRefA2});
  BOOST_TEST(in_file.empty(), joined(in_file));
  require_clean(db);
}

// Keep-ledger: the holdings stay with their balances, postings and the customer's holding
// aggregates; their references and blind-index entries go.
BOOST_DATA_TEST_CASE(erase_keep_ledger_clears_account_ref, kModes, m) {
  TempDir dir;
  Database db = open_db(m, dir.path());
  const Built b = build(db);
  const auto before = all_holdings(db);
  const Customer a_before = *must(db.get_customer(b.a));
  ErasureReport r = must(db.erase_customer(b.a, EraseMode::kKeepLedger));
  BOOST_TEST(r.erased == 1u);
  const auto after = all_holdings(db);
  BOOST_TEST_REQUIRE(after.size() == before.size());
  for (HoldingId id : {b.a_savings, b.a_card}) {
    Holding want = before.at(id);
    BOOST_TEST(!want.account_ref.empty());
    want.account_ref.clear();
    BOOST_TEST((after.at(id) == want), "holding " << id);
  }
  BOOST_TEST((after.at(b.b_mortgage) == before.at(b.b_mortgage)));
  const Customer a_after = *must(db.get_customer(b.a));
  BOOST_TEST(a_after.anonymized);
  BOOST_TEST((a_after.holdings == a_before.holdings));
  BOOST_TEST((a_after.aggregates == a_before.aggregates));
  BOOST_TEST(!by_ref(db, kRefA1).has_value());
  BOOST_TEST(!by_ref(db, kRefA2).has_value());
  {
    auto txn = must(db.begin_read());
    BOOST_TEST(must(txn.postings_of(b.a_savings)).size() == 2u);
    BOOST_TEST(must(txn.postings_of(b.a_card)).size() == 2u);
  }
  const auto live = found_in_live_values(db, {kRefA1, kRefA2});
  BOOST_TEST(live.empty(), joined(live));
  const auto in_file = found_in(dir.path() / "data.mdb", {kRefA1, kRefA2});
  BOOST_TEST(in_file.empty(), joined(in_file));
  require_clean(db);
  // A reference can be given again (its index entry is gone).
  must(db.insert_holding(holding(b.b, ProductType::kDeposit, 1, "2024-01-01", kRefA1)));
  require_clean(db);
}

// Data-key rotation copies the holdings exactly (engine fields, references, blind index), the
// customers' holding aggregates and the holding id counter.
BOOST_AUTO_TEST_CASE(rotation_keeps_holdings) {
  TempDir dir;
  Built b;
  std::map<HoldingId, Holding> before;
  std::vector<Customer> customers_before;
  {
    Database db = open_db(Mode::kEncrypted, dir.path());
    b = build(db);
    // A closed holding and one whose postings were detached.
    must(db.write([&](WriteTxn& txn) -> Status {
      Holding h = holding(b.b, ProductType::kFund, 70'000, "2010-01-01", "FUND-QX-1");
      h.status = HoldingStatus::kClosed;
      h.closed_on = parse_date("2015-01-01");
      if (auto r = txn.insert_holding(h); !r) return tl::unexpected(r.error());
      if (auto r = txn.remove_holding(b.a_card, DeleteMode::kCascade); !r)
        return tl::unexpected(r.error());
      return {};
    }));
    before = all_holdings(db);
    auto txn = must(db.begin_read());
    must(txn.for_each_customer([&](const Customer& c) {
      customers_before.push_back(c);
      return true;
    }));
  }
  std::vector<RotationProgress> progress;
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted),
                       [&](const RotationProgress& p) { progress.push_back(p); }, 2));
  BOOST_TEST(std::any_of(progress.begin(), progress.end(), [&](const RotationProgress& p) {
    return p.table == "holdings" && p.done == p.total && p.total == before.size();
  }));
  Database db = open_db(Mode::kEncrypted, dir.path());
  require_clean(db);
  BOOST_TEST((all_holdings(db) == before));
  {
    auto txn = must(db.begin_read());
    std::size_t i = 0;
    must(txn.for_each_customer([&](const Customer& c) {
      BOOST_TEST((c.holdings == customers_before.at(i).holdings), "customer " << c.id);
      BOOST_TEST((c.aggregates == customers_before.at(i).aggregates));
      ++i;
      return true;
    }));
    BOOST_TEST(i == customers_before.size());
  }
  BOOST_TEST(by_ref(db, kRefA1)->id == b.a_savings);
  BOOST_TEST(by_ref(db, "FUND-QX-1").has_value());
  BOOST_TEST(!by_ref(db, kRefA2).has_value());
  // The counter came along: the next holding gets the next id.
  const HoldingId next = must(db.insert_holding(holding(b.a, ProductType::kDeposit, 5, "2024-01-01")));
  BOOST_TEST(next == before.rbegin()->first + 1);
  require_clean(db);
}

// restore_backup: a customer erased after the backup was taken stays erased (its holdings
// with it); the other holdings come back as backed up.
BOOST_DATA_TEST_CASE(restore_reapplies_erasure_to_holdings, kModes, m) {
  TempDir dir, backup;
  const fs::path db_dir = dir.path() / "db";
  Built b;
  std::map<HoldingId, Holding> at_backup;
  {
    Database db = open_db(m, db_dir);
    b = build(db);
    at_backup = all_holdings(db);
    must(db.backup(backup.path()));
    must(db.erase_customer(b.a, EraseMode::kFull));
    // Changed after the backup: the restore brings the backed-up state back.
    must(db.write([&](WriteTxn& txn) -> Status {
      StatementBalance s;
      s.balance = 1;
      s.as_of = *parse_date("2025-12-01");
      if (auto r = txn.set_balance(b.b_mortgage, s); !r) return tl::unexpected(r.error());
      return {};
    }));
  }
  RestoreReport r = must(restore_backup(backup.path(), db_dir, options_for(m)));
  BOOST_TEST(r.erasures_reapplied == 1u);
  Database db = open_db(m, db_dir);
  require_clean(db);
  const auto now = all_holdings(db);
  BOOST_TEST_REQUIRE(now.size() == 1u);
  BOOST_TEST((now.at(b.b_mortgage) == at_backup.at(b.b_mortgage)));
  BOOST_TEST(!by_ref(db, kRefA1).has_value());
  const auto in_file = found_in(db_dir / "data.mdb", {kRefA1, kRefA2});
  BOOST_TEST(in_file.empty(), joined(in_file));
}

// The check finds what is wrong with holdings: a stale posted sum, a balance moved behind the
// customer's aggregates, a missing and an orphan index entry, a holding of a missing customer,
// a posting to a missing holding.
BOOST_DATA_TEST_CASE(check_finds_holding_damage, kModes, m) {
  using Kind = CheckProblem::Kind;
  TempDir dir;
  Database db = open_db(m, dir.path());
  const Built b = build(db);
  require_clean(db);
  auto& d = Database::Impl::of(db);
  auto damage = [&](const std::function<Status(detail::TxnState&)>& fn) {
    must(d.write_retrying(fn));
    auto report = must(db.check());
    print(report);
    return report;
  };
  const auto before = all_holdings(db);
  // The record alone, as stored bytes, behind the engine's back (no index entries touched).
  auto restore = [&](const Holding& h) {
    return damage([&](detail::TxnState& st) {
      coding::IdKey k(h.id);
      d.codec().encode(k.span(), h, st.buf);
      return d.put(st, d.tables().holdings, k.span(), st.buf);
    });
  };

  // posted no longer the sum of its postings
  Holding h = before.at(b.a_savings);
  ++h.posted;
  auto r = restore(h);
  BOOST_TEST(has(r, Kind::kStaleAggregate, "holdings"));
  BOOST_TEST(r.problems.size() == 1u);
  restore(before.at(b.a_savings));
  require_clean(db);

  // a base-currency balance whose base_balance differs
  h = before.at(b.a_savings);
  h.balance += 100;
  r = restore(h);
  BOOST_TEST(has(r, Kind::kUndecodable, "holdings"));
  restore(before.at(b.a_savings));
  require_clean(db);

  // the balance moved without the customer's aum
  h = before.at(b.a_savings);
  h.balance += 100;
  h.base_balance = h.balance;
  r = restore(h);
  BOOST_TEST(has(r, Kind::kStaleAggregate, "customers"));
  BOOST_TEST(r.problems.size() == 1u);
  restore(before.at(b.a_savings));
  require_clean(db);

  // a holding's index entries removed, then a stale one planted
  std::vector<index::IndexEntry> entries;
  d.keys().holding_entries(before.at(b.b_mortgage), entries);
  BOOST_TEST_REQUIRE(entries.size() >= 2u);  // by customer, account_ref
  for (const auto& e : entries) {
    r = damage([&](detail::TxnState& st) { return d.del_entry(st, e); });
    BOOST_TEST(has(r, Kind::kMissingIndexEntry, index::spec(e.index).dbi_name));
    must(d.write_retrying([&](detail::TxnState& st) { return d.put_entry(st, e); }));
    require_clean(db);
  }
  {
    // An orphan: the entries of a holding that does not exist.
    Holding ghost = before.at(b.b_mortgage);
    ghost.id = 999;
    ghost.account_ref = "GHOST-QX";
    std::vector<index::IndexEntry> ghost_entries;
    d.keys().holding_entries(ghost, ghost_entries);
    r = damage([&](detail::TxnState& st) -> Status {
      for (const auto& e : ghost_entries)
        if (auto s = d.put_entry(st, e); !s) return s;
      return {};
    });
    BOOST_TEST(has(r, Kind::kOrphanIndexEntry, "idx.holding_by_customer"));
    BOOST_TEST(has(r, Kind::kOrphanIndexEntry, "idx.account_ref"));
    must(d.write_retrying([&](detail::TxnState& st) -> Status {
      for (const auto& e : ghost_entries)
        if (auto s = d.del_entry(st, e); !s) return s;
      return {};
    }));
    require_clean(db);
  }
  {
    // A holding of a customer that does not exist (stored behind the engine's back).
    Holding stray = before.at(b.b_mortgage);
    stray.id = 4242;
    stray.customer_id = 777777;
    stray.account_ref.clear();
    stray.posted = stray.base_posted = 0;
    stray.postings = 0;
    r = restore(stray);
    BOOST_TEST(has(r, Kind::kDanglingReference, "holdings"));
    BOOST_TEST(has(r, Kind::kBadMetadata, "meta"));  // next_id.holding is below 4242
  }
  {
    // A transaction posting to a holding that does not exist.
    auto txns = [&] {
      auto txn = must(db.begin_read());
      return must(txn.postings_of(b.b_mortgage));
    }();
    BOOST_TEST_REQUIRE(txns.size() == 1u);
    Transaction t = txns[0];
    t.holding_id = 5151;
    r = damage([&](detail::TxnState& st) -> Status {
      auto schema = d.schema_of(st);
      if (!schema) return tl::unexpected(schema.error());
      coding::IdKey k(t.id);
      d.codec().encode(k.span(), t, **schema, st.buf);
      return d.put(st, d.tables().transactions, k.span(), st.buf);
    });
    BOOST_TEST(has(r, Kind::kDanglingReference, "transactions"));
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
