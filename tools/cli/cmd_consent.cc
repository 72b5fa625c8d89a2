// custdb consent: scaffolding (issue #16, owner C) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_consent(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("consent", "Show a customer's consents with history, or set one (ID PURPOSE granted|denied)");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("consent: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
