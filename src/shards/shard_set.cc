// Shards (custdb/shards.h): placement, routed writes and scatter-gather reads.
//
// Placement (meta "shard", raw, local to the file: never carried by the change feed): 8 bytes,
// u32 big-endian index then u32 big-endian count. Written once, through the engine's ordinary
// write path (DatabaseImpl::put in a WriteTxn), by the first read-write ShardSet::open; every
// later open compares. A shard opened read-only without a placement is accepted (nothing can
// be recorded; reads do not depend on the order, only routing does). Every shard is checked
// before any placement is recorded: a refused open changes no file.
//
// Merging (each shard answers in its own read transaction; the shards are asked in parallel,
// up to 16 at once, and their answers merged in shard order):
// - count adds; ids and pages merge ascending (the shards' ids are disjoint);
// - rank keeps the n best of every shard's n best (value descending, ties by ascending id);
// - report rows with the same group labels add customers and each measure's count and 128-bit
//   sum, take the min of mins and max of maxes; MeasureStats::avg() then derives the average
//   from the merged sum and count exactly as one database does. Rows are ordered as
//   Segment::report orders them: per group attribute "" first, then the enum number (built-in
//   enums in their declared order, a custom enum in its values' order, bool false then true),
//   the number (income_band, r/f/m_score), or the text bytes;
// - group (the wave-1 shape) merges as report and recomputes total_amount_avg as the engine
//   does (double(sum) / customers), ordered by the group's text.
#include "custdb/shards.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <string>
#include <tuple>
#include <utility>
#include <variant>

#include "custdb/attributes.h"
#include "engine/db_impl.h"
#include "util/coding.h"
#include "util/enums.h"

