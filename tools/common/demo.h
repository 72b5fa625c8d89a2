// The demo customer base: a realistic synthetic population (individuals, companies and
// prospects; households, spouses, referrals and employers; deposits, purchases, payments and
// loans over two years) loaded into a database. Used by `custdb demo` and by the tests.
#pragma once

#include <cstdint>
#include <functional>

#include "custdb/database.h"
#include "custdb/status.h"

namespace custdb::synthetic {

// Customers per write transaction (with their transactions); relationships are written in
// batches of the same size once every customer exists.
inline constexpr std::uint64_t kDemoBatch = 10000;

// Called after each committed batch with the customers stored so far and the total asked for.
using DemoProgress = std::function<void(std::uint64_t customers_done, std::uint64_t total)>;

// Adds `customers` synthetic customers (`txns_per_customer` transactions each, or 5 to 10 when
// 0, in the database's base currency), their holdings (format 6: Generator::holdings; deposits
// and about half the card purchases post to the customer's open account and card in the base
// currency, Transaction::holding_id) and the relationships among them. Deterministic for a given seed and starting id.
// Ids continue after the highest id already present, so a demo can be added to a database
// that holds customers (external refs and emails derive from the id, so they stay unique).
// Each batch commits on its own: after a failure, the batches before it stay.
// Custom attributes: every customer attribute the schema declares (`custdb schema add` first)
// gets a drawn value of its type (about one customer in ten none, unless it is required),
// from a stream of its own, so the built-in fields are the same with or without a schema.
Status populate_demo(Database& db, std::uint64_t customers, std::uint64_t seed = 42,
                     const DemoProgress& progress = {}, int txns_per_customer = 0);

}  // namespace custdb::synthetic
