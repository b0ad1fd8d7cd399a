#include "services/sim/report.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_format.h"
#include "connectivity/advisor/formats/sim.pb.h"
#include "lib/client/connect_plan.h"
#include "lib/client/report_builder.h"
#include "lib/config/json.h"

namespace advisor::sim {
namespace {

namespace pb = google::protobuf;
using Report = connectivity::advisor::formats::SimReport;

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

void SetFigures(const Figures& f, Report::Figures& out) {
  out.set_sessions(static_cast<int32_t>(f.sessions));
  out.set_success_rate(f.success_rate);
  out.set_mean_connect_ms(f.mean_connect_ms);
  out.set_p95_connect_ms(f.p95_connect_ms);
  out.set_relay_share(f.relay_share);
  out.set_mean_time_ms(f.mean_time_ms);
  out.set_cost(f.cost);
}

Report::Figures& PolicyFigures(Policy p, Report::Comparison& c) {
  switch (p) {
    case Policy::kAdvisor:
      return *c.mutable_advisor();
    case Policy::kStaticTree:
      return *c.mutable_static_tree();
    case Policy::kTurnOnly:
      return *c.mutable_turn_only();
    case Policy::kOracle:
      break;
  }
  return *c.mutable_oracle();
}

void SetComparison(const Comparison& c, Report::Comparison& out) {
  for (Policy p : kPolicies) SetFigures(c.of(p), PolicyFigures(p, out));
  out.set_regret(c.regret);
  out.set_gain(c.gain);
}

pb::Value Number(double number) {
  pb::Value value;
  value.set_number_value(number);
  return value;
}

pb::Value ChoiceValue(const OracleChoice& o) {
  pb::Value value;
  auto& fields = *value.mutable_struct_value()->mutable_fields();
  fields["strategy"].set_string_value(o.choice.strategy == Strategy::kTurnOnly ? "turn_only"
                                                                               : "direct_first");
  fields["timeout_ms"] = Number(o.choice.timeout_ms);
  fields["expected_success"] = Number(o.expected.success);
  fields["expected_cost"] = Number(o.expected.cost);
  return value;
}

void SetExpected(const Expected& e, double oracle_cost, Report::Expected& out) {
  out.set_success(e.success);
  out.set_cost(e.cost);
  out.set_over_oracle(Regret(e.cost, oracle_cost));
}

// The report as JSON with every field printed, the oracle's rows (a map) sorted by pair name.
absl::StatusOr<std::string> PrintJson(const Report& report) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  return config::StableJson(report, options);
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

absl::StatusOr<std::string> RenderJson(const Scenario& scenario, const RunInfo& info,
                                       const Evaluation& evaluation) {
  Report out;
  out.set_scenario(scenario.name);
  out.set_scenario_file(info.scenario_file);
  out.set_target(info.target);
  out.set_seed(static_cast<double>(info.seed));
  out.set_concurrency(info.concurrency);
  out.set_rate(info.rate);
  out.set_sessions(static_cast<int32_t>(evaluation.sessions));
  out.set_excluded_sessions(static_cast<int32_t>(evaluation.excluded));
  out.set_elapsed_s(absl::ToDoubleSeconds(info.stats.elapsed));
  out.set_sessions_per_s(info.stats.sessions_per_s);
  Report::FailedRpcs& failed = *out.mutable_failed_rpcs();
  failed.set_get_strategy(static_cast<int32_t>(info.stats.get_strategy_errors));
  failed.set_report_outcome(static_cast<int32_t>(info.stats.report_errors));
  failed.set_first(info.stats.first_error);
  out.set_budget_ms(scenario.budget_ms);
  out.set_relay_cost_ms(scenario.relay_cost_ms);
  out.set_relay_success(scenario.relay_success);
  SetComparison(evaluation.overall, *out.mutable_overall());
  Report::WarmUp& warm_up = *out.mutable_warm_up();
  warm_up.set_sessions(static_cast<int32_t>(evaluation.warm_up_sessions));
  SetComparison(evaluation.warm_up, *warm_up.mutable_warm_up());
  SetComparison(evaluation.after_warm_up, *warm_up.mutable_after_warm_up());
  for (const PhaseFigures& phase : evaluation.phases) {
    Report::Phase& entry = *out.add_phases();
    entry.set_phase(phase.phase);
    entry.set_from_session(static_cast<int32_t>(phase.from_session));
    entry.set_to_session(static_cast<int32_t>(phase.to_session));
    SetComparison(phase.figures, *entry.mutable_figures());
  }
  for (const PairFigures& pair : evaluation.pairs) {
    Report::Pair& entry = *out.add_pairs();
    entry.set_pair(PairName(pair.pair));
    SetComparison(pair.figures, *entry.mutable_figures());
  }
  for (const PhaseChange& change : evaluation.changes) {
    Report::PhaseChange& entry = *out.add_phase_changes();
    entry.set_phase(change.phase);
    entry.set_at_session(static_cast<int32_t>(change.at_session));
    entry.set_pair(PairName(change.pair));
    entry.set_window_sessions(static_cast<int32_t>(kWindowSessions));
    for (const Window& w : change.windows) {
      Report::Window& window = *entry.add_windows();
      window.set_from(static_cast<int32_t>(w.from));
      window.set_to(static_cast<int32_t>(w.to));
      window.set_advisor_cost(w.advisor_cost);
      window.set_static_cost(w.static_cost);
      window.set_oracle_cost(w.oracle_cost);
      window.set_regret(w.regret);
    }
    if (change.recovered_after) {
      entry.mutable_recovered_after()->set_number_value(
          static_cast<double>(*change.recovered_after));
    } else {
      entry.mutable_recovered_after()->set_null_value(pb::NULL_VALUE);
    }
    entry.set_worst_regret_after(change.worst_regret_after);
  }
  for (const auto& phase : evaluation.oracle) {
    pb::Struct& row = *out.add_oracle();
    for (int i = 0; i < kNatPairCount; ++i) {
      const NatPair pair = NatPair::FromIndex(i);
      if (Occurs(scenario, pair)) (*row.mutable_fields())[PairName(pair)] = ChoiceValue(phase[i]);
    }
  }
  const SuccessPrice& price = evaluation.success_price;
  Report::SuccessPrice& success_price = *out.mutable_success_price();
  SetExpected(price.static_tree, price.oracle.cost, *success_price.mutable_static_tree());
  SetExpected(price.oracle, price.oracle.cost, *success_price.mutable_oracle());
  SetExpected(price.matched, price.oracle.cost, *success_price.mutable_matched());
  success_price.set_failure_price_ms(price.failure_price_ms);
  return PrintJson(out);
}

}  // namespace advisor::sim