namespace custdb::shards {

std::size_t shard_of(CustomerId id, std::size_t shard_count) {
  // Wire contract (custdb/shards.h): XXH3_64bits of the id as 8 bytes big-endian, seed 0.
  unsigned char be[8];
  for (int i = 0; i < 8; ++i) be[i] = static_cast<unsigned char>(id >> (56 - 8 * i));
  return static_cast<std::size_t>(XXH3_64bits(be, sizeof be) % shard_count);
}

struct ShardSet::Impl {
  std::vector<Database> shards;
  std::vector<std::filesystem::path> paths;
};

ShardSet::ShardSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardSet::ShardSet(ShardSet&&) noexcept = default;
ShardSet& ShardSet::operator=(ShardSet&&) noexcept = default;
ShardSet::~ShardSet() = default;

namespace {

constexpr std::string_view kMetaShard = "shard";
constexpr std::size_t kMaxShards = 1024;

tl::unexpected<Error> with_context(const Error& e, const std::string& what) {
  return make_error(e.code(), what + ": " + e.message());
}

std::string shard_name(std::size_t i, const std::filesystem::path& p) {
  return "shard " + std::to_string(i) + " (" + p.string() + ")";
}

std::string placement_bytes(std::uint32_t index, std::uint32_t count) {
  std::string v(8, '\0');
  auto* p = reinterpret_cast<std::uint8_t*>(v.data());
  coding::put_u32(p, index);
  coding::put_u32(p + 4, count);
  return v;
}

// The stored placement of st's file: nullopt when none; kCorruption when malformed.
Result<std::optional<std::pair<std::uint32_t, std::uint32_t>>> read_placement(
    detail::DatabaseImpl& d, detail::TxnState& st) {
  auto raw = d.get(st, d.tables().meta, coding::as_bytes(kMetaShard));
  if (!raw) return tl::unexpected(raw.error());
  if (!*raw) return std::optional<std::pair<std::uint32_t, std::uint32_t>>();
  if ((*raw)->size() != 8)
    return make_error(ErrorCode::kCorruption, "meta shard: not 8 bytes");
  const std::uint32_t index = coding::get_u32((*raw)->data());
  const std::uint32_t count = coding::get_u32((*raw)->data() + 4);
  if (count == 0 || index >= count)
    return make_error(ErrorCode::kCorruption, "meta shard: index " + std::to_string(index) +
                                                  " of count " + std::to_string(count));
  return std::optional(std::pair{index, count});
}

Status placement_matches(const std::pair<std::uint32_t, std::uint32_t>& got, std::size_t index,
                         std::size_t count) {
  if (got.first == index && got.second == count) return {};
  return make_error(ErrorCode::kFailedPrecondition,
                    "it was placed as shard " + std::to_string(got.first) + " of " +
                        std::to_string(got.second) + ", not " + std::to_string(index) + " of " +
                        std::to_string(count) +
                        " (open the shards in their original order and number)");
}

// Checks shard `index` of `count` against its stored placement: true when it has none yet
// (to be recorded by record_place once every shard checked).
Result<bool> check_place(Database& db, std::size_t index, std::size_t count) {
  detail::DatabaseImpl& d = Database::Impl::of(db);
  auto read = db.begin_read();
  if (!read) return tl::unexpected(read.error());
  detail::TxnState* st = ReadView::State::of(*read);
  auto got = read_placement(d, *st);
  if (!got) return tl::unexpected(got.error());
  if (!*got) return true;
  if (auto s = placement_matches(**got, index, count); !s) return tl::unexpected(s.error());
  return false;
}

// Records shard `index` of `count` in a file that had no placement when checked.
Status record_place(Database& db, std::size_t index, std::size_t count) {
  detail::DatabaseImpl& d = Database::Impl::of(db);
  return db.write([&](WriteTxn& txn) -> Status {
    auto done = detail::run_write<std::monostate>(txn, [&](detail::TxnState& st) -> Result<std::monostate> {
      auto got = read_placement(d, st);  // another process may have placed it meanwhile
      if (!got) return tl::unexpected(got.error());
      if (*got) {
        if (auto s = placement_matches(**got, index, count); !s) return tl::unexpected(s.error());
        return std::monostate{};
      }
      const std::string v = placement_bytes(static_cast<std::uint32_t>(index),
                                            static_cast<std::uint32_t>(count));
      if (auto s = d.put(st, d.tables().meta, coding::as_bytes(kMetaShard), coding::as_bytes(v)); !s)
        return tl::unexpected(s.error());
      return std::monostate{};
    });
    if (!done) return tl::unexpected(done.error());
    return {};
  });
}

tl::unexpected<Error> missing_id(const char* what) {
  return make_error(ErrorCode::kInvalidArgument,
                    std::string("id: ") + what +
                        " must be chosen before the write (0 would let one shard pick an id "
                        "another shard may pick too)");
}

// ---- report order (custdb/segment.h, Segment::report) ----

// Where a group label sorts under one attribute: ("" first, number, text bytes).
using SortKey = std::tuple<int, std::int64_t, std::string>;

template <class E>
std::vector<std::string> names_of() {
  std::vector<std::string> out;
  for (const auto& row : enums::Table<E>::rows) out.emplace_back(row.second);
  return out;
}

// Maps a label of one group attribute to its SortKey.
struct LabelOrder {
  enum class Kind { kNames, kNumber, kText } kind = Kind::kText;
  std::vector<std::string> names;  // kNames: the label's index is its number

