// The change feed's engine side (custdb/feed.h): what a write transaction records (the
// FeedRecorder), the one codec of the feed's stored bytes (part payloads, entry headers, the
// feed's state and consumer cursors), and the table ids ops name.
//
// Ownership: a FeedRecorder belongs to one write transaction (TxnState::feed) and is used by
// the thread running it; nothing here is shared between threads. The codec functions are pure.
// Errors: decoders return kCorruption for any malformed or unauthenticated input (never crash).
//
// ---- Byte layout (docs/format.md, "Change feed"; all integers big-endian) -------------------
//
// meta "feed.state" (raw, local to the file: never recorded in the feed)
//   [0]      u8  layout version = 1
//   [1]      u8  role (feed::Role: 0 none, 1 primary, 2 replica)
//   [2..10)  u64 last   : the last seq committed (primary) or applied (replica)
//   [10..18) u64 floor  : every seq <= floor is gone (truncated, dropped, or before the feed)
//   [18..26) u64 keep_last
//   [26]     u8  name length N (0..64), then N bytes: the feed name (the primary's on a replica)
//   then     u16 source length S, then S bytes: the replica's transport position (apply source)
//
// table feed_consumers: key = consumer name (1..128 bytes); value (raw)
//   [0] u8 version = 1   [1..9) u64 acked   [9..17) i64 updated_at (ms since the epoch)
//
// table feed: key = u64 seq || u32 part number. Part number 0xFFFFFFFF is the entry header,
// sorted after the entry's parts; 0.. are the parts in the order first written.
//   entry header value: [0] u8 version = 1  [1..9) i64 committed_at (ms)  [9..13) u32
//     part_count  [13..17) u32 n  then n × u64: the customers this entry erases
//   part value: [0] u8 version = 1  [1] u8 label length L (1..32)  L bytes label ([a-z_])
//     u64 customer (0: none)  then the part payload (feed::Part::payload) below
//
// part payload (feed::Part::payload: the bytes a transport carries)
//   [0]      u8  payload version = 1
//   [1..5)   u32 part number
//   [5..]    the record envelope (codec/record_codec.h) of table id 16 (codec::Table::kFeed):
//            plaintext: checksummed; encrypted: sealed under the data key. The key bound (the
//            checksum's or AEAD's associated data) is
//              "cdbfeed" 0x00 || feed name || 0x00 || u64 seq || u32 part || label || 0x00 ||
//              u64 customer
//            so a part copied into another entry, feed, position, table or customer fails.
//   envelope payload (the ops): varint count, then per op:
//     varint ordinal (the op's position in the whole entry: a replica applies every part's
//     ops merged in ordinal order), u8 kind (FeedOpKind), then by kind:
//       kPut     u8 table (FeedTable), varint key length, key, varint value length, value
//       kDel     u8 table, varint key length, key             (the key and all its values)
//       kDelDup  u8 table, varint key length, key, varint value length, value (one dup)
//       kBitSet / kBitClear  varint posting length, posting (stored posting key, no chunk
//                suffix), u64 customer id
//       kErase   u64 customer id, u8 mode (EraseMode), i64 stamp (the erasure's time, ms)
//   varint = unsigned LEB128, at most 10 bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "custdb/feed.h"
#include "custdb/privacy.h"
#include "custdb/status.h"
#include "custdb/types.h"
#include "engine/db_impl.h"
#include "storage/lmdb.h"

namespace custdb::codec {
class RecordCodec;
}

namespace custdb::detail {

// The tables ops name. On-disk format: never renumber.
enum class FeedTable : std::uint8_t {
  kMeta = 1,
  kCustomers = 2,
  kRelationships = 3,
  kTransactions = 4,
  kSegments = 5,  // idx.segments: deletes of whole chunks only (bits travel as bit ops)
  kAudit = 6,
  kErasures = 7,
  kConsentHistory = 8,
  kRuleMoves = 9,
  kHoldings = 10,
  // 32 + index::IndexId (idx.external_ref = 32, idx.email = 33, ... idx.txn_by_holding = 39).
  kIndexBase = 32,
};

// On-disk format: never renumber.
enum class FeedOpKind : std::uint8_t {
  kPut = 1,
  kDel = 2,
  kDelDup = 3,
  kBitSet = 4,
  kBitClear = 5,
  kErase = 6,
};

struct FeedOp {
  std::uint32_t ordinal = 0;
  FeedOpKind kind = FeedOpKind::kPut;
  std::uint8_t table = 0;  // kPut, kDel, kDelDup
  std::string key;         // the key; bits: the posting
  std::string value;       // kPut, kDelDup
  std::uint64_t id = 0;    // bits, kErase: the customer
  EraseMode mode = EraseMode::kFull;  // kErase
  std::int64_t stamp = 0;             // kErase: ms since the epoch
  friend bool operator==(const FeedOp&, const FeedOp&) = default;
};

// The ops of one (label, customer) pair of one entry, as recorded.
struct FeedPart {
  std::string label;
  CustomerId customer = 0;
  std::vector<FeedOp> ops;
};

// The changes one write transaction records. Every successful put and delete of a recorded
// table (DatabaseImpl::put/del), every segment bit flush changes (feed_bit) and erasures
// (feed_erasure) append one op with the next ordinal, to the part of the innermost FeedScope
// (or the default part: see part_for).
class FeedRecorder {
 public:
  bool empty() const { return ordinal_ == 0; }
  std::uint32_t op_count() const { return ordinal_; }

