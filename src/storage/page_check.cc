// The page walk of page_check.h. Every read goes through Page::u16/u64 or a span checked
// against the page's bounds first; the walk never dereferences an offset it has not checked.
#include "storage/page_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <cstring>
#include <string_view>

namespace custdb::storage {
namespace {

// mdb.c constants (LMDB 0.9, 64-bit).
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;
constexpr std::size_t kPageHdr = 16;   // PAGEHDRSZ
constexpr std::size_t kNodeSize = 8;   // NODESIZE
constexpr std::size_t kDbSize = 48;    // sizeof(MDB_db)
constexpr std::size_t kMetaSize = 136; // sizeof(MDB_meta)
constexpr std::uint64_t kInvalidPgno = ~std::uint64_t{0};  // P_INVALID
constexpr std::size_t kMaxKeySize = 511;                    // mdb_env_get_maxkeysize
constexpr std::uint16_t P_BRANCH = 0x01, P_LEAF = 0x02, P_OVERFLOW = 0x04, P_META = 0x08,
                        P_LEAF2 = 0x20, P_SUBP = 0x40;
constexpr std::uint16_t P_DIRTY = 0x10, P_LOOSE = 0x4000, P_KEEP = 0x8000;
// Flags a page in a tree may carry on disk besides its kind. Not P_DIRTY: mdb_page_flush
// clears it, and a page read with it set is written in place by the next write transaction
// (mdb_page_touch skips the copy), into the read-only map: SIGSEGV. Nor any unknown bit.
constexpr std::uint16_t kToleratedFlags = P_LOOSE | P_KEEP;
constexpr std::uint16_t F_BIGDATA = 0x01, F_SUBDATA = 0x02, F_DUPDATA = 0x04;
constexpr std::uint16_t MDB_REVERSEKEY = 0x02, MDB_DUPSORT = 0x04, MDB_INTEGERKEY = 0x08,
                        MDB_DUPFIXED = 0x10, MDB_INTEGERDUP = 0x20, MDB_REVERSEDUP = 0x40;
constexpr std::uint16_t kDbFlags = MDB_REVERSEKEY | MDB_DUPSORT | MDB_INTEGERKEY | MDB_DUPFIXED |
                                   MDB_INTEGERDUP | MDB_REVERSEDUP;

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

// MDB_db, decoded.
struct DbRec {
  std::uint32_t pad = 0;
  std::uint16_t flags = 0, depth = 0;
  std::uint64_t branch = 0, leaf = 0, overflow = 0, entries = 0, root = kInvalidPgno;
};
DbRec read_db(const std::uint8_t* p) {
  return {rd32(p), rd16(p + 4), rd16(p + 6), rd64(p + 8), rd64(p + 16), rd64(p + 24),
          rd64(p + 32), rd64(p + 40)};
}

struct Meta {
  bool valid = false;
  std::uint32_t magic = 0, version = 0;
  std::uint64_t mapsize = 0;
  DbRec free_db, main_db;
  std::uint64_t last_pgno = 0, txnid = 0;
  std::uint32_t psize() const { return free_db.pad; }
};

// How keys (or duplicate values) of a tree compare: LMDB's comparator for the DB's flags.
enum class Order { kMemn, kMemnReverse, kInteger };

int compare(Order o, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  switch (o) {
    case Order::kInteger: {
      // mdb_cmp_int / mdb_cmp_cint / mdb_cmp_long: native (little-endian) unsigned integers
      // of a's size; sizes are checked equal by the caller's context (4 or 8).
      if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
      for (std::size_t i = a.size(); i-- > 0;)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
      return 0;
    }
    case Order::kMemnReverse: {  // mdb_cmp_memnr: bytes from the end
      std::size_t n = std::min(a.size(), b.size());
      for (std::size_t i = 1; i <= n; ++i)
        if (a[a.size() - i] != b[b.size() - i]) return a[a.size() - i] < b[b.size() - i] ? -1 : 1;
      return a.size() < b.size() ? -1 : a.size() > b.size();
    }
    case Order::kMemn:
    default: {  // mdb_cmp_memn: memcmp of the common length, then the shorter first
      std::size_t n = std::min(a.size(), b.size());
      if (n) {
        int c = std::memcmp(a.data(), b.data(), n);
        if (c) return c;
      }
      return a.size() < b.size() ? -1 : a.size() > b.size();
    }
  }
}

// LMDB's integer comparators read b with a's size (mdb_cmp_cint): integer keys must be 4 or
// 8 bytes, and all of one size.
bool integer_size_ok(Order o, std::span<const std::uint8_t> prev, std::span<const std::uint8_t> key,
                     bool has_prev) {
  if (o != Order::kInteger) return true;
  if (key.size() != 4 && key.size() != 8) return false;
  return !has_prev || prev.size() == key.size();
}

Order key_order(std::uint16_t f) {
  if (f & MDB_INTEGERKEY) return Order::kInteger;
  if (f & MDB_REVERSEKEY) return Order::kMemnReverse;
  return Order::kMemn;
}
Order dup_order(std::uint16_t f) {
  if (f & MDB_INTEGERDUP) return Order::kInteger;
  if (f & MDB_REVERSEDUP) return Order::kMemnReverse;
  return Order::kMemn;
}

struct StopWalk {};  // thrown when max_problems is reached; caught in check_pages

// What one tree's walk found, compared with its MDB_db afterwards.
struct TreeCount {
  std::uint64_t branch = 0, leaf = 0, overflow = 0, entries = 0;
};

enum class TreeKind { kFree, kMain, kNamed, kSubDb };

// How to walk one tree.
struct Tree {
  TreeKind kind;
  std::string_view name;  // for reports: "free list", "main DB", "DB 'x'" (Walker::names_)
  Order order;         // of the tree's keys
  std::uint16_t flags; // the MDB_db's flags (for named DBs: MDB_DUPSORT etc.)
  std::uint32_t leaf2_size = 0;  // sub-DBs of MDB_DUPFIXED DBs: LEAF2 leaves of this key size
};

class Walker {
 public:
  Walker(std::span<const std::uint8_t> file, const PageCheckOptions& o, PageCheckReport& r)
      : file_(file), opts_(o), r_(r) {}

