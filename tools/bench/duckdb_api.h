// DuckDB for the benchmark, through its C API, dlopen()ed (RTLD_LOCAL) from the libduckdb.so
// that tools/bench/setup_duckdb.sh takes out of the npm package @duckdb/node-bindings-linux-x64:
// never linked, so nothing builds or runs against DuckDB but this engine of suite full.
//
// Only what the benchmark calls is declared, with the types of duckdb.h (DuckDB 1.x, whose C
// API is stable): opaque handles are pointers, duckdb_result is the six-word struct of the
// header (passed by pointer, fetch_chunk takes it by value). Results are read chunk by chunk
// (duckdb_fetch_chunk), the API's non-deprecated way; DuckRow reads a row of a chunk by column
// type, so the engine's SQL decides the types (BIGINT, INTEGER, HUGEINT, VARCHAR).
//
// Not thread-safe: one DuckDb (database + connection) on one thread.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace custdb::bench {

namespace duck {
using idx_t = std::uint64_t;
using database = void*;
using connection = void*;
using prepared_statement = void*;
using config = void*;
using data_chunk = void*;
using vector = void*;
using appender = void*;
enum state : int { kSuccess = 0, kError = 1 };
struct result {  // duckdb_result: every field deprecated but its size and layout are the ABI
  idx_t deprecated_column_count, deprecated_row_count, deprecated_rows_changed;
  void* deprecated_columns;
  char* deprecated_error_message;
  void* internal_data;
};
struct hugeint {
  std::uint64_t lower;
  std::int64_t upper;
};
// duckdb_string_t: 16 bytes; up to 12 bytes inline, else a pointer.
struct string_t {
  std::uint32_t length;
  char prefix_or_inline[12];
  const char* data() const {
    if (length <= 12) return prefix_or_inline;
    const char* p;
    std::memcpy(&p, prefix_or_inline + 4, sizeof p);
    return p;
  }
};
// duckdb_type values (duckdb.h, stable since 1.0) of the columns this benchmark reads.
enum type : int {
  kTinyInt = 2, kSmallInt = 3, kInteger = 4, kBigInt = 5, kUBigInt = 9, kDouble = 11,
  kHugeInt = 16, kVarchar = 17,
};
}  // namespace duck

struct DuckApi {
  duck::state (*open_ext)(const char*, duck::database*, duck::config, char**);
  void (*close)(duck::database*);
  duck::state (*connect)(duck::database, duck::connection*);
  void (*disconnect)(duck::connection*);
  duck::state (*create_config)(duck::config*);
  duck::state (*set_config)(duck::config, const char*, const char*);
  void (*destroy_config)(duck::config*);
  const char* (*library_version)();
  void (*free)(void*);
  duck::state (*query)(duck::connection, const char*, duck::result*);
  void (*destroy_result)(duck::result*);
  const char* (*result_error)(duck::result*);
  duck::idx_t (*column_count)(duck::result*);
  int (*column_type)(duck::result*, duck::idx_t);
  duck::state (*prepare)(duck::connection, const char*, duck::prepared_statement*);
  const char* (*prepare_error)(duck::prepared_statement);
  void (*destroy_prepare)(duck::prepared_statement*);
  duck::state (*bind_int64)(duck::prepared_statement, duck::idx_t, std::int64_t);
  duck::state (*bind_varchar)(duck::prepared_statement, duck::idx_t, const char*);
  duck::state (*execute_prepared)(duck::prepared_statement, duck::result*);
  duck::data_chunk (*fetch_chunk)(duck::result);
  duck::idx_t (*data_chunk_get_size)(duck::data_chunk);
  duck::vector (*data_chunk_get_vector)(duck::data_chunk, duck::idx_t);
  void (*destroy_data_chunk)(duck::data_chunk*);
  void* (*vector_get_data)(duck::vector);
  std::uint64_t* (*vector_get_validity)(duck::vector);
  duck::state (*appender_create)(duck::connection, const char*, const char*, duck::appender*);
  const char* (*appender_error)(duck::appender);
  duck::state (*appender_destroy)(duck::appender*);  // flushes, then frees
  duck::state (*appender_end_row)(duck::appender);
  duck::state (*append_int64)(duck::appender, std::int64_t);
  duck::state (*append_varchar_length)(duck::appender, const char*, duck::idx_t);
  duck::state (*append_null)(duck::appender);

