#include "services/sim/runner.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "services/sim/report.h"
#include "spdlog/spdlog.h"

namespace advisor::sim {
namespace {

namespace v1 = connectivity::advisor::v1;

// The reported types travel with full confidence, or as unknown with none: the service treats a
// confidence below its threshold as unknown anyway, and a misreport means detection failed.
void SetReport(v1::NatReport* report, NatType type) {
  report->set_nat_type(static_cast<v1::NatType>(type));
  report->set_confidence(type == NatType::kUnknown ? 0.0f : 1.0f);
}

std::optional<Choice> ChoiceOf(const v1::GetStrategyResponse& response) {
  switch (response.strategy()) {
    case v1::STRATEGY_DIRECT:
      return Choice{Strategy::kDirect, response.direct_timeout_ms()};
    case v1::STRATEGY_TURN_FALLBACK:
      return Choice{Strategy::kTurnFallback, response.direct_timeout_ms()};
    case v1::STRATEGY_TURN_ONLY:
      return Choice{Strategy::kTurnOnly, 0};
    default:
      return std::nullopt;
  }
}

class Driver {
 public:
  Driver(const RunOptions& options, const Scenario& scenario, std::span<const Session> sessions,
         std::shared_ptr<grpc::Channel> channel)
      : options_(options),
        scenario_(scenario),
        sessions_(sessions),
        stub_(v1::ConnectivityAdvisor::NewStub(std::move(channel))),
        slots_(static_cast<size_t>(options.concurrency)) {
    result_.advisor.resize(sessions.size());
  }

  RunResult Run() {
    const absl::Time start = absl::Now();
    start_ = std::chrono::system_clock::now();
    active_ = static_cast<int>(slots_.size());
    for (Slot& slot : slots_) StartNext(slot);
    int64_t logged = 0;
    absl::Time last_log = start;
    std::unique_lock lock(mu_);
    while (active_ > 0) {
      done_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.progress_interval));
      const absl::Time now = absl::Now();
      if (active_ > 0 && now - last_log >= options_.progress_interval) {
        const int64_t done = completed_.load();
        spdlog::info("{} of {} sessions, {:.0f} sessions/s", done, sessions_.size(),
                     static_cast<double>(done - logged) / absl::ToDoubleSeconds(now - last_log));
        logged = done;
        last_log = now;
      }
    }
    result_.stats.elapsed = absl::Now() - start;
    const double seconds = absl::ToDoubleSeconds(result_.stats.elapsed);
    result_.stats.sessions_per_s =
        seconds > 0 ? static_cast<double>(completed_.load()) / seconds : 0;
    return std::move(result_);
  }

  bool stopped() const { return stopped_.load(); }

 private:
  // One session in flight at a time; a slot moves on to the next unclaimed session when its
  // current one is reported.
  struct Slot {
    size_t index = 0;
    std::unique_ptr<grpc::Alarm> alarm;  // waits for the session's start time under a rate
    // The current RPC's context. Replacing it inside that RPC's own completion callback is safe:
    // gRPC's callback tag holds its own reference to the call until the callback returns.
    std::unique_ptr<grpc::ClientContext> context;
    std::string bearer;  // the session's "Bearer <jwt>", empty without credentials
    v1::GetStrategyRequest strategy_request;
    v1::GetStrategyResponse strategy_response;
    v1::ReportOutcomeRequest report_request;
    v1::ReportOutcomeResponse report_response;
  };

