// custdb consent ID [PURPOSE STATE [--source S] [--date D]]: show a customer's consents by
// purpose with their history (no PURPOSE), or set one (WriteTxn::set_consent: the change is
// kept in the consent history and recorded in the audit trail).
#include "common.h"
#include "custdb/privacy.h"
#include "io/display.h"

namespace custdb::cli {

namespace {

constexpr ConsentPurpose kAllPurposes[] = {
    ConsentPurpose::kEmailMarketing, ConsentPurpose::kSmsMarketing, ConsentPurpose::kPhoneMarketing,
    ConsentPurpose::kProfiling, ConsentPurpose::kThirdPartySharing};

std::string purpose_names() {
  std::string out;
  for (auto p : kAllPurposes) out += (out.empty() ? "" : ", ") + std::string(to_string(p));
  return out;
}

Json consent_json(const Consent& k) {
  return Json::object()
      .set("state", to_string(k.state))
      .set("date", k.date ? Json(format_date(*k.date)) : Json())
      .set("source", k.source.empty() ? Json() : Json(k.source));
}

std::string consent_text(const Consent& k) {
  std::string s(to_string(k.state));
  if (k.date) s += " " + format_date(*k.date);
  if (!k.source.empty()) s += " (" + io::printable(k.source) + ")";
  return s;
}

}  // namespace

Command add_consent(CLI::App& app, Globals& g) {
  struct Opts {
    CustomerId id = 0;
    std::string id_text;  // parsed strictly (parse_customer_id_arg)
    std::string purpose;
    std::string state;
    std::string source;
    std::string date;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "consent",
      "Show a customer's consents with their history, or set one (ID PURPOSE granted|denied)");
  sub->add_option("id", o->id_text, "Customer id (decimal)")->required();
  sub->add_option("purpose", o->purpose,
                  "email_marketing, sms_marketing, phone_marketing, profiling or "
                  "third_party_sharing (also the segment names consent_email, ...)");
  sub->add_option("state", o->state, "granted or denied");
  sub->add_option("--source", o->source,
                  "Where it was given or refused (\"web form\", \"branch 17\"); printable, at "
                  "most 100 bytes. Default: cli");
  sub->add_option("--date", o->date, "When it was given or refused, YYYY-MM-DD (default: today UTC)");
  return {sub, [&g, o] {
            o->id = parse_customer_id_arg("consent", o->id_text);
            if (o->purpose.empty()) {
              if (!o->source.empty() || !o->date.empty())
                die_usage("consent: --source and --date need PURPOSE and STATE");
              Database db = open_database(g, /*read_only=*/true);
              auto txn = must(db.begin_read());
              auto c = must(txn.get_customer(o->id));
              if (!c) die_failure("no customer " + std::to_string(o->id));
              auto history = must(txn.consent_history(o->id));
              if (g.json) {
                Json consents = Json::object();
                for (auto p : kAllPurposes) consents.set(std::string(to_string(p)), consent_json(consent_of(*c, p)));
                Json h = Json::array();
                for (const ConsentChange& ch : history)
                  h.push(Json::object()
                             .set("seq", ch.seq)
                             .set("recorded_at", format_timestamp(ch.recorded_at))
                             .set("purpose", to_string(ch.purpose))
                             .set("before", consent_json(ch.before))
                             .set("after", consent_json(ch.after)));
                print_json(Json::object().set("id", o->id).set("consents", std::move(consents)).set("history", std::move(h)));
                return kExitOk;
              }
              TextTable now({"purpose", "state", "date", "source"});
              for (auto p : kAllPurposes) {
                const Consent& k = consent_of(*c, p);
                now.add({std::string(to_string(p)), std::string(to_string(k.state)),
                         opt_date(k.date), io::printable(k.source)});
              }
              now.print();
              std::printf("\nhistory (%zu change%s, oldest first)\n", history.size(),
                          history.size() == 1 ? "" : "s");
              if (!history.empty()) {
                TextTable t({"seq", "recorded_at", "purpose", "before", "after"}, {0});
                for (const ConsentChange& ch : history)
                  t.add({std::to_string(ch.seq), format_timestamp(ch.recorded_at),
                         std::string(to_string(ch.purpose)), consent_text(ch.before),
                         consent_text(ch.after)});
                t.print();
              }
              return kExitOk;
            }
            auto purpose = consent_purpose_from_string(o->purpose);
            if (!purpose)
              die_usage("consent: unknown purpose " + ("'" + io::printable(o->purpose, 60) + "'") + " (one of " +
                        purpose_names() + ")");
            if (o->state.empty()) die_usage("consent: PURPOSE needs a STATE (granted or denied)");
            auto state = from_string<ConsentState>(o->state);
            if (!state || *state == ConsentState::kUnknown)
              die_usage("consent: unknown state " + ("'" + io::printable(o->state, 60) + "'") +
                        " (granted or denied)");
            Consent k;
            k.state = *state;
            k.date = o->date.empty() ? std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())
                                     : parse_date_arg("--date", o->date);
            k.source = o->source.empty() ? std::string("cli") : o->source;
            Database db = open_database(g, /*read_only=*/false);
            bool found = false;
            must(db.write([&](WriteTxn& txn) -> Status {
              auto r = txn.set_consent(o->id, *purpose, k);
              if (!r) return tl::unexpected(r.error());
              found = *r;
              return {};
            }));
            if (!found) die_failure("no customer " + std::to_string(o->id));
            if (g.json)
              print_json(Json::object()
                             .set("id", o->id)
                             .set("purpose", to_string(*purpose))
                             .set("consent", consent_json(k)));
            else
              std::printf("customer %llu: %s %s\n", static_cast<unsigned long long>(o->id),
                          std::string(to_string(*purpose)).c_str(), consent_text(k).c_str());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
