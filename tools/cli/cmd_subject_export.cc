// custdb subject-export: scaffolding (issue #16, owner U) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_subject_export(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("subject-export", "Write everything held about one customer as one JSON document");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("subject-export: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
