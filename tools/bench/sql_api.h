// SQLite and SQLCipher in one process. Both libraries export the same symbols, so neither is
// linked: each is dlopen()ed with RTLD_LOCAL | RTLD_DEEPBIND and called through this table.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <stdexcept>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace custdb::bench {

struct SqlApi {
  int (*open_v2)(const char*, sqlite3**, int, const char*);
  int (*close)(sqlite3*);
  int (*exec)(sqlite3*, const char*, int (*)(void*, int, char**, char**), void*, char**);
  int (*prepare_v2)(sqlite3*, const char*, int, sqlite3_stmt**, const char**);
  int (*step)(sqlite3_stmt*);
  int (*reset)(sqlite3_stmt*);
  int (*finalize)(sqlite3_stmt*);
  int (*bind_int64)(sqlite3_stmt*, int, long long);
  int (*bind_text)(sqlite3_stmt*, int, const char*, int, void (*)(void*));
  int (*bind_null)(sqlite3_stmt*, int);
  long long (*column_int64)(sqlite3_stmt*, int);
  const unsigned char* (*column_text)(sqlite3_stmt*, int);
  int (*column_type)(sqlite3_stmt*, int);
  // The library's own allocation statistics (SQLITE_DEFAULT_MEMSTATUS, on in Debian's builds):
  // bytes in use, and the high-water mark since the last reset (reset when the flag is 1).
  long long (*memory_used)();
  long long (*memory_highwater)(int);
  const char* (*errmsg)(sqlite3*);
  const char* (*libversion)();

  static SqlApi load(const char* library) {
    void* h = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) throw std::runtime_error(std::string("dlopen ") + library + ": " + dlerror());
    SqlApi a;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) throw std::runtime_error(std::string("dlsym ") + name);
    };
    sym(a.open_v2, "sqlite3_open_v2");
    sym(a.close, "sqlite3_close");
    sym(a.exec, "sqlite3_exec");
    sym(a.prepare_v2, "sqlite3_prepare_v2");
    sym(a.step, "sqlite3_step");
    sym(a.reset, "sqlite3_reset");
    sym(a.finalize, "sqlite3_finalize");
    sym(a.bind_int64, "sqlite3_bind_int64");
    sym(a.bind_text, "sqlite3_bind_text");
    sym(a.bind_null, "sqlite3_bind_null");
    sym(a.column_int64, "sqlite3_column_int64");
    sym(a.column_text, "sqlite3_column_text");
    sym(a.column_type, "sqlite3_column_type");
    sym(a.memory_used, "sqlite3_memory_used");
    sym(a.memory_highwater, "sqlite3_memory_highwater");
    sym(a.errmsg, "sqlite3_errmsg");
    sym(a.libversion, "sqlite3_libversion");
    return a;
  }
};

constexpr int kSqliteOk = 0, kSqliteRow = 100, kSqliteDone = 101, kSqliteNull = 5;
constexpr int kOpenReadWrite = 0x2, kOpenCreate = 0x4;
inline void (*const kTransient)(void*) = reinterpret_cast<void (*)(void*)>(-1);

// A connection with the few conveniences the benchmark needs.
class SqlDb {
 public:
  SqlDb(const SqlApi& api, const std::string& path) : api_(api) {
    if (api_.open_v2(path.c_str(), &db_, kOpenReadWrite | kOpenCreate, nullptr) != kSqliteOk)
      throw std::runtime_error("open " + path);
  }
  ~SqlDb() { api_.close(db_); }
  SqlDb(const SqlDb&) = delete;
  SqlDb& operator=(const SqlDb&) = delete;

  const SqlApi& api() const { return api_; }

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (api_.exec(db_, sql.c_str(), nullptr, nullptr, &err) != kSqliteOk)
      throw std::runtime_error("sql: " + std::string(err ? err : "?") + " in " + sql.substr(0, 200));
  }

  class Stmt {
   public:
    Stmt(SqlDb& db, const std::string& sql) : api_(db.api_) {
      if (api_.prepare_v2(db.db_, sql.c_str(), -1, &s_, nullptr) != kSqliteOk)
        throw std::runtime_error("prepare: " + std::string(api_.errmsg(db.db_)) + " in " + sql);
    }
    ~Stmt() { api_.finalize(s_); }
    Stmt& bind(int i, long long v) { api_.bind_int64(s_, i, v); return *this; }
    Stmt& bind(int i, const std::string& v) { api_.bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), kTransient); return *this; }
    Stmt& bind_null(int i) { api_.bind_null(s_, i); return *this; }
    bool row() {
      int rc = api_.step(s_);
      if (rc == kSqliteRow) return true;
      if (rc != kSqliteDone) throw std::runtime_error("step failed: " + std::to_string(rc));
      return false;
    }
    void run() { while (row()) {} reset(); }
    void reset() { api_.reset(s_); }
    long long col(int i) { return api_.column_int64(s_, i); }
    __int128 wide(int i) { return col(i); }  // SQLite's integers are 64-bit
    bool is_null(int i) { return api_.column_type(s_, i) == kSqliteNull; }
    std::string text(int i) {
      auto* t = api_.column_text(s_, i);
      return t ? reinterpret_cast<const char*>(t) : "";
    }

   private:
    const SqlApi& api_;
    sqlite3_stmt* s_ = nullptr;
  };

 private:
  const SqlApi& api_;
  sqlite3* db_ = nullptr;
};

}  // namespace custdb::bench
