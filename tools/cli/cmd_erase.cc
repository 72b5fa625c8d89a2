// custdb erase: scaffolding (issue #16, owner S) — replaced by the real command.
#include "common.h"

namespace custdb::cli {

Command add_erase(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("erase", "Erase a customer unrecoverably (ID...; --keep-ledger keeps the transactions)");
  return {sub, [&g] {
            (void)g;
            throw std::runtime_error("erase: not built yet");
            return kExitFailure;
          }};
}

}  // namespace custdb::cli
