// The page-level scrub of scrub.h. The page layout is page_check.cc's (LMDB 0.9, 64-bit):
// every offset read is checked against its page before it is used, and a page is rewritten
// only where its own header and nodes prove the bytes unused.
#include "storage/scrub.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <utility>

#include "storage/raw.h"

namespace custdb::storage {
namespace {

constexpr std::size_t kPageHdr = 16;
constexpr std::size_t kNodeSize = 8;
constexpr std::size_t kDbSize = 48;
constexpr std::size_t kMetaSize = 136;
constexpr std::uint64_t kInvalidPgno = ~std::uint64_t{0};
constexpr std::size_t kMaxKeySize = 511;
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint16_t P_BRANCH = 0x01, P_LEAF = 0x02, P_OVERFLOW = 0x04, P_META = 0x08,
                        P_LEAF2 = 0x20, P_SUBP = 0x40, P_DIRTY = 0x10, P_LOOSE = 0x4000,
                        P_KEEP = 0x8000;
constexpr std::uint16_t F_BIGDATA = 0x01, F_SUBDATA = 0x02, F_DUPDATA = 0x04;

std::uint16_t rd16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
std::uint32_t rd32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t rd64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

struct DbRec {
  std::uint32_t pad = 0;
  std::uint16_t flags = 0, depth = 0;
  std::uint64_t root = kInvalidPgno;
};
DbRec read_db(const std::uint8_t* p) { return {rd32(p), rd16(p + 4), rd16(p + 6), rd64(p + 40)}; }

struct Meta {
  bool valid = false;
  std::uint32_t psize = 0;
  DbRec free_db, main_db;
  std::uint64_t last_pgno = 0, txnid = 0;
};

Meta read_meta(std::span<const std::uint8_t> file, std::size_t off) {
  Meta m;
  if (off + kPageHdr + kMetaSize > file.size()) return m;
  const std::uint8_t* p = file.data() + off;
  if (!(rd16(p + 10) & P_META)) return m;
  const std::uint8_t* mp = p + kPageHdr;
  if (rd32(mp) != kMagic || rd32(mp + 4) != 1) return m;
  m.free_db = read_db(mp + 24);
  m.main_db = read_db(mp + 24 + kDbSize);
  m.psize = m.free_db.pad;
  m.last_pgno = rd64(mp + 24 + 2 * kDbSize);
  m.txnid = rd64(mp + 24 + 2 * kDbSize + 8);
  // Page numbers are 48 bits in LMDB (a branch node holds 48): a larger last_pgno is damage,
  // and (last_pgno + 1) * psize must not wrap.
  m.valid = m.psize >= 512 && m.psize <= 32768 && !(m.psize & (m.psize - 1)) && m.last_pgno >= 1 &&
            m.last_pgno < (std::uint64_t{1} << 48);
  return m;
}

struct Problem {
  std::string what;
};
struct IoFailure {
  Error error;
};

// How to read one tree.
struct Tree {
  std::string name;
  bool free_list = false;
  bool main = false;
  bool dupsort = false, dupfixed = false;
  std::uint32_t leaf2 = 0;  // LEAF2 key size of a MDB_DUPFIXED sub-DB's leaves
  bool check_separators = false;
};

// A byte range [begin, end) inside the page (or run) being scrubbed, relative to its start.
using Range = std::pair<std::size_t, std::size_t>;

class Scrubber {
 public:
  Scrubber(std::span<const std::uint8_t> file, int fd, const ScrubFileOptions& o,
           ScrubFileReport& r)
      : file_(file), fd_(fd), opts_(o), r_(r) {}

  Status run();

