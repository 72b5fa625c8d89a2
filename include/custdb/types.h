// custdb/types.h — the records custdb stores, as plain structs.
//
// These are values: copy them, keep them, change them. FlatBuffers never appears in the public
// API; the engine encodes and decodes at its boundary (src/codec). Absence is std::optional.
//
// Every enum below reaches disk (inside records and in index keys).
// On-disk format: never renumber an enumerator, never reuse a retired number; add at the end.
#pragma once

#include "custdb/attributes.h"
#include "custdb/export.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace custdb {

// ---- time -----------------------------------------------------------------------------------

// A calendar date (days since 1970-01-01, proleptic Gregorian). Birth dates, since-dates,
// consent dates.
using Date = std::chrono::sys_days;
// An instant in UTC with millisecond precision. Transaction times, created/updated times.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// "YYYY-MM-DD" -> Date. Rejects impossible dates (2026-02-30) and years outside 1800..2200.
CUSTDB_EXPORT std::optional<Date> parse_date(std::string_view text);
// "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|±HH:MM]" or with a space instead of 'T'.
// A bare date means midnight UTC; no zone means UTC. Digits past the millisecond are cut.
// Leap second: seconds "60" are accepted only when the instant, after the offset is applied,
// is in the minute 23:59 UTC of the last day of a month (leap seconds are inserted there:
// "2016-12-31T23:59:60.100Z", "2017-01-01T00:59:60+01:00"); it is read as 23:59:59.999 UTC,
// the minute's last representable millisecond, so it sorts after every 23:59:59.xxx and
// before the next minute (its fraction is dropped). ":60" at any other minute is nullopt.
CUSTDB_EXPORT std::optional<Timestamp> parse_timestamp(std::string_view text);
CUSTDB_EXPORT std::string format_date(Date d);
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds omitted when zero).
CUSTDB_EXPORT std::string format_timestamp(Timestamp t);

// ---- identifiers ----------------------------------------------------------------------------

// Ids are 1 .. 2^63-1.
using CustomerId = std::uint64_t;      // 0 means "assign one" on insert; never stored
using TransactionId = std::uint64_t;   // 0 means "assign one" on insert; never stored
using RelationshipId = std::uint64_t;  // always assigned by the engine
using HoldingId = std::uint64_t;       // 0 means "assign one" on insert; never stored

// ---- enumerations (on-disk format: never renumber) ---------------------------------------------

enum class CustomerType : std::uint8_t { kIndividual = 0, kCorporate = 1, kProspect = 2 };
enum class Gender : std::uint8_t { kUnknown = 0, kFemale = 1, kMale = 2, kOther = 3 };
enum class Tier : std::uint8_t { kBronze = 0, kSilver = 1, kGold = 2, kPlatinum = 3, kDiamond = 4 };
enum class Stage : std::uint8_t {
  kProspect = 0, kNew = 1, kActive = 2, kLoyal = 3, kAtRisk = 4, kChurned = 5
};
enum class Risk : std::uint8_t { kLow = 0, kMedium = 1, kHigh = 2 };
// kUnknown: never asked. A consent is either granted or denied once asked.
enum class ConsentState : std::uint8_t { kUnknown = 0, kGranted = 1, kDenied = 2 };
// Relation types. The numbers are stored in the file: new ones are added at the end, none is
// ever renumbered. A directed link `T from->to` reads "from is the T of to": `employer 1->2` is
// "customer 1 employs customer 2". Each directed built-in type has a named inverse that reads the
// same link from the other end (`employee 2->1` is that link again):
//   parent / child, employer / employee, referrer / referred, guarantor / guaranteed,
//   beneficiary / benefactor (`beneficiary 1->2`: 1 is a beneficiary of 2, who is its benefactor).
// The first of each pair is the canonical one: the engine stores every directed link once, in
// its canonical direction (add_relationship flips `employee 2->1` into `employer 1->2`), so the
// inverse names are accepted on input and never stored. household and spouse are symmetric.
enum class RelationType : std::uint8_t {
  kHousehold = 0, kSpouse = 1, kParent = 2, kChild = 3, kEmployer = 4, kEmployee = 5,
  kReferrer = 6, kGuarantor = 7, kBeneficiary = 8,
  // Format 3: the inverse names of referrer, guarantor and beneficiary (input only).
  kGuaranteed = 9, kReferred = 10, kBenefactor = 11,
  kCustom = 255,  // named by Relationship::custom_type
  // The format-2 name of kReferrer; "referral" is still read as "referrer" on input.
  kReferral = kReferrer,
};
enum class TransactionKind : std::uint8_t {
  kDeposit = 0, kWithdrawal = 1, kPurchase = 2, kPayment = 3, kTransfer = 4, kInvestment = 5,
  kLoan = 6
};
enum class Channel : std::uint8_t { kBranch = 0, kMobile = 1, kWeb = 2, kPhone = 3, kAtm = 4 };
// Format 6: what a holding (an account or contract a customer holds) is. Names: "deposit",
// "savings", "term_deposit", "fund" ("wealth" is read as fund on input), "insurance",
// "credit_card", "personal_loan", "mortgage"; any other word names a custom type (kCustom,
// Holding::custom_type), as for relationships.
enum class ProductType : std::uint8_t {
  kDeposit = 0, kSavings = 1, kTermDeposit = 2, kFund = 3, kInsurance = 4, kCreditCard = 5,
  kPersonalLoan = 6, kMortgage = 7,
  kCustom = 255,
};
// Format 6: "active", "dormant", "closed". A closed holding is no longer held: it counts in no
// aggregate but HoldingAggregates::first_product_on and holdings, and holds() never matches it.
enum class HoldingStatus : std::uint8_t { kActive = 0, kDormant = 1, kClosed = 2 };
// Which side of the balance sheet a product type's balances count on (not stored).
//   kAsset:     deposit, savings, term_deposit, fund, insurance -> HoldingAggregates::aum
//   kLiability: credit_card, personal_loan, mortgage            -> HoldingAggregates::liabilities
//   kOther:     custom types (counted in products and types_held only)
enum class ProductClass : std::uint8_t { kAsset, kLiability, kOther };
CUSTDB_EXPORT ProductClass class_of(ProductType t);

