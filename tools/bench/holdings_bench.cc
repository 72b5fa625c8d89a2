// Suite "holdings" (issue #18): what holdings cost and what they answer, custdb against SQLite
// (WAL) and DuckDB on the same synthetic base (fixed seed): customers (synthetic.h), their
// holdings (Generator::holdings: deposits, savings, funds, cards, loans, mortgages, some in CAD
// and EUR) and --txns transactions each.
//
//  * Landing a transaction that also moves a holding's balance (the ledger mode), against a
//    landing without one: custdb's add_transaction with holding_id (the holding read and
//    checked, its balance and posted sums moved, the customer's aggregates, aum or
//    liabilities and their index slices moved, the kTxnByHolding entry written) against
//    SQLite doing the same work by hand: read the holding (customer, status, currency, type),
//    insert the transaction, update the holding's balance and posted sums, update the
//    customer's aggregates and aum / liabilities (every index on them moves). Durable (fsync
//    at each commit: SyncMode::kFull, synchronous = FULL) and relaxed (kNone, OFF), kLandings
//    a run, kLandingBatch a commit, on random customers with an open holding in the base
//    currency.
//  * Segments over holdings, count and ids (one snapshot): the cross-sell segment
//    `tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage) and not
//    holds(credit_card)` and three more. SQLite: the customers table keeps aum, liabilities
//    and products as columns (maintained like total_amount) with an index each, holdings
//    indexed by (product_type, customer_id); holds() is EXISTS over holdings. DuckDB
//    (--duckdb PATH or $CUSTDB_DUCKDB_LIB; skipped without): the holdings by its appender, the
//    customers' aum / liabilities / products derived from them by one INSERT ... SELECT (so its
//    figures recount what the other two maintain), the same WHERE clauses.
//
// Every engine must give the same counts and id lists (before and after the landings, which
// move aum), and custdb and SQLite the same balances of the holdings the landings touched; a
// difference is printed and makes the exit status 1.
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/money.h"
#include "custdb/query.h"
#include "duckdb_engine.h"
#include "engine/holding_math.h"
#include "sql_api.h"
#include "sql_engine.h"
#include "synthetic.h"
#include "workload.h"

