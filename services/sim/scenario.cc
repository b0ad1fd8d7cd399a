#include "services/sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace advisor::sim {
namespace {

using json = nlohmann::json;

// More sessions than this would not fit the per-session tables in memory of a small machine.
constexpr int64_t kMaxSessions = 100'000'000;
// A log-normal sigma of 5 already spans a factor of e^10 between p5 and p95; more is a typo.
constexpr double kMaxSigma = 5;
// The shares of nat_mix are written by hand with a few decimals; a larger gap from 1 is a mistake.
constexpr double kMixTolerance = 1e-3;

absl::Status Invalid(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, why));
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrFormat("%s.%s", path, key);
}

std::string Shown(const json& value) {
  std::string text = value.dump();
  constexpr size_t kMaxShown = 40;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "…";
  return text;
}

absl::Status ExpectObject(const json& value, const std::string& path,
                          std::initializer_list<std::string_view> allowed) {
  if (!value.is_object()) {
    return Invalid(path.empty() ? "scenario" : path,
                   absl::StrFormat("must be an object, got %s", Shown(value)));
  }
  for (const auto& [key, unused] : value.items()) {
    if (key == "description") continue;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (std::string_view name : allowed) {
        list += list.empty() ? "" : ", ";
        list += name;
      }
      return Invalid(Join(path, key), absl::StrFormat("unknown key (allowed: %s)", list));
    }
  }
  return absl::OkStatus();
}

// The number at `key`, checked against [min, max]; `fallback` when the key is absent, or an error
// when there is none.
absl::StatusOr<double> Number(const json& object, std::string_view key, const std::string& path,
                              double min, double max,
                              std::optional<double> fallback = std::nullopt) {
  const std::string where = Join(path, key);
  const auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Invalid(where, "required");
  }
  if (!it->is_number()) {
    return Invalid(where, absl::StrFormat("must be a number, got %s", Shown(*it)));
  }
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    return Invalid(where, absl::StrFormat("must be in [%g, %g], got %s", min, max, Shown(*it)));
  }
  return v;
}

absl::StatusOr<int64_t> Integer(const json& object, std::string_view key, const std::string& path,
                                int64_t min, int64_t max) {
  auto v = Number(object, key, path, static_cast<double>(min), static_cast<double>(max));
  if (!v.ok()) return v.status();
  if (*v != std::floor(*v)) {
    return Invalid(Join(path, key), absl::StrFormat("must be a whole number, got %g", *v));
  }
  return static_cast<int64_t>(*v);
}

absl::StatusOr<NatType> TrueNatType(const json& object, std::string_view key,
                                    const std::string& path) {
  const std::string where = Join(path, key);
  const auto it = object.find(key);
  if (it == object.end()) return Invalid(where, "required");
  if (it->is_string()) {
    const auto type = strategy::ParseNatType(it->get<std::string>());
    if (type && *type != NatType::kUnknown) return *type;
  }
  return Invalid(where, absl::StrFormat("must be one of open, full_cone, restricted_cone, "
                                        "port_restricted_cone, symmetric, blocked; got %s",
                                        Shown(*it)));
}

absl::StatusOr<LogNormal> ParseLogNormal(const json& value, const std::string& path) {
  if (auto s = ExpectObject(value, path, {"median", "sigma"}); !s.ok()) return s;
  LogNormal out;
  auto median = Number(value, "median", path, 1, kMaxBudgetMs);
  if (!median.ok()) return median.status();
  auto sigma = Number(value, "sigma", path, 0, kMaxSigma);
  if (!sigma.ok()) return sigma.status();
  out.median_ms = *median;
  out.sigma = *sigma;
  return out;
}

// Applies the fields present in a pair entry (direct_success, direct_time_ms) to `truth`.
absl::Status ApplyPairFields(const json& entry, const std::string& path, PairTruth& truth) {
  if (!entry.contains("direct_success") && !entry.contains("direct_time_ms")) {
    return Invalid(path, "needs direct_success, direct_time_ms or both");
  }
  auto success = Number(entry, "direct_success", path, 0, 1, truth.direct_success);
  if (!success.ok()) return success.status();
  truth.direct_success = *success;
  if (const auto it = entry.find("direct_time_ms"); it != entry.end()) {
    auto time = ParseLogNormal(*it, Join(path, "direct_time_ms"));
    if (!time.ok()) return time.status();
    truth.direct_time = *time;
  }
  return absl::OkStatus();
}

