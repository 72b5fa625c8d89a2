// custdb audit: scaffolding (issue #16, owner U) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_audit(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("audit", "List the audit trail (--since DATE, --subject ID)");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("audit: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