 private:
  std::span<const std::uint8_t> file_;
  int fd_;
  const ScrubFileOptions& opts_;
  ScrubFileReport& r_;
  std::size_t psize_ = 0;
  std::uint64_t last_ = 0;     // the highest last_pgno of the metas walked
  std::uint64_t in_file_ = 0;  // pages wholly inside the file
  // Per page: reached from the newest meta (kNewest), only from the previous one (kPrevious),
  // or not (0).
  static constexpr std::uint8_t kNewest = 1, kPrevious = 3;
  std::vector<std::uint8_t> seen_;
  // The previous meta is the newest commit's predecessor and its walk met no problem: every
  // page the newest commit freed that it does not reach was loose (allocated and freed in that
  // commit, never written, so holding older bytes) and no reader can reach it.
  bool previous_whole_ = false;
  bool newest_ = true;              // walking the newest meta (problems are fatal)
  std::optional<Error> error_;      // an I/O failure
  // Free-list records of the newest meta: txnid -> pages.
  std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>> free_;

  [[noreturn]] void problem(std::uint64_t pgno, const std::string& what) {
    throw Problem{"page " + std::to_string(pgno) + ": " + what};
  }

  // Zeroes `ranges` of the `len` bytes at file offset `at` where any of them is not zero:
  // one pwrite of the span covering them, its other bytes written back as they are.
  void zero(std::uint64_t at, std::size_t len, std::vector<Range>& ranges);
  void walk_db(const DbRec& db, const Tree& t);
  // Walks page pgno (a level of depth); sets *first to the first key of its subtree.
  void walk_page(std::uint64_t pgno, int level, int depth, const Tree& t,
                 std::span<const std::uint8_t>* first);
  void leaf(std::uint64_t pgno, std::span<const std::uint8_t> p, const Tree& t,
            std::vector<Range>& ranges, std::span<const std::uint8_t>* first);
  void sub_page(std::uint64_t pgno, std::span<const std::uint8_t> sp, std::size_t base,
                const Tree& t, std::vector<Range>& ranges);
  std::span<const std::uint8_t> overflow(std::uint64_t opgno, std::size_t dsize);
  bool claim(std::uint64_t pgno);
  void walk_meta(const Meta& m);
  void zero_free_pages();
  void write_at(std::uint64_t off, const std::uint8_t* data, std::size_t n);
};

void Scrubber::zero(std::uint64_t at, std::size_t len, std::vector<Range>& ranges) {
  if (ranges.empty()) return;
  const std::uint8_t* base = file_.data() + at;
  std::size_t lo = len, hi = 0;
  std::uint64_t nonzero = 0;
  for (auto [b, e] : ranges) {
    if (b > e || e > len) problem(at / psize_, "an unused range runs past its page");
    std::uint64_t n = 0;
    for (std::size_t i = b; i < e; ++i) n += base[i] != 0;
    if (n) {
      nonzero += n;
      lo = std::min(lo, b);
      hi = std::max(hi, e);
    }
  }
  if (nonzero == 0) {
    ranges.clear();
    return;
  }
  r_.slack_bytes_zeroed += nonzero;
  if (!opts_.dry_run) {
    std::vector<std::uint8_t> buf(base + lo, base + hi);
    for (auto [b, e] : ranges)
      if (b < hi && e > lo) {
        const std::size_t cb = std::max(b, lo), ce = std::min(e, hi);
        std::memset(buf.data() + (cb - lo), 0, ce - cb);
      }
    write_at(at + lo, buf.data(), buf.size());
  }
  ranges.clear();
}

void Scrubber::write_at(std::uint64_t off, const std::uint8_t* data, std::size_t n) {
  ++r_.pages_written;
  while (n > 0) {
    const ssize_t w = ::pwrite(fd_, data, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoFailure{os_error(errno, "scrub: write data.mdb")};
    }
    data += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
}

bool Scrubber::claim(std::uint64_t pgno) {
  if (pgno < 2 || pgno > last_ || pgno >= in_file_)
    problem(pgno, "a tree names a page outside the file");
  if (seen_[pgno]) {
    if (newest_) problem(pgno, "reached twice");
    return false;  // the previous snapshot shares it with the newest: done already
  }
  seen_[pgno] = newest_ ? kNewest : kPrevious;
  return true;
}

void Scrubber::walk_db(const DbRec& db, const Tree& t) {
  if (db.root == kInvalidPgno) return;
  if (db.depth < 1 || db.depth > 32) problem(db.root, t.name + ": depth out of range");
  std::span<const std::uint8_t> first;
  walk_page(db.root, 1, db.depth, t, &first);
}

void Scrubber::walk_page(std::uint64_t pgno, int level, int depth, const Tree& t,
                         std::span<const std::uint8_t>* first) {
  *first = {};
  if (!claim(pgno)) return;
  const std::uint64_t at = pgno * psize_;
  std::span<const std::uint8_t> p = file_.subspan(at, psize_);
  if (rd64(p.data()) != pgno) problem(pgno, t.name + ": header names another page");
  const std::uint16_t flags = rd16(p.data() + 10) & ~(P_LOOSE | P_KEEP);
  const bool is_leaf = level == depth;
  const std::uint16_t want = is_leaf ? (t.leaf2 ? P_LEAF | P_LEAF2 : P_LEAF) : P_BRANCH;
  if (flags != want) problem(pgno, t.name + ": unexpected page flags " + std::to_string(flags));
  std::vector<Range> ranges;
  if (is_leaf) {
    leaf(pgno, p, t, ranges, first);
    zero(at, psize_, ranges);
    return;
  }
  const std::size_t lower = rd16(p.data() + 12), upper = rd16(p.data() + 14);
  if (lower < kPageHdr || upper < lower || upper > psize_ || (lower - kPageHdr) % 2)
    problem(pgno, t.name + ": bounds do not fit the page");
  const std::size_t n = (lower - kPageHdr) / 2;
  if (n == 0) problem(pgno, t.name + ": branch page without entries");
  ranges.emplace_back(lower, upper);
  std::size_t used = 0;
  struct Child {
    std::uint64_t pgno;
    std::span<const std::uint8_t> key;
  };
  std::vector<Child> children;
  children.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = rd16(p.data() + kPageHdr + 2 * i);
    if (off < upper || off + kNodeSize > psize_) problem(pgno, t.name + ": node outside the node area");
    const std::uint8_t* node = p.data() + off;
    const std::size_t ksize = rd16(node + 6);
    if (ksize > kMaxKeySize || off + kNodeSize + ksize > psize_)
      problem(pgno, t.name + ": branch key runs past the page");
    const std::size_t sz = kNodeSize + ksize;
    if (sz & 1) ranges.emplace_back(off + sz, off + sz + 1);
    used += (sz + 1) & ~std::size_t{1};
    children.push_back({rd16(node) | std::uint64_t{rd16(node + 2)} << 16 |
                            std::uint64_t{rd16(node + 4)} << 32,
                        p.subspan(off + kNodeSize, ksize)});
  }
  if (used != psize_ - upper) problem(pgno, t.name + ": nodes do not fill the node area");
  zero(at, psize_, ranges);
  for (std::size_t i = 0; i < children.size(); ++i) {
    std::span<const std::uint8_t> child_first;
    walk_page(children[i].pgno, level + 1, depth, t, &child_first);
    if (i == 0) {
      *first = child_first;
      continue;
    }
    // A separator must be the first key of the subtree it leads to: LMDB sets it so at a
    // split, and leaves it when that key is deleted (the key then lives on here only).
    // Checked on the newest snapshot only (child_first is empty for a page shared with it).
    if (t.check_separators && newest_ && !child_first.empty() &&
        (children[i].key.size() != child_first.size() ||
         std::memcmp(children[i].key.data(), child_first.data(), child_first.size()) != 0)) {
      if (std::find(r_.stale_tables.begin(), r_.stale_tables.end(), t.name) ==
          r_.stale_tables.end())
        r_.stale_tables.push_back(t.name);
    }
  }
}

void Scrubber::leaf(std::uint64_t pgno, std::span<const std::uint8_t> p, const Tree& t,
                    std::vector<Range>& ranges, std::span<const std::uint8_t>* first) {
  const std::size_t size = p.size();
  const std::size_t lower = rd16(p.data() + 12), upper = rd16(p.data() + 14);
  if (lower < kPageHdr || upper < lower || upper > size || (lower - kPageHdr) % 2)
    problem(pgno, t.name + ": bounds do not fit the page");
  const std::size_t n = (lower - kPageHdr) / 2;
  if (t.leaf2) {
    const std::size_t ks = rd16(p.data() + 8);
    if (ks != t.leaf2 || kPageHdr + n * ks > size) problem(pgno, t.name + ": LEAF2 keys do not fit");
    ranges.emplace_back(kPageHdr + n * ks, size);
    if (n) *first = p.subspan(kPageHdr, ks);
    return;
  }
  ranges.emplace_back(lower, upper);
  std::size_t used = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = rd16(p.data() + kPageHdr + 2 * i);
    if (off < upper || off + kNodeSize > size) problem(pgno, t.name + ": node outside the node area");
    const std::uint8_t* node = p.data() + off;
    const std::size_t dsize = rd16(node) | std::size_t{rd16(node + 2)} << 16;
    const std::uint16_t nflags = rd16(node + 4);
    const std::size_t ksize = rd16(node + 6);
    if (ksize > kMaxKeySize || off + kNodeSize + ksize > size)
      problem(pgno, t.name + ": key runs past the page");
    std::span<const std::uint8_t> key = p.subspan(off + kNodeSize, ksize);
    if (i == 0) *first = key;
    const std::size_t data_off = off + kNodeSize + ksize;
    const std::size_t dlen = nflags & F_BIGDATA ? 8 : dsize;
    if (data_off + dlen > size) problem(pgno, t.name + ": data runs past the page");
    const std::size_t sz = kNodeSize + ksize + dlen;
    if (sz & 1) ranges.emplace_back(off + sz, off + sz + 1);
    used += (sz + 1) & ~std::size_t{1};
    std::span<const std::uint8_t> data = p.subspan(data_off, dlen);
    if (nflags & F_BIGDATA) {
      if (nflags != F_BIGDATA) problem(pgno, t.name + ": node flags");
      auto v = overflow(rd64(data.data()), dsize);
      if (t.free_list && ksize == 8 && newest_) {
        if (v.empty()) problem(pgno, "free list: a page list the previous walk shares");
        std::vector<std::uint64_t> pages;
        const std::uint64_t cnt = rd64(v.data());
        if (v.size() < 8 || cnt != v.size() / 8 - 1) problem(pgno, "free list: malformed page list");
        for (std::uint64_t k = 0; k < cnt; ++k) pages.push_back(rd64(v.data() + 8 * (k + 1)));
        free_.emplace_back(rd64(key.data()), std::move(pages));
      }
      continue;
    }
    if (nflags == F_SUBDATA && t.main) {
      if (dsize != kDbSize) problem(pgno, "main DB: a DB record of " + std::to_string(dsize) + " bytes");
      const DbRec db = read_db(data.data());
      Tree nt;
      nt.name = std::string(reinterpret_cast<const char*>(key.data()), key.size());
      nt.dupsort = db.flags & MDB_DUPSORT;
      nt.dupfixed = db.flags & MDB_DUPFIXED;
      nt.check_separators = opts_.check_separators.count(nt.name) > 0;
      walk_db(db, nt);
      continue;
    }
    if (nflags == (F_DUPDATA | F_SUBDATA) && t.dupsort) {
      if (dsize != kDbSize) problem(pgno, t.name + ": a sub-DB record of " + std::to_string(dsize) + " bytes");
      const DbRec db = read_db(data.data());
      Tree st;
      st.name = t.name;
      st.leaf2 = t.dupfixed ? db.pad : 0;
      if (t.dupfixed && (st.leaf2 < 1 || st.leaf2 > kMaxKeySize)) problem(pgno, t.name + ": sub-DB key size");
      walk_db(db, st);
      continue;
    }
    if (nflags == F_DUPDATA && t.dupsort) {
      sub_page(pgno, data, data_off, t, ranges);
      continue;
    }
    if (nflags != 0) problem(pgno, t.name + ": node flags " + std::to_string(nflags));
    if (t.free_list && newest_) {
      if (ksize != 8 || dsize < 8 || dsize % 8) problem(pgno, "free list: malformed record");
      const std::uint64_t cnt = rd64(data.data());
      if (cnt != dsize / 8 - 1) problem(pgno, "free list: malformed page list");
      std::vector<std::uint64_t> pages;
      for (std::uint64_t k = 0; k < cnt; ++k) pages.push_back(rd64(data.data() + 8 * (k + 1)));
      free_.emplace_back(rd64(key.data()), std::move(pages));
    }
  }
  if (used != size - upper) problem(pgno, t.name + ": nodes do not fill the node area");
}

// A dupsort sub-page: the node's data, at `base` in its leaf page.
void Scrubber::sub_page(std::uint64_t pgno, std::span<const std::uint8_t> sp, std::size_t base,
                        const Tree& t, std::vector<Range>& ranges) {
  const std::size_t size = sp.size();
  if (size < kPageHdr) problem(pgno, t.name + ": a sub-page smaller than its header");
  const std::uint16_t flags = rd16(sp.data() + 10) & ~P_DIRTY;
  if (flags != (P_LEAF | P_SUBP | (t.dupfixed ? P_LEAF2 : 0)))
    problem(pgno, t.name + ": sub-page flags " + std::to_string(flags));
  const std::size_t lower = rd16(sp.data() + 12), upper = rd16(sp.data() + 14);
  if (lower < kPageHdr || upper < lower || upper > size || (lower - kPageHdr) % 2)
    problem(pgno, t.name + ": sub-page bounds");
  const std::size_t n = (lower - kPageHdr) / 2;
  if (t.dupfixed) {
    const std::size_t ks = rd16(sp.data() + 8);
    if (ks < 1 || kPageHdr + n * ks > size) problem(pgno, t.name + ": sub-page keys do not fit");
    ranges.emplace_back(base + kPageHdr + n * ks, base + size);
    return;
  }
  std::vector<Range> own{{base + lower, base + upper}};
  std::size_t used = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = rd16(sp.data() + kPageHdr + 2 * i);
    if (off < upper || off + kNodeSize > size) problem(pgno, t.name + ": sub-page node outside");
    const std::uint8_t* node = sp.data() + off;
    const std::size_t dsize = rd16(node) | std::size_t{rd16(node + 2)} << 16;
    const std::size_t ksize = rd16(node + 6);
    const std::size_t sz = kNodeSize + ksize + dsize;
    if (ksize > kMaxKeySize || off + sz > size) problem(pgno, t.name + ": sub-page node runs past it");
    if (sz & 1) own.emplace_back(base + off + sz, base + off + sz + 1);
    used += (sz + 1) & ~std::size_t{1};
  }
  if (used != size - upper) problem(pgno, t.name + ": sub-page nodes do not fill its node area");
  ranges.insert(ranges.end(), own.begin(), own.end());
}

