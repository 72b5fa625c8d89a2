// Consent by purpose (issue #16, point 1): purposes and their names, the consent history kept
// by the engine, validation by attack, segment queries on every purpose, consent-filtered
// export, profiling refused (never scored, summarised, fitted or moved by rules; scores
// cleared), the rule-move log, key rotation, the format-3 upgrade and the CLI.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "custdb/analytics.h"
#include "custdb/database.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "custdb/query.h"
#include "engine/analytics_access.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

Date day(const char* s) { return parse_date(s).value(); }

Result<bool> update(Database& db, CustomerId id, const std::function<void(Customer&)>& fn) {
  auto w = db.begin_write();
  if (!w) return tl::unexpected(w.error());
  auto r = w->update_customer(id, fn);
  if (!r) return r;
  if (auto s = w->commit(); !s) return tl::unexpected(s.error());
  return r;
}
void erase(Database& db, CustomerId id) {
  auto w = must(db.begin_write());
  BOOST_TEST(must(w.delete_customer(id, DeleteMode::kCascade)));
  must(w.commit());
}

Consent granted(const char* d, std::string source = "web form") {
  return {ConsentState::kGranted, day(d), std::move(source)};
}
Consent denied(const char* d, std::string source = "branch 17") {
  return {ConsentState::kDenied, day(d), std::move(source)};
}

std::vector<ConsentChange> history(Database& db, CustomerId id) {
  auto r = must(db.begin_read());
  return must(r.consent_history(id));
}
std::vector<RuleMove> moves(Database& db, CustomerId id) {
  auto r = must(db.begin_read());
  return must(r.rule_moves(id));
}

std::uint64_t count(Database& db, const std::string& q) {
  auto r = must(db.begin_read());
  return must(r.count(must(query::parse(q))));
}

std::string slurp_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CDNOW-like model (Fader, Hardie & Lee 2005 estimates) stored as is: scoring needs a model,
// not a fit of this small data set.
void store_test_model(Database& db) {
  ClvModel m;
  m.bgnbd = {0.243, 4.414, 0.793, 2.426};
  m.gamma_gamma = {6.25, 3.74, 15.44};
  m.as_of = day("2024-12-31");
  m.unit = TimeUnit::kWeek;
  m.kinds = {TransactionKind::kPurchase};
  m.customers = 1;
  must(store_model(db, m));
}

