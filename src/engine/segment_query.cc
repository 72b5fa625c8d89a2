// Segment queries: SegmentEvaluator plans and evaluates a query over the segment index
// (src/segment) in one pass, ReadView::select keeps the answer as a Segment, and the other
// ReadView segment calls are thin wrappers over select().
//
// Each node evaluates to two id sets: `sure` (certainly in the segment) and `maybe`
// (candidates the index cannot decide: members of buckets a range cuts). Sets combine by
// intersection, union and difference; at the end only `maybe` ids are read and checked with
// the reference evaluator (query::matches), so answers equal the brute-force definition.
//   and: sure = ∩ sure_i            maybe = ∩ (sure_i ∪ maybe_i) − sure
//   or:  sure = ∪ sure_i            maybe = ∪ maybe_i − sure
//   not: sure = all − (sure ∪ maybe) maybe = maybe
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "custdb/query.h"
#include "engine/db_impl.h"
#include "engine/segment_rep.h"
#include "query/field_rules.h"
#include "segment/attribute_index.h"
#include "segment/slices.h"
#include "util/normalize.h"

namespace custdb {
namespace detail {
namespace {

using index::IdSet;
using index::Posting;
using index::SegField;
using query::Cmp;
using query::Field;
using query::Node;

struct Sets {
  IdSet sure, maybe;
};

struct PlanStep {
  std::string label;
  double estimate = 0;
  std::uint64_t sure = 0, maybe = 0;
  std::vector<PlanStep> children;
};

SegField seg_field(Field f) {
  switch (f) {
    case Field::kType: return SegField::kType;
    case Field::kTier: return SegField::kTier;
    case Field::kStage: return SegField::kStage;
    case Field::kRegion: return SegField::kRegion;
    case Field::kCity: return SegField::kCity;
    case Field::kCountry: return SegField::kCountry;
    case Field::kGender: return SegField::kGender;
    case Field::kIncomeBand: return SegField::kIncomeBand;
    case Field::kRisk: return SegField::kRisk;
    case Field::kBirthDate: case Field::kAge: return SegField::kBirthDate;
    case Field::kCreatedAt: return SegField::kCreatedAt;
    case Field::kConsentEmail: return SegField::kConsentEmail;
    case Field::kConsentSms: return SegField::kConsentSms;
    case Field::kConsentPhone: return SegField::kConsentPhone;
    case Field::kConsentProfiling: return SegField::kConsentProfiling;
    case Field::kConsentSharing: return SegField::kConsentSharing;
    case Field::kAttribute: return SegField::kAttribute;  // attribute_predicate()
    case Field::kTxnCount: return SegField::kTxnCount;
    case Field::kTotalAmount: return SegField::kTotalAmount;
    case Field::kFirstTxnAt: return SegField::kFirstTxnAt;
    case Field::kLastTxnAt: case Field::kRecencyDays: return SegField::kLastTxnAt;
    case Field::kTenureDays: return SegField::kFirstTxnAt;
    case Field::kPAlive: return SegField::kPAlive;
    case Field::kExpectedPurchases: return SegField::kExpectedPurchases;
    case Field::kClv: return SegField::kClv;
    case Field::kRScore: return SegField::kRScore;
    case Field::kFScore: return SegField::kFScore;
    case Field::kMScore: return SegField::kMScore;
    case Field::kAum: return SegField::kAum;
    case Field::kLiabilities: return SegField::kLiabilities;
    case Field::kProducts: return SegField::kProducts;
    case Field::kFirstProductOn: return SegField::kFirstProductOn;
    // Holding fields are read from the holdings inside holds() (never a posting).
    case Field::kHoldingBalance: case Field::kHoldingStatus: case Field::kHoldingOpenedOn:
    case Field::kHoldingProductCode: case Field::kHoldingCurrency: return SegField::kAll;
  }
  return SegField::kAll;
}

// The largest number of an enum field (query/field_rules.h, over util/enums.h).
int enum_max(Field f) { return query::field_rules::enum_max(f); }

std::int64_t val(const query::Value& v) { return std::get<std::int64_t>(v); }

// The latest birth date whose age on `as_of` is at least `years`: the last valid date on or
// before (as_of.year - years, as_of.month, as_of.day) — see query::age_on.
std::int64_t born_by(Date as_of, std::int64_t years) {
  using namespace std::chrono;
  year_month_day d{as_of};
  int y = static_cast<int>(d.year()) - static_cast<int>(years);  // |years| <= kMaxAgeSpan
  year_month_day t{year{y}, d.month(), d.day()};
  if (!t.ok()) t = year_month_day{year{y} / d.month() / last};  // Feb 29 in a common year
  return sys_days{t}.time_since_epoch().count();
}

constexpr std::int64_t kMin = INT64_MIN, kMax = INT64_MAX;

// The values `x cmp v` holds for, as a closed interval [lo, hi] (lo > hi: none); = and != give
// {v, v} (the caller complements !=). Nothing is below INT64_MIN or above INT64_MAX.
std::pair<std::int64_t, std::int64_t> interval_of(Cmp c, std::int64_t v) {
  switch (c) {
    case Cmp::kEq: case Cmp::kNe: return {v, v};
    case Cmp::kLt: if (v == kMin) return {1, 0}; return {kMin, v - 1};
    case Cmp::kLe: return {kMin, v};
    case Cmp::kGt: if (v == kMax) return {1, 0}; return {v + 1, kMax};
    case Cmp::kGe: return {v, kMax};
  }
  return {1, 0};
}
// Ages beyond this many years are unbounded: no date in 1800..2200 is that far from any as-of
// date chrono can hold.
constexpr std::int64_t kMaxAgeSpan = 20000;

// A segment posting names `id` but the customers table has no such record.
tl::unexpected<Error> missing_customer(std::uint64_t id) {
  return make_error(ErrorCode::kCorruption,
                    "idx.segments names customer " + std::to_string(id) + ", which does not exist");
}

// Plans each node of a query (which postings answer it, what stays a candidate) and evaluates
// it at once. With tracing on (explain), each step also records its label and estimate; off,
// none of that work is done. One per query; used by the transaction's thread.
class SegmentEvaluator {
 public:
  SegmentEvaluator(const DatabaseImpl& db, TxnState& st, Date as_of, bool trace)
      : db_(db), st_(st), index_(db, st), as_of_(as_of), trace_(trace) {}

