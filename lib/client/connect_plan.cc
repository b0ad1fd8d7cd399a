#include "lib/client/connect_plan.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace advisor::client {

std::string_view PhaseName(ConnectPlan::Phase phase) {
  switch (phase) {
    case ConnectPlan::Phase::kNotStarted:
      return "not_started";
    case ConnectPlan::Phase::kDirect:
      return "direct";
    case ConnectPlan::Phase::kRelay:
      return "relay";
    case ConnectPlan::Phase::kConnected:
      return "connected";
    case ConnectPlan::Phase::kGaveUp:
      return "gave_up";
  }
  return "unknown";
}

absl::StatusOr<ConnectPlan> ConnectPlan::Create(const v1::GetStrategyResponse& answer,
                                                absl::Duration budget) {
  if (budget <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a connect plan needs a positive budget");
  }
  if (answer.strategy() != v1::STRATEGY_DIRECT && answer.strategy() != v1::STRATEGY_TURN_FALLBACK &&
      answer.strategy() != v1::STRATEGY_TURN_ONLY) {
    return absl::InvalidArgumentError("the answer names no strategy");
  }
  ConnectPlan plan;
  plan.strategy_ = answer.strategy();
  plan.initial_ = answer.ice_config();
  if (answer.strategy() != v1::STRATEGY_TURN_ONLY && answer.has_fallback_ice_config()) {
    plan.fallback_ = answer.fallback_ice_config();
  }
  // A direct phase without a timeout (an answer that should not exist) gets the whole budget.
  plan.direct_timeout_ =
      answer.direct_timeout_ms() > 0 ? absl::Milliseconds(answer.direct_timeout_ms()) : budget;
  plan.budget_ = budget;
  plan.preferred_transport_ = answer.preferred_turn_transport();
  return plan;
}

std::optional<absl::Duration> ConnectPlan::fallback_after() const {
  if (!fallback_ || direct_timeout_ >= budget_) return std::nullopt;
  return direct_timeout_;
}

std::vector<ConnectPlan::Action> ConnectPlan::OnStarted(absl::Time now) {
  if (phase_ != Phase::kNotStarted) return {};
  started_ = phase_started_ = now;
  phase_ = strategy_ == v1::STRATEGY_TURN_ONLY ? Phase::kRelay : Phase::kDirect;
  Action create{.kind = Action::Kind::kCreatePeerConnection, .config = initial_};
  Action timer{.kind = Action::Kind::kSetTimer,
               .at = phase_ == Phase::kDirect ? DirectDue() : started_ + budget_};
  return {std::move(create), std::move(timer)};
}

std::vector<ConnectPlan::Action> ConnectPlan::OnConnected(absl::Time now, v1::Path path,
                                                          v1::TurnTransport transport) {
  if (phase_ != Phase::kDirect && phase_ != Phase::kRelay) return {};
  const v1::Path reported = phase_ == Phase::kRelay ? v1::PATH_RELAY : path;
  EndPhase(now, v1::ATTEMPT_RESULT_SUCCEEDED, reported,
           reported == v1::PATH_RELAY ? transport : v1::TURN_TRANSPORT_UNSPECIFIED);
  time_to_connect_ = now - started_;
  phase_ = Phase::kConnected;
  return {Action{.kind = Action::Kind::kDone}};
}

std::vector<ConnectPlan::Action> ConnectPlan::OnFailed(absl::Time now) {
  if (phase_ == Phase::kDirect && fallback_ && now < started_ + budget_) {
    return StartFallback(now, v1::ATTEMPT_RESULT_FAILED);
  }
  if (phase_ != Phase::kDirect && phase_ != Phase::kRelay) return {};
  return GiveUp(now, v1::ATTEMPT_RESULT_FAILED);
}

std::vector<ConnectPlan::Action> ConnectPlan::OnTimer(absl::Time now) {
  if (phase_ == Phase::kDirect) {
    if (now < DirectDue()) return {Action{.kind = Action::Kind::kSetTimer, .at = DirectDue()}};
    if (fallback_ && now < started_ + budget_) {
      return StartFallback(now, v1::ATTEMPT_RESULT_TIMED_OUT);
    }
    return GiveUp(now, v1::ATTEMPT_RESULT_TIMED_OUT);
  }
  if (phase_ == Phase::kRelay) {
    const absl::Time due = started_ + budget_;
    if (now < due) return {Action{.kind = Action::Kind::kSetTimer, .at = due}};
    return GiveUp(now, v1::ATTEMPT_RESULT_TIMED_OUT);
  }
  return {};
}

ObservedSession ConnectPlan::Observed() const {
  ObservedSession session;
  session.attempts = attempts_;
  session.connected = phase_ == Phase::kConnected;
  session.time_to_connect = session.connected ? time_to_connect_ : absl::ZeroDuration();
  return session;
}