  std::unique_ptr<grpc::ClientContext> NewContext(const std::string& bearer) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoMilliseconds(options_.rpc_timeout));
    if (!bearer.empty()) context->AddMetadata("authorization", bearer);
    return context;
  }

  void StartNext(Slot& slot) {
    const size_t index = next_.fetch_add(1);
    if (index >= sessions_.size() || stopped_.load()) {
      std::lock_guard lock(mu_);
      if (--active_ == 0) done_cv_.notify_all();
      return;
    }
    slot.index = index;
    if (options_.rate > 0) {
      const auto due =
          start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(index) / options_.rate));
      if (due > std::chrono::system_clock::now()) {
        // A fresh alarm each time: the previous one fired long ago, in an earlier callback.
        slot.alarm = std::make_unique<grpc::Alarm>();
        slot.alarm->Set(due, [this, &slot](bool) { Begin(slot); });
        return;
      }
    }
    Begin(slot);
  }

  void Begin(Slot& slot) {
    const Session& session = sessions_[slot.index];
    slot.bearer.clear();
    if (options_.credentials) {
      absl::StatusOr<std::string> jwt = options_.credentials(session.install);
      if (!jwt.ok()) {
        RecordError(
            result_.stats.get_strategy_errors,
            absl::StrFormat("no JWT for install %d: %s", session.install, jwt.status().message()));
        completed_.fetch_add(1);
        StartNext(slot);
        return;
      }
      slot.bearer = absl::StrCat("Bearer ", *jwt);
    }
    SetReport(slot.strategy_request.mutable_local(), session.local_reported);
    SetReport(slot.strategy_request.mutable_remote(), session.remote_reported);
    slot.strategy_response.Clear();
    slot.context = NewContext(slot.bearer);
    stub_->async()->GetStrategy(
        slot.context.get(), &slot.strategy_request, &slot.strategy_response,
        [this, &slot](const grpc::Status& status) { OnStrategy(slot, status); });
  }

  void OnStrategy(Slot& slot, const grpc::Status& status) {
    const std::optional<Choice> choice =
        status.ok() ? ChoiceOf(slot.strategy_response) : std::nullopt;
    if (!choice) {
      RecordError(result_.stats.get_strategy_errors,
                  status.ok()
                      ? absl::StrFormat("GetStrategy answered strategy %d",
                                        static_cast<int>(slot.strategy_response.strategy()))
                      : absl::StrFormat("GetStrategy: %s (gRPC status %d)", status.error_message(),
                                        static_cast<int>(status.error_code())));
      completed_.fetch_add(1);
      StartNext(slot);
      return;
    }
    result_.advisor[slot.index] = choice;
    const Played played = Play(sessions_[slot.index], *choice, scenario_.budget_ms);
    absl::StatusOr<v1::ReportOutcomeRequest> report = OutcomeReport(slot.strategy_response, played);
    if (!report.ok()) {
      RecordError(result_.stats.report_errors, std::string(report.status().message()));
      completed_.fetch_add(1);
      StartNext(slot);
      return;
    }
    slot.report_request = *std::move(report);
    slot.context = NewContext(slot.bearer);
    stub_->async()->ReportOutcome(slot.context.get(), &slot.report_request, &slot.report_response,
                                  [this, &slot](const grpc::Status& s) { OnReport(slot, s); });
  }

  void OnReport(Slot& slot, const grpc::Status& status) {
    if (!status.ok()) {
      RecordError(result_.stats.report_errors,
                  absl::StrFormat("ReportOutcome: %s (gRPC status %d)", status.error_message(),
                                  static_cast<int>(status.error_code())));
    }
    completed_.fetch_add(1);
    StartNext(slot);
  }

  void RecordError(int64_t& counter, const std::string& message) {
    std::lock_guard lock(mu_);
    ++counter;
    if (result_.stats.first_error.empty()) {
      result_.stats.first_error = message;
      spdlog::warn("{}", message);
    }
    if (result_.stats.get_strategy_errors + result_.stats.report_errors > options_.max_errors) {
      stopped_.store(true);
    }
  }

  const RunOptions& options_;
  const Scenario& scenario_;
  const std::span<const Session> sessions_;
  std::unique_ptr<v1::ConnectivityAdvisor::Stub> stub_;
  std::vector<Slot> slots_;
  std::chrono::system_clock::time_point start_;
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> completed_{0};
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable done_cv_;
  int active_ = 0;    // slots still running; guarded by mu_
  RunResult result_;  // error fields guarded by mu_; advisor[i] written by one slot only
};

}  // namespace

absl::StatusOr<RunResult> Drive(const RunOptions& options, const Scenario& scenario,
                                std::span<const Session> sessions) {
  if (options.concurrency < 1) {
    return absl::InvalidArgumentError("concurrency must be at least 1");
  }
  auto channel = grpc::CreateChannel(options.target, options.channel_credentials != nullptr
                                                         ? options.channel_credentials
                                                         : grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 absl::ToChronoMilliseconds(options.connect_timeout))) {
    return absl::UnavailableError(absl::StrFormat("cannot reach advisor-server at %s within %s",
                                                  options.target,
                                                  absl::FormatDuration(options.connect_timeout)));
  }
  Driver driver(options, scenario, sessions, channel);
  RunResult result = driver.Run();
  if (driver.stopped()) {
    return absl::UnavailableError(absl::StrFormat(
        "stopped after %d failed RPCs (GetStrategy %d, ReportOutcome %d); first: %s",
        result.stats.get_strategy_errors + result.stats.report_errors,
        result.stats.get_strategy_errors, result.stats.report_errors, result.stats.first_error));
  }
  return result;
}

}  // namespace advisor::sim
