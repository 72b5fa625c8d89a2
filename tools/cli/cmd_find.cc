// custdb find --email E | --phone P | --ref R: customers by a lookup index.
#include "common.h"

namespace custdb::cli {

Command add_find(CLI::App& app, Globals& g) {
  struct Opts {
    std::string email, phone, ref;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "find", "Find customers by email or phone (may match several) or external ref");
  auto* email = sub->add_option("--email", o->email, "Email (compared normalized)");
  auto* phone = sub->add_option("--phone", o->phone, "Phone (compared normalized)");
  auto* ref = sub->add_option("--ref", o->ref, "External reference");
  email->excludes(phone)->excludes(ref);
  phone->excludes(ref);
  return {sub, [&g, o, email, phone] {
            // With --reveal: recorded in the audit trail before anything is shown.
            Database db = open_database_recorded(g, /*record=*/false, /*read_only=*/true);
            const std::string currency = db.info().base_currency;
            auto txn = must(db.begin_read());
            std::vector<Customer> found;
            auto lookup = [](Result<std::vector<Customer>> r) {
              // An unparseable email or phone is a bad argument, not a failed lookup.
              if (!r && r.error().code() == ErrorCode::kInvalidArgument) die_usage(r.error().message());
              return must(std::move(r));
            };
            if (email->count()) {
              found = lookup(txn.find_by_email(o->email));
            } else if (phone->count()) {
              found = lookup(txn.find_by_phone(o->phone));
            } else if (!o->ref.empty()) {
              if (auto c = must(txn.find_by_external_ref(o->ref))) found.push_back(std::move(*c));
            } else {
              die_usage("find needs one of --email, --phone or --ref");
            }
            if (g.reveal) {
              // The lookup's kind, never its value (an email or phone is personal data).
              std::vector<CustomerId> ids;
              for (const Customer& c : found) ids.push_back(c.id);
              record_access(db, g, "find --reveal", std::move(ids), found.size(),
                            email->count() ? "by email" : phone->count() ? "by phone" : "by external ref");
            }
            if (g.json) {
              Json arr = Json::array();
              const Schema schema = must(txn.schema());
              for (const Customer& c : found) arr.push(customer_json(g, c, currency, &schema));
              print_json(arr);
            } else if (!found.empty()) {
              TextTable t({"id", "external_ref", "name", "email", "phone", "tier", "stage",
                           "txn_count", "total"},
                          {0, 7, 8});
              for (const Customer& c : found)
                t.add({std::to_string(c.id), c.external_ref, shown_name(g, c.name),
                       shown_email(g, c.email), shown_phone(g, c.phone),
                       std::string(to_string(c.tier)), std::string(to_string(c.stage)),
                       std::to_string(c.aggregates.txn_count),
                       money(c.aggregates.total_amount, currency)});
              t.print();
            }
            if (found.empty()) die_failure("no customer found");
            return kExitOk;
          }};
}

}  // namespace custdb::cli
