// custdb audit [--since DATE] [--subject ID]: the audit trail (docs/cli.md, "Privacy";
// docs/security.md, "Audit trail"), oldest first. Read-only: listing the trail is not recorded.
#include "common.h"

namespace custdb::cli {

Command add_audit(CLI::App& app, Globals& g) {
  struct Opts {
    std::string since;
    CustomerId subject = 0;
    std::string subject_text;  // parsed strictly (parse_customer_id_arg)
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("audit", "List the audit trail (--since DATE, --subject ID)");
  sub->add_option("--since", o->since, "Entries at or after this date or time (UTC)");
  auto* subject = sub->add_option("--subject", o->subject_text, "Entries naming this customer id");
  return {sub, [&g, o, subject] {
            AuditFilter f;
            if (!o->since.empty()) f.since = parse_time_arg("--since", o->since);
            if (subject->count()) f.subject = o->subject = parse_customer_id_arg("audit --subject", o->subject_text);
            Database db = open_database(g, /*read_only=*/true);
            auto txn = must(db.begin_read());
            const std::vector<AuditEntry> entries = must(txn.audit_log(f));
            if (g.json) {
              Json arr = Json::array();
              for (const AuditEntry& e : entries) {
                Json ids = Json::array();
                for (CustomerId id : e.event.subjects) ids.push(id);
                arr.push(Json::object()
                             .set("seq", e.seq)
                             .set("at", format_timestamp(e.at))
                             .set("os_user", e.os_user)
                             .set("uid", e.uid)
                             .set("pid", e.pid)
                             .set("command", e.event.command)
                             .set("subjects", std::move(ids))
                             .set("count", e.event.count)
                             .set("detail", e.event.detail));
              }
              print_json(arr);
              return kExitOk;
            }
            TextTable t({"seq", "at", "user", "pid", "command", "subjects", "count", "detail"},
                        {0, 3, 6});
            for (const AuditEntry& e : entries) {
              std::string ids;
              const std::size_t shown = std::min<std::size_t>(e.event.subjects.size(), 10);
              for (std::size_t i = 0; i < shown; ++i)
                ids += (i ? "," : "") + std::to_string(e.event.subjects[i]);
              if (e.event.subjects.size() > shown)
                ids += " (+" + std::to_string(e.event.subjects.size() - shown) + " more)";
              // command, detail and user are printable ASCII (the library refuses anything else).
              t.add({std::to_string(e.seq), format_timestamp(e.at), e.os_user,
                     std::to_string(e.pid), e.event.command, ids, std::to_string(e.event.count),
                     e.event.detail});
            }
            t.print();
            std::printf("%zu entr%s\n", entries.size(), entries.size() == 1 ? "y" : "ies");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
