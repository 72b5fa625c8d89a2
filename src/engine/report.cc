// Ranking and grouped measures of a segment: Segment::rank, report, top and group, their ReadView
// shorthands, and the names of RankBy and GroupBy.
//
// Everything is answered from the segment index (src/segment), never by decoding every record:
//   groups    an attribute's values are enumerated from the index: enums over their domain,
//             income_band and r/f/m over their exact buckets, text attributes (region, city,
//             country, tag) from the stored posting keys (plaintext) or the sealed value
//             dictionary (encrypted, SegmentIndex::text_values). A group is its value's posting
//             ∧ the segment; the "" group is the segment minus every value's members.
//   measures  sliced attributes from their bit-sliced index (segment/slice_math.h: sums by
//             intersection cardinalities, min/max/top-k by slice walks); income_band and r/f/m
//             from their bucket postings (value = bucket).
// Custom attributes (custdb/attributes.h) need their index (attribute_queryable): categorical
// ones group by their value postings (segment/attribute_index.h: enum over its declared values,
// bool over 0/1, text and tag_set over the stored keys or the sealed dictionary), ordered ones
// measure and rank from their slices like the built-in sliced attributes.
// A file without slices (format 1, opened read-only) answers the same from a record scan of the
// segment's members: the fallback (ValueSource::records), also a reference for the tests.
#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "engine/db_impl.h"
#include "engine/segment_rep.h"
#include "segment/attribute_index.h"
#include "segment/slice_math.h"
#include "segment/slices.h"
#include "util/enums.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {
namespace {

using index::IdSet;
using index::Posting;
using index::SegField;

constexpr std::array<const char*, 17> kRankNames = {
    "total_amount", "txn_count", "last_txn_at", "first_txn_at", "created_at", "birth_date", "clv",
    "p_alive", "expected_purchases", "income_band", "r_score", "f_score", "m_score",
    "aum", "liabilities", "products", "first_product_on"};
constexpr std::array<const char*, 19> kGroupNames = {
    "tier", "region", "stage", "type", "city", "country", "gender", "risk", "income_band", "tag",
    "consent_email", "consent_sms", "consent_phone", "r_score", "f_score", "m_score",
    "consent_profiling", "consent_sharing", "holds"};

bool valid(RankBy m) { return static_cast<std::size_t>(m) < kRankNames.size(); }
bool valid(GroupBy g) { return static_cast<std::size_t>(g) < kGroupNames.size(); }

SegField seg_field(RankBy m) {
  switch (m) {
    case RankBy::kTotalAmount: return SegField::kTotalAmount;
    case RankBy::kTxnCount: return SegField::kTxnCount;
    case RankBy::kLastTxnAt: return SegField::kLastTxnAt;
    case RankBy::kFirstTxnAt: return SegField::kFirstTxnAt;
    case RankBy::kCreatedAt: return SegField::kCreatedAt;
    case RankBy::kBirthDate: return SegField::kBirthDate;
    case RankBy::kClv: return SegField::kClv;
    case RankBy::kPAlive: return SegField::kPAlive;
    case RankBy::kExpectedPurchases: return SegField::kExpectedPurchases;
    case RankBy::kIncomeBand: return SegField::kIncomeBand;
    case RankBy::kRScore: return SegField::kRScore;
    case RankBy::kFScore: return SegField::kFScore;
    case RankBy::kMScore: return SegField::kMScore;
    case RankBy::kAum: return SegField::kAum;
    case RankBy::kLiabilities: return SegField::kLiabilities;
    case RankBy::kProducts: return SegField::kProducts;
    case RankBy::kFirstProductOn: return SegField::kFirstProductOn;
  }
  return SegField::kAll;
}

SegField seg_field(GroupBy g) {
  switch (g) {
    case GroupBy::kTier: return SegField::kTier;
    case GroupBy::kRegion: return SegField::kRegion;
    case GroupBy::kStage: return SegField::kStage;
    case GroupBy::kType: return SegField::kType;
    case GroupBy::kCity: return SegField::kCity;
    case GroupBy::kCountry: return SegField::kCountry;
    case GroupBy::kGender: return SegField::kGender;
    case GroupBy::kRisk: return SegField::kRisk;
    case GroupBy::kIncomeBand: return SegField::kIncomeBand;
    case GroupBy::kTag: return SegField::kTag;
    case GroupBy::kConsentEmail: return SegField::kConsentEmail;
    case GroupBy::kConsentSms: return SegField::kConsentSms;
    case GroupBy::kConsentPhone: return SegField::kConsentPhone;
    case GroupBy::kRScore: return SegField::kRScore;
    case GroupBy::kFScore: return SegField::kFScore;
    case GroupBy::kMScore: return SegField::kMScore;
    case GroupBy::kConsentProfiling: return SegField::kConsentProfiling;
    case GroupBy::kConsentSharing: return SegField::kConsentSharing;
    case GroupBy::kHolds: return SegField::kHolds;
  }
  return SegField::kAll;
}

// Whether a measure's exact values are its bucket numbers (one bucket posting per value).
bool exact_buckets(SegField f) {
  return f == SegField::kIncomeBand || f == SegField::kRScore || f == SegField::kFScore ||
         f == SegField::kMScore;
}

// The enum names of an enum attribute, by number (util/enums.h); empty for the others.
template <class E>
std::vector<std::string> names_of() {
  std::vector<std::string> out;
  for (const auto& row : enums::Table<E>::rows) out.emplace_back(row.second);
  return out;
}
std::vector<std::string> enum_names(GroupBy g) {
  switch (g) {
    case GroupBy::kTier: return names_of<Tier>();
    case GroupBy::kStage: return names_of<Stage>();
    case GroupBy::kType: return names_of<CustomerType>();
    case GroupBy::kGender: return names_of<Gender>();
    case GroupBy::kRisk: return names_of<Risk>();
    case GroupBy::kConsentEmail: case GroupBy::kConsentSms: case GroupBy::kConsentPhone:
    case GroupBy::kConsentProfiling: case GroupBy::kConsentSharing:
      return names_of<ConsentState>();
    default: return {};
  }
}
bool is_text(GroupBy g) {
  return g == GroupBy::kRegion || g == GroupBy::kCity || g == GroupBy::kCountry ||
         g == GroupBy::kTag || g == GroupBy::kHolds;
}

// A customer's value of a measure (stored units, custdb/segment.h); nullopt when it has none.
// Sliced attributes take the value their slices are made of (one definition, slices.h).
std::optional<std::int64_t> value_of(const Customer& c, RankBy m) {
  if (segment::is_sliced(seg_field(m))) return segment::sliced_value(c, seg_field(m));
  switch (m) {
    case RankBy::kIncomeBand:
      if (!c.income_band) return std::nullopt;
      return *c.income_band;
    case RankBy::kRScore: if (c.scores) return c.scores->r_score; return std::nullopt;
    case RankBy::kFScore: if (c.scores) return c.scores->f_score; return std::nullopt;
    case RankBy::kMScore: if (c.scores) return c.scores->m_score; return std::nullopt;
    default: return std::nullopt;
  }
}

// A customer's values of a text attribute as the index keys them (no value: none).
std::vector<std::string> text_values_of(const Customer& c, GroupBy g) {
  std::vector<std::string> out;
  auto one = [&](std::string v) {
    if (!v.empty()) out.push_back(std::move(v));
  };
  switch (g) {
    case GroupBy::kRegion: one(normalize::fold(c.address.region)); break;
    case GroupBy::kCity: one(normalize::fold(c.address.city)); break;
    case GroupBy::kCountry: one(c.address.country); break;
    case GroupBy::kTag: for (const auto& t : c.tags) one(t); break;
    case GroupBy::kHolds: for (const auto& t : c.holdings.types_held) one(t); break;
    default: break;
  }
  return out;
}

tl::unexpected<Error> missing_customer(std::uint64_t id) {
  return make_error(ErrorCode::kCorruption,
                    "idx.segments names customer " + std::to_string(id) + ", which does not exist");
}

// One group of one attribute: its label, where it sorts, and its members within the segment.
struct Group {
  std::string label;
  int none = 1;          // 0: the "" group (sorts first)
  std::int64_t num = 0;  // enum number or value
  IdSet members;
};
bool before(const Group& a, const Group& b) {
  if (a.none != b.none) return a.none < b.none;
  if (a.num != b.num) return a.num < b.num;
  return a.label < b.label;  // text bytes
}

// One measure's values: from its slices, its exact buckets, or (fallback) the records.
struct ValueSource {
  // Slices: the sets are the reader's (each read once per report).
  std::unique_ptr<segment::SliceReader> reader;
  std::optional<segment::Slices> slices;
  // Exact buckets: value and members (the sets owned here).
  std::deque<IdSet> owned;
  std::vector<segment::ValueBucket> buckets;
  bool from_buckets = false;
  // Fallback: (id, value) of every member of the segment with a value, ascending ids.
  std::vector<std::pair<CustomerId, std::int64_t>> records;