// n customers, each with 1 + (i % 5) purchases in 2024.
std::vector<CustomerId> customers_with_purchases(Database& db, int n) {
  std::vector<CustomerId> ids;
  std::mt19937 rng(7);
  for (int i = 1; i <= n; ++i) {
    Customer c = sample_customer(i);
    c.external_ref.clear();
    CustomerId id = must(db.insert_customer(c));
    ids.push_back(id);
    const int purchases = 1 + i % 5;
    for (int k = 0; k < purchases; ++k) {
      char ts[32];
      std::snprintf(ts, sizeof ts, "2024-%02d-%02dT10:00:00Z", 1 + (k * 2 + i) % 12,
                    1 + static_cast<int>(rng() % 28));
      must(db.add_transaction(sample_txn(id, 1000 + static_cast<std::int64_t>(rng() % 50000), ts)));
    }
  }
  return ids;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(consent)

BOOST_AUTO_TEST_CASE(purpose_names) {
  for (int i = 0; i < kConsentPurposeCount; ++i) {
    const auto p = static_cast<ConsentPurpose>(i);
    BOOST_TEST((consent_purpose_from_string(to_string(p)) == p));
  }
  BOOST_TEST((consent_purpose_from_string("EMAIL_MARKETING") == ConsentPurpose::kEmailMarketing));
  BOOST_TEST((consent_purpose_from_string("consent_profiling") == ConsentPurpose::kProfiling));
  BOOST_TEST((consent_purpose_from_string("consent_sharing") == ConsentPurpose::kThirdPartySharing));
  BOOST_TEST((consent_purpose_from_string("sms") == ConsentPurpose::kSmsMarketing));
  for (const char* bad : {"", "marketing", "email_marketing ", "profiling\n", "consent_",
                          "third-party-sharing", "\xff"})
    BOOST_TEST(!consent_purpose_from_string(bad).has_value(), bad);
  BOOST_TEST(to_string(static_cast<ConsentPurpose>(9)) == "invalid");
  Customer c;
  consent_of(c, ConsentPurpose::kProfiling) = denied("2024-01-01");
  BOOST_TEST((c.consent_profiling == denied("2024-01-01")));
  BOOST_TEST((consent_of(c, ConsentPurpose::kThirdPartySharing) == Consent{}));
}

BOOST_DATA_TEST_CASE(history_kept_for_every_change_in_order, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  Customer c = sample_customer(1);  // consent_email granted, no source
  c.consent_sharing = denied("2024-02-01", "call centre");
  const CustomerId id = must(db.insert_customer(c));
  auto h = history(db, id);
  BOOST_TEST_REQUIRE(h.size() == 2u);  // email and sharing, by purpose
  BOOST_TEST((h[0].purpose == ConsentPurpose::kEmailMarketing));
  BOOST_TEST((h[0].before == Consent{}));
  BOOST_TEST((h[0].after == c.consent_email));
  BOOST_TEST((h[1].purpose == ConsentPurpose::kThirdPartySharing));
  BOOST_TEST((h[1].after == c.consent_sharing));
  BOOST_TEST(h[0].seq < h[1].seq);
  BOOST_TEST(h[0].customer == id);

  // An update that changes no consent adds nothing; one that does adds one per purpose.
  must(update(db, id, [](Customer& x) { x.tier = Tier::kGold; }));
  BOOST_TEST(history(db, id).size() == 2u);
  must(update(db, id, [](Customer& x) {
    x.consent_sms = granted("2024-03-01", "app");
    x.consent_sharing = granted("2024-03-01", "app");
  }));
  // set_consent, and a change of the source alone.
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.set_consent(id, ConsentPurpose::kProfiling, denied("2024-04-01"))));
    BOOST_TEST(must(w.set_consent(id, ConsentPurpose::kProfiling, denied("2024-04-01", "letter"))));
    BOOST_TEST(!must(w.set_consent(999, ConsentPurpose::kProfiling, denied("2024-04-01"))));
    must(w.commit());
  }
  // The same consent set again: nothing changed, nothing recorded.
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.set_consent(id, ConsentPurpose::kProfiling, denied("2024-04-01", "letter"))));
    must(w.commit());
  }
  h = history(db, id);
  BOOST_TEST_REQUIRE(h.size() == 6u);
  for (std::size_t i = 1; i < h.size(); ++i) {
    BOOST_TEST(h[i - 1].seq < h[i].seq);
    BOOST_TEST((h[i - 1].recorded_at <= h[i].recorded_at));
  }
  BOOST_TEST((h[2].purpose == ConsentPurpose::kSmsMarketing));
  BOOST_TEST((h[3].before == c.consent_sharing));
  BOOST_TEST((h[3].after == granted("2024-03-01", "app")));
  BOOST_TEST((h[4].after == denied("2024-04-01")));
  BOOST_TEST((h[5].before == denied("2024-04-01")));
  BOOST_TEST((h[5].after == denied("2024-04-01", "letter")));
  auto got = must(db.get_customer(id));
  BOOST_TEST((got->consent_profiling == denied("2024-04-01", "letter")));

  // Another customer's history is its own; an unknown customer has none.
  const CustomerId other = must(db.insert_customer(sample_customer(2)));
  BOOST_TEST(history(db, other).size() == 1u);
  BOOST_TEST(history(db, id).size() == 6u);
  BOOST_TEST(history(db, 424242).empty());
  // An aborted write leaves no history behind.
  {
    auto w = must(db.begin_write());
    must(w.set_consent(other, ConsentPurpose::kSmsMarketing, denied("2024-05-01")));
  }
  BOOST_TEST(history(db, other).size() == 1u);
  require_clean(db);
  // Deleting the customer removes what was kept about it.
  erase(db, id);
  BOOST_TEST(history(db, id).empty());
  BOOST_TEST(history(db, other).size() == 1u);
  require_clean(db);
}

