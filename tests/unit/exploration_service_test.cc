// Exploration in the service: the share of answers that get a pair's exploration decision, what
// they carry, and where their reports land.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "prometheus/registry.h"
#include "services/advisor/service.h"

namespace advisor {
namespace {

namespace v1 = connectivity::advisor::v1;
using strategy::NatPair;
using strategy::NatType;
using strategy::Strategy;

const NatPair kPair = NatPair::Of(NatType::kFullCone, NatType::kRestrictedCone);

class ExplorationServiceTest : public ::testing::Test {
 protected:
  ExplorationServiceTest()
      : snapshots_(ColdStartSnapshot(SnapshotConfig{}, Render(), now_)),
        signer_(*TokenSigner::Create("unit-test-key-0123456789", "", absl::Hours(1))),
        buffer_(100000),
        metrics_(registry_),
        service_(options_, snapshots_, signer_, buffer_, metrics_, [this] { return now_; }) {}

  ResponseRenderer Render() {
    return [this](const strategy::Decision& d) { return RenderGetStrategyResponse(d, options_); };
  }

  // Gives kPair a TURN_ONLY decision and a direct-first exploration decision taken with
  // `probability`.
  void Explore(double probability) {
    auto next = std::make_shared<Snapshot>(*snapshots_.Get());
    strategy::Advice& advice = next->advice[kPair.Index()];
    advice.decision = strategy::ColdStart(NatPair::Of(NatType::kSymmetric, NatType::kSymmetric));
    advice.decision.pair = kPair;
    strategy::Decision exploration = strategy::ColdStart(kPair);
    exploration.strategy = Strategy::kTurnFallback;
    exploration.direct_timeout_ms = 3000;
    exploration.reasons = {"exploration (test)"};
    advice.exploration = exploration;
    advice.exploration_probability = probability;
    next->responses[kPair.Index()] = grpc::Slice(Render()(advice.decision));
    next->exploration_responses[kPair.Index()] = grpc::Slice(Render()(exploration));
    snapshots_.Set(next);
  }

  v1::GetStrategyResponse Get() {
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(v1::NAT_TYPE_RESTRICTED_CONE);
    request.mutable_local()->set_confidence(1);
    request.mutable_remote()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
    request.mutable_remote()->set_confidence(1);
    auto bytes = service_.HandleGetStrategy(request);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(bytes->Dump(&slices).ok());
    std::string joined;
    for (const auto& slice : slices) joined.append(slice.begin(), slice.end());
    v1::GetStrategyResponse response;
    EXPECT_TRUE(response.ParseFromString(joined));
    return response;
  }

  ServiceOptions options_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  prometheus::Registry registry_;
  SnapshotHolder snapshots_;
  TokenSigner signer_;
  OutcomeBuffer buffer_;
  AdvisorMetrics metrics_;
  AdvisorService service_;
};

TEST_F(ExplorationServiceTest, ColdStartSnapshotHasNoExploration) {
  const std::shared_ptr<const Snapshot> snapshot = snapshots_.Get();
  ASSERT_EQ(snapshot->exploration_responses.size(), snapshot->responses.size());
  for (const strategy::Advice& advice : snapshot->advice) {
    EXPECT_FALSE(advice.exploration.has_value());
  }
  for (const grpc::Slice& slice : snapshot->exploration_responses) EXPECT_EQ(slice.size(), 0u);
}

TEST_F(ExplorationServiceTest, AlwaysOrNeverAtTheEnds) {
  Explore(1.0);
  for (int i = 0; i < 50; ++i) {
    const v1::GetStrategyResponse response = Get();
    EXPECT_EQ(response.strategy(), v1::STRATEGY_TURN_FALLBACK);
    EXPECT_EQ(response.direct_timeout_ms(), 3000u);
    ASSERT_GT(response.reasons_size(), 0);
    EXPECT_EQ(response.reasons(0), "exploration (test)");
  }
  Explore(0.0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get().strategy(), v1::STRATEGY_TURN_ONLY);
}

TEST_F(ExplorationServiceTest, ShareOfAnswersFollowsTheProbability) {
  Explore(0.25);
  constexpr int kAnswers = 4000;
  int explored = 0;
  for (int i = 0; i < kAnswers; ++i) explored += Get().strategy() == v1::STRATEGY_TURN_FALLBACK;
  // 1000 expected, standard deviation 27: the bounds are seven of them away.
  EXPECT_GT(explored, 800);
  EXPECT_LT(explored, 1200);
}

TEST_F(ExplorationServiceTest, TokenAndReportFollowTheAnswerGiven) {
  Explore(1.0);
  const v1::GetStrategyResponse response = Get();
  auto claims = signer_.Verify(response.decision_token(), now_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->strategy, Strategy::kTurnFallback);
  EXPECT_EQ(claims->direct_timeout_ms, 3000u);

  v1::ReportOutcomeRequest report;
  report.set_decision_token(response.decision_token());
  auto* attempt = report.add_attempts();
  attempt->set_path(v1::PATH_DIRECT);
  attempt->set_result(v1::ATTEMPT_RESULT_TIMED_OUT);
  attempt->set_duration_ms(3000);
  report.set_connected(false);
  ASSERT_TRUE(service_.HandleReportOutcome(report).ok());
  auto batch = buffer_.NextBatch();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->deltas.size(), 1u);
  EXPECT_EQ(batch->deltas[0].strategy, Strategy::kTurnFallback);
  EXPECT_EQ(batch->deltas[0].counts.direct_censored_hist[5], 1) << "(2000, 3000]";
}

}  // namespace
}  // namespace advisor
