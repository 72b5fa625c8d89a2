// The full consistency check. Records first: each must decode, reference existing customers,
// and have every index entry it derives. Then each index's entry count must equal the number
// of entries the records derive; only when it differs are the index's entries walked to name
// the orphans (an entry set that contains every expected entry and has the same size has no
// others: entries are distinct because each value ends with its owner's id).
#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include <roaring/roaring.hh>

#include "crypto/crypto.h"
#include "engine/audit.h"
#include "engine/consent.h"
#include "engine/db_impl.h"
#include "engine/feed_record.h"
#include "engine/erase.h"
#include "engine/holding_math.h"
#include "engine/validate.h"
#include "util/message.h"
#include "storage/page_check.h"

namespace custdb {

std::string to_string(CheckProblem::Kind kind) {
  switch (kind) {
    case CheckProblem::Kind::kUndecodable: return "undecodable record";
    case CheckProblem::Kind::kMissingIndexEntry: return "missing index entry";
    case CheckProblem::Kind::kOrphanIndexEntry: return "orphan index entry";
    case CheckProblem::Kind::kStaleAggregate: return "stale aggregate";
    case CheckProblem::Kind::kDanglingReference: return "dangling reference";
    case CheckProblem::Kind::kBadMetadata: return "bad metadata";
    case CheckProblem::Kind::kDamagedPage: return "damaged page";
    case CheckProblem::Kind::kNonCanonicalLink: return "non-canonical relationship";
    case CheckProblem::Kind::kAuditChain: return "audit chain broken";
  }
  return "problem";
}

namespace detail {
namespace {

using index::IndexEntry;
using index::IndexId;
using Kind = CheckProblem::Kind;

std::string hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string describe(const Aggregates& a) {
  auto ts = [](const std::optional<Timestamp>& t) { return t ? format_timestamp(*t) : "-"; };
  return "count " + std::to_string(a.txn_count) + ", total " + std::to_string(a.total_amount) +
         ", first " + ts(a.first_txn_at) + ", last " + ts(a.last_txn_at);
}

std::string describe(const HoldingAggregates& a) {
  std::string types;
  for (const auto& t : a.types_held) types += (types.empty() ? "" : ",") + t;
  return "aum " + std::to_string(a.aum) + ", liabilities " + std::to_string(a.liabilities) +
         ", products " + std::to_string(a.products) + ", holdings " +
         std::to_string(a.holdings) + ", types [" + types + "], first product " +
         (a.first_product_on ? format_date(*a.first_product_on) : "-");
}

// A 128-bit sum in decimal (minor units).
std::string amount_text(AmountSum v) {
  if (v >= INT64_MIN && v <= INT64_MAX) return std::to_string(static_cast<std::int64_t>(v));
  const bool neg = v < 0;
  unsigned __int128 u = neg ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
  std::string out;
  while (u) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  return (neg ? "-" : "") + out;
}

// What the transactions posted to one holding sum to (Holding::posted, base_posted, postings).
struct PostingSums {
  AmountSum posted = 0, base_posted = 0;
  std::uint64_t postings = 0;
};

struct Checker {
  const DatabaseImpl& db;
  TxnState& st;
  CheckReport& report;
  // The keys of the file as this transaction sees it (DatabaseImpl::check).
  const segment::SegmentKeys& keys;
  // Whether the file is format 3 or later, so relationships must be canonical and single.
  bool canonical_links = true;
  std::array<std::uint64_t, index::kIndexCount> expected{};
  std::array<std::uint64_t, index::kIndexCount> missing{};
  // The segment index the customers derive, built with the writer's own code.
  segment::SegmentCheck segments{keys};
  // Each relationship link seen (canonical type, custom name, ends; a symmetric link's ends
  // ascending) -> the first relationship id holding it, to find a link stored twice.
  std::map<std::tuple<RelationType, std::string, CustomerId, CustomerId>, RelationshipId> links;

  void problem(Kind k, std::string where, std::string what) {
    report.problems.push_back({k, std::move(where), std::move(what)});
  }

