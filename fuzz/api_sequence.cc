// Fuzz target api_sequence: the bytes drive a sequence of write and read calls against a fresh
// database and an in-memory model of what they must do.
//
// Input: [0] setup, then operations until the input ends (at most kMaxOps); the encoding is in
// fuzz/api_ops.h. Setup bit 0: a 128 KiB initial map (longer inputs then grow it: the replay
// path of WriteTxn::run); bit 1: an encrypted database.
//
// The model (std::map of customers, relationships and transactions, plus the three id
// counters) predicts every call: the success value (ids, true/false) or the error code where
// the API documents it (kInvalidArgument for bad fields, kFailedPrecondition for an unknown
// customer or a restricted delete, kAlreadyExists for a taken id, external_ref or link).
// Field values come from small tables whose normalized form and validity are known, so the
// model needs no validator of its own. Aggregates are recomputed from the model's transactions
// every time they are compared, never maintained incrementally.
//
// Checked: after every write call, the customers it touched (inside the open transaction) and
// the table counts; after every commit or abort, and at the end, everything the model holds
// (get_customer/relationship/transaction, relationships_of, transactions_of, find_by_email,
// find_by_external_ref, counts) plus a segment query; at the end of every input, check() is
// clean. updated_at is adopted from the engine after insert and update, and must then stay put
// through transaction writes.
#include <algorithm>
#include <map>
#include <set>

#include "custdb/check.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "api_ops.h"
#include "custdb/query.h"
#include "fuzz_util.h"

using namespace custdb;
using namespace custdb::fuzz::api;
using custdb::fuzz::must;

namespace {

constexpr std::uint64_t kMaxId = (std::uint64_t{1} << 63) - 1;
constexpr std::size_t kMaxOps = 64;
const std::string kBase = "USD";
const Date kAsOf = parse_date("2026-06-15").value();

Date date(const char* s) { return parse_date(s).value(); }
Timestamp ts(const char* s) { return parse_timestamp(s).value(); }

// ---- the model ----------------------------------------------------------------------------------

struct Model {
  std::map<CustomerId, Customer> customers;  // aggregates left empty: computed on demand
  std::map<RelationshipId, Relationship> rels;
  std::map<TransactionId, Transaction> txns;  // base_amount always set
  std::uint64_t next_customer = 1, next_rel = 1, next_txn = 1;

