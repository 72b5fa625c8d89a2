// custdb schema list | add | drop | rename | index: the custom attributes of a database
// (custdb/attributes.h), each a thin shell over a Database call. TODO(owner A, #17).
#include "common.h"

namespace custdb::cli {

Command add_schema(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("schema", "List and change the custom attributes");
  sub->require_subcommand(1);
  CLI::App* list = sub->add_subcommand("list", "The declared attributes");
  return {sub, [&g, list] {
            Database db = open_database(g, /*read_only=*/true);
            Schema s = must(db.schema());
            (void)list;
            for (const AttributeDef& a : s.attributes)
              std::printf("%s %s\n", a.name.c_str(), std::string(to_string(a.type)).c_str());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