std::span<const std::uint8_t> Scrubber::overflow(std::uint64_t opgno, std::size_t dsize) {
  if (!claim(opgno)) return {};
  std::span<const std::uint8_t> p = file_.subspan(opgno * psize_, psize_);
  const std::uint16_t flags = rd16(p.data() + 10) & ~(P_LOOSE | P_KEEP);
  if (rd64(p.data()) != opgno || flags != P_OVERFLOW) problem(opgno, "not an overflow page");
  const std::uint64_t pages = rd32(p.data() + 12);
  if (pages < 1 || opgno + pages > in_file_ || opgno + pages > last_ + 1 ||
      dsize + kPageHdr > pages * psize_)
    problem(opgno, "overflow run does not fit");
  for (std::uint64_t q = opgno + 1; q < opgno + pages; ++q) {
    if (seen_[q] && newest_) problem(q, "overflow page reached twice");
    if (!seen_[q]) seen_[q] = newest_ ? kNewest : kPrevious;
  }
  std::vector<Range> ranges{{kPageHdr + dsize, pages * psize_}};
  zero(opgno * psize_, pages * psize_, ranges);
  return file_.subspan(opgno * psize_ + kPageHdr, dsize);
}

void Scrubber::walk_meta(const Meta& m) {
  walk_db(m.free_db, Tree{"free list", true});
  Tree mt{"main DB"};
  mt.main = true;
  walk_db(m.main_db, mt);
}