  // A key/value op. Its part: the innermost scope's; a customers-table op always its own
  // customer's (key_customer) unless the scope is that customer's; without a scope
  // (default_label, default_customer).
  void kv(FeedOpKind kind, std::uint8_t table, std::string_view key, std::string_view value,
          std::string_view default_label, std::uint64_t default_customer);
  void bit(std::string_view posting, CustomerId id, bool set);
  void erase(CustomerId id, EraseMode mode, std::int64_t stamp);

  const std::vector<FeedPart>& parts() const { return parts_; }
  const std::vector<CustomerId>& erased() const { return erased_; }

  // FeedScope's state: the innermost scope (label empty: none).
  std::string scope_label;
  CustomerId scope_customer = 0;

  // feed_erasure: the keys of the stored part rows by customer, read once per transaction
  // (an erasure of many customers walks the feed once).
  std::optional<std::unordered_map<CustomerId, std::vector<std::string>>> stored_parts;

 private:
  FeedPart& part_for(std::string_view label, CustomerId customer);
  std::vector<FeedPart> parts_;
  std::map<std::pair<std::string, CustomerId>, std::size_t> index_;
  std::vector<CustomerId> erased_;
  std::uint32_t ordinal_ = 0;
};

// ---- the codec (one place; layout above) ----

inline constexpr std::string_view kFeedStateKey = "feed.state";
inline constexpr std::uint32_t kEntryHeaderPart = 0xFFFFFFFFu;

struct FeedState {
  feed::Role role = feed::Role::kNone;
  feed::Seq last = 0;
  feed::Seq floor = 0;
  std::uint64_t keep_last = 10'000;
  std::string name;
  std::string source;
};
std::string encode_feed_state(const FeedState& s);
Result<FeedState> decode_feed_state(std::string_view bytes);

struct ConsumerValue {
  feed::Seq acked = 0;
  std::int64_t updated_at = 0;
};
std::string encode_consumer(const ConsumerValue& v);
Result<ConsumerValue> decode_consumer(std::string_view bytes);

std::string feed_key(feed::Seq seq, std::uint32_t part);
// kCorruption unless 12 bytes.
Result<std::pair<feed::Seq, std::uint32_t>> decode_feed_key(std::string_view key);

struct EntryHeader {
  std::int64_t committed_at = 0;
  std::uint32_t part_count = 0;
  std::vector<CustomerId> erased;
};
std::string encode_entry_header(const EntryHeader& h);
Result<EntryHeader> decode_entry_header(std::string_view bytes);

// A stored part row: label, customer, and the payload (feed::Part::payload).
std::string encode_part_row(std::string_view label, CustomerId customer, std::string_view payload);
struct PartRow {
  std::string_view label;
  CustomerId customer = 0;
  std::string_view payload;
};
Result<PartRow> decode_part_row(std::string_view bytes);

// The payload of one part: its ops sealed (encrypted mode) or checksummed under `codec`.
std::string encode_part_payload(const codec::RecordCodec& codec, std::string_view feed_name,
                                feed::Seq seq, std::uint32_t part, std::string_view label,
                                CustomerId customer, const std::vector<FeedOp>& ops);
// The key (the checksum's or AEAD's associated data) the envelope of part (feed, seq, part,
// label, customer) is bound to (layout above).
std::string envelope_key(std::string_view feed_name, feed::Seq seq, std::uint32_t part,
                         std::string_view label, CustomerId customer);
// The part number a payload names (without opening it); kCorruption when too short.
Result<std::uint32_t> payload_part_number(std::string_view payload);
// Opens and decodes a payload of part (label, customer) of entry `seq` of feed `feed_name`.
// kCorruption when it does not authenticate or decode.
Result<std::vector<FeedOp>> decode_part_payload(const codec::RecordCodec& codec,
                                                std::string_view feed_name, feed::Seq seq,
                                                std::string_view label, CustomerId customer,
                                                std::string_view payload);

// Feed names and labels as feed.h allows them.
bool valid_feed_name(std::string_view name);
bool valid_label(std::string_view label);
bool valid_consumer_name(std::string_view name);

// The put/del seam (DatabaseImpl::put/del, store.cc): records a successful write of `table`
// in st's recorder unless the table or meta key is not recorded (feed_record.h's header says
// which). kDel with a value is a delete of that dup.
void feed_capture(const DatabaseImpl& d, TxnState& st, storage::Table table, FeedOpKind kind,
                  storage::Bytes key, std::optional<storage::Bytes> value);

// The file's feed state as of st (the default state, role kNone, when absent or when the
// file has no feed table). kCorruption for a malformed one.
Result<FeedState> load_feed_state(const DatabaseImpl& d, TxnState& st);
Status store_feed_state(DatabaseImpl& d, TxnState& st, const FeedState& s);
// commit(): stores st's recorded changes as the next entry (when the feed is still on in st)
// and returns its seq (0: none stored). A storage failure poisons st.
Result<feed::Seq> store_feed_entry(DatabaseImpl& d, TxnState& st);

// The table name an op's table id names ("customers", "idx.email", ...); empty when unknown.
std::string_view feed_table_name(std::uint8_t table);

}  // namespace custdb::detail