  // Throws std::runtime_error naming what failed (a missing file, a missing symbol).
  static DuckApi load(const std::string& library) {
    void* h = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) throw std::runtime_error("dlopen " + library + ": " + dlerror());
    DuckApi a;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) throw std::runtime_error(std::string("dlsym ") + name + " in " + library);
    };
    sym(a.open_ext, "duckdb_open_ext");
    sym(a.close, "duckdb_close");
    sym(a.connect, "duckdb_connect");
    sym(a.disconnect, "duckdb_disconnect");
    sym(a.create_config, "duckdb_create_config");
    sym(a.set_config, "duckdb_set_config");
    sym(a.destroy_config, "duckdb_destroy_config");
    sym(a.library_version, "duckdb_library_version");
    sym(a.free, "duckdb_free");
    sym(a.query, "duckdb_query");
    sym(a.destroy_result, "duckdb_destroy_result");
    sym(a.result_error, "duckdb_result_error");
    sym(a.column_count, "duckdb_column_count");
    sym(a.column_type, "duckdb_column_type");
    sym(a.prepare, "duckdb_prepare");
    sym(a.prepare_error, "duckdb_prepare_error");
    sym(a.destroy_prepare, "duckdb_destroy_prepare");
    sym(a.bind_int64, "duckdb_bind_int64");
    sym(a.bind_varchar, "duckdb_bind_varchar");
    sym(a.execute_prepared, "duckdb_execute_prepared");
    sym(a.fetch_chunk, "duckdb_fetch_chunk");
    sym(a.data_chunk_get_size, "duckdb_data_chunk_get_size");
    sym(a.data_chunk_get_vector, "duckdb_data_chunk_get_vector");
    sym(a.destroy_data_chunk, "duckdb_destroy_data_chunk");
    sym(a.vector_get_data, "duckdb_vector_get_data");
    sym(a.vector_get_validity, "duckdb_vector_get_validity");
    sym(a.appender_create, "duckdb_appender_create");
    sym(a.appender_error, "duckdb_appender_error");
    sym(a.appender_destroy, "duckdb_appender_destroy");
    sym(a.appender_end_row, "duckdb_appender_end_row");
    sym(a.append_int64, "duckdb_append_int64");
    sym(a.append_varchar_length, "duckdb_append_varchar_length");
    sym(a.append_null, "duckdb_append_null");
    return a;
  }
};

// One row of a result chunk: values by column index, converted from the column's type.
// Valid during the callback of DuckDb::Stmt::each / DuckDb::each only.
class DuckRow {
 public:
  struct Column {
    int type;
    const void* data;
    const std::uint64_t* validity;  // null: every row valid
  };
  DuckRow(const std::vector<Column>& cols, duck::idx_t row) : cols_(cols), row_(row) {}

