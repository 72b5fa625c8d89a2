// Issue 12, points 6, 10, 11, 12 and 15: the file bound to its key header, empty or foreign
// files refused, meta values checked by verify and named by writes, no secret left in dumpable
// memory, no secret accepted by a plaintext database, private file modes, and the smaller
// error-model points (failed creates, base_currency at open, throwing callbacks).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <sodium.h>

#include "crypto/crypto.h"
#include "program.h"
#include "test_util.h"

using namespace custdb;
using namespace custdb::test;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Raw access to the meta table of a closed database, behind the engine's back.
struct RawMeta {
  MDB_env* env = nullptr;
  explicit RawMeta(const fs::path& dir) {
    BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    BOOST_TEST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  }
  ~RawMeta() { mdb_env_close(env); }
  std::optional<Bytes> get(std::string_view key) {
    MDB_txn* txn;
    BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi dbi;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    std::optional<Bytes> out;
    if (mdb_get(txn, dbi, &k, &v) == 0)
      out.emplace(static_cast<std::uint8_t*>(v.mv_data),
                  static_cast<std::uint8_t*>(v.mv_data) + v.mv_size);
    mdb_txn_abort(txn);
    return out;
  }
  void put(std::string_view key, std::optional<Bytes> value) {
    MDB_txn* txn;
    BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    if (value) {
      MDB_val v{value->size(), value->data()};
      BOOST_TEST_REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    } else {
      mdb_del(txn, dbi, &k, nullptr);
    }
    BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
  }
};

ErrorCode code_of(const Error& e) { return e.code(); }

// ---- the CLI ----------------------------------------------------------------------------------

struct Run {
  int code = -1;
  std::string err;  // stdout and stderr, interleaved as written
};

// Runs `custdb args...` with `env` added to a CUSTDB_-free environment; stdin from /dev/null.
Run run_custdb(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  ProgramResult r = custdb::test::run_cli(args, RunOptions{.env = env, .merge_output = true});
  return Run{r.code, r.out};
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(p.c_str(), &st) == 0, p);
  return st.st_mode & 07777;
}

// ---- scanning this process's dumpable memory ----------------------------------------------------

struct Region {
  std::uintptr_t begin = 0, end = 0;
  bool readable = false;
  bool dontdump = false;
  std::string name;
};

std::vector<Region> regions(const std::string& pid = "self") {
  std::vector<Region> out;
  std::ifstream smaps("/proc/" + pid + "/smaps");
  std::string line;
  while (std::getline(smaps, line)) {
    if (line.rfind("VmFlags:", 0) == 0) {
      if (!out.empty()) {
        std::istringstream flags(line.substr(8));
        std::string f;
        while (flags >> f)
          if (f == "dd") out.back().dontdump = true;
      }
      continue;
    }
    // A mapping line: "begin-end perms offset dev inode [name]".
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash == std::string::npos || space == std::string::npos || dash > space) continue;
    if (line.find_first_not_of("0123456789abcdef") != dash) continue;
    Region r;
    r.begin = std::stoull(line.substr(0, dash), nullptr, 16);
    r.end = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
    r.readable = line[space + 1] == 'r';
    std::istringstream rest(line);
    std::string skip;
    for (int i = 0; i < 5; ++i) rest >> skip;
    std::getline(rest, r.name);
    out.push_back(r);
  }
  return out;
}

// How many times each needle occurs in readable memory a core dump would include (regions
// without the "dd" flag). The read buffer itself is excluded from dumps, so it never counts.
// AddressSanitizer's runtime copies the whole environment block (/proc/self/environ) into a
// buffer of its own when the process starts, before main, where custdb cannot reach it. Under
// ASan a match that is such a copy (an anonymous mapping, the needle right after `env_prefix`)
// is not custdb's and is not counted; the original block on the [stack] still is.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerCopiesEnvironment = true;
#else
constexpr bool kSanitizerCopiesEnvironment = false;
#endif