  SortKey key(const std::string& label) const {
    if (label.empty()) return {0, 0, label};
    switch (kind) {
      case Kind::kNames: {
        auto it = std::find(names.begin(), names.end(), label);
        return {1, it == names.end() ? static_cast<std::int64_t>(names.size()) : it - names.begin(), label};
      }
      case Kind::kNumber: {
        std::int64_t n = 0;
        std::from_chars(label.data(), label.data() + label.size(), n);
        return {1, n, label};
      }
      case Kind::kText: break;
    }
    return {1, 0, label};
  }
};

LabelOrder order_of(GroupBy g) {
  LabelOrder o;
  o.kind = LabelOrder::Kind::kNames;
  switch (g) {
    case GroupBy::kTier: o.names = names_of<Tier>(); break;
    case GroupBy::kStage: o.names = names_of<Stage>(); break;
    case GroupBy::kType: o.names = names_of<CustomerType>(); break;
    case GroupBy::kGender: o.names = names_of<Gender>(); break;
    case GroupBy::kRisk: o.names = names_of<Risk>(); break;
    case GroupBy::kConsentEmail: case GroupBy::kConsentSms: case GroupBy::kConsentPhone:
    case GroupBy::kConsentProfiling: case GroupBy::kConsentSharing:
      o.names = names_of<ConsentState>();
      break;
    case GroupBy::kIncomeBand: case GroupBy::kRScore: case GroupBy::kFScore: case GroupBy::kMScore:
      o.kind = LabelOrder::Kind::kNumber;
      break;
    default: o.kind = LabelOrder::Kind::kText;
  }
  return o;
}

LabelOrder order_of(const AttributeDef& def) {
  LabelOrder o;
  if (def.type == AttributeType::kEnum) {
    o.kind = LabelOrder::Kind::kNames;
    o.names = def.values;
  } else if (def.type == AttributeType::kBool) {
    o.kind = LabelOrder::Kind::kNames;
    o.names = {"false", "true"};
  }
  return o;
}

void merge_stats(MeasureStats& into, const MeasureStats& m) {
  into.count += m.count;
  into.sum += m.sum;
  if (m.min) into.min = into.min ? std::min(*into.min, *m.min) : *m.min;
  if (m.max) into.max = into.max ? std::max(*into.max, *m.max) : *m.max;
}

// The custom attributes a rank or report names, as shard 0 declares them (names shard 0 does
// not declare are left to the engine, which refuses them on shard 0).
Result<std::vector<AttributeDef>> declared_on_shard0(const Database& shard0,
                                                     const std::vector<std::string>& names) {
  std::vector<AttributeDef> out;
  if (names.empty()) return out;
  auto schema = shard0.schema();
  if (!schema) return tl::unexpected(schema.error());
  for (const std::string& n : names)
    if (const AttributeDef* def = schema->find(n)) out.push_back(*def);
  return out;
}

// Whether txn's schema declares `want` (shard 0's definitions) alike: the same type, decimal
// scale and enum values in the same order. Otherwise the shards' stored values are in other
// units (an integer beside an amount, decimals of another scale) and must not be added or
// ranked together, nor groups ordered by one shard's declaration: kFailedPrecondition, as
// different base currencies are.
Status declared_alike(const ReadTxn& txn, const std::vector<AttributeDef>& want) {
  if (want.empty()) return {};
  auto schema = txn.schema();
  if (!schema) return tl::unexpected(schema.error());
  for (const AttributeDef& w : want) {
    const AttributeDef* def = schema->find(w.name);
    if (!def) continue;  // the engine's own error (unknown attribute)
    const bool same = def->type == w.type && def->scale == w.scale &&
                      (w.type != AttributeType::kEnum || def->values == w.values);
    if (same) continue;
    auto text = [](const AttributeDef& d) {
      std::string t(to_string(d.type));
      if (d.type == AttributeType::kDecimal) t += " scale " + std::to_string(d.scale);
      if (d.type == AttributeType::kEnum) {
        t += " (";
        for (std::size_t i = 0; i < d.values.size(); ++i) t += (i ? "," : "") + d.values[i];
        t += ")";
      }
      return t;
    };
    return make_error(ErrorCode::kFailedPrecondition,
                      "attribute " + w.name + " is declared as " + text(*def) + " here but as " +
                          text(w) + " on shard 0: every shard must declare the same attributes");
  }
  return {};
}

bool rank_before(const Ranked& a, const Ranked& b) {
  return a.value != b.value ? a.value > b.value : a.id < b.id;
}

}  // namespace

Result<ShardSet> ShardSet::open(std::span<const std::filesystem::path> paths, const Options& options) {
  if (paths.empty() || paths.size() > kMaxShards)
    return make_error(ErrorCode::kInvalidArgument,
                      "shards: " + std::to_string(paths.size()) + " paths (1 to " +
                          std::to_string(kMaxShards) + ")");
  std::set<std::filesystem::path> seen;
  for (const auto& p : paths) {
    std::error_code ec;
    std::filesystem::path norm = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
    if (ec) norm = std::filesystem::absolute(p).lexically_normal();
    if (!seen.insert(norm).second)
      return make_error(ErrorCode::kInvalidArgument, "shards: path " + p.string() + " given twice");
  }
  auto impl = std::make_unique<Impl>();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto db = Database::open(paths[i], options);
    if (!db) return with_context(db.error(), shard_name(i, paths[i]));
    impl->shards.push_back(std::move(*db));
    impl->paths.push_back(paths[i]);
  }
  // One base currency: amounts of different currencies would not add.
  const std::string currency = impl->shards[0].info().base_currency;
  for (std::size_t i = 1; i < paths.size(); ++i)
    if (impl->shards[i].info().base_currency != currency)
      return make_error(ErrorCode::kFailedPrecondition,
                        shard_name(i, paths[i]) + ": base currency " +
                            impl->shards[i].info().base_currency + " differs from shard 0's " + currency);
  // Every shard is checked before any placement is recorded: a failed open (a path in the
  // wrong place) leaves every file as it was, so the right order still opens afterwards.
  std::vector<bool> unplaced(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto fresh = check_place(impl->shards[i], i, paths.size());
    if (!fresh) return with_context(fresh.error(), shard_name(i, paths[i]));
    unplaced[i] = *fresh;
  }
  if (!options.read_only)  // read-only: an unplaced file is accepted, nothing recorded
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (unplaced[i])
        if (auto s = record_place(impl->shards[i], i, paths.size()); !s)
          return with_context(s.error(), shard_name(i, paths[i]));
  return ShardSet(std::move(impl));
}

