#include "duckdb_engine.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sql_engine.h"
#include "synthetic.h"

namespace custdb::bench {
namespace {

// The customers' CSV columns and their DuckDB types (the table adds the four aggregates).
constexpr std::pair<const char*, const char*> kCsvCustomerColumns[] = {
    {"id", "BIGINT"}, {"external_ref", "VARCHAR"}, {"type", "INTEGER"}, {"name", "VARCHAR"},
    {"email", "VARCHAR"}, {"phone", "VARCHAR"}, {"birth_date", "INTEGER"}, {"gender", "INTEGER"},
    {"city", "VARCHAR"}, {"region", "VARCHAR"}, {"country", "VARCHAR"}, {"tier", "INTEGER"},
    {"stage", "INTEGER"}, {"income_band", "INTEGER"}, {"risk", "INTEGER"},
    {"consent_email", "INTEGER"}, {"consent_email_date", "INTEGER"}, {"consent_sms", "INTEGER"},
    {"consent_sms_date", "INTEGER"}, {"consent_phone", "INTEGER"},
    {"consent_phone_date", "INTEGER"}, {"created_at", "BIGINT"}, {"updated_at", "BIGINT"},
    {"p_alive", "BIGINT"}, {"expected_purchases", "BIGINT"}, {"expected_value", "BIGINT"},
    {"clv", "BIGINT"}, {"r_score", "INTEGER"}, {"f_score", "INTEGER"}, {"m_score", "INTEGER"},
    {"scores_as_of", "INTEGER"}};
// The aggregates as DuckDB computes them from its transactions table (alias a).
constexpr std::pair<const char*, const char*> kAggregates[] = {
    {"txn_count", "coalesce(a.n, 0)"}, {"total_amount", "coalesce(a.s, 0)"},
    {"first_txn_at", "a.f"}, {"last_txn_at", "a.l"}};

// A CSV writer: fields separated by commas, text quoted ("" inside), NULL an empty field.
class CsvOut {
 public:
  explicit CsvOut(const fs::path& p) : out_(p, std::ios::binary) {
    if (!out_) throw std::runtime_error("cannot write " + p.string());
  }
  CsvOut& raw(const std::string& s) {
    sep();
    out_ << s;
    return *this;
  }
  CsvOut& num(long long v) {
    sep();
    out_ << v;
    return *this;
  }
  CsvOut& text(const std::string& s) {
    sep();
    out_ << '"';
    for (char c : s) {
      if (c == '"') out_ << '"';
      out_ << c;
    }
    out_ << '"';
    return *this;
  }
  template <class T>
  CsvOut& opt(const std::optional<T>& v) {
    if (v) return num(static_cast<long long>(*v));
    return raw("");
  }
  void end() {
    out_ << '\n';
    first_ = true;
  }
  void close() {
    out_.close();
    if (!out_) throw std::runtime_error("CSV write failed");
  }