  Aggregates aggregates(CustomerId id) const {
    Aggregates a;
    for (const auto& [tid, t] : txns) {
      if (t.customer_id != id) continue;
      ++a.txn_count;
      a.total_amount += *t.base_amount;
      if (!a.first_txn_at || t.ts < *a.first_txn_at) a.first_txn_at = t.ts;
      if (!a.last_txn_at || t.ts > *a.last_txn_at) a.last_txn_at = t.ts;
    }
    return a;
  }
  Customer full(CustomerId id) const {
    Customer c = customers.at(id);
    c.aggregates = aggregates(id);
    return c;
  }
  std::vector<Relationship> rels_of(CustomerId id) const {
    std::vector<Relationship> v;
    for (const auto& [rid, r] : rels)
      if (r.from == id || r.to == id) v.push_back(r);
    return v;
  }
  std::vector<Transaction> txns_of(CustomerId id, std::optional<Timestamp> from = {},
                                   std::optional<Timestamp> to = {}) const {
    std::vector<Transaction> v;
    for (const auto& [tid, t] : txns)
      if (t.customer_id == id && (!from || t.ts >= *from) && (!to || t.ts < *to)) v.push_back(t);
    std::stable_sort(v.begin(), v.end(), [](const Transaction& a, const Transaction& b) {
      return a.ts < b.ts;  // ties keep id order
    });
    return v;
  }
  bool external_ref_taken(const std::string& ref, CustomerId except) const {
    if (ref.empty()) return false;
    for (const auto& [id, c] : customers)
      if (id != except && c.external_ref == ref) return true;
    return false;
  }
};

// ---- printing, for failure messages -------------------------------------------------------------

std::string show(const std::optional<Timestamp>& t) { return t ? format_timestamp(*t) : "-"; }
std::string show(const std::optional<Date>& d) { return d ? format_date(*d) : "-"; }
std::string show(const std::optional<std::string>& s) { return s ? "'" + *s + "'" : "-"; }

std::string show(const Customer& c) {
  std::string s = "#" + std::to_string(c.id) + " name='" + c.name + "' ref='" + c.external_ref +
                  "' type=" + std::to_string(int(c.type)) + " email=" + show(c.email) +
                  " phone=" + show(c.phone) + " birth=" + show(c.birth_date) +
                  " gender=" + std::to_string(int(c.gender)) + " city='" + c.address.city +
                  "' region='" + c.address.region + "' country='" + c.address.country +
                  "' tier=" + std::to_string(int(c.tier)) + " stage=" + std::to_string(int(c.stage)) +
                  " income=" + (c.income_band ? std::to_string(int(*c.income_band)) : "-") +
                  " risk=" + std::to_string(int(c.risk));
  for (const Consent* k : {&c.consent_email, &c.consent_sms, &c.consent_phone})
    s += " consent=" + std::to_string(int(k->state)) + "/" + show(k->date);
  s += " tags=[";
  for (const auto& t : c.tags) s += t + ";";
  s += "] created=" + format_timestamp(c.created_at) + " updated=" + format_timestamp(c.updated_at) +
       " agg=" + std::to_string(c.aggregates.txn_count) + "/" +
       std::to_string(c.aggregates.total_amount) + "/" + show(c.aggregates.first_txn_at) + "/" +
       show(c.aggregates.last_txn_at);
  return s;
}

std::string show(const Transaction& t) {
  return "#" + std::to_string(t.id) + " customer=" + std::to_string(t.customer_id) +
         " ts=" + format_timestamp(t.ts) + " amount=" + std::to_string(t.amount) + " " +
         t.currency + " base=" + (t.base_amount ? std::to_string(*t.base_amount) : "-") +
         " kind=" + std::to_string(int(t.kind)) + " channel=" + std::to_string(int(t.channel)) +
         " product='" + t.product + "' description='" + t.description + "'";
}

std::string show(const Relationship& r) {
  return "#" + std::to_string(r.id) + " " + std::to_string(r.from) + "->" + std::to_string(r.to) +
         " type=" + std::to_string(int(r.type)) + " custom='" + r.custom_type +
         "' since=" + show(r.since);
}

using fuzz::tracing;

// An expectation of "fails, with whatever code": the API documents no code for the case.
constexpr auto kAnyError = static_cast<ErrorCode>(-1);

const char* show_code(std::optional<ErrorCode> c) {
  if (c == kAnyError) return "an error";
  return c ? std::string_view(to_string(*c)).data() : "success";
}

// ---- field values with known normal forms ----------------------------------------------------------

template <class T>
struct Choice {
  T raw;
  T norm;
  bool valid = true;
};

const Choice<std::string> kNames[] = {{"Ann", "Ann"},       {"  Bob  ", "Bob"},
                                      {"Zoë", "Zoë"},       {"", "", false},
                                      {"bad\x01", "", false}, {std::string(201, 'n'), "", false},
                                      {"\t \n", "", false}};
const Choice<std::string> kRefs[] = {{"", ""}, {"R1", "R1"}, {" R1 ", "R1"}, {"R2", "R2"},
                                     {"r1", "r1"}, {"x\x7f", "", false}};
const Choice<std::optional<std::string>> kEmails[] = {
    {std::nullopt, std::nullopt}, {"a@x.io", "a@x.io"}, {" A@X.IO ", "a@x.io"},
    {"b@y.org", "b@y.org"},       {"bad", {}, false},   {"", {}, false},
    {"a@b@c.de", {}, false}};
// E.164 through libphonenumber; the database has no phone region, so national forms are refused.
const Choice<std::optional<std::string>> kPhones[] = {{std::nullopt, std::nullopt},
                                                      {"+1 415 555 0100", "+14155550100"},
                                                      {"(+46) 70-123 45 67", "+46701234567"},
                                                      {"12", {}, false},
                                                      {"+1 555 0100", {}, false},  // local-only
                                                      {"070 123 4567", {}, false}};
const Choice<std::string> kCities[] = {{"", ""}, {"Lyon", "Lyon"}, {" Köln ", "Köln"},
                                       {"c\x7f", "", false}};
const Choice<std::string> kRegions[] = {{"", ""}, {"east", "east"}, {" West ", "West"},
                                        {std::string(201, 'r'), "", false}};
const Choice<std::string> kCountries[] = {{"", ""},           {"us", "US"},      {"DE", "DE"},
                                          {" fr ", "FR"},     {"USA", "", false}, {"1a", "", false},
                                          {"XX", "", false},  {"uk", "", false}};
const Choice<std::optional<std::uint8_t>> kIncome[] = {
    {std::nullopt, std::nullopt}, {1, 1}, {10, 10}, {0, {}, false}, {11, {}, false}};
const Choice<std::optional<Date>> kBirth[] = {{std::nullopt, std::nullopt},
                                              {date("1980-05-05"), date("1980-05-05")},
                                              {date("1800-01-01"), date("1800-01-01")},
                                              {date("2200-12-31"), {}, false},  // future
                                              {date("1964-02-29"), date("1964-02-29")},
                                              {Date{std::chrono::year{1799} / 12 / 31}, {}, false},
                                              {Date{std::chrono::year{2201} / 1 / 1}, {}, false}};
const Choice<Consent> kConsents[] = {
    {{}, {}},
    {{ConsentState::kGranted, date("2024-05-01")}, {ConsentState::kGranted, date("2024-05-01")}},
    {{ConsentState::kDenied, date("2024-06-01")}, {ConsentState::kDenied, date("2024-06-01")}},
    {{ConsentState::kGranted, std::nullopt}, {}, false},
    {{ConsentState::kUnknown, date("2024-05-01")}, {}, false},
    {{static_cast<ConsentState>(3), date("2024-05-01")}, {}, false}};
const Choice<std::string> kTags[] = {{"vip", "vip"}, {" VIP ", "vip"}, {"b", "b"},
                                     {"x|y", "", false}, {"", "", false},
                                     {"Newsletter", "newsletter"}};
// Timestamp{} (the epoch) on insert means "now": the model then adopts the engine's value.
const Choice<Timestamp> kCreated[] = {{ts("2024-01-01"), ts("2024-01-01")},
                                      {Timestamp{}, Timestamp{}},
                                      {ts("2200-12-31T23:59:59.999Z"), ts("2200-12-31T23:59:59.999Z")},
                                      {ts("1800-01-01"), ts("1800-01-01")},
                                      {ts("1800-01-01") - std::chrono::milliseconds(1), {}, false},
                                      {ts("2200-12-31") + std::chrono::days(1), {}, false}};

template <class T, std::size_t N>
const Choice<T>& choose(const Choice<T> (&table)[N], std::uint8_t v) {
  return table[v % N];
}

// An enum value from a byte: 0..last valid, last + 1 invalid.
template <class E>
void set_enum(E& raw, E& norm, bool& valid, std::uint8_t v, E last) {
  unsigned n = static_cast<unsigned>(last) + 2;
  raw = static_cast<E>(v % n);
  if (v % n == n - 1) valid = false;
  else norm = raw;
}

struct CustomerSpec {
  std::uint16_t mask = 0;
  std::uint8_t values[kFieldCount] = {};

