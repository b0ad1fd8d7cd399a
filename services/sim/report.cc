#include "services/sim/report.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "lib/client/connect_plan.h"
#include "lib/client/report_builder.h"

namespace advisor::sim {
namespace {

using ordered_json = nlohmann::ordered_json;

// `text` padded with spaces to `width` characters; pair names hold a multi-byte "×", which
// printf-style widths would count as two.
std::string Pad(std::string_view text, size_t width) {
  size_t chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  std::string out(text);
  if (chars < width) out.append(width - chars, ' ');
  return out;
}

std::string Percent(double fraction) { return absl::StrFormat("%.2f %%", 100 * fraction); }
std::string SignedPercent(double fraction) { return absl::StrFormat("%+.1f %%", 100 * fraction); }

std::string ChoiceText(const Choice& choice) {
  if (choice.strategy == Strategy::kTurnOnly) return "TURN_ONLY";
  return absl::StrFormat("direct first, %d ms", choice.timeout_ms);
}

// One block: the four policies on a group of sessions, then regret and gain.
void AppendComparison(std::string& out, std::string_view title, const Comparison& c) {
  absl::StrAppendFormat(&out, "%s %9s %9s %9s %9s %8s %10s\n", Pad(title, 52), "sessions",
                        "success", "mean ms", "p95 ms", "relay", "cost ms");
  for (Policy p : kPolicies) {
    const Figures& f = c.of(p);
    absl::StrAppendFormat(&out, "  %-50s %9d %9s %9.0f %9d %8s %10.1f\n", PolicyName(p), f.sessions,
                          Percent(f.success_rate), f.mean_connect_ms, f.p95_connect_ms,
                          absl::StrFormat("%.1f %%", 100 * f.relay_share), f.cost);
  }
  absl::StrAppendFormat(&out, "  advisor regret vs oracle %s, gain vs static tree %s\n\n",
                        SignedPercent(c.regret), SignedPercent(c.gain));
}

ordered_json FiguresJson(const Figures& f) {
  return {{"sessions", f.sessions},
          {"success_rate", f.success_rate},
          {"mean_connect_ms", f.mean_connect_ms},
          {"p95_connect_ms", f.p95_connect_ms},
          {"relay_share", f.relay_share},
          {"mean_time_ms", f.mean_time_ms},
          {"cost", f.cost}};
}

ordered_json ComparisonJson(const Comparison& c) {
  ordered_json out = ordered_json::object();
  for (Policy p : kPolicies) out[std::string(PolicyName(p))] = FiguresJson(c.of(p));
  out["regret"] = c.regret;
  out["gain"] = c.gain;
  return out;
}

ordered_json ChoiceJson(const OracleChoice& o) {
  return {{"strategy", o.choice.strategy == Strategy::kTurnOnly ? "turn_only" : "direct_first"},
          {"timeout_ms", o.choice.timeout_ms},
          {"expected_success", o.expected.success},
          {"expected_cost", o.expected.cost}};
}

// The true pairs that can occur: both types have a share in the mix.
bool Occurs(const Scenario& scenario, NatPair pair) {
  return scenario.nat_mix[static_cast<int>(pair.a)] > 0 &&
         scenario.nat_mix[static_cast<int>(pair.b)] > 0;
}

}  // namespace

absl::StatusOr<connectivity::advisor::v1::ReportOutcomeRequest> OutcomeReport(
    const connectivity::advisor::v1::GetStrategyResponse& answer, const Played& played) {
  namespace v1 = connectivity::advisor::v1;
  client::ObservedSession session;
  for (const Attempt& a : played.attempts) {
    client::ObservedAttempt& attempt = session.attempts.emplace_back();
    attempt.path = a.path == Path::kDirect ? v1::PATH_DIRECT : v1::PATH_RELAY;
    switch (a.result) {
      case Result::kSucceeded:
        attempt.result = v1::ATTEMPT_RESULT_SUCCEEDED;
        break;
      case Result::kTimedOut:
        attempt.result = v1::ATTEMPT_RESULT_TIMED_OUT;
        break;
      case Result::kFailed:
        attempt.result = v1::ATTEMPT_RESULT_FAILED;
        break;
    }
    attempt.duration = absl::Milliseconds(a.duration_ms);
    if (a.path == Path::kRelay) attempt.transport = answer.preferred_turn_transport();
  }
  session.connected = played.connected;
  session.time_to_connect = absl::Milliseconds(played.time_to_connect_ms);
  return client::BuildReport(answer, session);
}

std::string RenderText(const Scenario& scenario, const RunInfo& info,
                       const Evaluation& evaluation) {
  std::string out;
  absl::StrAppendFormat(&out, "advisor-sim: scenario \"%s\" (%s)\n", scenario.name,
                        info.scenario_file);
  absl::StrAppendFormat(&out,
                        "  %d sessions, seed %d, against %s with %d in flight, %s: %.1f s, %.0f "
                        "sessions/s\n",
                        evaluation.sessions + evaluation.excluded, info.seed, info.target,
                        info.concurrency,
                        info.rate > 0 ? absl::StrFormat("at most %g sessions/s", info.rate)
                                      : std::string("no rate limit"),
                        absl::ToDoubleSeconds(info.stats.elapsed), info.stats.sessions_per_s);
  absl::StrAppendFormat(&out,
                        "  failed RPCs: GetStrategy %d, ReportOutcome %d; sessions left out "
                        "(no advice): %d\n",
                        info.stats.get_strategy_errors, info.stats.report_errors,
                        evaluation.excluded);
  if (!info.stats.first_error.empty()) {
    absl::StrAppendFormat(&out, "  first failure: %s\n", info.stats.first_error);
  }
  absl::StrAppendFormat(&out,
                        "  cost = mean session time (budget %d ms when not connected) + %.0f ms "
                        "× relay share; mean and p95 over connected sessions\n\n",
                        scenario.budget_ms, scenario.relay_cost_ms);

  AppendComparison(out, "overall", evaluation.overall);
  AppendComparison(out, absl::StrFormat("warm-up (first %d sessions)", evaluation.warm_up_sessions),
                   evaluation.warm_up);
  AppendComparison(out, "after warm-up", evaluation.after_warm_up);
  for (const PhaseFigures& phase : evaluation.phases) {
    AppendComparison(out,
                     absl::StrFormat("phase %d (sessions %d–%d)", phase.phase, phase.from_session,
                                     phase.to_session),
                     phase.figures);
  }
  for (const PairFigures& pair : evaluation.pairs) {
    AppendComparison(out, absl::StrFormat("pair %s", PairName(pair.pair)), pair.figures);
  }

  for (const PhaseChange& change : evaluation.changes) {
    const PairTruth& before = scenario.phases[change.phase - 1].pairs[change.pair.Index()];
    const PairTruth& after = scenario.phases[change.phase].pairs[change.pair.Index()];
    absl::StrAppendFormat(&out,
                          "phase %d from session %d: %s direct success %.2f → %.2f, median %.0f → "
                          "%.0f ms\n",
                          change.phase, change.at_session, PairName(change.pair),
                          before.direct_success, after.direct_success, before.direct_time.median_ms,
                          after.direct_time.median_ms);
    absl::StrAppendFormat(&out, "  %-22s %13s %13s %13s %9s\n", "sessions of the pair",
                          "advisor cost", "static cost", "oracle cost", "regret");
    for (const Window& w : change.windows) {
      absl::StrAppendFormat(&out, "  %-22s %13.1f %13.1f %13.1f %9s\n",
                            absl::StrFormat("%d–%d", w.from, w.to), w.advisor_cost, w.static_cost,
                            w.oracle_cost, SignedPercent(w.regret));
    }
    if (change.recovered_after) {
      absl::StrAppendFormat(&out,
                            "  regret under %.0f %% after %d sessions of the pair; worst later "
                            "window %s\n\n",
                            100 * kRecoveredRegret, *change.recovered_after,
                            SignedPercent(change.worst_regret_after));
    } else {
      absl::StrAppendFormat(&out, "  regret never under %.0f %% in this phase\n\n",
                            100 * kRecoveredRegret);
    }
  }

  out += "oracle's choice per true pair (expected success, expected cost)\n";
  for (size_t phase = 0; phase < evaluation.oracle.size(); ++phase) {
    if (evaluation.oracle.size() > 1) absl::StrAppendFormat(&out, "  phase %d\n", phase);
    for (int i = 0; i < kNatPairCount; ++i) {
      const NatPair pair = NatPair::FromIndex(i);
      if (!Occurs(scenario, pair)) continue;
      const OracleChoice& o = evaluation.oracle[phase][i];
      absl::StrAppendFormat(&out, "  %s %-24s %8s %10.1f\n", Pad(PairName(pair), 50),
                            ChoiceText(o.choice), Percent(o.expected.success), o.expected.cost);
    }
  }

  const SuccessPrice& price = evaluation.success_price;
  out +=
      "\nwhat the static tree's success rate costs (expected from the model over the whole run, "
      "true types)\n";
  auto line = [&](std::string_view name, const Expected& e) {
    absl::StrAppendFormat(&out, "  %-50s success %9s  cost %8.1f  (%s vs oracle)\n", name,
                          absl::StrFormat("%.3f %%", 100 * e.success), e.cost,
                          SignedPercent(Regret(e.cost, price.oracle.cost)));
  };
  line("static tree", price.static_tree);
  line("oracle", price.oracle);
  line("cheapest choices as successful as the static tree", price.matched);
  absl::StrAppendFormat(&out, "  (found by pricing a failure at %.3g ms on top of the cost)\n",
                        price.failure_price_ms);
  return out;
}

std::string RenderJson(const Scenario& scenario, const RunInfo& info,
                       const Evaluation& evaluation) {
  ordered_json out;
  out["scenario"] = scenario.name;
  out["scenario_file"] = info.scenario_file;
  out["target"] = info.target;
  out["seed"] = info.seed;
  out["concurrency"] = info.concurrency;
  out["rate"] = info.rate;
  out["sessions"] = evaluation.sessions;
  out["excluded_sessions"] = evaluation.excluded;
  out["elapsed_s"] = absl::ToDoubleSeconds(info.stats.elapsed);
  out["sessions_per_s"] = info.stats.sessions_per_s;
  out["failed_rpcs"] = {{"get_strategy", info.stats.get_strategy_errors},
                        {"report_outcome", info.stats.report_errors},
                        {"first", info.stats.first_error}};
  out["budget_ms"] = scenario.budget_ms;
  out["relay_cost_ms"] = scenario.relay_cost_ms;
  out["relay_success"] = scenario.relay_success;
  out["overall"] = ComparisonJson(evaluation.overall);
  out["warm_up"] = {{"sessions", evaluation.warm_up_sessions},
                    {"warm_up", ComparisonJson(evaluation.warm_up)},
                    {"after_warm_up", ComparisonJson(evaluation.after_warm_up)}};
  ordered_json phases = ordered_json::array();
  for (const PhaseFigures& phase : evaluation.phases) {
    phases.push_back({{"phase", phase.phase},
                      {"from_session", phase.from_session},
                      {"to_session", phase.to_session},
                      {"figures", ComparisonJson(phase.figures)}});
  }
  out["phases"] = std::move(phases);
  ordered_json pairs = ordered_json::array();
  for (const PairFigures& pair : evaluation.pairs) {
    pairs.push_back({{"pair", PairName(pair.pair)}, {"figures", ComparisonJson(pair.figures)}});
  }
  out["pairs"] = std::move(pairs);
  ordered_json changes = ordered_json::array();
  for (const PhaseChange& change : evaluation.changes) {
    ordered_json windows = ordered_json::array();
    for (const Window& w : change.windows) {
      windows.push_back({{"from", w.from},
                         {"to", w.to},
                         {"advisor_cost", w.advisor_cost},
                         {"static_cost", w.static_cost},
                         {"oracle_cost", w.oracle_cost},
                         {"regret", w.regret}});
    }
    ordered_json entry = {{"phase", change.phase},
                          {"at_session", change.at_session},
                          {"pair", PairName(change.pair)},
                          {"window_sessions", kWindowSessions},
                          {"windows", std::move(windows)},
                          {"recovered_after", nullptr},
                          {"worst_regret_after", change.worst_regret_after}};
    if (change.recovered_after) entry["recovered_after"] = *change.recovered_after;
    changes.push_back(std::move(entry));
  }
  out["phase_changes"] = std::move(changes);
  ordered_json oracle = ordered_json::array();
  for (size_t phase = 0; phase < evaluation.oracle.size(); ++phase) {
    ordered_json row = ordered_json::object();
    for (int i = 0; i < kNatPairCount; ++i) {
      const NatPair pair = NatPair::FromIndex(i);
      if (Occurs(scenario, pair)) row[PairName(pair)] = ChoiceJson(evaluation.oracle[phase][i]);
    }
    oracle.push_back(std::move(row));
  }
  out["oracle"] = std::move(oracle);
  const SuccessPrice& price = evaluation.success_price;
  auto expected = [&](const Expected& e) {
    return ordered_json{{"success", e.success},
                        {"cost", e.cost},
                        {"over_oracle", Regret(e.cost, price.oracle.cost)}};
  };
  out["success_price"] = {{"static_tree", expected(price.static_tree)},
                          {"oracle", expected(price.oracle)},
                          {"matched", expected(price.matched)},
                          {"failure_price_ms", price.failure_price_ms}};
  return out.dump(2) + "\n";
}

}  // namespace advisor::sim