// Names are the lowercase identifiers used by the CLI, import files and the query language
// ("at_risk", "platinum", "atm"). from_string is case-insensitive.
CUSTDB_EXPORT std::string_view to_string(CustomerType v);
CUSTDB_EXPORT std::string_view to_string(Gender v);
CUSTDB_EXPORT std::string_view to_string(Tier v);
CUSTDB_EXPORT std::string_view to_string(Stage v);
CUSTDB_EXPORT std::string_view to_string(Risk v);
CUSTDB_EXPORT std::string_view to_string(ConsentState v);
CUSTDB_EXPORT std::string_view to_string(RelationType v);
CUSTDB_EXPORT std::string_view to_string(TransactionKind v);
CUSTDB_EXPORT std::string_view to_string(Channel v);
CUSTDB_EXPORT std::string_view to_string(ProductType v);    // kCustom: "custom"
CUSTDB_EXPORT std::string_view to_string(HoldingStatus v);
template <class E> CUSTDB_EXPORT std::optional<E> from_string(std::string_view name);
// ProductType: also "wealth" (read as kFund).
template <> CUSTDB_EXPORT std::optional<ProductType> from_string<ProductType>(std::string_view name);

// Symmetric relations (household, spouse) mean the same read from either end, so a link and
// its mirror are one relationship: adding B→A when A→B exists is a duplicate.
CUSTDB_EXPORT bool is_symmetric(RelationType t);
// The type that reads a link from its other end: kEmployer <-> kEmployee, kParent <-> kChild,
// kReferrer <-> kReferred, kGuarantor <-> kGuaranteed, kBeneficiary <-> kBenefactor. A symmetric
// type, kCustom and an unnamed number are their own inverse.
CUSTDB_EXPORT RelationType inverse_of(RelationType t);
// Whether relationships of type t are stored as typed: the symmetric types, kCustom, and the
// first of each directed pair (parent, employer, referrer, guarantor, beneficiary).
CUSTDB_EXPORT bool is_canonical(RelationType t);

// ---- records --------------------------------------------------------------------------------

struct Consent {
  ConsentState state = ConsentState::kUnknown;
  std::optional<Date> date;  // when it was granted or denied; required unless kUnknown
  // Where it was given or refused ("web form", "branch 17", "import"): printable text, at
  // most 100 bytes; may be empty. Not personal data.
  std::string source;

  friend bool operator==(const Consent&, const Consent&) = default;
};