  bool is_null(int i) const {
    const auto* v = cols_[i].validity;
    return v && !((v[row_ / 64] >> (row_ % 64)) & 1);
  }
  // Any integer column as int64 (a HUGEINT must fit).
  long long col(int i) const {
    const Column& c = cols_[i];
    switch (c.type) {
      case duck::kTinyInt: return static_cast<const std::int8_t*>(c.data)[row_];
      case duck::kSmallInt: return static_cast<const std::int16_t*>(c.data)[row_];
      case duck::kInteger: return static_cast<const std::int32_t*>(c.data)[row_];
      case duck::kBigInt: return static_cast<const std::int64_t*>(c.data)[row_];
      case duck::kUBigInt: return static_cast<long long>(static_cast<const std::uint64_t*>(c.data)[row_]);
      case duck::kHugeInt: return static_cast<long long>(wide(i));
      default: throw std::runtime_error("duckdb: column " + std::to_string(i) + " of type " +
                                        std::to_string(c.type) + " read as an integer");
    }
  }
  // HUGEINT (sum of BIGINT) or any integer column, 128 bits.
  __int128 wide(int i) const {
    const Column& c = cols_[i];
    if (c.type != duck::kHugeInt) return col(i);
    const auto& h = static_cast<const duck::hugeint*>(c.data)[row_];
    return static_cast<__int128>(static_cast<unsigned __int128>(static_cast<__int128>(h.upper)) << 64 | h.lower);
  }
  std::string text(int i) const {
    const Column& c = cols_[i];
    if (c.type != duck::kVarchar)
      throw std::runtime_error("duckdb: column " + std::to_string(i) + " of type " +
                               std::to_string(c.type) + " read as text");
    if (is_null(i)) return "";
    const auto& s = static_cast<const duck::string_t*>(c.data)[row_];
    return std::string(s.data(), s.length);
  }

 private:
  const std::vector<Column>& cols_;
  duck::idx_t row_;
};

// A database file and one connection, opened with the given settings (name → value, e.g.
// threads → 2).
class DuckDb {
 public:
  DuckDb(const DuckApi& api, const std::string& path,
         const std::vector<std::pair<std::string, std::string>>& settings)
      : api_(api) {
    duck::config cfg = nullptr;
    if (api_.create_config(&cfg) != duck::kSuccess) throw std::runtime_error("duckdb config");
    for (const auto& [k, v] : settings)
      if (api_.set_config(cfg, k.c_str(), v.c_str()) != duck::kSuccess) {
        api_.destroy_config(&cfg);
        throw std::runtime_error("duckdb setting " + k + " = " + v);
      }
    char* err = nullptr;
    duck::state st = api_.open_ext(path.c_str(), &db_, cfg, &err);
    api_.destroy_config(&cfg);
    if (st != duck::kSuccess) {
      std::string m = err ? err : "?";
      if (err) api_.free(err);
      throw std::runtime_error("duckdb open " + path + ": " + m);
    }
    if (api_.connect(db_, &conn_) != duck::kSuccess) {
      api_.close(&db_);
      throw std::runtime_error("duckdb connect " + path);
    }
  }
  ~DuckDb() {
    api_.disconnect(&conn_);
    api_.close(&db_);
  }
  DuckDb(const DuckDb&) = delete;
  DuckDb& operator=(const DuckDb&) = delete;

  // Runs one or more statements, discarding results.
  void exec(const std::string& sql) {
    duck::result r{};
    duck::state st = api_.query(conn_, sql.c_str(), &r);
    std::string err = st == duck::kSuccess ? "" : api_.result_error(&r) ? api_.result_error(&r) : "?";
    api_.destroy_result(&r);
    if (st != duck::kSuccess) throw std::runtime_error("duckdb: " + err + " in " + sql.substr(0, 300));
  }

  // Runs a query and calls fn(const DuckRow&) for each row.
  template <class Fn>
  void each(const std::string& sql, Fn&& fn) {
    duck::result r{};
    duck::state st = api_.query(conn_, sql.c_str(), &r);
    consume(st, r, sql, fn);
  }

  // Appends rows to one table (DuckDB's appender: bulk inserts that bypass SQL). Values are
  // given column by column, then end(); close() flushes and reports a failure by throwing.
  class Appender {
   public:
    Appender(DuckDb& db, const std::string& table) : api_(db.api_), table_(table) {
      if (api_.appender_create(db.conn_, nullptr, table.c_str(), &a_) != duck::kSuccess) {
        std::string m = a_ && api_.appender_error(a_) ? api_.appender_error(a_) : "?";
        api_.appender_destroy(&a_);
        throw std::runtime_error("duckdb appender " + table + ": " + m);
      }
    }
    ~Appender() {
      if (a_) api_.appender_destroy(&a_);
    }
    Appender(const Appender&) = delete;
    Appender& operator=(const Appender&) = delete;
    Appender& num(long long v) { return check(api_.append_int64(a_, v)); }
    Appender& text(const std::string& v) { return check(api_.append_varchar_length(a_, v.data(), v.size())); }
    Appender& null() { return check(api_.append_null(a_)); }
    template <class T>
    Appender& opt(const std::optional<T>& v) {
      return v ? num(static_cast<long long>(*v)) : null();
    }
    void end() { check(api_.appender_end_row(a_)); }
    void close() {
      duck::state st = api_.appender_destroy(&a_);
      a_ = nullptr;
      if (st != duck::kSuccess) throw std::runtime_error("duckdb appender " + table_ + ": flush failed");
    }

