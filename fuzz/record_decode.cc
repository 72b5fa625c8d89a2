// Fuzz target record_decode: arbitrary bytes as a stored record value, through the codec
// (src/codec/record_codec.h) in plaintext and in sealed mode.
//
// Input: [0] table and cipher  [1] record key  [2..] the bytes
//   byte 0, bits 0-1: 0 customers, 1 relationships, 2 transactions, 3 segment bitmaps
//           bit 4:    XChaCha20-Poly1305 instead of AES-256-GCM (when the CPU has both)
//   byte 1: the key is be64(byte); 0xF0..0xFF give keys of length 0..15 (not ids)
//
// The bytes are decoded four ways, none of which may crash:
//   1. as a stored value, by a plaintext codec (envelope parsing, checksum);
//   2. as a stored value, by a sealed codec (envelope parsing, authentication);
//   3. as a FlatBuffer payload wrapped in a valid plaintext envelope (checksum recomputed), so
//      the verifier and the field decoding see arbitrary bytes;
//   4. as the same payload sealed under the fixed data key (epoch 1) and opened again.
// 3 and 4 must agree exactly (the payload is the same). Whenever a decode succeeds the record
// round-trips: re-encoding and decoding gives an equal record, and in plaintext mode the
// re-encoding of the re-decoded record is byte-identical. Segment bitmaps (table 3): the codec's
// unwrap, then the engine's decode_bitmap (src/segment/segment_index.cc, used by read_chunk and
// check()); every bitmap it accepts is iterated and combined, which must be memory-safe.
// Customers and transactions decode with a fixed custom attribute schema (fuzz_schema(): one
// attribute of each type per table, personal and required ones among them).
#include <roaring/roaring.hh>

#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <variant>

#include "codec/record_codec.h"
#include "crypto/crypto.h"
#include "engine/db_impl.h"
#include "custdb/types.h"
#include "fuzz_util.h"

using namespace custdb;
using custdb::fuzz::Bytes;

namespace {

using Record = std::variant<Customer, Relationship, Transaction>;

struct SealedCodec {
  std::unique_ptr<crypto::RecordCipher> opener;  // epoch 0, like the engine's read cipher
  std::unique_ptr<crypto::RecordCipher> sealer;  // epoch 1
  std::unique_ptr<codec::RecordCodec> codec;
};

struct Codecs {
  crypto::DataKey key{crypto::kDataKeySize};
  codec::RecordCodec plain{nullptr};
  std::vector<SealedCodec> sealed;  // [0] the preferred cipher, [1] XChaCha when AES exists too

