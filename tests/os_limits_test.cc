// Operating-system edges (issue 12, point 7): a full file system and a file size limit must
// give a clean error naming the cause, never a signal (SIGBUS through LMDB's lock-file mapping,
// SIGXFSZ past `ulimit -f`), and an interrupted backup must leave nothing that blocks a retry.
//
// The full disk is a 2 MiB tmpfs mounted inside the test (root only: CI runs as root); where
// mounting is not permitted these tests say so and pass without checking anything.
#include <lmdb.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "program.h"
#include "custdb/database.h"
#include "storage/lmdb.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

// A small tmpfs at `dir`, unmounted (lazily, so open files cannot keep it) at the end.
class SmallDisk {
 public:
  explicit SmallDisk(const fs::path& dir, const char* size = "size=2m") : dir_(dir) {
    fs::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, size) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

  // Fills every free block with one file; free() removes it.
  void fill() {
    std::ofstream f(dir_ / "filler", std::ios::binary);
    std::string chunk(4096, 'x');
    while (f.write(chunk.data(), chunk.size())) {
    }
    f.close();
    // Whatever the stream buffered and could not write: top up byte by byte.
    std::ofstream g(dir_ / "filler2", std::ios::binary);
    for (int i = 0; i < 8192 && g.put('x').flush(); ++i) {
    }
  }
  void free() {
    std::error_code ec;
    fs::remove(dir_ / "filler", ec);
    fs::remove(dir_ / "filler2", ec);
  }
  // Grows the file system in place (what freeing space would do for a file that cannot fit).
  bool grow(const char* size) {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, size) == 0;
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string why_;
};

#define REQUIRE_MOUNT(disk)                                                                    \
  if (!(disk).mounted()) {                                                                     \
    BOOST_TEST_MESSAGE("SKIPPED: cannot mount a tmpfs to fill (" << (disk).why()               \
                                                                 << "); needs root");          \
    BOOST_WARN_MESSAGE(false, "full-disk test skipped: mount not permitted");                  \
    return;                                                                                    \
  }