void Scrubber::zero_free_pages() {
  // mdb_find_oldest: a page freed by transaction k is handed out again once k is older than
  // every live reader's snapshot and than the newest commit (whose predecessor, the other
  // meta page, may still be read after a crash).
  const std::uint64_t oldest = std::min(opts_.oldest_reader, r_.txnid);
  static const std::vector<std::uint8_t> zeros(65536, 0);
  for (const auto& [txnid, pages] : free_) {
    for (std::uint64_t pgno : pages) {
      if (pgno < 2 || pgno > last_ || pgno >= in_file_) {
        // A free page past the file's end was never written (a loose page): nothing to zero.
        if (pgno >= in_file_ && pgno <= last_) ++r_.free_pages_zeroed;
        continue;
      }
      if (seen_[pgno] == kNewest) problem(pgno, "a free page is also in the newest snapshot");
      if (seen_[pgno] == kPrevious) continue;  // the previous snapshot's: its gaps are zeroed
      if (txnid >= oldest && !(txnid == r_.txnid && previous_whole_)) {
        // A live reader's snapshot may reach it: left exactly as it is. (Its gaps are not
        // zeroed either: a free page carries no trustworthy header, since an overflow
        // continuation page holds value bytes from its first byte, and bytes that merely look
        // like a page header must not decide what gets overwritten under a reader.) The scrub
        // reports it pinned (complete = false); the next scrub after the reader ends zeroes it.
        ++r_.free_pages_pinned;
        continue;
      }
      ++r_.free_pages_zeroed;
      const std::uint8_t* p = file_.data() + pgno * psize_;
      if (std::all_of(p, p + psize_, [](std::uint8_t c) { return c == 0; })) continue;
      if (opts_.dry_run) continue;
      write_at(pgno * psize_, zeros.data(), psize_);
    }
  }
}

