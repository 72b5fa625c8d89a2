// The JetStream follower (custdb/nats.h): an ephemeral pull consumer on one feed's subjects,
// starting after the stream position stored in the replica; messages go through the
// Assembler (wire.h), which hands out complete entries in seq order; entries are applied with
// feed::apply in bounded transactions, each storing the position a restart resumes after.
//
// The stored position ("nats:<stream>:<stream seq>") is the Assembler's resume_position(): the
// stream seq before the first message of any entry not yet applied, so a restart re-reads the
// parts of a half-received entry (the shipper publishes a batch's parts before its markers).
#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "custdb/database.h"
#include "custdb/nats.h"
#include "nats/client.h"
#include "nats/wire.h"

namespace custdb::nats {

using detail::Client;

namespace {

constexpr int kFetchBatch = 512;

// Worth retrying: the transport failed (kIOError: resubscribe), or the replica's write lock
// was busy past its timeout.
bool transient(const Error& e) {
  return e.code() == ErrorCode::kIOError || e.code() == ErrorCode::kBusy;
}

std::string source_text(std::string_view stream, std::uint64_t position) {
  return "nats:" + std::string(stream) + ":" + std::to_string(position);
}

// The position stored by a follower of `stream`, or 0 (the stream's start) when the source is
// empty or names another stream.
std::uint64_t parse_source(std::string_view source, std::string_view stream) {
  const std::string head = "nats:" + std::string(stream) + ":";
  if (source.size() <= head.size() || source.substr(0, head.size()) != head) return 0;
  std::string_view digits = source.substr(head.size());
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return 0;
  return v;
}

// A natsMsg as the wire layer reads it.
wire::Message to_wire(natsMsg* msg) {
  wire::Message m;
  m.subject = natsMsg_GetSubject(msg);
  const char* data = natsMsg_GetData(msg);
  if (data) m.payload.assign(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      const char* value = nullptr;
      if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value)
        m.headers.push_back({keys[i], value});
    }
    std::free(keys);
  }
  return m;
}

}  // namespace

struct Follower::Impl {
  Database& db;
  FollowerOptions opt;
  std::atomic<bool> stop{false};
  std::unique_ptr<Client> client;
  natsSubscription* sub = nullptr;
  std::unique_ptr<wire::Assembler> assembler;
  std::uint64_t consumer_pending = 0;  // the last message's NumPending (this feed's filter)

  Impl(Database& d, const FollowerOptions& o) : db(d), opt(o) {}
  ~Impl() { drop_subscription(); }

  // Loads what the replica has applied and where its follower stopped.
  Status load() {
    auto st = feed::status(db);
    if (!st) return tl::unexpected(st.error());
    if (st->role == feed::Role::kReplica && st->name != opt.feed_name)
      return make_error(ErrorCode::kFailedPrecondition,
                        "the database is a replica of feed '" + st->name + "', not '" +
                            opt.feed_name + "'");
    const std::uint64_t position =
        st->role == feed::Role::kReplica ? parse_source(st->source, opt.connect.stream) : 0;
    assembler = std::make_unique<wire::Assembler>(st->last, position);
    return {};
  }

  void drop_subscription() {
    if (sub) {
      natsSubscription_Unsubscribe(sub);  // deletes the ephemeral consumer (best effort)
      natsSubscription_Destroy(sub);
      sub = nullptr;
    }
  }

  Status connect(std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (client) return {};
    auto c = Client::connect(opt.connect, deadline, stop);
    if (!c) return tl::unexpected(c.error());
    client = std::move(*c);
    return {};
  }

