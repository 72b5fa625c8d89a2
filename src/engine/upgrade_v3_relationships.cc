// Format 2 -> 3, relationships: every directed link stored once, in its canonical direction.
//
// Format 2 stored a link as typed, so one employment could be there twice (`employer 1->2` and
// `employee 2->1`), or once in either direction. Here, in relationship id order, each record is
// read through canonical() (custdb/types.h); the first record of each link stays (flipped in
// place when it was typed by the inverse name, keeping its id) and every later record of the
// same link is removed. A removed duplicate's `since` is kept when the staying record has none;
// when both have one, the staying record's wins. The index entries (idx.rel_by_customer, one
// under each end) follow each change.
#include <map>
#include <tuple>
#include <vector>

#include "engine/db_impl.h"
#include "engine/upgrade.h"
#include "storage/lmdb.h"

namespace custdb::detail {
namespace {

// One link's identity: its canonical type, custom name and ends (a symmetric link's ends in
// ascending order, since its mirror is the same link).
using LinkKey = std::tuple<RelationType, std::string, CustomerId, CustomerId>;

LinkKey link_key(const Relationship& canonical_link) {
  CustomerId a = canonical_link.from, b = canonical_link.to;
  if (is_symmetric(canonical_link.type) && b < a) std::swap(a, b);
  return {canonical_link.type, canonical_link.custom_type, a, b};
}

}  // namespace

Status upgrade_v3_relationships(DatabaseImpl& d, TxnState& st, const segment::SegmentKeys&) {
  std::vector<Relationship> stored;
  {
    Status failed;
    storage::Walker walk(st.txn, d.tables().relationships, "relationships");
    auto s = walk.all([&](storage::Bytes k, storage::Bytes v) {
      auto r = d.codec().decode_relationship(k, v);
      if (!r) return failed = tl::unexpected(r.error()), storage::Next::stop();
      stored.push_back(std::move(*r));
      return storage::Next::go_on();
    });
    if (!s) return s;
    if (!failed) return failed;
  }

  // The staying record of each link (index into `stored`, already canonical there).
  const std::vector<Relationship> original = stored;
  std::map<LinkKey, std::size_t> kept;
  std::vector<bool> changed(stored.size(), false);
  std::vector<Relationship> removed;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    Relationship c = canonical(stored[i]);
    auto [it, fresh] = kept.try_emplace(link_key(c), i);
    if (fresh) {
      if (!(c == stored[i])) stored[i] = std::move(c), changed[i] = true;
      continue;
    }
    Relationship& stays = stored[it->second];
    if (!stays.since && c.since) stays.since = c.since, changed[it->second] = true;
    removed.push_back(stored[i]);
  }

  std::vector<index::IndexEntry> entries;
  for (const Relationship& r : removed) {
    entries.clear();
    d.keys().relationship_entries(r, entries);
    for (const auto& e : entries)
      if (auto s = d.del_entry(st, e); !s) return s;
    if (auto s = d.del(st, d.tables().relationships, coding::IdKey(r.id).span()); !s) return s;
  }
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (!changed[i]) continue;
    const Relationship& r = stored[i];
    coding::IdKey k(r.id);
    d.codec().encode(k.span(), r, st.buf);
    if (auto s = d.put(st, d.tables().relationships, k.span(), st.buf); !s) return s;
    // Flipping swaps the ends and both ends carry an entry, so this finds nothing to change
    // today; it keeps the index right should the entries ever depend on the direction.
    std::vector<index::IndexEntry> old_entries, new_entries;
    d.keys().relationship_entries(original[i], old_entries);
    d.keys().relationship_entries(r, new_entries);
    if (auto s = d.update_entries(st, std::move(old_entries), std::move(new_entries)); !s) return s;
  }
  return {};
}

}  // namespace custdb::detail