struct Address {
  std::string city;
  std::string region;
  // ISO 3166-1 alpha-2 as listed by Debian's iso-codes (generated at build time), stored upper
  // case ("de" -> "DE"); empty when unknown. "GB", not "UK"; "EU", "XK", "XX", "ZZ" and
  // withdrawn codes ("YU") are refused.
  std::string country;

  friend bool operator==(const Address&, const Address&) = default;
};

// Kept by the engine, exact, in the same write transaction as each transaction insert,
// amendment or removal. Read-only to applications: update_customer refuses a change to them
// (kInvalidArgument "aggregates: ..."); insert_customer refuses non-zero ones.
struct Aggregates {
  std::uint64_t txn_count = 0;
  std::int64_t total_amount = 0;  // minor units of the database's base currency
  std::optional<Timestamp> first_txn_at;
  std::optional<Timestamp> last_txn_at;

  friend bool operator==(const Aggregates&, const Aggregates&) = default;
};

// Format 6: what a customer holds, kept by the engine, exact, in the same write transaction as
// every holding insert, update, removal, statement balance and transaction posting (a
// transaction with Holding::holding_id). Read-only to applications like Aggregates
// (update_customer refuses a change: kInvalidArgument "holdings: ..."; insert_customer refuses
// non-default ones). Customers of older files read as all zero / empty until they hold one.
// Amounts in minor units of the database's base currency (the holdings' base_balance).
struct HoldingAggregates {
  // Assets under management: the sum of base_balance over the customer's holdings whose
  // product type is an asset (class_of) and whose status is not closed.
  std::int64_t aum = 0;
  // The sum of base_balance over liability holdings (credit_card, personal_loan, mortgage)
  // not closed: what the customer owes (a positive balance is owed).
  std::int64_t liabilities = 0;
  // The number of holdings whose status is kActive (custom types included).
  std::uint32_t products = 0;
  // Every holding of the customer, closed ones included (kMaxHoldingsPerCustomer).
  std::uint32_t holdings = 0;
  // The product type names of the holdings not closed ("fund", "mortgage", custom names as
  // stored), sorted, unique: what `holds(t)` reads.
  std::vector<std::string> types_held;
  // The earliest opened_on of any of its holdings, closed ones included: tenure with the
  // bank. Absent without holdings.
  std::optional<Date> first_product_on;

  friend bool operator==(const HoldingAggregates&, const HoldingAggregates&) = default;
};
// At most this many holdings per customer (closed included): kFailedPrecondition beyond. It
// bounds the aggregates: 1000 balances of at most kMaxAmount cannot overflow an int64.
inline constexpr std::uint32_t kMaxHoldingsPerCustomer = 1000;

// Written by a scoring run (custdb::score_customers, custdb/analytics.h) from the stored CLV
// model; read-only to applications like the aggregates: insert_customer refuses them and
// update_customer refuses a change to them (kInvalidArgument "scores: ..."). The segment language reads them as p_alive, expected_purchases, clv and r/f/m_score.
struct Scores {
  Date as_of{};                     // the day scored (RFM taken as of this day)
  double p_alive = 0;               // 0..1, stored to 6 decimals
  double expected_purchases = 0;    // over the scoring horizon, >= 0, stored to 6 decimals
  std::int64_t expected_value = 0;  // per purchase, minor units of the base currency
  std::int64_t clv = 0;             // over the horizon, discounted; minor units
  std::uint8_t r_score = 0, f_score = 0, m_score = 0;  // 1..5 (custdb::RfmRow)

  friend bool operator==(const Scores&, const Scores&) = default;
};

// The one conversion of Scores' decimals to the millionths they are stored, indexed and
// compared in (query::Decimal). `v` must be finite and below 9.2e12.
inline std::int64_t to_millionths(double v) { return std::llround(v * 1e6); }

