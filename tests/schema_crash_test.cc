// Schema work killed with SIGKILL (engine/schema.cc): an index backfill, an index drop, the
// drop of an indexed customer attribute (index drop, then value removal) and the drop of a
// transactions attribute, each killed in a forked child either right after a committed batch
// (from its progress callback) or from outside at a random moment while a writer thread of the
// child keeps updating customers. After every kill the database is consistent (check() clean:
// the attribute postings exist exactly for the ids the stored cursor says), the next call
// resumes (SchemaProgress::resumed) and ends with answers equal to brute force and, for a
// drop, no value left in any record.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "custdb/query.h"
#include "custdb/segment.h"
#include "engine/db_impl.h"
#include "test_util.h"
#include "util/coding.h"

namespace custdb::test {
namespace {

constexpr int kCustomers = 90;

Status upd(Database& db, CustomerId id, const std::function<void(Customer&)>& f) {
  return db.write([&](WriteTxn& t) -> Status {
    auto r = t.update_customer(id, f);
    if (!r) return tl::unexpected(r.error());
    return {};
  });
}

enum class Work { kIndex, kUnindex, kDropIndexed, kDropTransactions };
const char* name_of(Work w) {
  switch (w) {
    case Work::kIndex: return "index";
    case Work::kUnindex: return "unindex";
    case Work::kDropIndexed: return "drop indexed";
    case Work::kDropTransactions: return "drop transactions attribute";
  }
  return "?";
}

AttributeDef def_of(std::string name, AttributeType type) {
  AttributeDef d;
  d.name = std::move(name);
  d.type = type;
  return d;
}

// A database with `points` (integer) and `branch` (enum) on customers, `memo` on
// transactions, values on most records; `points` indexed unless `w` builds its index,
// `branch` indexed.
void fill(Mode m, const fs::path& dir, Work w) {
  Database db = open_db(m, dir);
  AttributeDef points = def_of("points", AttributeType::kInteger);
  points.indexed = w != Work::kIndex;
  must(db.add_attribute(points));
  AttributeDef branch = def_of("branch", AttributeType::kEnum);
  branch.values = {"B017", "B020", "B031"};
  branch.indexed = true;
  must(db.add_attribute(branch));
  AttributeDef memo = def_of("memo", AttributeType::kText);
  memo.table = AttributeTable::kTransactions;
  must(db.add_attribute(memo));
  must(db.write([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < kCustomers; ++i) {
      Customer c = sample_customer(i);
      if (i % 7 != 0) c.attributes["points"] = std::int64_t{(i * 53) % 200};
      if (i % 4 != 0) c.attributes["branch"] = std::string(i % 3 == 0 ? "B017" : i % 3 == 1 ? "B020" : "B031");
      auto id = txn.insert_customer(c);
      if (!id) return tl::unexpected(id.error());
      if (i % 2 == 0) {
        Transaction t = sample_txn(*id, 100 + i, "2025-03-04T05:06:07Z");
        t.attributes["memo"] = "memo " + std::to_string(i);
        if (auto r = txn.add_transaction(t); !r) return tl::unexpected(r.error());
      }
    }
    return {};
  }));
}

Status run_work(Database& db, Work w, const SchemaWorkOptions& o) {
  switch (w) {
    case Work::kIndex: return db.set_indexed("points", true, o);
    case Work::kUnindex: return db.set_indexed("points", false, o);
    case Work::kDropIndexed: return db.drop_attribute("branch", AttributeTable::kCustomers, o);
    case Work::kDropTransactions:
      return db.drop_attribute("memo", AttributeTable::kTransactions, o);
  }
  return {};
}

// Child: runs the work; a writer thread updates random customers meanwhile when `writer`.
// Killed by the parent or by itself after batch `kill_after` (0: never by itself).
[[noreturn]] void child(Mode m, const fs::path& dir, Work w, int kill_after, bool writer,
                        unsigned seed) {
  auto db = Database::open(dir, options_for(m));
  if (!db) ::_exit(2);
  std::atomic<bool> stop{false};
  std::thread t;
  if (writer) {
    t = std::thread([&] {
      std::mt19937 r(seed);
      while (!stop.load()) {
        const CustomerId id = 1 + r() % kCustomers;
        const std::int64_t v = r() % 200;
        const bool drop_value = r() % 5 == 0;
        // Errors are fine (the attribute may be gone, the lock busy): the parent checks
        // whatever was committed.
        (void)upd(*db, id, [&](Customer& c) {
          if (drop_value) c.attributes.erase("points");
          else c.attributes["points"] = v;
          if (c.attributes.contains("branch")) c.attributes["branch"] = std::string(v % 2 ? "B017" : "B031");
        });
      }
    });
  }
  int batches = 0;
  SchemaWorkOptions o;
  o.batch = 3;
  o.progress = [&](const SchemaProgress&) {
    if (kill_after > 0 && ++batches == kill_after) ::raise(SIGKILL);
  };
  Status s = run_work(*db, w, o);
  // Finished before any kill: park until the parent kills (or exit when self-killing only).
  if (kill_after > 0) ::_exit(s ? 3 : 4);
  for (;;) ::pause();
}

std::vector<CustomerId> query_ids(const Database& db, const std::string& text) {
  auto txn = must(db.begin_read());
  auto po = must(txn.parse_options());
  auto q = query::parse(text, po);
  BOOST_TEST_REQUIRE(q.has_value(), text << ": " << (q ? "" : q.error().to_string()));
  return must(txn.ids(*q, SegmentOptions{}));
}

// Brute force over the decoded records: points >= v, branch = b.
std::vector<CustomerId> brute(const Database& db, std::optional<std::int64_t> points_ge,
                              std::optional<std::string> branch) {
  std::vector<CustomerId> out;
  auto txn = must(db.begin_read());
  must(txn.for_each_customer([&](const Customer& c) {
    bool ok = true;
    if (points_ge) {
      auto it = c.attributes.find("points");
      ok = it != c.attributes.end() && std::get<std::int64_t>(it->second) >= *points_ge;
    }
    if (branch) {
      auto it = c.attributes.find("branch");
      ok = ok && it != c.attributes.end() && std::get<std::string>(it->second) == *branch;
    }
    if (ok) out.push_back(c.id);
    return true;
  }));
  std::sort(out.begin(), out.end());
  return out;
}

// Whether any record of `table` still stores a value of `def` (decoded with a schema that
// declares it live).
bool any_stored_value(Database& db, const AttributeDef& def) {
  auto& d = Database::Impl::of(db);
  Schema live;
  live.version = 1;
  AttributeDef a = def;
  a.dropping = false;
  a.index_state = IndexState::kNone;
  live.attributes.push_back(a);
  auto st = d.begin(false);
  BOOST_TEST_REQUIRE(st.has_value());
  const bool customers = def.table == AttributeTable::kCustomers;
  storage::Walker walk((*st)->txn, customers ? d.tables().customers : d.tables().transactions, "test");
  bool found = false;
  must(walk.all([&](storage::Bytes k, storage::Bytes v) {
    if (customers) {
      auto c = d.codec().decode_customer(k, v, live);
      BOOST_TEST_REQUIRE(c.has_value());
      found = found || c->attributes.contains(def.name);
    } else {
      auto t = d.codec().decode_transaction(k, v, live);
      BOOST_TEST_REQUIRE(t.has_value());
      found = found || t->attributes.contains(def.name);
    }
    return storage::Next::go_on();
  }));
  return found;
}

void round(Mode m, Work w, int kill_after, bool writer, unsigned seed) {
  TempDir dir;
  fill(m, dir.path(), w);
  AttributeDef dropped;
  {
    Database db = open_db(m, dir.path());
    const Schema s = must(db.schema());
    if (w == Work::kDropIndexed) dropped = *s.find("branch");
    if (w == Work::kDropTransactions) dropped = *s.find("memo", AttributeTable::kTransactions);
  }
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) child(m, dir.path(), w, kill_after, writer, seed);
  if (kill_after == 0) {
    std::mt19937 r(seed);
    ::usleep(static_cast<useconds_t>(r() % 60'000));
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFSIGNALED(status), "child exited by itself: " << WEXITSTATUS(status));

  Database db = open_db(m, dir.path());
  // Consistent as the kill left it, the work perhaps half done.
  require_clean(db);
  const bool pending = must(db.schema()).has_pending_work();
  if (kill_after > 0) BOOST_TEST(pending);  // killed after a batch that was not the last
  bool resumed = false;
  SchemaWorkOptions o;
  o.batch = 7;
  o.progress = [&](const SchemaProgress& p) { resumed = resumed || p.resumed; };
  must(db.finish_schema_work(o));
  if (kill_after > 0 && w != Work::kDropIndexed) BOOST_TEST(resumed);
  const Schema s = must(db.schema());
  BOOST_TEST(!s.has_pending_work());
  require_clean(db);
  switch (w) {
    case Work::kIndex:
    case Work::kUnindex: {
      const AttributeDef* points = s.find("points");
      BOOST_TEST_REQUIRE(points);
      // A kill before the change's own transaction committed leaves the old state.
      if (w == Work::kIndex && points->indexed)
        BOOST_TEST(points->index_state == IndexState::kReady);
      if (w == Work::kUnindex && !points->indexed)
        BOOST_TEST(points->index_state == IndexState::kNone);
      for (std::int64_t v : {0, 50, 150, 199})
        BOOST_TEST(query_ids(db, "points >= " + std::to_string(v)) == brute(db, v, std::nullopt));
      BOOST_TEST(query_ids(db, "branch = B020 and points >= 20") == brute(db, 20, "B020"));
      break;
    }
    case Work::kDropIndexed:
      if (!s.find("branch")) BOOST_TEST(!any_stored_value(db, dropped));
      for (std::int64_t v : {0, 100})
        BOOST_TEST(query_ids(db, "points >= " + std::to_string(v)) == brute(db, v, std::nullopt));
      break;
    case Work::kDropTransactions:
      if (!s.find("memo", AttributeTable::kTransactions)) BOOST_TEST(!any_stored_value(db, dropped));
      break;
  }
  // The work ended (or never started): a second call has nothing to do.
  bool called = false;
  o.progress = [&](const SchemaProgress&) { called = true; };
  must(db.finish_schema_work(o));
  BOOST_TEST(!called);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schema_crash)

BOOST_DATA_TEST_CASE(killed_after_a_batch_resumes, kModes, m) {
  std::mt19937 r(m == Mode::kPlain ? 17 : 18);
  for (Work w : {Work::kIndex, Work::kUnindex, Work::kDropIndexed, Work::kDropTransactions}) {
    const int kill_after = 1 + static_cast<int>(r() % 12);  // of ~30 batches (drop: ~60)
    BOOST_TEST_CONTEXT(name_of(w) << ", killed after batch " << kill_after)
    round(m, w, kill_after, /*writer=*/false, r());
  }
}

BOOST_DATA_TEST_CASE(killed_at_random_moments_beside_a_writer, kModes, m) {
  std::mt19937 r(m == Mode::kPlain ? 27 : 28);
  for (int i = 0; i < 2; ++i)
    for (Work w : {Work::kIndex, Work::kUnindex, Work::kDropIndexed, Work::kDropTransactions}) {
      const unsigned seed = r();
      BOOST_TEST_CONTEXT(name_of(w) << ", seed " << seed)
      round(m, w, 0, /*writer=*/true, seed);
    }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace custdb::test
