// Turning records into stored bytes and back: the one place that knows FlatBuffers, the value
// envelope and sealing. Layout (docs/format.md has the byte tables):
//
//   plaintext:  [0] format version (1)  [1] flags = 0  [2..9] XXH3-64, little-endian  [10..] FlatBuffer
//   sealed:     [0] format version (1)  [1] flags = 1  [2..]  nonce || AEAD ciphertext || tag
//
// The checksum covers (table, key, version, flags, payload); the AEAD's associated data is
// (table, key, version, flags). So a value copied under another key or into another table fails
// its check in both modes, and in sealed mode nobody without the data key can forge one.
//
// Thread-safety: a RecordCodec is immutable after construction and may be shared; decode
// uses a caller-supplied or thread-local scratch buffer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "custdb/attributes.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::crypto {
class RecordCipher;
}

namespace custdb::fb {
struct Customer;
}  // namespace custdb::fb

namespace custdb::codec {

// Table identifiers bound into checksums and associated data.
// On-disk format: never renumber.
enum class Table : std::uint8_t {
  kCustomers = 1,
  kRelationships = 2,
  kTransactions = 3,
  kMeta = 4,
  kPostings = 5,  // segment bitmaps (src/index/segments.h)
  // Format 4, privacy (custdb/privacy.h): one id per table.
  kAudit = 6,     // audit trail entries (src/engine/audit.cc; key be64(seq))
  kErasures = 7,
  kConsentHistory = 8,
  kRuleMoves = 9,
  // Format 4, encrypted: values sealed under the personal key (docs/format.md, "Personal
  // blob"): a customer's personal fields, a transaction's description, personal postings and
  // meta values. Separate ids so that no blob opens under another table's key.
  kPersonalCustomer = 10,
  kPersonalTransaction = 11,
  kPersonalPostings = 12,
  kPersonalMeta = 13,
  // Format 6: holdings (custdb/types.h Holding) and a holding's personal blob (account_ref).
  kHoldings = 14,
  kPersonalHolding = 15,
  // Format 7: a change feed part's payload (engine/feed_record.h; the key bound is the part's
  // identity: feed name, seq, part number, table label, customer).
  kFeed = 16,
};

inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::uint8_t kFlagSealed = 1;
inline constexpr std::size_t kPlainHeaderSize = 10;

using Bytes = std::span<const std::uint8_t>;

class RecordCodec {
 public:
  // `cipher` null: plaintext mode with checksums. Otherwise it opens sealed values; sealing
  // needs a sealer (set_sealer) with a reserved nonce epoch. Not owned; must outlive the codec.
  explicit RecordCodec(const crypto::RecordCipher* cipher) : cipher_(cipher) {}
  // Set once, before the first write transaction of the handle.
  void set_sealer(crypto::RecordCipher* sealer) { sealer_.store(sealer, std::memory_order_release); }

  bool sealed() const { return cipher_ != nullptr; }

  // Format 4, encrypted files (docs/security.md, "Analyst key"): `split` true makes encode put
  // the personal fields into a blob sealed under the personal key and decode read them from
  // it. `personal` opens such blobs (null under an analyst key: decode then leaves the fields
  // empty and sets Customer::personal_available false). Set once at open, before any use.
  void set_personal(const crypto::RecordCipher* personal, bool split) {
    personal_.store(personal, std::memory_order_release);
    split_.store(split, std::memory_order_release);
  }
  // The personal sealer (a reserved nonce epoch), set with set_sealer.
  void set_personal_sealer(crypto::RecordCipher* sealer) {
    personal_sealer_.store(sealer, std::memory_order_release);
  }
  bool split() const { return split_.load(std::memory_order_acquire); }
  // Whether this handle can open personal blobs (false: an analyst key).
  bool personal_available() const { return !split() || personal_.load() != nullptr; }

