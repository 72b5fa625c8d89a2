// Segment queries: custdb (plaintext, encrypted) against SQLite (WAL) and SQLCipher holding the
// same columns and the same single-column indexes, on the same synthetic base (fixed seed).
// Every engine must return the same count for every segment, or the run says so.
#include <map>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "sql_api.h"
#include "synthetic.h"

namespace custdb::bench {
namespace {

const Date kAsOf = parse_date("2026-11-01").value();

std::int64_t ms(const char* date) { return parse_timestamp(date)->time_since_epoch().count(); }

// Same rule as the planner (query::age_on): the latest birth day with age >= years on kAsOf.
std::int64_t born_by(int years) {
  using namespace std::chrono;
  year_month_day d{kAsOf};
  year_month_day t{d.year() - std::chrono::years(years), d.month(), d.day()};
  if (!t.ok()) t = year_month_day{t.year() / t.month() / last};
  return sys_days{t}.time_since_epoch().count();
}

struct Segment {
  std::string name, query, sql_where;
};

std::vector<Segment> segments() {
  const std::string aug = std::to_string(ms("2026-08-01")), sep = std::to_string(ms("2026-09-01"));
  return {
      {"2 attributes: tier + region", "tier = gold and region = east", "tier = 2 AND region = 'east'"},
      {"2 attributes: country + income", "country = CA and income_band >= 8",
       "country = 'CA' AND income_band >= 8"},
      {"3 attributes + recency", "tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01",
       "tier IN (2, 3) AND region = 'east' AND last_txn_at < " + aug},
      {"stage + aggregate range", "stage = at_risk and total_amount >= 500.00",
       "stage = 4 AND total_amount >= 50000"},
      {"aggregate range", "total_amount > 1000.00", "total_amount > 100000"},
      {"count + recency ranges", "txn_count >= 3 and last_txn_at >= 2026-09-01",
       "txn_count >= 3 AND last_txn_at >= " + sep},
      {"tag + consent", "tag = vip and consent_email = granted",
       "consent_email = 1 AND id IN (SELECT customer_id FROM customer_tags WHERE tag = 'vip')"},
      {"negation", "not consent_email = denied and tier = diamond", "consent_email != 2 AND tier = 4"},
      {"age range + region", "age between 30 and 40 and region = west",
       "birth_date > " + std::to_string(born_by(41)) + " AND birth_date <= " +
           std::to_string(born_by(30)) + " AND region = 'west'"},
      {"relationship", "related(household, tier = diamond)",
       "id IN (SELECT r.from_id FROM relationships r JOIN customers o ON o.id = r.to_id WHERE "
       "r.type = 0 AND o.tier = 4 UNION SELECT r.to_id FROM relationships r JOIN customers o ON "
       "o.id = r.from_id WHERE r.type = 0 AND o.tier = 4)"},
  };
}

struct Result2 {
  double count_rate = 0, ids_rate = 0;
  std::uint64_t count = 0;
};

// ---- custdb ----

std::vector<Result2> run_custdb(const Args& a, bool encrypted, double& load_seconds) {
  fs::path path = a.dir / (encrypted ? "custdb-enc" : "custdb-plain");
  fs::remove_all(path);
  Options o;
  o.initial_map_size = std::size_t{1} << 30;
  o.sync = SyncMode::kNoMetaSync;
  if (encrypted) o.key = KeyMaterial::from_raw_key(std::vector<std::uint8_t>(32, 0x42)).value();
  auto db = Database::open(path, o);
  if (!db) die("open", db.error());
  synthetic::Generator gen;
  auto t0 = Clock::now();
  constexpr std::uint64_t kBatch = 10'000;
  for (std::uint64_t first = 1; first <= a.customers; first += kBatch) {
    auto txn = db->begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kBatch && i <= a.customers; ++i) {
      if (auto r = txn->insert_customer(gen.customer(i)); !r) die("insert", r.error());
      for (auto& t : gen.transactions(i, a.txns_per_customer))
        if (auto r = txn->add_transaction(std::move(t)); !r) die("txn", r.error());
    }
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  {
    auto rels = gen.relationships(a.customers);
    auto txn = db->begin_write();
    for (auto& r : rels)
      if (auto x = txn->add_relationship(r); !x) die("relationship", x.error());
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  load_seconds = seconds_since(t0);
  std::vector<Result2> out;
  auto read = db->begin_read();
  if (!read) die("read", read.error());
  for (const auto& seg : segments()) {
    auto q = query::parse(seg.query);
    if (!q) die(seg.query, q.error());
    Result2 r;
    SegmentOptions so{kAsOf};
    std::vector<double> counts, lists;
    for (int run = 0; run < a.runs; ++run) {
      counts.push_back(rate([&] { r.count = read->count(*q, so).value(); }));
      lists.push_back(rate([&] { (void)read->ids(*q, so).value().size(); }));
    }
    r.count_rate = median(counts);
    r.ids_rate = median(lists);
    out.push_back(r);
  }
  return out;
}

// ---- SQLite / SQLCipher ----

std::vector<Result2> run_sql(const Args& a, const SqlApi& api, bool cipher, double& load_seconds) {
  fs::path path = a.dir / (cipher ? "sqlcipher.db" : "sqlite.db");
  fs::remove(path);
  SqlDb db(api, path.string());
  // The same raw 256-bit key custdb-enc uses, so neither side pays for passphrase stretching.
  if (cipher) db.exec("PRAGMA key = \"x'4242424242424242424242424242424242424242424242424242424242424242'\";");
  // WAL, and a page cache as large as the data: custdb reads through the OS page cache (mmap),
  // so SQLite gets the same chance to keep everything in memory.
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2000000;");
  db.exec(R"(CREATE TABLE customers (id INTEGER PRIMARY KEY, external_ref TEXT, type INT, name TEXT,
      email TEXT, phone TEXT, birth_date INT, gender INT, city TEXT, region TEXT, country TEXT,
      tier INT, stage INT, income_band INT, risk INT, consent_email INT, consent_sms INT,
      consent_phone INT, created_at INT, updated_at INT, txn_count INT, total_amount INT,
      first_txn_at INT, last_txn_at INT);
    CREATE TABLE customer_tags (customer_id INT, tag TEXT);
    CREATE TABLE relationships (id INTEGER PRIMARY KEY, from_id INT, to_id INT, type INT,
      custom_type TEXT, since INT);
    CREATE TABLE transactions (id INTEGER PRIMARY KEY, customer_id INT, ts INT, amount INT,
      currency TEXT, base_amount INT, kind INT, channel INT, product TEXT, description TEXT);)");
  const char* indexed[] = {"external_ref", "email", "phone", "type", "tier", "stage", "region",
                           "city", "country", "gender", "income_band", "risk", "birth_date",
                           "created_at", "consent_email", "consent_sms", "consent_phone",
                           "txn_count", "total_amount", "first_txn_at", "last_txn_at"};
  for (const char* c : indexed)
    db.exec(std::string("CREATE INDEX customers_") + c + " ON customers(" + c + ");");
  db.exec("CREATE INDEX tags_tag ON customer_tags(tag, customer_id);"
          "CREATE INDEX rel_from ON relationships(from_id); CREATE INDEX rel_to ON relationships(to_id);"
          "CREATE INDEX txn_customer ON transactions(customer_id, ts);");
  synthetic::Generator gen;
  auto t0 = Clock::now();
  SqlDb::Stmt ins(db, "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  SqlDb::Stmt tag(db, "INSERT INTO customer_tags VALUES (?,?)");
  SqlDb::Stmt txi(db, "INSERT INTO transactions VALUES (NULL,?,?,?,?,?,?,?,?,?)");
  SqlDb::Stmt agg(db, "UPDATE customers SET txn_count = txn_count + 1, total_amount = total_amount + ?2, "
                      "first_txn_at = min(coalesce(first_txn_at, ?3), ?3), "
                      "last_txn_at = max(coalesce(last_txn_at, ?3), ?3) WHERE id = ?1");
  constexpr std::uint64_t kBatch = 10'000;
  for (std::uint64_t first = 1; first <= a.customers; first += kBatch) {
    db.exec("BEGIN");
    for (std::uint64_t i = first; i < first + kBatch && i <= a.customers; ++i) {
      Customer c = gen.customer(i);
      ins.bind(1, static_cast<long long>(c.id));
      ins.bind(2, c.external_ref);
      ins.bind(3, static_cast<int>(c.type));
      ins.bind(4, c.name);
      ins.bind(5, *c.email);
      ins.bind(6, *c.phone);
      if (c.birth_date) ins.bind(7, c.birth_date->time_since_epoch().count()); else ins.bind_null(7);
      ins.bind(8, static_cast<int>(c.gender));
      ins.bind(9, c.address.city);
      ins.bind(10, c.address.region);
      ins.bind(11, c.address.country);
      ins.bind(12, static_cast<int>(c.tier));
      ins.bind(13, static_cast<int>(c.stage));
      if (c.income_band) ins.bind(14, *c.income_band); else ins.bind_null(14);
      ins.bind(15, static_cast<int>(c.risk));
      ins.bind(16, static_cast<int>(c.consent_email.state));
      ins.bind(17, static_cast<int>(c.consent_sms.state));
      ins.bind(18, static_cast<int>(c.consent_phone.state));
      ins.bind(19, c.created_at.time_since_epoch().count());
      ins.bind(20, c.created_at.time_since_epoch().count());
      ins.bind(21, 0);
      ins.bind(22, 0);
      ins.bind_null(23);
      ins.bind_null(24);
      ins.run();
      for (const auto& t : c.tags) tag.bind(1, static_cast<long long>(i)).bind(2, t).run();
      for (auto& t : gen.transactions(i, a.txns_per_customer)) {
        txi.bind(1, static_cast<long long>(i)).bind(2, t.ts.time_since_epoch().count()).bind(3, t.amount)
            .bind(4, t.currency).bind(5, t.amount).bind(6, static_cast<int>(t.kind))
            .bind(7, static_cast<int>(t.channel)).bind(8, t.product).bind(9, t.description).run();
        agg.bind(1, static_cast<long long>(i)).bind(2, t.amount).bind(3, t.ts.time_since_epoch().count()).run();
      }
    }
    db.exec("COMMIT");
  }
  {
    db.exec("BEGIN");
    SqlDb::Stmt rel(db, "INSERT INTO relationships VALUES (NULL,?,?,?,NULL,?)");
    for (auto& r : gen.relationships(a.customers)) {
      rel.bind(1, static_cast<long long>(r.from)).bind(2, static_cast<long long>(r.to)).bind(3, static_cast<int>(r.type));
      if (r.since) rel.bind(4, r.since->time_since_epoch().count()); else rel.bind_null(4);
      rel.run();
    }
    db.exec("COMMIT");
  }
  db.exec("ANALYZE;");
  load_seconds = seconds_since(t0);
  std::vector<Result2> out;
  db.exec("BEGIN");  // one snapshot, like custdb's read transaction
  for (const auto& seg : segments()) {
    SqlDb::Stmt count(db, "SELECT count(*) FROM customers WHERE " + seg.sql_where);
    SqlDb::Stmt ids(db, "SELECT id FROM customers WHERE " + seg.sql_where + " ORDER BY id");
    Result2 r;
    std::vector<double> counts, lists;
    for (int run = 0; run < a.runs; ++run) {
      counts.push_back(rate([&] {
        count.row();
        r.count = static_cast<std::uint64_t>(count.col(0));
        count.reset();
      }));
      lists.push_back(rate([&] {
        std::uint64_t n = 0;
        while (ids.row()) n += ids.col(0) > 0;
        ids.reset();
      }));
    }
    r.count_rate = median(counts);
    r.ids_rate = median(lists);
    out.push_back(r);
  }
  db.exec("COMMIT");
  return out;
}

}  // namespace

int run_segments(const Args& a) {
  SqlApi sqlite = SqlApi::load("libsqlite3.so.0");
  SqlApi sqlcipher = SqlApi::load("libsqlcipher.so.0");
  std::printf("Segment queries: %llu customers, %d transactions each; rates are medians of %d runs "
              "(queries per second); SQLite %s, SQLCipher on SQLite %s\n\n",
              static_cast<unsigned long long>(a.customers), a.txns_per_customer, a.runs,
              sqlite.libversion(), sqlcipher.libversion());
  double lp = 0, le = 0, ls = 0, lc = 0;
  auto plain = run_custdb(a, false, lp);
  auto sql = run_sql(a, sqlite, false, ls);
  auto enc = run_custdb(a, true, le);
  auto cipher = run_sql(a, sqlcipher, true, lc);
  auto segs = segments();
  std::printf("| segment | matches | custdb count/s | SQLite count/s | ratio | custdb ids/s | SQLite ids/s | ratio "
              "| custdb-enc count/s | SQLCipher count/s | ratio | custdb-enc ids/s | SQLCipher ids/s | ratio |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  bool mismatch = false;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (plain[i].count != sql[i].count || enc[i].count != sql[i].count || cipher[i].count != sql[i].count) {
      mismatch = true;
      std::fprintf(stderr, "COUNT MISMATCH on '%s': custdb %llu, SQLite %llu, custdb-enc %llu, SQLCipher %llu\n",
                   segs[i].query.c_str(), (unsigned long long)plain[i].count, (unsigned long long)sql[i].count,
                   (unsigned long long)enc[i].count, (unsigned long long)cipher[i].count);
    }
    std::printf("| %s: `%s` | %llu | %.0f | %.0f | %.1f× | %.0f | %.0f | %.1f× | %.0f | %.0f | %.1f× | %.0f | %.0f | %.1f× |\n",
                segs[i].name.c_str(), segs[i].query.c_str(), (unsigned long long)plain[i].count,
                plain[i].count_rate, sql[i].count_rate, plain[i].count_rate / sql[i].count_rate,
                plain[i].ids_rate, sql[i].ids_rate, plain[i].ids_rate / sql[i].ids_rate,
                enc[i].count_rate, cipher[i].count_rate, enc[i].count_rate / cipher[i].count_rate,
                enc[i].ids_rate, cipher[i].ids_rate, enc[i].ids_rate / cipher[i].ids_rate);
  }
  std::printf("\nLoad (customers, %d transactions each with aggregate upkeep, relationships): custdb %.1f s, "
              "SQLite %.1f s, custdb-enc %.1f s, SQLCipher %.1f s\n",
              a.txns_per_customer, lp, ls, le, lc);
  return mismatch ? 1 : 0;
}

}  // namespace custdb::bench
