// custdb feed: the change feed (custdb/feed.h) and its JetStream transport (custdb/nats.h).
//   enable [--name N] [--keep-last K]     turn the feed on (succeeds when it already is)
//   disable                               turn it off (a replica becomes a plain database)
//   status                                role, name, seqs, size, consumers, replica position
//   ship --nats URL --stream S [--prefix P] [--once]
//                                         publish the feed to a JetStream stream
//   follow --nats URL --stream S --feed NAME [--prefix P] [--once]
//                                         apply a stream to this database (a replica)
//   consumers [--remove NAME]             the consumer cursors
//   truncate                              drop what every consumer acknowledged (keep_last kept)
//   show [--after N] [--limit K]          entries, their parts and what each changes
// Thin shells over the library: every rule lives in feed.h / nats.h.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "common.h"
#include "custdb/feed.h"
#include "custdb/nats.h"

namespace custdb::cli {
namespace {

std::string_view role_name(feed::Role r) {
  switch (r) {
    case feed::Role::kNone: return "none";
    case feed::Role::kPrimary: return "primary";
    case feed::Role::kReplica: return "replica";
  }
  return "?";
}

// The running shipper or follower, stopped by SIGINT/SIGTERM (stop() only sets a flag).
std::atomic<nats::Shipper*> g_shipper{nullptr};
std::atomic<nats::Follower*> g_follower{nullptr};
extern "C" void on_stop_signal(int) {
  if (auto* s = g_shipper.load()) s->stop();
  if (auto* f = g_follower.load()) f->stop();
}
void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

// Runs `worker` (a Shipper or Follower) until SIGINT/SIGTERM stops it, printing its progress
// at most twice a second, then its totals.
template <class Worker, class Print>
int run_until_stopped(Worker& worker, std::atomic<Worker*>& running, Print print) {
  running.store(&worker);
  install_stop_handlers();
  auto last_print = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto r = worker.run([&](const auto& report) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print < std::chrono::milliseconds(500)) return;
    last_print = now;
    print(report);
  });
  running.store(nullptr);
  print(must(std::move(r)));
  return kExitOk;
}

nats::ConnectOptions connect_options(const std::string& url, const std::string& stream,
                                     const std::string& prefix, int timeout_ms) {
  nats::ConnectOptions c;
  c.url = url;
  c.stream = stream;
  if (!prefix.empty()) c.subject_prefix = prefix;
  c.connect_timeout = std::chrono::milliseconds(timeout_ms);
  return c;
}

Json ship_json(const nats::ShipReport& r) {
  return Json::object()
      .set("entries", r.entries)
      .set("messages", r.messages)
      .set("purges", r.purges)
      .set("shipped", r.shipped)
      .set("last", r.last)
      .set("lag", r.lag());
}

void print_ship(const Globals& g, const nats::ShipReport& r) {
  if (g.json) {
    print_json(ship_json(r));
  } else {
    std::printf("shipped %llu entries (%llu messages, %llu purges); cursor %llu, last %llu, lag %llu\n",
                static_cast<unsigned long long>(r.entries), static_cast<unsigned long long>(r.messages),
                static_cast<unsigned long long>(r.purges), static_cast<unsigned long long>(r.shipped),
                static_cast<unsigned long long>(r.last), static_cast<unsigned long long>(r.lag()));
  }
  std::fflush(stdout);
}

void print_follow(const Globals& g, const nats::FollowReport& r) {
  if (g.json) {
    print_json(Json::object()
                   .set("entries", r.entries)
                   .set("transactions", r.transactions)
                   .set("applied", r.applied)
                   .set("pending", r.pending));
  } else {
    std::printf("applied %llu entries in %llu transactions; replica at seq %llu, %llu messages pending\n",
                static_cast<unsigned long long>(r.entries),
                static_cast<unsigned long long>(r.transactions),
                static_cast<unsigned long long>(r.applied),
                static_cast<unsigned long long>(r.pending));
  }
  std::fflush(stdout);
}

}  // namespace

