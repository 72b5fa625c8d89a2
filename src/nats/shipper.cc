// The JetStream shipper (custdb/nats.h): reads the feed in batches, publishes every batch's
// parts asynchronously, waits for the server's acks, then publishes the batch's commit
// markers the same way, purges erased customers' subjects, and only then acknowledges its
// feed consumer "ship:<stream>".
//
// Why parts and markers go in two rounds: a marker must never be stored before a part of its
// entry. Within one round the client may lose a message in a dying socket and deliver the
// next from its reconnect buffer, so only the server's ack of every part proves they are in
// the stream before the marker is sent. A follower therefore never sees a marker whose parts
// come later (except parts purged by an erasure, which it must not see). A batch ends at its
// first erasure, so the purge up to that erasure's marker takes no part of a later entry.
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "custdb/database.h"
#include "custdb/nats.h"
#include "nats/client.h"
#include "nats/wire.h"

namespace custdb::nats {

using detail::Client;

namespace {

// What the server answered to the async publishes of one round. Filled by the NATS
// library's thread through on_ack.
struct AckState {
  std::mutex mu;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::string first_error;
  std::map<feed::Seq, std::uint64_t> marker_stream_seq;  // entry seq -> its marker's stream seq
  // Publishes the server dropped as duplicates: Nats-Msg-Id -> the stream seq of the message
  // it kept under that id (checked after the round: it must be ours).
  std::vector<std::pair<std::string, std::uint64_t>> duplicates;

  void reset() {
    std::lock_guard lock(mu);
    ok = failed = 0;
    first_error.clear();
    marker_stream_seq.clear();
    duplicates.clear();
  }
};

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* st = static_cast<AckState*>(closure);
  {
    std::lock_guard lock(st->mu);
    if (pa != nullptr) {
      ++st->ok;
      const char* part = nullptr;
      const char* seq = nullptr;
      // A marker has no Custdb-Part header; remember where it was stored (erasure purges).
      if (natsMsgHeader_Get(msg, std::string(wire::kPart).c_str(), &part) == NATS_NOT_FOUND &&
          natsMsgHeader_Get(msg, std::string(wire::kSeq).c_str(), &seq) == NATS_OK && seq) {
        st->marker_stream_seq[std::strtoull(seq, nullptr, 10)] = pa->Sequence;
      }
      const char* id = nullptr;
      if (pa->Duplicate &&
          natsMsgHeader_Get(msg, std::string(wire::kMsgId).c_str(), &id) == NATS_OK && id)
        st->duplicates.emplace_back(id, pa->Sequence);
    } else {
      ++st->failed;
      if (st->first_error.empty() && pae != nullptr) {
        st->first_error = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
        if (pae->ErrCode != 0)
          st->first_error += " (JetStream error " + std::to_string(pae->ErrCode) + ")";
      }
    }
  }
  natsMsg_Destroy(msg);
}

// Worth retrying: the transport failed (kIOError: reconnect and ship the batch again), or
// the database's write lock was busy past its timeout (a writer holding it long).
bool transient(const Error& e) {
  return e.code() == ErrorCode::kIOError || e.code() == ErrorCode::kBusy;
}

}  // namespace

struct Shipper::Impl {
  Database& db;
  ShipperOptions opt;
  std::string feed_name;
  std::string consumer;
  std::atomic<bool> stop{false};
  AckState acks;  // outlives the client (declared first): the client's threads call on_ack
  std::unique_ptr<Client> client;
  bool stream_checked = false;
  feed::Seq shipped = 0;

  Impl(Database& d, const ShipperOptions& o) : db(d), opt(o) {}

  jsOptions js_options() {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &acks;
    jo.PublishAsync.MaxPending = static_cast<std::int64_t>(std::max<std::size_t>(opt.max_inflight, 1));
    jo.PublishAsync.StallWait = std::max<std::int64_t>(opt.connect.connect_timeout.count(), 1);
    return jo;
  }

  Status connect(std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (client) return {};
    jsOptions jo = js_options();
    auto c = Client::connect(opt.connect, deadline, stop, &jo);
    if (!c) return tl::unexpected(c.error());
    client = std::move(*c);
    stream_checked = false;
    return {};
  }

