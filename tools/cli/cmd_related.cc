// custdb related ID [--type T] [--depth N]: the relationship graph around a customer.
#include <map>

#include "common.h"

namespace custdb::cli {

Command add_related(CLI::App& app, Globals& g) {
  struct Opts {
    CustomerId id = 0;
    std::string id_text;  // parsed strictly (parse_customer_id_arg)
    std::string type;
    int depth = 1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "related", "Relationships reachable from a customer within --depth hops");
  sub->add_option("id", o->id_text, "Customer id (decimal)")->required();
  sub->add_option("--type", o->type,
                  "Only this relation type (household, spouse, ..., custom); a directed type "
                  "and its inverse (employer, employee) follow the same links");
  sub->add_option("--depth", o->depth, "Hops to follow")->capture_default_str()
      ->check(CLI::Range(1, 10));
  return {sub, [&g, o] {
            o->id = parse_customer_id_arg("related", o->id_text);
            std::optional<RelationType> type;
            if (!o->type.empty()) type = parse_relation_type_arg(o->type);
            Database db = open_database(g, /*read_only=*/true);
            auto txn = must(db.begin_read());
            if (!must(txn.get_customer(o->id))) die_failure("no customer " + std::to_string(o->id));
            auto hops = must(txn.neighborhood(o->id, o->depth, type));
            std::map<CustomerId, std::string> names;  // each end's (masked) name, read once
            auto name_of = [&](CustomerId id) -> const std::string& {
              auto it = names.find(id);
              if (it != names.end()) return it->second;
              auto c = must(txn.get_customer(id));
              return names[id] = c ? shown_name(g, *c) : std::string("?");
            };
            auto type_name = [](const Relationship& r) {
              return r.type == RelationType::kCustom ? r.custom_type : std::string(to_string(r.type));
            };
            // Links are stored in canonical direction (`employer 1->2`: 1 employs 2), which the
            // `reads` column spells out; a symmetric link reads the same from both ends.
            auto reads = [&](const Relationship& r) {
              if (is_symmetric(r.type))
                return std::to_string(r.from) + " and " + std::to_string(r.to) + ": " + type_name(r);
              return std::to_string(r.from) + " is " + type_name(r) + " of " + std::to_string(r.to);
            };
            if (g.json) {
              Json arr = Json::array();
              for (const auto& h : hops)
                arr.push(Json::object()
                             .set("depth", h.depth)
                             .set("id", h.relationship.id)
                             .set("type", type_name(h.relationship))
                             .set("directed", !is_symmetric(h.relationship.type))
                             .set("inverse", h.relationship.type == RelationType::kCustom
                                                 ? Json()
                                                 : Json(std::string(to_string(
                                                       inverse_of(h.relationship.type)))))
                             .set("from", h.relationship.from)
                             .set("from_name", name_of(h.relationship.from))
                             .set("to", h.relationship.to)
                             .set("to_name", name_of(h.relationship.to))
                             .set("since", h.relationship.since ? Json(format_date(*h.relationship.since)) : Json()));
              print_json(arr);
              return kExitOk;
            }
            TextTable table(
                {"depth", "id", "type", "from", "from_name", "to", "to_name", "since", "reads"},
                {0, 1, 3, 5});
            for (const auto& h : hops) {
              const Relationship& r = h.relationship;
              table.add({std::to_string(h.depth), std::to_string(r.id), type_name(r),
                         std::to_string(r.from), name_of(r.from), std::to_string(r.to),
                         name_of(r.to), opt_date(r.since), reads(r)});
            }
            table.print();
            std::printf("%zu relationships\n", hops.size());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
