// Built against the installed package only: creates a database, writes, reads back, checks.
// Only custdb/database.h is included: check() must be usable with it alone.
#include <custdb/database.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto db = custdb::Database::open(argv[1]);
  if (!db) return std::fprintf(stderr, "%s\n", db.error().to_string().c_str()), 1;
  custdb::Customer c;
  c.name = "Embedded";
  c.email = "embedded@example.com";
  auto id = db->insert_customer(c);
  if (!id) return 1;
  auto got = db->get_customer(*id);
  if (!got || !*got || (*got)->name != "Embedded") return 1;
  auto report = db->check();
  if (!report || !report->clean() || report->customers != 1) return 1;
  std::printf("embedded ok: customer %llu\n", static_cast<unsigned long long>(*id));
  return 0;
}
