// Suite "full" (issues #7 and #14): custdb plaintext and encrypted against SQLite (WAL),
// SQLCipher and DuckDB on every operation an application does, in one process, on the same
// synthetic base (fixed seed, with scores): bulk load, point get, email lookup, transaction
// landing at two durability settings, segments, a customer's history, grouped aggregates (by
// one and by two attributes), a report measuring clv, top-N by clv, file size and heap during
// load. DuckDB (dlopen()ed, duckdb_api.h) loads the base from CSV files with its own reader and
// runs the reads only (no landings; its point reads are the first kHead of each list).
//
// Every engine must give the same answers (found rows, a digest of the records read, segment
// counts and id lists, history rows, grouped aggregates, reports, rankings); a difference is
// printed and makes the exit status 1. custdb's report and rank answering kUnsupported (not
// built yet) leave their rows empty ("–") and unchecked. Each engine's files are deleted after
// its measurements.
#include <cstdlib>
#include <lmdb.h>
#include <roaring/roaring_version.h>
#include <sodium.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/query.h"
#include "custdb/segment.h"
#include "duckdb_engine.h"
#include "sql_api.h"
#include "sql_engine.h"
#include "synthetic.h"
#include "workload.h"

namespace custdb::bench {
namespace {

constexpr int kGets = 100'000;        // point gets a run
constexpr int kEmails = 100'000;      // email lookups a run
constexpr int kHistories = 20'000;    // history queries a run
constexpr int kLandings = 20'000;     // transaction landings a run
constexpr int kLandingBatch = 1'000;  // landings a commit
constexpr double kMiB = 1048576.0;
// The first kHead point gets, email lookups and histories of each list are digested apart, so
// an engine that runs only those (DuckDB: a few hundred point reads a second) is checked too.
constexpr int kHead = 1'000;
constexpr std::size_t kTopN = 100;  // top-N by clv

const char* const kEngineNames[] = {"custdb", "custdb-enc", "sqlite", "sqlcipher", "duckdb"};

// Values by row key; a missing key is printed as "–".
using Figures = std::map<std::string, double>;

bool g_mismatch = false;
Clock::time_point g_start = Clock::now();

void note(const std::string& engine, const std::string& what) {
  std::fprintf(stderr, "[%6.0f s] %s: %s\n", seconds_since(g_start), engine.c_str(), what.c_str());
}

// Every figure of one engine on stderr as soon as it is done, so a long run that is stopped
// before the table still leaves them.
void dump(const std::string& engine, const std::map<std::string, double>& f) {
  for (const auto& [k, v] : f) std::fprintf(stderr, "  %s figure: %-14s %.3f\n", engine.c_str(), k.c_str(), v);
}

// One group of "report by tier, measure clv": customers, and count/sum/min/max of clv over
// those with one (min and max 0 when none has).
struct MeasureRow {
  std::uint64_t customers = 0, count = 0;
  AmountSum sum = 0;
  std::int64_t min = 0, max = 0;
};

// What every engine must answer identically.
struct Answers {
  bool all_point_reads = true;  // false: only the head digests were taken (DuckDB)
  std::uint64_t gets_found = 0, get_digest = 0, emails_found = 0, email_digest = 0;
  std::uint64_t history_rows = 0, history_digest = 0;
  std::uint64_t head_get_digest = 0, head_email_digest = 0, head_history_digest = 0;
  std::vector<std::uint64_t> segment_counts, segment_id_digests;
  std::map<std::string, GroupRow> by_tier, by_region;
  // Absent when the engine could not answer (custdb before report/rank exist).
  std::optional<std::map<std::string, GroupRow>> by_tier_region;  // key "tier/region"
  std::optional<std::map<std::string, MeasureRow>> clv_by_tier;
  std::optional<std::vector<Ranked>> top_clv;
};

std::uint64_t digest(const Customer& c) {
  std::uint64_t h = c.id * 0x9E3779B97F4A7C15ull;
  h += c.aggregates.txn_count * 1'000'003 + static_cast<std::uint64_t>(c.aggregates.total_amount);
  h += c.tags.size() * 7 + c.name.size() * 13 + c.email.value_or("").size() * 17;
  h += static_cast<std::uint64_t>(c.tier) * 19 + static_cast<std::uint64_t>(c.consent_sms.state) * 23;
  if (c.aggregates.last_txn_at)
    h += static_cast<std::uint64_t>(c.aggregates.last_txn_at->time_since_epoch().count());
  if (c.birth_date) h += static_cast<std::uint64_t>(c.birth_date->time_since_epoch().count()) * 29;
  if (c.scores)
    h += static_cast<std::uint64_t>(c.scores->clv) * 37 + c.scores->r_score * 41u +
         static_cast<std::uint64_t>(to_millionths(c.scores->p_alive)) * 43;
  return h;
}

std::uint64_t digest(const Transaction& t) {
  return t.customer_id * 31 + static_cast<std::uint64_t>(t.amount) +
         static_cast<std::uint64_t>(t.ts.time_since_epoch().count()) + t.product.size();
}

void compare(const std::string& engine, const char* what, std::uint64_t want, std::uint64_t got) {
  if (want == got) return;
  g_mismatch = true;
  std::fprintf(stderr, "MISMATCH %s: %s is %llu, the first engine gave %llu\n", engine.c_str(),
               what, static_cast<unsigned long long>(got), static_cast<unsigned long long>(want));
}

// The first engine run sets the answers; the others are compared with them.
void check(const std::string& engine, std::optional<Answers>& ref, const Answers& got) {
  if (!ref) {
    ref = got;
    return;
  }
  if (ref->all_point_reads && got.all_point_reads) {
    compare(engine, "point gets found", ref->gets_found, got.gets_found);
    compare(engine, "point get digest", ref->get_digest, got.get_digest);
    compare(engine, "email lookups found", ref->emails_found, got.emails_found);
    compare(engine, "email lookup digest", ref->email_digest, got.email_digest);
    compare(engine, "history rows", ref->history_rows, got.history_rows);
    compare(engine, "history digest", ref->history_digest, got.history_digest);
  }
  compare(engine, "digest of the first point gets", ref->head_get_digest, got.head_get_digest);
  compare(engine, "digest of the first email lookups", ref->head_email_digest, got.head_email_digest);
  compare(engine, "digest of the first histories", ref->head_history_digest, got.head_history_digest);
  auto segs = segments();
  for (std::size_t i = 0; i < segs.size(); ++i) {
    compare(engine, ("segment count of `" + segs[i].query + "`").c_str(), ref->segment_counts[i],
            got.segment_counts[i]);
    compare(engine, ("segment ids of `" + segs[i].query + "`").c_str(),
            ref->segment_id_digests[i], got.segment_id_digests[i]);
  }
  auto groups = [&](const char* by, const std::map<std::string, GroupRow>& want,
                    const std::map<std::string, GroupRow>& have) {
    compare(engine, (std::string("groups by ") + by).c_str(), want.size(), have.size());
    for (const auto& [k, w] : want) {
      auto it = have.find(k);
      GroupRow h = it == have.end() ? GroupRow{} : it->second;
      std::string p = std::string("group ") + by + " " + k + ": ";
      compare(engine, (p + "customers").c_str(), w.customers, h.customers);
      compare(engine, (p + "sum").c_str(), w.total_amount_sum, h.total_amount_sum);
      compare(engine, (p + "min").c_str(), w.total_amount_min, h.total_amount_min);
      compare(engine, (p + "max").c_str(), w.total_amount_max, h.total_amount_max);
      compare(engine, (p + "txn_count").c_str(), w.txn_count_sum, h.txn_count_sum);
    }
  };
  groups("tier", ref->by_tier, got.by_tier);
  groups("region", ref->by_region, got.by_region);
  // The answers the reference engine could not give are taken from the first that can.
  if (got.by_tier_region) {
    if (!ref->by_tier_region) ref->by_tier_region = got.by_tier_region;
    else groups("tier × region", *ref->by_tier_region, *got.by_tier_region);
  }
  if (got.clv_by_tier) {
    if (!ref->clv_by_tier) {
      ref->clv_by_tier = got.clv_by_tier;
    } else {
      const auto& want = *ref->clv_by_tier;
      const auto& have = *got.clv_by_tier;
      compare(engine, "clv report groups", want.size(), have.size());
      for (const auto& [k, w] : want) {
        auto it = have.find(k);
        MeasureRow h = it == have.end() ? MeasureRow{} : it->second;
        std::string p = "clv report, tier " + k + ": ";
        compare(engine, (p + "customers").c_str(), w.customers, h.customers);
        compare(engine, (p + "count").c_str(), w.count, h.count);
        compare(engine, (p + "sum").c_str(), static_cast<std::uint64_t>(w.sum), static_cast<std::uint64_t>(h.sum));
        compare(engine, (p + "sum, high bits").c_str(), static_cast<std::uint64_t>(w.sum >> 64),
                static_cast<std::uint64_t>(h.sum >> 64));
        compare(engine, (p + "min").c_str(), w.min, h.min);
        compare(engine, (p + "max").c_str(), w.max, h.max);
      }
    }
  }
  if (got.top_clv) {
    if (!ref->top_clv) {
      ref->top_clv = got.top_clv;
    } else {
      compare(engine, "top by clv: length", ref->top_clv->size(), got.top_clv->size());
      for (std::size_t i = 0; i < std::min(ref->top_clv->size(), got.top_clv->size()); ++i) {
        std::string p = "top by clv, place " + std::to_string(i + 1) + ": ";
        compare(engine, (p + "id").c_str(), (*ref->top_clv)[i].id, (*got.top_clv)[i].id);
        compare(engine, (p + "clv").c_str(), static_cast<std::uint64_t>((*ref->top_clv)[i].value),
                static_cast<std::uint64_t>((*got.top_clv)[i].value));
      }
    }
  }
}

// ---- the SQL of the grouped reads, and reading their rows (SQLite and DuckDB alike) ---------

std::string group_sql(const char* col) {
  return std::string("SELECT ") + col + ", count(*), sum(total_amount), min(total_amount), "
         "max(total_amount), avg(total_amount), sum(txn_count) FROM customers GROUP BY " + col +
         " ORDER BY " + col;
}
const char* const kTierRegionSql =
    "SELECT tier, region, count(*), sum(total_amount), min(total_amount), max(total_amount), "
    "sum(txn_count) FROM customers GROUP BY tier, region ORDER BY tier, region";
const char* const kClvByTierSql =
    "SELECT tier, count(*), count(clv), sum(clv), min(clv), max(clv) FROM customers "
    "GROUP BY tier ORDER BY tier";
std::string top_clv_sql() {
  return "SELECT id, clv FROM customers WHERE clv IS NOT NULL ORDER BY clv DESC, id LIMIT " +
         std::to_string(kTopN);
}

std::string tier_name(long long v) { return std::string(to_string(static_cast<Tier>(v))); }

// A row of group_sql(col): by tier (the enum number) or by a text column.
template <class Row>
GroupRow read_group(Row& s, bool by_tier) {
  GroupRow r;
  r.group = by_tier ? tier_name(s.col(0)) : s.text(0);
  r.customers = static_cast<std::uint64_t>(s.col(1));
  r.total_amount_sum = s.wide(2);
  r.total_amount_min = s.col(3);
  r.total_amount_max = s.col(4);
  r.total_amount_avg = static_cast<double>(r.total_amount_sum) / static_cast<double>(r.customers);
  r.txn_count_sum = static_cast<std::uint64_t>(s.wide(6));
  return r;
}

template <class Row>
void read_tier_region(Row& s, std::map<std::string, GroupRow>& out) {
  GroupRow r;
  r.group = tier_name(s.col(0)) + "/" + s.text(1);
  r.customers = static_cast<std::uint64_t>(s.col(2));
  r.total_amount_sum = s.wide(3);
  r.total_amount_min = s.col(4);
  r.total_amount_max = s.col(5);
  r.txn_count_sum = static_cast<std::uint64_t>(s.wide(6));
  out[r.group] = r;
}

template <class Row>
void read_clv_by_tier(Row& s, std::map<std::string, MeasureRow>& out) {
  MeasureRow m;
  m.customers = static_cast<std::uint64_t>(s.col(1));
  m.count = static_cast<std::uint64_t>(s.col(2));
  m.sum = s.is_null(3) ? 0 : s.wide(3);
  m.min = s.is_null(4) ? 0 : s.col(4);
  m.max = s.is_null(5) ? 0 : s.col(5);
  out[tier_name(s.col(0))] = m;
}

template <class Row>
Ranked read_ranked(Row& s) {
  return Ranked{static_cast<CustomerId>(s.col(0)), static_cast<std::int64_t>(s.col(1))};
}

// ---- the workload: the same for every engine ---------------------------------------------------

std::vector<CustomerId> random_ids(const Args& a, int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<CustomerId> ids(count);
  for (auto& id : ids) id = 1 + rng() % a.customers;
  return ids;
}

std::vector<std::string> random_emails(const Args& a, int count, std::uint64_t seed) {
  std::vector<std::string> out;
  for (auto id : random_ids(a, count, seed)) out.push_back(synthetic::Generator::email_of(id));
  return out;
}

// kLandings new transactions on random existing customers. durability 0 (durable) or 1.
std::vector<Transaction> landings(const Args& a, int durability, int run) {
  std::uint64_t seed = 1000 + 10 * durability + run;
  synthetic::Generator gen(synthetic::Params{seed});
  std::vector<Transaction> out;
  for (auto id : random_ids(a, kLandings, seed)) out.push_back(std::move(gen.transactions(id, 1)[0]));
  return out;
}

// History window: one year in the middle of the two years of transactions.
const Timestamp kHistoryFrom = parse_timestamp("2025-05-01").value();
const Timestamp kHistoryTo = parse_timestamp("2026-05-01").value();

std::uint64_t ids_digest(const std::vector<CustomerId>& ids) {
  std::uint64_t h = ids.size();
  for (auto id : ids) h = h * 31 + id;
  return h;
}

// ---- custdb ------------------------------------------------------------------------------------

const char* const kEveryone = "tier >= bronze";

Figures run_custdb(const Args& a, bool encrypted, std::optional<Answers>& ref) {
  const std::string label = encrypted ? "custdb-enc" : "custdb";
  const fs::path path = a.dir / label;
  Figures f;
  Answers ans;
  std::optional<Database> db(open_custdb(path, encrypted, SyncMode::kFull));
  note(label, "load");
  LoadStats ls = load_custdb(*db, a, label);
  f["load_rate"] = ls.rows / ls.seconds;
  f["load_s"] = ls.seconds;
  f["heap"] = (ls.heap_peak - ls.heap_before) / kMiB;
  f["heap_malloc"] = f["heap"];
  f["file"] = fs::file_size(path / "data.mdb") / kMiB;
  note(label, "scores");
  f["scores_s"] = write_scores_custdb(*db, a);
  f["file_scored"] = fs::file_size(path / "data.mdb") / kMiB;
  // Where the bytes are: LMDB pages per table and index (stderr), and a compacted copy (free
  // pages left out), to tell live data from LMDB's free space.
  if (auto st = db->stats()) {
    std::sort(st->begin(), st->end(), [](auto& x, auto& y) { return x.pages > y.pages; });
    for (const auto& t : *st)
      std::fprintf(stderr, "  %s pages: %-28s %10llu entries %9llu pages (%.1f MiB) depth %u\n",
                   label.c_str(), t.name.c_str(), static_cast<unsigned long long>(t.entries),
                   static_cast<unsigned long long>(t.pages),
                   t.pages * static_cast<double>(db->info().page_size) / kMiB, t.depth);
  }
  {
    const fs::path copy = a.dir / (label + "-compact");
    fs::remove_all(copy);
    if (auto b = db->backup(copy, true); !b) die("backup", b.error());
    f["file_compact"] = fs::file_size(copy / "data.mdb") / kMiB;
    fs::remove_all(copy);
  }
  note(label, "loaded in " + std::to_string(ls.seconds) + " s; reads");

  const auto segs = segments();
  std::vector<query::Node> queries;
  for (const auto& s : segs) {
    auto q = query::parse(s.query);
    if (!q) die(s.query, q.error());
    queries.push_back(std::move(*q));
  }
  const SegmentOptions so{as_of()};
  // Every customer (tier is never absent): the segment top-N by clv ranks.
  const query::Node everyone = query::parse(kEveryone).value();
  std::map<std::string, std::vector<double>> samples;
  for (int run = 0; run < a.runs; ++run) {
    auto rd = db->begin_read();  // one snapshot for the run's reads
    if (!rd) die("begin read", rd.error());
    Answers now;
    auto ids = random_ids(a, kGets, 100 + run);
    auto t = Clock::now();
    for (int k = 0; k < kGets; ++k) {
      auto c = rd->get_customer(ids[k]);
      if (!c) die("get", c.error());
      if (*c) ++now.gets_found, now.get_digest += digest(**c);
      if (k < kHead) now.head_get_digest = now.head_get_digest * 31 + (*c ? digest(**c) : 1);
    }
    samples["get"].push_back(kGets / seconds_since(t));

    auto mails = random_emails(a, kEmails, 200 + run);
    t = Clock::now();
    for (int k = 0; k < kEmails; ++k) {
      auto v = rd->find_by_email(mails[k]);
      if (!v) die("find_by_email", v.error());
      for (const auto& c : *v) ++now.emails_found, now.email_digest += digest(c);
      if (k < kHead)
        for (const auto& c : *v) now.head_email_digest = now.head_email_digest * 31 + digest(c);
    }
    samples["email"].push_back(kEmails / seconds_since(t));

    ids = random_ids(a, kHistories, 300 + run);
    t = Clock::now();
    for (int k = 0; k < kHistories; ++k) {
      auto v = rd->transactions_of(ids[k], kHistoryFrom, kHistoryTo);
      if (!v) die("transactions_of", v.error());
      now.history_rows += v->size();
      for (const auto& x : *v) now.history_digest += digest(x);
      if (k < kHead)
        for (const auto& x : *v) now.head_history_digest = now.head_history_digest * 31 + digest(x);
    }
    samples["history"].push_back(kHistories / seconds_since(t));

    for (std::size_t i = 0; i < queries.size(); ++i) {
      std::uint64_t n = 0, d = 0;
      samples["segc" + std::to_string(i)].push_back(rate([&] {
        auto r = rd->count(queries[i], so);
        if (!r) die("count", r.error());
        n = *r;
      }));
      samples["segi" + std::to_string(i)].push_back(rate([&] {
        auto r = rd->ids(queries[i], so);
        if (!r) die("ids", r.error());
        d = ids_digest(*r);
      }));
      now.segment_counts.push_back(n);
      now.segment_id_digests.push_back(d);
    }
    for (auto [key, by] : {std::pair{"group_tier", GroupBy::kTier}, {"group_region", GroupBy::kRegion}}) {
      std::vector<GroupRow> rows;
      samples[key].push_back(rate([&] {
        auto r = rd->group_all(by);
        if (!r) die("group_all", r.error());
        rows = std::move(*r);
      }));
      for (auto& r : rows) (by == GroupBy::kTier ? now.by_tier : now.by_region)[r.group] = r;
    }
    // Reports and rankings from the index (custdb/segment.h). kUnsupported (not built yet):
    // the row stays empty and unchecked.
    auto supported = [&](const Error& e, const char* what) {
      if (e.code() != ErrorCode::kUnsupported) die(what, e);
      if (run == 0) note(label, std::string(what) + ": unsupported, row left empty");
      return false;
    };
    const ReportSpec tier_region{{GroupBy::kTier, GroupBy::kRegion},
                                 {Measure::kTotalAmount, Measure::kTxnCount}};
    if (auto r = rd->report_all(tier_region); r || supported(r.error(), "report_all tier × region")) {
      samples["group_tier_region"].push_back(rate([&] {
        r = rd->report_all(tier_region);
        if (!r) die("report_all", r.error());
      }));
      auto& m = now.by_tier_region.emplace();
      for (const auto& row : *r) {
        GroupRow g;
        g.group = row.group[0] + "/" + row.group[1];
        g.customers = row.customers;
        g.total_amount_sum = row.measures[0].sum;
        g.total_amount_min = row.measures[0].min.value_or(0);
        g.total_amount_max = row.measures[0].max.value_or(0);
        g.txn_count_sum = static_cast<std::uint64_t>(row.measures[1].sum);
        m[g.group] = g;
      }
    }
    const ReportSpec clv_by_tier{{GroupBy::kTier}, {Measure::kClv}};
    if (auto r = rd->report_all(clv_by_tier); r || supported(r.error(), "report_all tier, clv")) {
      samples["report_clv_tier"].push_back(rate([&] {
        r = rd->report_all(clv_by_tier);
        if (!r) die("report_all", r.error());
      }));
      auto& m = now.clv_by_tier.emplace();
      for (const auto& row : *r) {
        const MeasureStats& st = row.measures[0];
        m[row.group[0]] = MeasureRow{row.customers, st.count, st.sum, st.min.value_or(0), st.max.value_or(0)};
      }
    }
    if (auto r = rd->rank(everyone, RankBy::kClv, kTopN, so); r || supported(r.error(), "rank by clv")) {
      samples["top_clv"].push_back(rate([&] {
        r = rd->rank(everyone, RankBy::kClv, kTopN, so);
        if (!r) die("rank", r.error());
      }));
      now.top_clv = *r;
    }
    if (run == 0) ans = now;
  }
  check(label, ref, ans);

  // Landings: the database is reopened with each durability setting.
  for (int d = 0; d < 2; ++d) {
    db.reset();
    db.emplace(open_custdb(path, encrypted, d == 0 ? SyncMode::kFull : SyncMode::kNone, false));
    note(label, d == 0 ? "landings, durable" : "landings, relaxed");
    for (int run = 0; run < a.runs; ++run) {
      auto land = landings(a, d, run);
      auto t = Clock::now();
      for (int first = 0; first < kLandings; first += kLandingBatch) {
        auto w = db->begin_write();
        if (!w) die("begin", w.error());
        for (int i = first; i < first + kLandingBatch; ++i)
          if (auto r = w->add_transaction(std::move(land[i])); !r) die("landing", r.error());
        if (auto c = w->commit(); !c) die("commit", c.error());
      }
      samples[d == 0 ? "land_durable" : "land_relaxed"].push_back(kLandings / seconds_since(t));
    }
  }
  db.reset();
  fs::remove_all(path);
  for (auto& [k, v] : samples) f[k] = median(v);
  dump(label, f);
  note(label, "done");
  return f;
}

// ---- SQLite / SQLCipher ------------------------------------------------------------------------

Figures run_sql(const Args& a, const SqlApi& api, bool cipher, std::optional<Answers>& ref) {
  const std::string label = cipher ? "sqlcipher" : "sqlite";
  const fs::path path = a.dir / (label + ".db");
  Figures f;
  Answers ans;
  auto db = open_sql(api, path, cipher, "FULL");
  create_schema(*db);
  note(label, "load");
  LoadStats ls = load_sql(*db, a, label);
  f["load_rate"] = ls.rows / ls.seconds;
  f["load_s"] = ls.seconds;
  f["heap"] = ls.sql_highwater / kMiB;
  f["heap_malloc"] = (ls.heap_peak - ls.heap_before) / kMiB;
  db->exec("PRAGMA wal_checkpoint(TRUNCATE);");
  f["file"] = sql_file_size(path) / kMiB;
  note(label, "scores");
  f["scores_s"] = write_scores_sql(*db, a);
  auto t = Clock::now();
  db->exec("ANALYZE;");
  f["analyze_s"] = seconds_since(t);
  db->exec("PRAGMA wal_checkpoint(TRUNCATE);");
  f["file_scored"] = sql_file_size(path) / kMiB;
  note(label, "loaded in " + std::to_string(ls.seconds) + " s; reads");

  const std::string cols = kCustomerColumns;
  SqlDb::Stmt get(*db, "SELECT " + cols + " FROM customers WHERE id = ?1");
  SqlDb::Stmt tags(*db, "SELECT tag FROM customer_tags WHERE customer_id = ?1 ORDER BY tag");
  SqlDb::Stmt by_email(*db, "SELECT " + cols + " FROM customers WHERE email = ?1 ORDER BY id");
  SqlDb::Stmt history(*db, std::string("SELECT ") + kTransactionColumns +
                               " FROM transactions WHERE customer_id = ?1 AND ts >= ?2 AND ts < ?3"
                               " ORDER BY ts, id");
  SqlDb::Stmt by_tier(*db, group_sql("tier")), by_region(*db, group_sql("region"));
  SqlDb::Stmt tier_region(*db, kTierRegionSql), clv_by_tier(*db, kClvByTierSql), top(*db, top_clv_sql());
  const auto segs = segments();
  std::vector<std::unique_ptr<SqlDb::Stmt>> counts, idlists;
  for (const auto& s : segs) {
    counts.push_back(std::make_unique<SqlDb::Stmt>(*db, "SELECT count(*) FROM customers WHERE " + s.sql_where));
    idlists.push_back(std::make_unique<SqlDb::Stmt>(
        *db, "SELECT id FROM customers WHERE " + s.sql_where + " ORDER BY id"));
  }
  std::map<std::string, std::vector<double>> samples;
  for (int run = 0; run < a.runs; ++run) {
    db->exec("BEGIN");  // one snapshot for the run's reads, like custdb's read transaction
    Answers now;
    auto ids = random_ids(a, kGets, 100 + run);
    t = Clock::now();
    for (int k = 0; k < kGets; ++k) {
      get.bind(1, static_cast<long long>(ids[k]));
      std::uint64_t d = 1;
      if (get.row()) ++now.gets_found, now.get_digest += d = digest(row_to_customer(get, tags));
      get.reset();
      if (k < kHead) now.head_get_digest = now.head_get_digest * 31 + d;
    }
    samples["get"].push_back(kGets / seconds_since(t));

    auto mails = random_emails(a, kEmails, 200 + run);
    t = Clock::now();
    for (int k = 0; k < kEmails; ++k) {
      by_email.bind(1, mails[k]);
      while (by_email.row()) {
        std::uint64_t d = digest(row_to_customer(by_email, tags));
        ++now.emails_found, now.email_digest += d;
        if (k < kHead) now.head_email_digest = now.head_email_digest * 31 + d;
      }
      by_email.reset();
    }
    samples["email"].push_back(kEmails / seconds_since(t));

    ids = random_ids(a, kHistories, 300 + run);
    t = Clock::now();
    for (int k = 0; k < kHistories; ++k) {
      history.bind(1, static_cast<long long>(ids[k]))
          .bind(2, kHistoryFrom.time_since_epoch().count())
          .bind(3, kHistoryTo.time_since_epoch().count());
      std::vector<Transaction> v;
      while (history.row()) v.push_back(row_to_transaction(history));
      history.reset();
      now.history_rows += v.size();
      for (const auto& x : v) now.history_digest += digest(x);
      if (k < kHead)
        for (const auto& x : v) now.head_history_digest = now.head_history_digest * 31 + digest(x);
    }
    samples["history"].push_back(kHistories / seconds_since(t));

    for (std::size_t i = 0; i < segs.size(); ++i) {
      std::uint64_t n = 0, d = 0;
      samples["segc" + std::to_string(i)].push_back(rate([&] {
        counts[i]->row();
        n = static_cast<std::uint64_t>(counts[i]->col(0));
        counts[i]->reset();
      }));
      samples["segi" + std::to_string(i)].push_back(rate([&] {
        std::vector<CustomerId> v;
        while (idlists[i]->row()) v.push_back(static_cast<CustomerId>(idlists[i]->col(0)));
        idlists[i]->reset();
        d = ids_digest(v);
      }));
      now.segment_counts.push_back(n);
      now.segment_id_digests.push_back(d);
    }
    for (int g = 0; g < 2; ++g) {
      SqlDb::Stmt& s = g == 0 ? by_tier : by_region;
      std::vector<GroupRow> rows;
      samples[g == 0 ? "group_tier" : "group_region"].push_back(rate([&] {
        rows.clear();
        while (s.row()) rows.push_back(read_group(s, g == 0));
        s.reset();
      }));
      for (auto& r : rows) (g == 0 ? now.by_tier : now.by_region)[r.group] = r;
    }
    samples["group_tier_region"].push_back(rate([&] {
      auto& m = now.by_tier_region.emplace();
      while (tier_region.row()) read_tier_region(tier_region, m);
      tier_region.reset();
    }));
    samples["report_clv_tier"].push_back(rate([&] {
      auto& m = now.clv_by_tier.emplace();
      while (clv_by_tier.row()) read_clv_by_tier(clv_by_tier, m);
      clv_by_tier.reset();
    }));
    samples["top_clv"].push_back(rate([&] {
      auto& v = now.top_clv.emplace();
      while (top.row()) v.push_back(read_ranked(top));
      top.reset();
    }));
    db->exec("COMMIT");
    if (run == 0) ans = now;
  }
  check(label, ref, ans);

  SqlWriter w(*db);
  for (int d = 0; d < 2; ++d) {
    db->exec(d == 0 ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = OFF;");
    note(label, d == 0 ? "landings, durable" : "landings, relaxed");
    for (int run = 0; run < a.runs; ++run) {
      auto land = landings(a, d, run);
      t = Clock::now();
      for (int first = 0; first < kLandings; first += kLandingBatch) {
        db->exec("BEGIN");
        for (int i = first; i < first + kLandingBatch; ++i) w.transaction(land[i]);
        db->exec("COMMIT");
      }
      samples[d == 0 ? "land_durable" : "land_relaxed"].push_back(kLandings / seconds_since(t));
    }
  }
  db.reset();
  remove_sql_files(path);
  for (auto& [k, v] : samples) f[k] = median(v);
  dump(label, f);
  note(label, "done");
  return f;
}

// ---- DuckDB ------------------------------------------------------------------------------------

// Loads `csv` with DuckDB's CSV reader (load_duckdb), then the reads of run_sql with prepared
// statements, in one transaction a run; the point reads are the first kHead of each list.
Figures run_duckdb(const Args& a, const DuckApi& api, const CsvBase& csv, std::optional<Answers>& ref) {
  const std::string label = "duckdb";
  const fs::path path = a.dir / "duckdb.db";
  const fs::path wal = path.string() + ".wal";
  fs::remove(path), fs::remove(wal);
  Figures f;
  Answers ans;
  {
    DuckDb db(api, path.string(), {{"threads", kDuckThreads}});
    db.each("SELECT current_setting('threads')::BIGINT", [&](const DuckRow& r) {
      note(label, "threads = " + std::to_string(r.col(0)));
    });
    note(label, "load (CSV reader)");
    f["load_s"] = load_duckdb(db, csv);
    f["load_rate"] = static_cast<double>(csv.rows) / f["load_s"];
    f["csv_write_s"] = csv.seconds;
    std::error_code ec;
    f["file"] = (fs::file_size(path) + fs::file_size(wal, ec) * !ec) / kMiB;
    note(label, "loaded in " + std::to_string(f["load_s"]) + " s; reads");

    const std::string cols = kCustomerColumns;
    DuckDb::Stmt get(db, "SELECT " + cols + " FROM customers WHERE id = $1");
    DuckDb::Stmt tags(db, "SELECT tag FROM customer_tags WHERE customer_id = $1 ORDER BY tag");
    DuckDb::Stmt by_email(db, "SELECT " + cols + " FROM customers WHERE email = $1 ORDER BY id");
    DuckDb::Stmt history(db, std::string("SELECT ") + kTransactionColumns +
                                 " FROM transactions WHERE customer_id = $1 AND ts >= $2 AND ts < $3"
                                 " ORDER BY ts, id");
    DuckDb::Stmt by_tier(db, group_sql("tier")), by_region(db, group_sql("region"));
    DuckDb::Stmt tier_region(db, kTierRegionSql), clv_by_tier(db, kClvByTierSql), top(db, top_clv_sql());
    const auto segs = segments();
    std::vector<std::unique_ptr<DuckDb::Stmt>> counts, idlists;
    for (const auto& s : segs) {
      counts.push_back(std::make_unique<DuckDb::Stmt>(db, "SELECT count(*) FROM customers WHERE " + s.sql_where));
      idlists.push_back(std::make_unique<DuckDb::Stmt>(
          db, "SELECT id FROM customers WHERE " + s.sql_where + " ORDER BY id"));
    }
    // A customer row and its tags (a second prepared query, as for SQLite).
    auto read_customers = [&](DuckDb::Stmt& s) {
      std::vector<Customer> out;
      s.each([&](const DuckRow& r) { out.push_back(customer_from_row(r)); });
      for (auto& c : out) tags.bind(1, static_cast<long long>(c.id)).each([&](const DuckRow& r) {
        c.tags.push_back(r.text(0));
      });
      return out;
    };
    std::map<std::string, std::vector<double>> samples;
    for (int run = 0; run < a.runs; ++run) {
      db.exec("BEGIN TRANSACTION");  // one snapshot for the run's reads
      Answers now;
      now.all_point_reads = false;
      auto ids = random_ids(a, kGets, 100 + run);
      auto t = Clock::now();
      for (int k = 0; k < kHead; ++k) {
        auto v = read_customers(get.bind(1, static_cast<long long>(ids[k])));
        now.head_get_digest = now.head_get_digest * 31 + (v.empty() ? 1 : digest(v[0]));
      }
      samples["get"].push_back(kHead / seconds_since(t));

      auto mails = random_emails(a, kEmails, 200 + run);
      t = Clock::now();
      for (int k = 0; k < kHead; ++k)
        for (const auto& c : read_customers(by_email.bind(1, mails[k])))
          now.head_email_digest = now.head_email_digest * 31 + digest(c);
      samples["email"].push_back(kHead / seconds_since(t));

      ids = random_ids(a, kHistories, 300 + run);
      t = Clock::now();
      for (int k = 0; k < kHead; ++k) {
        history.bind(1, static_cast<long long>(ids[k]))
            .bind(2, kHistoryFrom.time_since_epoch().count())
            .bind(3, kHistoryTo.time_since_epoch().count());
        history.each([&](const DuckRow& r) {
          now.head_history_digest = now.head_history_digest * 31 + digest(transaction_from_row(r));
        });
      }
      samples["history"].push_back(kHead / seconds_since(t));

      for (std::size_t i = 0; i < segs.size(); ++i) {
        std::uint64_t n = 0, d = 0;
        samples["segc" + std::to_string(i)].push_back(rate([&] {
          counts[i]->each([&](const DuckRow& r) { n = static_cast<std::uint64_t>(r.col(0)); });
        }));
        samples["segi" + std::to_string(i)].push_back(rate([&] {
          std::vector<CustomerId> v;
          idlists[i]->each([&](const DuckRow& r) { v.push_back(static_cast<CustomerId>(r.col(0))); });
          d = ids_digest(v);
        }));
        now.segment_counts.push_back(n);
        now.segment_id_digests.push_back(d);
      }
      for (int g = 0; g < 2; ++g) {
        DuckDb::Stmt& s = g == 0 ? by_tier : by_region;
        std::vector<GroupRow> rows;
        samples[g == 0 ? "group_tier" : "group_region"].push_back(rate([&] {
          rows.clear();
          s.each([&](const DuckRow& r) { rows.push_back(read_group(r, g == 0)); });
        }));
        for (auto& r : rows) (g == 0 ? now.by_tier : now.by_region)[r.group] = r;
      }
      samples["group_tier_region"].push_back(rate([&] {
        auto& m = now.by_tier_region.emplace();
        tier_region.each([&](const DuckRow& r) { read_tier_region(r, m); });
      }));
      samples["report_clv_tier"].push_back(rate([&] {
        auto& m = now.clv_by_tier.emplace();
        clv_by_tier.each([&](const DuckRow& r) { read_clv_by_tier(r, m); });
      }));
      samples["top_clv"].push_back(rate([&] {
        auto& v = now.top_clv.emplace();
        top.each([&](const DuckRow& r) { v.push_back(read_ranked(r)); });
      }));
      db.exec("COMMIT");
      if (run == 0) ans = now;
    }
    check(label, ref, ans);
    for (auto& [k, v] : samples) f[k] = median(v);
  }
  fs::remove(path), fs::remove(wal);
  // The second way in: the appender, from the generator (no CSV), into a database of its own.
  {
    const fs::path app = a.dir / "duckdb-appender.db";
    fs::remove(app), fs::remove(app.string() + ".wal");
    note(label, "load (appender)");
    {
      DuckDb db(api, app.string(), {{"threads", kDuckThreads}});
      f["load_appender_s"] = load_duckdb_appender(db, a);
    }
    fs::remove(app), fs::remove(app.string() + ".wal");
  }
  dump(label, f);
  note(label, "done");
  return f;
}

// ---- output ------------------------------------------------------------------------------------

std::string num(double v) {
  char buf[64];
  if (v < 10) std::snprintf(buf, sizeof buf, "%.2f", v);
  else if (v < 100) std::snprintf(buf, sizeof buf, "%.1f", v);
  else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    std::string s = buf, out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  }
  return buf;
}

std::string cell(const Figures* f, const std::string& key) {
  if (!f || !f->count(key)) return "–";
  return num(f->at(key));
}

std::string ratio(const Figures* x, const Figures* y, const std::string& key) {
  if (!x || !y || !x->count(key) || !y->count(key) || y->at(key) == 0) return "–";
  char buf[32];
  double r = x->at(key) / y->at(key);
  std::snprintf(buf, sizeof buf, r < 10 ? "%.2f×" : "%.0f×", r);
  return buf;
}

std::string machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "?";
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / (1 << 30);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%ld CPUs (%s), %.1f GiB RAM", sysconf(_SC_NPROCESSORS_ONLN),
                model.c_str(), ram);
  return buf;
}