  void run();
  void export_use(std::vector<std::uint8_t>* out) const {
    if (out) *out = seen_;
  }

 private:
  std::span<const std::uint8_t> file_;
  const PageCheckOptions& opts_;
  PageCheckReport& r_;
  std::size_t psize_ = 0;
  std::uint64_t last_ = 0;     // last_pgno of the newest meta
  std::uint64_t in_file_ = 0;  // pages wholly inside the file
  std::vector<std::uint8_t> seen_;  // per page: 0 unseen, 1 in a tree, 2 free
  std::deque<std::string> names_;   // of the named DBs, for Tree::name

  void problem(std::uint64_t pgno, std::string what) {
    r_.problems.push_back({pgno, std::move(what)});
    if (r_.problems.size() >= opts_.max_problems) {
      r_.stopped = true;
      throw StopWalk{};
    }
  }

  Meta read_meta(int i, std::size_t off);
  std::span<const std::uint8_t> claim(std::uint64_t pgno, std::uint64_t from,
                                      const std::string& what);
  // The same for a tree page; the description is built only for a report.
  std::span<const std::uint8_t> claim(std::uint64_t pgno, std::uint64_t from, const Tree& t,
                                      const char* role) {
    if (pgno >= 2 && pgno <= last_ && pgno < in_file_ && !seen_[pgno]) {
      seen_[pgno] = 1;
      return file_.subspan(pgno * psize_, psize_);
    }
    return claim(pgno, from, std::string(t.name) + role);
  }
  void walk_db(const DbRec& db, const Tree& t, std::uint64_t from);
  void walk_page(std::uint64_t pgno, std::uint64_t from, int level, int depth, const Tree& t,
                 TreeCount& count);
  void leaf_nodes(std::span<const std::uint8_t> p, std::uint64_t pgno, const Tree& t,
                  bool sub_page, TreeCount& count);
  void sub_page_walk(std::span<const std::uint8_t> sp, std::uint64_t pgno, const Tree& parent,
                     TreeCount& count);
  std::span<const std::uint8_t> overflow(std::uint64_t opgno, std::uint64_t from,
                                         std::size_t dsize, TreeCount& count);
  void free_list_value(std::span<const std::uint8_t> v, std::uint64_t pgno);
};

Meta Walker::read_meta(int i, std::size_t off) {
  Meta m;
  const std::uint64_t pgno = static_cast<std::uint64_t>(i);
  const std::string which = "meta page " + std::to_string(i) + ": ";
  if (off + kPageHdr + kMetaSize > file_.size()) {
    problem(pgno, which + "lies past the end of the file (" + std::to_string(file_.size()) +
                      " bytes)");
    return m;
  }
  const std::uint8_t* p = file_.data() + off;
  const std::uint16_t flags = rd16(p + 10);
  const std::uint8_t* mp = p + kPageHdr;
  m.magic = rd32(mp);
  m.version = rd32(mp + 4);
  m.mapsize = rd64(mp + 16);
  m.free_db = read_db(mp + 24);
  m.main_db = read_db(mp + 24 + kDbSize);
  m.last_pgno = rd64(mp + 24 + 2 * kDbSize);
  m.txnid = rd64(mp + 24 + 2 * kDbSize + 8);
  if (!(flags & P_META)) {
    problem(pgno, which + "flags " + std::to_string(flags) + " lack P_META");
    return m;
  }
  if (m.magic != kMagic) {
    problem(pgno, which + "bad magic " + std::to_string(m.magic));
    return m;
  }
  if (m.version != kDataVersion) {
    problem(pgno, which + "version " + std::to_string(m.version) + ", expected 1");
    return m;
  }
  const std::uint32_t ps = m.psize();
  if (ps < 512 || ps > 32768 || (ps & (ps - 1))) {
    problem(pgno, which + "page size " + std::to_string(ps) +
                      " is not a power of two in [512, 32768]");
    return m;
  }
  // mm_flags shares the free list's md_flags with the environment's flags (which never use
  // the DB flag bits, mdb.c): its DB flags must be exactly MDB_INTEGERKEY, or LMDB treats the
  // free list as another kind of tree (MDB_DUPSORT: an assertion in mdb_cursor_init).
  if ((m.free_db.flags & kDbFlags) != MDB_INTEGERKEY) {
    problem(pgno, which + "free list flags " + std::to_string(m.free_db.flags));
    return m;
  }
  if (m.last_pgno < 1 || m.last_pgno > (std::uint64_t{1} << 47) / ps) {
    problem(pgno, which + "last page " + std::to_string(m.last_pgno) + " out of range");
    return m;
  }
  if (m.mapsize < (m.last_pgno + 1) * ps || m.mapsize > (std::uint64_t{1} << 48)) {
    problem(pgno, which + "map size " + std::to_string(m.mapsize) +
                      " does not fit its last page " + std::to_string(m.last_pgno));
    return m;
  }
  m.valid = true;
  return m;
}

// A page `pgno` named by page `from`: in range, in the file, not seen before. Marks it seen.
// Returns its bytes, or an empty span (reported) when it must not be read.
std::span<const std::uint8_t> Walker::claim(std::uint64_t pgno, std::uint64_t from,
                                            const std::string& what) {
  if (pgno < 2 || pgno > last_) {
    problem(from, what + " names page " + std::to_string(pgno) +
                      (pgno < 2 ? ", a meta page" : ", past the last page " + std::to_string(last_)));
    return {};
  }
  if (pgno >= in_file_) {
    problem(from, what + " names page " + std::to_string(pgno) +
                      ", past the end of the file (the file is truncated: " +
                      std::to_string(file_.size()) + " bytes)");
    return {};
  }
  if (seen_[pgno]) {
    problem(from, what + " names page " + std::to_string(pgno) + ", which is reached twice");
    return {};
  }
  seen_[pgno] = 1;
  return file_.subspan(pgno * psize_, psize_);
}

void Walker::run() {
  r_.file_size = file_.size();
  if (file_.empty()) {
    problem(0, "the file is empty");
    return;
  }
  Meta m0 = read_meta(0, 0);
  if (!m0.valid) return;  // meta 1 cannot be located without meta 0's page size (as in LMDB)
  psize_ = m0.psize();
  Meta m1 = read_meta(1, psize_);
  if (!m1.valid) return;
  if (m1.psize() != m0.psize()) {
    problem(1, "meta page 1: page size " + std::to_string(m1.psize()) + " differs from meta 0's " +
                   std::to_string(m0.psize()));
    return;
  }
  // mdb_env_pick_meta: the larger txnid, meta 0 on a tie.
  const bool newer1 = m0.txnid < m1.txnid;
  const Meta& m = newer1 ? m1 : m0;
  const std::uint64_t meta_pgno = newer1 ? 1 : 0;
  r_.page_size = m.psize();
  r_.last_pgno = m.last_pgno;
  r_.txnid = m.txnid;
  last_ = m.last_pgno;
  in_file_ = file_.size() / psize_;
  // A file may end before its last page: LMDB does not write a page it allocated and freed in
  // the same transaction (a "loose" page, mdb_page_flush skips it; mdb_freelist_save lists it
  // as free), so the tail can be free pages that never reached the file. Only a missing page
  // that is not free is truncation: tree pages past the end are refused by claim(), and the
  // end of run() names the first missing page that is not free.
  seen_.assign(last_ + 1, 0);
  seen_[0] = seen_[1] = 1;
  // The free list's flags share a field with the environment's flags (mm_flags); its keys
  // are always txnids (MDB_INTEGERKEY).
  walk_db(m.free_db, {TreeKind::kFree, "free list", Order::kInteger, MDB_INTEGERKEY}, meta_pgno);
  if (m.main_db.flags & MDB_DUPSORT) {
    problem(meta_pgno, "main DB: flags " + std::to_string(m.main_db.flags) +
                           " (a dupsort main DB cannot hold named DBs)");
    return;
  }
  walk_db(m.main_db, {TreeKind::kMain, "main DB", key_order(m.main_db.flags), m.main_db.flags},
          meta_pgno);
  for (std::uint64_t pgno = std::max<std::uint64_t>(in_file_, 2); pgno <= last_; ++pgno)
    if (seen_[pgno] != 2) {
      problem(meta_pgno, "the file is truncated: " + std::to_string(file_.size()) +
                             " bytes, but page " + std::to_string(pgno) +
                             " (not a free page) lies past its end (its last page " +
                             std::to_string(last_) + " ends at " +
                             std::to_string((last_ + 1) * psize_) + ")");
      break;
    }
  if (r_.problems.empty()) {
    // mdb.c's audit: every page below the last is a meta page, in a tree, or free.
    std::uint64_t reached = 0;
    for (std::uint8_t s : seen_) reached += s != 0;
    if (reached != last_ + 1)
      problem(meta_pgno, std::to_string(last_ + 1 - reached) + " of " + std::to_string(last_ + 1) +
                             " pages are neither in use nor free");
  }
}

void Walker::walk_db(const DbRec& db, const Tree& t, std::uint64_t from) {
  const std::string who = std::string(t.name) + (t.kind == TreeKind::kSubDb ? " sub-DB: " : ": ");
  if (t.kind != TreeKind::kFree && t.kind != TreeKind::kSubDb) {
    if (db.flags & ~kDbFlags) {
      problem(from, who + "unknown DB flags " + std::to_string(db.flags));
      return;
    }
    if ((db.flags & (MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP)) && !(db.flags & MDB_DUPSORT)) {
      problem(from, who + "duplicate flags without MDB_DUPSORT");
      return;
    }
  }
  if (db.root == kInvalidPgno) {
    if (db.depth || db.entries || db.branch || db.leaf || db.overflow)
      problem(from, who + "empty DB claims depth " + std::to_string(db.depth) + " and " +
                        std::to_string(db.entries) + " entries");
    return;
  }
  if (db.depth < 1 || db.depth > kMaxDepth) {
    problem(from, who + "depth " + std::to_string(db.depth) + " out of range");
    return;
  }
  const std::size_t before = r_.problems.size();
  TreeCount count;
  walk_page(db.root, from, 1, db.depth, t, count);
  if (r_.problems.size() != before) return;  // counts of a damaged tree say nothing more
  auto mismatch = [&](const char* what, std::uint64_t recorded, std::uint64_t walked) {
    if (recorded != walked)
      problem(from, who + what + ": " + std::to_string(recorded) + " recorded, " +
                        std::to_string(walked) + " walked");
  };
  mismatch("branch pages", db.branch, count.branch);
  mismatch("leaf pages", db.leaf, count.leaf);
  mismatch("overflow pages", db.overflow, count.overflow);
  mismatch("entries", db.entries, count.entries);
}

void Walker::walk_page(std::uint64_t pgno, std::uint64_t from, int level, int depth,
                       const Tree& t, TreeCount& count) {
  std::span<const std::uint8_t> p = claim(pgno, from, t, level == 1 ? ": root" : ": branch node");
  if (p.empty()) return;
  ++r_.pages_walked;
  auto where = [&] { return std::string(t.name) + (t.kind == TreeKind::kSubDb ? " sub-DB: " : ": "); };
  const bool leaf = level == depth;
  const bool leaf2 = leaf && t.leaf2_size != 0;
  if (rd64(p.data()) != pgno) {
    problem(pgno, where() + "page header names page " + std::to_string(rd64(p.data())));
    return;
  }
  const std::uint16_t flags = rd16(p.data() + 10);
  const std::uint16_t want = leaf ? (leaf2 ? P_LEAF | P_LEAF2 : P_LEAF) : P_BRANCH;
  if ((flags & ~kToleratedFlags) != want) {
    problem(pgno, where() + "flags " + std::to_string(flags) + ", expected a " +
                      (leaf ? (leaf2 ? "LEAF2 page" : "leaf page") : "branch page") +
                      " at level " + std::to_string(level) + " of " + std::to_string(depth));
    return;
  }
  if (leaf) {
    ++count.leaf;
    leaf_nodes(p, pgno, t, false, count);
    return;
  }
  ++count.branch;
  const std::uint16_t lower = rd16(p.data() + 12), upper = rd16(p.data() + 14);
  if (lower < kPageHdr || upper < lower || upper > psize_ || (lower - kPageHdr) % 2) {
    problem(pgno, where() + "bounds lower " + std::to_string(lower) + ", upper " +
                      std::to_string(upper) + " do not fit the page");
    return;
  }
  const std::size_t n = (lower - kPageHdr) / 2;
  if (n == 0) {
    problem(pgno, where() + "branch page without entries");
    return;
  }
  // Branch nodes: the child's page number in mn_lo, mn_hi, mn_flags; then the key (node 0's
  // key is not used by LMDB).
  std::span<const std::uint8_t> prev;
  std::vector<std::uint64_t> children;
  children.reserve(n);
  std::size_t used = 0;  // bytes of the nodes, each rounded up to even as mdb_node_add does
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = rd16(p.data() + kPageHdr + 2 * i);
    if (off < upper || off + kNodeSize > psize_) {
      problem(pgno, where() + "branch node " + std::to_string(i) + " at offset " +
                        std::to_string(off) + " lies outside the node area");
      return;
    }
    const std::uint8_t* node = p.data() + off;
    const std::size_t ksize = rd16(node + 6);
    if (off + kNodeSize + ksize > psize_ || ksize > kMaxKeySize) {
      problem(pgno, where() + "branch node " + std::to_string(i) + ": a key of " +
                        std::to_string(ksize) + " bytes runs past the page");
      return;
    }
    std::span<const std::uint8_t> key(node + kNodeSize, ksize);
    if (i >= 1 && !integer_size_ok(t.order, prev, key, i >= 2)) {
      problem(pgno, where() + "branch node " + std::to_string(i) + ": an integer key of " +
                        std::to_string(ksize) + " bytes");
      return;
    }
    if (i >= 2 && compare(t.order, prev, key) >= 0) {
      problem(pgno, where() + "branch keys out of order at node " + std::to_string(i));
      return;
    }
    if (i >= 1) prev = key;
    used += (kNodeSize + ksize + 1) & ~std::size_t{1};
    children.push_back(rd16(node) | std::uint64_t{rd16(node + 2)} << 16 |
                       std::uint64_t{rd16(node + 4)} << 32);
  }
  // LMDB packs nodes from the page's end down to mp_upper; nodes that overlap (or a node
  // counted twice) would make its writes move bytes across other nodes.
  if (used != psize_ - upper) {
    problem(pgno, where() + "nodes take " + std::to_string(used) + " bytes, the node area " +
                      std::to_string(psize_ - upper));
    return;
  }
  for (std::uint64_t child : children) walk_page(child, pgno, level + 1, depth, t, count);
}

std::span<const std::uint8_t> Walker::overflow(std::uint64_t opgno, std::uint64_t from,
                                               std::size_t dsize, TreeCount& count) {
  std::span<const std::uint8_t> p = claim(opgno, from, "an F_BIGDATA node");
  if (p.empty()) return {};
  const std::uint16_t flags = rd16(p.data() + 10);
  if (rd64(p.data()) != opgno || (flags & ~kToleratedFlags) != P_OVERFLOW) {
    problem(opgno, "not an overflow page (flags " + std::to_string(flags) + ", header page " +
                       std::to_string(rd64(p.data())) + ")");
    return {};
  }
  const std::uint64_t pages = rd32(p.data() + 12);
  if (pages < 1 || pages > last_ + 1 - opgno || opgno + pages > in_file_) {
    problem(opgno, "overflow run of " + std::to_string(pages) + " pages runs past the " +
                       (pages >= 1 && pages <= last_ + 1 - opgno ? "end of the file"
                                                                 : "last page"));
    return {};
  }
  if (dsize + kPageHdr > pages * psize_) {
    problem(opgno, "overflow run of " + std::to_string(pages) + " pages cannot hold " +
                       std::to_string(dsize) + " bytes");
    return {};
  }
  for (std::uint64_t q = opgno + 1; q < opgno + pages; ++q) {
    if (seen_[q]) {
      problem(opgno, "overflow run reaches page " + std::to_string(q) + ", which is reached twice");
      return {};
    }
    seen_[q] = 1;
  }
  r_.pages_walked += pages;
  count.overflow += pages;
  return file_.subspan(opgno * psize_ + kPageHdr, dsize);
}

void Walker::free_list_value(std::span<const std::uint8_t> v, std::uint64_t pgno) {
  // An MDB_IDL: a count n, then n page numbers.
  if (v.size() < 8 || v.size() % 8) {
    problem(pgno, "free list: a page list of " + std::to_string(v.size()) + " bytes");
    return;
  }
  const std::uint64_t n = rd64(v.data());
  if (n != v.size() / 8 - 1) {
    problem(pgno, "free list: count " + std::to_string(n) + " in a list of " +
                      std::to_string(v.size() / 8 - 1));
    return;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t f = rd64(v.data() + 8 * (i + 1));
    if (f < 2 || f > last_) {
      problem(pgno, "free list names page " + std::to_string(f) + ", out of range");
      return;
    }
    if (seen_[f]) {
      problem(pgno, "free list names page " + std::to_string(f) + ", which is reached twice");
      return;
    }
    seen_[f] = 2;
    ++r_.free_pages;
  }
}

// The nodes of a leaf page, or of a dupsort sub-page (sub_page: `p` is the node's data, its
// offsets relative to it, page number `pgno` the leaf holding it).
void Walker::leaf_nodes(std::span<const std::uint8_t> p, std::uint64_t pgno, const Tree& t,
                        bool sub_page, TreeCount& count) {
  auto where = [&] {
    return std::string(t.name) + (sub_page ? ": dupsort sub-page: " : t.kind == TreeKind::kSubDb ? " sub-DB: " : ": ");
  };
  const std::size_t size = p.size();
  const std::uint16_t lower = rd16(p.data() + 12), upper = rd16(p.data() + 14);
  if (lower < kPageHdr || upper < lower || upper > size || (lower - kPageHdr) % 2) {
    problem(pgno, where() + "bounds lower " + std::to_string(lower) + ", upper " +
                      std::to_string(upper) + " do not fit the page");
    return;
  }
  const std::size_t n = (lower - kPageHdr) / 2;
  if (n == 0) {
    problem(pgno, where() + "leaf without entries");
    return;
  }
  if (t.leaf2_size) {
    // LEAF2: n keys of mp_pad bytes each, right after the header.
    const std::size_t ks = rd16(p.data() + 8);
    if (ks != t.leaf2_size) {
      problem(pgno, where() + "LEAF2 key size " + std::to_string(ks) + ", expected " +
                        std::to_string(t.leaf2_size));
      return;
    }
    if (t.order == Order::kInteger && ks != 4 && ks != 8) {
      problem(pgno, where() + "integer LEAF2 keys of " + std::to_string(ks) + " bytes");
      return;
    }
    if (kPageHdr + n * ks > size) {
      problem(pgno, where() + std::to_string(n) + " LEAF2 keys run past the page");
      return;
    }
    for (std::size_t i = 1; i < n; ++i)
      if (compare(t.order, p.subspan(kPageHdr + (i - 1) * ks, ks),
                  p.subspan(kPageHdr + i * ks, ks)) >= 0) {
        problem(pgno, where() + "LEAF2 keys out of order at " + std::to_string(i));
        return;
      }
    count.entries += n;
    return;
  }
  const bool dupsort = (t.kind == TreeKind::kNamed || t.kind == TreeKind::kMain) &&
                       (t.flags & MDB_DUPSORT);
  std::span<const std::uint8_t> prev;
  std::size_t used = 0;  // as in walk_page
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t off = rd16(p.data() + kPageHdr + 2 * i);
    auto node_name = [&] { return where() + "node " + std::to_string(i); };
    if (off < upper || off + kNodeSize > size) {
      problem(pgno, node_name() + " at offset " + std::to_string(off) +
                        " lies outside the node area");
      return;
    }
    const std::uint8_t* node = p.data() + off;
    const std::size_t dsize = rd16(node) | std::size_t{rd16(node + 2)} << 16;
    const std::uint16_t nflags = rd16(node + 4);
    const std::size_t ksize = rd16(node + 6);
    if (ksize > kMaxKeySize || off + kNodeSize + ksize > size) {
      problem(pgno, node_name() + ": a key of " + std::to_string(ksize) + " bytes runs past the page");
      return;
    }
    std::span<const std::uint8_t> key(node + kNodeSize, ksize);
    if (!integer_size_ok(t.order, prev, key, i > 0)) {
      problem(pgno, node_name() + ": an integer key of " + std::to_string(ksize) + " bytes");
      return;
    }
    if (i > 0 && compare(t.order, prev, key) >= 0) {
      problem(pgno, node_name() + ": keys out of order");
      return;
    }
    prev = key;
    const std::size_t data_off = off + kNodeSize + ksize;
    used += (kNodeSize + ksize + (nflags == F_BIGDATA ? 8 : dsize) + 1) & ~std::size_t{1};
    // Which node kinds each tree may hold.
    const bool sub_tree = t.kind == TreeKind::kSubDb || sub_page;
    bool allowed;
    switch (nflags) {
      case 0: allowed = true; break;
      case F_BIGDATA: allowed = !sub_tree && !dupsort; break;
      case F_SUBDATA: allowed = t.kind == TreeKind::kMain && !sub_page; break;
      case F_DUPDATA:
      case F_DUPDATA | F_SUBDATA: allowed = dupsort && !sub_tree; break;
      default: allowed = false;
    }
    if (!allowed) {
      problem(pgno, node_name() + ": node flags " + std::to_string(nflags) + " not allowed in " +
                        std::string(t.name));
      return;
    }
    if (sub_tree && dsize != 0) {
      problem(pgno, node_name() + ": a duplicate value carries " + std::to_string(dsize) +
                        " data bytes");
      return;
    }
    if (nflags == F_BIGDATA) {
      if (data_off + 8 > size) {
        problem(pgno, node_name() + ": overflow page number runs past the page");
        return;
      }
      auto v = overflow(rd64(p.data() + data_off), pgno, dsize, count);
      if (v.empty() && dsize) return;
      ++count.entries;
      if (t.kind == TreeKind::kFree) free_list_value(v, pgno);
      continue;
    }
    if (data_off + dsize > size) {
      problem(pgno, node_name() + ": " + std::to_string(dsize) + " data bytes run past the page");
      return;
    }
    std::span<const std::uint8_t> data = p.subspan(data_off, dsize);
    if (nflags & F_SUBDATA) {
      if (dsize != kDbSize) {
        problem(pgno, node_name() + ": a DB record of " + std::to_string(dsize) + " bytes");
        return;
      }
      const DbRec db = read_db(data.data());
      if (nflags == F_SUBDATA) {  // a named DB
        ++count.entries;
        ++r_.named_dbs;
        // LMDB 0.9 opens a named DB with the flags stored here, whatever the caller asks
        // (mdb_dbi_open): flags changed on disk change how LMDB reads the tree.
        const std::string name(reinterpret_cast<const char*>(key.data()), key.size());
        if (auto it = opts_.db_flags.find(name);
            it != opts_.db_flags.end() && it->second != db.flags) {
          problem(pgno, node_name() + ": DB '" + name + "' has flags " + std::to_string(db.flags) +
                            ", expected " + std::to_string(it->second));
          return;
        }
        names_.push_back("DB '" + std::string(reinterpret_cast<const char*>(key.data()), key.size()) + "'");
        walk_db(db, {TreeKind::kNamed, names_.back(), key_order(db.flags), db.flags}, pgno);
      } else {  // F_DUPDATA | F_SUBDATA: the duplicates of this key in their own tree
        const std::uint16_t want = (t.flags & MDB_DUPFIXED)
                                       ? std::uint16_t(MDB_DUPFIXED | (t.flags & MDB_INTEGERDUP ? MDB_INTEGERKEY : 0))
                                       : 0;
        if (db.flags != want || (want && (db.pad < 1 || db.pad > kMaxKeySize)) || (!want && db.pad)) {
          problem(pgno, node_name() + ": sub-DB flags " + std::to_string(db.flags) + ", key size " +
                            std::to_string(db.pad));
          return;
        }
        walk_db(db, {TreeKind::kSubDb, t.name, dup_order(t.flags), db.flags,
                     want ? db.pad : 0u},
                pgno);
        count.entries += db.entries;
      }
      continue;
    }
    if (nflags == F_DUPDATA) {
      sub_page_walk(data, pgno, t, count);
      continue;
    }
    ++count.entries;
    if (t.kind == TreeKind::kFree) free_list_value(data, pgno);
  }
  if (used != size - upper)
    problem(pgno, where() + "nodes take " + std::to_string(used) + " bytes, the node area " +
                      std::to_string(size - upper));
}