std::string customers_csv(int n) {
  std::string csv = "id,name,email\n";
  for (int i = 1; i <= n; ++i)
    csv += std::to_string(i) + ",Customer Number " + std::to_string(i) +
           ",customer" + std::to_string(i) + "@example.com\n";
  return csv;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

// No file of a failed backup is left in `dir` (a retry must not be blocked or confused).
bool dir_has_no_files(const fs::path& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) || fs::is_empty(dir, ec);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(os_limits)

// LMDB sizes a new lock.mdb with ftruncate (a sparse file) and touches it through a shared
// mapping; custdb reserves its blocks first, to exactly the size LMDB uses (a larger file
// would be adopted with more reader slots).
BOOST_AUTO_TEST_CASE(lock_file_is_reserved_at_the_size_lmdb_uses) {
  TempDir dir;
  for (unsigned readers : {126u, 500u}) {
    const fs::path db = dir / ("db" + std::to_string(readers));
    fs::create_directories(db);
    storage::Env::OpenParams p;
    p.dir = db.string();
    p.max_readers = readers;
    p.map_size = std::size_t{1} << 20;
    auto env = storage::Env::open(p);
    BOOST_TEST_REQUIRE(env.has_value(), (env ? "" : env.error().to_string()));
    unsigned got = 0;
    mdb_env_get_maxreaders(env->get(), &got);
    BOOST_TEST(got == readers);  // our size was LMDB's own, not a larger one it adopted
    struct stat st;
    BOOST_TEST_REQUIRE(::stat((db / "lock.mdb").c_str(), &st) == 0);
    BOOST_TEST(static_cast<std::size_t>(st.st_size) == storage::lock_file_size(readers));
    // Blocks allocated, not a hole: a store through the mapping cannot fault.
    BOOST_TEST(static_cast<std::size_t>(st.st_blocks) * 512 >= storage::lock_file_size(readers));
  }
  // A larger sparse lock file (left by an open with more readers) is adopted by LMDB whole, so
  // it is reserved whole.
  const fs::path db = dir / "larger";
  fs::create_directories(db);
  const std::size_t larger = storage::lock_file_size(126) * 4;
  {
    std::ofstream f(db / "lock.mdb");
  }
  fs::resize_file(db / "lock.mdb", larger);
  storage::Env::OpenParams p;
  p.dir = db.string();
  p.map_size = std::size_t{1} << 20;
  p.max_readers = 126;  // fewer slots than the file has: LMDB adopts the file's
  auto env = storage::Env::open(p);
  BOOST_TEST_REQUIRE(env.has_value(), (env ? "" : env.error().to_string()));
  struct stat st;
  BOOST_TEST_REQUIRE(::stat((db / "lock.mdb").c_str(), &st) == 0);
  BOOST_TEST(static_cast<std::size_t>(st.st_size) == larger);
  BOOST_TEST(static_cast<std::size_t>(st.st_blocks) * 512 >= larger);
}

BOOST_AUTO_TEST_CASE(commands_on_a_full_disk_fail_cleanly) {
  TempDir dir;
  SmallDisk disk(dir / "disk");
  REQUIRE_MOUNT(disk);
  const std::string db = (dir / "disk" / "db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", db}).code == 0);
  fs::remove(fs::path(db) / "lock.mdb");  // the next command must create it
  write_text(dir / "customers.csv", customers_csv(3000));

  disk.fill();
  // Creating lock.mdb on a full disk: was SIGBUS.
  for (std::vector<std::string> args : {std::vector<std::string>{"stats", "--db", db},
                                        {"import", "customers", (dir / "customers.csv").string(), "--db", db}}) {
    ProgramResult r = run_cli(args);
    BOOST_TEST(r.exited, args[0] << ": " << r.describe());
    BOOST_TEST(r.code == 1, args[0] << ": " << r.describe());
    BOOST_TEST(contains(r.err, "disk is full"), args[0] << ": " << r.describe());
  }
  disk.free();
  ProgramResult ok = run_cli({"stats", "--db", db});
  BOOST_TEST(ok.code == 0, ok.describe());

  // A write transaction that runs out of space (LMDB's pwrite: ENOSPC): clean, nothing stored.
  disk.fill();
  ProgramResult r = run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db});
  BOOST_TEST(r.exited, r.describe());
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "disk is full"), r.describe());
  disk.free();
  // The database is intact and the retry stores everything.
  r = run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  r = run_cli({"verify", "--db", db});
  BOOST_TEST(r.code == 0, r.describe());
  auto opened = Database::open(db, {});
  BOOST_TEST_REQUIRE(opened.has_value());
  BOOST_TEST(must(opened->begin_read()).counts()->customers == 3000u);
}

BOOST_AUTO_TEST_CASE(rotate_data_key_on_a_full_disk_fails_cleanly) {
  TempDir dir;
  SmallDisk disk(dir / "disk");
  REQUIRE_MOUNT(disk);
  const std::string db = (dir / "disk" / "db").string();
  write_text(dir / "pass", "a passphrase\n");
  const std::string pass = (dir / "pass").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--encrypt", "--db", db, "--passphrase-file", pass}).code == 0);
  write_text(dir / "customers.csv", customers_csv(200));
  BOOST_TEST_REQUIRE(run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db,
                              "--passphrase-file", pass}).code == 0);
  disk.fill();
  // rotate.tmp's new environment: its lock.mdb was the SIGBUS.
  ProgramResult r = run_cli({"rekey", "--rotate-data-key", "--db", db, "--passphrase-file", pass});
  BOOST_TEST(r.exited, r.describe());
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "disk is full"), r.describe());
  disk.free();
  r = run_cli({"rekey", "--rotate-data-key", "--db", db, "--passphrase-file", pass});
  BOOST_TEST(r.code == 0, r.describe());
  r = run_cli({"verify", "--db", db, "--passphrase-file", pass});
  BOOST_TEST(r.code == 0, r.describe());
}