  // A new ephemeral consumer from the assembler's consumed position + 1.
  Status subscribe() {
    drop_subscription();
    auto state = client->stream_state();
    if (!state) return tl::unexpected(state.error());
    if (assembler->consumed() > state->last_seq) {
      // The stream is younger than the stored position (deleted and created again): read it
      // from its start; entries already applied are skipped by seq.
      assembler = std::make_unique<wire::Assembler>(assembler->taken(), 0);
    } else if (assembler->consumed() > 0 && position_rewritten()) {
      // The server lost the tail of the stream (killed before it wrote what it had
      // acknowledged) and the shipper published the lost entries again: the stored position
      // now holds a message of an entry not applied yet, and later entries' first messages
      // may lie before it. Read the stream from its start; applied entries are skipped by seq.
      assembler = std::make_unique<wire::Assembler>(assembler->taken(), 0);
    }
    const std::string filter = wire::feed_filter(opt.connect.subject_prefix, opt.feed_name);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = opt.connect.stream.c_str();
    so.Config.FilterSubject = filter.c_str();
    so.Config.AckPolicy = js_AckNone;  // the replica stores its own position
    const std::uint64_t start = assembler->consumed() + 1;
    if (start > 1) {
      so.Config.DeliverPolicy = js_DeliverByStartSequence;
      so.Config.OptStartSeq = start;
    } else {
      so.Config.DeliverPolicy = js_DeliverAll;
    }
    so.Config.InactiveThreshold = std::int64_t{60} * 1'000'000'000;  // a killed follower's goes
    jsOptions jo = client->api_options();
    jsErrCode ec = static_cast<jsErrCode>(0);
    natsStatus s = js_PullSubscribe(&sub, client->js(), filter.c_str(), nullptr, &jo, &so, &ec);
    if (s != NATS_OK) {
      sub = nullptr;
      return detail::io_error(opt.connect, "pull consumer on '" + opt.connect.stream + "'", s, ec);
    }
    return {};
  }

  // Whether the message stored at the follower's position belongs to an entry of this feed
  // beyond what the replica applied (the position always holds an applied entry's message,
  // unless the stream's tail was lost and published again). A message that is gone (purged by
  // an erasure) or another feed's proves nothing: false.
  bool position_rewritten() {
    natsMsg* m = nullptr;
    jsOptions jo = client->api_options();
    jsErrCode ec = static_cast<jsErrCode>(0);
    if (js_GetMsg(&m, client->js(), opt.connect.stream.c_str(), assembler->consumed(), &jo, &ec) !=
        NATS_OK)
      return false;
    const std::string own = opt.connect.subject_prefix + "." + opt.feed_name + ".";
    const char* subject = natsMsg_GetSubject(m);
    const char* v = nullptr;
    bool later = false;
    if (subject && std::string_view(subject).starts_with(own) &&
        natsMsgHeader_Get(m, std::string(wire::kSeq).c_str(), &v) == NATS_OK && v) {
      feed::Seq seq = 0;
      const std::string_view text(v);
      const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), seq);
      later = err == std::errc() && end == text.data() + text.size() && seq > assembler->taken();
    }
    natsMsg_Destroy(m);
    return later;
  }

  // This feed's messages the consumer has not delivered yet, or an error when the consumer is
  // gone (the server restarted).
  Result<std::uint64_t> consumer_num_pending() {
    jsConsumerInfo* ci = nullptr;
    jsOptions jo = client->api_options();
    jsErrCode ec = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_GetConsumerInfo(&ci, sub, &jo, &ec);
    if (s != NATS_OK) return detail::io_error(opt.connect, "consumer info", s, ec);
    std::uint64_t n = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    return n;
  }

  // Applies ready entries in transactions of the configured size; all of them when `all`, else
  // only full transactions.
  Status apply_ready(bool all, FollowReport& report) {
    const std::size_t max_entries = std::max<std::size_t>(opt.max_entries_per_txn, 1);
    const std::size_t max_bytes = std::max<std::size_t>(opt.max_bytes_per_txn, 1);
    while (true) {
      const std::size_t n = assembler->ready_entries();
      if (n == 0) break;
      if (!all && n < max_entries && assembler->ready_bytes() < max_bytes) break;
      auto entries = assembler->take(max_entries, max_bytes);
      if (!entries) return tl::unexpected(entries.error());
      const std::string source = source_text(opt.connect.stream, assembler->resume_position());
      auto r = feed::apply(db, opt.feed_name, *entries, source);
      if (!r) {
        // Nothing of the transaction is stored: start again from the replica's own state.
        auto err = r.error();
        if (auto st = load(); !st) return tl::unexpected(st.error());
        drop_subscription();
        return tl::unexpected(err);
      }
      report.entries += r->applied;
      ++report.transactions;
      report.applied = r->last;
      if (r->erased && opt.scrub_after_erasure) {
        auto sc = db.scrub();
        if (!sc) return tl::unexpected(sc.error());
      }
    }
    return {};
  }

  // Fetches one batch and feeds the assembler. Returns the messages received (0 on a timeout
  // with nothing). kIOError on transport trouble (the caller resubscribes), kCorruption for a
  // message that breaks the layout.
  Result<int> fetch(std::int64_t timeout_ms) {
    natsMsgList list{};
    jsErrCode ec = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_Fetch(&list, sub, kFetchBatch, timeout_ms, &ec);
    if (s == NATS_TIMEOUT && list.Count == 0) {
      natsMsgList_Destroy(&list);
      return 0;
    }
    if (s != NATS_OK && list.Count == 0) {
      natsMsgList_Destroy(&list);
      return detail::io_error(opt.connect, "fetch", s, ec);
    }
    Status bad;
    int n = 0;
    for (int i = 0; i < list.Count && bad; ++i) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, list.Msgs[i]) != NATS_OK) continue;  // not a stream message
      const std::uint64_t stream_seq = meta->Sequence.Stream;
      consumer_pending = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
      ++n;
      if (stream_seq <= assembler->consumed()) continue;  // redelivered after a resubscribe
      auto d = wire::decode(opt.connect.subject_prefix, opt.feed_name, to_wire(list.Msgs[i]));
      if (!d) {
        bad = make_error(ErrorCode::kCorruption,
                         "stream '" + opt.connect.stream + "' message " +
                             std::to_string(stream_seq) + ": " + d.error().message());
        break;
      }
      assembler->add(stream_seq, std::move(*d));
    }
    natsMsgList_Destroy(&list);
    if (!bad) return tl::unexpected(bad.error());
    return n;
  }

  void fill(FollowReport& report) const {
    report.applied = assembler->taken();
    report.pending = consumer_pending + assembler->buffered_messages();
  }

  tl::unexpected<Error> gap_error() const {
    return make_error(ErrorCode::kFailedPrecondition,
                      "gap: stream '" + opt.connect.stream + "' holds later entries of feed '" +
                          opt.feed_name + "' but not entry " +
                          std::to_string(*assembler->blocked_at()) +
                          " (the replica is older than what the stream keeps: re-seed it "
                          "from a backup of the primary)");
  }
};

