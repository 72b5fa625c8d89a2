// custdb_feed_writer — the primary's writer process of tests/feed_kill_test.cc: random writes of
// several kinds, one write transaction at a time, until it is killed.
//
//   custdb_feed_writer DB SEED [--key-file FILE] [--pause-ms N] [--max-writes N] [--erase]
//
// DB must exist (the test creates it and enables the feed). Each write transaction does one to
// four random operations: insert a customer, update one, add / amend / remove a transaction,
// add a relationship, insert a holding or set its balance, set a consent, and (with --erase, about
// one transaction in 60) erase a customer in full (Database::erase_customer: erase + scrub).
// Refusals the data can cause (a relationship that exists, a customer erased meanwhile) abort
// that transaction and the writer goes on; any other error ends the process with exit code 1
// and the error on stderr, so the test sees it. After every commit it prints "ok N" (N: the
// commits of this process) — the test reads nothing from it but the count when it fails.
//
// SIGKILL at any moment is the point: every transaction is all-or-nothing in LMDB and in the
// feed (the entry is stored in the same LMDB transaction), so a restart continues from whatever
// committed. The ids it works on are re-read from the database at every start.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/privacy.h"
#include "random_data.h"

namespace {

using namespace custdb;
using namespace custdb::test;

[[noreturn]] void fail(const std::string& what, const Error& e) {
  std::fprintf(stderr, "custdb_feed_writer: %s: %s\n", what.c_str(), e.to_string().c_str());
  std::exit(1);
}

// Errors the random data can cause (and kBusy: the shipper holds the write lock to acknowledge
// past Options::busy_timeout): the transaction is dropped, the writer goes on.
bool expected_refusal(const Error& e) {
  return e.code() == ErrorCode::kAlreadyExists || e.code() == ErrorCode::kFailedPrecondition ||
         e.code() == ErrorCode::kBusy;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: custdb_feed_writer DB SEED [--key-file FILE] [--pause-ms N] "
                 "[--max-writes N] [--erase]\n");
    return 2;
  }
  const std::string path = argv[1];
  std::mt19937 r(static_cast<std::uint32_t>(std::stoul(argv[2])));
  Options options;
  int pause_ms = 3;
  long max_writes = -1;
  bool erase = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--key-file") {
      std::ifstream f(next(), std::ios::binary);
      std::vector<std::uint8_t> raw((std::istreambuf_iterator<char>(f)), {});
      auto key = KeyMaterial::from_raw_key(raw);
      if (!key) fail("key", key.error());
      options.key = *key;
    } else if (a == "--pause-ms") {
      pause_ms = std::stoi(next());
    } else if (a == "--max-writes") {
      max_writes = std::stol(next());
    } else if (a == "--erase") {
      erase = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto opened = Database::open(path, options);
  if (!opened) fail("open " + path, opened.error());
  Database db = std::move(*opened);

  std::vector<CustomerId> ids;
  {
    auto view = db.begin_read();
    if (!view) fail("begin_read", view.error());
    auto s = view->for_each_customer([&](const Customer& c) {
      ids.push_back(c.id);
      return true;
    });
    if (!s) fail("for_each_customer", s.error());
  }
  auto any_id = [&]() -> CustomerId { return ids.empty() ? 0 : ids[r() % ids.size()]; };

  long commits = 0;
  while (max_writes < 0 || commits < max_writes) {
    if (erase && !ids.empty() && r() % 60 == 0) {
      const std::size_t at = r() % ids.size();
      auto rep = db.erase_customer(ids[at], EraseMode::kFull);
      if (!rep && rep.error().code() == ErrorCode::kBusy) continue;
      if (!rep) fail("erase_customer", rep.error());
      ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(at));
      std::printf("ok %ld\n", ++commits);
      std::fflush(stdout);
      continue;
    }
    std::vector<CustomerId> added;
    auto txn = db.begin_write();
    if (!txn && txn.error().code() == ErrorCode::kBusy) continue;
    if (!txn) fail("begin_write", txn.error());
    const int ops = 1 + static_cast<int>(r() % 4 == 0 ? r() % 4 : 0);
    Status st;
    for (int k = 0; k < ops && st; ++k) {
      const CustomerId id = any_id();
      const unsigned kind = ids.size() < 5 ? 0 : r() % 10;
      switch (kind) {
        case 0: {
          auto got = txn->insert_customer(random_customer(r));
          if (!got) st = tl::unexpected<Error>(got.error());
          else added.push_back(*got);
          break;
        }
        case 1: {
          auto got = txn->update_customer(id, [&](Customer& c) {
            c.tier = static_cast<Tier>(r() % 5);
            c.address.city = pick(r, custdb::test::kCities);
            c.email = "u" + std::to_string(r() % 100000) + "@example.com";
          });
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        case 2:
        case 3: {
          auto got = txn->add_transaction(random_txn(r, id));
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        case 4: {
          auto txns = txn->transactions_of(id);
          if (!txns) { st = tl::unexpected<Error>(txns.error()); break; }
          if (txns->empty()) break;
          const TransactionId t = (*txns)[r() % txns->size()].id;
          if (r() % 3 == 0) {
            auto got = txn->remove_transaction(t);
            if (!got) st = tl::unexpected<Error>(got.error());
          } else {
            const std::int64_t amount = static_cast<std::int64_t>(r() % 100000);
            auto got = txn->amend_transaction(t, [&](Transaction& x) { x.amount = amount; });
            if (!got) st = tl::unexpected<Error>(got.error());
          }
          break;
        }
        case 5: {
          Relationship rel;
          rel.from = id;
          rel.to = any_id();
          if (rel.from == rel.to) break;
          rel.type = static_cast<RelationType>(r() % 4);
          auto got = txn->add_relationship(rel);
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        case 6: {
          Holding h;
          h.customer_id = id;
          h.product_type = ProductType::kDeposit;
          h.account_ref = "ACC-" + std::to_string(r());
          h.currency = "USD";
          h.balance = static_cast<std::int64_t>(r() % 1'000'000);
          h.opened_on = parse_date("2024-01-01");
          auto got = txn->insert_holding(h);
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        case 7: {
          auto hs = txn->holdings_of(id);
          if (!hs) { st = tl::unexpected<Error>(hs.error()); break; }
          if (hs->empty()) break;
          StatementBalance sb;
          sb.balance = static_cast<std::int64_t>(r() % 1'000'000);
          sb.as_of = parse_date("2026-01-01").value();
          auto got = txn->set_balance((*hs)[r() % hs->size()].id, sb);
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        case 8: {
          Consent c{static_cast<ConsentState>(1 + r() % 2), parse_date("2026-01-01")};
          auto got = txn->set_consent(id, static_cast<ConsentPurpose>(r() % kConsentPurposeCount), c);
          if (!got) st = tl::unexpected<Error>(got.error());
          break;
        }
        default: {
          auto got = txn->insert_customer(random_customer(r));
          if (!got) st = tl::unexpected<Error>(got.error());
          else added.push_back(*got);
        }
      }
    }
    if (!st) {
      if (!expected_refusal(st.error())) fail("write", st.error());
      continue;  // the destructor aborts
    }
    auto c = txn->commit();
    if (!c) fail("commit", c.error());
    ids.insert(ids.end(), added.begin(), added.end());
    std::printf("ok %ld\n", ++commits);
    std::fflush(stdout);
    if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  return 0;
}