BOOST_AUTO_TEST_CASE(backup_to_a_full_disk_leaves_nothing_and_retries) {
  TempDir dir;
  SmallDisk disk(dir / "disk");
  REQUIRE_MOUNT(disk);
  const std::string db = (dir / "db").string();  // the source is not on the small disk
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", db}).code == 0);
  write_text(dir / "customers.csv", customers_csv(20000));  // a few MiB: more than the disk
  BOOST_TEST_REQUIRE(run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db}).code == 0);

  const fs::path out = dir / "disk" / "backup";
  ProgramResult r = run_cli({"backup", out.string(), "--db", db});
  BOOST_TEST(r.exited, r.describe());
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "disk is full"), r.describe());
  BOOST_TEST(dir_has_no_files(out), "a failed backup left files in " << out);

  // With space, the retry into the same directory succeeds; and a new one is 0600 in 0700
  // directories under umask 000.
  BOOST_TEST_REQUIRE(disk.grow("size=64m"));
  r = run_cli({"backup", out.string(), "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  const fs::path out2 = dir / "disk" / "nested" / "backup";
  RunOptions open_umask;
  open_umask.umask = 0;
  r = run_cli({"backup", out2.string(), "--db", db}, open_umask);
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  struct stat st;
  BOOST_TEST_REQUIRE(::stat((out2 / "data.mdb").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  BOOST_TEST_REQUIRE(::stat(out2.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  BOOST_TEST_REQUIRE(::stat(out2.parent_path().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  r = run_cli({"verify", "--db", out2.string()});
  BOOST_TEST(r.code == 0, r.describe());
}

// `ulimit -f`: the kernel's SIGXFSZ is ignored by the CLI, so the write fails with EFBIG and
// the command reports it; an interrupted backup leaves nothing behind.
BOOST_AUTO_TEST_CASE(file_size_limit_is_an_error_not_a_signal) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  BOOST_TEST_REQUIRE(run_cli({"init", "--db", db}).code == 0);
  write_text(dir / "customers.csv", customers_csv(20000));
  RunOptions small;
  small.file_size = 512 * 1024;

  ProgramResult r = run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db}, small);
  BOOST_TEST(r.exited, r.describe());
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "file size limit"), r.describe());

  // Without the limit the import succeeds; then a backup under it fails cleanly.
  r = run_cli({"import", "customers", (dir / "customers.csv").string(), "--db", db});
  BOOST_TEST_REQUIRE(r.code == 0, r.describe());
  const fs::path out = dir / "backup";
  r = run_cli({"backup", out.string(), "--db", db}, small);
  BOOST_TEST(r.exited, r.describe());
  BOOST_TEST(r.code == 1, r.describe());
  BOOST_TEST(contains(r.err, "file size limit"), r.describe());
  BOOST_TEST(dir_has_no_files(out), "a failed backup left files in " << out);
  r = run_cli({"backup", out.string(), "--db", db});
  BOOST_TEST(r.code == 0, r.describe());
  r = run_cli({"verify", "--db", out.string()});
  BOOST_TEST(r.code == 0, r.describe());
}

// The library side of backups: a target holding a database is refused, a leftover partial
// file (a backup killed mid-way) does not block a new one, and the modes hold under umask 0.
BOOST_AUTO_TEST_CASE(backup_files_are_private_and_complete) {
  TempDir dir;
  Database db = open_db(Mode::kPlain, dir / "db");
  must(db.insert_customer(sample_customer(1)));
  const fs::path out = dir / "a" / "b";
  fs::create_directories(out);
  write_text(out / "data.mdb.partial-1-0", "left by a killed backup");
  const mode_t old = ::umask(0);
  Status s = db.backup(dir / "fresh");
  Status s2 = db.backup(out);
  ::umask(old);
  must(s);
  must(s2);
  struct stat st;
  BOOST_TEST_REQUIRE(::stat((dir / "fresh" / "data.mdb").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  BOOST_TEST_REQUIRE(::stat((dir / "fresh").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  BOOST_TEST_REQUIRE(::stat((out / "data.mdb").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  Status again = db.backup(out);
  BOOST_TEST_REQUIRE(!again.has_value());
  BOOST_TEST(again.error().code() == ErrorCode::kAlreadyExists);
  Database copy = open_db(Mode::kPlain, out);
  BOOST_TEST(must(copy.begin_read()).counts()->customers == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
