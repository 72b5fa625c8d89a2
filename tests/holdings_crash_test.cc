// Holdings work killed with SIGKILL (issue #18): a forked child keeps landing postings (adds,
// amends moving a posting between holdings, removes), importing statement balances (the
// engine's set_balance and `import balances`, all-or-nothing and in skip_bad batches) or
// importing holdings, and the parent kills it at a random moment once it has started. After
// every kill the database is consistent (check() clean: each holding's posted sums equal its
// postings, each customer's holding aggregates a recount), every write transaction is all or
// nothing (counts move by whole batches) and no balance is half-moved (a balance is its
// opening balance plus its postings, or exactly one statement's value).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include "custdb/io.h"
#include "test_util.h"

namespace custdb::test {
namespace {

namespace data = boost::unit_test::data;

constexpr int kCustomers = 12;
constexpr int kBatch = 5;        // postings per write transaction
constexpr int kImportBatch = 7;  // rows per transaction of a skip_bad import
constexpr int kRows = 30;        // holdings per holdings file

enum class Work { kPostings, kStatements, kBalancesImport, kBalancesImportBatched, kHoldingsImport,
                  kHoldingsImportBatched };
const char* name_of(Work w) {
  switch (w) {
    case Work::kPostings: return "postings";
    case Work::kStatements: return "statements";
    case Work::kBalancesImport: return "import balances";
    case Work::kBalancesImportBatched: return "import balances --skip-bad";
    case Work::kHoldingsImport: return "import holdings";
    case Work::kHoldingsImportBatched: return "import holdings --skip-bad";
  }
  return "?";
}
std::ostream& operator<<(std::ostream& os, Work w) { return os << name_of(w); }

// The opening balance of the holding with this id (as inserted by fill).
std::int64_t opening(HoldingId id) { return 10'000 + static_cast<std::int64_t>(id) * 37; }

// A statement's balance of holding `id` in round `j` (as_of = 2025-01-01 + j days).
std::int64_t statement_balance(HoldingId id, int j) {
  return 1'000'000 * j + static_cast<std::int64_t>(id);
}
Date statement_date(int j) { return *parse_date("2025-01-01") + std::chrono::days(j); }

// kCustomers customers, each with a deposit and a credit card in USD.
std::vector<Holding> fill(Mode m, const fs::path& dir) {
  Database db = open_db(m, dir);
  std::vector<Holding> out;
  must(db.write([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < kCustomers; ++i) {
      auto id = txn.insert_customer(sample_customer(i));
      if (!id) return tl::unexpected(id.error());
      for (ProductType t : {ProductType::kDeposit, ProductType::kCreditCard}) {
        Holding h;
        h.customer_id = *id;
        h.product_type = t;
        h.currency = "USD";
        h.opened_on = parse_date("2020-01-01");
        if (t == ProductType::kCreditCard) h.credit_limit = 500'000;
        h.account_ref = "ACC-" + std::to_string(i) + "-" + std::string(to_string(t));
        h.id = static_cast<HoldingId>(out.size() + 1);
        h.balance = opening(h.id);
        auto hid = txn.insert_holding(h);
        if (!hid) return tl::unexpected(hid.error());
        h.id = *hid;
        out.push_back(h);
      }
    }
    return {};
  }));
  require_clean(db);
  return out;
}

void write_balances_file(const fs::path& file, const std::vector<Holding>& holdings, int j) {
  std::ofstream out(file);
  out << "id,balance,as_of\n";
  for (const Holding& h : holdings) {
    const std::int64_t b = statement_balance(h.id, j);
    char amount[32];
    std::snprintf(amount, sizeof amount, "%lld.%02lld", static_cast<long long>(b / 100),
                  static_cast<long long>(b % 100));
    out << h.id << "," << amount << "," << format_date(statement_date(j)) << "\n";
  }
}

void write_holdings_file(const fs::path& file, int j) {
  std::ofstream out(file);
  out << "customer_id,product_type,product_code,account_ref,currency,balance,opened_on,status\n";
  for (int i = 0; i < kRows; ++i)
    out << 1 + (i * 5 + j) % kCustomers << "," << (i % 3 == 0 ? "fund" : i % 3 == 1 ? "savings" : "mortgage")
        << ",P" << i << ",IMP-" << j << "-" << i << ",USD," << (i + 1) << ".25,2021-02-03,"
        << (i % 4 == 0 ? "dormant" : "active") << "\n";
}

// Child: does the work in a loop until killed. Writes one byte to `ready` once its first round
// committed (so the kill lands in the middle of the work, after some of it).
[[noreturn]] void child(Mode m, const fs::path& dir, Work w, const std::vector<Holding>& holdings,
                        int ready, unsigned seed) {
  auto opened = Database::open(dir, options_for(m));
  if (!opened) ::_exit(2);
  Database& db = *opened;
  std::mt19937 r(seed);
  std::vector<TransactionId> posted;
  for (int j = 1;; ++j) {
    Status s;
    switch (w) {
      case Work::kPostings: {
        const int op = j % 4 == 0 && !posted.empty() ? static_cast<int>(r() % 2) + 1 : 0;
        s = db.write([&](WriteTxn& txn) -> Status {
          if (op == 0) {  // kBatch new postings
            for (int k = 0; k < kBatch; ++k) {
              const Holding& h = holdings[r() % holdings.size()];
              Transaction t = sample_txn(h.customer_id, 1 + static_cast<std::int64_t>(r() % 20'000),
                                         "2025-04-01T00:00:00Z");
              t.ts += std::chrono::seconds(j * kBatch + k);
              t.holding_id = h.id;
              auto id = txn.add_transaction(t);
              if (!id) return tl::unexpected(id.error());
              posted.push_back(*id);
            }
          } else if (op == 1) {  // move two postings to the customer's other holding
            for (int k = 0; k < 2; ++k) {
              const TransactionId id = posted[r() % posted.size()];
              auto done = txn.amend_transaction(id, [&](Transaction& t) {
                const HoldingId other = *t.holding_id % 2 ? *t.holding_id + 1 : *t.holding_id - 1;
                t.holding_id = other;
                t.amount += 3;
              });
              if (!done) return tl::unexpected(done.error());
            }
          } else {  // remove kBatch postings (fewer than kBatch left: none)
            if (posted.size() < kBatch) return {};
            for (int k = 0; k < kBatch; ++k) {
              const std::size_t at = r() % posted.size();
              auto done = txn.remove_transaction(posted[at]);
              if (!done) return tl::unexpected(done.error());
              posted.erase(posted.begin() + static_cast<std::ptrdiff_t>(at));
            }
          }
          return {};
        });
        // An aborted batch leaves `posted` naming ids never stored: start the list over.
        if (!s) posted.clear();
        break;
      }
      case Work::kStatements:
        s = db.write([&](WriteTxn& txn) -> Status {
          for (const Holding& h : holdings) {
            StatementBalance b;
            b.balance = statement_balance(h.id, j);
            b.as_of = statement_date(j);
            auto done = txn.set_balance(h.id, b);
            if (!done) return tl::unexpected(done.error());
          }
          return {};
        });
        break;
      case Work::kBalancesImport:
      case Work::kBalancesImportBatched: {
        const fs::path file = dir / ("balances-" + std::to_string(j) + ".csv");
        write_balances_file(file, holdings, j);
        io::ImportBalancesOptions o;
        o.import.skip_bad = w == Work::kBalancesImportBatched;
        o.import.batch = kImportBatch;
        auto rep = io::import_balances(db, file, io::Format::kCsv, o);
        if (!rep) ::_exit(10);
        if (rep->imported != holdings.size()) ::_exit(11);
        break;
      }
      case Work::kHoldingsImport:
      case Work::kHoldingsImportBatched: {
        const fs::path file = dir / ("holdings-" + std::to_string(j) + ".csv");
        write_holdings_file(file, j);
        io::ImportOptions o;
        o.skip_bad = w == Work::kHoldingsImportBatched;
        o.batch = kImportBatch;
        auto rep = io::import_file(db, io::Table::kHoldings, file, io::Format::kCsv, o);
        if (!rep) ::_exit(12);
        if (rep->imported != static_cast<std::uint64_t>(kRows)) ::_exit(13);
        break;
      }
    }
    if (!s) ::_exit(4);
    if (j == 1) {
      const char byte = 1;
      if (::write(ready, &byte, 1) != 1) ::_exit(3);
    }
  }
}

void round(Mode m, Work w, unsigned seed) {
  TempDir dir;
  const std::vector<Holding> holdings = fill(m, dir.path());
  int pipefd[2];
  BOOST_TEST_REQUIRE(::pipe(pipefd) == 0);
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    child(m, dir.path(), w, holdings, pipefd[1], seed);
  }
  ::close(pipefd[1]);
  char byte = 0;
  const bool started = ::read(pipefd[0], &byte, 1) == 1;
  ::close(pipefd[0]);
  // A random moment of the work (not a wait for anything: the kill lands wherever it lands).
  std::mt19937 r(seed);
  if (started) ::usleep(static_cast<useconds_t>(5'000 + r() % 120'000));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFSIGNALED(status),
                     w << ": the child exited by itself with " << WEXITSTATUS(status));
  BOOST_TEST_REQUIRE(started);