Follower::Follower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Follower::~Follower() = default;

Result<std::unique_ptr<Follower>> Follower::create(Database& replica,
                                                   const FollowerOptions& options) {
  if (auto st = wire::check_stream_name(options.connect.stream); !st) return tl::unexpected(st.error());
  if (auto st = wire::check_prefix(options.connect.subject_prefix); !st)
    return tl::unexpected(st.error());
  if (auto st = wire::check_feed_name(options.feed_name); !st) return tl::unexpected(st.error());
  auto impl = std::make_unique<Impl>(replica, options);
  if (auto st = impl->load(); !st) return tl::unexpected(st.error());
  return std::unique_ptr<Follower>(new Follower(std::move(impl)));
}

Result<FollowReport> Follower::follow_once() {
  Impl& m = *impl_;
  FollowReport report;
  m.fill(report);
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> failing_since;
  std::optional<std::uint64_t> target;  // the stream's last seq when the call started
  const std::int64_t fetch_ms =
      std::clamp<std::int64_t>(m.opt.connect.connect_timeout.count() / 4, 50, 1000);
  while (!m.stop.load()) {
    const auto attempt = clock::now();
    const auto deadline = failing_since.value_or(attempt) + m.opt.connect.connect_timeout;
    Status st = m.connect(deadline);
    if (st && !m.client->wait_connected(deadline, m.stop))
      st = make_error(ErrorCode::kIOError, "NATS server " + m.opt.connect.url + ": connection lost");
    if (st && !target) {
      auto state = m.client->stream_state();
      if (state) target = state->last_seq;
      else st = tl::unexpected(state.error());
    }
    if (st && m.assembler->consumed() == *target) break;  // nothing newer in the stream
    if (st && !m.sub) st = m.subscribe();
    Result<int> got = st ? m.fetch(fetch_ms) : Result<int>(tl::unexpected(st.error()));
    if (got && *got == 0 && m.assembler->consumed() < *target) {
      // Nothing came although the stream held more: caught up on this feed's subjects, or the
      // consumer was lost (a server restart). The consumer itself says which.
      auto pending = m.consumer_num_pending();
      if (!pending) got = tl::unexpected(pending.error());
      else if (*pending > 0) got = make_error(ErrorCode::kIOError, "NATS server " + m.opt.connect.url + ": consumer stalled");
    }
    if (!got) {
      if (!transient(got.error())) return tl::unexpected(got.error());
      m.drop_subscription();
      if (!failing_since) failing_since = attempt;
      if (clock::now() >= *failing_since + m.opt.connect.connect_timeout)
        return tl::unexpected(got.error());
      detail::nap(m.opt.connect.reconnect_wait, m.stop);
      continue;
    }
    failing_since.reset();
    const bool drained =
        *got == 0 || m.consumer_pending == 0 || m.assembler->consumed() >= *target;
    if (auto a = m.apply_ready(drained, report); !a) return tl::unexpected(a.error());
    if (drained) break;
  }
  if (m.assembler->blocked_at()) return m.gap_error();
  m.fill(report);
  return report;
}