struct Customer {
  CustomerId id = 0;
  std::string external_ref;  // the application's own key; unique when non-empty
  CustomerType type = CustomerType::kIndividual;
  std::string name;  // required
  std::optional<std::string> email;  // stored normalized: trimmed, lower case
  std::optional<std::string> phone;  // stored normalized: '+' and digits only
  std::optional<Date> birth_date;  // 1800-01-01 .. today (UTC); a future date is refused
  Gender gender = Gender::kUnknown;
  Address address;
  Tier tier = Tier::kBronze;
  Stage stage = Stage::kProspect;
  std::optional<std::uint8_t> income_band;  // 1..10
  Risk risk = Risk::kLow;
  Consent consent_email;
  Consent consent_sms;
  Consent consent_phone;
  // Automated profiling (scoring, ranking, tier/stage rules) and sharing with third parties
  // (format 4). A customer whose profiling consent is kDenied is never scored, ranked or
  // moved by rules (custdb/analytics.h). custdb/privacy.h: ConsentPurpose, consent_of.
  Consent consent_profiling;
  Consent consent_sharing;
  std::vector<std::string> tags;  // stored normalized: trimmed, lower case, sorted, unique
  // "Now" below is the write transaction's time: taken at its first insert or update of a
  // customer, the same for every customer that transaction writes.
  Timestamp created_at{};  // set to now on insert when left at the epoch; update_customer may
                           // change it but not back to the epoch ("created_at: required")
  Timestamp updated_at{};  // set by the engine when the customer's own attributes change
                           // (insert, update_customer); transactions landing leave it;
                           // update_customer refuses a change to it
  Aggregates aggregates;   // maintained by the engine
  HoldingAggregates holdings;  // maintained by the engine (format 6)
  std::optional<Scores> scores;  // the last scoring run's; absent if never scored
  // false when this handle cannot decrypt the customer's personal fields (opened with an
  // analyst key, custdb/privacy.h KeyRole::kAnalyst): name, email, phone, external_ref,
  // birth_date and address.city are then empty, not masked. Never stored; always true for
  // records read with the owner's key or from a plaintext database.
  bool personal_available = true;
  // Set by the engine when the customer was erased with EraseMode::kKeepLedger (custdb/
  // privacy.h): its personal fields are gone, its id, aggregates and transactions stay.
  // Read-only to applications, like the aggregates.
  bool anonymized = false;
  // Custom attribute values by name (custdb/attributes.h; format 5), validated against the
  // schema on every write: an undeclared name, a value of the wrong type, an enum value not
  // declared or a required attribute missing is kInvalidArgument "attribute NAME: ...". Reads
  // give every stored value and the default of a required attribute the record lacks;
  // personal ones are absent when personal_available is false.
  Attributes attributes;

  friend bool operator==(const Customer&, const Customer&) = default;
};

struct Relationship {
  RelationshipId id = 0;  // assigned by the engine
  CustomerId from = 0;
  CustomerId to = 0;
  RelationType type = RelationType::kHousehold;
  std::string custom_type;  // the name of a kCustom relation; empty for the built-in types
  std::optional<Date> since;

  friend bool operator==(const Relationship&, const Relationship&) = default;
};

// The stored form of r: when r.type is an inverse name (child, employee, referred, guaranteed,
// benefactor), the canonical type with from and to swapped; otherwise r unchanged. Custom
// types are directed as typed (the engine does not know what a custom name means).
CUSTDB_EXPORT Relationship canonical(Relationship r);

struct Transaction {
  TransactionId id = 0;
  CustomerId customer_id = 0;
  // Required, 1800-01-01 .. 2200-12-31. The epoch itself (1970-01-01T00:00:00.000Z, what
  // Timestamp{} holds) means "never set" and is refused: "ts: required".
  Timestamp ts{};
  // Exact minor units (cents for USD, yen for JPY) in `currency`. Sign is the caller's: the
  // engine adds it to the customer's total as given. |amount| <= kMaxAmount.
  std::int64_t amount = 0;
  // ISO 4217 alpha code as listed by Debian's iso-codes (current codes; not XXX or XTS),
  // either case on input, stored upper case ("eur" -> "EUR"). "XYZ", "DEM" are refused.
  std::string currency;
  // The amount in the database's base currency. Required when `currency` differs from the base
  // currency (custdb holds no exchange rates). In the base currency it is the amount itself:
  // leave it empty (it is stored equal to `amount`) or equal to `amount`; another value is
  // kInvalidArgument "base_amount: ... differs from amount".
  std::optional<std::int64_t> base_amount;
  TransactionKind kind = TransactionKind::kPurchase;
  Channel channel = Channel::kWeb;
  std::string product;
  std::string description;
  // Custom attribute values of the transactions table, as Customer::attributes.
  Attributes attributes;
  // Format 6: the holding this transaction posts to (a posting), or none. The holding must
  // exist (else kFailedPrecondition "holding_id: ..."), belong to customer_id and have this
  // currency (else kInvalidArgument "holding_id: ..."), and not be closed when a posting is
  // added to it or moved onto it (kFailedPrecondition). In the same write transaction the
  // holding's balance moves by `amount` and its base_balance by the base amount, exactly, as
  // given (sign is the caller's, as for the customer's total: a card purchase posted as a
  // positive amount raises what is owed); amend_transaction moves them back from the old
  // holding and onto the new one, remove_transaction moves them back. A resulting balance
  // outside ±kMaxAmount is kInvalidArgument "balance: ..." and nothing is written.
  std::optional<HoldingId> holding_id;

