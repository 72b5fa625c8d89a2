// custdb scrub: zero the bytes of data.mdb no reader can read any more (Database::scrub): free
// pages, the unused space inside live pages, stale branch keys. Exit 1 when a live reader
// older than the last erasure kept some pages from being zeroed (run it again later).
#include <chrono>

#include "common.h"

namespace custdb::cli {

Json scrub_json(const ScrubReport& r);
void print_scrub(const ScrubReport& r);

Command add_scrub(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand(
      "scrub", "Zero free pages and unused space so removed data cannot be recovered");
  return {sub, [&g] {
            Database db = open_database(g, /*read_only=*/false);
            const auto t0 = std::chrono::steady_clock::now();
            ScrubReport r = must(db.scrub());
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (g.json) {
              print_json(scrub_json(r).set("seconds", secs));
            } else {
              print_scrub(r);
              std::printf("(%.2f s)\n", secs);
            }
            return r.complete ? kExitOk : kExitFailure;
          }};
}

}  // namespace custdb::cli