 private:
  void sep() {
    if (!first_) out_ << ',';
    first_ = false;
  }
  std::ofstream out_;
  bool first_ = true;
};

template <class D>
std::optional<long long> days(const std::optional<D>& d) {
  if (!d) return std::nullopt;
  return d->time_since_epoch().count();
}

std::string header(std::initializer_list<const char*> names) {
  std::string h;
  for (const char* n : names) {
    if (!h.empty()) h += ',';
    h += n;
  }
  return h;
}

}  // namespace

CsvBase write_csv_base(const Args& a, const fs::path& dir) {
  fs::create_directories(dir);
  CsvBase b{dir / "customers.csv", dir / "customer_tags.csv", dir / "transactions.csv",
            dir / "relationships.csv"};
  auto t0 = Clock::now();
  CsvOut cust(b.customers), tags(b.tags), txns(b.transactions), rels(b.relationships);
  {
    std::string h;
    for (const auto& [name, type] : kCsvCustomerColumns) {
      if (!h.empty()) h += ',';
      h += name;
    }
    cust.raw(h).end();
  }
  tags.raw("customer_id,tag").end();
  txns.raw(header({"id", "customer_id", "ts", "amount", "currency", "base_amount", "kind",
                   "channel", "product", "description"})).end();
  rels.raw(header({"id", "from_id", "to_id", "type", "custom_type", "since"})).end();

  synthetic::Generator gen;
  std::uint64_t txn_id = 0;
  for (std::uint64_t i = 1; i <= a.customers; ++i) {
    const Customer c = gen.customer(i);
    const auto sc = gen.scores(c);
    cust.num(static_cast<long long>(c.id)).text(c.external_ref).num(static_cast<int>(c.type)).text(c.name);
    if (c.email) cust.text(*c.email); else cust.raw("");
    if (c.phone) cust.text(*c.phone); else cust.raw("");
    cust.opt(days(c.birth_date)).num(static_cast<int>(c.gender));
    cust.text(c.address.city).text(c.address.region).text(c.address.country);
    cust.num(static_cast<int>(c.tier)).num(static_cast<int>(c.stage)).opt(c.income_band)
        .num(static_cast<int>(c.risk));
    for (const Consent* k : {&c.consent_email, &c.consent_sms, &c.consent_phone})
      cust.num(static_cast<int>(k->state)).opt(days(k->date));
    cust.num(c.created_at.time_since_epoch().count()).num(c.created_at.time_since_epoch().count());
    if (sc) {
      cust.num(to_millionths(sc->p_alive)).num(to_millionths(sc->expected_purchases))
          .num(sc->expected_value).num(sc->clv).num(sc->r_score).num(sc->f_score)
          .num(sc->m_score).num(sc->as_of.time_since_epoch().count());
    } else {
      for (int k = 0; k < 8; ++k) cust.raw("");
    }
    cust.end();
    for (const auto& t : c.tags) tags.num(static_cast<long long>(c.id)).text(t).end();
    for (const auto& t : gen.transactions(i, a.txns_per_customer)) {
      txns.num(static_cast<long long>(++txn_id)).num(static_cast<long long>(t.customer_id))
          .num(t.ts.time_since_epoch().count()).num(t.amount).text(t.currency)
          .num(t.base_amount.value_or(t.amount)).num(static_cast<int>(t.kind))
          .num(static_cast<int>(t.channel)).text(t.product).text(t.description).end();
    }
    b.rows += 1 + a.txns_per_customer;
  }
  std::uint64_t rel_id = 0;
  for (const auto& r : gen.relationships(a.customers)) {
    rels.num(static_cast<long long>(++rel_id)).num(static_cast<long long>(r.from))
        .num(static_cast<long long>(r.to)).num(static_cast<int>(r.type)).raw("")
        .opt(days(r.since)).end();
    ++b.rows;
  }
  cust.close(), tags.close(), txns.close(), rels.close();
  b.seconds = seconds_since(t0);
  for (const auto& p : {b.customers, b.tags, b.transactions, b.relationships}) b.bytes += fs::file_size(p);
  return b;
}

std::string duckdb_library(const Args& a) {
  if (!a.duckdb_lib.empty()) return a.duckdb_lib;
  const char* env = std::getenv("CUSTDB_DUCKDB_LIB");
  return env ? env : "";
}

double load_duckdb(DuckDb& db, const CsvBase& csv) {
  auto q = [](const fs::path& p) {  // a SQL string literal
    std::string s = "'";
    for (char c : p.string()) {
      if (c == '\'') s += '\'';
      s += c;
    }
    return s += '\'';
  };
  const std::string opts = "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"')";
  std::string table = "CREATE TABLE customers (", csv_columns, select;
  {
    std::stringstream ss(kCustomerColumns);
    std::string name;
    while (std::getline(ss, name, ',')) {
      name.erase(0, name.find_first_not_of(' '));
      std::string type, expr;
      for (const auto& [n, t] : kCsvCustomerColumns)
        if (name == n) type = t, expr = "c." + name;
      for (const auto& [n, e] : kAggregates)
        if (name == n) type = "BIGINT", expr = e;
      if (type.empty()) throw std::runtime_error("duckdb schema: no type for " + name);
      table += name + " " + type + (name == "id" ? " PRIMARY KEY" : "") + ", ";
      if (!select.empty()) select += ", ";
      select += expr;
    }
    table.resize(table.size() - 2);
    table += ")";
    for (const auto& [n, t] : kCsvCustomerColumns)
      csv_columns.append(csv_columns.empty() ? "" : ", ").append("'").append(n).append("': '").append(t).append("'");
  }
  auto t0 = Clock::now();
  db.exec("CREATE TABLE transactions (id BIGINT, customer_id BIGINT, ts BIGINT, amount BIGINT, "
          "currency VARCHAR, base_amount BIGINT, kind INTEGER, channel INTEGER, product VARCHAR, "
          "description VARCHAR)");
  db.exec("COPY transactions FROM " + q(csv.transactions) + " " + opts);
  db.exec(table);
  db.exec("INSERT INTO customers (" + std::string(kCustomerColumns) + ") SELECT " + select +
          " FROM read_csv(" + q(csv.customers) +
          ", header = true, delim = ',', quote = '\"', escape = '\"', columns = {" + csv_columns +
          "}) c LEFT JOIN (SELECT customer_id, count(*) AS n, sum(amount) AS s, min(ts) AS f, "
          "max(ts) AS l FROM transactions GROUP BY customer_id) a ON a.customer_id = c.id "
          "ORDER BY c.id");
  db.exec("CREATE TABLE customer_tags (customer_id BIGINT, tag VARCHAR)");
  db.exec("COPY customer_tags FROM " + q(csv.tags) + " " + opts);
  db.exec("CREATE TABLE relationships (id BIGINT, from_id BIGINT, to_id BIGINT, type INTEGER, "
          "custom_type VARCHAR, since INTEGER)");
  db.exec("COPY relationships FROM " + q(csv.relationships) + " " + opts);
  db.exec("CREATE INDEX customers_email ON customers(email)");
  db.exec("CREATE INDEX tags_customer ON customer_tags(customer_id)");
  db.exec("CREATE INDEX txn_customer ON transactions(customer_id)");
  db.exec("CHECKPOINT");
  return seconds_since(t0);
}

}  // namespace custdb::bench
