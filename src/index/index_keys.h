// Deriving index entries: the one place that decides which LMDB key and value an attribute
// becomes. Plaintext databases use order-preserving encodings; encrypted databases replace
// every attribute value with a keyed token (crypto::Tokenizer) so no value reaches the file.
// Both the write path (diffing old and new entries) and the consistency check call the same
// functions, so they cannot disagree.
//
// Thread-safety: immutable after construction; share freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "custdb/types.h"

namespace custdb::crypto {
class Tokenizer;
}

namespace custdb::index {

// Every secondary index. The number is the token field id in encrypted databases and part of
// the file format. On-disk format: never renumber.
enum class IndexId : std::uint8_t {
  kExternalRef = 0,    // customers: ref -> id (unique)
  kEmail = 1,          // customers: normalized email -> ids
  kPhone = 2,          // customers: normalized phone -> ids
  kRelByCustomer = 3,  // relationships: customer id (each end) -> relationship ids
  kTxnByCustomer = 4,  // transactions: customer id -> (ts, txn id) | txn id when encrypted
  // Format 6 (holdings):
  kHoldingByCustomer = 5,  // holdings: customer id -> holding ids (dupsort)
  kAccountRef = 6,         // holdings: account_ref -> holding id (unique; personal token)
  kTxnByHolding = 7,       // transactions: holding id -> (ts, txn id) | txn id when encrypted
  kCount = 8,
};

enum class Owner : std::uint8_t { kCustomer, kRelationship, kTransaction, kHolding };

struct IndexSpec {
  IndexId id;
  const char* dbi_name;  // LMDB database name
  Owner owner;           // which table's records the entries point at
  bool unique;           // plain key -> 8-byte id; otherwise dupsort (storage::TableKind::kDupSorted)
};

const IndexSpec& spec(IndexId id);
inline constexpr std::size_t kIndexCount = static_cast<std::size_t>(IndexId::kCount);

struct IndexEntry {
  IndexId index;
  std::string key;
  std::string value;  // ends with the owning record's 8-byte big-endian id

  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
  friend auto operator<=>(const IndexEntry& a, const IndexEntry& b) {
    if (a.index != b.index) return a.index <=> b.index;
    if (auto c = a.key <=> b.key; c != 0) return c;
    return a.value <=> b.value;
  }
};

// What an update does to an index: the entries to delete (in the old list, not the new) and
// to put (in the new, not the old), each sorted; entries in both stay untouched. Duplicates
// within one list count once.
struct EntryDiff {
  std::vector<IndexEntry> removed, added;
};
EntryDiff diff_entries(std::vector<IndexEntry> old_entries, std::vector<IndexEntry> new_entries);

class IndexKeys {
 public:
  // `tokenizer` null: plaintext mode. Not owned; must outlive this object.
  // `split` (format 4, encrypted): the tokens of the personal lookups (external_ref, email,
  // phone) come from `personal` (the personal key's tokenizer); null `personal` with `split`
  // is an analyst key: those tokens cannot be made (personal_denied()), and customer_entries
  // gives no entries for them.
  explicit IndexKeys(const crypto::Tokenizer* tokenizer,
                     const crypto::Tokenizer* personal = nullptr, bool split = false)
      : tok_(tokenizer), personal_(split ? personal : tokenizer), split_(split) {}

  bool tokenized() const { return tok_ != nullptr; }
  // Whether lookups by external_ref, email or phone are impossible with this handle's keys.
  bool personal_denied() const { return tok_ != nullptr && personal_ == nullptr; }

  // All entries a record must have, appended to `out` (sorted by the caller if needed).
  void customer_entries(const Customer& c, std::vector<IndexEntry>& out) const;
  // Whether customer_entries gives `a` and `b` the same entries: it reads only the id,
  // external_ref, email and phone. Lets an update skip deriving (and tokenizing) them.
  static bool same_customer_entries(const Customer& a, const Customer& b);
  void relationship_entries(const Relationship& r, std::vector<IndexEntry>& out) const;
  // kTxnByCustomer, and kTxnByHolding (same value) when t.holding_id is set (format 6).
  void transaction_entries(const Transaction& t, std::vector<IndexEntry>& out) const;
  // Format 6: kHoldingByCustomer (customer id -> holding id) and, when account_ref is not
  // empty, kAccountRef (its personal token in encrypted files -> holding id). Under an analyst
  // key (personal_denied) the kAccountRef entry is not derived.
  void holding_entries(const Holding& h, std::vector<IndexEntry>& out) const;
  // Whether holding_entries gives `a` and `b` the same entries (id, customer, account_ref).
  static bool same_holding_entries(const Holding& a, const Holding& b) {
    return a.id == b.id && a.customer_id == b.customer_id && a.account_ref == b.account_ref;
  }

  // The key under which a lookup finds `value` (already normalized) in an equality index.
  std::string equality_key(IndexId index, std::string_view value) const;
  static std::string id_key(std::uint64_t id);
  static std::uint64_t owner_id(std::string_view value);

  // kTxnByCustomer values sort by (ts, id) in plaintext mode, so time ranges are cursor seeks;
  // encrypted databases hold ids only and sort after decrypting.
  bool txn_values_ordered_by_time() const { return tok_ == nullptr; }
  // The smallest value at or after `ts` (plaintext mode only).
  static std::string txn_time_seek(Timestamp ts);

 private:
  std::string token_or_plain(IndexId index, std::string_view value) const;
  const crypto::Tokenizer* tok_;
  const crypto::Tokenizer* personal_;  // external_ref, email, phone, account_ref
  bool split_ = false;
};

}  // namespace custdb::index