  template <class Fn>
  void for_each_record(const IdSet& g, Fn fn) const {
    auto pos = records.begin();
    g.for_each([&](std::uint64_t id) {
      pos = std::lower_bound(pos, records.end(), id,
                             [](const auto& r, std::uint64_t x) { return r.first < x; });
      if (pos == records.end()) return false;
      if (pos->first == id) fn(*pos);
      return true;
    });
  }

  // min and max are left out when !min_max (slices only: the walks cost as much as the sum).
  MeasureStats stats(const IdSet& g, bool min_max = true) const {
    if (slices) return segment::slice_stats(*slices, g, min_max);
    if (from_buckets) return segment::bucket_stats(buckets, g);
    MeasureStats m;
    for_each_record(g, [&](const auto& r) { segment::accumulate(m, r.second); });
    return m;
  }
  std::vector<Ranked> top(const IdSet& g, std::size_t n) const {
    if (slices) return segment::slice_top(*slices, g, n);
    if (from_buckets) return segment::bucket_top(buckets, g, n);
    std::vector<Ranked> all;
    for_each_record(g, [&](const auto& r) { all.push_back({r.first, r.second}); });
    auto cmp = [](const Ranked& a, const Ranked& b) {
      return a.value != b.value ? a.value > b.value : a.id < b.id;
    };
    const std::size_t k = std::min(n, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), cmp);
    all.resize(k);
    return all;
  }
};

