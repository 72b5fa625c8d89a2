// Suite "attributes" (issue #17): what 20 custom attributes per customer cost. Two databases of
// the same synthetic customers (fixed seed, no transactions: the customer record is what the
// attributes grow), one without a schema and one declaring 20 customer attributes (every type;
// 8 of them indexed, 2 personal) with a value of each on every customer. Measured on both, in
// plaintext and encrypted mode:
//   - load: bulk insert, 10k customers a commit (SyncMode::kNoMetaSync), customers/s;
//   - point get by id: 200k random gets in one snapshot, median of R runs, gets/s;
//   - segment count on built-ins (`tier in (gold, platinum) and region = east`), and on the
//     attribute database also a count over two indexed custom attributes and one over a custom
//     attribute without an index (a record scan), counts/s;
//   - file size.
// "per attribute" divides the extra time per operation (or bytes per customer) by 20.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "custdb/query.h"
#include "synthetic.h"

namespace custdb::bench {
namespace {

constexpr int kAttributes = 20;
const char* const kBranches[] = {"B017", "B021", "B042", "B105", "B230", "B311"};
const char* const kSegments[] = {"gold", "silver", "retail", "private", "sme"};

// The 20 declared attributes: name, type, and flags.
std::vector<AttributeDef> bench_schema() {
  std::vector<AttributeDef> out;
  auto add = [&](std::string name, AttributeType type, bool indexed, bool personal = false) {
    AttributeDef d;
    d.name = std::move(name);
    d.type = type;
    d.indexed = indexed;
    d.personal = personal;
    if (type == AttributeType::kDecimal) d.scale = 2;
    out.push_back(std::move(d));
  };
  add("branch", AttributeType::kEnum, true);
  out.back().values.assign(std::begin(kBranches), std::end(kBranches));
  add("segment_code", AttributeType::kEnum, true);
  out.back().values.assign(std::begin(kSegments), std::end(kSegments));
  add("loyalty_points", AttributeType::kInteger, true);
  add("credit_limit", AttributeType::kAmount, true);
  add("kyc_review", AttributeType::kDate, true);
  add("paperless", AttributeType::kBool, true);
  add("interests", AttributeType::kTagSet, true);
  add("risk_score", AttributeType::kDecimal, true);
  add("nps", AttributeType::kInteger, false);
  add("last_login", AttributeType::kTimestamp, false);
  add("account_manager", AttributeType::kText, false);
  add("referral_code", AttributeType::kText, false);
  add("tax_id", AttributeType::kText, false, true);
  add("passport_expiry", AttributeType::kDate, false, true);
  add("savings_goal", AttributeType::kAmount, false);
  add("app_user", AttributeType::kBool, false);
  add("employees", AttributeType::kInteger, false);
  add("annual_fee", AttributeType::kAmount, false);
  add("onboarded_on", AttributeType::kDate, false);
  add("churn_propensity", AttributeType::kDecimal, false);
  return out;
}

// Deterministic values for customer i.
Attributes bench_values(std::uint64_t i) {
  std::mt19937_64 r(i * 0x9e3779b97f4a7c15ull);
  const Date base = parse_date("2020-01-01").value();
  Attributes a;
  a["branch"] = std::string(kBranches[r() % std::size(kBranches)]);
  a["segment_code"] = std::string(kSegments[r() % std::size(kSegments)]);
  a["loyalty_points"] = static_cast<std::int64_t>(r() % 5000);
  a["credit_limit"] = static_cast<std::int64_t>(r() % 5'000'000);
  a["kyc_review"] = base + std::chrono::days(r() % 2200);
  a["paperless"] = r() % 2 == 0;
  std::vector<std::string> tags;
  for (const char* t : {"golf", "travel", "wine", "tech"})
    if (r() % 3 == 0) tags.push_back(t);
  if (tags.empty()) tags.push_back("travel");
  a["interests"] = tags;
  a["risk_score"] = static_cast<std::int64_t>(r() % 10000);
  a["nps"] = static_cast<std::int64_t>(r() % 11);
  a["last_login"] = parse_timestamp("2026-01-01").value() + std::chrono::milliseconds(r() % 20'000'000'000ull);
  a["account_manager"] = "Manager " + std::to_string(r() % 300);
  a["referral_code"] = "REF" + std::to_string(r() % 1'000'000);
  a["tax_id"] = "TX" + std::to_string(100'000'000 + r() % 900'000'000);
  a["passport_expiry"] = base + std::chrono::days(1000 + r() % 3000);
  a["savings_goal"] = static_cast<std::int64_t>(r() % 10'000'000);
  a["app_user"] = r() % 3 != 0;
  a["employees"] = static_cast<std::int64_t>(r() % 500);
  a["annual_fee"] = static_cast<std::int64_t>(r() % 50'000);
  a["onboarded_on"] = base + std::chrono::days(r() % 2000);
  a["churn_propensity"] = static_cast<std::int64_t>(r() % 100);
  return a;
}

struct Figures {
  double load = 0, get = 0, count_builtin = 0, count_custom = 0, count_scan = 0;
  std::uint64_t builtin_n = 0, custom_n = 0, scan_n = 0;
  std::uintmax_t file_size = 0;
};

Figures run_one(const Args& a, bool encrypted, bool with_attributes) {
  const fs::path path = a.dir / (std::string(encrypted ? "enc" : "plain") + (with_attributes ? "-attrs" : "-none"));
  fs::remove_all(path);
  Options o;
  o.sync = SyncMode::kNoMetaSync;
  if (encrypted) o.key = KeyMaterial::from_raw_key(std::vector<std::uint8_t>(32, 0x42)).value();
  auto db = Database::open(path, o);
  if (!db) die("open", db.error());
  if (with_attributes)
    for (const AttributeDef& d : bench_schema())
      if (auto r = db->add_attribute(d); !r) die("add_attribute " + d.name, r.error());
  synthetic::Generator gen;
  Figures f;
  auto t0 = Clock::now();
  constexpr std::uint64_t kBatch = 10'000;
  for (std::uint64_t first = 1; first <= a.customers; first += kBatch) {
    auto txn = db->begin_write();
    if (!txn) die("begin", txn.error());
    for (std::uint64_t i = first; i < first + kBatch && i <= a.customers; ++i) {
      Customer c = gen.customer(i);
      if (with_attributes) c.attributes = bench_values(i);
      if (auto r = txn->insert_customer(std::move(c)); !r) die("insert", r.error());
    }
    if (auto s = txn->commit(); !s) die("commit", s.error());
  }
  f.load = a.customers / seconds_since(t0);

  auto read = db->begin_read();
  if (!read) die("begin read", read.error());
  auto opts = read->parse_options();
  if (!opts) die("parse options", opts.error());
  auto parse = [&](const char* text) {
    auto q = query::parse(text, *opts);
    if (!q) die(text, q.error());
    return *q;
  };
  constexpr int kOps = 200'000;
  std::mt19937_64 rng(7);
  std::vector<double> gets, builtin, custom, scan;
  const query::Node qb = parse("tier in (gold, platinum) and region = east");
  SegmentOptions so{parse_date("2026-11-01").value()};
  for (int run = 0; run < a.runs; ++run) {
    std::vector<std::uint64_t> ids(kOps);
    for (auto& id : ids) id = 1 + rng() % a.customers;
    auto t = Clock::now();
    std::uint64_t found = 0;
    for (auto id : ids) found += read->get_customer(id).value().has_value();
    gets.push_back(kOps / seconds_since(t));
    if (found != static_cast<std::uint64_t>(kOps)) std::fprintf(stderr, "missing customers!\n");
    builtin.push_back(rate([&] { f.builtin_n = read->count(qb, so).value(); }));
    if (with_attributes && std::getenv("CUSTDB_BENCH_NO_CUSTOM_QUERIES") == nullptr) {
      const query::Node qc = parse("branch = B017 and loyalty_points >= 1000");
      const query::Node qs = parse("nps >= 9");
      custom.push_back(rate([&] { f.custom_n = read->count(qc, so).value(); }));
      scan.push_back(rate([&] { f.scan_n = read->count(qs, so).value(); }, 0.5));
    }
  }
  f.get = median(gets);
  f.count_builtin = median(builtin);
  f.count_custom = median(custom);
  f.count_scan = median(scan);
  f.file_size = fs::file_size(path / "data.mdb");
  return f;
}

}  // namespace

int run_attributes(const Args& a) {
  std::printf("custdb with %d custom attributes per customer (8 indexed, 2 personal) vs none: "
              "%llu customers, no transactions, median of %d runs\n\n",
              kAttributes, static_cast<unsigned long long>(a.customers), a.runs);
  std::printf("| mode | operation | no attributes | 20 attributes | ratio | per attribute |\n"
              "|---|---|---|---|---|---|\n");
  for (bool encrypted : {false, true}) {
    const char* mode = encrypted ? "encrypted" : "plaintext";
    const Figures none = run_one(a, encrypted, false);
    const Figures with = run_one(a, encrypted, true);
    // Extra microseconds per operation, divided by the number of attributes.
    auto per = [](double rate_none, double rate_with) {
      return (1e6 / rate_with - 1e6 / rate_none) / kAttributes;
    };
    std::printf("| %s | load (10k a commit) | %.0f customers/s | %.0f customers/s | %.2f | +%.3f µs a customer |\n",
                mode, none.load, with.load, with.load / none.load, per(none.load, with.load));
    std::printf("| %s | point get by id | %.0f gets/s | %.0f gets/s | %.2f | +%.3f µs a get |\n", mode,
                none.get, with.get, with.get / none.get, per(none.get, with.get));
    std::printf("| %s | count `tier in (gold, platinum) and region = east` (%llu) | %.0f /s | %.0f /s | %.2f | %+.3f µs a count |\n",
                mode, static_cast<unsigned long long>(none.builtin_n), none.count_builtin,
                with.count_builtin, with.count_builtin / none.count_builtin,
                per(none.count_builtin, with.count_builtin));
    std::printf("| %s | count `branch = B017 and loyalty_points >= 1000` (%llu, indexed) | | %.0f /s | | |\n",
                mode, static_cast<unsigned long long>(with.custom_n), with.count_custom);
    std::printf("| %s | count `nps >= 9` (%llu, not indexed: record scan) | | %.1f /s | | |\n", mode,
                static_cast<unsigned long long>(with.scan_n), with.count_scan);
    std::printf("| %s | file size | %.1f MiB | %.1f MiB | %.2f | +%.1f B a customer and attribute |\n", mode,
                none.file_size / 1048576.0, with.file_size / 1048576.0,
                static_cast<double>(with.file_size) / none.file_size,
                (static_cast<double>(with.file_size) - none.file_size) / a.customers / kAttributes);
  }
  return 0;
}

}  // namespace custdb::bench
