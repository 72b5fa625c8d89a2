// custdb export customers|relationships|transactions [--format csv|jsonl] [--out FILE]
// [--reveal] [--no-neutralize] [--segment Q] [--purpose P]: write a table (io::export_table),
// customers optionally only of a segment and only with a granted consent for a purpose (the
// others left out and counted), personal columns masked
// unless --reveal, CSV cells that a spreadsheet would run as formulas neutralized unless
// --no-neutralize.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <streambuf>

#include "common.h"
#include "custdb/io.h"
#include "custdb/privacy.h"
#include "io/display.h"  // printable: the file name as it is echoed

namespace custdb::cli {

namespace {

// Passes bytes through to another stream buffer, counting line ends: rows written, for the
// progress bar (export_table has no progress callback).
class CountingBuf : public std::streambuf {
 public:
  CountingBuf(std::streambuf* out, Progress& bar) : out_(out), bar_(bar) {}
  std::uint64_t lines() const { return lines_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) lines_ += s[i] == '\n';
    bar_.update(lines_);
    return out_->sputn(s, n);
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    if (traits_type::to_char_type(c) == '\n') ++lines_;
    return out_->sputc(traits_type::to_char_type(c));
  }
  int sync() override { return out_->pubsync(); }

 private:
  std::streambuf* out_;
  Progress& bar_;
  std::uint64_t lines_ = 0;
};

}  // namespace