  Result<const IdSet*> all() {
    if (!all_) {
      auto s = index_.members({SegField::kAll, std::string()});
      if (!s) return tl::unexpected(s.error());
      all_ = std::move(*s);
    }
    return &*all_;
  }

  // The universe posting, checked once against the customers table's recorded entry count: a
  // posting chunk lost or added by damage (a torn copy, a flipped bit) changes its
  // cardinality. Every answer is then checked to lie within it (run_query).
  Result<const IdSet*> checked_universe() {
    auto total = all();
    if (!total) return total;
    if (!universe_checked_) {
      auto customers = storage::entry_count(st_.txn, db_.tables().customers, "customers");
      if (!customers) return tl::unexpected(customers.error());
      if ((*total)->size() != *customers)
        return make_error(ErrorCode::kCorruption,
                          "idx.segments: the universe posting holds " + std::to_string((*total)->size()) +
                              " customers where the customers table records " +
                              std::to_string(*customers));
      universe_checked_ = true;
    }
    return total;
  }

  Result<Sets> eval(const Node& n, PlanStep& step) {
    switch (n.kind) {
      case Node::Kind::kAnd:
      case Node::Kind::kOr: {
        const bool is_and = n.kind == Node::Kind::kAnd;
        Sets acc;
        double est = is_and ? 1.0 : 0.0;
        double universe = 1;
        if (trace_) {
          step.label = is_and ? "and (intersect)" : "or (union)";
          auto total = all();
          if (!total) return tl::unexpected(total.error());
          universe = std::max<double>(1, (*total)->size());
        }
        // An `and` evaluates its other children first and its exact ranges last, each range
        // on the slices of the members left so far only (see within_): a range over a few
        // thousand members reads a few slice chunks, where the whole range unions dozens of
        // bucket postings. Order changes no answer (intersection commutes).
        std::vector<std::size_t> order(n.children.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        // holds(t, q) reads the holdings of its candidates: it goes after the ranges, on the
        // members left by everything else.
        if (is_and) {
          std::stable_partition(order.begin(), order.end(),
                                [&](std::size_t i) { return !narrowable(n.children[i]); });
          std::stable_partition(order.begin(), order.end(),
                                [&](std::size_t i) { return !holds_with_condition(n.children[i]); });
        }
        const IdSet* const outer_within = within_;
        std::optional<IdSet> narrowed;  // acc.sure ∪ acc.maybe, for the operands evaluated last
        for (std::size_t k = 0; k < order.size(); ++k) {
          const std::size_t i = order[k];
          PlanStep child;
          if (is_and && k > 0 && narrowable(n.children[i])) {
            narrowed = acc.sure | acc.maybe;  // what the operands so far leave
            within_ = &*narrowed;
          }
          auto s = eval(n.children[i], child);
          within_ = outer_within;
          if (!s) return s;
          if (trace_) {
            double p = child.estimate / universe;
            est = is_and ? est * p : est + p - est * p;  // independence
            step.children.push_back(std::move(child));
          }
          if (k == 0) {
            acc = std::move(*s);
          } else if (is_and) {
            IdSet any = (acc.sure | acc.maybe) & (s->sure | s->maybe);
            acc.sure &= s->sure;
            acc.maybe = any - acc.sure;
          } else {
            acc.sure |= s->sure;
            acc.maybe = (acc.maybe | s->maybe) - acc.sure;
          }
        }
        if (trace_) step.estimate = est * universe;
        return finish(step, std::move(acc));
      }
      case Node::Kind::kNot: {
        PlanStep child;
        auto s = eval(n.children.at(0), child);
        if (!s) return s;
        auto total = all();  // the complement needs the universe, traced or not
        if (!total) return tl::unexpected(total.error());
        if (trace_) {
          step.label = "not (complement)";
          step.estimate = std::max(0.0, static_cast<double>((*total)->size()) - child.estimate);
          step.children.push_back(std::move(child));
        }
        Sets out;
        out.sure = **total - (s->sure | s->maybe);
        out.maybe = std::move(s->maybe);
        return finish(step, std::move(out));
      }
      case Node::Kind::kTag: {
        if (trace_) step.label = "index tag = '" + n.tag + "'";
        auto s = index_.members({SegField::kTag, n.tag});
        if (!s) return tl::unexpected(s.error());
        if (trace_) step.estimate = static_cast<double>(s->size());
        return finish(step, Sets{std::move(*s), {}});
      }
      case Node::Kind::kRelated: return related(n, step);
      case Node::Kind::kHolds: return holds(n, step);
      case Node::Kind::kCompare:
      case Node::Kind::kIn:
      case Node::Kind::kBetween:
        return predicate(n, step);
    }
    return make_error(ErrorCode::kInternal, "unknown query node");
  }

  // The exact set: sure plus the candidates that pass the reference evaluator.
  Result<IdSet> resolve(const Node& n, PlanStep& step, std::uint64_t* verified = nullptr) {
    auto s = eval(n, step);
    if (!s) return tl::unexpected(s.error());
    IdSet out = std::move(s->sure);
    query::EvalContext ctx = context();
    Status failed;
    std::uint64_t checked = 0;
    detail::DatabaseImpl::OrderedReader customers(st_, db_.tables().customers);
    s->maybe.for_each([&](std::uint64_t id) {
      auto c = db_.load_customer(customers, id);
      if (!c) return failed = tl::unexpected(c.error()), false;
      ++checked;
      if (!*c) return failed = missing_customer(id), false;
      if (query::matches(n, **c, ctx)) out.add(id);
      return true;
    });
    if (!failed) return tl::unexpected(failed.error());
    if (error_) return tl::unexpected(*error_);
    if (verified) *verified += checked;
    return out;
  }

  query::EvalContext context() {
    query::EvalContext ctx;
    ctx.as_of = as_of_;
    ctx.related = [this](CustomerId id) {
      std::vector<std::pair<Relationship, Customer>> out;
      auto rels = db_.relationships_of(st_, id);
      if (!rels) {
        if (!error_) error_ = rels.error();  // reported by resolve(), never a silent miss
        return out;
      }
      for (auto& r : *rels) {
        auto other = db_.load_customer(st_, r.from == id ? r.to : r.from);
        if (!other) {
          if (!error_) error_ = other.error();
        } else if (*other) {
          out.emplace_back(r, std::move(**other));
        }
      }
      return out;
    };
    ctx.holdings = [this](CustomerId id) {
      auto hs = db_.holdings_of(st_, id);
      if (!hs) {
        if (!error_) error_ = hs.error();  // reported by resolve(), never a silent miss
        return std::vector<Holding>{};
      }
      return std::move(*hs);
    };
    return ctx;
  }

 private:
  Result<Sets> finish(PlanStep& step, Sets s) {
    if (trace_) {
      step.sure = s.sure.size();
      step.maybe = s.maybe.size();
    }
    return s;
  }

  Result<IdSet> posting(SegField f, std::string bucket) {
    // A format-3 file opened read-only has no consent_profiling/sharing postings: every
    // customer's is unknown (the format-4 upgrade writes them so).
    if (db_.file_format() < 4 &&
        (f == SegField::kConsentProfiling || f == SegField::kConsentSharing)) {
      if (bucket == std::string(1, static_cast<char>(ConsentState::kUnknown)))
        return index_.members({SegField::kAll, std::string()});
      return IdSet{};
    }
    return index_.members({f, std::move(bucket)});
  }

  // Members of an ordered field with value in [lo, hi]: buckets inside are sure. A bucket the
  // range cuts: with the bit-sliced index (format 2), its members whose exact value lies in
  // [lo, hi] are sure too (SliceReader::range, restricted to the bucket's members and bits);
  // without it (a format-1 file opened read-only), its members are candidates (maybe).
  Result<Sets> range(SegField f, std::int64_t lo, std::int64_t hi) {
    Sets out;
    if (segment::is_holdings_field(f)) {
      // Format 6: slices only, no buckets. A file of format 5 or older (opened read-only) has
      // none of them: every customer's aggregates are zero there (first_product_on absent).
      if (!db_.seg_keys().holdings() || !db_.sliced()) {
        if (f == SegField::kFirstProductOn || lo > 0 || hi < 0) return out;
        auto total = all();
        if (!total) return tl::unexpected(total.error());
        out.sure = within_ ? (**total & *within_) : **total;
        return out;
      }
      auto in = slices(f).range(lo, hi, within_);
      if (!in) return tl::unexpected(in.error());
      out.sure = std::move(*in);
      return out;
    }
    auto span = segment::bucket_span(f, lo, hi);
    if (!span) return out;
    auto buckets = index_.buckets(f, span->first, span->second);
    if (!buckets) return tl::unexpected(buckets.error());
    const bool exact = db_.sliced() && segment::is_sliced(f);
    if (exact && within_) {
      // Inside an `and`, after its other children: only the members left can matter (the
      // `and` intersects with them), so the exact answer within them is enough.
      auto in = slices(f).range(lo, hi, within_);
      if (!in) return tl::unexpected(in.error());
      out.sure = std::move(*in);
      return out;
    }
    // Magnitude-bucketed fields have 8 buckets per power of two, their slices one: a range
    // covering many buckets reads fewer postings from the slices alone (pure BSI), measured
    // 2.1x faster for `total_amount > 1000.00` (docs/performance.md). Month buckets of dates
    // are cheap and their slices dense, so dates stay on buckets + cut-bucket slices.
    const bool magnitude = f == SegField::kTxnCount || f == SegField::kTotalAmount ||
                           f == SegField::kClv || f == SegField::kExpectedPurchases;
    constexpr std::size_t kPureBsiBuckets = 16;
    if (exact && magnitude && buckets->size() > kPureBsiBuckets) {
      auto in = slices(f).range(lo, hi);
      if (!in) return tl::unexpected(in.error());
      out.sure = std::move(*in);
      return out;
    }
    for (std::int64_t b : *buckets) {
      auto members = posting(f, index::encode_bucket(b));
      if (!members) return tl::unexpected(members.error());
      if (segment::bucket_within(f, b, lo, hi)) {
        out.sure |= *members;
      } else if (exact) {
        auto in = slices(f).range(lo, hi, &*members, index::bucket_bounds(f, b));
        if (!in) return tl::unexpected(in.error());
        out.sure |= *in;
      } else {
        out.maybe |= *members;
      }
    }
    return out;
  }

  // Whether n is evaluated on the members an `and`'s other operands leave (within_): a sliced
  // range, or holds(t, q), which reads the holdings of its candidates.
  bool narrowable(const Node& n) { return sliced_range(n) || holds_with_condition(n); }
  static bool holds_with_condition(const Node& n) {
    return n.kind == Node::Kind::kHolds && !n.children.empty();
  }

  // holds(t [, q]): the kHolds posting of t (customers holding a t not closed: exact without
  // q). With q, each candidate's holdings are read (holdings_of) and q evaluated on them; inside
  // an `and`, only the candidates its other operands leave (within_). A file of format 5 or
  // older (opened read-only) has no holdings: nobody holds anything.
  Result<Sets> holds(const Node& n, PlanStep& step) {
    const std::string type = n.product_type == ProductType::kCustom
                                 ? n.custom_type
                                 : std::string(to_string(n.product_type));
    if (trace_) step.label = "index holds(" + query::field_rules::product_text(n) + ")";
    Sets out;
    if (db_.seg_keys().holdings()) {
      auto s = index_.members({SegField::kHolds, type});
      if (!s) return tl::unexpected(s.error());
      out.sure = std::move(*s);
    }
    if (!n.children.empty()) {
      if (within_) out.sure &= *within_;
      const std::uint64_t candidates = out.sure.size();
      if (trace_)
        step.label = "holds(" + query::field_rules::product_text(n) + ", " +
                     n.children[0].to_string() + "): " + std::to_string(candidates) +
                     " candidates, holdings read";
      query::EvalContext ctx = context();
      IdSet kept;
      Customer probe;  // holds() reads only the id and the holdings
      out.sure.for_each([&](std::uint64_t id) {
        probe.id = id;
        if (query::matches(n, probe, ctx)) kept.add(id);
        return !error_;
      });
      if (error_) return tl::unexpected(*error_);
      out.sure = std::move(kept);
    }
    if (trace_) step.estimate = static_cast<double>(out.sure.size());
    return finish(step, std::move(out));
  }

  // Whether n is a predicate on a sliced ordered field (answered exactly from its slices).
  bool sliced_range(const Node& n) {
    if (!db_.sliced()) return false;
    if (n.kind != Node::Kind::kCompare && n.kind != Node::Kind::kBetween && n.kind != Node::Kind::kIn)
      return false;
    if (n.field == Field::kAttribute) {
      auto d = attribute_def(n);
      return d && segment::attribute_queryable(**d) && segment::is_sliced_attribute((*d)->type);
    }
    return segment::is_sliced(seg_field(n.field));
  }

  // The attribute a kAttribute node names, resolved against the transaction's schema: a name
  // it does not declare (dropped, renamed) or of another type or scale is kInvalidArgument.
  Result<const AttributeDef*> attribute_def(const Node& n) {
    if (!schema_) {
      auto s = db_.schema_of(st_);
      if (!s) return tl::unexpected(s.error());
      schema_ = *s;
    }
    const AttributeDef* def = schema_->find(n.attribute);
    if (!def)
      return make_error(ErrorCode::kInvalidArgument,
                        "attribute " + n.attribute + ": not declared by the database's schema");
    if (def->type != n.attribute_type ||
        (def->type == AttributeType::kDecimal && def->scale != n.attribute_scale))
      return make_error(ErrorCode::kInvalidArgument,
                        "attribute " + n.attribute + ": the query was made for another type (" +
                            std::string(to_string(n.attribute_type)) + ", the schema says " +
                            std::string(to_string(def->type)) + ")");
    return def;
  }

  // A predicate on a custom attribute: from its postings or slices when it is queryable
  // (attribute_queryable), else a scan: every member of the universe stays a candidate, read
  // and checked with query::matches by resolve() (within an `and`, only the candidates the
  // other operands leave).
  Result<Sets> attribute_predicate(const Node& n, PlanStep& step) {
    auto d = attribute_def(n);
    if (!d) return tl::unexpected(d.error());
    const AttributeDef& def = **d;
    auto total = all();
    if (!total) return tl::unexpected(total.error());
    if (!segment::attribute_queryable(def)) {
      if (trace_) {
        step.label = "scan: attribute " + def.name + " not indexed (" + n.to_string() + ")";
        step.estimate = static_cast<double>((*total)->size());
      }
      return finish(step, Sets{{}, **total});
    }
    if (trace_) step.label = "index " + n.to_string();
    Sets acc;
    if (segment::is_sliced_attribute(def.type)) {
      std::vector<std::pair<std::int64_t, std::int64_t>> intervals;
      const auto interval = interval_of;
      for (const auto& v : n.values)
        if (!std::holds_alternative<std::int64_t>(v))
          return make_error(ErrorCode::kInvalidArgument,
                            "attribute " + def.name + ": expected a number operand");
      if (n.kind == Node::Kind::kBetween) intervals.push_back({val(n.values.at(0)), val(n.values.at(1))});
      else if (n.kind == Node::Kind::kIn) for (auto& v : n.values) intervals.push_back({val(v), val(v)});
      else intervals.push_back(interval(n.cmp, val(n.values.at(0))));
      auto it = attribute_slices_.find(def.id);
      if (it == attribute_slices_.end()) it = attribute_slices_.try_emplace(def.id, index_, def).first;
      for (auto [lo, hi] : intervals) {
        if (lo > hi) continue;
        auto in = it->second.range(lo, hi, within_);
        if (!in) return tl::unexpected(in.error());
        acc.sure |= *in;
      }
    } else {
      for (const auto& v : n.values) {
        std::string value;
        if (def.type == AttributeType::kBool) {
          if (!std::holds_alternative<std::int64_t>(v))
            return make_error(ErrorCode::kInvalidArgument, "attribute " + def.name + ": expected true or false");
          value = val(v) ? "1" : "0";
        } else {
          if (!std::holds_alternative<std::string>(v))
            return make_error(ErrorCode::kInvalidArgument, "attribute " + def.name + ": expected text");
          value = std::get<std::string>(v);
          if (def.type == AttributeType::kEnum) {
            for (const auto& declared : def.values)
              if (declared.size() == value.size() &&
                  std::equal(declared.begin(), declared.end(), value.begin(), [](char a, char b) {
                    return normalize::ascii_lower(a) == normalize::ascii_lower(b);
                  }))
                value = declared;
          } else {
            value = normalize::fold(value);
          }
        }
        auto m = segment::attribute_members(index_, def, value);
        if (!m) return tl::unexpected(m.error());
        acc.sure |= *m;
      }
    }
    if (n.kind == Node::Kind::kCompare && n.cmp == Cmp::kNe) {
      Sets out;
      out.sure = **total - acc.sure;
      acc = std::move(out);
    }
    if (trace_) step.estimate = static_cast<double>(acc.sure.size());
    return finish(step, std::move(acc));
  }

  // One reader per sliced field and query (a slice chunk read once is kept).
  segment::SliceReader& slices(SegField f) {
    auto it = slice_readers_.find(f);
    if (it == slice_readers_.end()) it = slice_readers_.try_emplace(f, index_, f).first;
    return it->second;
  }

  Result<Sets> predicate(const Node& n, PlanStep& step) {
    if (n.field == Field::kAttribute) return attribute_predicate(n, step);
    if (trace_) step.label = "index " + n.to_string();
    const Field f = n.field;
    const SegField sf = seg_field(f);
    const auto kind = query::kind_of(f);
    // Turn the predicate into a value interval (ordered) or a list of values (categorical).
    auto complement = [&](Result<Sets> eq) -> Result<Sets> {
      if (!eq) return eq;
      auto total = all();
      if (!total) return tl::unexpected(total.error());
      Sets out;
      out.sure = **total - (eq->sure | eq->maybe);
      out.maybe = std::move(eq->maybe);
      return out;
    };
    Result<Sets> result = Sets{};
    if (kind == query::FieldKind::kText || (kind == query::FieldKind::kEnum && !query::is_ordered(f))) {
      // Categorical: = and != and in.
      auto one = [&](const query::Value& v) -> Result<IdSet> {
        if (kind == query::FieldKind::kText) return posting(sf, std::get<std::string>(v));
        return posting(sf, std::string(1, static_cast<char>(val(v))));
      };
      Sets acc;
      for (const auto& v : n.values) {
        auto s = one(v);
        if (!s) return tl::unexpected(s.error());
        acc.sure |= *s;
      }
      result = n.kind == Node::Kind::kCompare && n.cmp == Cmp::kNe ? complement(std::move(acc))
                                                                   : Result<Sets>(std::move(acc));
    } else if (kind == query::FieldKind::kEnum) {
      // tier, risk: ordered enums, a few values each.
      auto in_range = [&](std::int64_t e) {
        if (n.kind == Node::Kind::kIn)
          return std::any_of(n.values.begin(), n.values.end(), [&](auto& v) { return val(v) == e; });
        if (n.kind == Node::Kind::kBetween) return val(n.values[0]) <= e && e <= val(n.values[1]);
        std::int64_t v = val(n.values[0]);
        switch (n.cmp) {
          case Cmp::kEq: case Cmp::kNe: return e == v;
          case Cmp::kLt: return e < v;
          case Cmp::kLe: return e <= v;
          case Cmp::kGt: return e > v;
          case Cmp::kGe: return e >= v;
        }
        return false;
      };
      Sets acc;
      for (int e = 0; e <= enum_max(f); ++e) {
        if (!in_range(e)) continue;
        auto s = posting(sf, std::string(1, static_cast<char>(e)));
        if (!s) return tl::unexpected(s.error());
        acc.sure |= *s;
      }
      result = n.kind == Node::Kind::kCompare && n.cmp == Cmp::kNe ? complement(std::move(acc))
                                                                   : Result<Sets>(std::move(acc));
    } else {
      // Ordered values: an interval [lo, hi] per value (in: one per value).
      const auto interval = interval_of;
      std::vector<std::pair<std::int64_t, std::int64_t>> intervals;
      if (n.kind == Node::Kind::kBetween) intervals.push_back({val(n.values[0]), val(n.values[1])});
      else if (n.kind == Node::Kind::kIn) for (auto& v : n.values) intervals.push_back({val(v), val(v)});
      else intervals.push_back(interval(n.cmp, val(n.values[0])));
      Sets acc;
      for (auto [lo, hi] : intervals) {
        if (lo > hi) continue;
        if (f == Field::kAge) {
          // age in [lo, hi]  <=>  born_by(hi + 1) < birth_date <= born_by(lo)
          std::int64_t blo = hi >= kMaxAgeSpan ? kMin : born_by(as_of_, std::max(hi, -kMaxAgeSpan) + 1) + 1;
          std::int64_t bhi = lo <= -kMaxAgeSpan ? kMax : born_by(as_of_, std::min(lo, kMaxAgeSpan));
          lo = blo;
          hi = bhi;
        } else if (f == Field::kRecencyDays || f == Field::kTenureDays) {
          // days in [lo, hi]  <=>  the UTC day of the timestamp is in [as_of - hi, as_of - lo]
          const std::int64_t today = as_of_.time_since_epoch().count();
          constexpr std::int64_t kDayMs = 86'400'000, kSpan = 10'000'000;  // days: beyond any date
          std::int64_t tlo = hi >= kSpan ? kMin : (today - std::max(hi, -kSpan)) * kDayMs;
          std::int64_t thi = lo <= -kSpan ? kMax : (today - std::min(lo, kSpan) + 1) * kDayMs - 1;
          lo = tlo;
          hi = thi;
        }
        auto s = range(sf, lo, hi);
        if (!s) return s;
        acc.sure |= s->sure;
        acc.maybe |= s->maybe;
      }
      acc.maybe -= acc.sure;
      result = n.kind == Node::Kind::kCompare && n.cmp == Cmp::kNe ? complement(std::move(acc))
                                                                   : Result<Sets>(std::move(acc));
    }
    if (!result) return result;
    if (trace_) step.estimate = static_cast<double>(result->sure.size() + result->maybe.size());
    return finish(step, std::move(*result));
  }

  Result<Sets> related(const Node& n, PlanStep& step) {
    const bool custom = n.rel_type == RelationType::kCustom;
    if (trace_) step.label = "related(" + query::field_rules::relation_text(n) + ")";
    IdSet ends;  // customers at the other end must be in here
    bool any_end = n.children.empty();
    if (!any_end) {
      PlanStep child;
      const IdSet* const outer_within = within_;
      within_ = nullptr;  // the other ends: not intersected with the enclosing `and`'s members
      auto sub = resolve(n.children[0], child);
      within_ = outer_within;
      if (!sub) return tl::unexpected(sub.error());
      if (trace_) step.children.push_back(std::move(child));
      ends = std::move(*sub);
    }
    // Links are read through canonical(): a format-2 file opened read-only may still hold
    // links typed by an inverse name. The node asks for this customer at `from`, `to` or either.
    const bool at_from = n.rel_end != query::RelationEnd::kTo;
    const bool at_to = n.rel_end != query::RelationEnd::kFrom;
    auto type_ok = [&](const Relationship& r) {
      if (r.type != n.rel_type) return false;
      if (!custom) return true;
      if (r.custom_type.size() != n.custom_type.size()) return false;
      for (std::size_t i = 0; i < r.custom_type.size(); ++i)
        if (normalize::ascii_lower(r.custom_type[i]) != normalize::ascii_lower(n.custom_type[i]))
          return false;
      return true;
    };
    Sets out;
    auto rel_entries = storage::entry_count(st_.txn, db_.tables().relationships, "relationships");
    if (!rel_entries) return tl::unexpected(rel_entries.error());
    if (!any_end && ends.size() < *rel_entries) {
      // Few candidates at the other end: follow their links.
      Status failed;
      ends.for_each([&](std::uint64_t id) {
        auto rels = db_.relationships_of(st_, id);
        if (!rels) return failed = tl::unexpected(rels.error()), false;
        for (const auto& stored : *rels) {
          const Relationship r = canonical(stored);
          if (!type_ok(r)) continue;
          // `id` is at the other end from the customer being selected.
          if (at_from && r.to == id) out.sure.add(r.from);
          if (at_to && r.from == id) out.sure.add(r.to);
        }
        return true;
      });
      if (!failed) return tl::unexpected(failed.error());
    } else {
      // Otherwise one pass over all relationships.
      storage::Walker walk(st_.txn, db_.tables().relationships, "relationships");
      std::uint64_t walked = 0;
      Status failed;
      auto s = walk.all([&](storage::Bytes k, storage::Bytes v) {
        ++walked;
        auto decoded = db_.codec().decode_relationship(k, v);
        if (!decoded) return failed = tl::unexpected(decoded.error()), storage::Next::stop();
        const Relationship r = canonical(std::move(*decoded));
        if (type_ok(r)) {
          if (at_from && (any_end || ends.contains(r.to))) out.sure.add(r.from);
          if (at_to && (any_end || ends.contains(r.from))) out.sure.add(r.to);
        }
        return storage::Next::go_on();
      });
      if (!s) return tl::unexpected(s.error());
      if (!failed) return tl::unexpected(failed.error());
      if (auto c = storage::check_walked("relationships", walked, *rel_entries); !c)
        return tl::unexpected(c.error());
    }
    if (trace_) step.estimate = static_cast<double>(out.sure.size());
    return finish(step, std::move(out));
  }

  const DatabaseImpl& db_;
  TxnState& st_;
  segment::SegmentIndex index_;
  Date as_of_;
  const bool trace_;
  std::optional<IdSet> all_;
  std::map<SegField, segment::SliceReader> slice_readers_;
  std::map<std::uint32_t, segment::SliceReader> attribute_slices_;  // by attribute id
  std::shared_ptr<const Schema> schema_;  // the transaction's, loaded on first use
  // Set while an `and` evaluates a sliced range after its other children: the members those
  // left (the `and` intersects the range with them, so a range may answer within them only;
  // a complement or union above the range inside the `and` keeps that property). Cleared for
  // a related() sub-query, whose answer is not intersected with it.
  const IdSet* within_ = nullptr;
  bool universe_checked_ = false;
  std::optional<Error> error_;  // a storage error met inside query::matches' related lookups
};

void print(std::ostringstream& os, const PlanStep& s, int depth) {
  os << std::string(depth * 2, ' ') << s.label << "  est " << static_cast<std::uint64_t>(std::llround(s.estimate))
     << ", sure " << s.sure << ", to check " << s.maybe << "\n";
  for (const auto& c : s.children) print(os, c, depth + 1);
}

}  // namespace
}  // namespace detail

// ---- Segment ------------------------------------------------------------------------------------

using detail::PlanStep;
using detail::SegmentEvaluator;

namespace {

// A write transaction's queued segment changes must be visible to its own queries.
Status prepare(detail::DatabaseImpl* db, detail::TxnState* st) {
  if (!st) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  if (st->poisoned) return tl::unexpected(*st->failure);
  // A failed flush (the map full, say) poisons st: the transaction can only be aborted.
  if (st->write && st->has_queued_postings()) return db->flush_postings(*st);
  return {};
}

// Any answer lies within the universe posting, itself checked against the customers table: a
// posting naming a customer that does not exist is damage, not a member (one bitmap op).
Status within_universe(SegmentEvaluator& e, const index::IdSet& result) {
  auto universe = e.checked_universe();
  if (!universe) return tl::unexpected(universe.error());
  if (const std::uint64_t in = result.and_size(**universe); in != result.size())
    return make_error(ErrorCode::kCorruption,
                      "idx.segments: the answer holds " + std::to_string(result.size() - in) +
                          " customers missing from the universe posting");
  return {};
}

// Plans and evaluates q once; with `step`, also traces the plan into it (explain only).
Result<index::IdSet> evaluate(detail::DatabaseImpl* db, detail::TxnState* st, const query::Node& q,
                              Date as_of, PlanStep* step, std::uint64_t* verified) {
  if (auto s = prepare(db, st); !s) return tl::unexpected(s.error());
  SegmentEvaluator e(*db, *st, as_of, /*trace=*/step != nullptr);
  PlanStep untraced;
  auto result = e.resolve(q, step ? *step : untraced, verified);
  if (!result) return result;
  if (auto s = within_universe(e, *result); !s) return tl::unexpected(s.error());
  return result;
}

}  // namespace

using detail::moved_from;

Segment::Segment(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

Result<Segment> ReadView::select(const query::Node& q, const SegmentOptions& o) const {
  const Date as_of = o.as_of.value_or(detail::today_utc());
  auto set = evaluate(db_, state_.get(), q, as_of, nullptr, nullptr);
  if (!set) return tl::unexpected(set.error());
  auto rep = std::make_unique<Segment::Rep>();
  rep->db = db_;
  rep->st = state_.get();
  rep->alive = state_->alive;
  rep->writes = state_->writes;
  rep->query = q;
  rep->as_of = as_of;
  rep->size = set->size();
  rep->set = std::move(*set);
  return Segment(std::move(rep));
}

Result<std::uint64_t> Segment::count() const {
  if (!rep_) return tl::unexpected(moved_from());
  if (auto st = rep_->open(); !st) return tl::unexpected(st.error());
  return rep_->size;
}

Result<std::vector<CustomerId>> Segment::ids() const {
  if (!rep_) return tl::unexpected(moved_from());
  if (auto st = rep_->open(); !st) return tl::unexpected(st.error());
  return rep_->ascending();
}

Result<SegmentPage> Segment::page(std::size_t limit, CustomerId after) const {
  if (!rep_) return tl::unexpected(moved_from());
  if (auto st = rep_->open(); !st) return tl::unexpected(st.error());
  const auto& all = rep_->ascending();
  auto from = std::upper_bound(all.begin(), all.end(), after);
  const auto left = static_cast<std::size_t>(all.end() - from);
  const std::size_t take = limit == 0 ? left : std::min(limit, left);
  SegmentPage p;
  p.ids.assign(from, from + static_cast<std::ptrdiff_t>(take));
  if (take < left) p.next = p.ids.back();
  return p;
}

Status Segment::stream(const std::function<bool(const Customer&)>& fn) const {
  if (!rep_) return tl::unexpected(moved_from());
  auto st = rep_->open();
  if (!st) return tl::unexpected(st.error());
  Status failed;
  detail::TxnState* state = *st;
  detail::DatabaseImpl::OrderedReader customers(*state, rep_->db->tables().customers);
  rep_->set.for_each([&](std::uint64_t id) {
    auto c = rep_->db->load_customer(customers, id);
    if (!c) return failed = tl::unexpected(c.error()), false;
    if (!*c) {
      // fn's own writes in this WriteTxn may delete members still to come: not damage.
      if (state->writes != rep_->writes) return true;
      return failed = detail::missing_customer(id), false;
    }
    const bool more = fn(**c);
    // fn may also have ended the transaction (commit, abort, destruction: `state` is gone) or
    // poisoned it (a failed write aborts the LMDB transaction): read nothing more.
    if (rep_->alive.expired())
      return failed = make_error(ErrorCode::kFailedPrecondition,
                                 "segment stream: its transaction ended during the stream"),
             false;
    if (state->poisoned) return failed = tl::unexpected(*state->failure), false;
    return more;
  });
  return failed;
}

namespace {
// The plan of q as text: one traced evaluation (only explain pays for labels and estimates).
Result<std::string> explain_text(detail::DatabaseImpl* db, detail::TxnState* st,
                                 const query::Node& q, Date as_of) {
  PlanStep step;
  std::uint64_t verified = 0;
  auto result = evaluate(db, st, q, as_of, &step, &verified);
  if (!result) return tl::unexpected(result.error());
  std::ostringstream os;
  os << "query: " << q.to_string() << "\n";
  detail::print(os, step, 0);
  os << "records read to check candidates: " << verified << "\n";
  os << "result: " << result->size() << " customers\n";
  return os.str();
}
}  // namespace

Result<std::string> Segment::explain() const {
  if (!rep_) return tl::unexpected(moved_from());
  auto st = rep_->open();
  if (!st) return tl::unexpected(st.error());
  return explain_text(rep_->db, *st, rep_->query, rep_->as_of);
}

// ---- ReadView: thin wrappers over select() ---------------------------------------------------

Result<std::uint64_t> ReadView::count(const query::Node& q, const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->count();
}

Result<std::vector<CustomerId>> ReadView::ids(const query::Node& q, const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->ids();
}

Result<SegmentPage> ReadView::page(const query::Node& q, std::size_t limit, CustomerId after,
                                   const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->page(limit, after);
}

Status ReadView::stream(const query::Node& q, const std::function<bool(const Customer&)>& fn,
                        const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->stream(fn);
}

Result<std::vector<Customer>> ReadView::top(const query::Node& q, const MeasureKey& by, std::size_t n,
                                            const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->top(by, n);
}

Result<std::vector<GroupRow>> ReadView::group(const query::Node& q, GroupBy by,
                                              const SegmentOptions& o) const {
  auto s = select(q, o);
  if (!s) return tl::unexpected(s.error());
  return s->group(by);
}

Result<std::vector<GroupRow>> ReadView::group_all(GroupBy by) const {
  // `not` of an empty categorical set is every customer: the universe posting.
  query::Node none;
  none.kind = query::Node::Kind::kIn;
  none.field = query::Field::kRegion;
  none.values = {std::string()};
  query::Node all;
  all.kind = query::Node::Kind::kNot;
  all.children = {none};
  auto seg = select(all);
  if (!seg) return tl::unexpected(seg.error());
  return seg->group(by);
}

Result<std::string> ReadView::explain(const query::Node& q, const SegmentOptions& o) const {
  // One traced evaluation, not select() and then explain()'s own.
  return explain_text(db_, state_.get(), q, o.as_of.value_or(detail::today_utc()));
}

}  // namespace custdb
