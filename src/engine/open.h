// What opening a database shares with the public wrappers (backup, reader_table): the record
// of what a create made, private directories, and the process-wide registry of open paths.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "custdb/status.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace custdb::detail {

namespace fs = std::filesystem;

// The format version written in the file header (docs/format.md). 2: the segment index keeps
// the bit-sliced index (src/segment/slices.h). 3: folded text keys are Unicode (NFC + full case
// folding), phones E.164, email domains IDNA, directed relationships stored once in their
// canonical direction (src/engine/upgrade.h). 4: privacy (custdb/privacy.h): the tables
// audit, erasures, consent_history and rule_moves; encrypted files keep personal fields under
// a personal key. 5: custom attributes (custdb/attributes.h): meta "schema" (absent: no
// attribute declared) and the records' attribute values. 6: holdings (custdb/types.h Holding).
// 7: the change feed (custdb/feed.h): the tables feed and feed_consumers. Older files still
// open: read-only as they are, read-write upgraded to 7 in place at open.
inline constexpr std::uint32_t kFileFormat = 7;
inline constexpr std::uint32_t kOldestFileFormat = 1;

// LMDB forbids opening one environment twice in a process (its locks are per process).
// A forked child inherits the parent's set but not its environments: the set is per pid.
// Each entry is a canonical path.
extern Mutex g_registry_mutex;
extern std::set<std::string> g_open_paths GUARDED_BY(g_registry_mutex);
extern pid_t g_registry_pid GUARDED_BY(g_registry_mutex);

// What a create made (directories, files), removed again when the create fails, so a failed
// create leaves the path as it found it. Holds paths only; run after the environment closed.
// Not thread-safe: one per create.
class CreateUndo {
 public:
  CreateUndo() = default;
  CreateUndo(const CreateUndo&) = delete;
  CreateUndo& operator=(const CreateUndo&) = delete;
  ~CreateUndo() {
    if (done_) return;
    std::error_code ec;
    for (auto it = files_.rbegin(); it != files_.rend(); ++it) fs::remove(*it, ec);
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) fs::remove(*it, ec);  // if empty
  }
  void file(const fs::path& p) { files_.push_back(p); }
  void dir(const fs::path& p) { dirs_.push_back(p); }
  void dismiss() { done_ = true; }
  // The files turned out to be another process's (it created them first): keep them.
  void keep_files() { files_.clear(); }

 private:
  std::vector<fs::path> files_, dirs_;
  bool done_ = false;
};

// mkdir -p with mode 0700 for every directory it creates, whatever the umask (a umask can only
// narrow the mode mkdir applies; the chmod makes it exactly 0700). Existing directories keep
// their mode: they are the user's. Each directory made is recorded in `undo`.
Status create_private_dirs(const fs::path& path, CreateUndo& undo);

}  // namespace custdb::detail