// A dupsort sub-page (F_DUPDATA without F_SUBDATA): a page image of the node's data size
// inside the leaf, P_LEAF|P_SUBP (and P_LEAF2 for MDB_DUPFIXED), its keys the duplicates.
void Walker::sub_page_walk(std::span<const std::uint8_t> sp, std::uint64_t pgno,
                           const Tree& parent, TreeCount& count) {
  if (sp.size() < kPageHdr) {
    problem(pgno, std::string(parent.name) + ": a dupsort sub-page of " + std::to_string(sp.size()) + " bytes");
    return;
  }
  const bool fixed = parent.flags & MDB_DUPFIXED;
  const std::uint16_t flags = rd16(sp.data() + 10);
  const std::uint16_t want = P_LEAF | P_SUBP | (fixed ? P_LEAF2 : 0);
  if ((flags & ~P_DIRTY) != want) {  // LMDB sets P_DIRTY on sub-pages and keeps it
    problem(pgno, std::string(parent.name) + ": dupsort sub-page flags " + std::to_string(flags));
    return;
  }
  std::uint32_t ks = 0;
  if (fixed) {
    ks = rd16(sp.data() + 8);
    if (ks < 1 || ks > kMaxKeySize) {
      problem(pgno, std::string(parent.name) + ": dupsort sub-page key size " + std::to_string(ks));
      return;
    }
  }
  leaf_nodes(sp, pgno, {TreeKind::kSubDb, parent.name, dup_order(parent.flags), 0, ks}, true,
             count);
}

}  // namespace