namespace custdb::bench {
namespace {

constexpr int kLandings = 10'000;     // landings a run
constexpr int kLandingBatch = 1'000;  // landings a commit
constexpr const char* kBase = "USD";

struct HoldingsSegment {
  std::string name, query, sql_where;  // sql_where over customers c (and holdings h)
};

std::string holds_sql(int type, const std::string& extra = "") {
  return "EXISTS (SELECT 1 FROM holdings h WHERE h.customer_id = c.id AND h.product_type = " +
         std::to_string(type) + " AND h.status != 2" + extra + ")";
}

std::vector<HoldingsSegment> holdings_segments() {
  return {
      {"cross-sell",
       "tier in (gold, platinum) and aum >= 500000.00 and holds(mortgage) and not holds(credit_card)",
       "c.tier IN (2, 3) AND c.aum >= 50000000 AND " + holds_sql(7) + " AND NOT " + holds_sql(5)},
      {"aum range", "aum >= 1000000.00", "c.aum >= 100000000"},
      {"holds with a balance", "holds(fund, balance >= 100000.00)", holds_sql(3, " AND h.base_balance >= 10000000")},
      {"products + liabilities", "products >= 3 and liabilities > 0", "c.products >= 3 AND c.liabilities > 0"},
  };
}

// The base: for each customer its holdings (ids given: 1.. in load order, the same in every
// engine) and the open base-currency holding a landing may post to (0: none).
struct Base {
  std::vector<HoldingId> landing_holding;  // by customer id (index 0 unused)
  std::uint64_t holdings = 0;
};

// Calls fn(customer, holdings with ids, transactions) for customers 1..a.customers in order.
template <class Fn>
void generate(const Args& a, Base& base, Fn&& fn) {
  synthetic::Generator gen;
  base.landing_holding.assign(a.customers + 1, 0);
  HoldingId next = 1;
  for (std::uint64_t i = 1; i <= a.customers; ++i) {
    Customer c = gen.customer(i);
    std::vector<Holding> hs = gen.holdings(c, kBase);
    for (Holding& h : hs) {
      h.id = next++;
      if (!base.landing_holding[i] && h.status != HoldingStatus::kClosed && h.currency == kBase)
        base.landing_holding[i] = h.id;
    }
    base.holdings += hs.size();
    fn(std::move(c), std::move(hs), gen.transactions(i, a.txns_per_customer));
  }
}

// kLandings transactions of random customers with a landing holding, each posted to it
// (with_holding) or not. Deterministic per run.
std::vector<Transaction> landings(const Args& a, const Base& base, bool with_holding, int run) {
  synthetic::Generator gen(synthetic::Params{static_cast<std::uint64_t>(1000 + run)});
  std::mt19937_64 rng(77 + static_cast<std::uint64_t>(run) * 2 + (with_holding ? 1 : 0));
  std::vector<Transaction> out;
  out.reserve(kLandings);
  while (out.size() < static_cast<std::size_t>(kLandings)) {
    const CustomerId id = 1 + rng() % a.customers;
    if (!base.landing_holding[id]) continue;
    Transaction t = std::move(gen.transactions(id, 1)[0]);
    t.currency = kBase;
    if (with_holding) t.holding_id = base.landing_holding[id];
    out.push_back(std::move(t));
  }
  return out;
}

struct SegAnswer {
  std::uint64_t count = 0, id_digest = 0;
  double count_rate = 0, ids_rate = 0;
};
struct EngineResult {
  std::vector<SegAnswer> before, after;  // segments before and after the landings
  std::map<std::string, double> land;    // "plain_durable", "holding_durable", ...
  AmountSum touched_balances = 0;        // sum of the balances the landings moved
  double load_seconds = 0;
};

std::uint64_t digest(const std::vector<CustomerId>& ids) {
  std::uint64_t h = ids.size();
  for (CustomerId id : ids) h = h * 0x9E3779B97F4A7C15ull + id;
  return h;
}

bool g_mismatch = false;
void compare(const std::string& what, std::uint64_t want, std::uint64_t got, const std::string& engine) {
  if (want == got) return;
  g_mismatch = true;
  std::fprintf(stderr, "MISMATCH %s: %s is %llu, custdb gave %llu\n", engine.c_str(), what.c_str(),
               static_cast<unsigned long long>(got), static_cast<unsigned long long>(want));
}

std::set<HoldingId> touched(const Args& a, const Base& base) {
  std::set<HoldingId> out;
  for (int run = 0; run < a.runs; ++run)
    for (const auto& t : landings(a, base, true, run)) out.insert(*t.holding_id);
  return out;
}

// ---- custdb ----

std::vector<SegAnswer> segments_custdb(Database& db, const Args& a) {
  std::vector<SegAnswer> out;
  auto read = db.begin_read();
  if (!read) die("read", read.error());
  const SegmentOptions so{as_of()};
  for (const auto& seg : holdings_segments()) {
    auto q = query::parse(seg.query);
    if (!q) die(seg.query, q.error());
    SegAnswer r;
    std::vector<double> counts, lists;
    for (int run = 0; run < a.runs; ++run) {
      counts.push_back(rate([&] {
        auto n = read->count(*q, so);
        if (!n) die(seg.query, n.error());
        r.count = *n;
      }));
      lists.push_back(rate([&] {
        auto ids = read->ids(*q, so);
        if (!ids) die(seg.query, ids.error());
        r.id_digest = digest(*ids);
      }));
    }
    r.count_rate = median(counts);
    r.ids_rate = median(lists);
    out.push_back(r);
  }
  return out;
}

EngineResult run_custdb(const Args& a, Base& base) {
  const fs::path path = a.dir / "custdb-holdings";
  EngineResult res;
  {
    Database db = open_custdb(path, false, SyncMode::kNoMetaSync);
    Progress progress("custdb", a.customers);
    auto t0 = Clock::now();
    std::optional<WriteTxn> w;
    std::uint64_t in_batch = 0;
    generate(a, base, [&](Customer c, std::vector<Holding> hs, std::vector<Transaction> txns) {
      if (!w) {
        auto b = db.begin_write();
        if (!b) die("begin", b.error());
        w.emplace(std::move(*b));
      }
      const CustomerId id = c.id;
      if (auto r = w->insert_customer(std::move(c)); !r) die("insert customer", r.error());
      for (auto& h : hs)
        if (auto r = w->insert_holding(std::move(h)); !r) die("insert holding", r.error());
      for (auto& t : txns)
        if (auto r = w->add_transaction(std::move(t)); !r) die("transaction", r.error());
      if (++in_batch == kLoadBatch || id == a.customers) {
        if (auto s = w->commit(); !s) die("commit", s.error());
        w.reset();
        in_batch = 0;
        progress.update(id);
      }
    });
    res.load_seconds = seconds_since(t0);
    res.before = segments_custdb(db, a);
  }
  for (int d = 0; d < 2; ++d) {
    Database db = open_custdb(path, false, d == 0 ? SyncMode::kFull : SyncMode::kNone, false);
    for (bool with : {false, true}) {
      std::vector<double> rates;
      for (int run = 0; run < a.runs; ++run) {
        auto land = landings(a, base, with, run);
        auto t = Clock::now();
        for (int first = 0; first < kLandings; first += kLandingBatch) {
          auto w = db.begin_write();
          if (!w) die("begin", w.error());
          for (int i = first; i < first + kLandingBatch; ++i)
            if (auto r = w->add_transaction(std::move(land[i])); !r) die("landing", r.error());
          if (auto c = w->commit(); !c) die("commit", c.error());
        }
        rates.push_back(kLandings / seconds_since(t));
      }
      res.land[std::string(with ? "holding" : "plain") + (d == 0 ? "_durable" : "_relaxed")] = median(rates);
    }
  }
  Database db = open_custdb(path, false, SyncMode::kNoMetaSync, false);
  res.after = segments_custdb(db, a);
  auto read = db.begin_read();
  if (!read) die("read", read.error());
  for (HoldingId id : touched(a, base)) {
    auto h = read->get_holding(id);
    if (!h || !*h) die("get_holding", h ? Error(ErrorCode::kInternal, "missing") : h.error());
    res.touched_balances += (*h)->balance;
  }
  fs::remove_all(path);
  return res;
}

// ---- SQLite ----

void create_holdings_schema(SqlDb& db) {
  create_schema(db);
  db.exec("ALTER TABLE customers ADD COLUMN aum INT DEFAULT 0;"
          "ALTER TABLE customers ADD COLUMN liabilities INT DEFAULT 0;"
          "ALTER TABLE customers ADD COLUMN products INT DEFAULT 0;"
          "ALTER TABLE transactions ADD COLUMN holding_id INT;"
          "CREATE INDEX customers_aum ON customers(aum);"
          "CREATE INDEX customers_liabilities ON customers(liabilities);"
          "CREATE INDEX customers_products ON customers(products);"
          "CREATE INDEX txn_holding ON transactions(holding_id);"
          "CREATE TABLE holdings (id INTEGER PRIMARY KEY, customer_id INT, product_type INT, "
          "  custom_type TEXT, product_code TEXT, account_ref TEXT, currency TEXT, balance INT, "
          "  base_balance INT, credit_limit INT, opened_on INT, closed_on INT, status INT, "
          "  posted INT, base_posted INT, postings INT);"
          "CREATE INDEX holdings_customer ON holdings(customer_id);"
          "CREATE INDEX holdings_type ON holdings(product_type, customer_id);"
          "CREATE UNIQUE INDEX holdings_ref ON holdings(account_ref);");
}

std::vector<SegAnswer> segments_sql(SqlDb& db, const Args& a) {
  std::vector<SegAnswer> out;
  db.exec("BEGIN");
  for (const auto& seg : holdings_segments()) {
    SqlDb::Stmt count(db, "SELECT count(*) FROM customers c WHERE " + seg.sql_where);
    SqlDb::Stmt ids(db, "SELECT c.id FROM customers c WHERE " + seg.sql_where + " ORDER BY c.id");
    SegAnswer r;
    std::vector<double> counts, lists;
    for (int run = 0; run < a.runs; ++run) {
      counts.push_back(rate([&] {
        count.row();
        r.count = static_cast<std::uint64_t>(count.col(0));
        count.reset();
      }));
      lists.push_back(rate([&] {
        std::vector<CustomerId> v;
        while (ids.row()) v.push_back(static_cast<CustomerId>(ids.col(0)));
        ids.reset();
        r.id_digest = digest(v);
      }));
    }
    r.count_rate = median(counts);
    r.ids_rate = median(lists);
    out.push_back(r);
  }
  db.exec("COMMIT");
  return out;
}

// A landing as custdb does it, by hand: the holding read and checked, the transaction inserted,
// the holding's balance and posted sums moved, the customer's aggregates and aum / liabilities
// moved.
class SqlLander {
 public:
  explicit SqlLander(SqlDb& db)
      : holding_(db, "SELECT customer_id, status, currency, product_type FROM holdings WHERE id = ?1"),
        txn_(db, "INSERT INTO transactions (customer_id, ts, amount, currency, base_amount, kind, "
                 "channel, product, description, holding_id) VALUES (?,?,?,?,?,?,?,?,?,?)"),
        move_(db, "UPDATE holdings SET balance = balance + ?2, base_balance = base_balance + ?3, "
                  "posted = posted + ?2, base_posted = base_posted + ?3, postings = postings + 1 "
                  "WHERE id = ?1"),
        agg_(db, "UPDATE customers SET txn_count = txn_count + 1, total_amount = total_amount + ?2, "
                 "first_txn_at = min(coalesce(first_txn_at, ?3), ?3), "
                 "last_txn_at = max(coalesce(last_txn_at, ?3), ?3), "
                 "aum = aum + ?4, liabilities = liabilities + ?5 WHERE id = ?1") {}