// Answers one report (or rank) over one segment's set in one transaction. Reads each posting
// and each slice at most once. Used on the transaction's thread.
class Reporter {
 public:
  Reporter(DatabaseImpl& db, TxnState& st, const IdSet& set)
      : db_(db), st_(st), set_(set), index_(db, st) {}

  // Loads what `measures` and `by` need: the index's structures, and the records only where
  // the file lacks them (no slices: format 1 opened read-only).
  Status prepare(const std::vector<GroupBy>& by, const std::vector<RankBy>& measures) {
    const bool sliced = db_.sliced();
    std::vector<RankBy> from_records;
    std::vector<GroupBy> text_from_records;
    for (RankBy m : measures) {
      if (sources_.count(m)) continue;
      ValueSource& src = sources_[m];
      const SegField f = seg_field(m);
      if (exact_buckets(f)) {
        src.from_buckets = true;
        auto [lo, hi] = index::bucket_domain(f);
        for (std::int64_t b = lo; b <= hi; ++b) {
          auto members = index_.members({f, index::encode_bucket(b)});
          if (!members) return tl::unexpected(members.error());
          if (members->empty()) continue;
          src.owned.push_back(std::move(*members));
          src.buckets.push_back({b, &src.owned.back()});
        }
      } else if (sliced && (!segment::is_holdings_field(f) || db_.seg_keys().holdings())) {
        src.reader = std::make_unique<segment::SliceReader>(index_, f);
        auto s = read_slices(*src.reader);
        if (!s) return tl::unexpected(s.error());
        src.slices = *s;
      } else {
        from_records.push_back(m);
      }
    }
    for (GroupBy g : by) {
      if (!is_text(g) || text_values_.count(g)) continue;
      // Encrypted files without slices (format 1, read-only) have no value dictionary either:
      // the values come from the records.
      if (db_.seg_keys().tokenized() && !sliced) {
        text_from_records.push_back(g);
        continue;
      }
      auto values = index_.text_values(seg_field(g));
      if (!values) return tl::unexpected(values.error());
      text_values_[g] = std::move(*values);
    }
    if (from_records.empty() && text_from_records.empty()) return {};
    return scan_records(from_records, text_from_records);
  }

