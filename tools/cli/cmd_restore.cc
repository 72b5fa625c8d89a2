// custdb restore: scaffolding (issue #16, owner R) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_restore(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("restore", "Replace the database with a backup and re-apply later erasures");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("restore: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
