// custdb retention: scaffolding (issue #16, owner R) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_retention(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("retention", "Show, set or apply the retention policy");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("retention: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