  // The groups of one attribute present in the segment, in the contract's order.
  Result<std::vector<Group>> groups(GroupBy g) {
    const SegField f = seg_field(g);
    std::vector<Group> out;
    IdSet covered;
    auto add = [&](std::string label, std::int64_t num, Posting p) -> Status {
      auto members = index_.members(p);
      if (!members) return tl::unexpected(members.error());
      *members &= set_;
      if (members->empty()) return {};
      covered |= *members;
      out.push_back(Group{std::move(label), 1, num, std::move(*members)});
      return {};
    };
    if (auto names = enum_names(g); !names.empty()) {
      for (std::size_t e = 0; e < names.size(); ++e)
        if (auto s = add(names[e], static_cast<std::int64_t>(e), {f, std::string(1, static_cast<char>(e))}); !s)
          return tl::unexpected(s.error());
    } else if (is_text(g)) {
      for (const std::string& v : text_values_.at(g))
        if (auto s = add(v, 0, {f, v}); !s) return tl::unexpected(s.error());
    } else {
      auto [lo, hi] = index::bucket_domain(f);
      for (std::int64_t b = lo; b <= hi; ++b)
        if (auto s = add(std::to_string(b), b, {f, index::encode_bucket(b)}); !s)
          return tl::unexpected(s.error());
    }
    IdSet none = set_ - covered;
    if (!none.empty()) out.push_back(Group{"", 0, 0, std::move(none)});
    std::sort(out.begin(), out.end(), before);
    return out;
  }

  const ValueSource& source(RankBy m) const { return sources_.at(m); }
  const ValueSource& source(const AttributeDef& def) const { return attr_sources_.at(def.id); }

  // The slices of ordered custom attribute def (each read once).
  Status prepare_attribute(const AttributeDef& def) {
    if (attr_sources_.count(def.id)) return {};
    ValueSource& src = attr_sources_[def.id];
    src.reader = std::make_unique<segment::SliceReader>(index_, def);
    auto s = read_slices(*src.reader);
    if (!s) return tl::unexpected(s.error());
    src.slices = *s;
    return {};
  }

  // The groups of categorical custom attribute def present in the segment: enum values in
  // declared order, bool false then true, text and tags by bytes; "" for no value, first.
  Result<std::vector<Group>> groups(const AttributeDef& def) {
    auto values = segment::attribute_value_list(index_, def);
    if (!values) return tl::unexpected(values.error());
    std::vector<Group> out;
    IdSet covered;
    for (std::size_t i = 0; i < values->size(); ++i) {
      const std::string& v = (*values)[i];
      auto members = segment::attribute_members(index_, def, v);
      if (!members) return tl::unexpected(members.error());
      *members &= set_;
      if (members->empty()) continue;
      covered |= *members;
      std::string label = v;
      std::int64_t num = 0;
      if (def.type == AttributeType::kBool) {
        label = v == "1" ? "true" : "false";
        num = v == "1";
      } else if (def.type == AttributeType::kEnum) {
        num = static_cast<std::int64_t>(i);
      }
      out.push_back(Group{std::move(label), 1, num, std::move(*members)});
    }
    IdSet none = set_ - covered;
    if (!none.empty()) out.push_back(Group{"", 0, 0, std::move(none)});
    std::sort(out.begin(), out.end(), before);
    return out;
  }

 private:
  // The 64 value slices and the exists slice, each read once (kept by the reader).
  static Result<segment::Slices> read_slices(segment::SliceReader& reader) {
    segment::Slices s;
    for (int i = 0; i < segment::kValueSlices; ++i) {
      auto bits = reader.slice(i);
      if (!bits) return tl::unexpected(bits.error());
      s.bit[static_cast<std::size_t>(i)] = *bits;
    }
    auto exists = reader.exists();
    if (!exists) return tl::unexpected(exists.error());
    s.exists = *exists;
    return s;
  }

  // The fallback: one pass over the segment's records.
  Status scan_records(const std::vector<RankBy>& measures, const std::vector<GroupBy>& texts) {
    std::vector<std::set<std::string>> seen(texts.size());
    Status failed;
    DatabaseImpl::OrderedReader customers(st_, db_.tables().customers);
    set_.for_each([&](std::uint64_t id) {
      auto c = db_.load_customer(customers, id);
      if (!c) return failed = tl::unexpected(c.error()), false;
      if (!*c) return failed = missing_customer(id), false;
      for (RankBy m : measures)
        if (auto v = value_of(**c, m)) sources_[m].records.emplace_back(id, *v);
      for (std::size_t k = 0; k < texts.size(); ++k)
        for (auto& v : text_values_of(**c, texts[k])) seen[k].insert(std::move(v));
      return true;
    });
    if (!failed) return failed;
    for (std::size_t k = 0; k < texts.size(); ++k)
      text_values_[texts[k]].assign(seen[k].begin(), seen[k].end());
    return {};
  }

