// Write-side validation: every record is checked and put in canonical form here before any
// byte is written. A failure is kInvalidArgument naming the field and the reason. Part of the
// engine (custdb::detail); stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "custdb/attributes.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::detail {

// Limits that keep every index key under LMDB's 511-byte key limit and records small.
inline constexpr std::size_t kMaxNameLength = 200;
inline constexpr std::size_t kMaxTextLength = 200;       // city, region, product, refs
inline constexpr std::size_t kMaxDescriptionLength = 1000;
inline constexpr std::size_t kMaxTags = 64;
// Consent::source: one printable line (no control characters), trimmed.
inline constexpr std::size_t kMaxConsentSourceLength = 100;

// Normalizes email, phone, country, tags, city and region in place (util/normalize.h); checks
// every field (country against the ISO 3166-1 list, birth_date not after today UTC).
// `phone_region`: the database's (ISO 3166-1 alpha-2, "" for none), the region national phone
// forms are read in. The id, updated_at, aggregates and scores are the engine's and are checked
// by the operations (ops.cc), not here; created_at only for its range.
// `stored`: on an update, the customer as stored. Email, phone, birth_date, the address and
// the tags, when equal to the stored ones, are kept as stored without the checks and
// normalization above: an update never fails on a value it does not change (data written
// under an older release's rules stays readable and updatable; docs/format.md).
Status validate_customer(Customer& c, std::string_view phone_region,
                         const Customer* stored = nullptr);
// Checks the ends, type and since; holds a custom name trimmed and lower case, and turns a
// directed link typed by its inverse name into its stored form (canonical(): `employee 2->1`
// becomes `employer 1->2`).
Status validate_relationship(Relationship& r);
// `base_currency` decides whether base_amount is required (different currency) or is the
// amount (same currency: absent is set equal to amount, a different value is an error).
// ts at the epoch (Timestamp{}) is "ts: required".
Status validate_transaction(Transaction& t, std::string_view base_currency);
// Format 6 (custdb/types.h Holding): checks every field a caller sets and puts the holding
// in canonical form: custom_type trimmed and lower case (a custom type needs a name that is
// not a built-in one), product_code and account_ref trimmed (printable, at most
// kMaxHoldingTextLength bytes), currency upper case, base_balance as Transaction::base_amount
// (in the base currency absent is set equal to balance, another value is refused), credit
// limit only for non-asset types, opened_on required, closed_on exactly when closed and not
// before opened_on, dates within 1800-01-01..2200-12-31. The engine fields (id, posted, ...)
// are the operations' to check. `stored` (an update): unchanged text fields are kept as
// stored.
inline constexpr std::size_t kMaxHoldingTextLength = 64;
Status validate_holding(Holding& h, std::string_view base_currency,
                        const Holding* stored = nullptr);
// Custom attributes (custdb/attributes.h). Checks and normalizes one value of `def` in place:
// the variant alternative of def.type, then the type's rules (text: trimmed, NFC, 1..
// kMaxAttributeTextBytes, no control characters; enum: a declared value, matched
// case-insensitively, held as declared; amount: |v| <= kMaxAmount; date and timestamp: within
// 1800-01-01..2200-12-31; tag set: 1..kMaxTagSetTags tags, each trimmed and folded, 1..
// kMaxTagSetTagBytes bytes, no '|', ',' or control characters, one of def.values when those
// are declared; sorted and unique). kInvalidArgument with the reason alone (callers prefix
// "attribute NAME: ").
Status check_attribute_value(const AttributeDef& def, AttributeValue& v);
// Checks and normalizes the custom attribute values of one record of `table` against `schema`
// (the writing transaction's, DatabaseImpl::schema_of). Every name must be a live attribute
// of the table (case-insensitive; the entry is re-keyed to the declared name); every value
// passes check_attribute_value. `stored` null (an insert): an absent required attribute takes
// its default. `stored` (an update: the stored record's values): a value equal to the stored
// one is kept as stored unchecked. An absent required attribute without a default (insert), or
// a required attribute removed (update), is "required". Errors: kInvalidArgument
// "attribute NAME: reason" ("attribute x: unknown attribute of customers").
Status validate_attributes(Attributes& attrs, const Schema& schema, AttributeTable table,
                           const Attributes* stored);

// An ISO 4217 code: three ASCII letters, of either case, whose upper case is listed by
// iso-codes and is not XXX or XTS (util/iso_codes.h). A pure check: `code` is not changed.
bool is_currency_code(std::string_view code);
// The stored form of a currency code: ASCII upper case ("eur" -> "EUR"). Validation applies
// it; so must anything that compares a code with a stored one.
std::string canonical_currency(std::string_view code);

}  // namespace custdb::detail
