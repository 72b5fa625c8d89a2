#include "synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "custdb/money.h"

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

namespace {

// Synthetic exchange rates: the value of one major unit in US dollars, in millionths. Fixed, so
// the data are reproducible; not market data.
struct Rate {
  const char* currency;
  std::int64_t usd_millionths;
};
constexpr std::array kRates = {Rate{"USD", 1'000'000}, Rate{"EUR", 1'080'000},
                               Rate{"CAD", 730'000},   Rate{"GBP", 1'270'000},
                               Rate{"CHF", 1'120'000}, Rate{"JPY", 6'700},
                               Rate{"AUD", 660'000}};

std::optional<std::int64_t> usd_rate(std::string_view currency) {
  for (const Rate& r : kRates)
    if (currency == r.currency) return r.usd_millionths;
  return std::nullopt;
}

// `amount` minor units of `from` in minor units of `to`, rounded half away from zero.
std::int64_t convert(std::int64_t amount, std::string_view from, std::string_view to) {
  __int128 num = static_cast<__int128>(amount) * *usd_rate(from);
  __int128 den = *usd_rate(to);
  for (int d = currency_digits(to); d > 0; --d) num *= 10;
  for (int d = currency_digits(from); d > 0; --d) den *= 10;
  const __int128 half = den / 2;
  return static_cast<std::int64_t>(num >= 0 ? (num + half) / den : (num - half) / den);
}

// A log-normal amount around `median` major units (sigma in log space), in minor units of
// `currency`, at least one major unit.
std::int64_t lognormal(std::mt19937_64& r, double median, double sigma, std::string_view currency) {
  const double major = std::max(1.0, median * std::exp(sigma * std::normal_distribution<double>(0, 1)(r)));
  double scale = 1;
  for (int d = currency_digits(currency); d > 0; --d) scale *= 10;
  return static_cast<std::int64_t>(std::llround(std::min(major, 1e9) * scale));
}

}  // namespace

std::vector<Holding> Generator::holdings(const Customer& c, std::string_view base_currency) const {
  std::vector<Holding> out;
  if (c.type == CustomerType::kProspect) return out;
  std::mt19937_64 r(p_.seed * 0xD6E8FEB86659FD93ull + c.id);  // its own stream, order-free
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::string base(base_currency);
  const bool base_has_rate = usd_rate(base).has_value();
  const int tier = static_cast<int>(c.tier);                  // 0 bronze .. 4 diamond
  constexpr std::array kWealth = {1.0, 2.5, 6.0, 15.0, 40.0};  // balance scale by tier
  const double m = kWealth[static_cast<std::size_t>(tier)];
  const bool canadian = c.address.country == "CA";
  const bool coastal = c.address.region == "east" || c.address.region == "west";
  const Date today = parse_date("2026-10-31").value();
  const Date since = std::max(std::chrono::floor<std::chrono::days>(c.created_at),
                              parse_date("1990-01-01").value());
  const int span = std::max(1, static_cast<int>((today - since).count()));
  int age = 45;
  if (c.birth_date) age = static_cast<int>((today - *c.birth_date).count() / 365);

  auto add = [&](ProductType type, const char* code, std::string currency, std::int64_t balance,
                 std::optional<std::int64_t> limit = std::nullopt, std::string custom = {}) {
    Holding h;
    h.customer_id = c.id;
    h.product_type = type;
    h.custom_type = std::move(custom);
    h.product_code = code;
    h.account_ref = "ACCT-" + std::to_string(100'000'000'000ull + c.id * 32 + out.size());
    if (!base_has_rate || !usd_rate(currency)) currency = base;
    h.currency = currency;
    h.balance = balance;
    if (currency != base) h.base_balance = convert(balance, currency, base);
    h.credit_limit = limit;
    h.opened_on = since + std::chrono::days(r() % static_cast<std::uint64_t>(span));
    const double s = u(r);
    if (s < 0.05) {
      h.status = HoldingStatus::kClosed;
      const auto open_days = std::max<std::int64_t>(1, (today - *h.opened_on).count());
      h.closed_on = *h.opened_on + std::chrono::days(r() % static_cast<std::uint64_t>(open_days));
    } else if (s < 0.15) {
      h.status = HoldingStatus::kDormant;
    }
    out.push_back(std::move(h));
  };
  auto chance = [&](double p) { return u(r) < p; };
  auto amount = [&](double median, double sigma, const std::string& cur) {
    return lognormal(r, median, sigma, cur);
  };
  // (Each draw is its own statement: argument evaluation order is unspecified.)
  // Limits in whole thousands of major units.
  auto rounded = [&](std::int64_t minor, const std::string& cur) {
    std::int64_t unit = 1000;
    for (int d = currency_digits(cur); d > 0; --d) unit *= 10;
    return std::max<std::int64_t>(unit, (minor + unit - 1) / unit * unit);
  };

  if (c.type == CustomerType::kCorporate) {
    add(ProductType::kDeposit, "BIZ-CHK", base, amount(40'000 * m, 1.0, base));
    if (chance(0.3)) add(ProductType::kTermDeposit, "BIZ-TD-12M", base, amount(150'000 * m, 0.8, base));
    if (chance(0.4)) {
      const std::int64_t limit = rounded(amount(20'000 * m, 0.5, base), base);
      add(ProductType::kCreditCard, "BIZ-CARD", base, std::min(limit, amount(4'000 * m, 1.0, base)), limit);
    }
    if (chance(0.35)) {
      const std::int64_t limit = rounded(amount(250'000 * m, 0.7, base), base);
      add(ProductType::kCustom, "BIZ-LOAN", base, std::min(limit, amount(120'000 * m, 0.8, base)),
          limit, "business_loan");
    }
    return out;
  }

  const std::string local = canadian ? "CAD" : base;
  if (chance(0.93)) add(ProductType::kDeposit, tier >= 2 ? "CHK-PREMIER" : "CHK-BASIC", local,
                        amount(2'500 * m, 1.0, local));
  if (canadian && local != base && chance(0.5))  // a base-currency account next to the CAD one
    add(ProductType::kDeposit, "CHK-USD", base, amount(1'500 * m, 1.0, base));
  if (chance(0.5 + 0.08 * tier)) add(ProductType::kSavings, "SAV-PLUS", local, amount(8'000 * m, 1.2, local));
  if (chance(0.04)) add(ProductType::kSavings, "SAV-EUR", "EUR", amount(5'000 * m, 1.0, "EUR"));
  if (chance(0.08 + 0.06 * tier)) add(ProductType::kTermDeposit, "TD-12M", base, amount(25'000 * m, 0.8, base));
  if (chance(0.06 + (coastal ? 0.06 : 0.0) + 0.12 * tier)) {
    const std::string cur = chance(0.1) ? "EUR" : base;
    const char* code = chance(0.6) ? "FND-GLOBAL-EQ" : "FND-BOND";
    add(ProductType::kFund, code, cur, amount(50'000 * m, 1.0, cur));
  }
  if (chance(0.2)) add(ProductType::kInsurance, "INS-LIFE", base, amount(10'000 * m, 1.0, base));
  if (chance(0.45 + 0.07 * tier)) {
    const std::int64_t limit = rounded(amount(4'000 * std::sqrt(m), 0.5, base), base);
    add(ProductType::kCreditCard, tier >= 3 ? "CC-PLATINUM" : "CC-CLASSIC", base,
        std::min(limit, amount(1'200 * std::sqrt(m), 1.0, base)), limit);
  }
  if (chance(0.12)) {
    const std::int64_t limit = rounded(amount(15'000, 0.6, base), base);
    add(ProductType::kPersonalLoan, "PL-STD", base, std::min(limit, amount(9'000, 0.7, base)), limit);
  }
  if (chance((age >= 28 && age <= 65 ? 0.2 : 0.05) + 0.06 * tier)) {
    const std::int64_t limit = rounded(amount(300'000 * std::sqrt(m), 0.5, base), base);
    const char* code = chance(0.7) ? "MTG-30Y-FIX" : "MTG-5Y-ARM";
    add(ProductType::kMortgage, code, base, std::min(limit, amount(200'000 * std::sqrt(m), 0.6, base)),
        limit);
  }
  return out;
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