  DatabaseImpl& db_;
  TxnState& st_;
  const IdSet& set_;
  segment::SegmentIndex index_;
  std::map<RankBy, ValueSource> sources_;
  std::map<std::uint32_t, ValueSource> attr_sources_;  // custom attributes by id
  std::map<GroupBy, std::vector<std::string>> text_values_;
};

// A spec's keys resolved: a built-in, or a custom attribute of the transaction's schema.
struct GroupRef {
  std::optional<GroupBy> builtin;
  const AttributeDef* attr = nullptr;
};
struct MeasureRef {
  std::optional<RankBy> builtin;
  const AttributeDef* attr = nullptr;
};
struct ResolvedSpec {
  std::shared_ptr<const Schema> schema;  // keeps attr pointers alive
  std::vector<GroupRef> by;
  std::vector<MeasureRef> measures;
  std::vector<GroupBy> builtin_by;
  std::vector<RankBy> builtin_measures;
};

// The custom attribute a report, rank or top names: declared (customers table), of the kind
// the use needs (`ordered`: a measure), and indexed (kFailedPrecondition otherwise).
Result<const AttributeDef*> custom_key(const Schema& schema, const std::string& name, bool ordered,
                                       const char* what) {
  const AttributeDef* def = schema.find(name);
  if (!def)
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + ": unknown attribute " + name);
  if (segment::is_sliced_attribute(def->type) != ordered)
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + ": attribute " + name + " (" +
                          std::string(to_string(def->type)) + ") " +
                          (ordered ? "is not ordered (integer, decimal, amount, date, timestamp)"
                                   : "is ordered: measure it instead of grouping by it"));
  if (!segment::attribute_queryable(*def))
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string(what) + ": attribute " + name + " is not indexed (index state " +
                          std::string(to_string(def->index_state)) + "); run `custdb schema index " +
                          name + "`");
  return def;
}

Result<ResolvedSpec> check_spec(DatabaseImpl& db, TxnState& st, const ReportSpec& spec) {
  if (spec.by.size() > 2)
    return make_error(ErrorCode::kInvalidArgument, "report: at most two group-by attributes");
  if (spec.by.size() == 2 && spec.by[0] == spec.by[1])
    return make_error(ErrorCode::kInvalidArgument,
                      "report: group-by attribute " + spec.by[0].name() + " twice");
  ResolvedSpec b;
  auto schema = [&]() -> Result<const Schema*> {
    if (!b.schema) {
      auto s = db.schema_of(st);
      if (!s) return tl::unexpected(s.error());
      b.schema = *s;
    }
    return b.schema.get();
  };
  for (const GroupKey& g : spec.by) {
    if (!g.builtin) {
      auto sc = schema();
      if (!sc) return tl::unexpected(sc.error());
      auto def = custom_key(**sc, g.custom, /*ordered=*/false, "report");
      if (!def) return tl::unexpected(def.error());
      b.by.push_back({std::nullopt, *def});
      continue;
    }
    if (!valid(*g.builtin))
      return make_error(ErrorCode::kInvalidArgument, "report: unknown group-by attribute");
    b.by.push_back({*g.builtin, nullptr});
    b.builtin_by.push_back(*g.builtin);
  }
  if (b.by.size() == 2 && b.by[0].attr && b.by[0].attr == b.by[1].attr)
    return make_error(ErrorCode::kInvalidArgument,
                      "report: group-by attribute " + b.by[0].attr->name + " twice");
  for (const MeasureKey& m : spec.measures) {
    if (!m.builtin) {
      auto sc = schema();
      if (!sc) return tl::unexpected(sc.error());
      auto def = custom_key(**sc, m.custom, /*ordered=*/true, "report");
      if (!def) return tl::unexpected(def.error());
      b.measures.push_back({std::nullopt, *def});
      continue;
    }
    if (!valid(*m.builtin)) return make_error(ErrorCode::kInvalidArgument, "report: unknown measure");
    b.measures.push_back({*m.builtin, nullptr});
    b.builtin_measures.push_back(*m.builtin);
  }
  return b;
}

}  // namespace