std::size_t ShardSet::size() const { return impl_->shards.size(); }
Database& ShardSet::shard(std::size_t i) { return impl_->shards.at(i); }
const Database& ShardSet::shard(std::size_t i) const { return impl_->shards.at(i); }

// ---- routed writes ----

Result<CustomerId> ShardSet::insert_customer(Customer customer) {
  if (customer.id == 0) return missing_id("a sharded customer's id");
  const CustomerId id = customer.id;
  return shard_for(id).insert_customer(std::move(customer));
}

Result<TransactionId> ShardSet::add_transaction(Transaction txn) {
  if (txn.customer_id == 0) return missing_id("the transaction's customer_id");
  const CustomerId id = txn.customer_id;
  return shard_for(id).add_transaction(std::move(txn));
}

Result<HoldingId> ShardSet::insert_holding(Holding holding) {
  if (holding.customer_id == 0) return missing_id("the holding's customer_id");
  const CustomerId id = holding.customer_id;
  return shard_for(id).insert_holding(std::move(holding));
}

Result<RelationshipId> ShardSet::add_relationship(Relationship rel) {
  if (rel.from == 0 || rel.to == 0) return missing_id("a relationship's from and to");
  const std::size_t a = shard_of(rel.from, size()), b = shard_of(rel.to, size());
  if (a != b)
    return make_error(ErrorCode::kInvalidArgument,
                      "relationships across shards are not supported: customer " +
                          std::to_string(rel.from) + " is on shard " + std::to_string(a) +
                          ", customer " + std::to_string(rel.to) + " on shard " + std::to_string(b));
  return shard(a).write([&](WriteTxn& txn) { return txn.add_relationship(rel); });
}

Result<std::vector<CustomerId>> ShardSet::insert_customers(std::span<const Customer> customers) {
  for (const Customer& c : customers)
    if (c.id == 0) return missing_id("every sharded customer's id");
  std::vector<std::vector<Customer>> by_shard(size());
  for (const Customer& c : customers) by_shard[shard_of(c.id, size())].push_back(c);
  for (std::size_t i = 0; i < size(); ++i) {
    if (by_shard[i].empty()) continue;
    auto r = shard(i).insert_customers(by_shard[i]);
    if (!r) return with_context(r.error(), shard_name(i, impl_->paths[i]));
  }
  std::vector<CustomerId> out;
  out.reserve(customers.size());
  for (const Customer& c : customers) out.push_back(c.id);
  return out;
}

// ---- scatter-gather reads ----