   private:
    Appender& check(duck::state st) {
      if (st != duck::kSuccess) {
        const char* m = api_.appender_error(a_);
        throw std::runtime_error("duckdb appender " + table_ + ": " + (m ? m : "?"));
      }
      return *this;
    }
    const DuckApi& api_;
    std::string table_;
    duck::appender a_ = nullptr;
  };

  class Stmt {
   public:
    Stmt(DuckDb& db, std::string sql) : db_(db), sql_(std::move(sql)) {
      if (db_.api_.prepare(db_.conn_, sql_.c_str(), &s_) != duck::kSuccess) {
        std::string m = db_.api_.prepare_error(s_) ? db_.api_.prepare_error(s_) : "?";
        db_.api_.destroy_prepare(&s_);
        throw std::runtime_error("duckdb prepare: " + m + " in " + sql_);
      }
    }
    ~Stmt() { db_.api_.destroy_prepare(&s_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    // Parameters are 1-based, like $1 in the SQL.
    Stmt& bind(int i, long long v) {
      if (db_.api_.bind_int64(s_, i, v) != duck::kSuccess) throw std::runtime_error("duckdb bind in " + sql_);
      return *this;
    }
    Stmt& bind(int i, const std::string& v) {
      if (db_.api_.bind_varchar(s_, i, v.c_str()) != duck::kSuccess) throw std::runtime_error("duckdb bind in " + sql_);
      return *this;
    }
    // Executes with the bound parameters and calls fn(const DuckRow&) for each row.
    template <class Fn>
    void each(Fn&& fn) {
      duck::result r{};
      duck::state st = db_.api_.execute_prepared(s_, &r);
      db_.consume(st, r, sql_, fn);
    }

   private:
    DuckDb& db_;
    std::string sql_;
    duck::prepared_statement s_ = nullptr;
  };

 private:
  template <class Fn>
  void consume(duck::state st, duck::result& r, const std::string& sql, Fn& fn) {
    struct Guard {
      const DuckApi& api;
      duck::result& r;
      ~Guard() { api.destroy_result(&r); }
    } guard{api_, r};
    if (st != duck::kSuccess) {
      const char* e = api_.result_error(&r);
      throw std::runtime_error("duckdb: " + std::string(e ? e : "?") + " in " + sql.substr(0, 300));
    }
    const duck::idx_t ncol = api_.column_count(&r);
    std::vector<int> types(ncol);
    for (duck::idx_t c = 0; c < ncol; ++c) types[c] = api_.column_type(&r, c);
    std::vector<DuckRow::Column> cols(ncol);
    while (duck::data_chunk chunk = api_.fetch_chunk(r)) {
      const duck::idx_t n = api_.data_chunk_get_size(chunk);
      for (duck::idx_t c = 0; c < ncol; ++c) {
        duck::vector v = api_.data_chunk_get_vector(chunk, c);
        cols[c] = {types[c], api_.vector_get_data(v), api_.vector_get_validity(v)};
      }
      try {
        for (duck::idx_t row = 0; row < n; ++row) fn(DuckRow(cols, row));
      } catch (...) {
        api_.destroy_data_chunk(&chunk);
        throw;
      }
      api_.destroy_data_chunk(&chunk);
    }
  }

  const DuckApi& api_;
  duck::database db_ = nullptr;
  duck::connection conn_ = nullptr;
};

}  // namespace custdb::bench