// The report of `set` (a segment's members) in st's transaction. min_max[i] false: measure i's
// min and max may be left out (Segment::group needs none of txn_count's).
Result<std::vector<ReportRow>> report_of(DatabaseImpl& db, TxnState& st, const IdSet& set,
                                         const ReportSpec& spec,
                                         const std::vector<bool>* min_max = nullptr) {
  auto checked = check_spec(db, st, spec);
  if (!checked) return tl::unexpected(checked.error());
  const ResolvedSpec& spec_b = *checked;
  Reporter r(db, st, set);
  if (auto s = r.prepare(spec_b.builtin_by, spec_b.builtin_measures); !s) return tl::unexpected(s.error());
  for (const MeasureRef& m : spec_b.measures)
    if (m.attr)
      if (auto s = r.prepare_attribute(*m.attr); !s) return tl::unexpected(s.error());
  auto source = [&](const MeasureRef& m) -> const ValueSource& {
    return m.attr ? r.source(*m.attr) : r.source(*m.builtin);
  };
  auto groups = [&](const GroupRef& g) { return g.attr ? r.groups(*g.attr) : r.groups(*g.builtin); };
  auto row_of = [&](std::vector<std::string> labels, const IdSet& members) {
    ReportRow row;
    row.group = std::move(labels);
    row.customers = members.size();
    for (std::size_t i = 0; i < spec_b.measures.size(); ++i)
      row.measures.push_back(source(spec_b.measures[i]).stats(members, !min_max || (*min_max)[i]));
    return row;
  };
  std::vector<ReportRow> out;
  if (spec_b.by.empty()) {
    out.push_back(row_of({}, set));
    return out;
  }
  auto first = groups(spec_b.by[0]);
  if (!first) return tl::unexpected(first.error());
  if (spec_b.by.size() == 1) {
    for (auto& g : *first) out.push_back(row_of({g.label}, g.members));
    return out;
  }
  auto second = groups(spec_b.by[1]);
  if (!second) return tl::unexpected(second.error());
  for (const auto& a : *first)
    for (const auto& b : *second) {
      if (a.members.and_size(b.members) == 0) continue;
      out.push_back(row_of({a.label, b.label}, a.members & b.members));
    }
  return out;
}

// The n members of `set` with the highest values of `by` (custdb/segment.h: Segment::rank).
Result<std::vector<Ranked>> rank_of(DatabaseImpl& db, TxnState& st, const IdSet& set,
                                    const MeasureKey& key, std::size_t n) {
  if (!key.builtin) {
    auto schema = db.schema_of(st);
    if (!schema) return tl::unexpected(schema.error());
    auto def = custom_key(**schema, key.custom, /*ordered=*/true, "rank");
    if (!def) return tl::unexpected(def.error());
    Reporter r(db, st, set);
    if (auto s = r.prepare_attribute(**def); !s) return tl::unexpected(s.error());
    return r.source(**def).top(set, n);
  }
  const RankBy by = *key.builtin;
  if (!valid(by)) return make_error(ErrorCode::kInvalidArgument, "rank: unknown attribute");
  Reporter r(db, st, set);
  if (auto s = r.prepare({}, {by}); !s) return tl::unexpected(s.error());
  return r.source(by).top(set, n);
}

}  // namespace detail

const char* to_string(RankBy a) {
  auto i = static_cast<std::size_t>(a);
  return i < detail::kRankNames.size() ? detail::kRankNames[i] : "?";
}
std::optional<RankBy> rank_by_from_string(std::string_view name) {
  for (std::size_t i = 0; i < detail::kRankNames.size(); ++i)
    if (name == detail::kRankNames[i]) return static_cast<RankBy>(i);
  return std::nullopt;
}
const char* to_string(GroupBy g) {
  auto i = static_cast<std::size_t>(g);
  return i < detail::kGroupNames.size() ? detail::kGroupNames[i] : "?";
}
std::optional<GroupBy> group_by_from_string(std::string_view name) {
  for (std::size_t i = 0; i < detail::kGroupNames.size(); ++i)
    if (name == detail::kGroupNames[i]) return static_cast<GroupBy>(i);
  return std::nullopt;
}

