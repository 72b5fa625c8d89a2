// Seams between the privacy features (issue #16), found by breaker B2: each case is a finding
// fixed in this branch.
#include <fstream>
#include <sstream>

#include "custdb/io.h"
#include "custdb/key.h"
#include "program.h"
#include "test_util.h"

namespace custdb::test {
namespace {

struct Cli {
  fs::path db;
  std::vector<std::string> globals;
  ProgramResult run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", db.string()});
    args.insert(args.end(), globals.begin(), globals.end());
    return run_cli(args, RunOptions{});
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(privacy_seams)

// CLI11's integer conversion read "010" as octal 8, "0x1" as 1, "+5" and " 5" as 5: `get 010`
// showed customer 8 and `consent 010 ...` changed customer 8's consent. Every command taking a
// customer id now parses it as erase does (parse_customer_id_arg): usage error, exit 2.
BOOST_AUTO_TEST_CASE(customer_ids_are_strict_decimal_in_every_command) {
  TempDir dir;
  Cli c{dir.path() / "db", {}};
  BOOST_TEST_REQUIRE(c.run({"init"}).code == 0);
  {
    auto db = Database::open(c.db, options_for(Mode::kPlain));
    BOOST_TEST_REQUIRE(db.has_value());
    for (int i = 1; i <= 10; ++i) must(db->insert_customer(sample_customer(i)));
  }
  auto history_sizes = [&] {
    auto db = Database::open(c.db, options_for(Mode::kPlain));
    auto r = must(db->begin_read());
    std::vector<std::size_t> n;
    for (CustomerId id = 1; id <= 10; ++id) n.push_back(must(r.consent_history(id)).size());
    return n;
  };
  const auto before = history_sizes();
  for (const std::string bad : {"010", "+5", "0x1", " 5", "5 ", "-1", "0", "1e1"}) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"get", bad}, {"history", bad}, {"related", bad},
          {"subject-export", bad}, {"consent", bad}, {"consent", bad, "email_marketing", "denied"},
          {"audit", "--subject", bad}, {"erase", bad}}) {
      auto r = c.run(args);
      BOOST_TEST(r.code == 2, args.front() << " '" << bad << "': " << r);
    }
  }
  BOOST_TEST(c.run({"get", "10"}).code == 0);
  BOOST_TEST(c.run({"history", "8"}).code == 0);
  BOOST_TEST(c.run({"consent", "8"}).code == 0);
  BOOST_TEST(c.run({"audit", "--subject", "8"}).code == 0);
  // Nothing was changed by the refused consent commands.
  BOOST_TEST(history_sizes() == before);
}

// `export --segment Q [--purpose P] --reveal` was recorded as "rows=all" with the table's
// customer count: the trail said every customer was revealed and kept neither the segment nor
// the purpose. Now the segment (personal operands as '?') and purpose are recorded, and the
// count is the segment's.
BOOST_AUTO_TEST_CASE(a_segment_export_is_recorded_as_the_segment_not_all_rows) {
  TempDir dir;
  Cli c{dir.path() / "db", {}};
  BOOST_TEST_REQUIRE(c.run({"init"}).code == 0);
  {
    auto db = Database::open(c.db, options_for(Mode::kPlain));
    BOOST_TEST_REQUIRE(db.has_value());
    for (int i = 1; i <= 10; ++i) must(db->insert_customer(sample_customer(i)));
  }
  auto r1 = c.run({"export", "customers", "--reveal", "--segment", "region = east and city = Springfield",
                   "--out", (dir.path() / "a.csv").string()});
  BOOST_TEST_REQUIRE(r1.code == 0, r1);
  auto r2 = c.run({"export", "customers", "--purpose", "email_marketing",
                   "--out", (dir.path() / "b.csv").string()});
  BOOST_TEST_REQUIRE(r2.code == 0, r2);
  BOOST_TEST(c.run({"export", "customers", "--segment", "tier =", "--out",
                    (dir.path() / "c.csv").string()}).code == 2);
  Options o;
  o.read_only = true;
  auto db = Database::open(c.db, options_for(Mode::kPlain, o));
  auto log = must(must(db->begin_read()).audit_log());
  BOOST_TEST_REQUIRE(log.size() == 2u);
  BOOST_TEST(log[0].event.command == "export --reveal");
  BOOST_TEST(log[0].event.count == 5u);  // the odd ids: region east
  BOOST_TEST(log[0].event.detail.find("rows=segment") != std::string::npos, log[0].event.detail);
  BOOST_TEST(log[0].event.detail.find("rows=all") == std::string::npos, log[0].event.detail);
  BOOST_TEST(log[0].event.detail.find("Springfield") == std::string::npos, log[0].event.detail);
  BOOST_TEST(log[1].event.detail.find("purpose=email_marketing") != std::string::npos,
             log[1].event.detail);
}

// Under an analyst key `export transactions` wrote the (undecryptable) description column as
// an empty field, which reads as "no memo"; `custdb history` and the customers' personal
// columns say "(unavailable)". Now the export says so too.
BOOST_AUTO_TEST_CASE(analyst_transactions_export_marks_descriptions_unavailable) {
  TempDir dir;
  {
    Database db = open_db(Mode::kEncrypted, dir.path());
    const CustomerId id = must(db.insert_customer(sample_customer(1)));
    Transaction t = sample_txn(id, 12500, "2025-03-01T10:00:00Z");
    t.description = "memo secret 7788";
    must(db.add_transaction(t));
    must(db.add_analyst_key(*test_key(9)));
  }
  Options o;
  o.key = test_key(9);
  o.create_if_missing = false;
  auto db = Database::open(dir.path(), o);
  BOOST_TEST_REQUIRE(db.has_value(), (db ? "" : db.error().to_string()));
  BOOST_TEST_REQUIRE((db->info().role == KeyRole::kAnalyst));
  std::ostringstream out;
  must(io::export_table(*db, io::Table::kTransactions, out, io::Format::kCsv, io::ExportOptions{}));
  BOOST_TEST(out.str().find("memo secret") == std::string::npos, out.str());
  BOOST_TEST(out.str().find(",(unavailable),") != std::string::npos, out.str());
}

// set_consent with a date before the current state's date replaced it: a grant dated 2020
// typed in after a 2026 refusal made the customer exportable for email marketing again. Now
// kInvalidArgument, nothing written; a change on or after the current date still applies.
BOOST_AUTO_TEST_CASE(a_backdated_consent_does_not_override_a_later_one) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir.path());
  const CustomerId id = must(db.insert_customer(sample_customer(1)));  // email granted 2024-05-01
  auto set = [&](Consent k) -> Result<bool> {
    auto w = must(db.begin_write());
    auto r = w.set_consent(id, ConsentPurpose::kEmailMarketing, k);
    if (r) must(w.commit());
    return r;
  };
  must(set(Consent{ConsentState::kDenied, parse_date("2026-03-01"), "web"}));
  auto before = must(must(db.begin_read()).consent_history(id)).size();
  auto r = set(Consent{ConsentState::kGranted, parse_date("2020-01-01"), "paper"});
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error().code() == ErrorCode::kInvalidArgument));
  auto c = must(db.get_customer(id));
  BOOST_TEST((c->consent_email.state == ConsentState::kDenied));
  BOOST_TEST(must(must(db.begin_read()).consent_history(id)).size() == before);
  BOOST_TEST(must(set(Consent{ConsentState::kGranted, parse_date("2026-03-01"), "web"})));
  BOOST_TEST((must(db.get_customer(id))->consent_email.state == ConsentState::kGranted));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
