// custdb import customers|relationships|transactions|holdings|balances FILE [--skip-bad]
// [--format csv|jsonl] [--encoding NAME] [--no-neutralize] [--as-of DATE] [--keep-balances]: load a CSV or JSON Lines file (io::import_file), all or
// nothing unless --skip-bad.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common.h"
#include "custdb/io.h"
#include "io/display.h"  // printable: the file name as it is echoed

namespace custdb::cli {
namespace {

// Lines in the file: the row total for the progress bar (an estimate: a CSV header or quoted
// line breaks make it a little high). Only read when the bar is shown.
std::uint64_t count_lines(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char buf[1 << 16];
  std::uint64_t lines = 0;
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) lines += buf[i] == '\n';
    if (!in) break;
  }
  return lines;
}

}  // namespace

Command add_import(CLI::App& app, Globals& g) {
  struct Opts {
    std::string table;
    std::string file;
    bool skip_bad = false;
    std::string format;
    std::string encoding;
    bool no_neutralize = false;
    std::string as_of;          // balances: the statements' date when a row has none
    bool keep_balances = false;  // transactions: link postings, leave balances
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("import", "Load rows from a CSV or JSON Lines file");
  sub->add_option("table", o->table,
                  "customers, relationships, transactions, holdings, or balances (statement "
                  "balances of existing holdings)")
      ->required()
      ->check(CLI::IsMember({"customers", "relationships", "transactions", "holdings", "balances"}));
  sub->add_option("file", o->file, "The file (- for standard input); its extension (.csv, .jsonl) gives the format")
      ->required();
  sub->add_flag("--skip-bad", o->skip_bad, "Load the good rows and list the bad ones");
  sub->add_option("--format", o->format, "csv or jsonl, overriding the file's extension")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  sub->add_option("--encoding", o->encoding,
                  "The file's encoding when not UTF-8: cp1252, latin1, iso-8859-15, "
                  "windows-1250, utf-16le, ... (iconv names; a byte order mark wins)");
  sub->add_flag("--no-neutralize", o->no_neutralize,
                "CSV: keep a leading ' that export added before = + - @ (read cells verbatim)");
  sub->add_option("--as-of", o->as_of,
                  "balances: the statement date (YYYY-MM-DD) of rows without an as_of cell");
  sub->add_flag("--keep-balances", o->keep_balances,
                "transactions: link rows with a holding_id to their holding but leave its "
                "balance (restoring an export, whose balances include the postings)");
  return {sub, [&g, o] {
            const bool balances = o->table == "balances";
            const io::Table table =
                balances ? io::Table::kHoldings : *io::table_from_string(o->table);
            if (!o->as_of.empty() && !balances) die_usage("import: --as-of applies to balances only");
            if (o->keep_balances && table != io::Table::kTransactions)
              die_usage("import: --keep-balances applies to transactions only");
            std::optional<Date> as_of;
            if (!o->as_of.empty()) as_of = parse_date_arg("--as-of", o->as_of);
            const io::Format format = format_arg(o->format, o->file);
            Database db = open_database(g, /*read_only=*/false);
            Progress bar("import " + o->table);
            const bool from_stdin = o->file == "-";
            if (bar.enabled() && !from_stdin) bar.set_total(count_lines(o->file));
            io::ImportOptions opts;
            opts.skip_bad = o->skip_bad;
            opts.encoding = o->encoding;
            opts.strip_neutralized = !o->no_neutralize;
            io::ImportStop stopped_by = io::ImportStop::kNone;
            opts.stopped_by = &stopped_by;
            opts.progress = [&](std::uint64_t rows) { bar.update(rows); };
            opts.move_balances = !o->keep_balances;
            auto report = [&] {
              if (balances) {
                io::ImportBalancesOptions bopts;
                bopts.import = opts;
                bopts.as_of = as_of;
                return io::import_balances(db, from_stdin ? "/dev/stdin" : o->file, format, bopts);
              }
              return from_stdin ? io::import_stream(db, table, std::cin, format, opts)
                                : io::import_file(db, table, o->file, format, opts);
            }();
            bar.finish();
            if (!report) {
              const Error& e = report.error();
              if (e.code() != ErrorCode::kInvalidArgument) die(e);
              // A bad row or header: "FILE:LINE: field: reason", then what it means for the
              // options given.
              std::fprintf(stderr, "%s\n", e.message().c_str());
              if (stopped_by == io::ImportStop::kBadRow)
                die_failure("nothing imported (all or nothing; --skip-bad loads the good rows)");
              if (!o->skip_bad)
                die_failure("nothing imported (the error is not in one row, so --skip-bad would "
                            "not help)");
              die_failure("import stopped (the error is not in one row, so --skip-bad cannot "
                          "skip it; batches stored before it stay)");
            }
            // A file name may hold control bytes (ESC sequences, line breaks): printed escaped.
            const std::string shown_file = from_stdin ? "<stdin>" : io::printable(o->file);
            for (const io::BadRow& bad : report->bad)
              std::fprintf(stderr, "%s:%llu: %s: %s\n", shown_file.c_str(),
                           static_cast<unsigned long long>(bad.line), bad.field.c_str(),
                           bad.reason.c_str());
            if (g.json) {
              Json bad = Json::array();
              for (const io::BadRow& b : report->bad)
                bad.push(Json::object().set("line", b.line).set("field", b.field).set("reason", b.reason));
              print_json(Json::object()
                             .set("table", o->table)
                             .set("file", o->file)
                             .set("rows", report->rows)
                             .set("imported", report->imported)
                             .set("bad", std::move(bad)));
            } else {
              std::printf("imported %llu of %llu rows into %s from %s",
                          static_cast<unsigned long long>(report->imported),
                          static_cast<unsigned long long>(report->rows), o->table.c_str(),
                          io::printable(o->file).c_str());
              if (!report->bad.empty())
                std::printf(" (%zu bad rows skipped)", report->bad.size());
              std::printf("\n");
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