std::string PageCheckReport::summary() const {
  if (problems.empty()) return "clean";
  std::string s = "page " + std::to_string(problems.front().pgno) + ": " + problems.front().what;
  if (problems.size() > 1)
    s += " (and " + std::to_string(problems.size() - 1) + (stopped ? "+" : "") + " more)";
  return s;
}

PageCheckReport check_pages(std::span<const std::uint8_t> file, const PageCheckOptions& o) {
  PageCheckReport r;
  PageCheckOptions opts = o;
  if (opts.max_problems == 0) opts.max_problems = 1;
  Walker w(file, opts, r);
  try {
    w.run();
  } catch (const StopWalk&) {
  }
  w.export_use(opts.page_use);
  return r;
}

namespace {

// A read-only private map of a whole file, exactly its size.
class FileMap {
 public:
  ~FileMap() {
    if (map_ && map_ != MAP_FAILED) ::munmap(map_, size_);
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      return make_error(ErrorCode::kIOError,
                        "cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0)
      return make_error(ErrorCode::kIOError, "cannot stat " + path.string());
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) return {};
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (map_ == MAP_FAILED)
      return make_error(ErrorCode::kIOError,
                        "cannot map " + path.string() + ": " + std::strerror(errno));
    ::madvise(map_, size_, MADV_SEQUENTIAL);
    return {};
  }
  std::span<const std::uint8_t> bytes() const {
    return size_ ? std::span(static_cast<const std::uint8_t*>(map_), size_)
                 : std::span<const std::uint8_t>();
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

// The larger txnid of the two meta pages, read with pread (0 when unreadable).
std::uint64_t newest_txnid(int fd) {
  std::uint8_t m0[kPageHdr + kMetaSize], m1[kPageHdr + kMetaSize];
  if (::pread(fd, m0, sizeof m0, 0) != static_cast<ssize_t>(sizeof m0)) return 0;
  const std::uint32_t ps = rd32(m0 + kPageHdr + 24);
  if (ps < 512 || ps > 32768) return 0;
  if (::pread(fd, m1, sizeof m1, ps) != static_cast<ssize_t>(sizeof m1)) return 0;
  const std::size_t t = kPageHdr + 24 + 2 * kDbSize + 8;
  return std::max(rd64(m0 + t), rd64(m1 + t));
}

}  // namespace

Result<PageCheckReport> check_pages_file(const std::filesystem::path& data_mdb,
                                         const PageCheckOptions& o) {
  for (int attempt = 0;; ++attempt) {
    FileMap map;
    if (auto s = map.open(data_mdb); !s) return tl::unexpected(s.error());
    PageCheckReport r = check_pages(map.bytes(), o);
    // A writer in another process may have committed during the walk and reused pages of
    // the snapshot walked: walk the new one.
    if (r.clean() || attempt == 2 || newest_txnid(map.fd()) == r.txnid) return r;
  }
}

}  // namespace custdb::storage
