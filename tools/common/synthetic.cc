#include "synthetic.h"

#include <array>
#include <string>

namespace custdb::synthetic {
namespace {

constexpr std::array kFirst = {"Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo",
                               "Ida", "Jonas", "Klara", "Liam", "Mia", "Noah", "Olga", "Paul",
                               "Rosa", "Sam", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe"};
constexpr std::array kLast = {"Meyer", "Schmidt", "Okafor", "Rossi", "Nakamura", "Garcia",
                              "Novak", "Larsen", "Dubois", "Kowalski", "Silva", "Haddad",
                              "Jensen", "Moreau", "Fischer", "Tanaka", "Olsen", "Costa"};
constexpr std::array kCompany = {"Holdings", "Logistics", "Foods", "Systems", "Partners",
                                 "Textiles", "Energy", "Pharma", "Retail", "Capital"};
struct Place {
  const char* city;
  const char* region;
  const char* country;
};
constexpr std::array kPlaces = {
    Place{"Boston", "east", "US"},   Place{"New York", "east", "US"},
    Place{"Chicago", "central", "US"}, Place{"Denver", "central", "US"},
    Place{"Seattle", "west", "US"},  Place{"San Diego", "west", "US"},
    Place{"Miami", "south", "US"},   Place{"Austin", "south", "US"},
    Place{"Toronto", "north", "CA"}, Place{"Montreal", "north", "CA"}};
constexpr std::array kTags = {"vip", "newsletter", "mortgage", "student", "pension", "app-user",
                              "paperless", "premium-card"};
constexpr std::array kProducts = {"checking", "savings", "credit-card", "mortgage", "brokerage",
                                  "personal-loan", "insurance"};

std::string pick_name(std::mt19937_64& r, CustomerType t) {
  if (t == CustomerType::kCorporate)
    return std::string(kLast[r() % kLast.size()]) + " " + kCompany[r() % kCompany.size()];
  return std::string(kFirst[r() % kFirst.size()]) + " " + kLast[r() % kLast.size()];
}

}  // namespace

std::string Generator::email_of(std::uint64_t i) {
  return "c" + std::to_string(i) + "@mail.example";
}

Customer Generator::customer(std::uint64_t i) {
  std::mt19937_64 r(p_.seed * 0x9E3779B97F4A7C15ull + i);  // per-customer stream: order-free
  Customer c;
  c.id = i;
  c.external_ref = "CRM-" + std::to_string(1000000 + i);
  std::uint64_t roll = r() % 100;
  c.type = roll < 85 ? CustomerType::kIndividual
                     : roll < 97 ? CustomerType::kCorporate : CustomerType::kProspect;
  c.name = pick_name(r, c.type);
  c.email = email_of(i);
  c.phone = "+1" + std::to_string(2000000000ull + r() % 7999999999ull);
  if (c.type == CustomerType::kIndividual) {
    c.birth_date = parse_date("1940-01-01").value() + std::chrono::days(r() % 23000);
    c.gender = static_cast<Gender>(1 + r() % 3);
  }
  const Place& pl = kPlaces[r() % kPlaces.size()];
  c.address = {pl.city, pl.region, pl.country};
  std::uint64_t t = r() % 100;  // a pyramid: most bronze, few diamond
  c.tier = t < 45 ? Tier::kBronze : t < 75 ? Tier::kSilver : t < 90 ? Tier::kGold
           : t < 98 ? Tier::kPlatinum : Tier::kDiamond;
  c.stage = c.type == CustomerType::kProspect ? Stage::kProspect
                                              : static_cast<Stage>(1 + r() % 5);
  c.income_band = static_cast<std::uint8_t>(1 + r() % 10);
  c.risk = static_cast<Risk>(r() % 10 < 7 ? 0 : r() % 10 < 8 ? 2 : 1);
  Date consent_day = parse_date("2023-01-01").value() + std::chrono::days(r() % 600);
  auto consent = [&] {
    std::uint64_t v = r() % 3;
    return v == 0 ? Consent{} : Consent{v == 1 ? ConsentState::kGranted : ConsentState::kDenied, consent_day};
  };
  c.consent_email = consent();
  c.consent_sms = consent();
  c.consent_phone = consent();
  for (const char* tag : kTags)
    if (r() % 6 == 0) c.tags.push_back(tag);
  c.created_at = p_.start - std::chrono::days(r() % 3650);
  return c;
}

std::optional<Scores> Generator::scores(const Customer& c) const {
  if (c.type == CustomerType::kProspect) return std::nullopt;
  std::mt19937_64 r(p_.seed * 0xC2B2AE3D27D4EB4Full + c.id);  // its own stream, order-free
  Scores s;
  s.as_of = parse_date("2026-11-01").value();
  s.p_alive = static_cast<double>(r() % 1'000'001) / 1e6;
  s.expected_purchases = static_cast<double>(r() % 20'000'001) / 1e6;
  const auto tier = static_cast<std::int64_t>(c.tier);
  s.expected_value = 500 + static_cast<std::int64_t>(r() % static_cast<std::uint64_t>(5'000 * (1 + tier)));
  s.clv = static_cast<std::int64_t>(r() % static_cast<std::uint64_t>(100'000 * (1 + tier) * (1 + tier)));
  s.r_score = static_cast<std::uint8_t>(1 + r() % 5);
  s.f_score = static_cast<std::uint8_t>(1 + r() % 5);
  s.m_score = static_cast<std::uint8_t>(1 + r() % 5);
  return s;
}

std::vector<Transaction> Generator::transactions(CustomerId id, int count) {
  std::vector<Transaction> out;
  out.reserve(count);
  for (int k = 0; k < count; ++k) {
    Transaction t;
    t.customer_id = id;
    t.ts = p_.start + std::chrono::milliseconds(static_cast<std::int64_t>(
                          rng_() % (static_cast<std::uint64_t>(p_.days) * 86'400'000)));
    std::uint64_t kind = rng_() % 100;
    t.kind = kind < 40 ? TransactionKind::kPurchase : kind < 65 ? TransactionKind::kDeposit
             : kind < 80 ? TransactionKind::kPayment : kind < 88 ? TransactionKind::kWithdrawal
             : kind < 94 ? TransactionKind::kTransfer : kind < 98 ? TransactionKind::kInvestment
                         : TransactionKind::kLoan;
    // Log-uniform-ish amounts: many small, some large (minor units).
    std::uint64_t scale = 1 + rng_() % 5;
    std::int64_t amount = 100;
    for (std::uint64_t s = 0; s < scale; ++s) amount *= 4;
    t.amount = 100 + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(amount));
    t.currency = "USD";
    t.channel = static_cast<Channel>(rng_() % 5);
    t.product = kProducts[rng_() % kProducts.size()];
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Relationship> Generator::relationships(std::uint64_t n) {
  std::vector<Relationship> out;
  // Households of two or three neighbours, and a referral now and then.
  for (std::uint64_t i = 1; i + 1 <= n; i += 7) {
    out.push_back({0, i, i + 1, RelationType::kHousehold, "", parse_date("2015-05-01")});
    if (i + 2 <= n && rng_() % 2) out.push_back({0, i, i + 2, RelationType::kSpouse, "", {}});
  }
  for (std::uint64_t i = 5; i <= n; i += 11)
    out.push_back({0, i, 1 + rng_() % (i - 1), RelationType::kReferrer, "", {}});
  for (std::uint64_t i = 3; i + 4 <= n; i += 29)
    out.push_back({0, i + 4, i, RelationType::kEmployer, "", {}});
  return out;
}

}  // namespace custdb::synthetic
