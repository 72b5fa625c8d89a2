// The feed's JetStream wire format (wire.h): the one place the subjects and headers are coded.
#include "nats/wire.h"

#include <algorithm>
#include <charconv>

namespace custdb::nats::wire {
namespace {

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool valid_token(std::string_view t, std::size_t max = 128) {
  return !t.empty() && t.size() <= max && std::all_of(t.begin(), t.end(), token_char);
}

// Strict decimal: digits only, no sign, no leading zero (except "0" itself), fits in 64 bits.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string customer_token(CustomerId id) { return id == 0 ? "_" : std::to_string(id); }

tl::unexpected<Error> corrupt(const Message& m, std::string_view what) {
  std::string subject = m.subject.substr(0, 200);
  return make_error(ErrorCode::kCorruption,
                    "feed message on '" + subject + "': " + std::string(what));
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::string msg_id(std::string_view feed, feed::Seq seq, std::string_view what) {
  std::string id(feed);
  id += ':';
  id += std::to_string(seq);
  id += ':';
  id += what;
  return id;
}

}  // namespace

const std::string* Message::header(std::string_view name) const {
  for (const Header& h : headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

Status check_stream_name(std::string_view stream) {
  if (!valid_token(stream, 64))
    return make_error(ErrorCode::kInvalidArgument,
                      "stream: a JetStream stream name is 1 to 64 of [A-Za-z0-9_-], not '" +
                          std::string(stream.substr(0, 80)) + "'");
  return {};
}

Status check_prefix(std::string_view prefix) {
  for (std::string_view t : split(prefix, '.'))
    if (!valid_token(t))
      return make_error(ErrorCode::kInvalidArgument,
                        "subject prefix: dot-separated tokens of [A-Za-z0-9_-], not '" +
                            std::string(prefix.substr(0, 80)) + "'");
  return {};
}

Status check_feed_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            });
  if (!ok)
    return make_error(ErrorCode::kInvalidArgument,
                      "feed name: 1 to 64 of [a-z0-9_-], not '" +
                          std::string(name.substr(0, 80)) + "'");
  return {};
}

std::string stream_subject(std::string_view prefix) { return std::string(prefix) + ".>"; }

std::string feed_filter(std::string_view prefix, std::string_view feed) {
  return std::string(prefix) + "." + std::string(feed) + ".>";
}

std::string customer_filter(std::string_view prefix, std::string_view feed, CustomerId id) {
  return std::string(prefix) + "." + std::string(feed) + ".*." + customer_token(id);
}

bool subject_covers(std::string_view filter, std::string_view subject) {
  const auto f = split(filter, '.');
  const auto s = split(subject, '.');
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == ">") return i < s.size();  // '>' matches one or more remaining tokens
    if (i >= s.size()) return false;
    if (s[i] == ">") return false;  // the subject matches more than this filter's literal
    if (f[i] == "*") continue;      // any single token, '*' included
    if (s[i] == "*" || f[i] != s[i]) return false;
  }
  return f.size() == s.size();
}

Result<Message> encode_part(std::string_view prefix, std::string_view feed, feed::Seq seq,
                            const feed::Part& part) {
  if (!valid_token(part.table, 64) || (part.table == kMarkerTable && part.customer == 0))
    return make_error(ErrorCode::kInvalidArgument,
                      "feed part of entry " + std::to_string(seq) + ": table '" +
                          part.table.substr(0, 80) + "' cannot be a subject token");
  Message m;
  m.subject.reserve(prefix.size() + feed.size() + part.table.size() + 24);
  m.subject.append(prefix).append(".").append(feed).append(".").append(part.table).append(".");
  m.subject += customer_token(part.customer);
  m.headers = {{std::string(kMsgId), msg_id(feed, seq, std::to_string(part.number))},
               {std::string(kSeq), std::to_string(seq)},
               {std::string(kPart), std::to_string(part.number)}};
  m.payload = part.payload;
  return m;
}

Result<Message> encode_marker(std::string_view prefix, std::string_view feed,
                              const feed::Entry& entry) {
  Message m;
  m.subject = std::string(prefix) + "." + std::string(feed) + "." + std::string(kMarkerTable) + "._";
  const auto ms = entry.committed_at.time_since_epoch().count();
  if (ms < 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "feed entry " + std::to_string(entry.seq) + ": commit time before 1970");
  m.headers = {{std::string(kMsgId), msg_id(feed, entry.seq, "commit")},
               {std::string(kSeq), std::to_string(entry.seq)},
               {std::string(kParts), std::to_string(entry.part_count)},
               {std::string(kCommittedAt), std::to_string(ms)}};
  if (!entry.erased.empty()) {
    std::string ids;
    for (CustomerId id : entry.erased) {
      if (!ids.empty()) ids += ',';
      ids += std::to_string(id);
    }
    m.headers.push_back({std::string(kErased), std::move(ids)});
  }
  return m;
}

