// custdb subject-export ID [--out FILE]: everything held about one customer as one JSON
// document (io::write_subject_json), unmasked; recorded in the audit trail first (the document
// lists that entry too).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common.h"
#include "io/display.h"  // printable

namespace custdb::cli {

Command add_subject_export(CLI::App& app, Globals& g) {
  struct Opts {
    CustomerId id = 0;
    std::string id_text;  // parsed strictly (parse_customer_id_arg)
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "subject-export", "Write everything held about one customer as one JSON document");
  sub->add_option("id", o->id_text, "Customer id (decimal)")->required();
  sub->add_option("--out", o->out, "Output file, created 0600 (default: standard output)");
  return {sub, [&g, o] {
            o->id = parse_customer_id_arg("subject-export", o->id_text);
            Database db = open_database_recorded(g, /*record=*/true, /*read_only=*/false);
            const std::string currency = db.info().base_currency;
            {
              auto c = must(db.get_customer(o->id));
              if (!c) die_failure("no customer " + std::to_string(o->id));
            }
            const bool to_file = !o->out.empty() && o->out != "-";
            std::ofstream file;
            if (to_file) {
              // Created 0600 whatever the umask: the document holds personal data in the clear.
              std::error_code ec;
              const bool existed = std::filesystem::exists(o->out, ec);
              const int fd = ::open(o->out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
              if (fd < 0)
                die_failure("cannot write " + io::printable(o->out) + ": " + std::strerror(errno));
              if (!existed) ::fchmod(fd, 0600);
              ::close(fd);
            }
            record_access(db, g, "subject-export", {o->id}, 1,
                          std::string("to=") + (to_file ? audit_text(o->out, 300) : "stdout"));
            auto txn = must(db.begin_read());
            auto rec = must(txn.subject_record(o->id));
            if (!rec) die_failure("no customer " + std::to_string(o->id));
            if (to_file) {
              file.open(o->out, std::ios::binary | std::ios::trunc);
              if (!file) die_failure("cannot write " + io::printable(o->out));
              must(io::write_subject_json(*rec, currency, file));
              file.close();
              if (!file) die_failure("writing " + io::printable(o->out) + " failed");
              std::fprintf(stderr, "wrote subject %llu to %s\n",
                           static_cast<unsigned long long>(o->id), io::printable(o->out).c_str());
            } else {
              must(io::write_subject_json(*rec, currency, std::cout));
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