Command add_feed(CLI::App& app, Globals& g) {
  struct Opts {
    std::string name;
    std::uint64_t keep_last = 0;
    std::string url = "nats://127.0.0.1:4222";
    std::string stream;
    std::string prefix = "custdb";
    std::string feed_name;
    bool once = false;
    int timeout_ms = 5000;
    std::string remove;
    std::uint64_t after = 0;
    std::size_t limit = 20;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "feed", "The change feed: enable, status, ship to / follow from NATS JetStream, show");
  sub->require_subcommand(1);

  CLI::App* enable = sub->add_subcommand("enable", "Turn the change feed on (succeeds when it is on)");
  enable->add_option("--name", o->name, "The feed's name in subjects ([a-z0-9_-]; default db<file id>)");
  auto* keep = enable->add_option("--keep-last", o->keep_last,
                                  "Entries truncate always keeps (default 10000)");
  CLI::App* disable = sub->add_subcommand(
      "disable", "Turn the feed off and drop its entries (a replica becomes a plain database)");
  CLI::App* status = sub->add_subcommand("status", "Role, name, sequence numbers, consumers");

  auto add_transport = [&](CLI::App* s) {
    s->add_option("--nats", o->url, "NATS server URL")->capture_default_str();
    s->add_option("--stream", o->stream, "JetStream stream name")->required();
    s->add_option("--prefix", o->prefix, "First subject token")->capture_default_str();
    s->add_flag("--once", o->once, "Do what is there now, then exit (else run until stopped)");
    s->add_option("--timeout-ms", o->timeout_ms,
                  "How long a --once run tries to reach the server")
        ->capture_default_str()
        ->check(CLI::Range(1, 3'600'000));
  };
  CLI::App* ship = sub->add_subcommand("ship", "Publish the feed to a JetStream stream");
  add_transport(ship);
  CLI::App* follow = sub->add_subcommand(
      "follow", "Apply a feed from a JetStream stream to this database (--db: the replica)");
  add_transport(follow);
  follow->add_option("--feed", o->feed_name, "The primary's feed name")->required();
  CLI::App* consumers = sub->add_subcommand("consumers", "The feed's consumer cursors");
  consumers->add_option("--remove", o->remove, "Remove this consumer");
  CLI::App* truncate = sub->add_subcommand(
      "truncate", "Delete the entries every consumer acknowledged (keep-last kept)");
  CLI::App* show = sub->add_subcommand("show", "Entries, their parts and what each part changes");
  show->add_option("--after", o->after, "Show entries after this seq (default: the oldest kept)");
  show->add_option("--limit", o->limit, "At most this many entries")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  for (CLI::App* s : {enable, disable, status, ship, follow, consumers, truncate, show})
    s->fallthrough();

  return {sub, [&g, o, enable, keep, disable, status, ship, follow, consumers, truncate, show] {
            if (enable->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              feed::FeedOptions fo;
              fo.name = o->name;
              if (keep->count() > 0) {
                fo.keep_last = o->keep_last;
              } else if (auto st = feed::status(db); st && st->role == feed::Role::kPrimary) {
                fo.keep_last = st->keep_last;  // an enable without --keep-last changes nothing
              }
              must(feed::enable(db, fo));
              feed::FeedStatus st = must(feed::status(db));
              if (g.json)
                print_json(Json::object().set("name", st.name).set("keep_last", st.keep_last).set("last", st.last));
              else
                std::printf("feed '%s' enabled (keep-last %llu, last seq %llu)\n", st.name.c_str(),
                            static_cast<unsigned long long>(st.keep_last),
                            static_cast<unsigned long long>(st.last));
              return kExitOk;
            }
            if (disable->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              must(feed::disable(db));
              if (g.json) print_json(Json::object().set("disabled", true));
              else std::printf("feed disabled\n");
              return kExitOk;
            }
            if (status->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              feed::FeedStatus st = must(feed::status(db));
              if (g.json) {
                Json cs = Json::array();
                for (const auto& c : st.consumers)
                  cs.push(Json::object().set("name", c.name).set("acked", c.acked)
                              .set("lag", st.last > c.acked ? st.last - c.acked : 0)
                              .set("updated_at", format_timestamp(c.updated_at)));
                print_json(Json::object()
                               .set("role", role_name(st.role))
                               .set("name", st.name)
                               .set("first", st.first)
                               .set("last", st.last)
                               .set("entries", st.entries)
                               .set("bytes", st.bytes)
                               .set("keep_last", st.keep_last)
                               .set("source", st.source)
                               .set("consumers", std::move(cs)));
              } else {
                std::vector<std::pair<std::string, std::string>> rows = {
                    {"role", std::string(role_name(st.role))},
                    {"name", st.name},
                    {"first", std::to_string(st.first)},
                    {st.role == feed::Role::kReplica ? "applied" : "last", std::to_string(st.last)},
                    {"entries", std::to_string(st.entries)},
                    {"bytes", human_bytes(st.bytes)},
                    {"keep-last", std::to_string(st.keep_last)},
                    {"consumers", std::to_string(st.consumers.size())}};
                if (!st.source.empty()) rows.push_back({"source", st.source});
                print_pairs(rows);
              }
              return kExitOk;
            }
            if (ship->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              nats::ShipperOptions so;
              so.connect = connect_options(o->url, o->stream, o->prefix, o->timeout_ms);
              auto shipper = must(nats::Shipper::create(db, so));
              if (o->once) {
                print_ship(g, must(shipper->ship_once()));
                return kExitOk;
              }
              return run_until_stopped(*shipper, g_shipper,
                                       [&](const nats::ShipReport& r) { print_ship(g, r); });
            }
            if (follow->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              nats::FollowerOptions fo;
              fo.connect = connect_options(o->url, o->stream, o->prefix, o->timeout_ms);
              fo.feed_name = o->feed_name;
              auto follower = must(nats::Follower::create(db, fo));
              if (o->once) {
                print_follow(g, must(follower->follow_once()));
                return kExitOk;
              }
              return run_until_stopped(*follower, g_follower,
                                       [&](const nats::FollowReport& r) { print_follow(g, r); });
            }
            if (consumers->parsed()) {
              Database db = open_database(g, /*read_only=*/o->remove.empty());
              if (!o->remove.empty()) {
                must(feed::remove_consumer(db, o->remove));
                if (!g.json) std::printf("consumer '%s' removed\n", o->remove.c_str());
              }
              feed::FeedStatus st = must(feed::status(db));
              if (g.json) {
                Json cs = Json::array();
                for (const auto& c : st.consumers)
                  cs.push(Json::object().set("name", c.name).set("acked", c.acked)
                              .set("lag", st.last > c.acked ? st.last - c.acked : 0)
                              .set("updated_at", format_timestamp(c.updated_at)));
                print_json(cs);
              } else {
                TextTable t({"consumer", "acked", "lag", "updated"}, {1, 2});
                for (const auto& c : st.consumers)
                  t.add({c.name, std::to_string(c.acked),
                         std::to_string(st.last > c.acked ? st.last - c.acked : 0),
                         format_timestamp(c.updated_at)});
                t.print();
              }
              return kExitOk;
            }
            if (truncate->parsed()) {
              Database db = open_database(g, /*read_only=*/false);
              std::uint64_t n = must(feed::truncate(db));
              if (g.json) print_json(Json::object().set("deleted", n));
              else std::printf("%llu entries deleted\n", static_cast<unsigned long long>(n));
              return kExitOk;
            }
            if (show->parsed()) {
              Database db = open_database(g, /*read_only=*/true);
              feed::Seq after = o->after;
              if (after == 0) {
                feed::FeedStatus st = must(feed::status(db));
                if (st.first > 0) after = st.first - 1;
              }
              auto entries = must(feed::read(db, after, o->limit));
              Json out = Json::array();
              for (const feed::Entry& e : entries) {
                Json parts = Json::array();
                if (!g.json) {
                  std::string erased;
                  for (CustomerId id : e.erased) erased += (erased.empty() ? " erases " : ",") + std::to_string(id);
                  std::printf("entry %llu  %s  %zu of %u parts%s\n",
                              static_cast<unsigned long long>(e.seq),
                              format_timestamp(e.committed_at).c_str(), e.parts.size(),
                              e.part_count, erased.c_str());
                }
                for (const feed::Part& p : e.parts) {
                  auto lines = must(feed::describe(db, e, p));
                  if (g.json) {
                    Json ls = Json::array();
                    for (auto& l : lines) ls.push(std::move(l));
                    parts.push(Json::object()
                                   .set("part", p.number)
                                   .set("table", p.table)
                                   .set("customer", p.customer)
                                   .set("bytes", p.payload.size())
                                   .set("changes", std::move(ls)));
                  } else {
                    std::printf("  part %u  %s %s  (%zu bytes)\n", p.number, p.table.c_str(),
                                p.customer ? std::to_string(p.customer).c_str() : "_",
                                p.payload.size());
                    for (const auto& l : lines) std::printf("    %s\n", l.c_str());
                  }
                }
                if (g.json) {
                  Json ids = Json::array();
                  for (CustomerId id : e.erased) ids.push(id);
                  out.push(Json::object()
                               .set("seq", e.seq)
                               .set("committed_at", format_timestamp(e.committed_at))
                               .set("part_count", e.part_count)
                               .set("erased", std::move(ids))
                               .set("parts", std::move(parts)));
                }
              }
              if (g.json) print_json(out);
              return kExitOk;
            }
            return kExitUsage;
          }};
}

}  // namespace custdb::cli