  static CustomerSpec read(fuzz::Bytes& in) {
    CustomerSpec s;
    s.mask = in.u16();
    for (int f = 0; f < kFieldCount; ++f)
      if (s.mask & (1u << f)) s.values[f] = in.u8();
    return s;
  }
  // Sets the chosen fields: raw values in `raw`, their normal forms in `norm`.
  void apply(Customer& raw, Customer& norm, bool& valid) const {
    for (int f = 0; f < kFieldCount; ++f) {
      if (!(mask & (1u << f))) continue;
      const std::uint8_t v = values[f];
      auto set = [&](auto& r, auto& n, const auto& choice) {
        r = choice.raw;
        n = choice.norm;
        valid = valid && choice.valid;
      };
      switch (f) {
        case kFName: set(raw.name, norm.name, choose(kNames, v)); break;
        case kFRef: set(raw.external_ref, norm.external_ref, choose(kRefs, v)); break;
        case kFEmail: set(raw.email, norm.email, choose(kEmails, v)); break;
        case kFPhone: set(raw.phone, norm.phone, choose(kPhones, v)); break;
        case kFType: set_enum(raw.type, norm.type, valid, v, CustomerType::kProspect); break;
        case kFGender: set_enum(raw.gender, norm.gender, valid, v, Gender::kOther); break;
        case kFTier: set_enum(raw.tier, norm.tier, valid, v, Tier::kDiamond); break;
        case kFStage: set_enum(raw.stage, norm.stage, valid, v, Stage::kChurned); break;
        case kFRisk: set_enum(raw.risk, norm.risk, valid, v, Risk::kHigh); break;
        case kFPlace:
          set(raw.address.city, norm.address.city, choose(kCities, v & 15));
          set(raw.address.region, norm.address.region, choose(kRegions, v >> 4));
          break;
        case kFCountry: set(raw.address.country, norm.address.country, choose(kCountries, v)); break;
        case kFIncome: set(raw.income_band, norm.income_band, choose(kIncome, v)); break;
        case kFBirth: set(raw.birth_date, norm.birth_date, choose(kBirth, v)); break;
        case kFConsents:
          set(raw.consent_email, norm.consent_email, choose(kConsents, v % 6));
          set(raw.consent_sms, norm.consent_sms, choose(kConsents, (v / 6) % 6));
          set(raw.consent_phone, norm.consent_phone, choose(kConsents, (v / 36) % 6));
          break;
        case kFTags: {
          raw.tags.clear();
          std::set<std::string> n;
          for (std::size_t i = 0; i < std::size(kTags); ++i) {
            if (!(v & (1u << i))) continue;
            raw.tags.push_back(kTags[i].raw);
            n.insert(kTags[i].norm);
            valid = valid && kTags[i].valid;
          }
          norm.tags.assign(n.begin(), n.end());
          break;
        }
        case kFCreated: set(raw.created_at, norm.created_at, choose(kCreated, v)); break;
      }
    }
  }
};

// The customer an insert spec describes: defaults "Ann", created 2024-01-01, else the spec.
Customer base_customer() {
  Customer c;
  c.name = "Ann";
  c.created_at = ts("2024-01-01");
  return c;
}

// An insert's id: mostly "assign one".
CustomerId pick_customer_id(std::uint8_t v);
CustomerId pick_insert_id(std::uint8_t v) { return v % 16 < 8 ? 0 : pick_customer_id(v); }

CustomerId pick_customer_id(std::uint8_t v) {
  switch (v % 16) {
    case 0: return 0;
    case 13: return kMaxId;
    case 14: return kMaxId + 1;
    case 15: return 100;
    default: return 1 + (v % 16 - 1) % 8;  // 1..8
  }
}

const Choice<Timestamp> kTs[] = {{ts("2025-01-01T10:00:00Z"), ts("2025-01-01T10:00:00Z")},
                                 {ts("2025-03-01"), ts("2025-03-01")},
                                 {ts("2024-12-31T23:59:59.999Z"), ts("2024-12-31T23:59:59.999Z")},
                                 {ts("1800-01-01"), ts("1800-01-01")},
                                 {ts("2200-12-31T23:59:59.999Z"), ts("2200-12-31T23:59:59.999Z")},
                                 {ts("1800-01-01") - std::chrono::milliseconds(1), {}, false},
                                 {ts("2200-12-31") + std::chrono::days(1), {}, false}};
const Choice<std::int64_t> kAmounts[] = {{0, 0},       {150, 150},   {-99, -99},
                                         {250000, 250000}, {kMaxAmount, kMaxAmount},
                                         {-kMaxAmount, -kMaxAmount}, {kMaxAmount + 1, 0, false},
                                         {-kMaxAmount - 1, 0, false}};
const Choice<std::string> kCurrencies[] = {{"USD", "USD"}, {"usd", "USD"}, {"EUR", "EUR"},
                                           {"eur", "EUR"}, {"EU", "", false}, {"E1R", "", false},
                                           {"XYZ", "", false}, {"sek", "SEK"}};
const std::optional<std::int64_t> kBaseAmounts[] = {std::nullopt, 120, -5, kMaxAmount + 1};
const Choice<std::string> kProducts[] = {{"", ""}, {"chk", "chk"}, {" chk ", "chk"},
                                         {"p\x01", "", false}, {std::string(201, 'p'), "", false}};
const Choice<std::string> kDescriptions[] = {{"", ""}, {"note", "note"}, {" sp ", " sp "},
                                             {"d\x01", "", false},
                                             {std::string(1001, 'd'), "", false}};

struct TxnSpec {
  std::uint16_t mask = 0;
  std::uint8_t values[kTFieldCount] = {};

  static TxnSpec read(fuzz::Bytes& in) {
    TxnSpec s;
    s.mask = in.u16();
    for (int f = 0; f < kTFieldCount; ++f)
      if (s.mask & (1u << f)) s.values[f] = in.u8();
    return s;
  }
  // Raw values into `raw`; into `norm` the values as the engine will hold them before the
  // currency rule (currency upper-cased, product trimmed). `base_given` tells whether the spec
  // set base_amount.
  void apply(Transaction& raw, Transaction& norm, bool& valid) const {
    for (int f = 0; f < kTFieldCount; ++f) {
      if (!(mask & (1u << f))) continue;
      const std::uint8_t v = values[f];
      auto set = [&](auto& r, auto& n, const auto& choice) {
        r = choice.raw;
        n = choice.norm;
        valid = valid && choice.valid;
      };
      switch (f) {
        case kTCustomer: raw.customer_id = norm.customer_id = pick_customer_id(v); break;
        case kTTs: set(raw.ts, norm.ts, choose(kTs, v)); break;
        case kTAmount: set(raw.amount, norm.amount, choose(kAmounts, v)); break;
        case kTCurrency: set(raw.currency, norm.currency, choose(kCurrencies, v)); break;
        case kTBase: raw.base_amount = norm.base_amount = kBaseAmounts[v % std::size(kBaseAmounts)]; break;
        case kTKind: set_enum(raw.kind, norm.kind, valid, v, TransactionKind::kLoan); break;
        case kTChannel: set_enum(raw.channel, norm.channel, valid, v, Channel::kAtm); break;
        case kTProduct: set(raw.product, norm.product, choose(kProducts, v)); break;
        case kTDescription: set(raw.description, norm.description, choose(kDescriptions, v)); break;
      }
    }
  }
};

Transaction base_transaction() {
  Transaction t;
  t.customer_id = 1;
  t.ts = ts("2025-01-01T10:00:00Z");
  t.amount = 150;
  t.currency = "USD";
  return t;
}

// validate_transaction's base-currency rule, on a transaction whose other fields are valid.
bool settle_base_amount(Transaction& t) {
  if (t.currency == kBase) {
    if (t.base_amount && *t.base_amount != t.amount) return false;  // never silently replaced
    t.base_amount = t.amount;
    return true;
  }
  return t.base_amount && *t.base_amount <= kMaxAmount && *t.base_amount >= -kMaxAmount;
}

const char* kQueries[] = {
    "tier >= gold",
    "txn_count > 0",
    "total_amount >= 1.50",
    "tag = vip",
    "related(household)",
    "related(godparent, tier = gold)",
    "not region = east",
    "last_txn_at < 2025-02-01",
    "country = US or income_band between 2 and 10",
    "first_txn_at >= 2025-01-01T10:00:00Z and total_amount < 0",
    "age > 40",
    "created_at < 2024-06-01",
    "stage = new and risk <= medium",
    "consent_email = granted",
    "related(spouse, txn_count >= 2)",
    "city = 'köln' or region = west",
};

// ---- the run ----------------------------------------------------------------------------------

class Run {
 public:
  explicit Run(Database& db) : db_(db) {}

