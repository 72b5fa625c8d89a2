#include "sql_engine.h"

#include "synthetic.h"
#include "workload.h"

namespace custdb::bench {

std::unique_ptr<SqlDb> open_sql(const SqlApi& api, const fs::path& path, bool cipher,
                                const std::string& synchronous, bool fresh) {
  if (fresh) remove_sql_files(path);
  auto db = std::make_unique<SqlDb>(api, path.string());
  if (cipher) {
    char hex[3];
    std::string key;
    for (int i = 0; i < 32; ++i) {
      std::snprintf(hex, sizeof hex, "%02x", kRawKeyByte);
      key += hex;
    }
    db->exec("PRAGMA key = \"x'" + key + "'\";");
  }
  db->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = " + synchronous +
           "; PRAGMA cache_size = -" + std::to_string(kSqlCacheKib) + ";");
  return db;
}

void remove_sql_files(const fs::path& path) {
  fs::remove(path);
  fs::remove(path.string() + "-wal");
  fs::remove(path.string() + "-shm");
}

std::uintmax_t sql_file_size(const fs::path& path) {
  std::error_code ec;
  std::uintmax_t wal = fs::file_size(path.string() + "-wal", ec);
  return fs::file_size(path) + (ec ? 0 : wal);
}

void create_schema(SqlDb& db) {
  db.exec(R"(CREATE TABLE customers (id INTEGER PRIMARY KEY, external_ref TEXT, type INT, name TEXT,
      email TEXT, phone TEXT, birth_date INT, gender INT, city TEXT, region TEXT, country TEXT,
      tier INT, stage INT, income_band INT, risk INT, consent_email INT, consent_email_date INT,
      consent_sms INT, consent_sms_date INT, consent_phone INT, consent_phone_date INT,
      created_at INT, updated_at INT, txn_count INT, total_amount INT, first_txn_at INT,
      last_txn_at INT, p_alive INT, expected_purchases INT, expected_value INT, clv INT,
      r_score INT, f_score INT, m_score INT, scores_as_of INT);
    CREATE TABLE customer_tags (customer_id INT, tag TEXT, PRIMARY KEY (customer_id, tag)) WITHOUT ROWID;
    CREATE TABLE relationships (id INTEGER PRIMARY KEY, from_id INT, to_id INT, type INT,
      custom_type TEXT, since INT);
    CREATE TABLE transactions (id INTEGER PRIMARY KEY, customer_id INT, ts INT, amount INT,
      currency TEXT, base_amount INT, kind INT, channel INT, product TEXT, description TEXT);)");
  const char* indexed[] = {"external_ref", "email", "phone", "type", "tier", "stage", "region",
                           "city", "country", "gender", "income_band", "risk", "birth_date",
                           "created_at", "consent_email", "consent_sms", "consent_phone",
                           "txn_count", "total_amount", "first_txn_at", "last_txn_at",
                           "p_alive", "expected_purchases", "clv", "r_score", "f_score", "m_score"};
  for (const char* c : indexed)
    db.exec(std::string("CREATE INDEX customers_") + c + " ON customers(" + c + ");");
  db.exec("CREATE INDEX tags_tag ON customer_tags(tag, customer_id);"
          "CREATE INDEX rel_from ON relationships(from_id); CREATE INDEX rel_to ON relationships(to_id);"
          "CREATE INDEX txn_customer ON transactions(customer_id, ts);");
}

