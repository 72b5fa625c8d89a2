// Segment queries: custdb (plaintext, encrypted) against SQLite (WAL) and SQLCipher holding the
// same columns and the same single-column indexes, on the same synthetic base (fixed seed).
// Every engine must return the same count for every segment, or the run says so.
#include "bench.h"
#include "custdb/database.h"
#include "custdb/query.h"
#include "sql_api.h"
#include "sql_engine.h"
#include "workload.h"

namespace custdb::bench {
namespace {

struct Result2 {
  double count_rate = 0, ids_rate = 0;
  std::uint64_t count = 0;
};

// ---- custdb ----

std::vector<Result2> run_custdb(const Args& a, bool encrypted, double& load_seconds) {
  fs::path path = a.dir / (encrypted ? "custdb-enc" : "custdb-plain");
  Database db = open_custdb(path, encrypted, SyncMode::kNoMetaSync);
  load_seconds = load_custdb(db, a, encrypted ? "custdb-enc" : "custdb").seconds;
  std::vector<Result2> out;
  auto read = db.begin_read();
  if (!read) die("read", read.error());
  for (const auto& seg : segments()) {
    auto q = query::parse(seg.query);
    if (!q) die(seg.query, q.error());
    Result2 r;
    SegmentOptions so{as_of()};
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
  auto db = open_sql(api, path, cipher, "NORMAL");
  create_schema(*db);
  auto t0 = Clock::now();
  load_sql(*db, a, cipher ? "SQLCipher" : "SQLite");
  db->exec("ANALYZE;");
  load_seconds = seconds_since(t0);
  std::vector<Result2> out;
  db->exec("BEGIN");  // one snapshot, like custdb's read transaction
  for (const auto& seg : segments()) {
    SqlDb::Stmt count(*db, "SELECT count(*) FROM customers WHERE " + seg.sql_where);
    SqlDb::Stmt ids(*db, "SELECT id FROM customers WHERE " + seg.sql_where + " ORDER BY id");
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
  db->exec("COMMIT");
  db.reset();
  remove_sql_files(path);
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
  fs::remove_all(a.dir / "custdb-plain");
  auto sql = run_sql(a, sqlite, false, ls);
  auto enc = run_custdb(a, true, le);
  fs::remove_all(a.dir / "custdb-enc");
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

// Paging through one segment (issue 13: 219 pages of 100 once took 47× one ids() call, every
// page re-evaluating the query). Three ways to read all of it, each from a fresh query:
//   ids       ReadView::ids(q): evaluate once, copy out every id;
//   select    ReadView::select(q), then Segment::page(100, after) to the end;
//   re-plan   ReadView::page(q, 100, after) to the end: evaluates q for every page.
// Medians of --runs runs (re-plan: at most 3, it is slow by design).
int run_paging(const Args& a) {
  const fs::path path = a.dir / "custdb-paging";
  Database db = open_custdb(path, false, SyncMode::kNoMetaSync);
  const double load = load_custdb(db, a, "custdb").seconds;
  // Default: a related(...) segment of ~29% of the customers (about 20,000 of --customers 70000).
  const std::string text = a.query.empty() ? "related(household)" : a.query;
  auto q = query::parse(text);
  if (!q) die(text, q.error());
  auto read = db.begin_read();
  if (!read) die("read", read.error());
  const SegmentOptions so{as_of()};
  constexpr std::size_t kPage = 100;
  std::vector<double> ids_s, select_s, replan_s;
  std::uint64_t members = 0;
  std::size_t pages = 0;
  for (int run = 0; run < a.runs; ++run) {
    auto t0 = Clock::now();
    members = read->ids(*q, so).value().size();
    ids_s.push_back(seconds_since(t0));

    t0 = Clock::now();
    custdb::Segment seg = read->select(*q, so).value();
    std::uint64_t seen = 0;
    pages = 0;
    for (CustomerId after = 0;;) {
      SegmentPage p = seg.page(kPage, after).value();
      seen += p.ids.size();
      ++pages;
      if (!p.next) break;
      after = *p.next;
    }
    select_s.push_back(seconds_since(t0));
    if (seen != members) {
      std::fprintf(stderr, "MISMATCH: pages gave %llu ids, ids() %llu\n", (unsigned long long)seen,
                   (unsigned long long)members);
      return 1;
    }

    if (run < 3) {
      t0 = Clock::now();
      seen = 0;
      for (CustomerId after = 0;;) {
        SegmentPage p = read->page(*q, kPage, after, so).value();
        seen += p.ids.size();
        if (!p.next) break;
        after = *p.next;
      }
      replan_s.push_back(seconds_since(t0));
      if (seen != members) return std::fprintf(stderr, "MISMATCH (re-plan)\n"), 1;
    }
  }
  const double ids = median(ids_s), sel = median(select_s), replan = median(replan_s);
  std::printf("Paging: `%s` on %llu customers (%d transactions each, load %.1f s): %llu members, "
              "%zu pages of %zu; medians of %d runs (re-plan: %zu)\n\n",
              text.c_str(), (unsigned long long)a.customers, a.txns_per_customer, load,
              (unsigned long long)members, pages, kPage, a.runs, replan_s.size());
  std::printf("| read of the whole segment | seconds | × one ids() call |\n|---|---|---|\n");
  std::printf("| one ReadView::ids(q) call | %.4f | 1.00 |\n", ids);
  std::printf("| select(q) + Segment::page(%zu) to the end | %.4f | %.2f |\n", kPage, sel, sel / ids);
  std::printf("| ReadView::page(q, %zu) to the end (re-plans every page) | %.4f | %.2f |\n", kPage,
              replan, replan / ids);
  return 0;
}

}  // namespace custdb::bench