  // Thrown by expect() (and the commit and query checks) when the engine says the map is full
  // (kResourceExhausted, kSmallMap): the model cannot predict that, so op() checks what must
  // then hold instead (see map_full()).
  struct MapFull {};

  void op(fuzz::Bytes& in) {
    try {
      dispatch(in);
    } catch (const MapFull&) {
      map_full();
    }
  }

  // After kResourceExhausted: the transaction is poisoned (every later call and its commit
  // say kResourceExhausted), abort ends it, nothing of it is stored and every earlier commit
  // is intact; a one-shot write stored nothing.
  void map_full() {
    if (tracing()) std::fprintf(stderr, "  (map full: the transaction is dropped)\n");
    if (txn_) {
      auto again = txn_->get_customer(1);
      FUZZ_CHECK(!again && again.error().code() == ErrorCode::kResourceExhausted,
                 "a poisoned transaction answered a read with %s",
                 again ? "a value" : again.error().to_string().c_str());
      auto c = txn_->commit();
      FUZZ_CHECK(!c && c.error().code() == ErrorCode::kResourceExhausted,
                 "a poisoned transaction's commit returned %s", c ? "success" : c.error().to_string().c_str());
      txn_->abort();
      txn_.reset();
    }
    pending_ = committed_;
    verify_all("after a full map");
  }

  void dispatch(fuzz::Bytes& in) {
    const std::uint8_t code = in.u8() % kOpCount;
    if (tracing()) std::fprintf(stderr, "op %d%s\n", code, txn_ ? " (in a transaction)" : "");
    switch (code) {
      case kBegin: ensure_txn(); break;
      case kCommit:
        if (txn_) {
          commit_or_map_full("commit");
          txn_.reset();
          committed_ = pending_;
          verify_all("after commit");
        }
        break;
      case kAbort:
        if (txn_) {
          txn_->abort();
          txn_.reset();
          pending_ = committed_;
          verify_all("after abort");
        }
        break;
      case kInsert: {
        CustomerId id = pick_insert_id(in.u8());
        CustomerSpec spec = CustomerSpec::read(in);
        ensure_txn();
        insert(*txn_, pending_, id, spec, "insert_customer");
        break;
      }
      case kUpdate: {
        CustomerId id = pick_customer_id(in.u8());
        CustomerSpec spec = CustomerSpec::read(in);
        update(id, spec, in.u8());
        break;
      }
      case kDeleteRestrict: erase(pick_customer_id(in.u8()), DeleteMode::kRestrict); break;
      case kDeleteCascade: erase(pick_customer_id(in.u8()), DeleteMode::kCascade); break;
      case kAddRel: add_relationship(in); break;
      case kRemoveRel: remove_relationship(in.u8() % 10); break;
      case kAddTxn: {
        TransactionId id = pick_txn_id(in.u8());
        TxnSpec spec = TxnSpec::read(in);
        ensure_txn();
        add_transaction(*txn_, pending_, id, spec, "add_transaction");
        break;
      }
      case kAmendTxn: {
        TransactionId id = in.u8() % 10;
        amend(id, TxnSpec::read(in));
        break;
      }
      case kRemoveTxn: remove_transaction(in.u8() % 10); break;
      case kRead: {
        CustomerId id = pick_customer_id(in.u8());
        read(id, in.u8());
        break;
      }
      case kOneShotInsert: {
        CustomerId id = pick_insert_id(in.u8());
        CustomerSpec spec = CustomerSpec::read(in);
        if (!txn_) one_shot_insert(id, spec);
        break;
      }
      case kOneShotInsertMany: {
        std::vector<std::pair<CustomerId, CustomerSpec>> specs;
        for (int n = 1 + in.u8() % 3; n > 0; --n) {
          CustomerId id = pick_insert_id(in.u8());
          specs.emplace_back(id, CustomerSpec::read(in));
        }
        if (!txn_) one_shot_insert_many(specs);
        break;
      }
      case kOneShotAddTxn: {
        TransactionId id = pick_txn_id(in.u8());
        TxnSpec spec = TxnSpec::read(in);
        if (!txn_) one_shot_add_transaction(id, spec);
        break;
      }
      case kQuery: query(kQueries[in.u8() % std::size(kQueries)]); break;
    }
  }

  void finish() {
    if (txn_) {
      try {
        commit_or_map_full("final commit");
        txn_.reset();
        committed_ = pending_;
      } catch (const MapFull&) {
        map_full();
      }
    }
    verify_all("at the end");
    auto report = must(db_.check(), "check");
    if (!report.clean()) {
      for (const auto& p : report.problems)
        std::fprintf(stderr, "%s in %s: %s\n", to_string(p.kind).c_str(), p.where.c_str(),
                     p.what.c_str());
      FUZZ_CHECK(report.clean(), "check() found %zu problems", report.problems.size());
    }
  }