std::string cipher_version(const SqlApi& api) {
  SqlDb mem(api, ":memory:");
  SqlDb::Stmt s(mem, "PRAGMA cipher_version;");
  return s.row() ? s.text(0) : "?";
}

}  // namespace

int run_full(const Args& a) {
  g_start = Clock::now();
  std::map<std::string, bool> on;
  {
    std::stringstream ss(a.engines);
    std::string e;
    while (std::getline(ss, e, ',')) {
      if (std::find(std::begin(kEngineNames), std::end(kEngineNames), e) == std::end(kEngineNames)) {
        std::fprintf(stderr, "unknown engine %s (custdb, custdb-enc, sqlite, sqlcipher, duckdb)\n", e.c_str());
        return 2;
      }
      on[e] = true;
    }
  }
  std::optional<SqlApi> sqlite, sqlcipher;
  if (on["sqlite"]) sqlite = SqlApi::load("libsqlite3.so.0");
  if (on["sqlcipher"]) sqlcipher = SqlApi::load("libsqlcipher.so.0");
  // DuckDB is optional: without its library the engine is skipped, said on both outputs.
  std::optional<DuckApi> duckdb;
  std::string duckdb_skipped = "not in --engines";
  if (on["duckdb"]) {
    const std::string lib = duckdb_library(a);
    if (lib.empty()) {
      duckdb_skipped = "no --duckdb PATH and no CUSTDB_DUCKDB_LIB (run tools/bench/setup_duckdb.sh)";
    } else {
      try {
        duckdb = DuckApi::load(lib);
      } catch (const std::exception& e) {
        duckdb_skipped = e.what();
      }
    }
    if (!duckdb) std::fprintf(stderr, "duckdb: skipped: %s\n", duckdb_skipped.c_str());
  }

  std::printf("## custdb against SQLite, SQLCipher and DuckDB (suite full)\n\n");
  std::printf("- customers: %llu, %d transactions each (every insert updates the customer's aggregates "
              "and their indexes), plus the generator's relationships; seed fixed "
              "(tools/common/synthetic.cc)\n",
              static_cast<unsigned long long>(a.customers), a.txns_per_customer);
  std::printf("- engines: %s; runs: %d (rates are medians of the runs; the load runs once)\n",
              a.engines.c_str(), a.runs);
  std::printf("- bulk load: %llu customers with their transactions a commit (custdb: one WriteTxn; "
              "SQL: BEGIN/COMMIT), then relationships %llu a commit; durable (fsync at every "
              "commit): custdb SyncMode::kFull, SQL journal_mode=WAL + synchronous=FULL. "
              "Rows = customers + transactions + relationships. SQL ANALYZE runs after the load, "
              "not timed in it\n",
              static_cast<unsigned long long>(kLoadBatch), static_cast<unsigned long long>(kLoadBatch));
  std::printf("- reads in one snapshot a run (custdb ReadTxn, SQL BEGIN…COMMIT): %d point gets by "
              "random id (SQL: SELECT all columns by primary key + the tags), %d lookups by email, "
              "%d histories (one customer, ts in [2025-05-01, 2026-05-01)), every segment (count "
              "and id list, ≥0.3 s each), grouped aggregates over all customers "
              "(custdb group_all, SQL GROUP BY with count/sum/min/max/avg(total_amount)/sum(txn_count)), "
              "the same by tier × region (custdb report_all), a report by tier measuring clv "
              "(count/sum/min/max; custdb report_all), the top %zu by clv over every customer "
              "(custdb rank of `%s`, SQL ORDER BY clv DESC, id LIMIT); "
              "every engine's answers are checked against the first's\n",
              kGets, kEmails, kHistories, kTopN, kEveryone);
  std::printf("- scores: every customer but prospects carries the generator's scores "
              "(tools/common/synthetic.cc, Generator::scores), written after the load and not timed "
              "in it (own row): custdb through the scoring run's own write, %llu customers a write "
              "transaction; SQL by UPDATE, as many a commit (columns of customers, indexed like "
              "custdb indexes them). DuckDB reads them with the customers from the CSV, in its load\n",
              static_cast<unsigned long long>(kLoadBatch));
  std::printf("- DuckDB: %s; threads=%s; the base written once as CSV (not timed in the load), "
              "loaded by DuckDB's CSV reader (COPY / read_csv; the customers' aggregates computed "
              "from its transactions in the same INSERT), then indexes (primary key id, email, "
              "customer_tags(customer_id), transactions(customer_id)) and CHECKPOINT, all in the "
              "load time (a second load, through the appender from the generator, is its own row); "
              "the SQL engines' schema and WHERE clauses; prepared statements; reads in "
              "one transaction a run; point gets, email lookups and histories: the first %d of "
              "each list; no landings\n",
              duckdb ? "on" : ("not run: " + duckdb_skipped).c_str(), kDuckThreads, kHead);
  std::printf("- transaction landing: %d a run on random existing customers, %d a commit; "
              "durable = custdb SyncMode::kFull | SQL WAL + synchronous=FULL (fsync at each commit); "
              "relaxed = custdb SyncMode::kNone | SQL WAL + synchronous=OFF (no fsync at commit)\n",
              kLandings, kLandingBatch);
  std::printf("- caches: SQL page cache cache_size=-%lld (%.1f GiB) per connection; custdb reads "
              "through the OS page cache (LMDB mmap, map starts at 1 GiB and grows)\n",
              kSqlCacheKib, kSqlCacheKib / 1048576.0);
  std::printf("- file size: custdb data.mdb; SQL database + WAL after PRAGMA wal_checkpoint(TRUNCATE); "
              "DuckDB file + WAL after CHECKPOINT; right after the load (custdb and SQL: before the scores; "
              "again after them, own row)\n");
  std::printf("- peak heap during load, above the heap before it, sampled before and after every "
              "commit: glibc mallinfo2 (uordblks + hblkhd: heap in use, not RSS; LMDB's map is "
              "mmap, not heap, and the OS page cache is not counted for anyone). For SQL the "
              "main row is sqlite3_memory_highwater (SQLite's own allocations, page cache "
              "included); the mallinfo2 row measures every engine the same way\n");
  std::printf("- ratios: custdb ÷ SQLite, custdb-enc ÷ SQLCipher and custdb ÷ DuckDB of the row's figure: for rates "
              "> 1 means custdb is faster; for seconds, MiB: < 1 means custdb is smaller. "
              "enc/plain = custdb-enc ÷ custdb\n");
  std::printf("- versions: %s, libsodium %s, CRoaring %d.%d.%d, SQLite %s, SQLCipher %s "
              "(on SQLite %s), DuckDB %s, compiler g++ %s\n",
              mdb_version(nullptr, nullptr, nullptr), sodium_version_string(), ROARING_VERSION_MAJOR,
              ROARING_VERSION_MINOR, ROARING_VERSION_REVISION, sqlite ? sqlite->libversion() : "–",
              sqlcipher ? cipher_version(*sqlcipher).c_str() : "–",
              sqlcipher ? sqlcipher->libversion() : "–", duckdb ? duckdb->library_version() : "–",
              __VERSION__);
  std::printf("- machine: %s\n\n", machine().c_str());
  std::fflush(stdout);

  std::optional<Answers> ref;
  std::optional<Figures> plain, sql, enc, cipher, duck;
  if (on["custdb"]) plain = run_custdb(a, false, ref);
  if (sqlite) sql = run_sql(a, *sqlite, false, ref);
  if (on["custdb-enc"]) enc = run_custdb(a, true, ref);
  if (sqlcipher) cipher = run_sql(a, *sqlcipher, true, ref);
  if (duckdb) {
    note("duckdb", "writing the CSV files");
    CsvBase csv = write_csv_base(a, a.dir / "csv");
    note("duckdb", "CSV written in " + std::to_string(csv.seconds) + " s, " +
                       std::to_string(csv.bytes / 1048576) + " MiB");
    duck = run_duckdb(a, *duckdb, csv, ref);
    fs::remove_all(a.dir / "csv");
  }

  struct Row {
    std::string key, label;
  };
  std::vector<Row> rows = {
      {"load_rate", "bulk load (rows/s)"},
      {"load_s", "bulk load (s)"},
      {"load_appender_s", "DuckDB: bulk load through the appender instead of CSV (s)"},
      {"get", "point get by id, all fields (gets/s)"},
      {"email", "lookup by email (lookups/s)"},
      {"land_durable", "transaction landing, durable (landings/s)"},
      {"land_relaxed", "transaction landing, relaxed (landings/s)"},
  };
  const auto segs = segments();
  for (std::size_t i = 0; i < segs.size(); ++i) {
    std::string matches = ref ? " — " + num(static_cast<double>(ref->segment_counts[i])) + " matches" : "";
    rows.push_back({"segc" + std::to_string(i), "segment count: `" + segs[i].query + "`" + matches + " (queries/s)"});
    rows.push_back({"segi" + std::to_string(i), "segment ids: `" + segs[i].query + "` (queries/s)"});
  }
  rows.push_back({"history", "one customer's history, 1-year range (queries/s)"});
  rows.push_back({"group_tier", "grouped aggregates by tier, all customers (queries/s)"});
  rows.push_back({"group_region", "grouped aggregates by region, all customers (queries/s)"});
  rows.push_back({"group_tier_region", "grouped aggregates by tier × region, all customers (queries/s)"});
  rows.push_back({"report_clv_tier", "report by tier, measure clv (count, sum, min, max), all customers (queries/s)"});
  rows.push_back({"top_clv", "top " + std::to_string(kTopN) + " by clv, all customers (queries/s)"});
  rows.push_back({"scores_s", "scores written after the load, not in load time (s)"});
  rows.push_back({"file", "file size after load (MiB; DuckDB: with the scores)"});
  rows.push_back({"file_scored", "file size after the scores pass (MiB; custdb: LMDB free pages included)"});
  rows.push_back({"file_compact", "custdb file size, compacted copy (backup --compact) (MiB)"});
  rows.push_back({"heap", "peak heap during load (MiB; custdb mallinfo2, SQL sqlite3_memory_highwater)"});
  rows.push_back({"heap_malloc", "peak heap during load, mallinfo2 for all (MiB)"});
  rows.push_back({"analyze_s", "SQL ANALYZE after load, not in load time (s)"});
  rows.push_back({"csv_write_s", "DuckDB: writing the CSV files, not in load time (s)"});

  const Figures* P = plain ? &*plain : nullptr;
  const Figures* S = sql ? &*sql : nullptr;
  const Figures* E = enc ? &*enc : nullptr;
  const Figures* C = cipher ? &*cipher : nullptr;
  const Figures* D = duck ? &*duck : nullptr;
  std::printf("| operation | custdb | SQLite | ratio | custdb-enc | SQLCipher | ratio | enc/plain "
              "| DuckDB | custdb ÷ DuckDB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.label.c_str(),
                cell(P, r.key).c_str(), cell(S, r.key).c_str(), ratio(P, S, r.key).c_str(),
                cell(E, r.key).c_str(), cell(C, r.key).c_str(), ratio(E, C, r.key).c_str(),
                ratio(E, P, r.key).c_str(), cell(D, r.key).c_str(), ratio(P, D, r.key).c_str());
  std::printf("\nanswers %s across the engines run; total time %.0f s\n",
              g_mismatch ? "DIFFER (see stderr)" : "identical", seconds_since(g_start));
  return g_mismatch ? 1 : 0;
}


