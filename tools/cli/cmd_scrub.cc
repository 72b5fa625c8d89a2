// custdb scrub: scaffolding (issue #16, owner S) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_scrub(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("scrub", "Zero free pages and unused space so removed data cannot be recovered");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("scrub: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