namespace {
// At most this many shards are asked at once (threads of one call).
constexpr std::size_t kMaxParallel = 16;

// Asks every shard: fn(const ReadTxn&) -> Result<T> in the shard's own read transaction, the
// shards in parallel (up to kMaxParallel threads, the calling thread one of them). Returns the
// answers in shard order, or the error of the lowest-numbered shard that failed, naming it
// (deterministic whatever the threads' timing).
template <class T, class Fn>
Result<std::vector<T>> gather(const std::vector<Database>& shards,
                              const std::vector<std::filesystem::path>& paths, Fn&& fn) {
  const std::size_t n = shards.size();
  std::vector<std::optional<Result<T>>> got(n);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        auto txn = shards[i].begin_read();
        if (!txn) got[i].emplace(tl::unexpected(txn.error()));
        else got[i].emplace(fn(std::as_const(*txn)));
      } catch (const std::bad_alloc&) {
        got[i].emplace(make_error(ErrorCode::kResourceExhausted, "out of memory"));
      } catch (const std::exception& e) {
        got[i].emplace(make_error(ErrorCode::kInternal, e.what()));
      }
    }
  };
  std::vector<std::thread> threads;
  const std::size_t want = std::min(n, kMaxParallel);
  for (std::size_t t = 1; t < want; ++t) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no thread to be had: the calling thread asks the rest
    }
  }
  worker();
  for (std::thread& t : threads) t.join();
  std::vector<T> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!*got[i]) return with_context(got[i]->error(), shard_name(i, paths[i]));
    out.push_back(std::move(**got[i]));
  }
  return out;
}
}  // namespace

namespace {
// `age` without SegmentOptions::as_of is computed on today: one today for every shard of a
// call, not each shard's own (a call running across midnight UTC would otherwise mix dates).
SegmentOptions one_today(const SegmentOptions& o) {
  SegmentOptions out = o;
  if (!out.as_of) out.as_of = detail::today_utc();
  return out;
}
}  // namespace

Result<std::uint64_t> ShardSet::count(const query::Node& q, const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  auto parts = gather<std::uint64_t>(impl_->shards, impl_->paths,
                                     [&](const ReadTxn& txn) { return txn.count(q, o); });
  if (!parts) return tl::unexpected(parts.error());
  std::uint64_t total = 0;
  for (std::uint64_t n : *parts) total += n;
  return total;
}

namespace {
// Merges ascending id lists of disjoint sets into one ascending list.
std::vector<CustomerId> merge_ids(std::vector<std::vector<CustomerId>>& parts) {
  std::vector<CustomerId> out;
  for (auto& part : parts) {
    const auto mid = out.size();
    out.insert(out.end(), part.begin(), part.end());
    std::inplace_merge(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(mid), out.end());
  }
  return out;
}
}  // namespace

Result<std::vector<CustomerId>> ShardSet::ids(const query::Node& q, const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  auto parts = gather<std::vector<CustomerId>>(impl_->shards, impl_->paths,
                                               [&](const ReadTxn& txn) { return txn.ids(q, o); });
  if (!parts) return tl::unexpected(parts.error());
  return merge_ids(*parts);
}

Result<SegmentPage> ShardSet::page(const query::Node& q, std::size_t limit, CustomerId after,
                                   const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  auto parts = gather<SegmentPage>(impl_->shards, impl_->paths,
                                   [&](const ReadTxn& txn) { return txn.page(q, limit, after, o); });
  if (!parts) return tl::unexpected(parts.error());
  bool more = false;
  std::vector<std::vector<CustomerId>> lists;
  for (SegmentPage& p : *parts) {
    more = more || p.next.has_value();
    lists.push_back(std::move(p.ids));
  }
  std::vector<CustomerId> all = merge_ids(lists);
  if (limit != 0 && all.size() > limit) {
    all.resize(limit);
    more = true;
  }
  SegmentPage out;
  out.ids = std::move(all);
  // As one database: `next` (the page's last id) when more ids follow.
  if (more && !out.ids.empty()) out.next = out.ids.back();
  return out;
}

Result<std::vector<Ranked>> ShardSet::rank(const query::Node& q, const MeasureKey& by, std::size_t n,
                                           const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  std::vector<std::string> custom;
  if (!by.builtin) custom.push_back(by.custom);
  auto want = declared_on_shard0(impl_->shards[0], custom);
  if (!want) return with_context(want.error(), shard_name(0, impl_->paths[0]));
  auto parts = gather<std::vector<Ranked>>(
      impl_->shards, impl_->paths, [&](const ReadTxn& txn) -> Result<std::vector<Ranked>> {
        if (auto s = declared_alike(txn, *want); !s) return tl::unexpected(s.error());
        return txn.rank(q, by, n, o);
      });
  if (!parts) return tl::unexpected(parts.error());
  std::vector<Ranked> all;
  for (const auto& part : *parts) all.insert(all.end(), part.begin(), part.end());
  const std::size_t k = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), rank_before);
  all.resize(k);
  return all;
}