Result<Decoded> decode(std::string_view prefix, std::string_view feed, const Message& message) {
  const std::string head = std::string(prefix) + "." + std::string(feed) + ".";
  if (message.subject.size() <= head.size() || message.subject.compare(0, head.size(), head) != 0)
    return corrupt(message, "not a subject of feed '" + std::string(feed) + "'");
  const auto rest = split(std::string_view(message.subject).substr(head.size()), '.');
  if (rest.size() != 2 || !valid_token(rest[0], 64) ||
      !(rest[1] == "_" || parse_u64(rest[1]).value_or(0) != 0))
    return corrupt(message, "the subject is not <table>.<customer id|_>");

  Decoded d;
  const std::string* seq = message.header(kSeq);
  const std::string* id = message.header(kMsgId);
  auto seq_v = seq ? parse_u64(*seq) : std::nullopt;
  if (!seq_v || *seq_v == 0) return corrupt(message, "no valid Custdb-Seq header");
  d.seq = *seq_v;

  if (const std::string* part = message.header(kPart)) {
    auto n = parse_u64(*part);
    if (!n || *n > UINT32_MAX) return corrupt(message, "Custdb-Part is not a part number");
    d.kind = Decoded::Kind::kPart;
    d.part.number = static_cast<std::uint32_t>(*n);
    if (id && *id != msg_id(feed, d.seq, *part))
      return corrupt(message, "Nats-Msg-Id disagrees with Custdb-Seq/Custdb-Part");
    d.part.table = std::string(rest[0]);
    d.part.customer = rest[1] == "_" ? 0 : *parse_u64(rest[1]);
    d.part.payload = message.payload;
    return d;
  }

  d.kind = Decoded::Kind::kMarker;
  if (rest[0] != kMarkerTable || rest[1] != "_")
    return corrupt(message, "a message without Custdb-Part must be a commit marker");
  if (id && *id != msg_id(feed, d.seq, "commit"))
    return corrupt(message, "Nats-Msg-Id disagrees with Custdb-Seq");
  if (!message.payload.empty()) return corrupt(message, "a commit marker has a payload");
  const std::string* parts = message.header(kParts);
  auto parts_v = parts ? parse_u64(*parts) : std::nullopt;
  if (!parts_v || *parts_v > UINT32_MAX) return corrupt(message, "no valid Custdb-Parts header");
  d.part_count = static_cast<std::uint32_t>(*parts_v);
  const std::string* at = message.header(kCommittedAt);
  auto at_v = at ? parse_u64(*at) : std::nullopt;
  if (!at_v || *at_v > static_cast<std::uint64_t>(INT64_MAX))
    return corrupt(message, "no valid Custdb-Committed-At header");
  d.committed_at = Timestamp(std::chrono::milliseconds(static_cast<std::int64_t>(*at_v)));
  if (const std::string* erased = message.header(kErased)) {
    for (std::string_view t : split(*erased, ',')) {
      auto v = parse_u64(t);
      if (!v || *v == 0) return corrupt(message, "Custdb-Erased is not a list of customer ids");
      d.erased.push_back(*v);
    }
  }
  return d;
}

// ---- Assembler ----

Assembler::Assembler(feed::Seq applied, std::uint64_t position)
    : next_(applied + 1), consumed_(position) {}

void Assembler::add(std::uint64_t stream_seq, Decoded message) {
  consumed_ = std::max(consumed_, stream_seq);
  if (message.seq < next_) {  // handed out already
    ++duplicates_;
    return;
  }
  Pending& p = pending_[message.seq];
  if (p.first_stream_seq == 0 || stream_seq < p.first_stream_seq) p.first_stream_seq = stream_seq;
  if (message.kind == Decoded::Kind::kMarker) {
    if (p.marker) {
      ++duplicates_;
      return;
    }
    p.marker = std::move(message);
    ++buffered_;
    return;
  }
  const std::uint32_t n = message.part.number;
  if (p.parts.contains(n)) {
    ++duplicates_;
    return;
  }
  p.bytes += message.part.payload.size();
  p.parts.emplace(n, std::move(message.part));
  ++buffered_;
}

std::size_t Assembler::ready_entries() const {
  std::size_t n = 0;
  feed::Seq want = next_;
  for (const auto& [seq, p] : pending_) {
    if (seq != want || !p.marker) break;
    ++n;
    ++want;
  }
  return n;
}

std::size_t Assembler::ready_bytes() const {
  std::size_t n = 0;
  feed::Seq want = next_;
  for (const auto& [seq, p] : pending_) {
    if (seq != want || !p.marker) break;
    n += p.bytes;
    ++want;
  }
  return n;
}

Result<std::vector<feed::Entry>> Assembler::take(std::size_t max_entries,
                                                 std::size_t max_bytes) {
  std::vector<feed::Entry> out;
  std::size_t bytes = 0;
  while (out.size() < max_entries && !pending_.empty()) {
    auto it = pending_.begin();
    if (it->first != next_ || !it->second.marker) break;
    Pending& p = it->second;
    if (!out.empty() && bytes + p.bytes > max_bytes) break;
    const Decoded& m = *p.marker;
    if (!p.parts.empty() && p.parts.rbegin()->first >= m.part_count)
      return make_error(ErrorCode::kCorruption,
                        "feed entry " + std::to_string(it->first) + ": the stream holds part " +
                            std::to_string(p.parts.rbegin()->first) + " of an entry of " +
                            std::to_string(m.part_count) + " parts");
    feed::Entry e;
    e.seq = it->first;
    e.committed_at = m.committed_at;
    e.part_count = m.part_count;
    e.erased = m.erased;
    e.parts.reserve(p.parts.size());
    for (auto& [n, part] : p.parts) e.parts.push_back(std::move(part));
    bytes += p.bytes;
    buffered_ -= p.parts.size() + 1;
    out.push_back(std::move(e));
    pending_.erase(it);
    ++next_;
  }
  return out;
}

std::uint64_t Assembler::resume_position() const {
  std::uint64_t pos = consumed_;
  for (const auto& [seq, p] : pending_) pos = std::min(pos, p.first_stream_seq - 1);
  return pos;
}

std::optional<feed::Seq> Assembler::blocked_at() const {
  if (pending_.empty()) return std::nullopt;
  auto first = pending_.begin();
  if (first->first == next_ && first->second.marker) return std::nullopt;  // ready, not blocked
  for (const auto& [seq, p] : pending_)
    if (p.marker) return next_;
  return std::nullopt;
}

}  // namespace custdb::nats::wire
