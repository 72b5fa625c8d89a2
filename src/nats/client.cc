// The NATS connection of the shipper and the follower (client.h).
#include "nats/client.h"

#include <thread>

#include "nats/wire.h"

namespace custdb::nats::detail {

std::string nats_text(natsStatus s, jsErrCode code) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && text != detail) text += std::string(": ") + detail;
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

tl::unexpected<Error> io_error(const ConnectOptions& o, std::string_view what, natsStatus s,
                               jsErrCode code) {
  return make_error(ErrorCode::kIOError, "NATS server " + o.url + ": " + std::string(what) +
                                             ": " + nats_text(s, code));
}

void nap(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (!stop.load(std::memory_order_relaxed)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        end - now, std::chrono::milliseconds(20)));
  }
}

Result<std::unique_ptr<Client>> Client::connect(
    const ConnectOptions& options, std::optional<std::chrono::steady_clock::time_point> deadline,
    const std::atomic<bool>& stop, const jsOptions* js_options) {
  std::unique_ptr<Client> c(new Client(options));
  natsOptions* no = nullptr;
  natsStatus s = natsOptions_Create(&no);
  if (s != NATS_OK) return make_error(ErrorCode::kIOError, "NATS options: " + nats_text(s));
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(no, natsOptions_Destroy);
  const auto timeout = std::max<std::int64_t>(options.connect_timeout.count(), 1);
  if ((s = natsOptions_SetURL(no, options.url.c_str())) != NATS_OK)
    return make_error(ErrorCode::kInvalidArgument,
                      "NATS URL '" + options.url + "': " + nats_text(s));
  natsOptions_SetTimeout(no, timeout);
  natsOptions_SetName(no, "custdb");
  natsOptions_SetAllowReconnect(no, true);
  natsOptions_SetMaxReconnect(no, -1);  // forever: run() outlives server restarts
  natsOptions_SetReconnectWait(no, std::max<std::int64_t>(options.reconnect_wait.count(), 1));
  // A dead connection is noticed within a few seconds even without a TCP reset.
  natsOptions_SetPingInterval(no, 2000);
  natsOptions_SetMaxPingsOut(no, 2);

  while (true) {
    s = natsConnection_Connect(&c->nc_, no);
    if (s == NATS_OK) break;
    c->nc_ = nullptr;
    if (stop.load()) return io_error(options, "stopped while connecting", s);
    if (deadline && std::chrono::steady_clock::now() + options.reconnect_wait >= *deadline)
      return io_error(options, "cannot connect", s);
    nap(options.reconnect_wait, stop);
  }
  jsOptions jo;
  if (js_options) {
    jo = *js_options;
  } else {
    jsOptions_Init(&jo);
  }
  jo.Wait = timeout;
  s = natsConnection_JetStream(&c->js_, c->nc_, &jo);
  if (s != NATS_OK) return io_error(options, "JetStream context", s);
  return c;
}

Client::~Client() {
  if (js_) jsCtx_Destroy(js_);
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool Client::connected() const {
  return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

bool Client::wait_connected(std::optional<std::chrono::steady_clock::time_point> deadline,
                            const std::atomic<bool>& stop) const {
  while (!connected()) {
    if (stop.load()) return false;
    if (deadline && std::chrono::steady_clock::now() >= *deadline) return false;
    nap(std::chrono::milliseconds(20), stop);
  }
  return true;
}

jsOptions Client::api_options() const {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<std::int64_t>(options_.connect_timeout.count(), 1);
  return jo;
}

Result<Client::StreamState> Client::stream_state() const {
  jsOptions jo = api_options();
  jsStreamInfo* si = nullptr;
  jsErrCode ec = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), &jo, &ec);
  if (s == NATS_NOT_FOUND)
    return make_error(ErrorCode::kFailedPrecondition,
                      "NATS server " + options_.url + ": no stream '" + options_.stream + "'");
  if (s != NATS_OK) return io_error(options_, "stream info of '" + options_.stream + "'", s, ec);
  StreamState st{si->State.FirstSeq, si->State.LastSeq, si->State.Msgs};
  jsStreamInfo_Destroy(si);
  return st;
}

Status Client::ensure_stream(bool create, std::string_view subject) const {
  jsOptions jo = api_options();
  jsStreamInfo* si = nullptr;
  jsErrCode ec = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), &jo, &ec);
  if (s == NATS_OK) {
    bool covered = false;
    std::string subjects;
    if (si->Config)
      for (int i = 0; i < si->Config->SubjectsLen; ++i) {
        const char* sub = si->Config->Subjects[i];
        if (!subjects.empty()) subjects += ", ";
        subjects += sub;
        if (wire::subject_covers(sub, subject)) covered = true;
      }
    jsStreamInfo_Destroy(si);
    if (!covered)
      return make_error(ErrorCode::kFailedPrecondition,
                        "stream '" + options_.stream + "' holds subjects " + subjects +
                            ", not the feed's " + std::string(subject));
    return {};
  }
  if (s != NATS_NOT_FOUND)
    return io_error(options_, "stream info of '" + options_.stream + "'", s, ec);
  if (!create)
    return make_error(ErrorCode::kFailedPrecondition,
                      "NATS server " + options_.url + ": no stream '" + options_.stream + "'");
  const std::string stream_subjects = wire::stream_subject(options_.subject_prefix);
  const char* subjects[] = {stream_subjects.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = options_.stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Duplicates = std::int64_t{600} * 1'000'000'000;  // 10 minutes, in nanoseconds
  s = js_AddStream(&si, js_, &cfg, &jo, &ec);
  if (s != NATS_OK) {
    // 10058: a stream of this name exists with another configuration (a concurrent create);
    // 10065: another stream already takes these subjects.
    if (ec == 10065)
      return make_error(ErrorCode::kFailedPrecondition,
                        "NATS server " + options_.url + ": subjects " + stream_subjects +
                            " are taken by another stream (" + nats_text(s, ec) + ")");
    return io_error(options_, "create stream '" + options_.stream + "'", s, ec);
  }
  jsStreamInfo_Destroy(si);
  return {};
}

}  // namespace custdb::nats::detail