 private:
  // ---- helpers ----
  void ensure_txn() {
    if (txn_) return;
    txn_.emplace(must(db_.begin_write(), "begin_write"));
    stamped_.clear();
  }

  const Model& model() const { return txn_ ? pending_ : committed_; }

  static TransactionId pick_txn_id(std::uint8_t v) {
    switch (v % 16) {
      case 13: return kMaxId;
      case 14: return kMaxId + 1;
      case 15: return 1 + (v >> 4) % 8;  // explicit 1..8
      default: return 0;
    }
  }

  // The commit of txn_; MapFull when it ran out of map (the transaction then is gone).
  void commit_or_map_full(const char* what) {
    auto s = txn_->commit();
    if (!s && s.error().code() == ErrorCode::kResourceExhausted) {
      txn_.reset();
      throw MapFull{};
    }
    must(std::move(s), what);
  }

  template <class T>
  static void expect(const Result<T>& got, std::optional<ErrorCode> want, const char* what) {
    std::optional<ErrorCode> code;
    if (!got) code = got.error().code();
    if (code == ErrorCode::kResourceExhausted) throw MapFull{};
    if (tracing())
      std::fprintf(stderr, "  %s -> %s (model: %s)\n", what,
                   got ? "ok" : got.error().to_string().c_str(), show_code(want));
    if (want == kAnyError && code) return;
    FUZZ_CHECK(code == want, "%s: engine %s (%s), model %s", what, show_code(code),
               got ? "ok" : got.error().to_string().c_str(), show_code(want));
  }

  // The customer as the engine has it, compared with the model (or its absence).
  void verify_customer(const ReadView& v, const Model& m, CustomerId id, const char* when) {
    auto got = must(v.get_customer(id), "get_customer");
    auto it = m.customers.find(id);
    if (it == m.customers.end()) {
      FUZZ_CHECK(!got, "%s: customer %llu exists in the engine, not in the model: %s", when,
                 (unsigned long long)id, show(*got).c_str());
      return;
    }
    FUZZ_CHECK(got.has_value(), "%s: customer %llu is missing", when, (unsigned long long)id);
    Customer want = m.full(id);
    FUZZ_CHECK(*got == want, "%s: customer %llu differs\n engine %s\n model  %s", when,
               (unsigned long long)id, show(*got).c_str(), show(want).c_str());
  }

  void verify_counts(const ReadView& v, const Model& m, const char* when) {
    auto c = must(v.counts(), "counts");
    FUZZ_CHECK(c.customers == m.customers.size() && c.relationships == m.rels.size() &&
                   c.transactions == m.txns.size(),
               "%s: counts %llu/%llu/%llu, model %zu/%zu/%zu", when,
               (unsigned long long)c.customers, (unsigned long long)c.relationships,
               (unsigned long long)c.transactions, m.customers.size(), m.rels.size(),
               m.txns.size());
  }

  void verify_links(const ReadView& v, const Model& m, CustomerId id, const char* when) {
    auto rels = must(v.relationships_of(id), "relationships_of");
    FUZZ_CHECK(rels == m.rels_of(id), "%s: relationships_of(%llu): engine %zu, model %zu", when,
               (unsigned long long)id, rels.size(), m.rels_of(id).size());
    auto txns = must(v.transactions_of(id), "transactions_of");
    auto want = m.txns_of(id);
    if (txns != want) {
      for (const auto& t : txns) std::fprintf(stderr, "engine %s\n", show(t).c_str());
      for (const auto& t : want) std::fprintf(stderr, "model  %s\n", show(t).c_str());
      FUZZ_CHECK(txns == want, "%s: transactions_of(%llu) differ", when, (unsigned long long)id);
    }
  }

  // What a write call touched, checked inside its transaction.
  void verify_touched(std::initializer_list<CustomerId> ids, const char* when) {
    const ReadView& v = *txn_;
    verify_counts(v, pending_, when);
    for (CustomerId id : ids) {
      if (id == 0 || id > kMaxId) continue;
      verify_customer(v, pending_, id, when);
      verify_links(v, pending_, id, when);
    }
  }

  void verify_view(const ReadView& v, const Model& m, const char* when) {
    verify_counts(v, m, when);
    std::set<std::string> emails, refs;
    for (const auto& [id, c] : m.customers) {
      verify_customer(v, m, id, when);
      verify_links(v, m, id, when);
      if (c.email) emails.insert(*c.email);
      if (!c.external_ref.empty()) refs.insert(c.external_ref);
    }
    for (CustomerId id : {CustomerId{1}, CustomerId{8}, CustomerId{100}, kMaxId})
      verify_customer(v, m, id, when);
    for (const auto& [id, r] : m.rels) {
      auto got = must(v.get_relationship(id), "get_relationship");
      FUZZ_CHECK(got && *got == r, "%s: relationship %llu differs: %s vs %s", when,
                 (unsigned long long)id, got ? show(*got).c_str() : "-", show(r).c_str());
    }
    for (const auto& [id, t] : m.txns) {
      auto got = must(v.get_transaction(id), "get_transaction");
      FUZZ_CHECK(got && *got == t, "%s: transaction %llu differs:\n engine %s\n model  %s", when,
                 (unsigned long long)id, got ? show(*got).c_str() : "-", show(t).c_str());
    }
    for (const auto& e : emails) {
      auto got = must(v.find_by_email(e), "find_by_email");
      std::vector<CustomerId> ids, want;
      for (const auto& c : got) ids.push_back(c.id);
      for (const auto& [id, c] : m.customers)
        if (c.email == e) want.push_back(id);
      FUZZ_CHECK(ids == want, "%s: find_by_email(%s): %zu customers, model %zu", when, e.c_str(),
                 ids.size(), want.size());
    }
    for (const auto& r : refs) {
      auto got = must(v.find_by_external_ref(r), "find_by_external_ref");
      FUZZ_CHECK(got && got->external_ref == r, "%s: find_by_external_ref(%s)", when, r.c_str());
    }
  }

  void verify_all(const char* when) {
    if (txn_) {
      verify_view(*txn_, pending_, when);
    } else {
      auto r = must(db_.begin_read(), "begin_read");
      verify_view(r, committed_, when);
    }
  }