Status Scrubber::run() {
  r_.file_bytes = file_.size();
  try {
    Meta m0 = read_meta(file_, 0);
    if (!m0.valid) return make_error(ErrorCode::kCorruption, "scrub: meta page 0 is not valid");
    psize_ = m0.psize;
    Meta m1 = read_meta(file_, psize_);
    if (!m1.valid || m1.psize != m0.psize)
      return make_error(ErrorCode::kCorruption, "scrub: meta page 1 is not valid");
    const bool newer1 = m0.txnid < m1.txnid;
    const Meta& m = newer1 ? m1 : m0;
    const Meta& prev = newer1 ? m0 : m1;
    r_.txnid = m.txnid;
    last_ = m.last_pgno;
    in_file_ = file_.size() / psize_;
    // Every page the walk marks is inside the file (claim, overflow, zero_free_pages check
    // that first): sized by the file, not by what a (possibly damaged) meta claims.
    seen_.assign(std::max<std::uint64_t>(in_file_, 2), 0);
    seen_[0] = seen_[1] = 1;
    newest_ = true;
    walk_meta(m);
    // The previous snapshot: every page it reaches that the newest does not was freed by the
    // newest commit, and stays readable (LMDB falls back to it when the newest meta is torn).
    // Its live bytes stay; its gaps are zeroed. A page of it that no longer parses (it cannot
    // be, as LMDB does not reuse those pages) stops this part of the walk, not the scrub.
    if (prev.txnid != m.txnid && prev.last_pgno <= m.last_pgno) {
      newest_ = false;
      try {
        walk_meta(prev);
        previous_whole_ = prev.txnid + 1 == m.txnid;
      } catch (const Problem&) {
      }
      newest_ = true;
    }
    zero_free_pages();
    // The tail: bytes past the newest meta's last page (pages a crashed commit wrote).
    const std::uint64_t end = (m.last_pgno + 1) * psize_;  // < 2^63: last_pgno < 2^48
    if (end < file_.size()) {
      const std::uint8_t* p = file_.data() + end;
      const std::size_t n = file_.size() - end;
      const std::uint64_t nz = static_cast<std::uint64_t>(
          std::count_if(p, p + n, [](std::uint8_t c) { return c != 0; }));
      if (nz) {
        r_.tail_bytes_zeroed += nz;
        if (!opts_.dry_run) {
          std::vector<std::uint8_t> z(std::min<std::size_t>(n, 1 << 20), 0);
          for (std::size_t done = 0; done < n; done += z.size())
            write_at(end + done, z.data(), std::min(z.size(), n - done));
        }
      }
    }
  } catch (const Problem& p) {
    return make_error(ErrorCode::kCorruption, "scrub: " + p.what + " (nothing more was written)");
  } catch (const IoFailure& f) {
    return tl::unexpected(f.error);
  }
  if (!opts_.dry_run && ::fdatasync(fd_) != 0)
    return tl::unexpected(os_error(errno, "scrub: sync data.mdb"));
  return {};
}

}  // namespace