  bool entry_present(const IndexEntry& e) {
    const storage::Table table = db.tables().index[static_cast<std::size_t>(e.index)];
    const auto key = coding::as_bytes(e.key), value = coding::as_bytes(e.value);
    // A read failure counts as absent: the entry is reported missing.
    if (index::spec(e.index).unique) {
      auto v = storage::get(st.txn, table, key);
      return v && *v && coding::as_view(**v) == e.value;
    }
    auto found = storage::has_dup(st.txn, table, key, value);
    return found && *found;
  }

  void check_entries(const std::vector<IndexEntry>& entries, const std::string& owner) {
    for (const auto& e : entries) {
      // A read-only handle of a file older than the index has no table for it (null): it
      // cannot tell, and the file cannot hold such entries as this handle's format sees it.
      if (!db.tables().index[static_cast<std::size_t>(e.index)]) continue;
      ++expected[static_cast<std::size_t>(e.index)];
      if (!entry_present(e) && ++missing[static_cast<std::size_t>(e.index)])
        problem(Kind::kMissingIndexEntry, index::spec(e.index).dbi_name,
                owner + " lacks key " + hex(e.key));
    }
  }

  bool customer_exists(CustomerId id) {
    coding::IdKey k(id);
    auto v = storage::get(st.txn, db.tables().customers, k.span());
    return v && *v;
  }

  // Walks one table, calling fn(key, value) for each record.
  template <class Fn>
  Status walk(storage::Table table, Fn fn) {
    return storage::Walker(st.txn, table, "scan").all([&](storage::Bytes k, storage::Bytes v) {
      fn(k, v);
      return storage::Next::go_on();
    });
  }

  // Format 3 stores each link once, in canonical form (custdb/types.h canonical()); a
  // format-2 file opened read-only still has links as they were typed, and is not held to it.
  void check_link(const Relationship& r) {
    auto name = [](const Relationship& x) {
      return (x.type == RelationType::kCustom ? message::quoted(x.custom_type)
                                              : std::string(custdb::to_string(x.type))) +
             " " + std::to_string(x.from) + " -> " + std::to_string(x.to);
    };
    const Relationship c = canonical(r);
    if (!(c == r))
      problem(Kind::kNonCanonicalLink, "relationships",
              "relationship " + std::to_string(r.id) + " is stored as " + name(r) +
                  "; format 3 stores it as " + name(c));
    CustomerId a = c.from, b = c.to;
    if (is_symmetric(c.type) && b < a) std::swap(a, b);
    auto [it, fresh] = links.try_emplace({c.type, c.custom_type, a, b}, r.id);
    if (!fresh)
      problem(Kind::kNonCanonicalLink, "relationships",
              "relationship " + std::to_string(r.id) + " (" + name(r) +
                  ") is the same link as relationship " + std::to_string(it->second));
  }

  // Custom attributes: each decoded value must pass the schema's checks unchanged (stored
  // normalized), and every required attribute must have one.
  void check_attributes(const Attributes& attrs, const Schema& schema, AttributeTable table,
                        std::string_view where, const std::string& what) {
    for (const auto& [name, value] : attrs) {
      const AttributeDef* def = schema.find(name, table);
      if (!def) continue;  // the decoder names live attributes only
      AttributeValue v = value;
      if (auto s = check_attribute_value(*def, v); !s)
        problem(Kind::kUndecodable, std::string(where),
                what + ": attribute " + name + ": stored value fails the schema: " +
                    s.error().message());
      else if (!(v == value))
        problem(Kind::kUndecodable, std::string(where),
                what + ": attribute " + name + ": stored value is not in its normalized form");
    }
    for (const AttributeDef& def : schema.attributes)
      // Personal ones may be absent: erased (EraseMode::kKeepLedger), or out of an analyst
      // key's reach.
      if (!def.dropping && def.table == table && def.required && !def.personal &&
          !attrs.count(def.name))
        problem(Kind::kUndecodable, std::string(where),
                what + ": attribute " + def.name + ": required, but no value is stored");
  }

