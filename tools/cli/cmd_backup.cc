// custdb backup OUT [--compact]: a consistent hot copy (Database::backup) taken while others
// read and write.
#include <filesystem>

#include "common.h"

namespace custdb::cli {

Command add_backup(CLI::App& app, Globals& g) {
  struct Opts {
    std::string out;
    bool compact = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "backup", "Copy the database to a new directory while it stays in use");
  sub->add_option("out", o->out, "Directory for the copy (must not hold a database)")->required();
  sub->add_flag("--compact", o->compact, "Omit free pages and renumber (smallest copy)");
  return {sub, [&g, o] {
            // Opened normally (not exclusively): writers in other processes carry on.
            Database db = open_database(g, /*read_only=*/false);
            const std::filesystem::path out_file = std::filesystem::path(o->out) / "data.mdb";
            {
              Progress bar("backup", db.info().file_size, Progress::Unit::kBytes);
              ProgressTicker ticker(bar, [&] {
                std::error_code ec;
                auto size = std::filesystem::file_size(out_file, ec);
                return ec ? std::uint64_t{0} : static_cast<std::uint64_t>(size);
              });
              must(db.backup(o->out, o->compact));
            }
            std::error_code ec;
            auto size = std::filesystem::file_size(out_file, ec);
            if (g.json)
              print_json(Json::object().set("backup", o->out).set("compact", o->compact).set("bytes", ec ? 0 : size));
            else
              std::printf("backup written to %s (%s%s)\n", o->out.c_str(),
                          human_bytes(ec ? 0 : size).c_str(), o->compact ? ", compacted" : "");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