SqlWriter::SqlWriter(SqlDb& db)
    : ins_(db, std::string("INSERT INTO customers (") + kCustomerColumns +
                   ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
      tag_(db, "INSERT INTO customer_tags VALUES (?,?)"),
      // Columns named: the holdings suite adds a holding_id column to this table.
      txn_(db, "INSERT INTO transactions (customer_id, ts, amount, currency, base_amount, kind, "
               "channel, product, description) VALUES (?,?,?,?,?,?,?,?,?)"),
      agg_(db, "UPDATE customers SET txn_count = txn_count + 1, total_amount = total_amount + ?2, "
               "first_txn_at = min(coalesce(first_txn_at, ?3), ?3), "
               "last_txn_at = max(coalesce(last_txn_at, ?3), ?3) WHERE id = ?1"),
      rel_(db, "INSERT INTO relationships VALUES (NULL,?,?,?,NULL,?)") {}

void SqlWriter::customer(const Customer& c, const std::optional<Scores>& scores) {
  auto day = [&](int i, const std::optional<Date>& d) {
    if (d) ins_.bind(i, d->time_since_epoch().count()); else ins_.bind_null(i);
  };
  ins_.bind(1, static_cast<long long>(c.id));
  ins_.bind(2, c.external_ref);
  ins_.bind(3, static_cast<int>(c.type));
  ins_.bind(4, c.name);
  if (c.email) ins_.bind(5, *c.email); else ins_.bind_null(5);
  if (c.phone) ins_.bind(6, *c.phone); else ins_.bind_null(6);
  day(7, c.birth_date);
  ins_.bind(8, static_cast<int>(c.gender));
  ins_.bind(9, c.address.city);
  ins_.bind(10, c.address.region);
  ins_.bind(11, c.address.country);
  ins_.bind(12, static_cast<int>(c.tier));
  ins_.bind(13, static_cast<int>(c.stage));
  if (c.income_band) ins_.bind(14, *c.income_band); else ins_.bind_null(14);
  ins_.bind(15, static_cast<int>(c.risk));
  ins_.bind(16, static_cast<int>(c.consent_email.state));
  day(17, c.consent_email.date);
  ins_.bind(18, static_cast<int>(c.consent_sms.state));
  day(19, c.consent_sms.date);
  ins_.bind(20, static_cast<int>(c.consent_phone.state));
  day(21, c.consent_phone.date);
  ins_.bind(22, c.created_at.time_since_epoch().count());
  ins_.bind(23, c.created_at.time_since_epoch().count());
  ins_.bind(24, 0);
  ins_.bind(25, 0);
  ins_.bind_null(26);
  ins_.bind_null(27);
  if (scores) {
    ins_.bind(28, to_millionths(scores->p_alive)).bind(29, to_millionths(scores->expected_purchases))
        .bind(30, scores->expected_value).bind(31, scores->clv).bind(32, scores->r_score)
        .bind(33, scores->f_score).bind(34, scores->m_score)
        .bind(35, scores->as_of.time_since_epoch().count());
  } else {
    for (int i = 28; i <= 35; ++i) ins_.bind_null(i);
  }
  ins_.run();
  for (const auto& t : c.tags) tag_.bind(1, static_cast<long long>(c.id)).bind(2, t).run();
}

void SqlWriter::transaction(const Transaction& t) {
  const long long id = static_cast<long long>(t.customer_id), ts = t.ts.time_since_epoch().count();
  txn_.bind(1, id).bind(2, ts).bind(3, t.amount).bind(4, t.currency)
      .bind(5, t.base_amount.value_or(t.amount)).bind(6, static_cast<int>(t.kind))
      .bind(7, static_cast<int>(t.channel)).bind(8, t.product).bind(9, t.description).run();
  agg_.bind(1, id).bind(2, t.amount).bind(3, ts).run();
}

void SqlWriter::relationship(const Relationship& r) {
  rel_.bind(1, static_cast<long long>(r.from)).bind(2, static_cast<long long>(r.to))
      .bind(3, static_cast<int>(r.type));
  if (r.since) rel_.bind(4, r.since->time_since_epoch().count()); else rel_.bind_null(4);
  rel_.run();
}

LoadStats load_sql(SqlDb& db, const Args& a, const std::string& label) {
  synthetic::Generator gen;
  LoadStats s;
  SqlWriter w(db);
  db.api().memory_highwater(1);  // reset: count from here
  const std::int64_t sql_before = db.api().memory_used();
  s.heap_before = s.heap_peak = heap_in_use();
  Progress progress(label, a.customers);
  auto t0 = Clock::now();
  for (std::uint64_t first = 1; first <= a.customers; first += kLoadBatch) {
    db.exec("BEGIN");
    for (std::uint64_t i = first; i < first + kLoadBatch && i <= a.customers; ++i) {
      w.customer(gen.customer(i), std::nullopt);
      for (const auto& t : gen.transactions(i, a.txns_per_customer)) w.transaction(t);
      s.rows += 1 + a.txns_per_customer;
    }
    s.sample_heap();
    db.exec("COMMIT");
    s.sample_heap();
    progress.update(std::min(first + kLoadBatch - 1, a.customers));
  }
  std::int64_t before_rels = heap_in_use();
  auto rels = gen.relationships(a.customers);
  std::int64_t held = heap_in_use() - before_rels;
  for (std::size_t first = 0; first < rels.size(); first += kLoadBatch) {
    db.exec("BEGIN");
    for (std::size_t i = first; i < std::min(rels.size(), first + kLoadBatch); ++i)
      w.relationship(rels[i]);
    s.sample_heap(held);
    db.exec("COMMIT");
    s.sample_heap(held);
  }
  s.rows += rels.size();
  s.seconds = seconds_since(t0);
  s.sql_highwater = db.api().memory_highwater(0) - sql_before;
  return s;
}

Customer row_to_customer(SqlDb::Stmt& s, SqlDb::Stmt& tags) {
  Customer c = customer_from_row(s);
  tags.bind(1, static_cast<long long>(c.id));
  while (tags.row()) c.tags.push_back(tags.text(0));
  tags.reset();
  return c;
}

Transaction row_to_transaction(SqlDb::Stmt& s) { return transaction_from_row(s); }

double write_scores_sql(SqlDb& db, const Args& a) {
  synthetic::Generator gen;
  SqlDb::Stmt up(db, "UPDATE customers SET p_alive = ?2, expected_purchases = ?3, "
                     "expected_value = ?4, clv = ?5, r_score = ?6, f_score = ?7, m_score = ?8, "
                     "scores_as_of = ?9 WHERE id = ?1");
  auto t0 = Clock::now();
  for (std::uint64_t first = 1; first <= a.customers; first += kLoadBatch) {
    db.exec("BEGIN");
    for (std::uint64_t i = first; i < first + kLoadBatch && i <= a.customers; ++i) {
      const Customer c = gen.customer(i);
      const auto sc = gen.scores(c);
      if (!sc) continue;
      up.bind(1, static_cast<long long>(c.id)).bind(2, to_millionths(sc->p_alive))
          .bind(3, to_millionths(sc->expected_purchases)).bind(4, sc->expected_value)
          .bind(5, sc->clv).bind(6, sc->r_score).bind(7, sc->f_score).bind(8, sc->m_score)
          .bind(9, sc->as_of.time_since_epoch().count()).run();
    }
    db.exec("COMMIT");
  }
  return seconds_since(t0);
}

}  // namespace custdb::bench