  Status run() {
    auto schema_r = db.schema_of(st);
    if (!schema_r) return tl::unexpected(schema_r.error());
    const Schema& schema = **schema_r;
    std::unordered_map<CustomerId, Aggregates> stored, computed;
    std::unordered_map<CustomerId, AmountSum> sums;  // computed total_amount, exact
    // Format 6: each customer's stored holding aggregates, its holdings (as decoded) and the
    // postings each holding's transactions sum to.
    std::unordered_map<CustomerId, HoldingAggregates> stored_holdings;
    std::unordered_map<CustomerId, std::vector<Holding>> holdings_by_customer;
    std::unordered_map<HoldingId, PostingSums> posting_sums;
    std::unordered_map<TransactionId, std::pair<CustomerId, std::string>> posting_owner;
    std::unordered_map<HoldingId, std::vector<TransactionId>> postings_to;
    std::vector<IndexEntry> entries;
    std::uint64_t max_customer = 0, max_rel = 0, max_txn = 0, max_holding = 0;

    auto s = walk(db.tables().customers, [&](storage::Bytes k, storage::Bytes v) {
      ++report.customers;
      auto c = db.codec().decode_customer(k, v, schema);
      if (!c) return problem(Kind::kUndecodable, "customers", c.error().message());
      check_attributes(c->attributes, schema, AttributeTable::kCustomers, "customers",
                       "customer " + std::to_string(c->id));
      max_customer = std::max(max_customer, c->id);
      stored[c->id] = c->aggregates;
      stored_holdings[c->id] = c->holdings;
      entries.clear();
      db.keys().customer_entries(*c, entries);
      check_entries(entries, "customer " + std::to_string(c->id));
      segments.expect(*c);
    });
    if (!s) return s;

    s = walk(db.tables().relationships, [&](storage::Bytes k, storage::Bytes v) {
      ++report.relationships;
      auto r = db.codec().decode_relationship(k, v);
      if (!r) return problem(Kind::kUndecodable, "relationships", r.error().message());
      max_rel = std::max(max_rel, r->id);
      for (CustomerId end : {r->from, r->to})
        if (!customer_exists(end))
          problem(Kind::kDanglingReference, "relationships",
                  "relationship " + std::to_string(r->id) + " names missing customer " +
                      std::to_string(end));
      entries.clear();
      db.keys().relationship_entries(*r, entries);
      check_entries(entries, "relationship " + std::to_string(r->id));
      if (canonical_links) check_link(*r);
    });
    if (!s) return s;

    s = walk(db.tables().transactions, [&](storage::Bytes k, storage::Bytes v) {
      ++report.transactions;
      auto t = db.codec().decode_transaction(k, v, schema);
      if (!t) return problem(Kind::kUndecodable, "transactions", t.error().message());
      check_attributes(t->attributes, schema, AttributeTable::kTransactions, "transactions",
                       "transaction " + std::to_string(t->id));
      max_txn = std::max(max_txn, t->id);
      if (!customer_exists(t->customer_id)) {
        problem(Kind::kDanglingReference, "transactions",
                "transaction " + std::to_string(t->id) + " names missing customer " +
                    std::to_string(t->customer_id));
      } else if (stored.count(t->customer_id)) {  // an undecodable customer is reported already
        Aggregates& a = computed[t->customer_id];
        a.txn_count++;
        // Summed exactly: in this order (or in a damaged file) the running total may leave
        // int64 even when the final one fits; compared with the stored total below.
        sums[t->customer_id] += t->base_amount.value_or(t->amount);
        if (!a.first_txn_at || t->ts < *a.first_txn_at) a.first_txn_at = t->ts;
        if (!a.last_txn_at || t->ts > *a.last_txn_at) a.last_txn_at = t->ts;
      }
      if (t->holding_id) {
        PostingSums& p = posting_sums[*t->holding_id];
        p.posted += t->amount;
        p.base_posted += t->base_amount.value_or(t->amount);
        ++p.postings;
        posting_owner[t->id] = {t->customer_id, t->currency};
        postings_to[*t->holding_id].push_back(t->id);
      }
      entries.clear();
      db.keys().transaction_entries(*t, entries);
      check_entries(entries, "transaction " + std::to_string(t->id));
    });
    if (!s) return s;

    // Holdings (format 6; a read-only open of an older file has no table: nothing to check).
    if (db.tables().holdings) {
      s = walk(db.tables().holdings, [&](storage::Bytes k, storage::Bytes v) {
        ++report.holdings;
        auto h = db.codec().decode_holding(k, v);
        if (!h) return problem(Kind::kUndecodable, "holdings", h.error().message());
        const std::string what = "holding " + std::to_string(h->id);
        max_holding = std::max(max_holding, h->id);
        if (!customer_exists(h->customer_id)) {
          problem(Kind::kDanglingReference, "holdings",
                  what + " names missing customer " + std::to_string(h->customer_id));
        } else {
          holdings_by_customer[h->customer_id].push_back(*h);
        }
        // In the base currency the base balance is the balance itself.
        if (h->currency == db.base_currency() && h->base_balance &&
            *h->base_balance != h->balance)
          problem(Kind::kUndecodable, "holdings",
                  what + ": base_balance " + std::to_string(*h->base_balance) +
                      " differs from balance " + std::to_string(h->balance) + " in the base currency " +
                      h->currency);
        // The engine fields: the sums of the transactions posted to it.
        PostingSums want;
        if (auto it = posting_sums.find(h->id); it != posting_sums.end()) want = it->second;
        if (want.posted != h->posted || want.base_posted != h->base_posted ||
            want.postings != h->postings)
          problem(Kind::kStaleAggregate, "holdings",
                  what + " stores posted " + std::to_string(h->posted) + ", base_posted " +
                      std::to_string(h->base_posted) + ", postings " +
                      std::to_string(h->postings) + " but its transactions give posted " +
                      amount_text(want.posted) + ", base_posted " +
                      amount_text(want.base_posted) + ", postings " +
                      std::to_string(want.postings));
        // Each posting's transaction has the holding's customer and currency.
        if (auto it = postings_to.find(h->id); it != postings_to.end()) {
          for (TransactionId t : it->second) {
            const auto& [owner, currency] = posting_owner[t];
            if (owner != h->customer_id || currency != h->currency)
              problem(Kind::kDanglingReference, "transactions",
                      "transaction " + std::to_string(t) + " posts to " + what + " of customer " +
                          std::to_string(h->customer_id) + " in " + h->currency +
                          " but is customer " + std::to_string(owner) + "'s in " + currency);
          }
          postings_to.erase(it);
        }
        entries.clear();
        db.keys().holding_entries(*h, entries);
        check_entries(entries, what);
      });
      if (!s) return s;
      // Postings to holdings that do not exist (or did not decode: reported already).
      std::vector<std::pair<HoldingId, TransactionId>> dangling;
      for (const auto& [hid, txns] : postings_to)
        for (TransactionId t : txns) dangling.emplace_back(hid, t);
      std::sort(dangling.begin(), dangling.end());
      for (const auto& [hid, t] : dangling) {
        coding::IdKey hk(hid);
        auto v = storage::get(st.txn, db.tables().holdings, hk.span());
        if (v && *v) continue;  // undecodable: reported above
        problem(Kind::kDanglingReference, "transactions",
                "transaction " + std::to_string(t) + " posts to missing holding " +
                    std::to_string(hid));
      }
    }

    // Consent history and rule moves (format 4): every entry decodes under its key. An entry
    // may outlive its customer only through a damaged file: delete and erase remove them.
    if (db.tables().consent_history) {
      s = walk(db.tables().consent_history, [&](storage::Bytes k, storage::Bytes v) {
        auto e = decode_consent_change(db.codec(), k, v);
        if (!e) return problem(Kind::kUndecodable, "consent_history", e.error().message());
        if (!customer_exists(e->customer))
          problem(Kind::kDanglingReference, "consent_history",
                  "consent change " + std::to_string(e->seq) + " names missing customer " +
                      std::to_string(e->customer));
      });
      if (!s) return s;
    }
    if (db.tables().rule_moves) {
      s = walk(db.tables().rule_moves, [&](storage::Bytes k, storage::Bytes v) {
        auto e = decode_rule_move(db.codec(), k, v);
        if (!e) return problem(Kind::kUndecodable, "rule_moves", e.error().message());
        if (!customer_exists(e->customer))
          problem(Kind::kDanglingReference, "rule_moves",
                  "rule move " + std::to_string(e->seq) + " names missing customer " +
                      std::to_string(e->customer));
      });
      if (!s) return s;
    }

    for (const auto& [id, agg] : stored) {
      auto it = computed.find(id);
      Aggregates want = it == computed.end() ? Aggregates{} : it->second;
      const AmountSum sum = sums.count(id) ? sums[id] : 0;
      const bool fits = sum >= INT64_MIN && sum <= INT64_MAX;
      if (fits) want.total_amount = static_cast<std::int64_t>(sum);
      if (!fits || !(want == agg))
        problem(Kind::kStaleAggregate, "customers",
                "customer " + std::to_string(id) + " stores " + describe(agg) +
                    " but its transactions give " + describe(want));
    }
    // Each customer's holding aggregates equal the one derivation's recount of its holdings.
    if (db.tables().holdings) {
      for (const auto& [id, agg] : stored_holdings) {
        HoldingAggregates want;
        if (auto it = holdings_by_customer.find(id); it != holdings_by_customer.end()) {
          std::sort(it->second.begin(), it->second.end(),
                    [](const Holding& a, const Holding& b) { return a.id < b.id; });
          want = holding_aggregates(it->second);
          if (it->second.size() > kMaxHoldingsPerCustomer)
            problem(Kind::kStaleAggregate, "holdings",
                    "customer " + std::to_string(id) + " has " +
                        std::to_string(it->second.size()) + " holdings, more than " +
                        std::to_string(kMaxHoldingsPerCustomer));
        }
        if (!(want == agg))
          problem(Kind::kStaleAggregate, "customers",
                  "customer " + std::to_string(id) + " stores holdings " + describe(agg) +
                      " but its holdings give " + describe(want));
      }
    }

    for (std::size_t i = 0; i < index::kIndexCount; ++i) {
      if (!db.tables().index[i]) continue;  // read-only open of an older file: no such index
      auto stored = storage::entry_count(st.txn, db.tables().index[i],
                                         index::spec(static_cast<IndexId>(i)).dbi_name);
      if (!stored) return tl::unexpected(stored.error());
      report.index_entries += *stored;
      // Equal counts and no missing entry prove the index exact; a missing entry may have a
      // stale twin (same count), so then the entries are walked too.
      if (*stored != expected[i] || missing[i] > 0) {
        if (auto w = find_orphans(static_cast<IndexId>(i)); !w) return w;
      }
    }

    {
      // Every stored segment chunk must equal the one the customers derive, none may be
      // absent, and the extents must cover the buckets in use.
      segment::SegmentIndex index(db, st);
      if (auto p = segments.verify(index, report.segment_bitmaps,
                                   [&](Kind k, std::string where, std::string what) {
                                     problem(k, std::move(where), std::move(what));
                                   });
          !p)
        return p;
    }

    auto counter = [&](std::string_view name, std::uint64_t max_id) {
      auto next = db.next_id(st, name);
      if (!next) return problem(Kind::kBadMetadata, "meta", next.error().message());
      if (max_id >= *next)
        problem(Kind::kBadMetadata, "meta",
                std::string(name) + " is " + std::to_string(*next) + " but id " +
                    std::to_string(max_id) + " exists");
    };
    counter(kNextCustomer, max_customer);
    counter(kNextRelationship, max_rel);
    counter(kNextTransaction, max_txn);
    if (db.tables().holdings) counter(kNextHolding, max_holding);
    {
      std::uint64_t audit_entries = 0;
      auto a = check_audit_chain(db, st, audit_entries, [&](std::string what) {
        problem(Kind::kAuditChain, "audit", std::move(what));
      });
      if (!a) return a;
    }
    return check_meta();
  }

