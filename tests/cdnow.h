// The CDNOW sample (tests/fixtures/cdnow: master id, sample id, yyyymmdd, CDs, dollars) loaded
// through the public API, shared by the analytics tests.
#pragma once

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "custdb/database.h"
#include "test_util.h"

namespace custdb::test {

// The non-empty lines of a text file, CR of CRLF removed.
inline std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// CDNOW_sample.txt as customers keyed by sample id and purchases in cents, every amount
// multiplied by `sign` (-1: a ledger that books purchases negative).
inline void import_cdnow_sample(Database& db, int sign = 1) {
  using namespace std::chrono;
  auto w = must(db.begin_write());
  std::map<CustomerId, bool> seen;
  for (const auto& line : lines_of(CUSTDB_FIXTURE_DIR "/cdnow/CDNOW_sample.txt")) {
    std::istringstream fields(line);
    std::string master, sample, date, cds, dollars;
    fields >> master >> sample >> date >> cds >> dollars;
    CustomerId id = std::stoull(sample);
    if (!seen[id]) {
      Customer c;
      c.id = id;
      c.external_ref = master;
      c.name = "CDNOW " + master;
      must(w.insert_customer(c));
      seen[id] = true;
    }
    Transaction t;
    t.customer_id = id;
    t.ts = time_point_cast<milliseconds>(
        sys_days{year{std::stoi(date.substr(0, 4))} / std::stoi(date.substr(4, 2)) /
                 std::stoi(date.substr(6, 2))});
    auto dot = dollars.find('.');
    t.amount = std::stoll(dollars.substr(0, dot)) * 100 +
               (dot == std::string::npos ? 0 : std::stoll((dollars.substr(dot + 1) + "00").substr(0, 2)));
    t.amount *= sign;
    t.currency = "USD";
    t.kind = TransactionKind::kPurchase;
    t.channel = Channel::kWeb;
    t.product = cds + " CDs";
    must(w.add_transaction(t));
  }
  must(w.commit());
}

}  // namespace custdb::test