BOOST_DATA_TEST_CASE(bad_consents_refused_and_nothing_written, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const CustomerId id = must(db.insert_customer(sample_customer(1)));
  const Customer before = *must(db.get_customer(id));
  const auto history_before = history(db, id);
  struct Case {
    const char* field;
    Consent consent;
  };
  const std::string too_long(101, 'x');
  const std::vector<Case> cases = {
      {"consent_profiling", {static_cast<ConsentState>(3), day("2024-01-01"), ""}},
      {"consent_profiling", {static_cast<ConsentState>(255), day("2024-01-01"), ""}},
      {"consent_profiling", {ConsentState::kUnknown, day("2024-01-01"), ""}},
      {"consent_profiling", {ConsentState::kGranted, std::nullopt, "web"}},
      {"consent_profiling", {ConsentState::kUnknown, std::nullopt, "web"}},
      {"consent_profiling", {ConsentState::kGranted, day("1800-01-01") - std::chrono::days(1), "web"}},
      {"consent_profiling", {ConsentState::kGranted, day("2200-12-31") + std::chrono::days(1), "web"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "web\x1b[31mred"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "two\nlines"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "tab\there"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "csi\xc2\x9b" "31m"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "del\x7f"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), std::string("nul\0x", 5)}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), "bad utf8 \xff"}},
      {"consent_profiling", {ConsentState::kGranted, day("2024-01-01"), too_long}},
  };
  for (const Case& k : cases) {
    auto w = must(db.begin_write());
    auto r = w.set_consent(id, ConsentPurpose::kProfiling, k.consent);
    BOOST_TEST_REQUIRE(!r.has_value(), k.consent.source);
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(contains(r.error().message(), k.field), r.error().message());
    must(w.commit());  // the refused call wrote nothing: committing stores nothing
    // Through insert and update too.
    Customer c = sample_customer(50);
    c.external_ref.clear();
    c.consent_sharing = k.consent;
    auto ins = db.insert_customer(c);
    BOOST_TEST_REQUIRE(!ins.has_value());
    BOOST_TEST(contains(ins.error().message(), "consent_sharing"), ins.error().message());
    auto up = update(db, id, [&](Customer& x) { x.consent_sms = k.consent; });
    BOOST_TEST_REQUIRE(!up.has_value());
    BOOST_TEST(contains(up.error().message(), "consent_sms"), up.error().message());
  }
  // Echoed messages carry no raw control byte.
  {
    auto w = must(db.begin_write());
    auto r = w.set_consent(id, ConsentPurpose::kProfiling,
                           {ConsentState::kGranted, day("2024-01-01"), "web\x1b[31mred"});
    BOOST_TEST(r.error().message().find('\x1b') == std::string::npos);
  }
  // A purpose number no purpose has.
  {
    auto w = must(db.begin_write());
    auto r = w.set_consent(id, static_cast<ConsentPurpose>(5), granted("2024-01-01"));
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
    BOOST_TEST(contains(r.error().message(), "purpose"));
  }
  BOOST_TEST((*must(db.get_customer(id)) == before));
  BOOST_TEST(history(db, id) == history_before);
  BOOST_TEST(must(db.begin_read()).counts()->customers == 1u);
  // A source is trimmed; exactly 100 bytes is accepted.
  {
    auto w = must(db.begin_write());
    BOOST_TEST(must(w.set_consent(id, ConsentPurpose::kProfiling,
                                  granted("2024-01-01", "  kiosk 4  "))));
    BOOST_TEST(must(w.set_consent(id, ConsentPurpose::kThirdPartySharing,
                                  granted("2024-01-01", std::string(100, 'y')))));
    must(w.commit());
  }
  auto got = must(db.get_customer(id));
  BOOST_TEST(got->consent_profiling.source == "kiosk 4");
  BOOST_TEST(history(db, id).back().after.source == std::string(100, 'y'));
  require_clean(db);
}

