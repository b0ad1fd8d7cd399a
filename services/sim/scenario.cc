// Scenario files: the document is checked against the SimScenario message (keys, JSON types), read
// into it with protobuf's JSON mapping, then validated and expanded into a Scenario.
#include "services/sim/scenario.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "connectivity/advisor/formats/sim.pb.h"

namespace advisor::sim {
namespace {

namespace pb = google::protobuf;
using File = connectivity::advisor::formats::SimScenario;

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

// A value as JSON for an error message, cut short.
std::string Shown(const pb::Value& value) {
  std::string text;
  if (!pb::util::MessageToJsonString(value, &text).ok()) text = "?";
  constexpr size_t kMaxShown = 40;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "…";
  return text;
}

std::string Shown(double number) {
  pb::Value value;
  value.set_number_value(number);
  return Shown(value);
}

std::string Shown(const std::string& text) {
  pb::Value value;
  value.set_string_value(text);
  return Shown(value);
}

absl::Status CheckObject(const pb::Value& value, const pb::Descriptor& type,
                         const std::string& path);

// One value of `field`, a scenario field: a number, a string or an object.
absl::Status CheckElement(const pb::Value& value, const pb::FieldDescriptor& field,
                          const std::string& path) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return CheckObject(value, *field.message_type(), path);
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      if (value.kind_case() == pb::Value::kNumberValue) return absl::OkStatus();
      return Invalid(path, absl::StrFormat("must be a number, got %s", Shown(value)));
    case pb::FieldDescriptor::CPPTYPE_STRING:
      if (value.kind_case() == pb::Value::kStringValue) return absl::OkStatus();
      return Invalid(path, absl::StrFormat("must be a string, got %s", Shown(value)));
    default:
      return absl::InternalError(absl::StrFormat("%s: a field type scenarios do not use", path));
  }
}