std::vector<ConnectPlan::Action> ConnectPlan::StartFallback(absl::Time now,
                                                            v1::AttemptResult direct_result) {
  EndPhase(now, direct_result, v1::PATH_DIRECT, v1::TURN_TRANSPORT_UNSPECIFIED);
  phase_ = Phase::kRelay;
  phase_started_ = now;
  Action apply{.kind = Action::Kind::kApplyFallback, .config = *fallback_};
  Action timer{.kind = Action::Kind::kSetTimer, .at = started_ + budget_};
  return {std::move(apply), std::move(timer)};
}

std::vector<ConnectPlan::Action> ConnectPlan::GiveUp(absl::Time now, v1::AttemptResult result) {
  const bool relay = phase_ == Phase::kRelay;
  EndPhase(now, result, relay ? v1::PATH_RELAY : v1::PATH_DIRECT,
           relay ? preferred_transport_ : v1::TURN_TRANSPORT_UNSPECIFIED);
  phase_ = Phase::kGaveUp;
  return {Action{.kind = Action::Kind::kGiveUp}};
}

void ConnectPlan::EndPhase(absl::Time now, v1::AttemptResult result, v1::Path path,
                           v1::TurnTransport transport) {
  attempts_.push_back({.path = path,
                       .result = result,
                       .duration = std::max(absl::ZeroDuration(), now - phase_started_),
                       .transport = transport});
}

absl::StatusOr<std::vector<PlanEvent>> ParsePlanEvents(absl::string_view text) {
  std::vector<PlanEvent> events;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    auto invalid = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("event '", item, "': ", why));
    };
    const size_t at = item.rfind('@');
    if (at == absl::string_view::npos) return invalid("no @MS");
    int64_t ms = 0;
    if (!absl::SimpleAtoi(item.substr(at + 1), &ms) || ms < 0) {
      return invalid("the time after @ is not a number of ms");
    }
    PlanEvent event;
    event.at = absl::Milliseconds(ms);
    const std::vector<absl::string_view> parts = absl::StrSplit(item.substr(0, at), ':');
    if (parts[0] == "failed" && parts.size() == 1) {
      event.kind = PlanEvent::Kind::kFailed;
    } else if (parts[0] == "connected" && (parts.size() == 2 || parts.size() == 3)) {
      event.kind = PlanEvent::Kind::kConnected;
      if (parts[1] == "direct") {
        event.path = v1::PATH_DIRECT;
      } else if (parts[1] == "relay") {
        event.path = v1::PATH_RELAY;
      } else {
        return invalid("the path is not direct or relay");
      }
      if (parts.size() == 3) {
        if (parts[2] == "udp") {
          event.transport = v1::TURN_TRANSPORT_UDP;
        } else if (parts[2] == "tcp") {
          event.transport = v1::TURN_TRANSPORT_TCP;
        } else if (parts[2] == "tls") {
          event.transport = v1::TURN_TRANSPORT_TLS;
        } else {
          return invalid("the transport is not udp, tcp or tls");
        }
      }
    } else {
      return invalid("not connected:PATH[:TRANSPORT]@MS or failed@MS");
    }
    if (!events.empty() && event.at < events.back().at) return invalid("out of time order");
    events.push_back(event);
  }
  return events;
}

absl::StatusOr<ObservedSession> Replay(ConnectPlan plan, std::span<const PlanEvent> events) {
  if (plan.phase() != ConnectPlan::Phase::kNotStarted) {
    return absl::FailedPreconditionError("Replay needs a plan that has not started");
  }
  const absl::Time t0 = absl::UnixEpoch();
  auto running = [&] {
    return plan.phase() == ConnectPlan::Phase::kDirect ||
           plan.phase() == ConnectPlan::Phase::kRelay;
  };
  std::optional<absl::Time> timer;
  auto take = [&](const std::vector<ConnectPlan::Action>& actions) {
    for (const ConnectPlan::Action& a : actions) {
      if (a.kind == ConnectPlan::Action::Kind::kSetTimer) timer = a.at;
    }
  };
  // Each timer the plan sets is later than the one before, and a plan has at most two phases, so
  // a handful of firings ends any session.
  constexpr int kMaxTimers = 8;
  int fired = 0;
  auto fire_until = [&](absl::Time until) {
    while (running() && timer && *timer <= until && fired++ < kMaxTimers) {
      const absl::Time at = *timer;
      timer.reset();
      take(plan.OnTimer(at));
    }
  };
  take(plan.OnStarted(t0));
  for (const PlanEvent& event : events) {
    const absl::Time at = t0 + event.at;
    fire_until(at);
    if (!running()) break;
    take(event.kind == PlanEvent::Kind::kConnected
             ? plan.OnConnected(at, event.path, event.transport)
             : plan.OnFailed(at));
  }
  fire_until(absl::InfiniteFuture());
  if (running()) return absl::InternalError("the plan neither connected nor gave up");
  return plan.Observed();
}

}  // namespace advisor::client