  // Encodes the record (its id is the key and is not stored inside) into `out`.
  //
  // Custom attributes (format 5): `schema` is the schema of the writing transaction
  // (DatabaseImpl::schema_of); there is deliberately no default, so that no rewrite forgets
  // it. Each value of `attributes` is stored under the id of the live attribute of that name
  // in the record's table, sorted by id; personal attributes go into the personal blob when
  // split() (a transaction then gets a blob when it has a description or a personal value).
  // The values must be validated already (validate_attributes): a name that is not a live
  // attribute, or a value of another alternative than its type's, is not stored.
  void encode(Bytes key, const Customer& c, const Schema& schema,
              std::vector<std::uint8_t>& out) const;
  void encode(Bytes key, const Relationship& r, std::vector<std::uint8_t>& out) const;
  void encode(Bytes key, const Transaction& t, const Schema& schema,
              std::vector<std::uint8_t>& out) const;
  // Format 6: account_ref goes into the personal blob (Table::kPersonalHolding) when split().
  void encode(Bytes key, const Holding& h, std::vector<std::uint8_t>& out) const;

  // Decodes stored bytes read under `key`. Any mismatch (checksum, authentication, FlatBuffers
  // verification, out-of-range enum) is kCorruption naming the table and key.
  //
  // Custom attributes: values are named by `schema` (the reading transaction's). Values under
  // ids that are not live attributes of the record's table (dropped, being dropped, unknown)
  // are skipped, so a rewrite of the record drops them. A value whose stored field does not
  // fit its attribute's type (an integer for a text attribute, a bool not 0/1, a date out of
  // int32 days, ids unsorted or repeated) is kCorruption. A required attribute with a default
  // that the record lacks (written before the attribute existed) is presented with the
  // default, except personal ones under an analyst key (personal values are then absent).
  Result<Customer> decode_customer(Bytes key, Bytes stored, const Schema& schema) const;
  // The few attributes grouped aggregates read, checked exactly as decode_customer checks the
  // record (envelope, verification, enums) but without building the whole Customer.
  struct CustomerFacets {
    CustomerType type;
    Tier tier;
    Stage stage;
    std::string_view region;  // valid while the thread's decode scratch is unchanged
    std::uint64_t txn_count;
    std::int64_t total_amount;
  };
  Result<CustomerFacets> decode_customer_facets(Bytes key, Bytes stored) const;
  Result<Relationship> decode_relationship(Bytes key, Bytes stored) const;
  Result<Transaction> decode_transaction(Bytes key, Bytes stored, const Schema& schema) const;
  // Under an analyst key account_ref is empty and personal_available false.
  Result<Holding> decode_holding(Bytes key, Bytes stored) const;

  // Envelope only: wraps an arbitrary payload. encode() uses it, and so do the sealed meta
  // values (Table::kMeta: extent.* and analytics.*, docs/format.md "Meta keys"); the engine's
  // own meta values (header, key_header, next_id.*, ...) are stored raw, never wrapped.
  void wrap(Table table, Bytes key, Bytes payload, std::vector<std::uint8_t>& out) const;
  // Returns the payload in `scratch`-backed storage; valid until scratch changes.
  Result<Bytes> unwrap(Table table, Bytes key, Bytes stored,
                       std::vector<std::uint8_t>& scratch) const;
  // The same under the personal key (tables kPersonal*). Unwrapping is kPermissionDenied when
  // this handle has no personal key; wrapping without a personal sealer throws logic_error.
  void wrap_personal(Table table, Bytes key, Bytes payload, std::vector<std::uint8_t>& out) const;
  Result<Bytes> unwrap_personal(Table table, Bytes key, Bytes stored,
                                std::vector<std::uint8_t>& scratch) const;

 private:
  // The checked FlatBuffers root of a stored customer, in thread-local scratch.
  Result<const fb::Customer*> open_customer(Bytes key, Bytes stored) const;

  void wrap_with(crypto::RecordCipher* sealer, Table table, Bytes key, Bytes payload,
                 std::vector<std::uint8_t>& out) const;
  Result<Bytes> unwrap_with(const crypto::RecordCipher* cipher, Table table, Bytes key,
                            Bytes stored, std::vector<std::uint8_t>& scratch) const;

  const crypto::RecordCipher* cipher_;
  std::atomic<crypto::RecordCipher*> sealer_{nullptr};  // seal advances its nonce counter
  // Atomic: a read-only handle adopts a personal key while shared (DatabaseImpl::
  // adopt_personal_key).
  std::atomic<const crypto::RecordCipher*> personal_{nullptr};
  std::atomic<crypto::RecordCipher*> personal_sealer_{nullptr};
  std::atomic<bool> split_{false};
};

}  // namespace custdb::codec