Result<FollowReport> Follower::run(const std::function<void(const FollowReport&)>& progress) {
  Impl& m = *impl_;
  FollowReport report;
  m.fill(report);
  auto idle_since = std::chrono::steady_clock::now();
  // Since when the drained stream has held a later entry's marker but not the next one's. A
  // shipper republishing after a failed batch may leave markers out of order for a moment;
  // beyond gap_timeout the entry is not coming (the stream lost it, or a third party published
  // the later marker): the gap is reported as follow_once reports it, instead of waiting
  // forever while buffering every later message.
  bool blocked = false;
  std::chrono::steady_clock::time_point blocked_since{};
  while (!m.stop.load()) {
    Status st = m.connect(std::nullopt);
    if (!st) {
      if (m.stop.load()) break;
      return tl::unexpected(st.error());
    }
    if (!m.client->connected()) {
      m.client->wait_connected(std::chrono::steady_clock::now() + m.opt.connect.reconnect_wait * 4,
                               m.stop);
      continue;
    }
    if (!m.sub) {
      if (auto s = m.subscribe(); !s) {
        if (!transient(s.error()) && s.error().code() != ErrorCode::kFailedPrecondition)
          return tl::unexpected(s.error());
        detail::nap(m.opt.connect.reconnect_wait, m.stop);  // the stream may not exist yet
        continue;
      }
    }
    auto got = m.fetch(500);
    if (got && *got == 0 &&
        std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(2)) {
      // Idle a while: make sure the consumer still exists and is not stalled.
      idle_since = std::chrono::steady_clock::now();
      auto pending = m.consumer_num_pending();
      if (!pending || *pending > 0) got = make_error(ErrorCode::kIOError, "consumer lost");
    }
    if (!got) {
      if (!transient(got.error())) return tl::unexpected(got.error());
      m.drop_subscription();
      detail::nap(m.opt.connect.reconnect_wait, m.stop);
      continue;
    }
    if (*got > 0) idle_since = std::chrono::steady_clock::now();
    const std::uint64_t before = report.entries;
    const bool drained = *got < kFetchBatch || m.consumer_pending == 0;
    if (auto a = m.apply_ready(drained, report); !a) {
      // Nothing of the failed transaction stored; apply_ready reloaded the replica's state.
      if (!transient(a.error())) return tl::unexpected(a.error());
      detail::nap(m.opt.connect.reconnect_wait, m.stop);
      continue;
    }
    if (drained && m.assembler->blocked_at()) {
      const auto now = std::chrono::steady_clock::now();
      if (!blocked) blocked = true, blocked_since = now;
      else if (now - blocked_since > m.opt.gap_timeout) return m.gap_error();
    } else {
      blocked = false;
    }
    if (report.entries != before && progress) {
      m.fill(report);
      progress(report);
    }
  }
  m.fill(report);
  return report;
}

void Follower::stop() { impl_->stop.store(true); }

}  // namespace custdb::nats