Command add_export(CLI::App& app, Globals& g) {
  struct Opts {
    std::string table;
    std::string format;
    std::string out;
    bool no_neutralize = false;
    std::string segment;
    std::string purpose;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "export", "Write a table as CSV or JSON Lines (masked unless --reveal)");
  sub->add_option("table", o->table, "customers, relationships, transactions or holdings")
      ->required()
      ->check(CLI::IsMember({"customers", "relationships", "transactions", "holdings"}));
  sub->add_option("--format", o->format, "csv or jsonl (default: from --out's extension, else csv)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  sub->add_option("--out", o->out, "Output file (default: standard output)");
  sub->add_flag("--no-neutralize", o->no_neutralize,
                "CSV: write cells starting with = + - @ TAB CR ' verbatim (no leading ')");
  sub->add_option("--segment", o->segment,
                  "customers: only those matching this segment query (custdb segment syntax)");
  sub->add_option("--purpose", o->purpose,
                  "customers: only those with a granted consent for this purpose "
                  "(email_marketing, sms_marketing, phone_marketing, profiling, "
                  "third_party_sharing); the others are left out and counted");
  return {sub, [&g, o] {
            const io::Table table = *io::table_from_string(o->table);
            std::optional<ConsentPurpose> purpose;
            if (!o->purpose.empty()) {
              purpose = consent_purpose_from_string(o->purpose);
              if (!purpose)
                die_usage("export: unknown purpose '" + io::printable(o->purpose, 60) +
                          "' (email_marketing, sms_marketing, phone_marketing, profiling, "
                          "third_party_sharing)");
            }
            if ((purpose || !o->segment.empty()) && table != io::Table::kCustomers)
              die_usage("export: --segment and --purpose apply to customers only");
            const io::Format format = format_arg(o->format, o->out);
            // Every export is recorded in the audit trail (revealed or masked) before a row is
            // written: the database is opened for writing for it.
            Database db = open_database_recorded(g, /*record=*/true, /*read_only=*/true);
            std::uint64_t total = 0;
            // Which rows: all, or the segment's (its query recorded with personal-field
            // operands as '?', as segment --reveal records it) and/or those with a granted
            // consent for the purpose. The count is the segment's members (an upper bound when
            // --purpose leaves some out: export_table says how many it wrote).
            std::string rows = " rows=all";
            {
              auto txn = must(db.begin_read());
              TableCounts c = must(txn.counts());
              total = table == io::Table::kCustomers       ? c.customers
                      : table == io::Table::kRelationships ? c.relationships
                      : table == io::Table::kHoldings      ? c.holdings
                                                           : c.transactions;
              if (!o->segment.empty()) {
                const query::ParseOptions po = must(txn.parse_options());
                auto q = query::parse(o->segment, po);
                if (!q) die_usage(q.error().message());
                total = must(must(txn.select(*q, SegmentOptions{})).count());
                rows = " rows=segment query: " + audit_text(audit_query_text(*q, po), 600) + ";";
              }
              if (purpose)
                rows = (o->segment.empty() ? std::string(" rows=") : rows + " and ") +
                       "purpose=" + std::string(to_string(*purpose)) + " granted";
            }
            record_access(db, g, g.reveal ? "export --reveal" : "export", {}, total,
                          "table=" + o->table +
                              " format=" + (format == io::Format::kCsv ? "csv" : "jsonl") +
                              " to=" + (o->out.empty() || o->out == "-" ? std::string("stdout")
                                                                        : audit_text(o->out, 300)) +
                              (g.reveal ? " revealed" : " masked") + rows);
            std::ofstream file;
            if (!o->out.empty() && o->out != "-") {
              // Created 0600 whatever the umask: an export holds customer data in the clear.
              // An existing file keeps its mode (the user chose it).
              std::error_code ec;
              const bool existed = std::filesystem::exists(o->out, ec);
              const int fd = ::open(o->out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
              if (fd < 0) die_failure("cannot write " + io::printable(o->out) + ": " + std::strerror(errno));
              if (!existed) ::fchmod(fd, 0600);
              ::close(fd);
              file.open(o->out, std::ios::binary | std::ios::trunc);
              if (!file) die_failure("cannot write " + io::printable(o->out));
            }
            std::ostream& target = file.is_open() ? static_cast<std::ostream&>(file) : std::cout;
            Progress bar("export " + o->table, total + (format == io::Format::kCsv ? 1 : 0));
            CountingBuf counting(target.rdbuf(), bar);
            std::ostream out(&counting);
            io::ExportOptions opts;
            opts.reveal = g.reveal;
            opts.neutralize = !o->no_neutralize;
            opts.segment = o->segment;
            opts.purpose = purpose;
            io::ExportStats stats;
            opts.stats = &stats;
            {
              auto r = io::export_table(db, table, out, format, opts);
              if (!r && r.error().code() == ErrorCode::kInvalidArgument && !o->segment.empty())
                die_usage(r.error().message());  // the query's syntax: a usage error
              must(r);
            }
            bar.finish();
            total = stats.rows;
            // Said on stderr when the rows go to standard output, so the data stays clean.
            std::string left_out;
            if (purpose)
              left_out = "left out " + std::to_string(stats.left_out_no_consent) +
                         " without a granted consent for " + std::string(to_string(*purpose));
            if (!file.is_open() && purpose && !g.json)
              std::fprintf(stderr, "custdb: %s\n", left_out.c_str());
            if (file.is_open()) {
              file.close();
              if (!file) die_failure("writing " + io::printable(o->out) + " failed");
              if (g.json)
              {
                Json j = Json::object().set("table", o->table).set("file", o->out).set("rows", total);
                if (purpose)
                  j.set("purpose", to_string(*purpose))
                      .set("left_out_no_consent", stats.left_out_no_consent);
                print_json(j);
              }
              else
                // Says what the file is for the options given: masked personal columns make
                // it unfit for import (customers only: the other tables hold none).
                std::printf("exported %llu %s to %s%s%s\n", static_cast<unsigned long long>(total),
                            o->table.c_str(), io::printable(o->out).c_str(),
                            (table == io::Table::kCustomers || table == io::Table::kHoldings) &&
                                    !g.reveal
                                ? " (masked; export with --reveal for a file to import)"
                                : "",
                            purpose ? ("; " + left_out).c_str() : "");
            }
            return kExitOk;
          }};
}

}  // namespace custdb::cli