  // Publishes one round of messages and waits for the server's acks. kIOError when any
  // failed or did not come back in time (their pending publishes are dropped: the caller
  // retries the batch; the server drops what it already stored by Nats-Msg-Id).
  Status publish_round(const std::vector<wire::Message>& messages) {
    acks.reset();
    jsCtx* js = client->js();
    for (const wire::Message& m : messages) {
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(),
                                    static_cast<int>(m.payload.size()));
      for (const wire::Header& h : m.headers)
        if (s == NATS_OK) s = natsMsgHeader_Set(msg, h.name.c_str(), h.value.c_str());
      if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, nullptr);
      natsMsg_Destroy(msg);  // null when the library took it
      if (s != NATS_OK) {
        drop_pending();
        return detail::io_error(opt.connect, "publish", s);
      }
      if (stop.load()) {
        drop_pending();
        return make_error(ErrorCode::kIOError, "stopped");
      }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = std::max<std::int64_t>(opt.connect.connect_timeout.count(), 1);
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK) {
      drop_pending();
      return detail::io_error(opt.connect, "waiting for publish acks", s);
    }
    std::vector<std::pair<std::string, std::uint64_t>> duplicates;
    {
      std::lock_guard lock(acks.mu);
      if (acks.failed != 0)
        return make_error(ErrorCode::kIOError, "NATS server " + opt.connect.url + ": " +
                                                   std::to_string(acks.failed) +
                                                   " publishes failed: " + acks.first_error);
      duplicates = acks.duplicates;
    }
    return check_duplicates(messages, duplicates);
  }

  // A duplicate is normally our own earlier publish (a restart after a kill). But anyone who
  // may publish on the feed's subjects can take a Nats-Msg-Id first, and then the server
  // silently drops the real message forever: check that what the stream keeps under each
  // dropped id is the message we sent (subject, payload, our headers). Messages gone since
  // (purged, limits) are fine.
  Status check_duplicates(const std::vector<wire::Message>& messages,
                          const std::vector<std::pair<std::string, std::uint64_t>>& duplicates) {
    if (duplicates.empty()) return {};
    std::map<std::string_view, const wire::Message*> by_id;
    for (const wire::Message& m : messages)
      if (const std::string* id = m.header(wire::kMsgId)) by_id.emplace(*id, &m);
    jsOptions jo = client->api_options();
    for (const auto& [id, stream_seq] : duplicates) {
      auto mine = by_id.find(id);
      if (mine == by_id.end()) continue;
      natsMsg* stored = nullptr;
      jsErrCode ec = static_cast<jsErrCode>(0);
      natsStatus s = js_GetMsg(&stored, client->js(), opt.connect.stream.c_str(), stream_seq, &jo, &ec);
      if (s == NATS_NOT_FOUND) continue;
      if (s != NATS_OK) return detail::io_error(opt.connect, "reading a duplicate back", s, ec);
      const wire::Message& m = *mine->second;
      bool same = m.subject == natsMsg_GetSubject(stored);
      const char* data = natsMsg_GetData(stored);
      const int len = natsMsg_GetDataLength(stored);
      same = same && static_cast<std::size_t>(len) == m.payload.size() &&
             (len == 0 || std::memcmp(data, m.payload.data(), m.payload.size()) == 0);
      for (const wire::Header& h : m.headers) {
        const char* v = nullptr;
        if (!same) break;
        same = natsMsgHeader_Get(stored, h.name.c_str(), &v) == NATS_OK && v && h.value == v;
      }
      natsMsg_Destroy(stored);
      if (!same)
        return make_error(ErrorCode::kCorruption,
                          "stream '" + opt.connect.stream + "' message " +
                              std::to_string(stream_seq) + " holds another message under " +
                              "Nats-Msg-Id " + id + " (published by someone else on the " +
                              "feed's subjects), so the server drops the real one: remove it " +
                              "and wait out the stream's duplicate window, or re-create the " +
                              "stream; followers may have applied it");
    }
    return {};
  }

  void drop_pending() {
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, client->js()) == NATS_OK)
      natsMsgList_Destroy(&pending);
  }

  // Once per connection: the stream exists (or is created) and covers this feed; then the
  // consumer is registered (at `shipped`), so a failed first attempt (a wrong stream name)
  // leaves no consumer behind to hold back truncation.
  Status prepare() {
    if (stream_checked) return {};
    if (auto st = client->ensure_stream(opt.create_stream,
                                        wire::feed_filter(opt.connect.subject_prefix, feed_name));
        !st)
      return st;
    if (auto st = feed::register_consumer(db, consumer, shipped); !st) return st;
    if (auto st = rewind_to_stream(); !st) return st;
    stream_checked = true;
    return {};
  }

  // A server killed with SIGKILL may come back without messages it had acknowledged (its
  // file store writes them out after the ack), so the cursor may be ahead of the stream. On
  // every (re)connect: the last commit marker of this feed the stream holds; when it is below
  // the cursor, ship again from there (the republished parts and markers carry their
  // Nats-Msg-Id, so whatever survived is dropped as a duplicate). The stored consumer cursor
  // only moves forward: the rewind is this shipper's, and the entries are still in the feed
  // unless truncated (then feed::read reports it). No marker at all: a new stream, left as is.
  Status rewind_to_stream() {
    const std::string subject = opt.connect.subject_prefix + "." + feed_name + "." +
                                std::string(wire::kMarkerTable) + "._";
    natsMsg* last = nullptr;
    jsOptions jo = client->api_options();
    jsErrCode ec = static_cast<jsErrCode>(0);
    natsStatus s = js_GetLastMsg(&last, client->js(), opt.connect.stream.c_str(), subject.c_str(),
                                 &jo, &ec);
    if (s == NATS_NOT_FOUND) return {};
    if (s != NATS_OK) return detail::io_error(opt.connect, "reading the stream's last marker", s, ec);
    const char* v = nullptr;
    const bool has = natsMsgHeader_Get(last, std::string(wire::kSeq).c_str(), &v) == NATS_OK && v;
    const std::string text = has ? v : "";
    natsMsg_Destroy(last);
    feed::Seq in_stream = 0;
    const auto [end, ec2] = std::from_chars(text.data(), text.data() + text.size(), in_stream);
    if (text.empty() || ec2 != std::errc() || end != text.data() + text.size())
      return make_error(ErrorCode::kCorruption, "stream '" + opt.connect.stream +
                                                    "': the last commit marker of feed " +
                                                    feed_name + " has no valid " +
                                                    std::string(wire::kSeq));
    if (in_stream < shipped) shipped = in_stream;
    return {};
  }

  // Ships one batch (at most max_entries_per_batch entries after the cursor). Returns the
  // number of entries shipped: 0 when there was nothing to ship.
  Result<std::size_t> ship_batch(ShipReport& report) {
    if (auto st = prepare(); !st) return tl::unexpected(st.error());
    auto entries = feed::read(db, shipped, std::max<std::size_t>(opt.max_entries_per_batch, 1));
    if (!entries) return tl::unexpected(entries.error());
    if (entries->empty()) return 0;
    // A batch ends with its first erasure: the purge removes the erased customer's messages
    // stored before the erasure's marker, and a later entry's part of that customer (a
    // keep-ledger erasure keeps the customer) must not be among them.
    for (std::size_t i = 0; i < entries->size(); ++i)
      if (!(*entries)[i].erased.empty()) {
        entries->resize(i + 1);
        break;
      }
    const std::string& prefix = opt.connect.subject_prefix;
    std::vector<wire::Message> parts, markers;
    for (const feed::Entry& e : *entries) {
      for (const feed::Part& part : e.parts) {
        auto m = wire::encode_part(prefix, feed_name, e.seq, part);
        if (!m) return tl::unexpected(m.error());
        parts.push_back(std::move(*m));
      }
      auto m = wire::encode_marker(prefix, feed_name, e);
      if (!m) return tl::unexpected(m.error());
      markers.push_back(std::move(*m));
    }
    if (auto st = publish_round(parts); !st) return tl::unexpected(st.error());
    if (auto st = publish_round(markers); !st) return tl::unexpected(st.error());
    std::map<feed::Seq, std::uint64_t> marker_seqs;
    {
      std::lock_guard lock(acks.mu);
      marker_seqs = acks.marker_stream_seq;
    }
    // Erasures: the stream must keep no message of the erased customer before the marker.
    jsOptions jo = client->api_options();
    for (const feed::Entry& e : *entries) {
      if (e.erased.empty()) continue;
      auto at = marker_seqs.find(e.seq);
      if (at == marker_seqs.end())
        return make_error(ErrorCode::kIOError, "NATS server " + opt.connect.url +
                                                   ": no ack for the marker of entry " +
                                                   std::to_string(e.seq));
      for (CustomerId id : e.erased) {
        const std::string subject = wire::customer_filter(prefix, feed_name, id);
        jo.Stream.Purge.Subject = subject.c_str();
        jo.Stream.Purge.Sequence = at->second;
        jsErrCode ec = static_cast<jsErrCode>(0);
        natsStatus s = js_PurgeStream(client->js(), opt.connect.stream.c_str(), &jo, &ec);
        if (s != NATS_OK) return detail::io_error(opt.connect, "purge " + subject, s, ec);
        ++report.purges;
      }
    }
    const feed::Seq last = entries->back().seq;
    if (auto st = feed::acknowledge(db, consumer, last); !st) return tl::unexpected(st.error());
    shipped = last;
    report.entries += entries->size();
    report.messages += parts.size() + markers.size();
    report.shipped = shipped;
    if (opt.truncate) {
      if (auto t = feed::truncate(db); !t) return tl::unexpected(t.error());
    }
    return entries->size();
  }

  Result<feed::Seq> feed_last() {
    // wait with a zero timeout: the last seq, or `shipped` when nothing is newer.
    return feed::wait(db, shipped, std::chrono::milliseconds(0));
  }
};

Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Shipper::~Shipper() = default;