  // After a successful insert or update the model adopts the engine's stamps.
  void adopt_stamps(const ReadView& v, Model& m, CustomerId id, bool adopt_created) {
    auto got = must(v.get_customer(id), "get_customer");
    FUZZ_CHECK(got.has_value(), "customer %llu vanished", (unsigned long long)id);
    Customer& c = m.customers.at(id);
    if (adopt_created) c.created_at = got->created_at;
    c.updated_at = got->updated_at;
    if (txn_) stamped_[id] = stamped_[id] || adopt_created;
  }

  // ---- customers ----
  // Predicts insert_customer on model `m`; applies it to `m` on success.
  std::optional<ErrorCode> predict_insert(Model& m, CustomerId& id, const CustomerSpec& spec,
                                          Customer& raw, Customer& norm) {
    raw = base_customer();
    norm = base_customer();
    bool valid = true;
    spec.apply(raw, norm, valid);
    raw.id = id;
    if (!valid || id > kMaxId) return ErrorCode::kInvalidArgument;
    if (id == 0) id = m.next_customer;
    if (id > kMaxId) return kAnyError;  // ids are 1..2^63-1 (types.h): none left to assign
    if (m.customers.count(id) || m.external_ref_taken(norm.external_ref, 0))
      return ErrorCode::kAlreadyExists;
    norm.id = id;
    norm.aggregates = {};
    m.customers[id] = norm;
    m.next_customer = std::max(m.next_customer, id + 1);
    return std::nullopt;
  }

  void insert(WriteTxn& txn, Model& m, CustomerId id, const CustomerSpec& spec, const char* what) {
    Customer raw, norm;
    CustomerId want_id = id;
    auto want = predict_insert(m, want_id, spec, raw, norm);
    auto got = txn.insert_customer(raw);
    if (got) FUZZ_CHECK(*got <= kMaxId, "%s assigned id %llu, above 2^63 - 1", what,
                        (unsigned long long)*got);
    expect(got, want, what);
    if (!got) return;
    FUZZ_CHECK(*got == want_id, "%s: id %llu, model %llu", what, (unsigned long long)*got,
               (unsigned long long)want_id);
    adopt_stamps(txn, m, *got, norm.created_at == Timestamp{});
    verify_touched({*got}, what);
  }

  void one_shot_insert(CustomerId id, const CustomerSpec& spec) {
    Customer raw, norm;
    CustomerId want_id = id;
    Model m = committed_;
    auto want = predict_insert(m, want_id, spec, raw, norm);
    auto got = db_.insert_customer(raw);
    if (got) FUZZ_CHECK(*got <= kMaxId, "Database::insert_customer assigned id %llu, above 2^63 - 1",
                        (unsigned long long)*got);
    expect(got, want, "Database::insert_customer");
    if (!got) return;
    FUZZ_CHECK(*got == want_id, "Database::insert_customer: id %llu, model %llu",
               (unsigned long long)*got, (unsigned long long)want_id);
    auto r = must(db_.begin_read(), "begin_read");
    adopt_stamps(r, m, *got, norm.created_at == Timestamp{});
    committed_ = pending_ = m;
    verify_customer(r, committed_, *got, "Database::insert_customer");
  }

  void one_shot_insert_many(const std::vector<std::pair<CustomerId, CustomerSpec>>& specs) {
    Model m = committed_;
    std::vector<Customer> raws;
    std::vector<CustomerId> want_ids;
    std::vector<bool> adopt;
    std::optional<ErrorCode> want;
    for (const auto& [id, spec] : specs) {
      Customer raw, norm;
      CustomerId want_id = id;
      auto e = predict_insert(m, want_id, spec, raw, norm);
      raws.push_back(raw);
      if (e && !want) want = e;
      want_ids.push_back(want_id);
      adopt.push_back(norm.created_at == Timestamp{});
    }
    auto got = db_.insert_customers(raws);
    expect(got, want, "Database::insert_customers");
    if (!got) {
      verify_all("after a failed insert_customers");
      return;
    }
    FUZZ_CHECK(*got == want_ids, "Database::insert_customers: ids differ");
    auto r = must(db_.begin_read(), "begin_read");
    for (std::size_t i = 0; i < want_ids.size(); ++i) adopt_stamps(r, m, want_ids[i], adopt[i]);
    committed_ = pending_ = m;
    for (CustomerId id : want_ids) verify_customer(r, committed_, id, "Database::insert_customers");
  }

  void update(CustomerId id, const CustomerSpec& spec, std::uint8_t extra) {
    ensure_txn();
    Model& m = pending_;
    std::optional<ErrorCode> want;
    bool exists = m.customers.count(id) > 0;
    Customer norm;
    if (exists) {
      norm = m.customers.at(id);
      Customer scratch = norm;
      bool valid = true;
      spec.apply(scratch, norm, valid);
      // A change to the engine's fields (id, aggregates) is refused, as is created_at back at
      // the epoch.
      if (extra & 3) valid = false;
      if (norm.created_at == Timestamp{}) valid = false;
      if (!valid) want = ErrorCode::kInvalidArgument;
      else if (norm.external_ref != m.customers.at(id).external_ref &&
               m.external_ref_taken(norm.external_ref, id))
        want = ErrorCode::kAlreadyExists;
    }
    // The mutation may also try to change what it cannot: the id and the aggregates (refused).
    auto got = txn_->update_customer(id, [spec, extra](Customer& c) {
      Customer ignored = c;
      bool v = true;
      spec.apply(c, ignored, v);
      if (extra & 1) c.id = 999;
      if (extra & 2) c.aggregates.txn_count = 77, c.aggregates.total_amount = -5;
    });
    expect(got, want, "update_customer");
    if (!got) return;
    FUZZ_CHECK(*got == exists, "update_customer(%llu) returned %d", (unsigned long long)id, *got);
    if (exists) {
      norm.id = id;
      m.customers[id] = norm;
      adopt_stamps(*txn_, m, id, false);
    }
    verify_touched({id}, "update_customer");
  }

