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
  CsvOut& null() { return raw(""); }
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

// One row of each table, in the CSV's column order, to a CsvOut or a DuckDb::Appender.
template <class W>
void customer_row(W& w, const Customer& c, const std::optional<Scores>& sc) {
  w.num(static_cast<long long>(c.id)).text(c.external_ref).num(static_cast<int>(c.type)).text(c.name);
  if (c.email) w.text(*c.email); else w.null();
  if (c.phone) w.text(*c.phone); else w.null();
  w.opt(days(c.birth_date)).num(static_cast<int>(c.gender));
  w.text(c.address.city).text(c.address.region).text(c.address.country);
  w.num(static_cast<int>(c.tier)).num(static_cast<int>(c.stage)).opt(c.income_band)
      .num(static_cast<int>(c.risk));
  for (const Consent* k : {&c.consent_email, &c.consent_sms, &c.consent_phone})
    w.num(static_cast<int>(k->state)).opt(days(k->date));
  w.num(c.created_at.time_since_epoch().count()).num(c.created_at.time_since_epoch().count());
  if (sc) {
    w.num(to_millionths(sc->p_alive)).num(to_millionths(sc->expected_purchases))
        .num(sc->expected_value).num(sc->clv).num(sc->r_score).num(sc->f_score)
        .num(sc->m_score).num(sc->as_of.time_since_epoch().count());
  } else {
    for (int k = 0; k < 8; ++k) w.null();
  }
  w.end();
}

template <class W>
void transaction_row(W& w, std::uint64_t id, const Transaction& t) {
  w.num(static_cast<long long>(id)).num(static_cast<long long>(t.customer_id))
      .num(t.ts.time_since_epoch().count()).num(t.amount).text(t.currency)
      .num(t.base_amount.value_or(t.amount)).num(static_cast<int>(t.kind))
      .num(static_cast<int>(t.channel)).text(t.product).text(t.description);
  w.end();
}

template <class W>
void relationship_row(W& w, std::uint64_t id, const Relationship& r) {
  w.num(static_cast<long long>(id)).num(static_cast<long long>(r.from))
      .num(static_cast<long long>(r.to)).num(static_cast<int>(r.type)).null().opt(days(r.since));
  w.end();
}

// Generates the base in the loads' order and hands each row to the writers; returns the rows
// (customers + transactions + relationships).
template <class W>
std::uint64_t generate(const Args& a, W& cust, W& tags, W& txns, W& rels) {
  synthetic::Generator gen;
  std::uint64_t rows = 0, txn_id = 0, rel_id = 0;
  for (std::uint64_t i = 1; i <= a.customers; ++i) {
    const Customer c = gen.customer(i);
    customer_row(cust, c, gen.scores(c));
    for (const auto& t : c.tags) {
      tags.num(static_cast<long long>(c.id)).text(t);
      tags.end();
    }
    for (const auto& t : gen.transactions(i, a.txns_per_customer)) transaction_row(txns, ++txn_id, t);
    rows += 1 + a.txns_per_customer;
  }
  for (const auto& r : gen.relationships(a.customers)) {
    relationship_row(rels, ++rel_id, r);
    ++rows;
  }
  return rows;
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

  b.rows = generate(a, cust, tags, txns, rels);
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

namespace {

// A SQL string literal.
std::string literal(const fs::path& p) {
  std::string s = "'";
  for (char c : p.string()) {
    if (c == '\'') s += '\'';
    s += c;
  }
  return s += '\'';
}

// The customers table (kCustomerColumns order, primary key id), the SELECT list that fills it
// from a source of the CSV's columns (alias c) joined with the aggregates (alias a), and the
// CSV columns as a read_csv `columns` struct.
struct CustomerSql {
  std::string table = "CREATE TABLE customers (", select, csv_columns;
  CustomerSql() {
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
      table.append(name).append(" ").append(type).append(name == "id" ? " PRIMARY KEY, " : ", ");
      if (!select.empty()) select += ", ";
      select += expr;
    }
    table.resize(table.size() - 2);
    table += ")";
    for (const auto& [n, t] : kCsvCustomerColumns)
      csv_columns.append(csv_columns.empty() ? "" : ", ").append("'").append(n).append("': '").append(t).append("'");
  }
};

void create_tables(DuckDb& db) {
  db.exec("CREATE TABLE transactions (id BIGINT, customer_id BIGINT, ts BIGINT, amount BIGINT, "
          "currency VARCHAR, base_amount BIGINT, kind INTEGER, channel INTEGER, product VARCHAR, "
          "description VARCHAR)");
  db.exec(CustomerSql().table);
  db.exec("CREATE TABLE customer_tags (customer_id BIGINT, tag VARCHAR)");
  db.exec("CREATE TABLE relationships (id BIGINT, from_id BIGINT, to_id BIGINT, type INTEGER, "
          "custom_type VARCHAR, since INTEGER)");
}

// Fills customers from `source` (the CSV's columns) and the loaded transactions' aggregates,
// then the indexes and a checkpoint.
void finish(DuckDb& db, const std::string& source) {
  db.exec("INSERT INTO customers (" + std::string(kCustomerColumns) + ") SELECT " +
          CustomerSql().select + " FROM " + source +
          " c LEFT JOIN (SELECT customer_id, count(*) AS n, sum(amount) AS s, min(ts) AS f, "
          "max(ts) AS l FROM transactions GROUP BY customer_id) a ON a.customer_id = c.id "
          "ORDER BY c.id");
  db.exec("CREATE INDEX customers_email ON customers(email)");
  db.exec("CREATE INDEX tags_customer ON customer_tags(customer_id)");
  db.exec("CREATE INDEX txn_customer ON transactions(customer_id)");
}

}  // namespace

double load_duckdb(DuckDb& db, const CsvBase& csv) {
  const std::string opts = " (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"')";
  auto t0 = Clock::now();
  create_tables(db);
  db.exec("COPY transactions FROM " + literal(csv.transactions) + opts);
  db.exec("COPY customer_tags FROM " + literal(csv.tags) + opts);
  db.exec("COPY relationships FROM " + literal(csv.relationships) + opts);
  finish(db, "read_csv(" + literal(csv.customers) +
                 ", header = true, delim = ',', quote = '\"', escape = '\"', columns = {" +
                 CustomerSql().csv_columns + "})");
  db.exec("CHECKPOINT");
  return seconds_since(t0);
}

double load_duckdb_appender(DuckDb& db, const Args& a) {
  auto t0 = Clock::now();
  create_tables(db);
  std::string staging = "CREATE TABLE customers_in (";
  for (const auto& [n, t] : kCsvCustomerColumns) staging.append(n).append(" ").append(t).append(", ");
  staging.resize(staging.size() - 2);
  db.exec(staging + ")");
  {
    DuckDb::Appender cust(db, "customers_in"), tags(db, "customer_tags"), txns(db, "transactions"),
        rels(db, "relationships");
    generate(a, cust, tags, txns, rels);
    cust.close(), tags.close(), txns.close(), rels.close();
  }
  finish(db, "customers_in");
  db.exec("DROP TABLE customers_in");
  db.exec("CHECKPOINT");
  return seconds_since(t0);
}

}  // namespace custdb::bench