  // The meta values the engine relies on to open and to write (docs/format.md, "Meta"): each
  // one that would make an open or a write fail is a problem, so a clean report means writes
  // can succeed.
  Status check_meta() {
    auto raw = [&](std::string_view key) -> Result<std::optional<storage::Bytes>> {
      return db.get(st, db.tables().meta, coding::as_bytes(key));
    };
    auto header = raw(kHeaderKey);
    if (!header) return tl::unexpected(header.error());
    if (!*header) {
      problem(Kind::kBadMetadata, "meta", "header: missing");
    } else if (auto h = check_header(**header, db.encrypted()); !h) {
      problem(Kind::kBadMetadata, "meta", "header: " + h.error().message());
    }

    auto epoch = raw(kEpochKey);
    if (!epoch) return tl::unexpected(epoch.error());
    if (*epoch) {
      if ((*epoch)->size() != 4) {
        problem(Kind::kBadMetadata, "meta",
                "nonce_epoch: " + std::to_string((*epoch)->size()) +
                    " bytes, expected 4 (every write would fail)");
      } else if (std::all_of((*epoch)->begin(), (*epoch)->end(), [](auto b) { return b == 0xFF; })) {
        problem(Kind::kBadMetadata, "meta",
                "nonce_epoch: 4294967295, exhausted (every write would fail; rotate the data key)");
      }
    }

    if (db.encrypted()) {
      auto kh = raw(kKeyHeaderKey);
      auto id = raw(kFileIdKey);
      auto binding = raw(kKeyBindingKey);
      if (!kh) return tl::unexpected(kh.error());
      if (!id) return tl::unexpected(id.error());
      if (!binding) return tl::unexpected(binding.error());
      if (!*kh) {
        problem(Kind::kBadMetadata, "meta", "key_header: missing");
      } else if (auto parsed = crypto::KeyHeader::parse(**kh); !parsed) {
        problem(Kind::kBadMetadata, "meta", parsed.error().message());
      } else if (*binding || *id) {
        // Both absent: a database from before key bindings, bound at its next read-write open.
        if (!*id || (*id)->size() != crypto::kFileIdSize) {
          problem(Kind::kBadMetadata, "meta", "file_id: missing or not 16 bytes");
        } else if (!*binding) {
          problem(Kind::kBadMetadata, "meta", "key_binding: missing");
        } else {
          auto want = crypto::key_binding(db.data_key(), **id, **kh);
          if (!want) return tl::unexpected(want.error());
          if ((*binding)->size() != want->size() ||
              sodium_memcmp((*binding)->data(), want->data(), want->size()) != 0)
            problem(Kind::kBadMetadata, "meta",
                    "key_binding: does not match the key header and file id (a key header "
                    "from another database?)");
        }
      }
    }

    // Sealed meta values (analytics rules and model, segment extents): their envelopes must
    // open.
    std::vector<std::string> sealed(kSealedMetaKeys.begin(), kSealedMetaKeys.end());
    {
      auto extents = segment::SegmentIndex(db, st).extent_keys();
      if (!extents) return tl::unexpected(extents.error());
      sealed.insert(sealed.end(), extents->begin(), extents->end());
    }
    for (const std::string& key : sealed) {
      auto v = db.get_sealed_meta(st, key);
      if (!v) problem(Kind::kUndecodable, "meta", key + ": " + v.error().message());
    }
    // The erasure journal (erase.h): every entry opens and decodes.
    if (auto j = read_erasure_journal(db, st); !j)
      problem(Kind::kUndecodable, "erasures", j.error().message());
    return {};
  }