  void land(const Transaction& t) {
    const long long cid = static_cast<long long>(t.customer_id), ts = t.ts.time_since_epoch().count();
    const std::int64_t base = t.base_amount.value_or(t.amount);
    std::int64_t aum = 0, liabilities = 0;
    if (t.holding_id) {
      holding_.bind(1, static_cast<long long>(*t.holding_id));
      if (!holding_.row() || holding_.col(0) != cid || holding_.col(1) == 2 || holding_.text(2) != t.currency)
        throw std::runtime_error("sqlite landing: bad holding " + std::to_string(*t.holding_id));
      const auto cls = class_of(static_cast<ProductType>(holding_.col(3)));
      holding_.reset();
      (cls == ProductClass::kAsset ? aum : cls == ProductClass::kLiability ? liabilities : aum) +=
          cls == ProductClass::kOther ? 0 : base;
    }
    txn_.bind(1, cid).bind(2, ts).bind(3, t.amount).bind(4, t.currency).bind(5, base)
        .bind(6, static_cast<int>(t.kind)).bind(7, static_cast<int>(t.channel)).bind(8, t.product)
        .bind(9, t.description);
    if (t.holding_id) txn_.bind(10, static_cast<long long>(*t.holding_id)); else txn_.bind_null(10);
    txn_.run();
    if (t.holding_id) move_.bind(1, static_cast<long long>(*t.holding_id)).bind(2, t.amount).bind(3, base).run();
    agg_.bind(1, cid).bind(2, base).bind(3, ts).bind(4, aum).bind(5, liabilities).run();
  }

