// custdb holdings ID | holdings --customer ID: one holding with its postings (as `get` and
// `history` show a customer), or a customer's holdings. account_ref masked unless --reveal
// (all but its last four characters), "(unavailable)" under an analyst key.
#include "common.h"
#include "io/display.h"  // mask_account_ref, as export masks it

namespace custdb::cli {
namespace {

std::string type_name(const Holding& h) {
  return h.product_type == ProductType::kCustom ? h.custom_type
                                                : std::string(to_string(h.product_type));
}

std::string shown_ref(const Globals& g, const Holding& h) {
  if (!h.personal_available) return std::string(kUnavailable);
  if (g.reveal || h.account_ref.empty()) return h.account_ref;
  return io::mask_account_ref(h.account_ref);
}

Json opt_amount_json(const std::optional<std::int64_t>& v, std::string_view currency) {
  return v ? Json(format_amount(*v, currency)) : Json();
}

Json holding_json(const Globals& g, const Holding& h, std::string_view base) {
  return Json::object()
      .set("id", h.id)
      .set("customer_id", h.customer_id)
      .set("product_type", type_name(h))
      .set("class", h.product_type == ProductType::kCustom ? "other"
                    : class_of(h.product_type) == ProductClass::kAsset ? "asset"
                                                                       : "liability")
      .set("product_code", h.product_code.empty() ? Json() : Json(h.product_code))
      .set("account_ref", h.account_ref.empty() && h.personal_available ? Json()
                                                                        : Json(shown_ref(g, h)))
      .set("currency", h.currency)
      .set("balance", format_amount(h.balance, h.currency))
      .set("base_balance", opt_amount_json(h.base_balance, base))
      .set("base_currency", base)
      .set("credit_limit", opt_amount_json(h.credit_limit, h.currency))
      .set("opened_on", h.opened_on ? Json(format_date(*h.opened_on)) : Json())
      .set("closed_on", h.closed_on ? Json(format_date(*h.closed_on)) : Json())
      .set("status", to_string(h.status))
      .set("balance_as_of", h.balance_as_of ? Json(format_date(*h.balance_as_of)) : Json())
      .set("posted", format_amount(h.posted, h.currency))
      .set("base_posted", format_amount(h.base_posted, base))
      .set("postings", h.postings);
}

std::string opt_money(const std::optional<std::int64_t>& v, std::string_view currency) {
  return v ? money(*v, currency) : "";
}

}  // namespace

Command add_holdings(CLI::App& app, Globals& g) {
  struct Opts {
    std::string id_text;
    std::string customer_text;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "holdings", "One holding with its postings, or a customer's holdings (--customer ID)");
  auto* id = sub->add_option("id", o->id_text, "Holding id (decimal)");
  auto* customer = sub->add_option("--customer", o->customer_text,
                                   "List this customer's holdings (closed ones included)");
  id->excludes(customer);
  return {sub, [&g, o] {
            if (o->id_text.empty() == o->customer_text.empty())
              die_usage("holdings: give a holding id or --customer ID");
            Database db = open_database(g, /*read_only=*/true);
            const std::string base = db.info().base_currency;
            auto txn = must(db.begin_read());
            if (!o->customer_text.empty()) {
              const CustomerId cid = parse_customer_id_arg("--customer", o->customer_text);
              if (!must(txn.get_customer(cid))) die_failure("no customer " + std::to_string(cid));
              const std::vector<Holding> list = must(txn.holdings_of(cid));
              if (g.json) {
                Json arr = Json::array();
                for (const Holding& h : list) arr.push(holding_json(g, h, base));
                print_json(arr);
                return kExitOk;
              }
              TextTable table({"id", "product_type", "product_code", "account_ref", "balance",
                               "base_balance", "credit_limit", "opened_on", "closed_on", "status"},
                              {0, 4, 5, 6});
              for (const Holding& h : list)
                table.add({std::to_string(h.id), type_name(h), h.product_code, shown_ref(g, h),
                           money(h.balance, h.currency),
                           h.currency == base ? "" : opt_money(h.base_balance, base),
                           opt_money(h.credit_limit, h.currency), opt_date(h.opened_on),
                           opt_date(h.closed_on), std::string(to_string(h.status))});
              table.print();
              const Customer c = *must(txn.get_customer(cid));
              std::printf("%zu holdings, %u active; aum %s, liabilities %s\n", list.size(),
                          c.holdings.products, money(c.holdings.aum, base).c_str(),
                          money(c.holdings.liabilities, base).c_str());
              return kExitOk;
            }
            // Holding ids are written like customer ids (decimal, no sign or leading zero).
            const HoldingId hid = parse_customer_id_arg("holdings", o->id_text);
            auto h = must(txn.get_holding(hid));
            if (!h) die_failure("no holding " + std::to_string(hid));
            const std::vector<Transaction> postings = must(txn.postings_of(hid));
            if (g.json) {
              Json arr = Json::array();
              for (const Transaction& t : postings)
                arr.push(Json::object()
                             .set("id", t.id)
                             .set("ts", format_timestamp(t.ts))
                             .set("kind", to_string(t.kind))
                             .set("amount", format_amount(t.amount, t.currency))
                             .set("base_amount", opt_amount_json(t.base_amount, base)));
              Json j = holding_json(g, *h, base);
              j.set("postings_list", std::move(arr));
              print_json(j);
              return kExitOk;
            }
            print_pairs({
                {"id", std::to_string(h->id)},
                {"customer_id", std::to_string(h->customer_id)},
                {"product_type", type_name(*h)},
                {"product_code", h->product_code},
                {"account_ref", shown_ref(g, *h)},
                {"currency", h->currency},
                {"balance", money(h->balance, h->currency)},
                {"base_balance", opt_money(h->base_balance, base)},
                {"credit_limit", opt_money(h->credit_limit, h->currency)},
                {"opened_on", opt_date(h->opened_on)},
                {"closed_on", opt_date(h->closed_on)},
                {"status", std::string(to_string(h->status))},
                {"balance_as_of", opt_date(h->balance_as_of)},
                {"posted", money(h->posted, h->currency) + " in " +
                               std::to_string(h->postings) + " postings"},
            });
            if (postings.empty()) return kExitOk;
            std::printf("\n");
            TextTable table({"txn", "ts", "kind", "amount", "base_amount"}, {0, 3, 4});
            for (const Transaction& t : postings)
              table.add({std::to_string(t.id), format_timestamp(t.ts),
                         std::string(to_string(t.kind)), money(t.amount, t.currency),
                         t.currency == base ? "" : opt_money(t.base_amount, base)});
            table.print();
            return kExitOk;
          }};
}

}  // namespace custdb::cli