// Checks the document against the scenario messages before the JSON mapping reads it, so that an
// error names the key as a path, an unknown key is refused with the allowed ones, and a value of
// the wrong JSON type is refused rather than converted (the mapping reads "0.5" as a number).
absl::Status CheckObject(const pb::Value& value, const pb::Descriptor& type,
                         const std::string& path) {
  if (value.kind_case() != pb::Value::kStructValue) {
    return Invalid(path.empty() ? "scenario" : path,
                   absl::StrFormat("must be an object, got %s", Shown(value)));
  }
  // In key order, so that of several errors the same one is reported every time.
  std::vector<std::string> keys;
  for (const auto& [key, unused] : value.struct_value().fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    const std::string where = Join(path, key);
    const pb::FieldDescriptor* field = type.FindFieldByName(key);
    if (field == nullptr) {
      std::vector<std::string> allowed;
      for (int i = 0; i < type.field_count(); ++i) {
        if (type.field(i)->name() != "description") allowed.push_back(type.field(i)->name());
      }
      return Invalid(where,
                     absl::StrFormat("unknown key (allowed: %s)", absl::StrJoin(allowed, ", ")));
    }
    const pb::Value& item = value.struct_value().fields().at(key);
    if (!field->is_repeated()) {
      if (auto s = CheckElement(item, *field, where); !s.ok()) return s;
      continue;
    }
    if (item.kind_case() != pb::Value::kListValue) {
      return Invalid(where, absl::StrFormat("must be an array, got %s", Shown(item)));
    }
    for (int i = 0; i < item.list_value().values_size(); ++i) {
      if (auto s = CheckElement(item.list_value().values(i), *field,
                                absl::StrFormat("%s[%d]", where, i));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

// A number checked against [min, max]: `fallback` when it is absent, or an error when there is
// none.
absl::StatusOr<double> Number(bool present, double value, const std::string& where, double min,
                              double max, std::optional<double> fallback = std::nullopt) {
  if (!present) {
    if (fallback) return *fallback;
    return Invalid(where, "required");
  }
  if (!std::isfinite(value) || value < min || value > max) {
    return Invalid(where, absl::StrFormat("must be in [%g, %g], got %s", min, max, Shown(value)));
  }
  return value;
}

absl::StatusOr<int64_t> Integer(bool present, double value, const std::string& where, int64_t min,
                                int64_t max) {
  auto v = Number(present, value, where, static_cast<double>(min), static_cast<double>(max));
  if (!v.ok()) return v.status();
  if (*v != std::floor(*v)) {
    return Invalid(where, absl::StrFormat("must be a whole number, got %g", *v));
  }
  return static_cast<int64_t>(*v);
}

absl::StatusOr<NatType> TrueNatType(bool present, const std::string& name,
                                    const std::string& where) {
  if (!present) return Invalid(where, "required");
  const auto type = strategy::ParseNatType(name);
  if (type && *type != NatType::kUnknown) return *type;
  return Invalid(where, absl::StrFormat("must be one of open, full_cone, restricted_cone, "
                                        "port_restricted_cone, symmetric, blocked; got %s",
                                        Shown(name)));
}

absl::StatusOr<LogNormal> ParseLogNormal(const File::LogNormal& value, const std::string& path) {
  LogNormal out;
  auto median = Number(value.has_median(), value.median(), Join(path, "median"), 1, kMaxBudgetMs);
  if (!median.ok()) return median.status();
  auto sigma = Number(value.has_sigma(), value.sigma(), Join(path, "sigma"), 0, kMaxSigma);
  if (!sigma.ok()) return sigma.status();
  out.median_ms = *median;
  out.sigma = *sigma;
  return out;
}

// Applies the fields present in a pair entry or the default pair to `truth`.
template <typename Entry>
absl::Status ApplyPairFields(const Entry& entry, const std::string& path, PairTruth& truth) {
  if (!entry.has_direct_success() && !entry.has_direct_time_ms()) {
    return Invalid(path, "needs direct_success, direct_time_ms or both");
  }
  auto success = Number(entry.has_direct_success(), entry.direct_success(),
                        Join(path, "direct_success"), 0, 1, truth.direct_success);
  if (!success.ok()) return success.status();
  truth.direct_success = *success;
  if (entry.has_direct_time_ms()) {
    auto time = ParseLogNormal(entry.direct_time_ms(), Join(path, "direct_time_ms"));
    if (!time.ok()) return time.status();
    truth.direct_time = *time;
  }
  return absl::OkStatus();
}

// A list of pair entries, applied on top of `table`. Returns the pairs it named.
absl::StatusOr<std::vector<NatPair>> ApplyPairs(const pb::RepeatedPtrField<File::Pair>& list,
                                                const std::string& path,
                                                std::array<PairTruth, kNatPairCount>& table) {
  std::vector<NatPair> named;
  for (int i = 0; i < list.size(); ++i) {
    const std::string where = absl::StrFormat("%s[%d]", path, i);
    const File::Pair& entry = list[i];
    auto a = TrueNatType(entry.has_a(), entry.a(), Join(where, "a"));
    if (!a.ok()) return a.status();
    auto b = TrueNatType(entry.has_b(), entry.b(), Join(where, "b"));
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

// `tree` is the document `root` was read from: proto3 cannot tell a phase's absent "pairs" from an
// empty list, and only the first is an error.
absl::StatusOr<Scenario> ParseFile(const File& root, const pb::Value& tree) {
  Scenario out;
  if (root.name().empty()) return Invalid("name", "required, a non-empty string");
  out.name = root.name();

  auto sessions = Integer(root.has_sessions(), root.sessions(), "sessions", 1, kMaxSessions);
  if (!sessions.ok()) return sessions.status();
  out.sessions = *sessions;

  if (!root.has_nat_mix()) return Invalid("nat_mix", "required");
  const File::NatMix& mix = root.nat_mix();
  const std::array<double, kTrueNatTypes.size()> shares = {
      mix.open(),      mix.full_cone(), mix.restricted_cone(), mix.port_restricted_cone(),
      mix.symmetric(), mix.blocked()};
  double mix_sum = 0;
  for (size_t i = 0; i < kTrueNatTypes.size(); ++i) {
    const NatType type = kTrueNatTypes[i];
    auto share = Number(true, shares[i], Join("nat_mix", strategy::NatTypeName(type)), 0, 1);
    if (!share.ok()) return share.status();
    out.nat_mix[static_cast<int>(type)] = *share;
    mix_sum += *share;
  }
  if (std::abs(mix_sum - 1) > kMixTolerance) {
    return Invalid("nat_mix", absl::StrFormat("shares must sum to 1, got %g", mix_sum));
  }

  auto misreport = Number(true, root.misreport(), "misreport", 0, 1);
  if (!misreport.ok()) return misreport.status();
  out.misreport = *misreport;

  if (!root.has_relay()) return Invalid("relay", "required");
  const File::Relay& relay = root.relay();
  auto relay_success = Number(relay.has_success(), relay.success(), "relay.success", 0, 1);
  if (!relay_success.ok()) return relay_success.status();
  out.relay_success = *relay_success;
  if (!relay.has_time_ms()) return Invalid("relay.time_ms", "required");
  auto relay_time = ParseLogNormal(relay.time_ms(), "relay.time_ms");
  if (!relay_time.ok()) return relay_time.status();
  out.relay_time = *relay_time;

  auto relay_cost =
      Number(root.has_relay_cost_ms(), root.relay_cost_ms(), "relay_cost_ms", 0, kMaxBudgetMs);
  if (!relay_cost.ok()) return relay_cost.status();
  out.relay_cost_ms = *relay_cost;

  auto budget = Integer(root.has_budget_ms(), root.budget_ms(), "budget_ms", 1, kMaxBudgetMs);
  if (!budget.ok()) return budget.status();
  out.budget_ms = static_cast<uint32_t>(*budget);

  // The first phase: default_pair everywhere, no direct path through a blocked side, then `pairs`.
  if (!root.has_default_pair()) return Invalid("default_pair", "required");
  const File::DefaultPair& default_pair = root.default_pair();
  if (!default_pair.has_direct_success() || !default_pair.has_direct_time_ms()) {
    return Invalid("default_pair", "needs both direct_success and direct_time_ms");
  }
  PairTruth fallback;
  if (auto s = ApplyPairFields(default_pair, "default_pair", fallback); !s.ok()) return s;
  Phase first;
  for (int i = 0; i < kNatPairCount; ++i) {
    const NatPair pair = NatPair::FromIndex(i);
    first.pairs[i] = fallback;
    if (pair.a == NatType::kBlocked || pair.b == NatType::kBlocked) {
      first.pairs[i].direct_success = 0;
    }
  }
  if (auto named = ApplyPairs(root.pairs(), "pairs", first.pairs); !named.ok()) {
    return named.status();
  }
  out.phases.push_back(std::move(first));

  for (int i = 0; i < root.phases_size(); ++i) {
    const std::string where = absl::StrFormat("phases[%d]", i);
    const File::Phase& entry = root.phases(i);
    const int64_t previous_start = out.phases.back().at_session;
    auto at = Integer(entry.has_at_session(), entry.at_session(), Join(where, "at_session"),
                      previous_start + 1, out.sessions - 1);
    if (!at.ok()) {
      return Invalid(Join(where, "at_session"),
                     absl::StrFormat("must be a whole number after the previous phase's start "
                                     "(%d) and before the end of the run (%d sessions)",
                                     previous_start, out.sessions));
    }
    const auto& phase_keys =
        tree.struct_value().fields().at("phases").list_value().values(i).struct_value().fields();
    if (!phase_keys.contains("pairs")) return Invalid(Join(where, "pairs"), "required");
    Phase phase = out.phases.back();
    phase.at_session = *at;
    phase.changed.clear();
    auto named = ApplyPairs(entry.pairs(), Join(where, "pairs"), phase.pairs);
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
  // Read as a generic document first, for CheckObject; that parse also refuses a key given twice,
  // which the typed parse would merge. The checked text is then read into the message.
  pb::Value tree;
  if (auto s = pb::util::JsonStringToMessage(json_text, &tree); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid JSON: %s", s.message().ToString()));
  }
  if (auto s = CheckObject(tree, *File::descriptor(), ""); !s.ok()) return s;
  File file;
  if (auto s = pb::util::JsonStringToMessage(json_text, &file); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid JSON: %s", s.message().ToString()));
  }
  return ParseFile(file, tree);
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