Result<std::vector<GroupRow>> ShardSet::group(const query::Node& q, GroupBy by,
                                              const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  auto parts = gather<std::vector<GroupRow>>(impl_->shards, impl_->paths,
                                             [&](const ReadTxn& txn) { return txn.group(q, by, o); });
  if (!parts) return tl::unexpected(parts.error());
  std::map<std::string, GroupRow> rows;  // the wave-1 order: by the group's text
  for (const auto& part : *parts)
    for (const GroupRow& g : part) {
      auto [it, fresh] = rows.try_emplace(g.group, g);
      if (fresh) continue;
      GroupRow& m = it->second;
      m.total_amount_min = std::min(m.total_amount_min, g.total_amount_min);
      m.total_amount_max = std::max(m.total_amount_max, g.total_amount_max);
      m.customers += g.customers;
      m.total_amount_sum += g.total_amount_sum;
      m.txn_count_sum += g.txn_count_sum;
    }
  std::vector<GroupRow> out;
  for (auto& [label, g] : rows) {
    // As Segment::group computes it, from the merged sum.
    g.total_amount_avg = g.customers ? static_cast<double>(g.total_amount_sum) / static_cast<double>(g.customers) : 0;
    out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<ReportRow>> ShardSet::report(const query::Node& q, const ReportSpec& spec,
                                                const SegmentOptions& given) const {
  const SegmentOptions o = one_today(given);
  std::vector<std::string> custom;
  for (const GroupKey& g : spec.by)
    if (!g.builtin) custom.push_back(g.custom);
  for (const MeasureKey& m : spec.measures)
    if (!m.builtin) custom.push_back(m.custom);
  auto want = declared_on_shard0(impl_->shards[0], custom);
  if (!want) return with_context(want.error(), shard_name(0, impl_->paths[0]));
  auto answers = gather<std::vector<ReportRow>>(
      impl_->shards, impl_->paths, [&](const ReadTxn& txn) -> Result<std::vector<ReportRow>> {
        if (auto s = declared_alike(txn, *want); !s) return tl::unexpected(s.error());
        return txn.report(q, spec, o);
      });
  if (!answers) return tl::unexpected(answers.error());
  std::vector<std::vector<ReportRow>>& parts = *answers;
  // Every shard took the spec, so shard 0's schema names its custom keys (the shards declare
  // the same attributes).
  std::vector<LabelOrder> orders;
  std::optional<Schema> schema;
  for (const GroupKey& g : spec.by) {
    if (g.builtin) {
      orders.push_back(order_of(*g.builtin));
      continue;
    }
    if (!schema) {
      auto sc = impl_->shards[0].schema();
      if (!sc) return with_context(sc.error(), shard_name(0, impl_->paths[0]));
      schema = std::move(*sc);
    }
    const AttributeDef* def = schema->find(g.custom);
    if (!def) return make_error(ErrorCode::kInvalidArgument, "report: unknown attribute " + g.custom);
    orders.push_back(order_of(*def));
  }
  std::map<std::vector<SortKey>, ReportRow> merged;
  for (auto& part : parts)
    for (ReportRow& row : part) {
      std::vector<SortKey> key;
      for (std::size_t i = 0; i < row.group.size() && i < orders.size(); ++i)
        key.push_back(orders[i].key(row.group[i]));
      auto [it, fresh] = merged.try_emplace(std::move(key));
      ReportRow& m = it->second;
      if (fresh) {
        m = std::move(row);
        continue;
      }
      m.customers += row.customers;
      if (m.measures.size() != row.measures.size())
        return make_error(ErrorCode::kInternal, "report: shards answered different measures");
      for (std::size_t i = 0; i < row.measures.size(); ++i) merge_stats(m.measures[i], row.measures[i]);
    }
  std::vector<ReportRow> out;
  out.reserve(merged.size());
  for (auto& [key, row] : merged) out.push_back(std::move(row));
  return out;
}

}  // namespace custdb::shards