// A list of pair entries, applied on top of `table`. Returns the pairs it named.
absl::StatusOr<std::vector<NatPair>> ApplyPairs(const json& list, const std::string& path,
                                                std::array<PairTruth, kNatPairCount>& table) {
  if (!list.is_array()) {
    return Invalid(path, absl::StrFormat("must be an array, got %s", Shown(list)));
  }
  std::vector<NatPair> named;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = absl::StrFormat("%s[%d]", path, i);
    const json& entry = list[i];
    if (auto s = ExpectObject(entry, where, {"a", "b", "direct_success", "direct_time_ms"});
        !s.ok()) {
      return s;
    }
    auto a = TrueNatType(entry, "a", where);
    if (!a.ok()) return a.status();
    auto b = TrueNatType(entry, "b", where);
    if (!b.ok()) return b.status();
    const NatPair pair = NatPair::Of(*a, *b);
    if (std::find(named.begin(), named.end(), pair) != named.end()) {
      return Invalid(where, absl::StrFormat("%s is listed twice", PairName(pair)));
    }
    named.push_back(pair);
    if (auto s = ApplyPairFields(entry, where, table[pair.Index()]); !s.ok()) return s;
  }
  return named;
}

absl::StatusOr<Scenario> ParseObject(const json& root) {
  if (auto s = ExpectObject(root, "",
                            {"name", "sessions", "nat_mix", "misreport", "default_pair", "pairs",
                             "relay", "relay_cost_ms", "budget_ms", "phases"});
      !s.ok()) {
    return s;
  }
  Scenario out;

  const auto name = root.find("name");
  if (name == root.end() || !name->is_string() || name->get<std::string>().empty()) {
    return Invalid("name", "required, a non-empty string");
  }
  out.name = name->get<std::string>();

  auto sessions = Integer(root, "sessions", "", 1, kMaxSessions);
  if (!sessions.ok()) return sessions.status();
  out.sessions = *sessions;

  const auto mix = root.find("nat_mix");
  if (mix == root.end()) return Invalid("nat_mix", "required");
  if (auto s = ExpectObject(
          *mix, "nat_mix",
          {"open", "full_cone", "restricted_cone", "port_restricted_cone", "symmetric", "blocked"});
      !s.ok()) {
    return s;
  }
  double mix_sum = 0;
  for (NatType type : kTrueNatTypes) {
    auto share = Number(*mix, strategy::NatTypeName(type), "nat_mix", 0, 1, 0.0);
    if (!share.ok()) return share.status();
    out.nat_mix[static_cast<int>(type)] = *share;
    mix_sum += *share;
  }
  if (std::abs(mix_sum - 1) > kMixTolerance) {
    return Invalid("nat_mix", absl::StrFormat("shares must sum to 1, got %g", mix_sum));
  }

  auto misreport = Number(root, "misreport", "", 0, 1, 0.0);
  if (!misreport.ok()) return misreport.status();
  out.misreport = *misreport;

  const auto relay = root.find("relay");
  if (relay == root.end()) return Invalid("relay", "required");
  if (auto s = ExpectObject(*relay, "relay", {"success", "time_ms"}); !s.ok()) return s;
  auto relay_success = Number(*relay, "success", "relay", 0, 1);
  if (!relay_success.ok()) return relay_success.status();
  out.relay_success = *relay_success;
  if (!relay->contains("time_ms")) return Invalid("relay.time_ms", "required");
  auto relay_time = ParseLogNormal(relay->at("time_ms"), "relay.time_ms");
  if (!relay_time.ok()) return relay_time.status();
  out.relay_time = *relay_time;

  auto relay_cost = Number(root, "relay_cost_ms", "", 0, kMaxBudgetMs);
  if (!relay_cost.ok()) return relay_cost.status();
  out.relay_cost_ms = *relay_cost;

  auto budget = Integer(root, "budget_ms", "", 1, kMaxBudgetMs);
  if (!budget.ok()) return budget.status();
  out.budget_ms = static_cast<uint32_t>(*budget);

  // The first phase: default_pair everywhere, no direct path through a blocked side, then `pairs`.
  const auto default_pair = root.find("default_pair");
  if (default_pair == root.end()) return Invalid("default_pair", "required");
  if (auto s = ExpectObject(*default_pair, "default_pair", {"direct_success", "direct_time_ms"});
      !s.ok()) {
    return s;
  }
  if (!default_pair->contains("direct_success") || !default_pair->contains("direct_time_ms")) {
    return Invalid("default_pair", "needs both direct_success and direct_time_ms");
  }
  PairTruth fallback;
  if (auto s = ApplyPairFields(*default_pair, "default_pair", fallback); !s.ok()) return s;
  Phase first;
  for (int i = 0; i < kNatPairCount; ++i) {
    const NatPair pair = NatPair::FromIndex(i);
    first.pairs[i] = fallback;
    if (pair.a == NatType::kBlocked || pair.b == NatType::kBlocked) {
      first.pairs[i].direct_success = 0;
    }
  }
  if (const auto pairs = root.find("pairs"); pairs != root.end()) {
    auto named = ApplyPairs(*pairs, "pairs", first.pairs);
    if (!named.ok()) return named.status();
  }
  out.phases.push_back(std::move(first));

  if (const auto phases = root.find("phases"); phases != root.end()) {
    if (!phases->is_array()) {
      return Invalid("phases", absl::StrFormat("must be an array, got %s", Shown(*phases)));
    }
    for (size_t i = 0; i < phases->size(); ++i) {
      const std::string where = absl::StrFormat("phases[%d]", i);
      const json& entry = (*phases)[i];
      if (auto s = ExpectObject(entry, where, {"at_session", "pairs"}); !s.ok()) return s;
      const int64_t previous_start = out.phases.back().at_session;
      auto at = Integer(entry, "at_session", where, previous_start + 1, out.sessions - 1);
      if (!at.ok()) {
        return Invalid(Join(where, "at_session"),
                       absl::StrFormat("must be a whole number after the previous phase's start "
                                       "(%d) and before the end of the run (%d sessions)",
                                       previous_start, out.sessions));
      }
      if (!entry.contains("pairs")) return Invalid(Join(where, "pairs"), "required");
      Phase phase = out.phases.back();
      phase.at_session = *at;
      phase.changed.clear();
      auto named = ApplyPairs(entry.at("pairs"), Join(where, "pairs"), phase.pairs);
      if (!named.ok()) return named.status();
      const Phase& before = out.phases.back();
      for (NatPair pair : *named) {
        const PairTruth& now = phase.pairs[pair.Index()];
        const PairTruth& then = before.pairs[pair.Index()];
        if (now.direct_success != then.direct_success ||
            now.direct_time.median_ms != then.direct_time.median_ms ||
            now.direct_time.sigma != then.direct_time.sigma) {
          phase.changed.push_back(pair);
        }
      }
      out.phases.push_back(std::move(phase));
    }
  }
  return out;
}

}  // namespace

int Scenario::PhaseOf(int64_t session) const {
  int index = 0;
  while (index + 1 < static_cast<int>(phases.size()) && phases[index + 1].at_session <= session) {
    ++index;
  }
  return index;
}

absl::StatusOr<Scenario> ParseScenario(std::string_view json_text) {
  // nlohmann reports syntax errors by exception; they stop here and become a status.
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid JSON: %s", e.what()));
  }
  return ParseObject(root);
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrFormat("%s: cannot open the scenario file", path));
  std::stringstream text;
  text << in.rdbuf();
  auto scenario = ParseScenario(text.str());
  if (!scenario.ok()) {
    return absl::Status(scenario.status().code(),
                        absl::StrFormat("%s: %s", path, scenario.status().message()));
  }
  return scenario;
}

}  // namespace advisor::sim