BOOST_DATA_TEST_CASE(every_purpose_queryable_in_segments, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  for (int i = 1; i <= 30; ++i) {
    Customer c = sample_customer(i);
    if (i % 3 == 0) c.consent_profiling = denied("2024-01-01");
    if (i % 3 == 1) c.consent_profiling = granted("2024-01-01");
    if (i % 5 == 0) c.consent_sharing = granted("2024-01-01");
    must(db.insert_customer(c));
  }
  BOOST_TEST(count(db, "consent_profiling = denied") == 10u);
  BOOST_TEST(count(db, "consent_profiling = granted") == 10u);
  BOOST_TEST(count(db, "consent_profiling = unknown") == 10u);
  BOOST_TEST(count(db, "consent_profiling != denied") == 20u);
  BOOST_TEST(count(db, "consent_sharing = granted") == 6u);
  BOOST_TEST(count(db, "consent_sharing = granted and consent_profiling = denied") == 2u);
  BOOST_TEST(count(db, "consent_sharing in (unknown, denied)") == 24u);
  BOOST_TEST(count(db, "consent_email = granted") == 30u);
  // A change moves the posting.
  {
    auto w = must(db.begin_write());
    must(w.set_consent(3, ConsentPurpose::kProfiling, granted("2024-06-01")));
    must(w.commit());
  }
  BOOST_TEST(count(db, "consent_profiling = denied") == 9u);
  BOOST_TEST(count(db, "consent_profiling = granted") == 11u);
  // Grouped: every state by name.
  {
    auto r = must(db.begin_read());
    ReportSpec spec;
    spec.by = {GroupBy::kConsentProfiling};
    auto rows = must(r.report_all(spec));
    std::map<std::string, std::uint64_t> by;
    for (const auto& row : rows) by[row.group.at(0)] = row.customers;
    BOOST_TEST(by["denied"] == 9u);
    BOOST_TEST(by["granted"] == 11u);
    BOOST_TEST(by["unknown"] == 10u);
    BOOST_TEST(std::string(to_string(GroupBy::kConsentSharing)) == "consent_sharing");
  }
  // A bad state is a query error naming the values.
  auto bad = query::parse("consent_profiling = maybe");
  BOOST_TEST(!bad.has_value());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(export_leaves_out_customers_without_granted_consent, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  for (int i = 1; i <= 12; ++i) {
    Customer c = sample_customer(i);
    c.consent_email = i % 3 == 0   ? denied("2024-01-01")
                      : i % 3 == 1 ? granted("2024-01-01")
                                   : Consent{};
    must(db.insert_customer(c));
  }
  io::ExportStats stats;
  io::ExportOptions o;
  o.reveal = true;
  o.purpose = ConsentPurpose::kEmailMarketing;
  o.stats = &stats;
  std::ostringstream out;
  must(io::export_table(db, io::Table::kCustomers, out, io::Format::kCsv, o));
  BOOST_TEST(stats.rows == 4u);
  BOOST_TEST(stats.left_out_no_consent == 8u);
  for (int i = 1; i <= 12; ++i)
    BOOST_TEST(contains(out.str(), "Customer " + std::to_string(i) + ",") == (i % 3 == 1), i);
  // With a segment: only its members are considered (and counted).
  o.segment = "region = east";  // odd ids
  std::ostringstream seg;
  must(io::export_table(db, io::Table::kCustomers, seg, io::Format::kJsonLines, o));
  BOOST_TEST(stats.rows == 2u);  // 1, 7
  BOOST_TEST(stats.left_out_no_consent == 4u);  // 3, 5, 9, 11
  // A purpose nobody granted: only the header.
  o.segment.clear();
  o.purpose = ConsentPurpose::kThirdPartySharing;
  std::ostringstream none;
  must(io::export_table(db, io::Table::kCustomers, none, io::Format::kCsv, o));
  BOOST_TEST(stats.rows == 0u);
  BOOST_TEST(stats.left_out_no_consent == 12u);
  // Refused: purpose or segment on another table, a bad query.
  std::ostringstream x;
  auto r = io::export_table(db, io::Table::kTransactions, x, io::Format::kCsv, o);
  BOOST_TEST((!r && r.error().code() == ErrorCode::kInvalidArgument));
  o.purpose.reset();
  o.segment = "tier = ";
  r = io::export_table(db, io::Table::kCustomers, x, io::Format::kCsv, o);
  BOOST_TEST((!r && r.error().code() == ErrorCode::kInvalidArgument));
}

BOOST_DATA_TEST_CASE(import_and_export_carry_every_consent, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  const std::string csv =
      "id,name,consent_profiling,consent_profiling_date,consent_profiling_source,"
      "consent_sharing,consent_sharing_date,consent_email,consent_email_date,consent_email_source\n"
      "1,Ann,denied,2024-02-02,branch 17,granted,2024-02-03,granted,2024-01-01,\"web, form\"\n"
      "2,Bob,,,,,,,,\n";
  std::istringstream in(csv);
  auto rep = must(io::import_stream(db, io::Table::kCustomers, in, io::Format::kCsv));
  BOOST_TEST(rep.imported == 2u);
  auto ann = *must(db.get_customer(1));
  BOOST_TEST((ann.consent_profiling == denied("2024-02-02", "branch 17")));
  BOOST_TEST((ann.consent_sharing == Consent{ConsentState::kGranted, day("2024-02-03"), ""}));
  BOOST_TEST(ann.consent_email.source == "web, form");
  BOOST_TEST(history(db, 1).size() == 3u);  // the import is a consent change too
  BOOST_TEST(history(db, 2).empty());
  // Round trip: export, import into an empty database, export again: identical.
  for (auto format : {io::Format::kCsv, io::Format::kJsonLines}) {
    io::ExportOptions o;
    o.reveal = true;
    std::ostringstream a;
    must(io::export_table(db, io::Table::kCustomers, a, format, o));
    BOOST_TEST(contains(a.str(), "branch 17"));
    TempDir dir2;
    auto db2 = open_db(mode, dir2.path());
    std::istringstream back(a.str());
    must(io::import_stream(db2, io::Table::kCustomers, back, format));
    std::ostringstream b;
    must(io::export_table(db2, io::Table::kCustomers, b, format, o));
    BOOST_TEST(a.str() == b.str());
  }
  // Bad cells are bad rows naming the column.
  for (const std::string& row :
       {std::string("3,Cy,denied,2024-01-01,\"evil\x1b]0;x\x07\"\n"), std::string("3,Cy,maybe,2024-01-01,x\n"),
        std::string("3,Cy,,,orphan source\n"), std::string("3,Cy,granted,2024-13-01,x\n"),
        std::string("3,Cy,granted,,x\n")}) {
    std::istringstream bad("id,name,consent_profiling,consent_profiling_date,consent_profiling_source\n" + row);
    auto r = io::import_stream(db, io::Table::kCustomers, bad, io::Format::kCsv);
    BOOST_TEST_REQUIRE(!r.has_value(), row);
    BOOST_TEST(contains(r.error().message(), "consent_profiling"), r.error().message());
    BOOST_TEST(r.error().message().find('\x1b') == std::string::npos);
  }
  BOOST_TEST(!must(db.get_customer(3)).has_value());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(denied_profiling_never_scored_summarised_or_fitted, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  auto ids = customers_with_purchases(db, 40);
  store_test_model(db);
  ScoreOptions so;
  so.as_of = day("2024-12-31");
  auto first = must(score_customers(db, so));
  BOOST_TEST(first.scored == 40u);
  BOOST_TEST(first.excluded_no_profiling_consent == 0u);
  const CustomerId refuser = ids[4], later = ids[7];
  BOOST_TEST_REQUIRE(must(db.get_customer(refuser))->scores.has_value());
  // Refusing profiling clears the scores in the same write.
  {
    auto w = must(db.begin_write());
    must(w.set_consent(refuser, ConsentPurpose::kProfiling, denied("2024-12-01")));
    must(w.commit());
  }
  BOOST_TEST(!must(db.get_customer(refuser))->scores.has_value());
  BOOST_TEST(count(db, "p_alive >= 0 and consent_profiling = denied") == 0u);
  // Through update_customer too (the caller cannot leave the scores in place).
  must(update(db, later, [](Customer& c) { c.consent_profiling = denied("2024-12-02"); }));
  BOOST_TEST(!must(db.get_customer(later))->scores.has_value());
  // Scoring again leaves both out and says so.
  auto second = must(score_customers(db, so));
  BOOST_TEST(second.scored == 38u);
  BOOST_TEST(second.excluded_no_profiling_consent == 2u);
  BOOST_TEST(!must(db.get_customer(refuser))->scores.has_value());
  BOOST_TEST(!must(db.get_customer(later))->scores.has_value());
  BOOST_TEST(count(db, "clv >= 0") == 38u);
  // The engine refuses scores for them whoever asks.
  {
    auto w = must(db.begin_write());
    Scores s;
    s.as_of = day("2024-12-31");
    s.p_alive = 0.5;
    s.r_score = s.f_score = s.m_score = 3;
    BOOST_TEST(!must(analytics_access::set_scores(w, refuser, s)));
    must(w.commit());
  }
  BOOST_TEST(!must(db.get_customer(refuser))->scores.has_value());
  // RFM: not in the output, so not in the quintile ranking either.
  {
    auto r = must(db.begin_read());
    RfmOptions ro;
    ro.as_of = day("2024-12-31");
    auto rows = must(rfm_summary(r, ro));
    BOOST_TEST(rows.size() == 38u);
    for (const auto& row : rows) BOOST_TEST((row.id != refuser && row.id != later));
    // The fit: left out and counted.
    auto fit = fit_clv(r, ro);
    if (fit) {
      BOOST_TEST(fit->excluded_no_profiling_consent == 2u);
      BOOST_TEST(fit->customers == 38u);
    } else {
      BOOST_TEST_MESSAGE("fit did not converge on the small set: " << fit.error().message());
    }
  }
  // Consent granted again: scored by the next run.
  {
    auto w = must(db.begin_write());
    must(w.set_consent(refuser, ConsentPurpose::kProfiling, granted("2024-12-20")));
    must(w.commit());
  }
  auto third = must(score_customers(db, so));
  BOOST_TEST(third.excluded_no_profiling_consent == 1u);
  BOOST_TEST(must(db.get_customer(refuser))->scores.has_value());
  BOOST_TEST(!must(db.get_customer(later))->scores.has_value());
  require_clean(db);
}

BOOST_DATA_TEST_CASE(rules_skip_denied_and_log_every_move, kModes, mode) {
  TempDir dir;
  auto db = open_db(mode, dir.path());
  for (int i = 1; i <= 10; ++i) {
    Customer c = sample_customer(i);
    c.tier = Tier::kBronze;
    c.stage = Stage::kNew;
    if (i == 2 || i == 5) c.consent_profiling = denied("2024-01-01");
    must(db.insert_customer(c));
  }
  std::vector<Rule> rules = {must(parse_rule("tier = gold when region = east")),
                             must(parse_rule("stage = active when tier = bronze"))};
  must(set_rules(db, rules));
  ApplyOptions ao;
  ao.dry_run = true;
  auto dry = must(apply_rules(db, ao));
  BOOST_TEST(dry.changed == 8u);
  BOOST_TEST(dry.excluded_no_profiling_consent == 2u);
  BOOST_TEST(moves(db, 1).empty());  // a dry run logs nothing
  ao.dry_run = false;
  auto rep = must(apply_rules(db, ao));
  BOOST_TEST(rep.changed == 8u);
  BOOST_TEST(rep.excluded_no_profiling_consent == 2u);
  for (CustomerId id : {2u, 5u}) {
    auto c = *must(db.get_customer(id));
    BOOST_TEST(c.tier == Tier::kBronze);
    BOOST_TEST(c.stage == Stage::kNew);
    BOOST_TEST(moves(db, id).empty());
  }
  auto m1 = moves(db, 1);  // east: tier and stage
  BOOST_TEST_REQUIRE(m1.size() == 2u);
  BOOST_TEST(m1[0].field == "tier");
  BOOST_TEST(m1[0].from == "bronze");
  BOOST_TEST(m1[0].to == "gold");
  BOOST_TEST(m1[0].rule == to_string(rules[0]));
  BOOST_TEST(m1[1].field == "stage");
  BOOST_TEST(m1[1].to == "active");
  BOOST_TEST(m1[0].seq < m1[1].seq);
  BOOST_TEST(m1[0].customer == 1u);
  BOOST_TEST(moves(db, 4).size() == 1u);  // west: stage only
  // Applying again moves nobody and logs nothing new.
  auto again = must(apply_rules(db, ao));
  BOOST_TEST(again.changed == 0u);
  BOOST_TEST(moves(db, 1).size() == 2u);
  require_clean(db);
  erase(db, 1);
  BOOST_TEST(moves(db, 1).empty());
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(history_and_moves_survive_key_rotation_in_order) {
  TempDir dir;
  std::vector<ConsentChange> h_before;
  std::vector<RuleMove> m_before;
  {
    auto db = open_db(Mode::kEncrypted, dir.path());
    for (int i = 1; i <= 5; ++i) must(db.insert_customer(sample_customer(i)));
    for (int k = 0; k < 4; ++k) {
      auto w = must(db.begin_write());
      // Dates never go back: set_consent refuses a change dated before the current one.
      const std::string day = "2024-01-0" + std::to_string(2 + k);
      must(w.set_consent(3, ConsentPurpose::kSmsMarketing,
                         k % 2 ? granted(day.c_str(), "r" + std::to_string(k))
                               : denied(day.c_str(), "r" + std::to_string(k))));
      must(w.commit());
    }
    std::vector<Rule> rules = {must(parse_rule("tier = diamond when region = east"))};
    must(set_rules(db, rules));
    must(apply_rules(db));
    h_before = history(db, 3);
    m_before = moves(db, 3);
    BOOST_TEST_REQUIRE(h_before.size() == 5u);
    BOOST_TEST_REQUIRE(m_before.size() == 1u);
  }
  must(rotate_data_key(dir.path(), options_for(Mode::kEncrypted), {}, 2));
  auto db = open_db(Mode::kEncrypted, dir.path());
  BOOST_TEST(history(db, 3) == h_before);
  BOOST_TEST(moves(db, 3) == m_before);
  // The seq counters travelled too: the next change comes after the copied ones.
  {
    auto w = must(db.begin_write());
    must(w.set_consent(3, ConsentPurpose::kSmsMarketing, granted("2024-02-01", "after")));
    must(w.commit());
  }
  auto h = history(db, 3);
  BOOST_TEST_REQUIRE(h.size() == 6u);
  BOOST_TEST(h[5].seq > h[4].seq);
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(encrypted_history_is_sealed) {
  // A distinctive source must not appear in the encrypted file; it does in a plaintext one (so
  // the scan can fail).
  const std::string marker = "Consent-Marker-Qx7Zp";
  for (Mode mode : {Mode::kPlain, Mode::kEncrypted}) {
    TempDir dir;
    {
      auto db = open_db(mode, dir.path());
      Customer c = sample_customer(1);
      must(db.insert_customer(c));
      auto w = must(db.begin_write());
      must(w.set_consent(1, ConsentPurpose::kThirdPartySharing, granted("2024-01-01", marker)));
      must(w.commit());
      // The customer record carries the current source; overwrite it so only the history holds it.
      auto w2 = must(db.begin_write());
      must(w2.set_consent(1, ConsentPurpose::kThirdPartySharing, granted("2024-01-01", "other")));
      must(w2.commit());
    }
    const std::string bytes = slurp_file(dir.path() / "data.mdb");
    BOOST_TEST(contains(bytes, marker) == (mode == Mode::kPlain), mode);
  }
}

BOOST_DATA_TEST_CASE(format3_upgrade_indexes_new_purposes, kModes, mode) {
  TempDir dir;
  const fs::path src = fs::path(CUSTDB_FIXTURE_DIR) / "v3_db" /
                       (mode == Mode::kPlain ? "plaintext" : "encrypted");
  fs::copy_file(src / "data.mdb", dir.path() / "data.mdb");
  Options o;
  if (mode == Mode::kEncrypted) o.key = KeyMaterial::from_passphrase("fixture-passphrase");
  auto db = must(Database::open(dir.path(), o));
  const std::uint64_t n = must(db.begin_read()).counts()->customers;
  BOOST_TEST_REQUIRE(n > 0u);
  BOOST_TEST(count(db, "consent_profiling = unknown") == n);
  BOOST_TEST(count(db, "consent_sharing = unknown") == n);
  BOOST_TEST(count(db, "consent_profiling = denied") == 0u);
  {
    auto w = must(db.begin_write());
    must(w.set_consent(9001, ConsentPurpose::kProfiling, denied("2024-01-01")));
    must(w.commit());
  }
  BOOST_TEST(count(db, "consent_profiling = denied") == 1u);
  BOOST_TEST(history(db, 9001).size() == 1u);
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(cli_consent_show_set_and_attack) {
  TempDir dir;
  const std::string path = dir.path().string();
  {
    auto db = open_db(Mode::kPlain, dir.path());
    must(db.insert_customer(sample_customer(1)));
    must(db.insert_customer(sample_customer(2)));
  }
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", path});
    return run_cli(args);
  };
  auto r = run({"consent", "1", "profiling", "denied", "--source", "branch 17", "--date", "2024-03-04"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "profiling denied 2024-03-04"), r);
  r = run({"consent", "1", "consent_sharing", "granted"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  r = run({"consent", "1"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "branch 17"), r);
  BOOST_TEST(contains(r.out, "third_party_sharing"), r);
  BOOST_TEST(contains(r.out, "history (3 changes"), r);  // email at insert, then two
  r = run({"--json", "consent", "1"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "\"profiling\""), r);
  BOOST_TEST(contains(r.out, "\"history\""), r);
  // Attacks: unknown purpose, unknown or missing state, control bytes, bad date, no customer.
  for (auto args : std::vector<std::vector<std::string>>{
           {"consent", "1", "marketing", "granted"},
           {"consent", "1", "profiling", "maybe"},
           {"consent", "1", "profiling", "unknown"},
           {"consent", "1", "profiling"},
           {"consent", "1", "profiling", "granted", "--date", "2024-02-30"},
           {"consent", "1", "--source", "x"}}) {
    r = run(args);
    BOOST_TEST(r.code == 2, r);
  }
  r = run({"consent", "1", "profiling", "granted", "--source", "evil\x1b]0;pwn\x07"});
  BOOST_TEST(r.code != 0, r);
  BOOST_TEST(r.err.find('\x1b') == std::string::npos, r);
  BOOST_TEST(contains(r.err, "source"), r);
  r = run({"consent", "77", "profiling", "granted"});
  BOOST_TEST(r.code == 1, r);
  r = run({"consent", "77"});
  BOOST_TEST(r.code == 1, r);
  // The refused ones changed nothing.
  {
    auto db = open_db(Mode::kPlain, dir.path());
    BOOST_TEST(history(db, 1).size() == 3u);
    BOOST_TEST(must(db.get_customer(1))->consent_profiling.state == ConsentState::kDenied);
  }
  // Export by purpose says what it left out.
  const std::string out = (dir.path() / "out.csv").string();
  r = run({"--reveal", "export", "customers", "--purpose", "third_party_sharing", "--out", out});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.out, "exported 1 customers"), r);
  BOOST_TEST(contains(r.out, "left out 1 without a granted consent for third_party_sharing"), r);
  r = run({"--reveal", "export", "customers", "--purpose", "email_marketing", "--segment",
           "consent_profiling = denied"});
  BOOST_TEST_REQUIRE(r.code == 0, r);
  BOOST_TEST(contains(r.err, "left out 0"), r);
  BOOST_TEST(contains(r.out, "Customer 1"), r);
  BOOST_TEST(!contains(r.out, "Customer 2"), r);
  r = run({"export", "customers", "--purpose", "nope"});
  BOOST_TEST(r.code == 2, r);
  r = run({"export", "transactions", "--purpose", "profiling"});
  BOOST_TEST(r.code == 2, r);
  r = run({"export", "customers", "--segment", "tier = "});
  BOOST_TEST(r.code == 2, r);
}

BOOST_AUTO_TEST_SUITE_END()
