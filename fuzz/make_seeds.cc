// Writes the seed corpora of the fuzz targets: fuzz_make_seeds DIR writes DIR/<target>/<seed>.
// Run once and commit the files (see docs/testing.md); seeds that crash-reproducers added by
// hand live beside them and are not touched.
//
//   record_decode  real records from the codec: as stored (plaintext and sealed under the
//                  fixed data key) and as bare FlatBuffer payloads; a segment bitmap
//   query          queries from custdb/query.h, the tests and docs, and a few rejected ones
//   import_rows    CSV and JSON Lines files for each table, good and bad
//   api_sequence   operation sequences in the encoding of fuzz/api_ops.h
//   raw_file       an empty mutation list, and small ones in both modes
#include <roaring/roaring.hh>

#include <cstdio>
#include <initializer_list>

#include "api_ops.h"
#include "codec/record_codec.h"
#include "crypto/crypto.h"
#include "custdb/types.h"
#include "engine/feed_record.h"
#include "fuzz_util.h"
#include "nats/wire.h"

using namespace custdb;
namespace api = custdb::fuzz::api;
namespace fs = std::filesystem;

namespace {

fs::path g_root;
int g_written = 0;

void seed(const std::string& target, const std::string& name, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(g_root / target);
  fuzz::write_file(g_root / target / name, bytes.data(), bytes.size());
  ++g_written;
}
void seed_text(const std::string& target, const std::string& name, std::string_view text,
               std::vector<std::uint8_t> prefix = {}) {
  prefix.insert(prefix.end(), text.begin(), text.end());
  seed(target, name, prefix);
}
std::vector<std::uint8_t> cat(std::vector<std::uint8_t> prefix, const std::vector<std::uint8_t>& body) {
  prefix.insert(prefix.end(), body.begin(), body.end());
  return prefix;
}

// ---- record_decode ----

void record_decode() {
  crypto::DataKey key(crypto::kDataKeySize);
  fuzz::fill_fixed_data_key(key.data(), key.size());
  crypto::RecordCipher opener(key, crypto::preferred_cipher(), 0), sealer(key, crypto::preferred_cipher(), 1);
  codec::RecordCodec plain(nullptr), sealed(&opener);
  sealed.set_sealer(&sealer);

  Customer c;
  c.external_ref = "CRM-1000007";
  c.name = "Anna Meyer";
  c.email = "anna@example.com";
  c.phone = "+15550100";
  c.birth_date = parse_date("1980-05-05");
  c.gender = Gender::kFemale;
  c.address = {"Boston", "east", "US"};
  c.tier = Tier::kGold;
  c.stage = Stage::kLoyal;
  c.income_band = 7;
  c.risk = Risk::kMedium;
  c.consent_email = {ConsentState::kGranted, parse_date("2024-05-01")};
  c.tags = {"newsletter", "vip"};
  c.created_at = parse_timestamp("2024-01-01T10:00:00Z").value();
  c.updated_at = parse_timestamp("2025-01-01T10:00:00Z").value();
  c.aggregates = {3, 123450, parse_timestamp("2025-01-02"), parse_timestamp("2025-03-04")};
  // Custom attributes of fuzz_schema(): one of each customer type (ids 1..9).
  c.attributes = {{"a1", std::string("text")},
                  {"a2", std::string("Green")},
                  {"a3", std::int64_t{42}},
                  {"a4", std::int64_t{1250}},
                  {"a5", std::int64_t{-300}},
                  {"a6", *parse_date("2025-01-01")},
                  {"a7", *parse_timestamp("2025-01-01T10:00:00Z")},
                  {"a8", true},
                  {"a9", std::vector<std::string>{"x", "y"}}};
  Customer minimal;
  minimal.name = "X";
  Relationship r{0, 7, 9, RelationType::kSpouse, "", parse_date("2015-05-01")};
  Relationship custom{0, 3, 4, RelationType::kCustom, "godparent", {}};
  Transaction t;
  t.customer_id = 7;
  t.ts = parse_timestamp("2025-02-02T12:00:00Z").value();
  t.amount = -5000;
  t.currency = "EUR";
  t.base_amount = -5400;
  t.kind = TransactionKind::kWithdrawal;
  t.channel = Channel::kAtm;
  t.product = "checking";
  t.description = "cash";
  t.attributes = {{"a10", std::string("memo")}, {"a12", std::int64_t{5}}, {"a17", false}};

  const std::uint8_t id = 7;
  const auto k = fuzz::be64(id);
  std::vector<std::uint8_t> out;
  auto emit = [&](std::uint8_t table, const std::string& name, auto encode_fn) {
    encode_fn(plain, out);
    seed("record_decode", name + "-plain", cat({table, id}, out));
    std::vector<std::uint8_t> payload(out.begin() + codec::kPlainHeaderSize, out.end());
    seed("record_decode", name + "-payload", cat({table, id}, payload));
    encode_fn(sealed, out);
    seed("record_decode", name + "-sealed", cat({table, id}, out));
  };
  emit(0, "customer", [&](const codec::RecordCodec& cd, auto& o) { cd.encode(k, c, fuzz::fuzz_schema(), o); });
  emit(0, "customer-minimal", [&](const codec::RecordCodec& cd, auto& o) { cd.encode(k, minimal, fuzz::fuzz_schema(), o); });
  emit(1, "relationship", [&](const codec::RecordCodec& cd, auto& o) { cd.encode(k, r, o); });
  emit(1, "relationship-custom", [&](const codec::RecordCodec& cd, auto& o) { cd.encode(k, custom, o); });
  emit(2, "transaction", [&](const codec::RecordCodec& cd, auto& o) { cd.encode(k, t, fuzz::fuzz_schema(), o); });

  Roaring bits;
  for (std::uint32_t v : {1u, 5u, 6u, 7u, 300u, 65535u}) bits.add(v);
  bits.runOptimize();
  std::vector<std::uint8_t> bitmap(bits.getSizeInBytes(true));
  bits.write(reinterpret_cast<char*>(bitmap.data()), true);
  seed("record_decode", "bitmap-payload", cat({3, id}, bitmap));
  seed("record_decode", "empty", std::vector<std::uint8_t>{});
}

// ---- query ----

void query_seeds() {
  const char* queries[] = {
      "tier in (gold, platinum) and region = east and last_txn_at < 2026-08-01",
      "related(household, tier >= gold)",
      "related(godparent)",
      "related('god parent', not age < 30)",
      "not (age between 30 and 40) or tag = vip",
      "total_amount >= 1000.50 and txn_count between 2 and 5",
      "city = 'o''brien' or city = Köln",
      "created_at >= 2024-01-01T10:30:00Z and first_txn_at < 2025-06-01",
      "income_band in (1, 2, 3) and country != US",
      "consent_sms != denied and stage = at_risk and gender = unknown",
      "birth_date < 1970-01-01 and risk > low",
      "type = corporate or consent_phone = granted and consent_email = unknown",
      "TIER >= Silver AND NOT Region = 'west'",
      "tier = 5",
      "total_amount = gold",
      "region < x",
      "((((tier = gold))))",
  };
  int i = 0;
  for (const char* q : queries) seed_text("query", "q" + std::to_string(++i), q);
}

// ---- import_rows ----

void import_rows() {
  const std::vector<std::uint8_t> csv_customers = {0, 0}, jsonl_customers = {1, 0},
                                  csv_rels = {0, 1}, jsonl_rels = {1, 1}, csv_txns = {0, 2},
                                  jsonl_txns = {1, 2}, skip_bad_customers = {0, 4 | 8};
  seed_text("import_rows", "customers.csv",
       "id,external_ref,type,name,email,phone,birth_date,gender,city,region,country,tier,stage,"
       "income_band,risk,created_at,tags,consent_email,consent_email_date,consent_sms,"
       "consent_sms_date,consent_phone,consent_phone_date,updated_at\n"
       "10,CRM-10,individual,Anna Meyer,anna@example.com,+1 555 0100,1980-05-05,female,Boston,"
       "east,US,gold,loyal,7,medium,2024-01-01T10:00:00Z,vip|newsletter,granted,2024-05-01,,,"
       "denied,2024-06-01,2025-01-01T00:00:00Z\n"
       ",,corporate,\"Okafor Foods, Ltd\",,,,,Lyon,,FR,silver,active,,low,,,,,,,,,\n",
       csv_customers);
  seed_text("import_rows", "customers-min.csv", "id,name\n,Ben\n11,\"Chloe \"\"C\"\"\"\n", csv_customers);
  seed_text("import_rows", "customers.jsonl",
       "{\"id\": 12, \"name\": \"Emma\", \"email\": \"emma@example.com\", \"tags\": [\"vip\", \"b\"],"
       " \"tier\": \"platinum\", \"income_band\": \"3\", \"country\": null}\n"
       "\n"
       "{\"name\": \"Felix \\u00e9\", \"external_ref\": \"R-9\", \"consent_sms\": \"granted\","
       " \"consent_sms_date\": \"2024-02-02\"}\n",
       jsonl_customers);
  seed_text("import_rows", "relationships.csv",
       "from,to,type,since,custom_type\n1,3,spouse,2010-06-01,\n2,4,godparent,,\n5,1,custom,,"
       "mentor\n",
       csv_rels);
  seed_text("import_rows", "relationships.jsonl",
       "{\"from\": 3, \"to\": 4, \"type\": \"referral\"}\n{\"from\": \"4\", \"to\": \"5\", \"type\": "
       "\"household\", \"since\": \"2001-01-01\"}\n",
       jsonl_rels);
  seed_text("import_rows", "transactions.csv",
       "id,customer_id,ts,amount,currency,kind,channel,product,description,base_amount\n"
       "100,1,2025-04-01T09:30:00Z,12.50,USD,purchase,web,checking,coffee,\n"
       ",2,2025-04-02,-1000,JPY,withdrawal,atm,,,-6.70\n"
       ",3,2025-04-03 08:00,1.005,BHD,deposit,branch,,,2.67\n",
       csv_txns);
  seed_text("import_rows", "transactions.jsonl",
       "{\"customer_id\": 4, \"ts\": \"2025-05-01T00:00:00+02:00\", \"amount\": \"99.99\", "
       "\"currency\": \"usd\", \"kind\": \"payment\"}\n",
       jsonl_txns);
  seed_text("import_rows", "bad-header.csv", "id,name,nickname\n1,A,B\n", csv_customers);
  seed_text("import_rows", "bad-row.csv", "id,name\n20,Good\n21,\n22,\"open\n", csv_customers);
  seed_text("import_rows", "skip-bad.csv",
       "id,name,email,tier\n30,Ok,ok@x.io,gold\n31,Bad,not-an-email,gold\n32,Ok2,,diamond\n"
       "33,Bad2,,titanium\n1,Taken,,\n",
       skip_bad_customers);
  seed_text("import_rows", "bad.jsonl", "{\"name\": \"A\", \"name\": \"B\"}\n[1,2]\n{\"id\": 1e3}\n",
       jsonl_customers);
}

// ---- api_sequence ----

class Ops {
 public:
  explicit Ops(std::uint8_t setup) { b_.push_back(setup); }
  Ops& op(api::Op o) { return byte(o); }
  Ops& byte(std::uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  // A spec: mask and the value of each set field, in field order.
  Ops& spec(std::initializer_list<std::pair<int, std::uint8_t>> fields) {
    std::uint16_t mask = 0;
    for (auto [f, v] : fields) mask = static_cast<std::uint16_t>(mask | (1u << f));
    byte(static_cast<std::uint8_t>(mask & 0xFF)).byte(static_cast<std::uint8_t>(mask >> 8));
    for (int f = 0; f < 16; ++f)
      for (auto [g, v] : fields)
        if (g == f) byte(v);
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return b_; }

 private:
  std::vector<std::uint8_t> b_;
};

void api_sequence() {
  using namespace api;
  {
    Ops o(0);
    for (int i = 0; i < 3; ++i) o.op(kInsert).byte(0).spec({});
    o.op(kAddRel).byte(1).byte(2).byte(0).byte(0).byte(0);              // 1 -> 2 household
    o.op(kAddTxn).byte(0).spec({});                                      // customer 1, 1.50 USD
    o.op(kAddTxn).byte(0).spec({{kTCustomer, 2}, {kTTs, 1}, {kTAmount, 3}});
    o.op(kCommit).op(kQuery).byte(1).op(kQuery).byte(4).op(kRead).byte(1).byte(6);
    seed("api_sequence", "basic", o.bytes());
  }
  {
    Ops o(kEncrypted | kSmallMap);
    for (int i = 0; i < 6; ++i)
      o.op(kInsert).byte(0).spec({{kFName, static_cast<std::uint8_t>(i % 3)},
                                  {kFRef, static_cast<std::uint8_t>(i == 1 ? 1 : 0)},
                                  {kFEmail, static_cast<std::uint8_t>(1 + i % 3)},
                                  {kFPhone, 1}, {kFTier, static_cast<std::uint8_t>(i)},
                                  {kFPlace, 0x12}, {kFCountry, 1}, {kFIncome, 2}, {kFBirth, 1},
                                  {kFConsents, 1 + 6 * 2}, {kFTags, 0x27}});
    for (int i = 0; i < 8; ++i)
      o.op(kAddTxn).byte(0).spec({{kTCustomer, static_cast<std::uint8_t>(1 + i % 4)},
                                  {kTTs, static_cast<std::uint8_t>(i % 5)},
                                  {kTAmount, static_cast<std::uint8_t>(i % 6)},
                                  {kTCurrency, static_cast<std::uint8_t>(i % 4)},
                                  {kTBase, 1}, {kTKind, static_cast<std::uint8_t>(i)},
                                  {kTProduct, 2}});
    o.op(kAddRel).byte(3).byte(4).byte(9).byte(1).byte(1);  // custom " GodParent "
    o.op(kAddRel).byte(4).byte(3).byte(1).byte(0).byte(0);  // spouse
    o.op(kAmendTxn).byte(2).spec({{kTCustomer, 3}, {kTTs, 2}});
    o.op(kAmendTxn).byte(3).spec({{kTCurrency, 2}});  // foreign without a new base amount
    o.op(kRemoveTxn).byte(1).op(kCommit);
    o.op(kUpdate).byte(2).spec({{kFRef, 3}, {kFTags, 0}, {kFCountry, 3}}).byte(3);
    o.op(kDeleteRestrict).byte(3).op(kDeleteCascade).byte(3).op(kQuery).byte(5);
    o.op(kCommit).op(kRead).byte(4).byte(1 + 5 * 2);
    seed("api_sequence", "encrypted-small-map", o.bytes());
  }
  {
    Ops o(0);
    o.op(kBegin).op(kInsert).byte(0).spec({}).op(kAbort);
    o.op(kOneShotInsert).byte(0).spec({{kFCreated, 1}});
    o.op(kOneShotInsertMany).byte(2).byte(0).spec({}).byte(8).spec({}).byte(0).spec({{kFName, 3}});
    o.op(kOneShotInsertMany).byte(1).byte(0).spec({{kFEmail, 2}}).byte(0).spec({});
    o.op(kOneShotAddTxn).byte(0).spec({{kTCustomer, 1}, {kTAmount, 4}});
    o.op(kOneShotAddTxn).byte(0xF).spec({{kTCustomer, 2}});  // explicit id 1: taken
    o.op(kQuery).byte(2);
    seed("api_sequence", "one-shots-and-abort", o.bytes());
  }
  {
    Ops o(0);
    o.op(kInsert).byte(0).spec({{kFName, 3}});                            // name required
    o.op(kInsert).byte(0).spec({{kFEmail, 4}, {kFTier, 5}});              // bad email, tier
    o.op(kInsert).byte(0).spec({{kFRef, 1}});
    o.op(kInsert).byte(0).spec({{kFRef, 2}});                             // " R1 " is taken
    o.op(kInsert).byte(0).spec({});
    o.op(kAddRel).byte(1).byte(5).byte(0).byte(0).byte(0);              // 5 does not exist
    o.op(kAddRel).byte(1).byte(2).byte(0).byte(0).byte(0);
    o.op(kAddRel).byte(2).byte(1).byte(0).byte(0).byte(0);              // mirror of a household
    o.op(kAddRel).byte(1).byte(1).byte(2).byte(0).byte(0);              // itself
    o.op(kAddTxn).byte(0).spec({{kTCurrency, 2}});                        // EUR without base
    o.op(kAddTxn).byte(0).spec({{kTCustomer, 7}});                        // unknown customer
    o.op(kAddTxn).byte(0).spec({{kTTs, 5}});                              // 1799
    o.op(kDeleteRestrict).byte(1).op(kUpdate).byte(7).spec({{kFName, 1}}).byte(0);
    o.op(kRemoveRel).byte(9).op(kRemoveTxn).byte(9).op(kAmendTxn).byte(9).spec({});
    seed("api_sequence", "errors", o.bytes());
  }
  {
    Ops o(0);
    o.op(kInsert).byte(8 + 5).spec({});   // id 2^63 - 1
    o.op(kInsert).byte(8 + 6).spec({});   // id 2^63: refused
    o.op(kInsert).byte(8 + 7).spec({});   // id 100
    o.op(kInsert).byte(0).spec({});       // the next after 2^63 - 1 is 2^63: must not be assigned
    seed("api_sequence", "id-limits", o.bytes());
  }
  seed("api_sequence", "empty", std::vector<std::uint8_t>{});
}

// ---- raw_file ----

void raw_file() {
  seed("raw_file", "pristine", std::vector<std::uint8_t>{0});
  seed("raw_file", "xor-values", std::vector<std::uint8_t>{0, 0, 3, 0, 40, 0x55, 0, 10, 0, 12, 1});
  seed("raw_file", "resealed-set-bytes",
       std::vector<std::uint8_t>{1, 1, 3, 0, 20, 7, 1, 5, 0, 30, 9, 1, 7, 0, 11, 0xFF});
  seed("raw_file", "resealed-copy", std::vector<std::uint8_t>{1, 2, 3, 0, 5, 0, 2, 40, 0, 60, 0});
  seed("raw_file", "keys", std::vector<std::uint8_t>{0, 0, 9, 0, 3, 1, 0, 11, 0, 7, 0x80});
}

// ---- feed_decode ----

// A real entry as the shipper publishes it (two parts and the marker), real part payloads
// (plaintext and sealed under the fuzz key), an op body, and the feed's stored values.
void feed_decode() {
  namespace wire = custdb::nats::wire;
  using detail::FeedOp;
  using detail::FeedOpKind;
  std::vector<FeedOp> ops;
  ops.push_back({0, FeedOpKind::kPut, 2, std::string("\0\0\0\0\0\0\0\x07", 8), "record", 0});
  ops.push_back({1, FeedOpKind::kDelDup, 33, "c7@mail.example", std::string(8, '\0'), 0});
  ops.push_back({2, FeedOpKind::kDel, 1, "next_id.customer", "", 0});
  ops.push_back({3, FeedOpKind::kBitSet, 0, "tier=gold", "", 7});
  ops.push_back({4, FeedOpKind::kBitClear, 0, "tier=silver", "", 7});
  FeedOp erase{5, FeedOpKind::kErase, 0, "", "", 7};
  erase.stamp = 1'700'000'000'000;
  ops.push_back(erase);
  codec::RecordCodec plain(nullptr);
  crypto::DataKey key(crypto::kDataKeySize);
  fuzz::fill_fixed_data_key(key.data(), key.size());
  crypto::RecordCipher opener(key, crypto::preferred_cipher(), 0);
  crypto::RecordCipher sealer(key, crypto::preferred_cipher(), 1);
  codec::RecordCodec sealed(&opener);
  sealed.set_sealer(&sealer);
  const std::string p_plain = detail::encode_part_payload(plain, "f", 3, 0, "customers", 7, ops);
  const std::string p_sealed = detail::encode_part_payload(sealed, "f", 3, 0, "customers", 7, ops);
  auto bytes = [](std::uint8_t mode, std::string_view s) {
    std::vector<std::uint8_t> v{mode};
    v.insert(v.end(), s.begin(), s.end());
    return v;
  };
  seed("feed_decode", "payload-plain", bytes(1, p_plain));
  seed("feed_decode", "payload-sealed", bytes(1, p_sealed));
  seed("feed_decode", "ops-body", bytes(2, p_plain.substr(5)));
  // Messages: part 0 and 1 of entry 1, its marker, then entry 2's marker (no parts).
  feed::Entry e;
  e.seq = 1;
  e.committed_at = Timestamp(std::chrono::milliseconds(1'700'000'000'000));
  e.part_count = 2;
  e.parts.push_back({"customers", 7, p_plain, 0});
  e.parts.push_back({"meta", 0, p_plain, 1});
  e.erased = {7};
  std::string msgs;
  auto add = [&](const wire::Message& m) {
    if (!msgs.empty()) msgs.push_back('\xFF');
    msgs += m.subject;
    msgs.push_back('\xFF');
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
      if (i) msgs.push_back('\n');
      msgs += m.headers[i].name + ":" + m.headers[i].value;
    }
    msgs.push_back('\xFF');
    msgs += m.payload;
  };
  for (const auto& part : e.parts) add(wire::encode_part("custdb", "f", e.seq, part).value());
  add(wire::encode_marker("custdb", "f", e).value());
  feed::Entry e2;
  e2.seq = 2;
  e2.committed_at = e.committed_at;
  add(wire::encode_marker("custdb", "f", e2).value());
  seed("feed_decode", "messages", bytes(0, msgs));
  // Stored values: feed.state of a primary named f, a consumer, an entry header, a part row.
  detail::FeedState st;
  st.role = feed::Role::kPrimary;
  st.last = 3;
  st.name = "f";
  seed("feed_decode", "state", bytes(3, detail::encode_feed_state(st)));
  seed("feed_decode", "part-row", bytes(3, detail::encode_part_row("customers", 7, p_plain)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  record_decode();
  query_seeds();
  import_rows();
  api_sequence();
  raw_file();
  feed_decode();
  std::printf("wrote %d seeds under %s\n", g_written, g_root.c_str());
  return 0;
}