  void erase(CustomerId id, DeleteMode mode) {
    ensure_txn();
    Model& m = pending_;
    std::optional<ErrorCode> want;
    bool exists = m.customers.count(id) > 0;
    if (exists && mode == DeleteMode::kRestrict && (!m.rels_of(id).empty() || !m.txns_of(id).empty()))
      want = ErrorCode::kFailedPrecondition;
    std::vector<CustomerId> others;
    for (const auto& r : m.rels_of(id)) others.push_back(r.from == id ? r.to : r.from);
    auto got = txn_->delete_customer(id, mode);
    expect(got, want, "delete_customer");
    if (!got) return;
    FUZZ_CHECK(*got == exists, "delete_customer(%llu) returned %d", (unsigned long long)id, *got);
    if (exists) {
      m.customers.erase(id);
      std::erase_if(m.rels, [&](const auto& e) { return e.second.from == id || e.second.to == id; });
      std::erase_if(m.txns, [&](const auto& e) { return e.second.customer_id == id; });
    }
    verify_touched({id}, "delete_customer");
    for (CustomerId o : others) verify_touched({o}, "delete_customer (other end)");
  }

  // ---- relationships ----
  void add_relationship(fuzz::Bytes& in) {
    Relationship r;
    r.from = pick_customer_id(in.u8());
    r.to = pick_customer_id(in.u8());
    const std::uint8_t t = in.u8(), name = in.u8(), since = in.u8();
    bool valid = r.from != 0 && r.to != 0 && r.from != r.to;
    std::string norm_custom;
    static const Choice<std::string> kCustom[] = {
        {"godparent", "godparent"}, {" GodParent ", "godparent"}, {"spouse", "", false},
        {"custom", "", false},      {"", "", false},              {"a|b", "", false}};
    switch (t % 12) {
      case 9: {
        const auto& c = choose(kCustom, name);
        r.type = RelationType::kCustom;
        r.custom_type = c.raw;
        norm_custom = c.norm;
        valid = valid && c.valid;
        break;
      }
      case 10:  // a built-in type with a custom name
        r.type = RelationType::kSpouse;
        r.custom_type = "godparent";
        valid = false;
        break;
      case 11:
        r.type = static_cast<RelationType>(42);
        valid = false;
        break;
      default: r.type = static_cast<RelationType>(t % 12);
    }
    if (since % 3 == 1) r.since = date("2020-01-01");
    if (since % 3 == 2) r.since = Date{std::chrono::year{1799} / 12 / 31}, valid = false;

    ensure_txn();
    Model& m = pending_;
    std::optional<ErrorCode> want;
    Relationship norm = r;
    norm.custom_type = norm_custom;
    norm = canonical(std::move(norm));  // an inverse name is stored flipped (custdb/types.h)
    if (!valid) {
      want = ErrorCode::kInvalidArgument;
    } else if (!m.customers.count(r.from) || !m.customers.count(r.to)) {
      want = ErrorCode::kFailedPrecondition;
    } else {
      for (const auto& [id, e] : m.rels) {
        if (e.type != norm.type || e.custom_type != norm.custom_type) continue;
        bool same = e.from == norm.from && e.to == norm.to;
        bool mirror = is_symmetric(norm.type) && e.from == norm.to && e.to == norm.from;
        if (same || mirror) want = ErrorCode::kAlreadyExists;
      }
    }
    auto got = txn_->add_relationship(r);
    expect(got, want, "add_relationship");
    if (!got) return;
    FUZZ_CHECK(*got == m.next_rel, "add_relationship: id %llu, model %llu",
               (unsigned long long)*got, (unsigned long long)m.next_rel);
    norm.id = *got;
    m.rels[norm.id] = norm;
    m.next_rel = norm.id + 1;
    verify_touched({r.from, r.to}, "add_relationship");
  }

  void remove_relationship(RelationshipId id) {
    ensure_txn();
    Model& m = pending_;
    auto it = m.rels.find(id);
    const bool exists = it != m.rels.end();
    CustomerId a = exists ? it->second.from : 0, b = exists ? it->second.to : 0;
    auto got = txn_->remove_relationship(id);
    expect(got, std::nullopt, "remove_relationship");
    FUZZ_CHECK(*got == exists, "remove_relationship(%llu) returned %d", (unsigned long long)id, *got);
    if (exists) m.rels.erase(id);
    verify_touched({a, b}, "remove_relationship");
  }

  // ---- transactions ----
  std::optional<ErrorCode> predict_add_txn(const Model& m, TransactionId& id, const TxnSpec& spec,
                                           Transaction& raw, Transaction& norm) {
    raw = base_transaction();
    norm = base_transaction();
    bool valid = true;
    spec.apply(raw, norm, valid);
    raw.id = id;
    valid = valid && norm.customer_id != 0 && settle_base_amount(norm);
    if (!valid || id > kMaxId) return ErrorCode::kInvalidArgument;
    if (!m.customers.count(norm.customer_id)) return ErrorCode::kFailedPrecondition;
    if (id == 0) id = m.next_txn;
    if (id > kMaxId) return kAnyError;  // ids are 1..2^63-1 (types.h): none left to assign
    if (m.txns.count(id)) return ErrorCode::kAlreadyExists;
    std::int64_t total;
    if (__builtin_add_overflow(m.aggregates(norm.customer_id).total_amount, *norm.base_amount, &total))
      return ErrorCode::kInvalidArgument;
    norm.id = id;
    return std::nullopt;
  }

  void add_transaction(WriteTxn& txn, Model& m, TransactionId id, const TxnSpec& spec,
                       const char* what) {
    Transaction raw, norm;
    TransactionId want_id = id;
    auto want = predict_add_txn(m, want_id, spec, raw, norm);
    auto got = txn.add_transaction(raw);
    if (got) FUZZ_CHECK(*got <= kMaxId, "%s assigned id %llu, above 2^63 - 1", what,
                        (unsigned long long)*got);
    expect(got, want, what);
    if (!got) return;
    FUZZ_CHECK(*got == want_id, "%s: id %llu, model %llu", what, (unsigned long long)*got,
               (unsigned long long)want_id);
    m.txns[want_id] = norm;
    m.next_txn = std::max(m.next_txn, want_id + 1);
    verify_touched({norm.customer_id}, what);
  }

