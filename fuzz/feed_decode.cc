// Fuzz target feed_decode: hostile bytes where the change feed reads them (issue #19): NATS
// messages a third party may publish on the feed's subjects, part payloads and rows a damaged
// file or stream holds, and the feed's stored state.
//
// Input: [0] what  [1..] the bytes
//   byte 0 % 4 == 0: messages. The rest splits at 0xFF bytes into fields; every 3 fields are one
//     NATS message (subject, headers as "name:value" lines split at '\n', payload), decoded
//     by nats::wire::decode (prefix "custdb", feed "f"); each that decodes goes into one
//     Assembler (applied 0), whose ready entries are taken after every message. Nothing may
//     crash; every entry taken must be the next seq, with parts of that seq only.
//   byte 0 % 4 == 1: a part payload, opened by the plaintext codec and by a sealed codec as
//     part (label "customers", customer 7) of entry 3 of feed "f"; a payload that opens must
//     re-encode to one that opens to the same ops.
//   byte 0 % 4 == 2: the same bytes as a part payload wrapped in a valid plaintext envelope
//     (checksum recomputed), so the op decoder sees arbitrary bytes.
//   byte 0 % 4 == 3: the bytes as meta feed.state, a consumer cursor, an entry header, a
//     part row and a feed key.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/record_codec.h"
#include "crypto/crypto.h"
#include "engine/feed_record.h"
#include "fuzz_util.h"
#include "nats/wire.h"

using namespace custdb;
namespace wire = custdb::nats::wire;

namespace {

struct Codecs {
  crypto::DataKey key{crypto::kDataKeySize};
  codec::RecordCodec plain{nullptr};
  std::unique_ptr<crypto::RecordCipher> opener, sealer;
  std::unique_ptr<codec::RecordCodec> sealed;
  Codecs() {
    fuzz::fill_fixed_data_key(key.data(), key.size());
    opener = std::make_unique<crypto::RecordCipher>(key, crypto::preferred_cipher(), 0);
    sealer = std::make_unique<crypto::RecordCipher>(key, crypto::preferred_cipher(), 1);
    sealed = std::make_unique<codec::RecordCodec>(opener.get());
    sealed->set_sealer(sealer.get());
  }
};

Codecs& codecs() {
  static Codecs c;
  return c;
}

constexpr std::string_view kFeed = "f";
constexpr feed::Seq kSeq = 3;
constexpr std::string_view kLabel = "customers";
constexpr CustomerId kCustomer = 7;

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep) out.emplace_back();
    else out.back().push_back(ch);
  }
  return out;
}

void messages(std::string_view bytes) {
  const auto fields = split(bytes, '\xFF');
  wire::Assembler assembler(0, 0);
  std::uint64_t stream_seq = 0;
  feed::Seq last = 0;
  for (std::size_t i = 0; i < fields.size(); i += 3) {
    wire::Message m;
    m.subject = fields[i];
    if (i + 1 < fields.size())
      for (const auto& line : split(fields[i + 1], '\n')) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        m.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
      }
    if (i + 2 < fields.size()) m.payload = fields[i + 2];
    auto d = wire::decode("custdb", kFeed, m);
    if (!d) continue;
    assembler.add(++stream_seq, std::move(*d));
    auto taken = assembler.take(4, 1u << 20);
    if (!taken) continue;
    for (const feed::Entry& e : *taken) {
      FUZZ_CHECK(e.seq == last + 1, "entry %llu after %llu", (unsigned long long)e.seq,
                 (unsigned long long)last);
      last = e.seq;
      for (const feed::Part& p : e.parts)
        FUZZ_CHECK(p.number < e.part_count, "part %u of an entry of %u parts", p.number,
                   e.part_count);
    }
    (void)assembler.resume_position();
  }
}

void payload(const codec::RecordCodec& c, std::string_view bytes) {
  auto ops = detail::decode_part_payload(c, kFeed, kSeq, kLabel, kCustomer, bytes);
  if (!ops) return;
  auto number = detail::payload_part_number(bytes);
  FUZZ_CHECK(number.has_value(), "a payload that opens names its part");
  const std::string again =
      detail::encode_part_payload(c, kFeed, kSeq, *number, kLabel, kCustomer, *ops);
  auto ops2 = detail::decode_part_payload(c, kFeed, kSeq, kLabel, kCustomer, again);
  FUZZ_CHECK(ops2.has_value(), "a re-encoded payload opens");
  FUZZ_CHECK(*ops2 == *ops, "re-encoded ops equal");
}

void wrapped_ops(std::string_view bytes) {
  // Version 1, part 0, then the input as the ops body in a valid plaintext envelope bound to
  // this part (the codec's wrap computes the checksum): the op decoder sees arbitrary bytes.
  std::string p;
  p.push_back('\x01');
  p.append(4, '\0');
  const std::string key = detail::envelope_key(kFeed, kSeq, 0, kLabel, kCustomer);
  std::vector<std::uint8_t> env;
  codecs().plain.wrap(codec::Table::kFeed, coding::as_bytes(key), coding::as_bytes(bytes), env);
  p.append(reinterpret_cast<const char*>(env.data()), env.size());
  payload(codecs().plain, p);
}

void stored(std::string_view bytes) {
  (void)detail::decode_feed_state(bytes);
  (void)detail::decode_consumer(bytes);
  (void)detail::decode_entry_header(bytes);
  (void)detail::decode_part_row(bytes);
  (void)detail::decode_feed_key(bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: messages(bytes); break;
    case 1:
      payload(codecs().plain, bytes);
      payload(*codecs().sealed, bytes);
      break;
    case 2: wrapped_ops(bytes); break;
    case 3: stored(bytes); break;
  }
  return 0;
}