std::vector<int> count_in_dumpable_memory(const std::vector<std::span<const std::uint8_t>>& needles,
                                          const std::string& pid = "self",
                                          std::string_view env_prefix = {}) {
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  void* mem = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE(mem != MAP_FAILED);
  BOOST_TEST_REQUIRE(::madvise(mem, kChunk, MADV_DONTDUMP) == 0);
  auto* buf = static_cast<std::uint8_t*>(mem);
  const int fd = ::open(("/proc/" + pid + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  std::vector<int> found(needles.size(), 0);
  for (const Region& r : regions(pid)) {
    if (!r.readable || r.dontdump || r.name.find("[vvar") != std::string::npos ||
        r.name.find("[vsyscall]") != std::string::npos)
      continue;
    // Chunks overlap by 64 bytes so a needle across a chunk boundary is still seen; a needle
    // found twice in the overlap is counted twice, which only errs towards failing.
    for (std::uintptr_t at = r.begin; at < r.end;) {
      const std::size_t want = std::min<std::size_t>(kChunk, r.end - at);
      const ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(at));
      if (n <= 0) break;  // e.g. a device mapping /proc/self/mem refuses
      for (std::size_t i = 0; i < needles.size(); ++i) {
        const auto& nd = needles[i];
        for (std::size_t off = 0; off + nd.size() <= static_cast<std::size_t>(n); ++off)
          if (buf[off] == nd[0] && std::memcmp(buf + off, nd.data(), nd.size()) == 0) {
            const bool sanitizer_env_copy =
                kSanitizerCopiesEnvironment && !env_prefix.empty() &&
                r.name.find_first_not_of(" \t") == std::string::npos &&
                off >= env_prefix.size() &&
                std::memcmp(buf + off - env_prefix.size(), env_prefix.data(), env_prefix.size()) == 0;
            if (!sanitizer_env_copy) ++found[i];
          }
      }
      if (static_cast<std::size_t>(n) < want || at + n >= r.end) break;
      at += static_cast<std::size_t>(n) - 64;
    }
  }
  ::close(fd);
  ::munmap(mem, kChunk);
  return found;
}

bool in_dontdump_region(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  for (const Region& r : regions())
    if (a >= r.begin && a < r.end) return r.dontdump;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hardening)

// ---- point 6: the file and its key header belong together -------------------------------------

BOOST_AUTO_TEST_CASE(foreign_key_header_is_corruption) {
  TempDir a, b;
  auto secret = test_key(3);
  {
    auto db = open_db(Mode::kEncrypted, a.path(), Options{.key = secret});
    must(db.insert_customer(sample_customer(1)));
  }
  { auto db = open_db(Mode::kEncrypted, b.path(), Options{.key = secret}); }
  Bytes foreign;
  {
    RawMeta mb(b.path());
    foreign = mb.get("key_header").value();
    RawMeta ma(a.path());
    BOOST_TEST_REQUIRE(ma.get("file_id").has_value());
    BOOST_TEST_REQUIRE(ma.get("key_binding").has_value());
    ma.put("key_header", foreign);
  }
  for (bool read_only : {true, false}) {
    auto db = Database::open(a.path(), Options{.read_only = read_only, .key = secret});
    BOOST_TEST_REQUIRE(!db.has_value());
    BOOST_TEST((code_of(db.error()) == ErrorCode::kCorruption));
    BOOST_TEST(db.error().message().find("key binding") != std::string::npos);
  }
  // The CLI: corruption (exit 1), never an answer.
  const auto key_file = a / "key";
  {
    std::ofstream(key_file) << std::string(32, '\x03');
  }
  auto r = run_custdb({"stats", "--db", a.path().string(), "--key-file", key_file.string()}, {});
  BOOST_TEST(r.code == 1, r.err);
  BOOST_TEST(r.err.find("key binding") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(legacy_file_is_bound_at_first_write_open) {
  TempDir dir;
  auto secret = test_key(4);
  {
    auto db = open_db(Mode::kEncrypted, dir.path(), Options{.key = secret});
    must(db.insert_customer(sample_customer(1)));
  }
  Bytes id_before;
  {
    RawMeta m(dir.path());
    id_before = m.get("file_id").value();
    m.put("file_id", std::nullopt);  // as written before key bindings
    m.put("key_binding", std::nullopt);
  }
  {
    auto db = open_db(Mode::kEncrypted, dir.path(), Options{.read_only = true, .key = secret});
    require_clean(db);  // an unbound legacy file is not damage
  }
  { RawMeta m(dir.path()); BOOST_TEST(!m.get("key_binding").has_value()); }
  { auto db = open_db(Mode::kEncrypted, dir.path(), Options{.key = secret}); require_clean(db); }
  RawMeta m(dir.path());
  BOOST_TEST_REQUIRE(m.get("file_id").has_value());
  BOOST_TEST(m.get("file_id")->size() == 16u);
  BOOST_TEST((*m.get("file_id") != id_before));  // a fresh identity
  BOOST_TEST(m.get("key_binding").has_value());
}

BOOST_AUTO_TEST_CASE(legacy_file_with_foreign_key_header_is_not_bound) {
  TempDir a, b;
  auto secret = test_key(8);
  {
    auto db = open_db(Mode::kEncrypted, a.path(), Options{.key = secret});
    must(db.insert_customer(sample_customer(1)));
  }
  { auto db = open_db(Mode::kEncrypted, b.path(), Options{.key = secret}); }
  {
    RawMeta mb(b.path());
    const Bytes foreign = mb.get("key_header").value();
    RawMeta ma(a.path());
    ma.put("file_id", std::nullopt);  // stripped, as an attacker would, to look legacy
    ma.put("key_binding", std::nullopt);
    ma.put("key_header", foreign);
  }
  auto db = Database::open(a.path(), Options{.key = secret});
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST((code_of(db.error()) == ErrorCode::kCorruption), db.error().to_string());
  BOOST_TEST(!RawMeta(a.path()).get("key_binding").has_value());  // not legitimized
}

// The binding vouches only for itself: copying the key header together with its file id and
// binding (or stripping the binding, read-only) from another database made with the same
// secret used to open, and every lookup then answered "not found" and every count 0.
BOOST_AUTO_TEST_CASE(key_header_copied_with_its_binding_is_corruption) {
  for (bool strip : {false, true}) {
    BOOST_TEST_CONTEXT((strip ? "binding stripped" : "file id and binding copied")) {
      TempDir a, b;
      auto secret = test_key(9);
      {
        auto db = open_db(Mode::kEncrypted, a.path(), Options{.key = secret});
        must(db.insert_customer(sample_customer(1)));
      }
      { auto db = open_db(Mode::kEncrypted, b.path(), Options{.key = secret}); }
      {
        RawMeta mb(b.path());
        RawMeta ma(a.path());
        for (const char* k : {"key_header", "file_id", "key_binding"})
          ma.put(k, strip && std::string_view(k) != "key_header" ? std::nullopt : mb.get(k));
      }
      for (bool read_only : {true, false}) {
        auto db = Database::open(a.path(), Options{.read_only = read_only, .key = secret});
        BOOST_TEST(!db.has_value(), "read_only " << read_only);
        if (!db) BOOST_TEST((code_of(db.error()) == ErrorCode::kCorruption), db.error().to_string());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(change_key_keeps_the_binding) {
  TempDir dir;
  {
    auto db = open_db(Mode::kEncrypted, dir.path(), Options{.key = test_key(5)});
    must(db.insert_customer(sample_customer(1)));
    must(db.change_key(*test_key(6)));
  }
  auto db = open_db(Mode::kEncrypted, dir.path(), Options{.key = test_key(6)});
  require_clean(db);
}

BOOST_AUTO_TEST_CASE(empty_or_headerless_file_is_corruption) {
  for (int variant : {0, 1}) {
    TempDir dir;
    if (variant == 0) {
      std::ofstream(dir / "data.mdb");  // zero-length
    } else {
      // LMDB meta pages and a table, but no custdb header.
      MDB_env* env;
      BOOST_TEST_REQUIRE(mdb_env_create(&env) == 0);
      mdb_env_set_maxdbs(env, 8);
      BOOST_TEST_REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0600) == 0);
      MDB_txn* txn;
      MDB_dbi dbi;
      BOOST_TEST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
      BOOST_TEST_REQUIRE(mdb_dbi_open(txn, "other", MDB_CREATE, &dbi) == 0);
      BOOST_TEST_REQUIRE(mdb_txn_commit(txn) == 0);
      mdb_env_close(env);
    }
    const auto size = fs::file_size(dir / "data.mdb");
    for (Options o : {Options{}, Options{.create_if_missing = false}, Options{.read_only = true},
                      Options{.key = test_key()}}) {
      auto db = Database::open(dir.path(), o);
      BOOST_TEST_REQUIRE(!db.has_value(), "variant " << variant);
      BOOST_TEST((code_of(db.error()) == ErrorCode::kCorruption), db.error().to_string());
    }
    BOOST_TEST(fs::file_size(dir / "data.mdb") == size);  // nothing created over it
    // `custdb import` (and every command) refuses it as corruption, exit 1.
    std::ofstream(dir / "in.csv") << "id,name\n1,Ann\n";
    auto r = run_custdb({"import", "customers", (dir / "in.csv").string(), "--db", dir.path().string()}, {});
    BOOST_TEST(r.code == 1, r.err);
    BOOST_TEST(r.err.find("not a custdb database") != std::string::npos, r.err);
    BOOST_TEST(fs::file_size(dir / "data.mdb") == size);
    // `custdb stats` first reads the reader table through its own probe of the file.
    r = run_custdb({"stats", "--db", dir.path().string()}, {});
    BOOST_TEST(r.code == 1, r.err);
    BOOST_TEST(r.err.find("not a custdb database") != std::string::npos, r.err);
    if (variant == 0) {
      auto t = Database::reader_table(dir.path());
      BOOST_TEST_REQUIRE(!t.has_value());
      BOOST_TEST((code_of(t.error()) == ErrorCode::kCorruption), t.error().to_string());
    }
    BOOST_TEST(fs::file_size(dir / "data.mdb") == size);
  }
}

BOOST_AUTO_TEST_CASE(verify_and_writes_check_meta_values) {
  struct Case {
    const char* key;
    Bytes value;
    CheckProblem::Kind kind;
    ErrorCode write_error;
  };
  const Bytes max64(8, 0xFF);
  Bytes zero64(8, 0);
  const std::vector<Case> cases = {
      {"nonce_epoch", Bytes{0, 0, 1}, CheckProblem::Kind::kBadMetadata, ErrorCode::kCorruption},
      {"nonce_epoch", Bytes{0xFF, 0xFF, 0xFF, 0xFF}, CheckProblem::Kind::kBadMetadata,
       ErrorCode::kUnsupported},
      {"next_id.customer", max64, CheckProblem::Kind::kBadMetadata, ErrorCode::kCorruption},
      {"next_id.customer", zero64, CheckProblem::Kind::kBadMetadata, ErrorCode::kCorruption},
      {"next_id.customer", Bytes{1, 2, 3}, CheckProblem::Kind::kBadMetadata, ErrorCode::kCorruption},
      {"analytics.rules", to_bytes("garbage that is no envelope"), CheckProblem::Kind::kUndecodable,
       ErrorCode::kCorruption},
      {"extent.zzz", to_bytes("garbage that is no envelope"), CheckProblem::Kind::kUndecodable,
       ErrorCode::kCorruption},
  };
  for (Mode mode : {Mode::kPlain, Mode::kEncrypted}) {
    for (const Case& c : cases) {
      // nonce_epoch is only read (and written) by encrypted databases.
      if (mode == Mode::kPlain && std::string_view(c.key) == "nonce_epoch") continue;
      BOOST_TEST_CONTEXT(mode << " " << c.key << " of " << c.value.size() << " bytes") {
        TempDir dir;
        {
          auto db = open_db(mode, dir.path());
          must(db.insert_customer(sample_customer(1)));
        }
        { RawMeta(dir.path()).put(c.key, c.value); }
        auto db = open_db(mode, dir.path());
        auto report = must(db.check());
        BOOST_TEST_REQUIRE(!report.clean());
        bool named = false;
        for (const auto& p : report.problems)
          named |= p.kind == c.kind && p.what.find(c.key) != std::string::npos;
        BOOST_TEST(named);
        if (mode == Mode::kPlain) {  // `custdb verify` says so too, exit 1
          auto r = run_custdb({"verify", "--db", dir.path().string()}, {});
          BOOST_TEST(r.code == 1, r.err);
          BOOST_TEST(r.err.find(c.key) != std::string::npos, r.err);
        }
        const std::string_view key(c.key);
        if (key.starts_with("analytics.") || key.starts_with("extent.")) continue;  // not written
        auto w = db.insert_customer(sample_customer(2));
        BOOST_TEST_REQUIRE(!w.has_value());
        BOOST_TEST((code_of(w.error()) == c.write_error), w.error().to_string());
        BOOST_TEST(w.error().message().find(c.key) != std::string::npos, w.error().to_string());
      }
    }
  }
  // A damaged key binding or file id: the open itself refuses.
  for (const char* key : {"key_binding", "file_id"}) {
    TempDir dir;
    { auto db = open_db(Mode::kEncrypted, dir.path()); }
    {
      RawMeta m(dir.path());
      Bytes v = m.get(key).value();
      v[0] ^= 1;
      m.put(key, v);
    }
    auto db = Database::open(dir.path(), options_for(Mode::kEncrypted));
    BOOST_TEST_REQUIRE(!db.has_value(), key);
    BOOST_TEST((code_of(db.error()) == ErrorCode::kCorruption), key);
  }
}

// ---- point 10: no secret in dumpable memory ----------------------------------------------------

BOOST_AUTO_TEST_CASE(no_secret_in_dumpable_memory_after_open) {
  TempDir dir;
  // A random passphrase, made and kept in secret memory only.
  crypto::SecretBuffer raw(16);
  randombytes_buf(raw.data(), raw.size());
  crypto::SecretBuffer pass(2 * raw.size() + 1);
  sodium_bin2hex(reinterpret_cast<char*>(pass.data()), pass.size(), raw.data(), raw.size());
  const std::string_view pass_view(reinterpret_cast<const char*>(pass.data()), 2 * raw.size());
  BOOST_TEST_REQUIRE(in_dontdump_region(pass.data()),
                     "libsodium does not exclude its secret memory from core dumps here");
  {
    auto db = Database::open(dir.path(), Options{.key = KeyMaterial::from_passphrase(pass_view)});
    BOOST_TEST_REQUIRE(db.has_value());
  }
  // The expected KEK and data key, computed here in secret memory (their own stack leftovers
  // wiped before the database is opened again, so they cannot be what the scan finds).
  crypto::SecretBuffer kek(32), data_key(32);
  {
    auto header = crypto::KeyHeader::parse(RawMeta(dir.path()).get("key_header").value()).value();
    BOOST_TEST_REQUIRE(crypto_pwhash(kek.data(), kek.size(), pass_view.data(), pass_view.size(),
                                     header.salt.data(), header.opslimit, header.memlimit,
                                     crypto_pwhash_ALG_ARGON2ID13) == 0);
    const auto bytes = header.serialize();
    unsigned long long len = 0;
    BOOST_TEST_REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(
                           data_key.data(), &len, nullptr, header.wrapped_key.data(),
                           header.wrapped_key.size(), bytes.data(), 59, header.wrap_nonce.data(),
                           kek.data()) == 0);
  }
  sodium_stackzero(256 * 1024);
  // The open under test: the KEK is derived and the data key unwrapped again.
  auto db = Database::open(dir.path(), Options{.key = KeyMaterial::from_passphrase(pass_view)});
  BOOST_TEST_REQUIRE(db.has_value());
  // Scanned from another thread, so the scan's own calls do not overwrite what the open left
  // below this frame on this thread's stack (as a core dump taken now would show it).
  std::vector<int> found;
  std::thread([&] {
    found = count_in_dumpable_memory({kek.span(), data_key.span(), pass.span().first(32)});
  }).join();
  BOOST_TEST(found[0] == 0, "KEK copies in dumpable memory: " << found[0]);
  BOOST_TEST(found[1] == 0, "data key copies in dumpable memory: " << found[1]);
  BOOST_TEST(found[2] == 0, "passphrase copies in dumpable memory: " << found[2]);
}

BOOST_AUTO_TEST_CASE(cli_holds_secrets_without_core_dumps_or_copies) {
  TempDir dir;
  const std::string db = (dir / "db").string();
  // A random passphrase: the test keeps it in secret memory, the CLI gets it by environment.
  crypto::SecretBuffer raw(12);
  randombytes_buf(raw.data(), raw.size());
  crypto::SecretBuffer pass(2 * raw.size() + 1);
  sodium_bin2hex(reinterpret_cast<char*>(pass.data()), pass.size(), raw.data(), raw.size());
  const std::string_view pass_view(reinterpret_cast<const char*>(pass.data()), 2 * raw.size());
  { auto d = Database::open(db, Options{.key = KeyMaterial::from_passphrase(pass_view)}); BOOST_TEST_REQUIRE(d.has_value()); }
  crypto::SecretBuffer kek(32);
  {
    auto header = crypto::KeyHeader::parse(RawMeta(db).get("key_header").value()).value();
    BOOST_TEST_REQUIRE(crypto_pwhash(kek.data(), kek.size(), pass_view.data(), pass_view.size(),
                                     header.salt.data(), header.opslimit, header.memlimit,
                                     crypto_pwhash_ALG_ARGON2ID13) == 0);
  }
  sodium_stackzero(256 * 1024);

  // `custdb import customers -` opens the database, then blocks reading our pipe: the moment a
  // core dump of it would be taken in the reported attack.
  std::optional<Program> child;
  {
    RunOptions options{.stdin_pipe = true, .merge_output = true, .core_dumps = true};
    options.env["CUSTDB_PASSPHRASE"] = std::string(pass_view);  // the test's one copy
    child.emplace(cli_argv({"import", "customers", "-", "--format", "csv", "--db", db}), options);
    auto& copy = options.env["CUSTDB_PASSPHRASE"];
    sodium_memzero(copy.data(), copy.size());
  }
  const pid_t pid = child->pid();
  BOOST_TEST_REQUIRE(pid > 0);
  const std::string p = std::to_string(pid);
  bool blocked = false;
  for (int i = 0; i < 400 && !blocked; ++i) {
    std::ifstream wchan("/proc/" + p + "/wchan");
    std::string w;
    wchan >> w;
    blocked = w.find("pipe") != std::string::npos;
    if (!blocked) ::usleep(50'000);
  }
  BOOST_TEST(blocked, "custdb did not reach its stdin read");
  if (blocked) {
    std::ifstream limits("/proc/" + p + "/limits");
    std::string line, core_line;
    while (std::getline(limits, line))
      if (line.rfind("Max core file size", 0) == 0) core_line = line;
    std::istringstream fields(core_line.substr(std::strlen("Max core file size")));
    std::string soft, hard;
    fields >> soft >> hard;
    BOOST_TEST(soft == "0", core_line);
    // Not dumpable: /proc/<pid>/mem is closed to the same user (root may still read it).
    const int mem = ::open(("/proc/" + p + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (mem < 0) {
      BOOST_TEST((errno == EACCES || errno == EPERM));
    } else {
      ::close(mem);
      // Root: look inside. Neither the passphrase nor the KEK outside dump-excluded memory.
      const auto found = count_in_dumpable_memory({pass.span().first(pass_view.size()), kek.span()},
                                                  p, "CUSTDB_PASSPHRASE=");
      BOOST_TEST(found[0] == 0, "passphrase copies in custdb's dumpable memory: " << found[0]);
      BOOST_TEST(found[1] == 0, "KEK copies in custdb's dumpable memory: " << found[1]);
    }
  }
  BOOST_TEST(child->wait().exited);
}

// ---- point 11 and 15: a secret for a plaintext database -------------------------------------

BOOST_AUTO_TEST_CASE(secret_for_plaintext_database_is_authentication) {
  TempDir dir;
  const auto db_dir = dir / "db";
  {
    auto db = open_db(Mode::kPlain, db_dir);
    must(db.insert_customer(sample_customer(1)));
  }
  for (auto key : {test_key(), KeyMaterial::from_passphrase("secret")}) {
    for (bool read_only : {false, true}) {
      auto db = Database::open(db_dir, Options{.read_only = read_only, .key = key});
      BOOST_TEST_REQUIRE(!db.has_value());
      BOOST_TEST((code_of(db.error()) == ErrorCode::kAuthentication));
    }
  }
  // The CLI, whatever the secret's source: exit 3, and nothing written.
  std::ofstream(dir / "pass") << "secret\n";
  std::ofstream(dir / "key") << std::string(32, 'k');
  std::ofstream(dir / "in.csv") << "id,name\n7,Bob\n";
  const std::string db_s = db_dir.string(), csv = (dir / "in.csv").string();
  const std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>> runs = {
      {{"import", "customers", csv, "--db", db_s}, {{"CUSTDB_PASSPHRASE", "secret"}}},
      {{"import", "customers", csv, "--db", db_s, "--passphrase-file", (dir / "pass").string()}, {}},
      {{"import", "customers", csv, "--db", db_s, "--key-file", (dir / "key").string()}, {}},
      {{"get", "1", "--db", db_s}, {{"CUSTDB_PASSPHRASE", "secret"}}},
  };
  for (const auto& [args, env] : runs) {
    auto r = run_custdb(args, env);
    BOOST_TEST(r.code == 3, args[0] << ": " << r.err);
  }
  auto db = open_db(Mode::kPlain, db_dir);
  BOOST_TEST(must(db.begin_read()).counts().value().customers == 1u);
}

// ---- point 12: private file modes ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(created_files_are_private_whatever_the_umask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}}) {
    BOOST_TEST_CONTEXT("umask " << std::oct << mask) {
      const mode_t old = ::umask(mask);
      TempDir dir;
      const auto db_dir = dir / "a" / "b";
      {
        auto db = open_db(Mode::kEncrypted, db_dir);
        must(db.insert_customer(sample_customer(1)));
      }
      BOOST_TEST(mode_of(dir / "a") == 0700u);
      BOOST_TEST(mode_of(db_dir) == 0700u);
      for (const char* f : {"data.mdb", "lock.mdb", "custdb.lock"})
        BOOST_TEST(mode_of(db_dir / f) == 0600u, f);
      // rotate.tmp and its files, seen while the rotation runs.
      std::vector<unsigned> seen;
      must(rotate_data_key(db_dir, options_for(Mode::kEncrypted), [&](const RotationProgress&) {
        for (const char* f : {"", "data.mdb", "lock.mdb"}) seen.push_back(mode_of(db_dir / "rotate.tmp" / f));
      }, 1));
      BOOST_TEST_REQUIRE(seen.size() >= 3u);
      BOOST_TEST(seen[0] == 0700u);
      BOOST_TEST(seen[1] == 0600u);
      BOOST_TEST(seen[2] == 0600u);
      // export --out (the child inherits this umask).
      std::ofstream(dir / "key") << std::string(32, '\x07');
      auto r = run_custdb({"export", "customers", "--out", (dir / "out.csv").string(), "--db",
                        db_dir.string(), "--key-file", (dir / "key").string()}, {});
      BOOST_TEST(r.code == 0, r.err);
      BOOST_TEST(mode_of(dir / "out.csv") == 0600u);
      // Backups, plain and compact, into directories the backup creates.
      {
        auto db = open_db(Mode::kEncrypted, db_dir);
        must(db.backup(dir / "bk" / "plain"));
        must(db.backup(dir / "bkc", /*compact=*/true));
      }
      BOOST_TEST(mode_of(dir / "bk") == 0700u);
      BOOST_TEST(mode_of(dir / "bk" / "plain") == 0700u);
      BOOST_TEST(mode_of(dir / "bk" / "plain" / "data.mdb") == 0600u);
      BOOST_TEST(mode_of(dir / "bkc") == 0700u);
      BOOST_TEST(mode_of(dir / "bkc" / "data.mdb") == 0600u);
      BOOST_TEST(open_db(Mode::kEncrypted, dir / "bk" / "plain").begin_read().value().counts().value().customers == 1u);
      ::umask(old);
    }
  }
}

// A plain backup snapshots under LMDB's writer mutex: from the thread holding a WriteTxn it
// waited for itself for ever. Run in a child with an alarm so that a regression fails, not hangs.
BOOST_AUTO_TEST_CASE(backup_inside_a_write_transaction_fails_at_once) {
  TempDir dir;
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::alarm(10);
    int code = 1;
    {
      auto db = Database::open(dir / "db");
      if (db) {
        auto w = db->begin_write();
        auto s = db->backup(dir / "copy");
        auto c = db->backup(dir / "compact", /*compact=*/true);  // needs no writer lock
        if (w && !s && s.error().code() == ErrorCode::kFailedPrecondition && c) code = 0;
      }
    }
    ::_exit(code);
  }
  int status = 0;
  BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_TEST(WIFEXITED(status), "the nested backup hung (killed by signal " << WTERMSIG(status) << ")");
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  // Outside the transaction the plain copy works.
  auto db = open_db(Mode::kPlain, dir / "db");
  must(db.backup(dir / "copy2"));
}

// ---- point 15: smaller error-model points ----------------------------------------------------

BOOST_AUTO_TEST_CASE(failed_create_leaves_nothing_behind) {
  TempDir dir;
  // An empty passphrase fails after LMDB created its files.
  auto db = Database::open(dir / "x" / "y", Options{.key = KeyMaterial::from_passphrase("")});
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST((code_of(db.error()) == ErrorCode::kInvalidArgument));
  BOOST_TEST(!fs::exists(dir / "x"));
  // In an existing (user's) directory: the directory stays, nothing in it.
  fs::create_directories(dir / "mine");
  db = Database::open(dir / "mine", Options{.key = KeyMaterial::from_passphrase("")});
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST(fs::is_directory(dir / "mine"));
  BOOST_TEST(fs::is_empty(dir / "mine"));
  db = Database::open(dir / "z", Options{.base_currency = "1$"});
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST(!fs::exists(dir / "z"));
}

BOOST_AUTO_TEST_CASE(base_currency_is_checked_at_open) {
  TempDir dir;
  { auto db = open_db(Mode::kPlain, dir.path(), Options{.base_currency = "EUR"}); }
  {
    auto db = open_db(Mode::kPlain, dir.path());  // not given: the file's
    BOOST_TEST(db.info().base_currency == "EUR");
  }
  { auto db = open_db(Mode::kPlain, dir.path(), Options{.base_currency = "eur"}); }
  auto db = Database::open(dir.path(), Options{.base_currency = "USD"});
  BOOST_TEST_REQUIRE(!db.has_value());
  BOOST_TEST((code_of(db.error()) == ErrorCode::kInvalidArgument));
  BOOST_TEST(db.error().message().find("EUR") != std::string::npos);
  BOOST_TEST(db.error().message().find("USD") != std::string::npos);
  TempDir fresh;
  BOOST_TEST(open_db(Mode::kPlain, fresh.path()).info().base_currency == "USD");
}

BOOST_AUTO_TEST_CASE(throwing_callback_is_an_error_not_an_exception) {
  TempDir dir;
  auto db = open_db(Mode::kPlain, dir.path());
  const CustomerId id = must(db.insert_customer(sample_customer(1)));
  const TransactionId t = must(db.add_transaction(sample_txn(id, 500, "2025-01-01T00:00:00Z")));
  auto w = must(db.begin_write());
  Result<bool> r = false;
  BOOST_CHECK_NO_THROW(r = w.update_customer(id, [](Customer& c) {
    c.name = "changed";
    throw std::runtime_error("boom");
  }));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((code_of(r.error()) == ErrorCode::kInvalidArgument));
  BOOST_TEST(r.error().message().find("boom") != std::string::npos);
  BOOST_CHECK_NO_THROW(r = w.amend_transaction(t, [](Transaction& x) {
    x.amount = 1;
    throw 42;
  }));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((code_of(r.error()) == ErrorCode::kInvalidArgument));
  // The transaction is still usable and the throwing calls changed nothing.
  BOOST_TEST(must(w.update_customer(id, [](Customer& c) { c.tags = {"ok"}; })));
  must(w.commit());
  auto rd = must(db.begin_read());
  auto c = must(rd.get_customer(id)).value();
  BOOST_TEST(c.name == sample_customer(1).name);
  BOOST_TEST(must(rd.get_transaction(t)).value().amount == 500);
}

BOOST_AUTO_TEST_SUITE_END()
