// The JetStream wire format of the change feed (custdb/nats.h): subjects, headers, and the
// assembly of entries from part messages and commit markers. Pure functions and one plain
// class, no NATS calls: the shipper and the follower use them, and tests check them without
// a server. The one place the message layout is coded.
//
// Layout (binding, custdb/nats.h):
//   part    subject `<prefix>.<feed>.<table>.<customer id|_>`, payload = Part::payload,
//           headers Nats-Msg-Id `<feed>:<seq>:<part>`, Custdb-Seq, Custdb-Part
//   marker  subject `<prefix>.<feed>.commit._`, empty payload, headers Nats-Msg-Id
//           `<feed>:<seq>:commit`, Custdb-Seq, Custdb-Parts, Custdb-Committed-At (ms since
//           the epoch), Custdb-Erased (comma-separated ids; absent when none)
// A message is a part when it carries Custdb-Part, else a marker.
//
// Errors: decode() returns kCorruption for a message that does not follow the layout (it
// never trusts a byte of it); the encoders return kInvalidArgument for names that cannot be
// subject tokens. Thread safety: functions are pure; an Assembler is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "custdb/feed.h"
#include "custdb/status.h"
#include "custdb/types.h"

namespace custdb::nats::wire {

inline constexpr std::string_view kMsgId = "Nats-Msg-Id";
inline constexpr std::string_view kSeq = "Custdb-Seq";
inline constexpr std::string_view kPart = "Custdb-Part";
inline constexpr std::string_view kParts = "Custdb-Parts";
inline constexpr std::string_view kCommittedAt = "Custdb-Committed-At";
inline constexpr std::string_view kErased = "Custdb-Erased";
// The table token of commit markers (and the customer token "_").
inline constexpr std::string_view kMarkerTable = "commit";

struct Header {
  std::string name, value;
  friend bool operator==(const Header&, const Header&) = default;
};

// One NATS message as the transport sends or receives it.
struct Message {
  std::string subject;
  std::vector<Header> headers;
  std::string payload;
  // The first header named `name` (case-sensitive as NATS headers are), or null.
  const std::string* header(std::string_view name) const;
  friend bool operator==(const Message&, const Message&) = default;
};

// ---- names ----
// A JetStream stream name: [A-Za-z0-9_-], 1..64 bytes.
Status check_stream_name(std::string_view stream);
// A subject prefix: one or more dot-separated tokens of [A-Za-z0-9_-].
Status check_prefix(std::string_view prefix);
// A feed name as feed.h allows it ([a-z0-9_-], 1..64 bytes).
Status check_feed_name(std::string_view name);

// `<prefix>.>`: the subjects a stream created by the shipper holds.
std::string stream_subject(std::string_view prefix);
// `<prefix>.<feed>.>`: every message of one feed (the follower's filter).
std::string feed_filter(std::string_view prefix, std::string_view feed);
// `<prefix>.<feed>.*.<id>`: every part of one customer (the erasure purge).
std::string customer_filter(std::string_view prefix, std::string_view feed, CustomerId id);
// Whether every subject `subject` matches also matches `filter` (NATS wildcards `*` and `>`
// in either): a stream whose subjects cover feed_filter() can carry the feed.
bool subject_covers(std::string_view filter, std::string_view subject);

// ---- encoding ----
// The part's number is Part::number (stable when an erasure removed other parts).
Result<Message> encode_part(std::string_view prefix, std::string_view feed, feed::Seq seq,
                            const feed::Part& part);
Result<Message> encode_marker(std::string_view prefix, std::string_view feed,
                              const feed::Entry& entry);

// ---- decoding ----
struct Decoded {
  enum class Kind { kPart, kMarker } kind = Kind::kPart;
  feed::Seq seq = 0;
  // kPart: its contents (part.number: Custdb-Part).
  feed::Part part;
  // kMarker: the entry's header.
  std::uint32_t part_count = 0;
  Timestamp committed_at{};
  std::vector<CustomerId> erased;
};
// Decodes a message of feed `feed` under `prefix`: kCorruption naming what is wrong when the
// subject or a header does not follow the layout or they disagree.
Result<Decoded> decode(std::string_view prefix, std::string_view feed, const Message& message);

// ---- assembly (the follower's buffer) ----
// Collects the messages of one feed in stream order and hands out complete entries in seq
// order: an entry is ready when its marker arrived and every entry before it was handed out.
// Parts and markers are deduplicated by (seq, part) (the first copy wins); anything of an
// entry at or below `applied` is dropped. Tracks the stream position a new consumer must
// start after so that no part of an entry not yet handed out is missed (resume_position()).
class Assembler {
 public:
  // `applied`: the replica's last applied seq; `position`: the stream seq already consumed
  // (the consumer starts at position + 1).
  Assembler(feed::Seq applied, std::uint64_t position);

  // One message stored at stream sequence `stream_seq` (ascending across calls).
  void add(std::uint64_t stream_seq, Decoded message);

  // Ready entries (see above), in seq order.
  std::size_t ready_entries() const;
  std::size_t ready_bytes() const;
  // Takes ready entries: at most max_entries and, beyond the first, at most max_bytes of
  // payload. kCorruption when a ready entry is inconsistent (a part number >= its part
  // count). Afterwards resume_position() no longer covers the taken entries.
  Result<std::vector<feed::Entry>> take(std::size_t max_entries, std::size_t max_bytes);

  // The highest seq handed out (or the `applied` given).
  feed::Seq taken() const { return next_ - 1; }
  // The stream seq a consumer may start after without missing anything still needed.
  std::uint64_t resume_position() const;
  // The last stream seq added (or the position given).
  std::uint64_t consumed() const { return consumed_; }
  // Messages held for entries not handed out yet.
  std::size_t buffered_messages() const { return buffered_; }
  // Messages dropped as copies of something held or already handed out.
  std::uint64_t duplicates() const { return duplicates_; }
  // A marker is held for an entry beyond the next one while the next one's is missing: the
  // stream skips an entry (fatal once the stream is drained).
  std::optional<feed::Seq> blocked_at() const;

 private:
  struct Pending {
    std::map<std::uint32_t, feed::Part> parts;
    std::optional<Decoded> marker;
    std::uint64_t first_stream_seq = 0;
    std::size_t bytes = 0;
  };
  std::map<feed::Seq, Pending> pending_;
  feed::Seq next_;
  std::uint64_t consumed_;
  std::size_t buffered_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace custdb::nats::wire
