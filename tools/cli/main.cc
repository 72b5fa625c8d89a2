// custdb — the administration CLI: the CLI11 app, the global options, subcommand registration
// and the exit codes (see docs/cli.md).
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "common.h"

int main(int argc, char** argv) {
  using namespace custdb::cli;
  // Past `ulimit -f` the kernel kills a writer with SIGXFSZ (and a core) unless the signal is
  // ignored; then the write fails with EFBIG, which the library reports as a kIOError naming
  // the file size limit, and the command exits with its I/O error code. (The library leaves
  // signal dispositions to the application.)
  std::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"Administer a custdb customer database (see docs/cli.md).", "custdb"};
  Globals g;
  app.add_option("--db", g.db, "Database directory")->envname("CUSTDB_DB");
  auto* passphrase_file = app.add_option(
      "--passphrase-file", g.passphrase_file,
      "File holding the passphrase of an encrypted database (or set CUSTDB_PASSPHRASE)");
  auto* key_file = app.add_option("--key-file", g.key_file,
                                  "File holding the raw 32-byte key (or 64 hex digits)");
  passphrase_file->excludes(key_file);
  app.add_flag("--json", g.json, "Print JSON instead of tables");
  app.add_option("--max-readers", g.max_readers,
                 "Reader slots of the database's lock file (default 4096); takes effect when no "
                 "other process has the database open")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_flag("--reveal", g.reveal, "Show names, emails, phones and birth dates unmasked");
  app.add_flag("--skip-page-check", g.skip_page_check,
               "Do not walk LMDB's page structure at open (faster on very large files; a "
               "damaged file can then crash the command)")
      ->envname("CUSTDB_SKIP_PAGE_CHECK");
  app.add_option("--phone-region", g.phone_region,
                 "Region (ISO 3166-1 alpha-2) national phone forms are read in, e.g. SE: recorded "
                 "by init and by any command that writes; lookups use it")
      ->envname("CUSTDB_PHONE_REGION");
  app.add_flag("--read-only", g.read_only,
               "Never open the database for writing (commands that write fail; --reveal and "
               "export, which are recorded in the audit trail, are refused)")
      ->envname("CUSTDB_READ_ONLY");
  // Global options may also follow the subcommand: `custdb get 5 --db x`.
  app.fallthrough();
  app.require_subcommand(1);

  const std::vector<Command> commands = {
      add_init(app, g),    add_demo(app, g),    add_import(app, g),  add_export(app, g),
      add_get(app, g),     add_find(app, g),    add_history(app, g), add_related(app, g),
      add_segment(app, g), add_report(app, g),  add_stats(app, g),   add_verify(app, g),
      add_backup(app, g),  add_rekey(app, g),   add_rfm(app, g),     add_clv(app, g),
      add_rules(app, g),   add_phone_region(app, g),
      add_consent(app, g), add_erase(app, g),   add_scrub(app, g),   add_restore(app, g),
      add_retention(app, g), add_audit(app, g), add_subject_export(app, g),
      add_schema(app, g),  add_holdings(app, g), add_feed(app, g),
  };
  for (const Command& c : commands) c.app->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "custdb: %s\nRun with --help for more information.\n", e.what());
    return kExitUsage;
  }

  for (const Command& c : commands) {
    if (!c.app->parsed()) continue;
    g.command = c.app->get_name();
    try {
      int rc = c.run();
      std::cout.flush();
      return rc;
    } catch (const ExitRequest& x) {
      std::cout.flush();
      return x.code;
    } catch (const std::exception& e) {
      std::cout.flush();
      std::fprintf(stderr, "custdb: %s\n", e.what());
      return kExitFailure;
    }
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}
