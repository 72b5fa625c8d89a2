#include "workload.h"

#include "custdb/key.h"
#include "engine/analytics_access.h"
#include "synthetic.h"

namespace custdb::bench {
namespace {

std::int64_t ms(const char* date) { return parse_timestamp(date)->time_since_epoch().count(); }

// Same rule as the planner (query::age_on): the latest birth day with age >= years on as_of().
std::int64_t born_by(int years) {
  using namespace std::chrono;
  year_month_day d{as_of()};
  year_month_day t{d.year() - std::chrono::years(years), d.month(), d.day()};
  if (!t.ok()) t = year_month_day{t.year() / t.month() / last};
  return sys_days{t}.time_since_epoch().count();
}

}  // namespace

Date as_of() { return parse_date("2026-11-01").value(); }

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

Database open_custdb(const fs::path& path, bool encrypted, SyncMode sync, bool fresh) {
  if (fresh) fs::remove_all(path);
  Options o;
  o.sync = sync;
  if (encrypted)
    o.key = KeyMaterial::from_raw_key(std::vector<std::uint8_t>(32, kRawKeyByte)).value();
  auto db = Database::open(path, o);
  if (!db) die("open " + path.string(), db.error());
  return std::move(*db);
}

LoadStats load_custdb(Database& db, const Args& a, const std::string& label) {
  synthetic::Generator gen;
  LoadStats s;
  s.heap_before = s.heap_peak = heap_in_use();
  Progress progress(label, a.customers);
  auto t0 = Clock::now();
  for (std::uint64_t first = 1; first <= a.customers; first += kLoadBatch) {
    auto txn = db.begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kLoadBatch && i <= a.customers; ++i) {
      if (auto r = txn->insert_customer(gen.customer(i)); !r) die("insert", r.error());
      for (auto& t : gen.transactions(i, a.txns_per_customer))
        if (auto r = txn->add_transaction(std::move(t)); !r) die("txn", r.error());
      s.rows += 1 + a.txns_per_customer;
    }
    s.sample_heap();  // the write transaction's dirty pages and pending postings are heap
    if (auto c = txn->commit(); !c) die("commit", c.error());
    s.sample_heap();
    progress.update(std::min(first + kLoadBatch - 1, a.customers));
  }
  std::int64_t before_rels = heap_in_use();
  auto rels = gen.relationships(a.customers);
  std::int64_t held = heap_in_use() - before_rels;  // the list itself is the benchmark's
  for (std::size_t first = 0; first < rels.size(); first += kLoadBatch) {
    auto txn = db.begin_write();
    if (!txn) die("begin", txn.error());
    for (std::size_t i = first; i < std::min(rels.size(), first + kLoadBatch); ++i)
      if (auto x = txn->add_relationship(rels[i]); !x) die("relationship", x.error());
    s.sample_heap(held);
    if (auto c = txn->commit(); !c) die("commit", c.error());
    s.sample_heap(held);
  }
  s.rows += rels.size();
  s.seconds = seconds_since(t0);
  return s;
}

double write_scores_custdb(Database& db, const Args& a) {
  synthetic::Generator gen;
  auto t0 = Clock::now();
  for (std::uint64_t first = 1; first <= a.customers; first += kLoadBatch) {
    auto txn = db.begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kLoadBatch && i <= a.customers; ++i) {
      const Customer c = gen.customer(i);
      // Scores are engine-maintained (ignored on insert): written through the door the scoring
      // run uses (score_customers writes the same way, in batches).
      if (auto sc = gen.scores(c))
        if (auto r = analytics_access::set_scores(*txn, c.id, sc); !r) die("set_scores", r.error());
    }
    if (auto c = txn->commit(); !c) die("commit", c.error());
  }
  return seconds_since(t0);
}

}  // namespace custdb::bench