// Suite "profile": loads one custdb database (--engines custdb or custdb-enc, the first listed)
// and repeats one operation for --runs × 5 seconds, so a profiler (perf record -p) sees only it.
// --query is a segment (its plan is printed, then count() is repeated), or group:tier /
// group:region (group_all), report:tier,region / report:tier:clv (report_all as suite full
// runs it), top:clv (rank of every customer by clv, top 100), or history (transactions_of on
// random customers).
int run_profile(const Args& a) {
  const bool encrypted = a.engines.rfind("custdb-enc", 0) == 0;
  const std::string label = encrypted ? "custdb-enc" : "custdb";
  const fs::path path = a.dir / label;
  // CUSTDB_BENCH_REUSE=1 opens a database an earlier profile run left in --dir (same
  // --customers and --txns: not checked) instead of loading it again: profiles of several
  // queries at 1M then load once.
  const char* reuse_env = std::getenv("CUSTDB_BENCH_REUSE");
  const bool reuse = reuse_env && std::string(reuse_env) == "1" && fs::exists(path / "data.mdb");
  Database db = open_custdb(path, encrypted, SyncMode::kNone, !reuse);
  if (!reuse) {
    LoadStats ls = load_custdb(db, a, label);
    write_scores_custdb(db, a);
    std::printf("%s: %llu customers loaded in %.1f s\n", label.c_str(),
                static_cast<unsigned long long>(a.customers), ls.seconds);
  }
  auto rd = db.begin_read();
  if (!rd) die("begin read", rd.error());
  std::function<void()> op;
  std::optional<query::Node> q;
  const SegmentOptions so{as_of()};
  std::vector<CustomerId> ids = random_ids(a, 100'000, 5);
  std::size_t next = 0;
  if (a.query == "group:tier" || a.query == "group:region") {
    GroupBy by = a.query == "group:tier" ? GroupBy::kTier : GroupBy::kRegion;
    op = [&, by] { (void)rd->group_all(by).value(); };
  } else if (a.query == "report:tier,region" || a.query == "report:tier:clv" || a.query == "top:clv") {
    // The new rows of suite full, as it runs them.
    if (a.query == "top:clv") {
      q = query::parse(kEveryone).value();
      op = [&] {
        if (auto r = rd->rank(*q, RankBy::kClv, kTopN, so); !r) die("rank", r.error());
      };
    } else {
      ReportSpec spec = a.query == "report:tier:clv"
                            ? ReportSpec{{GroupBy::kTier}, {Measure::kClv}}
                            : ReportSpec{{GroupBy::kTier, GroupBy::kRegion},
                                         {Measure::kTotalAmount, Measure::kTxnCount}};
      op = [&, spec] {
        if (auto r = rd->report_all(spec); !r) die("report_all", r.error());
      };
    }
  } else if (a.query == "history") {
    op = [&] { (void)rd->transactions_of(ids[next++ % ids.size()], kHistoryFrom, kHistoryTo).value(); };
  } else {
    auto parsed = query::parse(a.query);
    if (!parsed) die(a.query, parsed.error());
    q = std::move(*parsed);
    std::printf("%s\n", rd->explain(*q, so).value().c_str());
    op = [&] { (void)rd->count(*q, so).value(); };
  }
  std::fflush(stdout);
  std::fprintf(stderr, "profile: pid %d, running %s\n", static_cast<int>(getpid()), a.query.c_str());
  double r = rate(op, 5.0 * a.runs);
  std::printf("%s: %.2f calls/s\n", a.query.c_str(), r);
  return 0;
}

}  // namespace custdb::bench
