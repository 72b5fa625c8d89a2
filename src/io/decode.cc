// Input decoding for import: the bytes of the file become UTF-8 before the readers see them.
// A byte order mark names the encoding (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) and is dropped;
// otherwise ImportOptions::encoding names it, and glibc's iconv transcodes (cp1252, latin1,
// iso-8859-15, windows-1250, utf-16le, ...). Plain UTF-8 passes through uncopied by iconv:
// each cell is checked for well-formed UTF-8 by import, which names the field.
#include <iconv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/io_internal.h"
#include "util/message.h"

namespace custdb::io::detail {
namespace {

constexpr std::size_t kInChunk = 1 << 16;
constexpr std::size_t kOutChunk = 1 << 18;  // UTF-16 -> UTF-8 grows at most 3/2, cp1252 3x

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool names_utf8(std::string_view encoding) {
  const std::string l = lower(encoding);
  return l.empty() || l == "utf-8" || l == "utf8";
}

}  // namespace

Status check_encoding(std::string_view encoding) {
  if (names_utf8(encoding)) return {};
  const std::string name(encoding);
  // iconv reads "//TRANSLIT", "//" or "/x" (no name before the slash) as the locale's charset,
  // which depends on LANG: an import must not change with the environment.
  const bool no_charset = encoding.substr(0, encoding.find('/')).find_first_not_of(" \t") ==
                          std::string_view::npos;
  iconv_t cd = no_charset ? reinterpret_cast<iconv_t>(-1) : ::iconv_open("UTF-8", name.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1))
    return make_error(ErrorCode::kInvalidArgument,
                      "encoding: unknown encoding " + message::quoted(encoding) +
                          " (names as iconv -l lists them: cp1252, latin1, iso-8859-15, "
                          "windows-1250, utf-16le, utf-16be, ...)");
  ::iconv_close(cd);
  return {};
}

DecodingBuf::DecodingBuf(std::streambuf& source, std::string encoding, std::string source_name)
    : source_(source), encoding_(std::move(encoding)), source_name_(std::move(source_name)) {}

DecodingBuf::~DecodingBuf() {
  if (cd_ != nullptr) ::iconv_close(static_cast<iconv_t>(cd_));
}

Status DecodingBuf::start() {
  if (auto s = check_encoding(encoding_); !s) return s;
  in_.resize(kInChunk);
  in_end_ = static_cast<std::size_t>(source_.sgetn(in_.data(), static_cast<std::streamsize>(kInChunk)));
  auto starts = [&](std::string_view bom) {
    return in_end_ >= bom.size() && std::memcmp(in_.data(), bom.data(), bom.size()) == 0;
  };
  std::string from = encoding_;
  // A byte order mark names the encoding whatever was asked: it cannot be Latin-1 text
  // ("ÿþ" opening a file's first column name).
  if (starts(std::string_view("\xFF\xFE\0\0", 4))) from = "UTF-32LE", in_pos_ = 4;
  else if (starts(std::string_view("\0\0\xFE\xFF", 4))) from = "UTF-32BE", in_pos_ = 4;
  else if (starts("\xFF\xFE")) from = "UTF-16LE", in_pos_ = 2;
  else if (starts("\xFE\xFF")) from = "UTF-16BE", in_pos_ = 2;
  else if (starts("\xEF\xBB\xBF")) from = "UTF-8", in_pos_ = 3;
  if (names_utf8(from)) return {};  // passed through
  label_ = in_pos_ > 0 ? from : encoding_;
  iconv_t cd = ::iconv_open("UTF-8", from.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1))
    return make_error(ErrorCode::kInvalidArgument,
                      "encoding: iconv cannot read " + message::quoted(from));
  cd_ = cd;
  out_.resize(kOutChunk);
  return {};
}

void DecodingBuf::count_lines(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == '\n') {
      if (!after_cr_) ++lines_;
      after_cr_ = false;
    } else if (p[i] == '\r') {
      ++lines_;
      after_cr_ = true;
    } else {
      after_cr_ = false;
    }
  }
}

void DecodingBuf::fail(std::string reason) {
  error_ = Error(ErrorCode::kInvalidArgument, located(source_name_, lines_ + 1, "row", reason));
}

bool DecodingBuf::refill_input() {
  if (in_pos_ > 0) {  // keep an incomplete sequence at the front
    std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  if (source_done_) return false;
  const auto got = static_cast<std::size_t>(
      source_.sgetn(in_.data() + in_end_, static_cast<std::streamsize>(in_.size() - in_end_)));
  if (got == 0) source_done_ = true;
  in_end_ += got;
  return got > 0;
}

DecodingBuf::int_type DecodingBuf::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (error_) return traits_type::eof();
  if (cd_ == nullptr) {
    // UTF-8: the bytes as they are. A NUL byte is no character of any field; in a file
    // without a byte order mark it means UTF-16 or UTF-32.
    if (in_pos_ == in_end_ && !refill_input()) return traits_type::eof();
    char* begin = in_.data() + in_pos_;
    const std::size_t n = in_end_ - in_pos_;
    if (const void* nul = std::memchr(begin, '\0', n)) {
      const std::size_t before = static_cast<std::size_t>(static_cast<const char*>(nul) - begin);
      count_lines(begin, before);
      fail("NUL byte: not UTF-8 text (a UTF-16 file without byte order mark needs "
           "--encoding utf-16le or utf-16be)");
      in_pos_ = in_end_;
      if (before == 0) return traits_type::eof();
      setg(begin, begin, begin + before);
      return traits_type::to_int_type(*begin);
    }
    count_lines(begin, n);
    in_pos_ = in_end_;
    setg(begin, begin, begin + n);
    return traits_type::to_int_type(*begin);
  }
  iconv_t cd = static_cast<iconv_t>(cd_);
  while (true) {
    char* in = in_.data() + in_pos_;
    std::size_t in_left = in_end_ - in_pos_;
    char* out = out_.data();
    std::size_t out_left = out_.size();
    std::size_t r = 0;
    if (in_left > 0) r = ::iconv(cd, &in, &in_left, &out, &out_left);
    const int err = r == static_cast<std::size_t>(-1) ? errno : 0;
    in_pos_ = in_end_ - in_left;
    std::size_t produced = out_.size() - out_left;
    char* begin = out_.data();
    if (!started_) {
      // A byte order mark inside the named encoding ("utf-16le" of a file that has one).
      if (produced >= 3 && std::memcmp(begin, "\xEF\xBB\xBF", 3) == 0) begin += 3, produced -= 3;
      if (produced > 0 || err) started_ = true;
    }
    count_lines(begin, produced);
    if (err == EILSEQ) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(in_[in_pos_]));
      fail("byte " + std::string(hex) + " is not valid " + message::quoted(label_) + " text");
    } else if ((err == EINVAL || in_pos_ == in_end_) && produced == 0) {
      // An incomplete sequence at the chunk's end, or nothing left: read on.
      if (refill_input()) continue;
      if (in_pos_ < in_end_) {
        fail("the file ends inside a " + message::quoted(label_) + " character");
      } else {
        // Stateful encodings write their closing bytes here.
        out = out_.data();
        out_left = out_.size();
        ::iconv(cd, nullptr, nullptr, &out, &out_left);
        produced = out_.size() - out_left;
        begin = out_.data();
        count_lines(begin, produced);
        if (produced == 0) return traits_type::eof();
      }
    }
    if (produced == 0) return traits_type::eof();
    setg(begin, begin, begin + produced);
    return traits_type::to_int_type(*begin);
  }
}

}  // namespace custdb::io::detail
