// custdb history ID [--from DATE] [--to DATE]: a customer's transactions in time order.
#include "common.h"

namespace custdb::cli {

Command add_history(CLI::App& app, Globals& g) {
  struct Opts {
    CustomerId id = 0;
    std::string id_text;  // parsed strictly (parse_customer_id_arg)
    std::string from, to;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("history", "A customer's transactions in time order");
  sub->add_option("id", o->id_text, "Customer id (decimal)")->required();
  sub->add_option("--from", o->from, "First day (YYYY-MM-DD) or instant (ISO 8601), inclusive");
  sub->add_option("--to", o->to,
                  "Last day (YYYY-MM-DD, inclusive) or instant (ISO 8601, exclusive)");
  return {sub, [&g, o] {
            o->id = parse_customer_id_arg("history", o->id_text);
            std::optional<Timestamp> from, to;
            if (!o->from.empty()) from = parse_time_arg("--from", o->from);
            if (!o->to.empty()) {
              // A bare date means the whole day: up to the next midnight.
              if (auto d = parse_date(o->to)) to = Timestamp(*d + std::chrono::days(1));
              else to = parse_time_arg("--to", o->to);
            }
            Database db = open_database(g, /*read_only=*/true);
            const std::string base = db.info().base_currency;
            // An analyst key cannot decrypt descriptions (personal free text).
            const bool analyst = db.info().role == KeyRole::kAnalyst;
            auto shown_description = [&](const Transaction& t) {
              return analyst ? std::string(kUnavailable) : t.description;
            };
            auto txn = must(db.begin_read());
            if (!must(txn.get_customer(o->id))) die_failure("no customer " + std::to_string(o->id));
            auto list = must(txn.transactions_of(o->id, from, to));
            const Schema schema = must(txn.schema());
            auto attributes = [&](const Transaction& t) {
              return shown_attributes(g, t.attributes, schema, AttributeTable::kTransactions,
                                      base, analyst);
            };
            if (g.json) {
              Json arr = Json::array();
              for (const Transaction& t : list)
                arr.push(Json::object()
                             .set("id", t.id)
                             .set("ts", format_timestamp(t.ts))
                             .set("kind", to_string(t.kind))
                             .set("channel", to_string(t.channel))
                             .set("amount", format_amount(t.amount, t.currency))
                             .set("currency", t.currency)
                             .set("base_amount", t.base_amount ? Json(format_amount(*t.base_amount, base)) : Json())
                             .set("product", t.product)
                             .set("description", shown_description(t))
                             .set("holding_id", t.holding_id ? Json(*t.holding_id) : Json())
                             .set("attributes",
                                  attributes_json(g, t.attributes, schema,
                                                  AttributeTable::kTransactions, base, analyst)));
              print_json(arr);
              return kExitOk;
            }
            // Custom attributes of transactions: one column each, after the built-in ones.
            std::vector<std::string> headers = {"id",     "ts",          "kind",    "channel",
                                                "amount", "base_amount", "product", "description"};
            for (const auto& [name, text] : attributes(Transaction{})) headers.push_back(name);
            TextTable table(std::move(headers), {0, 4, 5});
            AmountSum sum = 0;  // exact in any order of the rows (see custdb/types.h)
            for (const Transaction& t : list) {
              const std::int64_t in_base = t.base_amount.value_or(t.amount);
              sum += in_base;
              std::vector<std::string> row = {std::to_string(t.id), format_timestamp(t.ts),
                                              std::string(to_string(t.kind)),
                                              std::string(to_string(t.channel)),
                                              money(t.amount, t.currency),
                                              t.currency == base ? "" : money(in_base, base),
                                              t.product, shown_description(t)};
              for (auto& [name, text] : attributes(t)) row.push_back(std::move(text));
              table.add(std::move(row));
            }
            table.print();
            std::printf("%zu transactions, %s\n", list.size(), money(sum, base).c_str());
            return kExitOk;
          }};
}

}  // namespace custdb::cli