Result<std::unique_ptr<Shipper>> Shipper::create(Database& db, const ShipperOptions& options) {
  if (auto st = wire::check_stream_name(options.connect.stream); !st) return tl::unexpected(st.error());
  if (auto st = wire::check_prefix(options.connect.subject_prefix); !st)
    return tl::unexpected(st.error());
  auto status = feed::status(db);
  if (!status) return tl::unexpected(status.error());
  if (status->role != feed::Role::kPrimary)
    return make_error(ErrorCode::kFailedPrecondition,
                      "the feed is not enabled on this database (custdb feed enable)");
  if (auto st = wire::check_feed_name(status->name); !st) return tl::unexpected(st.error());
  auto impl = std::make_unique<Impl>(db, options);
  impl->feed_name = status->name;
  impl->consumer = "ship:" + options.connect.stream;
  // A new shipper starts at the oldest entry kept: a replica seeded from an older backup can
  // still catch up. An existing one keeps its cursor. (Registered once the stream is known.)
  impl->shipped = status->first > 0 ? status->first - 1 : status->last;
  for (const feed::Consumer& c : status->consumers)
    if (c.name == impl->consumer) impl->shipped = c.acked;
  return std::unique_ptr<Shipper>(new Shipper(std::move(impl)));
}

Result<ShipReport> Shipper::ship_once() {
  Impl& m = *impl_;
  ShipReport report;
  report.shipped = m.shipped;
  auto target = m.feed_last();
  if (!target) return tl::unexpected(target.error());
  using clock = std::chrono::steady_clock;
  std::optional<clock::time_point> failing_since;
  bool reached = false;  // the server is reached even when there is nothing to ship
  while ((!reached || m.shipped < *target) && !m.stop.load()) {
    const auto attempt = clock::now();
    const auto deadline = failing_since.value_or(attempt) + m.opt.connect.connect_timeout;
    Status st = m.connect(deadline);
    if (st && !m.client->wait_connected(deadline, m.stop))
      st = make_error(ErrorCode::kIOError,
                      "NATS server " + m.opt.connect.url + ": connection lost");
    Result<std::size_t> n = st ? m.ship_batch(report) : Result<std::size_t>(tl::unexpected(st.error()));
    if (n) reached = true;
    if (n && *n == 0) break;  // the feed holds nothing more
    if (n) {
      failing_since.reset();
      continue;
    }
    if (!transient(n.error())) return tl::unexpected(n.error());
    m.stream_checked = false;
    if (!failing_since) failing_since = attempt;
    if (clock::now() >= *failing_since + m.opt.connect.connect_timeout)
      return tl::unexpected(n.error());
    detail::nap(m.opt.connect.reconnect_wait, m.stop);
  }
  auto last = m.feed_last();
  if (!last) return tl::unexpected(last.error());
  report.shipped = m.shipped;
  report.last = std::max(*last, m.shipped);
  return report;
}

Result<ShipReport> Shipper::run(const std::function<void(const ShipReport&)>& progress) {
  Impl& m = *impl_;
  ShipReport report;
  report.shipped = m.shipped;
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
    auto n = m.ship_batch(report);
    if (!n) {
      if (!transient(n.error())) return tl::unexpected(n.error());
      m.stream_checked = false;
      detail::nap(m.opt.connect.reconnect_wait, m.stop);
      continue;
    }
    if (*n > 0) {
      if (progress) {
        auto last = m.feed_last();
        if (!last) return tl::unexpected(last.error());
        report.last = std::max(*last, m.shipped);
        progress(report);
      }
      continue;
    }
    auto w = feed::wait(m.db, m.shipped, std::chrono::milliseconds(200));
    if (!w) return tl::unexpected(w.error());
  }
  auto last = m.feed_last();
  if (!last) return tl::unexpected(last.error());
  report.shipped = m.shipped;
  report.last = std::max(*last, m.shipped);
  return report;
}

void Shipper::stop() { impl_->stop.store(true); }

}  // namespace custdb::nats
