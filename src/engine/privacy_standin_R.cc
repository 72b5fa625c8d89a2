// STAND-IN (builder R, issue #16) — DELETE THIS FILE when S's erasure/scrub and U's audit land.
//
// Minimal, WEAK definitions of calls other owners implement, so that retention.cc and
// restore.cc link and can be exercised before those branches are merged:
//   WriteTxn::erase_customer, ReadView::erasure_journal, Database::scrub  (owner S)
//   WriteTxn::record_audit_event                                         (owner U)
// Every definition here is __attribute__((weak)): the real (strong) definitions win at link
// time, so a merge that forgets to delete this file still links the real code. Nothing here
// scrubs anything; the journal format is private to this file (not S's).
#include "engine/db_impl.h"
#include "util/coding.h"

namespace custdb {

using detail::TxnState;

namespace {
constexpr std::string_view kStandinSeq = "standin.erasure_seq";
}

__attribute__((weak)) Result<bool> WriteTxn::erase_customer(CustomerId id, EraseMode mode) {
  return detail::run_write<bool>(*this, [&](TxnState& st) -> Result<bool> {
    auto c = db_->load_customer(st, id);
    if (!c) return tl::unexpected(c.error());
    if (!*c) return false;
    if (mode == EraseMode::kFull) {
      auto d = db_->delete_customer(st, id, DeleteMode::kCascade);
      if (!d) return d;
    } else {
      if ((*c)->anonymized) return false;
      Customer after = **c;
      after.name.clear();
      after.email.reset();
      after.phone.reset();
      after.external_ref.clear();
      after.birth_date.reset();
      after.gender = Gender::kUnknown;
      after.address = Address{};
      after.anonymized = true;
      if (auto s = db_->write_customer(st, &**c, &after); !s) return tl::unexpected(s.error());
    }
    if (!db_->tables().erasures) return true;
    auto seq = db_->get(st, db_->tables().meta, coding::as_bytes(kStandinSeq));
    if (!seq) return tl::unexpected(seq.error());
    std::uint64_t n = *seq && (*seq)->size() == 8 ? coding::get_u64((*seq)->data()) + 1 : 1;
    coding::IdKey key(n);
    std::uint8_t val[17];
    coding::put_u64(val, id);
    val[8] = static_cast<std::uint8_t>(mode);
    coding::put_u64(val + 9, static_cast<std::uint64_t>(detail::stamp_time(st).time_since_epoch().count()));
    if (auto s = db_->put(st, db_->tables().erasures, key.span(), storage::Bytes(val, 17)); !s)
      return tl::unexpected(s.error());
    if (auto s = db_->put(st, db_->tables().meta, coding::as_bytes(kStandinSeq), key.span()); !s)
      return tl::unexpected(s.error());
    return true;
  });
}

__attribute__((weak)) Result<std::vector<ErasureEntry>> ReadView::erasure_journal() const {
  if (!state_) return make_error(ErrorCode::kFailedPrecondition, "transaction finished");
  std::vector<ErasureEntry> out;
  if (!db_->tables().erasures) return out;
  storage::Walker walk(state_->txn, db_->tables().erasures, "erasure journal");
  Status s = walk.all([&](storage::Bytes key, storage::Bytes val) {
    if (key.size() == 8 && val.size() == 17) {
      ErasureEntry e;
      e.seq = coding::get_u64(key.data());
      e.customer = coding::get_u64(val.data());
      e.mode = static_cast<EraseMode>(val[8]);
      e.at = Timestamp(std::chrono::milliseconds(static_cast<std::int64_t>(coding::get_u64(val.data() + 9))));
      out.push_back(e);
    }
    return storage::Next::go_on();
  });
  if (!s) return tl::unexpected(s.error());
  return out;
}

__attribute__((weak)) Result<ScrubReport> Database::scrub() {
  ScrubReport r;
  r.complete = true;
  return r;
}

__attribute__((weak)) Result<std::uint64_t> WriteTxn::record_audit_event(const AuditEvent& event) {
  (void)event;
  return detail::run_write<std::uint64_t>(*this, [&](TxnState&) -> Result<std::uint64_t> { return 0; });
}

}  // namespace custdb