 private:
  SqlDb::Stmt holding_, txn_, move_, agg_;
};

EngineResult run_sqlite(const Args& a, const SqlApi& api, Base& base) {
  const fs::path path = a.dir / "sqlite-holdings.db";
  EngineResult res;
  auto db = open_sql(api, path, false, "NORMAL");
  create_holdings_schema(*db);
  {
    SqlWriter w(*db);
    SqlLander lander(*db);
    SqlDb::Stmt hold(*db, "INSERT INTO holdings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,0)");
    SqlDb::Stmt agg(*db, "UPDATE customers SET aum = ?2, liabilities = ?3, products = ?4 WHERE id = ?1");
    Progress progress("SQLite", a.customers);
    auto t0 = Clock::now();
    db->exec("BEGIN");
    generate(a, base, [&](Customer c, std::vector<Holding> hs, std::vector<Transaction> txns) {
      w.customer(c, std::nullopt);
      for (auto& h : hs) {
        if (!h.base_balance) h.base_balance = h.balance;  // as custdb decodes it
        hold.bind(1, static_cast<long long>(h.id)).bind(2, static_cast<long long>(h.customer_id))
            .bind(3, static_cast<int>(h.product_type)).bind(4, h.custom_type).bind(5, h.product_code)
            .bind(6, h.account_ref).bind(7, h.currency).bind(8, h.balance).bind(9, *h.base_balance);
        if (h.credit_limit) hold.bind(10, *h.credit_limit); else hold.bind_null(10);
        hold.bind(11, h.opened_on->time_since_epoch().count());
        if (h.closed_on) hold.bind(12, h.closed_on->time_since_epoch().count()); else hold.bind_null(12);
        hold.bind(13, static_cast<int>(h.status)).run();
      }
      const HoldingAggregates g = detail::holding_aggregates(hs);
      agg.bind(1, static_cast<long long>(c.id)).bind(2, g.aum).bind(3, g.liabilities)
          .bind(4, static_cast<long long>(g.products)).run();
      for (auto& t : txns) lander.land(t);
      if (c.id % kLoadBatch == 0 || c.id == a.customers) {
        db->exec("COMMIT");
        progress.update(c.id);
        if (c.id != a.customers) db->exec("BEGIN");
      }
    });
    db->exec("ANALYZE;");
    res.load_seconds = seconds_since(t0);
  }
  res.before = segments_sql(*db, a);
  {
    SqlLander lander(*db);
    for (int d = 0; d < 2; ++d) {
      db->exec(d == 0 ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = OFF;");
      for (bool with : {false, true}) {
        std::vector<double> rates;
        for (int run = 0; run < a.runs; ++run) {
          auto land = landings(a, base, with, run);
          auto t = Clock::now();
          for (int first = 0; first < kLandings; first += kLandingBatch) {
            db->exec("BEGIN");
            for (int i = first; i < first + kLandingBatch; ++i) lander.land(land[i]);
            db->exec("COMMIT");
          }
          rates.push_back(kLandings / seconds_since(t));
        }
        res.land[std::string(with ? "holding" : "plain") + (d == 0 ? "_durable" : "_relaxed")] = median(rates);
      }
    }
  }
  res.after = segments_sql(*db, a);
  {
    SqlDb::Stmt bal(*db, "SELECT balance FROM holdings WHERE id = ?1");
    for (HoldingId id : touched(a, base)) {
      bal.bind(1, static_cast<long long>(id));
      if (!bal.row()) throw std::runtime_error("sqlite: holding missing");
      res.touched_balances += bal.col(0);
      bal.reset();
    }
  }
  db.reset();
  remove_sql_files(path);
  return res;
}

// ---- DuckDB (reads only) ----

std::optional<EngineResult> run_duckdb(const Args& a, Base& base) {
  const std::string lib = duckdb_library(a);
  if (lib.empty()) {
    std::fprintf(stderr, "duckdb: skipped (no --duckdb PATH and no CUSTDB_DUCKDB_LIB)\n");
    return std::nullopt;
  }
  static DuckApi api = DuckApi::load(lib);
  const fs::path path = a.dir / "duckdb-holdings.duckdb";
  fs::remove(path);
  fs::remove(path.string() + ".wal");
  EngineResult res;
  {
    DuckDb db(api, path.string(), {{"threads", kDuckThreads}});
    db.exec("CREATE TABLE staging (id BIGINT, tier INTEGER, region VARCHAR);"
            "CREATE TABLE holdings (id BIGINT PRIMARY KEY, customer_id BIGINT, product_type INTEGER, "
            "  currency VARCHAR, balance BIGINT, base_balance BIGINT, opened_on INTEGER, status INTEGER);");
    auto t0 = Clock::now();
    {
      DuckDb::Appender cust(db, "staging"), hold(db, "holdings");
      generate(a, base, [&](Customer c, std::vector<Holding> hs, std::vector<Transaction>) {
        cust.num(static_cast<long long>(c.id)).num(static_cast<int>(c.tier)).text(c.address.region).end();
        for (const Holding& h : hs) {
          hold.num(static_cast<long long>(h.id)).num(static_cast<long long>(h.customer_id))
              .num(static_cast<int>(h.product_type)).text(h.currency).num(h.balance)
              .num(h.base_balance.value_or(h.balance)).num(h.opened_on->time_since_epoch().count())
              .num(static_cast<int>(h.status));
          hold.end();
        }
      });
      cust.close();
      hold.close();
    }
    // aum, liabilities, products derived from the holdings (HoldingAggregates' definition).
    db.exec("CREATE TABLE customers AS SELECT s.id, s.tier, s.region, "
            "  CAST(coalesce(sum(h.base_balance) FILTER (WHERE h.status != 2 AND h.product_type <= 4), 0) AS BIGINT) AS aum, "
            "  CAST(coalesce(sum(h.base_balance) FILTER (WHERE h.status != 2 AND h.product_type BETWEEN 5 AND 7), 0) AS BIGINT) AS liabilities, "
            "  CAST(count(h.id) FILTER (WHERE h.status = 0) AS BIGINT) AS products "
            "FROM staging s LEFT JOIN holdings h ON h.customer_id = s.id GROUP BY s.id, s.tier, s.region;"
            "DROP TABLE staging; CREATE INDEX holdings_customer ON holdings(customer_id); CHECKPOINT;");
    res.load_seconds = seconds_since(t0);
    for (const auto& seg : holdings_segments()) {
      DuckDb::Stmt count(db, "SELECT count(*) FROM customers c WHERE " + seg.sql_where);
      DuckDb::Stmt ids(db, "SELECT c.id FROM customers c WHERE " + seg.sql_where + " ORDER BY c.id");
      SegAnswer r;
      std::vector<double> counts, lists;
      for (int run = 0; run < a.runs; ++run) {
        counts.push_back(rate([&] { count.each([&](const DuckRow& row) { r.count = static_cast<std::uint64_t>(row.col(0)); }); }));
        lists.push_back(rate([&] {
          std::vector<CustomerId> v;
          ids.each([&](const DuckRow& row) { v.push_back(static_cast<CustomerId>(row.col(0))); });
          r.id_digest = digest(v);
        }));
      }
      r.count_rate = median(counts);
      r.ids_rate = median(lists);
      res.before.push_back(r);
    }
  }
  fs::remove(path);
  fs::remove(path.string() + ".wal");
  return res;
}

}  // namespace

int run_holdings(const Args& a) {
  SqlApi sqlite = SqlApi::load("libsqlite3.so.0");
  Base base;
  std::printf("Holdings (issue #18): %llu customers, %d transactions each; rates are medians of %d "
              "runs; SQLite %s\n\n",
              static_cast<unsigned long long>(a.customers), a.txns_per_customer, a.runs, sqlite.libversion());
  EngineResult cd = run_custdb(a, base);
  std::fprintf(stderr, "custdb done (%llu holdings)\n", static_cast<unsigned long long>(base.holdings));
  EngineResult sq = run_sqlite(a, sqlite, base);
  std::fprintf(stderr, "SQLite done\n");
  std::optional<EngineResult> dk = run_duckdb(a, base);
  auto segs = holdings_segments();
  for (std::size_t i = 0; i < segs.size(); ++i) {
    compare("count of " + segs[i].query, cd.before[i].count, sq.before[i].count, "SQLite");
    compare("ids of " + segs[i].query, cd.before[i].id_digest, sq.before[i].id_digest, "SQLite");
    compare("count after landings of " + segs[i].query, cd.after[i].count, sq.after[i].count, "SQLite");
    compare("ids after landings of " + segs[i].query, cd.after[i].id_digest, sq.after[i].id_digest, "SQLite");
    if (dk) {
      compare("count of " + segs[i].query, cd.before[i].count, dk->before[i].count, "DuckDB");
      compare("ids of " + segs[i].query, cd.before[i].id_digest, dk->before[i].id_digest, "DuckDB");
    }
  }
  if (cd.touched_balances != sq.touched_balances) {
    g_mismatch = true;
    std::fprintf(stderr, "MISMATCH SQLite: the balances the landings moved sum to %s, custdb's to %s\n",
                 format_amount(sq.touched_balances, kBase).c_str(), format_amount(cd.touched_balances, kBase).c_str());
  }

  std::printf("Load: %llu holdings; custdb %.1f s, SQLite %.1f s%s\n\n", static_cast<unsigned long long>(base.holdings),
              cd.load_seconds, sq.load_seconds,
              dk ? (", DuckDB (appender, aggregates derived) " + std::to_string(dk->load_seconds).substr(0, 5) + " s").c_str() : "");
  std::printf("| landing (%d a run, %d a commit) | custdb /s | SQLite /s | custdb ÷ SQLite |\n|---|---|---|---|\n",
              kLandings, kLandingBatch);
  const std::pair<const char*, const char*> rows[] = {
      {"plain_durable", "transaction, durable"},
      {"holding_durable", "transaction moving a holding's balance, durable"},
      {"plain_relaxed", "transaction, relaxed"},
      {"holding_relaxed", "transaction moving a holding's balance, relaxed"},
  };
  for (const auto& [key, label] : rows)
    std::printf("| %s | %.0f | %.0f | %.2f× |\n", label, cd.land[key], sq.land[key], cd.land[key] / sq.land[key]);
  std::printf("\n| segment | matches | custdb count/s | SQLite count/s | ratio | DuckDB count/s | ratio "
              "| custdb ids/s | SQLite ids/s | ratio | DuckDB ids/s | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const SegAnswer &c = cd.before[i], &s = sq.before[i];
    const double dc = dk ? dk->before[i].count_rate : 0, di = dk ? dk->before[i].ids_rate : 0;
    auto duck = [&](double v, double mine) {
      char b[64];
      if (!dk) return std::string("– | –");
      std::snprintf(b, sizeof b, "%.0f | %.1f×", v, mine / v);
      return std::string(b);
    };
    std::printf("| %s: `%s` | %llu | %.0f | %.0f | %.1f× | %s | %.0f | %.0f | %.1f× | %s |\n", segs[i].name.c_str(),
                segs[i].query.c_str(), static_cast<unsigned long long>(c.count), c.count_rate, s.count_rate,
                c.count_rate / s.count_rate, duck(dc, c.count_rate).c_str(), c.ids_rate, s.ids_rate,
                c.ids_rate / s.ids_rate, duck(di, c.ids_rate).c_str());
  }
  std::printf("\nAfter the landings (aum moved): the cross-sell segment has %llu members (custdb), %llu (SQLite)\n",
              static_cast<unsigned long long>(cd.after[0].count), static_cast<unsigned long long>(sq.after[0].count));
  if (g_mismatch) std::printf("\n**MISMATCH: see stderr**\n");
  return g_mismatch ? 1 : 0;
}

}  // namespace custdb::bench