  Database db = open_db(m, dir.path());
  require_clean(db);
  {
  auto txn = must(db.begin_read());
  const TableCounts counts = must(txn.counts());
  std::map<HoldingId, Holding> now;
  must(txn.for_each_holding([&](const Holding& h) {
    now.emplace(h.id, h);
    return true;
  }));
  switch (w) {
    case Work::kPostings: {
      // Whole batches only, and every balance its opening balance plus its postings.
      BOOST_TEST(counts.transactions % kBatch == 0u, counts.transactions);
      BOOST_TEST(counts.holdings == holdings.size());
      std::uint64_t postings = 0;
      for (const Holding& h : holdings) {
        const Holding& x = now.at(h.id);
        BOOST_TEST(x.balance == opening(h.id) + x.posted, "holding " << h.id);
        BOOST_TEST(x.base_posted == x.posted);
        auto list = must(txn.postings_of(h.id));
        BOOST_TEST(list.size() == x.postings);
        postings += x.postings;
      }
      BOOST_TEST(postings == counts.transactions);
      BOOST_TEST(postings > 0u);  // the first round committed
      break;
    }
    case Work::kStatements:
    case Work::kBalancesImport:
    case Work::kBalancesImportBatched: {
      // Each balance is the opening one (round 0) or exactly round j's statement; rounds never
      // mix within a transaction: all-or-nothing gives one round for all, batches a prefix of
      // the file (ids in file order) one round ahead, cut at a batch boundary.
      std::vector<int> round_of;
      for (const Holding& h : holdings) {
        const Holding& x = now.at(h.id);
        int j = 0;
        if (x.balance_as_of) {
          j = static_cast<int>((*x.balance_as_of - statement_date(0)).count());
          BOOST_TEST(x.balance == statement_balance(h.id, j), "holding " << h.id);
        } else {
          BOOST_TEST(x.balance == opening(h.id), "holding " << h.id);
        }
        round_of.push_back(j);
      }
      const int first = round_of.front();
      BOOST_TEST(first >= 1);  // the first round committed
      std::size_t ahead = 0;
      while (ahead < round_of.size() && round_of[ahead] == first) ++ahead;
      for (std::size_t i = ahead; i < round_of.size(); ++i)
        BOOST_TEST(round_of[i] == first - 1, "holding " << holdings[i].id);
      if (ahead < round_of.size()) {
        BOOST_TEST(w == Work::kBalancesImportBatched, "a half-applied statement round");
        BOOST_TEST(ahead % kImportBatch == 0u, ahead);
      }
      break;
    }
    case Work::kHoldingsImport:
    case Work::kHoldingsImportBatched: {
      const std::uint64_t added = counts.holdings - holdings.size();
      BOOST_TEST(added >= static_cast<std::uint64_t>(kRows));  // the first file committed
      if (w == Work::kHoldingsImport) BOOST_TEST(added % kRows == 0u, added);
      else BOOST_TEST((added % kRows) % kImportBatch == 0u, added);
      // Imported holdings carry their file's balance; the opening ones are untouched.
      for (const auto& [id, h] : now) {
        if (id <= holdings.size()) BOOST_TEST(h.balance == opening(id));
        else BOOST_TEST(h.account_ref.rfind("IMP-", 0) == 0u, h.account_ref);
      }
      break;
    }
  }
  }
  // The database still takes work.
  must(db.write([&](WriteTxn& t) -> Status {
    Transaction x = sample_txn(holdings[0].customer_id, 100, "2026-01-01T00:00:00Z");
    x.holding_id = holdings[0].id;
    if (auto id = t.add_transaction(x); !id) return tl::unexpected(id.error());
    return {};
  }));
  require_clean(db);
}

BOOST_AUTO_TEST_SUITE(holdings_crash)

BOOST_DATA_TEST_CASE(killed_during_holdings_work,
                     kModes * data::make({Work::kPostings, Work::kStatements, Work::kBalancesImport,
                                          Work::kBalancesImportBatched, Work::kHoldingsImport,
                                          Work::kHoldingsImportBatched}) *
                         data::xrange(3),
                     m, w, i) {
  round(m, w, 1000u + static_cast<unsigned>(i) * 7919u + static_cast<unsigned>(w) * 31u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace custdb::test