  void one_shot_add_transaction(TransactionId id, const TxnSpec& spec) {
    Transaction raw, norm;
    TransactionId want_id = id;
    auto want = predict_add_txn(committed_, want_id, spec, raw, norm);
    auto got = db_.add_transaction(raw);
    if (got) FUZZ_CHECK(*got <= kMaxId, "Database::add_transaction assigned id %llu, above 2^63 - 1",
                        (unsigned long long)*got);
    expect(got, want, "Database::add_transaction");
    if (!got) return;
    FUZZ_CHECK(*got == want_id, "Database::add_transaction: id %llu, model %llu",
               (unsigned long long)*got, (unsigned long long)want_id);
    committed_.txns[want_id] = norm;
    committed_.next_txn = std::max(committed_.next_txn, want_id + 1);
    pending_ = committed_;
    auto r = must(db_.begin_read(), "begin_read");
    verify_customer(r, committed_, norm.customer_id, "Database::add_transaction");
    verify_links(r, committed_, norm.customer_id, "Database::add_transaction");
  }

  void amend(TransactionId id, const TxnSpec& spec) {
    ensure_txn();
    Model& m = pending_;
    auto it = m.txns.find(id);
    const bool exists = it != m.txns.end();
    std::optional<ErrorCode> want;
    Transaction norm;
    CustomerId old_customer = 0;
    if (exists) {
      const Transaction old = it->second;
      old_customer = old.customer_id;
      norm = old;
      Transaction scratch = old;
      bool valid = true;
      spec.apply(scratch, norm, valid);
      // amend_transaction: in the base currency a base_amount the mutation left as it was
      // follows the amount; in another currency it is taken as left (norm.currency is already
      // upper-cased when valid).
      if (valid && norm.currency == kBase && norm.base_amount == old.base_amount)
        norm.base_amount.reset();
      valid = valid && norm.customer_id != 0 && settle_base_amount(norm);
      if (!valid) {
        want = ErrorCode::kInvalidArgument;
      } else if (!m.customers.count(norm.customer_id)) {
        want = ErrorCode::kFailedPrecondition;
      } else {
        Model after = m;
        after.txns[id] = norm;
        std::int64_t total = 0;
        for (const auto& [tid, t] : after.txns)
          if (t.customer_id == norm.customer_id &&
              __builtin_add_overflow(total, *t.base_amount, &total))
            want = ErrorCode::kInvalidArgument;
      }
    }
    auto got = txn_->amend_transaction(id, [spec](Transaction& t) {
      Transaction ignored = t;
      bool v = true;
      spec.apply(t, ignored, v);
    });
    expect(got, want, "amend_transaction");
    if (!got) return;
    FUZZ_CHECK(*got == exists, "amend_transaction(%llu) returned %d", (unsigned long long)id, *got);
    if (exists) {
      norm.id = id;
      m.txns[id] = norm;
    }
    verify_touched({old_customer, norm.customer_id}, "amend_transaction");
  }

  void remove_transaction(TransactionId id) {
    ensure_txn();
    Model& m = pending_;
    auto it = m.txns.find(id);
    const bool exists = it != m.txns.end();
    CustomerId c = exists ? it->second.customer_id : 0;
    auto got = txn_->remove_transaction(id);
    expect(got, std::nullopt, "remove_transaction");
    FUZZ_CHECK(*got == exists, "remove_transaction(%llu) returned %d", (unsigned long long)id, *got);
    if (exists) m.txns.erase(id);
    verify_touched({c}, "remove_transaction");
  }

  // ---- reads ----
  void read(CustomerId id, std::uint8_t range) {
    static const std::optional<Timestamp> kBounds[] = {
        std::nullopt, ts("2025-01-01T10:00:00Z"), ts("2025-03-01"), ts("1800-01-01"),
        ts("2200-12-31T23:59:59.999Z")};
    auto from = kBounds[range % 5], to = kBounds[(range / 5) % 5];
    auto check = [&](const ReadView& v, const Model& m) {
      auto got = v.transactions_of(id, from, to);
      auto txns = must(std::move(got), "transactions_of");
      FUZZ_CHECK(txns == m.txns_of(id, from, to), "transactions_of(%llu, %s, %s) differs",
                 (unsigned long long)id, show(from).c_str(), show(to).c_str());
      verify_customer(v, m, id, "read");
    };
    if (txn_) {
      check(*txn_, pending_);
    } else {
      auto r = must(db_.begin_read(), "begin_read");
      check(r, committed_);
    }
  }

  void query(const char* text) {
    auto q = must(query::parse(text), "parse");
    const Model& m = model();
    query::EvalContext ctx;
    ctx.as_of = kAsOf;
    ctx.related = [&](CustomerId id) {
      std::vector<std::pair<Relationship, Customer>> out;
      for (const auto& r : m.rels_of(id)) out.emplace_back(r, m.full(r.from == id ? r.to : r.from));
      return out;
    };
    std::vector<CustomerId> want;
    for (const auto& [id, c] : m.customers)
      if (query::matches(q, m.full(id), ctx)) want.push_back(id);
    SegmentOptions o;
    o.as_of = kAsOf;
    auto run = [&](const ReadView& v) {
      auto got = v.ids(q, o);  // in a write transaction: flushes its postings first
      if (!got && got.error().code() == ErrorCode::kResourceExhausted) throw MapFull{};
      auto ids = must(std::move(got), "ids");
      FUZZ_CHECK(ids == want, "segment '%s': engine %zu ids, model %zu", text, ids.size(),
                 want.size());
    };
    if (txn_) {
      run(*txn_);
    } else {
      auto r = must(db_.begin_read(), "begin_read");
      run(r);
    }
  }

  Database& db_;
  std::optional<WriteTxn> txn_;
  Model committed_, pending_;
  std::map<CustomerId, bool> stamped_;  // stamped in this transaction: id -> created_at too
};

struct State {
  fuzz::ScratchDir dir{"api"};
  std::shared_ptr<const KeyMaterial> key;
  State() {
    std::vector<std::uint8_t> raw(32, 3);
    key = must(KeyMaterial::from_raw_key(raw), "key");
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  State& s = state();
  fuzz::Bytes in(data, size);
  const std::uint8_t setup = in.u8();
  Options o;
  o.sync = SyncMode::kNone;
  // A map so small that longer inputs fill it: kResourceExhausted, checked by Run::map_full().
  if (setup & kSmallMap) o.max_map_size = std::size_t{128} << 10;
  if (setup & kEncrypted) o.key = s.key;
  fuzz::remove_database_files(s.dir.path());
  {
    Database db = must(Database::open(s.dir.path(), o), "open");
    Run run(db);
    for (std::size_t n = 0; n < kMaxOps && !in.empty(); ++n) run.op(in);
    run.finish();
  }
  return 0;
}
