// Analyst keys (issue #16 point 6; docs/security.md, "Analyst key"): key headers that wrap the
// data key alone (never the personal key) under an analyst's secret, kept in meta
// "analyst_keys"; added and revoked by the owner without re-encrypting anything.
#include <sodium.h>

#include "crypto/crypto.h"
#include "custdb/database.h"
#include "custdb/key.h"
#include "engine/db_impl.h"
#include "util/coding.h"

namespace custdb {

using detail::TxnState;

std::string_view to_string(KeyRole r) {
  switch (r) {
    case KeyRole::kNone: return "none";
    case KeyRole::kOwner: return "owner";
    case KeyRole::kAnalyst: return "analyst";
  }
  return "?";
}

namespace {

Status owner_of_split_file(const detail::DatabaseImpl& d, std::string_view what) {
  if (!d.encrypted())
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string(what) + ": the database is not encrypted");
  if (auto s = d.require_owner(what); !s) return s;
  if (!d.split() || !d.personal_key())
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string(what) + ": the database has no personal key (open it "
                                          "read-write once to upgrade it to format 4)");
  return {};
}

}  // namespace

Status Database::add_analyst_key(const KeyMaterial& key) {
  auto& d = *impl_;
  if (auto s = owner_of_split_file(d, "add_analyst_key"); !s) return s;
  auto s = d.write_retrying([&](TxnState& st) -> Status {
    auto owner = d.get(st, d.tables().meta, coding::as_bytes(detail::kKeyHeaderKey));
    if (!owner) return tl::unexpected(owner.error());
    if (!*owner) return make_error(ErrorCode::kCorruption, "encrypted database without a key header");
    auto kh = crypto::KeyHeader::parse(**owner);
    if (!kh) return tl::unexpected(kh.error());
    // A secret that opens the database already (the owner's, or an analyst's) would make its
    // role ambiguous.
    if (crypto::unwrap_key(*kh, key))
      return make_error(ErrorCode::kAlreadyExists, "add_analyst_key: that is the owner's secret");
    auto exposed = d.get(st, d.tables().meta, coding::as_bytes(detail::kDataKeyHeldPersonalKey));
    if (!exposed) return tl::unexpected(exposed.error());
    if (*exposed)
      return make_error(ErrorCode::kFailedPrecondition,
                        "add_analyst_key: this database was upgraded from format 3, and its data "
                        "key sealed personal fields before (old copies survive in free pages "
                        "and backups): rotate the data key first (custdb rekey --rotate-data-key)");
    auto stored = d.get(st, d.tables().meta, coding::as_bytes(detail::kAnalystKeysKey));
    if (!stored) return tl::unexpected(stored.error());
    std::vector<std::uint8_t> all;
    if (*stored) {
      all.assign((*stored)->begin(), (*stored)->end());
      auto headers = detail::parse_analyst_keys(all);
      if (!headers) return tl::unexpected(headers.error());
      for (const auto& h : *headers)
        if (crypto::unwrap_key(h, key))
          return make_error(ErrorCode::kAlreadyExists,
                            "add_analyst_key: that secret is an analyst key already");
    }
    auto wrapped = crypto::rewrap_key(*kh, d.data_key(), key);
    if (!wrapped) return tl::unexpected(wrapped.error());
    const auto bytes = wrapped->serialize();
    all.insert(all.end(), bytes.begin(), bytes.end());
    if (auto p = d.put(st, d.tables().meta, coding::as_bytes(detail::kAnalystKeysKey), all); !p)
      return p;
    auto a = d.append_audit(st, {"add_analyst_key", {}, 1, ""});
    if (!a) return tl::unexpected(a.error());
    return {};
  });
  if (!s) return s;
  return d.sync();
}

Result<std::uint64_t> Database::revoke_analyst_keys() {
  auto& d = *impl_;
  if (auto s = owner_of_split_file(d, "revoke_analyst_keys"); !s) return tl::unexpected(s.error());
  std::uint64_t n = 0;
  auto s = d.write_retrying([&](TxnState& st) -> Status {
    n = 0;
    auto stored = d.get(st, d.tables().meta, coding::as_bytes(detail::kAnalystKeysKey));
    if (!stored) return tl::unexpected(stored.error());
    if (!*stored) return {};
    n = (*stored)->size() / crypto::KeyHeader::kSize;
    if (auto x = d.del(st, d.tables().meta, coding::as_bytes(detail::kAnalystKeysKey)); !x)
      return x;
    auto a = d.append_audit(st, {"revoke_analyst_keys", {}, n, ""});
    if (!a) return tl::unexpected(a.error());
    return {};
  });
  if (!s) return tl::unexpected(s.error());
  // The revoked wraps must not be what survives a crash. (Their bytes may stay in free pages
  // until reused or scrubbed: docs/security.md, "Analyst key".)
  if (auto sy = d.sync(); !sy) return tl::unexpected(sy.error());
  return n;
}

}  // namespace custdb
