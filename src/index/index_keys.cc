#include "index/index_keys.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "crypto/crypto.h"
#include "util/coding.h"

namespace custdb::index {
namespace {

constexpr IndexSpec kSpecs[] = {
    {IndexId::kExternalRef, "idx.external_ref", Owner::kCustomer, true},
    {IndexId::kEmail, "idx.email", Owner::kCustomer, false},
    {IndexId::kPhone, "idx.phone", Owner::kCustomer, false},
    {IndexId::kRelByCustomer, "idx.rel_by_customer", Owner::kRelationship, false},
    {IndexId::kTxnByCustomer, "idx.txn_by_customer", Owner::kTransaction, false},
    {IndexId::kHoldingByCustomer, "idx.holding_by_customer", Owner::kHolding, false},
    {IndexId::kAccountRef, "idx.account_ref", Owner::kHolding, true},
    {IndexId::kTxnByHolding, "idx.txn_by_holding", Owner::kTransaction, false},
};
static_assert(std::size(kSpecs) == kIndexCount);

using coding::be64;

}  // namespace

const IndexSpec& spec(IndexId id) { return kSpecs[static_cast<std::size_t>(id)]; }

std::string IndexKeys::id_key(std::uint64_t id) { return be64(id); }

std::uint64_t IndexKeys::owner_id(std::string_view value) {
  if (value.size() < 8) return 0;
  return coding::get_u64(reinterpret_cast<const std::uint8_t*>(value.data() + value.size() - 8));
}

std::string IndexKeys::token_or_plain(IndexId index, std::string_view value) const {
  if (!tok_) return std::string(value);
  const bool personal = index == IndexId::kExternalRef || index == IndexId::kEmail ||
                        index == IndexId::kPhone || index == IndexId::kAccountRef;
  const crypto::Tokenizer* tok = personal ? personal_ : tok_;
  // Callers check personal_denied() first (kPermissionDenied); never a plaintext key here.
  if (!tok) throw std::logic_error("custdb: personal lookup token without the personal key");
  auto t = tok->token(static_cast<std::uint32_t>(index),
                       std::span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
  return std::string(reinterpret_cast<const char*>(t.data()), t.size());
}

std::string IndexKeys::equality_key(IndexId index, std::string_view value) const {
  return token_or_plain(index, value);
}

std::string IndexKeys::txn_time_seek(Timestamp ts) {
  std::string s(16, '\0');
  coding::put_i64(reinterpret_cast<std::uint8_t*>(s.data()), ts.time_since_epoch().count());
  return s;  // id part zero: the first entry at ts
}

void IndexKeys::customer_entries(const Customer& c, std::vector<IndexEntry>& out) const {
  if (personal_denied()) return;  // an analyst key: these entries are not its to make
  const std::string id = be64(c.id);
  if (!c.external_ref.empty())
    out.push_back({IndexId::kExternalRef, token_or_plain(IndexId::kExternalRef, c.external_ref), id});
  if (c.email) out.push_back({IndexId::kEmail, token_or_plain(IndexId::kEmail, *c.email), id});
  if (c.phone) out.push_back({IndexId::kPhone, token_or_plain(IndexId::kPhone, *c.phone), id});
}

bool IndexKeys::same_customer_entries(const Customer& a, const Customer& b) {
  return a.id == b.id && a.external_ref == b.external_ref && a.email == b.email &&
         a.phone == b.phone;
}

void IndexKeys::relationship_entries(const Relationship& r, std::vector<IndexEntry>& out) const {
  const std::string id = be64(r.id);
  out.push_back({IndexId::kRelByCustomer, be64(r.from), id});
  out.push_back({IndexId::kRelByCustomer, be64(r.to), id});
}

void IndexKeys::transaction_entries(const Transaction& t, std::vector<IndexEntry>& out) const {
  std::string value;
  if (txn_values_ordered_by_time()) {
    value.assign(16, '\0');
    coding::put_i64(reinterpret_cast<std::uint8_t*>(value.data()), t.ts.time_since_epoch().count());
    coding::put_u64(reinterpret_cast<std::uint8_t*>(value.data() + 8), t.id);
  } else {
    value = be64(t.id);
  }
  if (t.holding_id) out.push_back({IndexId::kTxnByHolding, be64(*t.holding_id), value});
  out.push_back({IndexId::kTxnByCustomer, be64(t.customer_id), std::move(value)});
}

void IndexKeys::holding_entries(const Holding& h, std::vector<IndexEntry>& out) const {
  const std::string id = be64(h.id);
  out.push_back({IndexId::kHoldingByCustomer, be64(h.customer_id), id});
  if (!h.account_ref.empty() && !personal_denied())
    out.push_back({IndexId::kAccountRef, token_or_plain(IndexId::kAccountRef, h.account_ref), id});
}

EntryDiff diff_entries(std::vector<IndexEntry> old_entries, std::vector<IndexEntry> new_entries) {
  std::sort(old_entries.begin(), old_entries.end());
  old_entries.erase(std::unique(old_entries.begin(), old_entries.end()), old_entries.end());
  std::sort(new_entries.begin(), new_entries.end());
  new_entries.erase(std::unique(new_entries.begin(), new_entries.end()), new_entries.end());
  EntryDiff d;
  std::set_difference(old_entries.begin(), old_entries.end(), new_entries.begin(),
                      new_entries.end(), std::back_inserter(d.removed));
  std::set_difference(new_entries.begin(), new_entries.end(), old_entries.begin(),
                      old_entries.end(), std::back_inserter(d.added));
  return d;
}

}  // namespace custdb::index