Result<ScrubFileReport> scrub_file(const std::filesystem::path& data_mdb,
                                   const ScrubFileOptions& options) {
  const int fd = ::open(data_mdb.c_str(), (options.dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(os_error(errno, "scrub: open " + data_mdb.string()));
  struct Closer {
    int fd;
    void* map = nullptr;
    std::size_t size = 0;
    ~Closer() {
      if (map && map != MAP_FAILED) ::munmap(map, size);
      ::close(fd);
    }
  } c{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return tl::unexpected(os_error(errno, "scrub: stat data.mdb"));
  c.size = static_cast<std::size_t>(st.st_size);
  ScrubFileReport r;
  if (c.size == 0) return make_error(ErrorCode::kCorruption, "scrub: data.mdb is empty");
  // Shared, so the walk reads what the scrub's own writes (and the page cache) hold.
  c.map = ::mmap(nullptr, c.size, PROT_READ, MAP_SHARED, fd, 0);
  if (c.map == MAP_FAILED) return tl::unexpected(os_error(errno, "scrub: map data.mdb"));
  Scrubber s(std::span(static_cast<const std::uint8_t*>(c.map), c.size), fd, options, r);
  if (auto st2 = s.run(); !st2) return tl::unexpected(st2.error());
  return r;
}

Status rebuild_table(const Txn& txn, Table table, std::string_view what) {
  std::vector<std::pair<std::string, std::string>> entries;
  {
    Cursor cur(txn.get(), table);
    if (cur.open_rc()) return tl::unexpected(lmdb_error(cur.open_rc(), what));
    MDB_val k, v;
    int rc = cur.get(k, v, MDB_FIRST);
    while (rc == 0) {
      entries.emplace_back(std::string(to_view(k)), std::string(to_view(v)));
      rc = cur.get(k, v, MDB_NEXT);  // every duplicate of a dupsort table too
    }
    if (rc != MDB_NOTFOUND) return tl::unexpected(lmdb_error(rc, what));
  }
  if (int rc = mdb_drop(txn.get(), table.dbi, 0))
    return tl::unexpected(lmdb_error(rc, std::string(what) + ": empty"));
  Cursor cur(txn.get(), table);
  if (cur.open_rc()) return tl::unexpected(lmdb_error(cur.open_rc(), what));
  unsigned dbflags = 0;
  mdb_dbi_flags(txn.get(), table.dbi, &dbflags);
  // In key order: appended (a unique table), or placed through the cursor's page (dupsort).
  const unsigned put_flags = (dbflags & MDB_DUPSORT) ? 0u : unsigned{MDB_APPEND};
  for (auto& [key, value] : entries) {
    MDB_val k = to_val(std::string_view(key)), v = to_val(std::string_view(value));
    if (int rc = mdb_cursor_put(cur.get(), &k, &v, put_flags))
      return tl::unexpected(lmdb_error(rc, std::string(what) + ": put back"));
  }
  return {};
}

}  // namespace custdb::storage
