// ConnectPlan: the advisor's answer (GetStrategyResponse) as the steps a WebRTC app takes, and
// when. It is the client protocol of advisor.proto as a state machine:
//   start      create the peer connection with `ice_config`; for DIRECT and TURN_FALLBACK that
//              holds no TURN server, so ICE cannot relay before the advised timeout;
//   T = direct_timeout_ms, not connected, `fallback_ice_config` offered:
//              setConfiguration(fallback_ice_config) and restartIce();
//   budget     give up.
// Without a fallback the session ends at T (or the budget, if sooner): the advice gives the direct
// path T, and the advisor refuses a report of a direct attempt much longer than that.
// ICE reporting "failed" in the direct phase brings the fallback forward (nothing is gained by
// waiting for T); in the relay phase, or without a fallback, it ends the session.
//
// Pure: every input is an event with the time the app saw it, every output an action for the app
// to carry out. It also records the attempts each phase made, for the report builder.
#ifndef ADVISOR_LIB_CLIENT_CONNECT_PLAN_H_
#define ADVISOR_LIB_CLIENT_CONNECT_PLAN_H_

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.pb.h"

namespace advisor::client {

namespace v1 = connectivity::advisor::v1;

// What one phase of the session did, as the report carries it.
struct ObservedAttempt {
  v1::Path path = v1::PATH_DIRECT;
  v1::AttemptResult result = v1::ATTEMPT_RESULT_TIMED_OUT;
  absl::Duration duration{};
  v1::TurnTransport transport = v1::TURN_TRANSPORT_UNSPECIFIED;
  std::string turn_server_id{};
};

struct ObservedSession {
  std::vector<ObservedAttempt> attempts{};  // in the order they were made
  bool connected = false;
  absl::Duration time_to_connect{};  // from start; zero unless connected
};

class ConnectPlan {
 public:
  enum class Phase { kNotStarted, kDirect, kRelay, kConnected, kGaveUp };

  struct Action {
    enum class Kind {
      kCreatePeerConnection,  // new RTCPeerConnection(config)
      kApplyFallback,         // pc.setConfiguration(config); pc.restartIce()
      kSetTimer,              // call OnTimer at `at` (replaces any earlier timer)
      kGiveUp,                // close the peer connection; the session did not connect
      kDone,                  // connected: stop the timer
    };
    Kind kind = Kind::kSetTimer;
    v1::IceConfig config{};  // kCreatePeerConnection and kApplyFallback
    absl::Time at{};         // kSetTimer
  };

  // `budget` bounds the whole session, fallback included. InvalidArgument for an answer without a
  // strategy or a non-positive budget.
  static absl::StatusOr<ConnectPlan> Create(const v1::GetStrategyResponse& answer,
                                            absl::Duration budget);

  std::vector<Action> OnStarted(absl::Time now);
  // `path` as the selected candidate pair shows it (relay when either candidate is a relay one),
  // `transport` the TURN transport of a relayed pair.
  std::vector<Action> OnConnected(absl::Time now, v1::Path path,
                                  v1::TurnTransport transport = v1::TURN_TRANSPORT_UNSPECIFIED);
  // ICE reported "failed" for the current configuration.
  std::vector<Action> OnFailed(absl::Time now);
  // The timer set by the last kSetTimer fired; early or repeated calls are harmless.
  std::vector<Action> OnTimer(absl::Time now);

  Phase phase() const { return phase_; }
  v1::Strategy strategy() const { return strategy_; }
  const v1::IceConfig& initial_config() const { return initial_; }
  // Unset when the answer offers no fallback or the strategy is TURN_ONLY.
  const std::optional<v1::IceConfig>& fallback_config() const { return fallback_; }
  // After start: when the fallback is due (unset without one), and when the plan gives up.
  std::optional<absl::Duration> fallback_after() const;
  absl::Duration budget() const { return budget_; }
  // The phases that have ended, one attempt each; complete once the plan is kConnected or
  // kGaveUp. A fallback phase stays the relay attempt even if the restarted ICE picked a direct
  // pair: a session makes one direct attempt, and the fallback is the second.
  ObservedSession Observed() const;

 private:
  ConnectPlan() = default;
  std::vector<Action> StartFallback(absl::Time now, v1::AttemptResult direct_result);
  std::vector<Action> GiveUp(absl::Time now, v1::AttemptResult result);
  void EndPhase(absl::Time now, v1::AttemptResult result, v1::Path path,
                v1::TurnTransport transport);
  // When the direct phase ends at the latest.
  absl::Time DirectDue() const { return started_ + std::min(direct_timeout_, budget_); }

  v1::Strategy strategy_ = v1::STRATEGY_UNSPECIFIED;
  v1::IceConfig initial_;
  std::optional<v1::IceConfig> fallback_;
  absl::Duration direct_timeout_;
  absl::Duration budget_;
  v1::TurnTransport preferred_transport_ = v1::TURN_TRANSPORT_UNSPECIFIED;

  Phase phase_ = Phase::kNotStarted;
  absl::Time started_;
  absl::Time phase_started_;
  std::vector<ObservedAttempt> attempts_;  // finished phases
  absl::Duration time_to_connect_;
};

std::string_view PhaseName(ConnectPlan::Phase phase);

// What the app saw, at a time after the start: ICE connected (over `path`, relayed through
// `transport`) or failed. Timer events are not among them: Replay fires the plan's timers itself.
struct PlanEvent {
  enum class Kind { kConnected, kFailed };
  Kind kind = Kind::kConnected;
  absl::Duration at{};
  v1::Path path = v1::PATH_DIRECT;
  v1::TurnTransport transport = v1::TURN_TRANSPORT_UNSPECIFIED;
};

// "connected:PATH[:TRANSPORT]@MS" and "failed@MS", comma-separated, e.g.
// "failed@2000,connected:relay:tcp@2600" (PATH direct or relay, TRANSPORT udp, tcp or tls).
absl::StatusOr<std::vector<PlanEvent>> ParsePlanEvents(absl::string_view text);

// Runs `plan` (not yet started) from a start at time zero through `events`, firing each timer as
// it comes due before the next event, until the session connects or the plan gives up; events
// after that change nothing. Events must come in time order.
absl::StatusOr<ObservedSession> Replay(ConnectPlan plan, std::span<const PlanEvent> events);

}  // namespace advisor::client

#endif  // ADVISOR_LIB_CLIENT_CONNECT_PLAN_H_