  Codecs() {
    fuzz::fill_fixed_data_key(key.data(), key.size());
    std::vector<crypto::Cipher> ciphers = {crypto::preferred_cipher()};
    if (ciphers[0] != crypto::Cipher::kXChaCha20Poly1305)
      ciphers.push_back(crypto::Cipher::kXChaCha20Poly1305);
    for (auto c : ciphers) {
      SealedCodec s;
      s.opener = std::make_unique<crypto::RecordCipher>(key, c, 0);
      s.sealer = std::make_unique<crypto::RecordCipher>(key, c, 1);
      s.codec = std::make_unique<codec::RecordCodec>(s.opener.get());
      s.codec->set_sealer(s.sealer.get());
      sealed.push_back(std::move(s));
    }
  }
};

Codecs& codecs() {
  static Codecs c;
  return c;
}

constexpr codec::Table kTables[] = {codec::Table::kCustomers, codec::Table::kRelationships,
                                    codec::Table::kTransactions, codec::Table::kPostings};

Result<Record> decode(const codec::RecordCodec& c, codec::Table t, codec::Bytes key,
                      codec::Bytes stored) {
  switch (t) {
    case codec::Table::kCustomers: {
      auto r = c.decode_customer(key, stored, fuzz::fuzz_schema());
      if (!r) return tl::unexpected(r.error());
      return Record(std::move(*r));
    }
    case codec::Table::kRelationships: {
      auto r = c.decode_relationship(key, stored);
      if (!r) return tl::unexpected(r.error());
      return Record(std::move(*r));
    }
    default: {
      auto r = c.decode_transaction(key, stored, fuzz::fuzz_schema());
      if (!r) return tl::unexpected(r.error());
      return Record(std::move(*r));
    }
  }
}

void encode(const codec::RecordCodec& c, codec::Bytes key, const Record& r,
            std::vector<std::uint8_t>& out) {
  std::visit(
      [&](const auto& rec) {
        if constexpr (std::is_same_v<std::decay_t<decltype(rec)>, Relationship>)
          c.encode(key, rec, out);
        else
          c.encode(key, rec, fuzz::fuzz_schema(), out);
      },
      r);
}

// Decode errors must be kCorruption (the codec's contract) and nothing else.
void expect_corruption(const Error& e, const char* how) {
  FUZZ_CHECK(e.code() == ErrorCode::kCorruption, "%s: unexpected error %s", how,
             e.to_string().c_str());
}

// A decoded record re-encodes to something that decodes to the same record.
void round_trip(const codec::RecordCodec& c, codec::Table t, codec::Bytes key, const Record& r,
                const char* how) {
  std::vector<std::uint8_t> enc1, enc2;
  encode(c, key, r, enc1);
  auto again = decode(c, t, key, enc1);
  FUZZ_CHECK(again.has_value(), "%s: re-encoded record fails to decode: %s", how,
             again ? "" : again.error().to_string().c_str());
  FUZZ_CHECK(*again == r, "%s: round trip changed the record", how);
  if (!c.sealed()) {
    encode(c, key, *again, enc2);
    FUZZ_CHECK(enc1 == enc2, "%s: re-encoding is not deterministic", how);
  }
}

// Unwrap, then the segment index's own bitmap decoding (segment::decode_bitmap): whatever it accepts
// must be safe to iterate and combine.
std::optional<Roaring> read_bitmap(const codec::RecordCodec& c, codec::Bytes key,
                                   codec::Bytes stored) {
  std::vector<std::uint8_t> scratch;
  auto payload = c.unwrap(codec::Table::kPostings, key, stored, scratch);
  if (!payload) {
    expect_corruption(payload.error(), "bitmap unwrap");
    return std::nullopt;
  }
  auto r = custdb::segment::decode_bitmap(*payload);
  if (!r) {
    expect_corruption(r.error(), "bitmap decode");
    return std::nullopt;
  }
  return std::move(*r);
}

void use_bitmap(const Roaring& r) {
  // What the planner and check() do with a chunk: iterate, count, combine.
  std::uint64_t n = 0;
  for (auto it = r.begin(); it != r.end(); ++it) ++n;
  FUZZ_CHECK(n == r.cardinality(), "bitmap iteration disagrees with its cardinality");
  Roaring other;
  other.add(1);
  other.add(70000);
  Roaring u = r | other, d = r - other;
  FUZZ_CHECK(u.cardinality() + (r & other).cardinality() == r.cardinality() + other.cardinality(),
             "bitmap union size");
  (void)d.cardinality();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Codecs& cs = codecs();
  Bytes in(data, size);
  const std::uint8_t b0 = in.u8();
  const std::uint8_t b1 = in.u8();
  const codec::Table table = kTables[b0 & 3];
  const SealedCodec& sealed = cs.sealed[(b0 >> 4) & 1 ? cs.sealed.size() - 1 : 0];
  std::vector<std::uint8_t> key;
  if (b1 >= 0xF0) key.assign(static_cast<std::size_t>(b1 & 15), 0x42);
  else key = custdb::fuzz::be64(b1);
  std::string_view rest = in.rest();
  codec::Bytes bytes(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size());

  std::vector<std::uint8_t> wrapped, sealed_bytes;
  cs.plain.wrap(table, key, bytes, wrapped);
  sealed.codec->wrap(table, key, bytes, sealed_bytes);

  if (table == codec::Table::kPostings) {
    for (auto b : {read_bitmap(cs.plain, key, bytes), read_bitmap(*sealed.codec, key, bytes)})
      if (b) use_bitmap(*b);
    auto p = read_bitmap(cs.plain, key, wrapped);
    auto s = read_bitmap(*sealed.codec, key, sealed_bytes);
    FUZZ_CHECK(p.has_value() == s.has_value(), "bitmap: plaintext and sealed decodes disagree");
    if (p) {
      FUZZ_CHECK(*p == *s, "bitmap: plaintext and sealed decodes differ");
      use_bitmap(*p);
    }
    return 0;
  }

  // 1, 2: the bytes as stored values.
  if (auto r = decode(cs.plain, table, key, bytes)) round_trip(cs.plain, table, key, *r, "plain raw");
  else expect_corruption(r.error(), "plain raw");
  if (auto r = decode(*sealed.codec, table, key, bytes))
    round_trip(*sealed.codec, table, key, *r, "sealed raw");
  else expect_corruption(r.error(), "sealed raw");

  // 3, 4: the bytes as a payload in a valid envelope.
  auto p = decode(cs.plain, table, key, wrapped);
  auto s = decode(*sealed.codec, table, key, sealed_bytes);
  FUZZ_CHECK(p.has_value() == s.has_value(), "plaintext and sealed decodes of one payload disagree: %s",
             p ? s.error().to_string().c_str() : p.error().to_string().c_str());
  if (!p) {
    expect_corruption(p.error(), "plain payload");
    expect_corruption(s.error(), "sealed payload");
    FUZZ_CHECK(p.error().message() == s.error().message(), "different reasons: '%s' vs '%s'",
               p.error().message().c_str(), s.error().message().c_str());
    return 0;
  }
  FUZZ_CHECK(*p == *s, "plaintext and sealed decodes of one payload differ");
  round_trip(cs.plain, table, key, *p, "plain payload");
  round_trip(*sealed.codec, table, key, *s, "sealed payload");
  return 0;
}