  friend bool operator==(const Transaction&, const Transaction&) = default;
};

// Format 6: an account or contract a customer holds (the holdings table).
struct Holding {
  HoldingId id = 0;  // 0: the next free id on insert
  CustomerId customer_id = 0;  // required; the customer must exist; never changes
  ProductType product_type = ProductType::kDeposit;
  // kCustom: the type's name (trimmed, lower case, as a relationship's custom type; not a
  // built-in name); empty for the built-in types.
  std::string custom_type;
  // The bank's product code ("GOLD-SAVER-12"): printable UTF-8, at most 64 bytes; may be
  // empty. Not personal data.
  std::string product_code;
  // The account number, IBAN or contract reference. Personal data: sealed under the personal
  // key in encrypted files, masked on display and export unless revealed (all but its last 4
  // characters), absent under an analyst key, removed by erasure. Unique when non-empty
  // (kAlreadyExists); looked up through a blind index (ReadView::find_holding_by_account_ref).
  // Trimmed; printable, at most 64 bytes; may be empty.
  std::string account_ref;
  // ISO 4217, as Transaction::currency.
  std::string currency;
  // Exact minor units of `currency`; |balance| <= kMaxAmount. For an asset what the customer
  // holds, for a liability what the customer owes (positive when owed). Set on insert, by
  // update_holding and by a statement (WriteTxn::set_balance); moved by postings.
  std::int64_t balance = 0;
  // The balance in the base currency, as Transaction::base_amount: required when `currency`
  // is not the base currency; in the base currency it is the balance itself (leave it empty).
  std::optional<std::int64_t> base_balance;
  // Minor units of `currency`, >= 0; only credit cards, personal loans, mortgages and custom
  // types take one (kInvalidArgument "credit_limit: ..." for an asset type).
  std::optional<std::int64_t> credit_limit;
  // Required ("opened_on: required"), 1800-01-01 .. 2200-12-31.
  std::optional<Date> opened_on;
  // Set exactly when status is kClosed ("closed_on: required when status is closed" / "closed_on:
  // only a closed holding has one"), not before opened_on.
  std::optional<Date> closed_on;
  HoldingStatus status = HoldingStatus::kActive;
  // The date of the statement that last set the balance (WriteTxn::set_balance); absent when
  // none did. Read-only to update_holding.
  std::optional<Date> balance_as_of;
  // Kept by the engine (read-only; insert_holding refuses non-zero ones): the sums of amount and
  // base amount over the transactions posted to this holding, and their number. The
  // consistency check recounts them from the transactions table.
  std::int64_t posted = 0;
  std::int64_t base_posted = 0;
  std::uint64_t postings = 0;
  // As Customer::personal_available: false when account_ref could not be decrypted (analyst
  // key); account_ref is then empty. Never stored.
  bool personal_available = true;

  friend bool operator==(const Holding&, const Holding&) = default;
};

// A balance from a bank statement (WriteTxn::set_balance, `custdb import balances`): the
// holding's balance as of the end of `as_of`, which replaces the stored balance. Postings
// recorded in custdb before it are taken to be included in it; later ones move it from there.
struct StatementBalance {
  std::int64_t balance = 0;                  // minor units of the holding's currency
  std::optional<std::int64_t> base_balance;  // as Holding::base_balance
  Date as_of{};                              // required; not before the holding's balance_as_of
};

// 10^15 minor units: large enough for any real single amount, small enough that 9,000 of the
// largest cannot overflow a customer's int64 total.
inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000'000;

// A sum of amounts over many customers or transactions (GroupRow::total_amount_sum, the CLI's
// report and history totals). A customer's total is an int64, so two customers near its limit
// already exceed one; 128 bits hold the sum of 2^63 such totals, so every sum custdb computes
// is exact and never wraps. (A GCC/Clang extension type; format_amount in custdb/money.h
// prints it.)
__extension__ typedef __int128 AmountSum;

}  // namespace custdb