std::string GroupKey::name() const { return builtin ? to_string(*builtin) : custom; }
std::string MeasureKey::name() const { return builtin ? to_string(*builtin) : custom; }

std::optional<std::int64_t> MeasureStats::avg() const {
  if (count == 0) return std::nullopt;
  const AmountSum n = static_cast<AmountSum>(count);
  AmountSum q = sum / n, r = sum % n;  // truncates toward zero
  if (2 * (r < 0 ? -r : r) >= n) q += sum < 0 ? -1 : 1;  // half away from zero
  return static_cast<std::int64_t>(q);  // between min and max, so it fits
}

Result<std::vector<Ranked>> Segment::rank(const MeasureKey& by, std::size_t n) const {
  if (!rep_) return tl::unexpected(detail::moved_from());
  auto st = rep_->open();
  if (!st) return tl::unexpected(st.error());
  return detail::rank_of(*rep_->db, **st, rep_->set, by, n);
}

Result<std::vector<ReportRow>> Segment::report(const ReportSpec& spec) const {
  if (!rep_) return tl::unexpected(detail::moved_from());
  auto st = rep_->open();
  if (!st) return tl::unexpected(st.error());
  return detail::report_of(*rep_->db, **st, rep_->set, spec);
}

Result<std::vector<Customer>> Segment::top(const MeasureKey& by, std::size_t n) const {
  auto ranked = rank(by, n);
  if (!ranked) return tl::unexpected(ranked.error());
  detail::TxnState* st = rep_->st;  // open: rank() checked it
  std::vector<Customer> out;
  out.reserve(ranked->size());
  for (const Ranked& r : *ranked) {
    auto c = rep_->db->load_customer(*st, r.id);
    if (!c) return tl::unexpected(c.error());
    if (!*c) return detail::missing_customer(r.id);
    out.push_back(std::move(**c));
  }
  return out;
}

Result<std::vector<GroupRow>> Segment::group(GroupBy by) const {
  if (static_cast<int>(by) > static_cast<int>(GroupBy::kType))
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("group by ") + to_string(by) + ": use report (group takes tier, region, stage or type)");
  if (!rep_) return tl::unexpected(detail::moved_from());
  auto st = rep_->open();
  if (!st) return tl::unexpected(st.error());
  const std::vector<bool> min_max = {true, false};  // txn_count: the sum only
  auto rows = detail::report_of(*rep_->db, **st, rep_->set,
                                {{by}, {RankBy::kTotalAmount, RankBy::kTxnCount}}, &min_max);
  if (!rows) return tl::unexpected(rows.error());
  std::vector<GroupRow> out;
  for (const ReportRow& r : *rows) {
    const MeasureStats& total = r.measures[0];
    GroupRow g;
    g.group = r.group[0];
    g.customers = r.customers;
    g.total_amount_sum = total.sum;
    g.total_amount_min = total.min.value_or(0);  // every customer has a total
    g.total_amount_max = total.max.value_or(0);
    g.total_amount_avg = r.customers ? static_cast<double>(total.sum) / static_cast<double>(r.customers) : 0;
    g.txn_count_sum = static_cast<std::uint64_t>(r.measures[1].sum);
    out.push_back(std::move(g));
  }
  // The wave-1 order: by the group's text.
  std::sort(out.begin(), out.end(), [](const GroupRow& a, const GroupRow& b) { return a.group < b.group; });
  return out;
}

Result<std::vector<Ranked>> ReadView::rank(const query::Node& q, const MeasureKey& by, std::size_t n,
                                           const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->rank(by, n);
}
Result<std::vector<ReportRow>> ReadView::report(const query::Node& q, const ReportSpec& spec,
                                                const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->report(spec);
}
Result<std::vector<ReportRow>> ReadView::report_all(const ReportSpec& spec) const {
  // `not` of an empty categorical set is every customer: the universe posting (as group_all).
  query::Node none;
  none.kind = query::Node::Kind::kIn;
  none.field = query::Field::kRegion;
  none.values = {std::string()};
  query::Node all;
  all.kind = query::Node::Kind::kNot;
  all.children = {none};
  auto seg = select(all);
  if (!seg) return tl::unexpected(seg.error());
  return seg->report(spec);
}

}  // namespace custdb