  // Every entry whose owner record is missing or would not derive it.
  Status find_orphans(IndexId id) {
    const auto& spec = index::spec(id);
    std::vector<IndexEntry> derived;
    return walk_dups(id, [&](std::string_view key, std::string_view value) {
             std::uint64_t owner = index::IndexKeys::owner_id(value);
             derived.clear();
             bool loaded = false;
             if (spec.owner == index::Owner::kCustomer) {
               auto c = db.load_customer(st, owner);
               if (c && *c) db.keys().customer_entries(**c, derived), loaded = true;
             } else if (spec.owner == index::Owner::kRelationship) {
               auto r = db.load_relationship(st, owner);
               if (r && *r) db.keys().relationship_entries(**r, derived), loaded = true;
             } else if (spec.owner == index::Owner::kHolding) {
               auto h = db.load_holding(st, owner);
               if (h && *h) db.keys().holding_entries(**h, derived), loaded = true;
             } else {
               auto t = db.load_transaction(st, owner);
               if (t && *t) db.keys().transaction_entries(**t, derived), loaded = true;
             }
             IndexEntry e{id, std::string(key), std::string(value)};
             if (!loaded || std::find(derived.begin(), derived.end(), e) == derived.end())
               problem(Kind::kOrphanIndexEntry, spec.dbi_name,
                       "key " + hex(key) + " -> " + std::to_string(owner) +
                           (loaded ? " does not match the record" : " has no record"));
           });
  }

  template <class Fn>
  Status walk_dups(IndexId id, Fn fn) {
    // A full walk visits every value of every key of a dupsort table.
    return storage::Walker(st.txn, db.tables().index[static_cast<std::size_t>(id)], "scan index")
        .all([&](storage::Bytes k, storage::Bytes v) {
          fn(coding::as_view(k), coding::as_view(v));
          return storage::Next::go_on();
        });
  }
};

// The change feed's tables (format 7, engine/feed_record.h): the state decodes; every row of
// table feed decodes (entry headers, part rows, and each part's payload opens under the
// file's key and decodes, its part number the key's); every kept entry has its header and
// at most part_count parts; the kept seqs run without a gap from the first to the state's
// last; every consumer's cursor decodes and is at most the last seq.
Status check_feed(const DatabaseImpl& db, TxnState& st, CheckReport& report) {
  using Kind = CheckProblem::Kind;
  auto problem = [&](Kind k, std::string where, std::string what) {
    if (report.problems.size() < 1000) report.problems.push_back({k, std::move(where), std::move(what)});
  };
  if (!db.tables().feed) return {};
  auto state = load_feed_state(db, st);
  if (!state) {
    problem(Kind::kBadMetadata, "meta", "feed.state: " + state.error().message());
    return {};
  }
  std::optional<feed::Seq> first, prev;
  std::optional<EntryHeader> header;  // of `prev`, once its header row was read
  std::uint64_t parts_of_prev = 0;
  std::uint32_t max_part_of_prev = 0;
  auto finish_entry = [&]() {
    if (!prev) return;
    const std::string at = "entry " + std::to_string(*prev);
    if (!header) return problem(Kind::kUndecodable, "feed", at + ": no entry header");
    if (parts_of_prev > header->part_count || (parts_of_prev && max_part_of_prev >= header->part_count))
      problem(Kind::kUndecodable, "feed",
              at + ": parts beyond its part_count " + std::to_string(header->part_count));
  };
  Status failed;
  storage::Walker walk(st.txn, db.tables().feed, "check feed");
  auto s = walk.all([&](storage::Bytes k, storage::Bytes v) {
    auto key = decode_feed_key(coding::as_view(k));
    if (!key) {
      problem(Kind::kUndecodable, "feed", "key " + hex(coding::as_view(k)) + ": " + key.error().message());
      return storage::Next::go_on();
    }
    const auto [seq, part] = *key;
    if (!prev || seq != *prev) {
      finish_entry();
      if (prev && seq != *prev + 1)
        problem(Kind::kBadMetadata, "feed",
                "entries " + std::to_string(*prev + 1) + ".." + std::to_string(seq - 1) + " are missing");
      if (!first) first = seq;
      prev = seq;
      header.reset();
      parts_of_prev = 0;
      max_part_of_prev = 0;
    }
    ++report.feed_rows;
    const std::string at = "entry " + std::to_string(seq) + " part " + std::to_string(part);
    if (part == kEntryHeaderPart) {
      auto h = decode_entry_header(coding::as_view(v));
      if (!h) problem(Kind::kUndecodable, "feed", at + ": " + h.error().message());
      else header = *h, ++report.feed_entries;
      return storage::Next::go_on();
    }
    ++parts_of_prev;
    max_part_of_prev = std::max(max_part_of_prev, part);
    auto row = decode_part_row(coding::as_view(v));
    if (!row) {
      problem(Kind::kUndecodable, "feed", at + ": " + row.error().message());
      return storage::Next::go_on();
    }
    auto number = payload_part_number(row->payload);
    if (!number || *number != part)
      problem(Kind::kUndecodable, "feed", at + ": the payload names another part");
    auto ops = decode_part_payload(db.codec(), state->name, seq, row->label, row->customer, row->payload);
    if (!ops) problem(Kind::kUndecodable, "feed", at + ": " + ops.error().message());
    return storage::Next::go_on();
  });
  if (!s) return s;
  finish_entry();
  if (prev) {
    if (state->role != feed::Role::kPrimary)
      problem(Kind::kBadMetadata, "feed", "entries kept while the feed is not on");
    if (*prev != state->last)
      problem(Kind::kBadMetadata, "feed",
              "the newest entry is " + std::to_string(*prev) + ", feed.state says " + std::to_string(state->last));
    if (*first <= state->floor)
      problem(Kind::kBadMetadata, "feed",
              "entry " + std::to_string(*first) + " is at or below the floor " + std::to_string(state->floor));
  }
  if (!db.tables().feed_consumers) return {};
  storage::Walker consumers(st.txn, db.tables().feed_consumers, "check feed consumers");
  return consumers.all([&](storage::Bytes k, storage::Bytes v) {
    ++report.feed_consumers;
    const std::string name(coding::as_view(k));
    auto c = decode_consumer(coding::as_view(v));
    if (!c) problem(Kind::kUndecodable, "feed_consumers", name + ": " + c.error().message());
    else if (c->acked > state->last)
      problem(Kind::kBadMetadata, "feed_consumers",
              name + ": acknowledged " + std::to_string(c->acked) + ", past the last entry " +
                  std::to_string(state->last));
    return storage::Next::go_on();
  });
}

}  // namespace

Result<CheckReport> DatabaseImpl::check() {
  // The read transaction first: while it holds its reader slot, no writer (in any process)
  // reuses a page of its snapshot or of a newer one, so the walk below reads sound pages
  // even while writers commit.
  auto st = begin(false);
  if (!st) return tl::unexpected(st.error());
  // The page structure first: LMDB follows damaged page offsets into a crash, so the record
  // checks below run only on a file whose pages are sound.
  auto pages = verify_file(path());
  if (!pages) return tl::unexpected(pages.error());
  if (!pages->clean()) return pages;
  // The snapshot's own format decides what the customers derive: a handle that opened an
  // older file read-only keeps that format's keys, but another process may have upgraded the
  // file since, so the header of this snapshot is read rather than the handle's.
  std::uint32_t format = file_format();
  {
    auto raw = get(**st, tables().meta, coding::as_bytes(kHeaderKey));
    if (!raw) return tl::unexpected(raw.error());
    if (*raw) {
      auto f = header_format(**raw);
      if (!f) return tl::unexpected(f.error());
      format = *f;
    }
  }
  const bool canonical_links = format >= 3;  // format 2 kept links typed from either end
  std::unique_ptr<segment::SegmentKeys> snapshot_keys;
  if (format != file_format())
    snapshot_keys = std::make_unique<segment::SegmentKeys>(tokenizer_.get(), format,
                                                           personal_tokenizer_.get(), split());
  CheckReport report;
  Checker checker{*this, **st, report, snapshot_keys ? *snapshot_keys : seg_keys(), canonical_links};
  if (auto schema = schema_of(**st)) checker.segments.set_schema(*schema);  // D (#17): attribute postings
  if (auto s = checker.run(); !s) return tl::unexpected(s.error());
  if (auto s = check_feed(*this, **st, report); !s) return tl::unexpected(s.error());
  return report;
}

}  // namespace detail

namespace detail {
Result<storage::PageCheckReport> walk_pages(const std::filesystem::path& path) {
  // The flags custdb opens its named DBs with (open.cc, all_dbis): LMDB would read a DB
  // whose stored flags differ as another kind of tree.
  storage::PageCheckOptions o;
  for (const char* name :
       {"meta", "customers", "relationships", "transactions", "holdings", "idx.segments"})
    o.db_flags[name] = 0;
  for (std::size_t i = 0; i < index::kIndexCount; ++i) {
    const auto& s = index::spec(static_cast<index::IndexId>(i));
    o.db_flags[s.dbi_name] = storage::table_flags(s.unique ? storage::TableKind::kUnique
                                                           : storage::TableKind::kDupSorted);
  }
  return storage::check_pages_file(path / "data.mdb", o);
}
}  // namespace detail

Result<CheckReport> verify_file(const std::filesystem::path& path) {
  auto r = detail::walk_pages(path);
  if (!r) return tl::unexpected(r.error());
  CheckReport report;
  for (auto& p : r->problems)
    report.problems.push_back(
        {CheckProblem::Kind::kDamagedPage, "page " + std::to_string(p.pgno), std::move(p.what)});
  if (r->stopped)
    report.problems.push_back({CheckProblem::Kind::kDamagedPage, "-",
                               "more damage not listed: the walk stopped after " +
                                   std::to_string(r->problems.size()) + " problems"});
  return report;
}

}  // namespace custdb
