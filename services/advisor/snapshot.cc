#include "services/advisor/snapshot.h"

#include <set>

#include "absl/strings/str_format.h"
#include "connectivity/advisor/v1/advisor.pb.h"
#include "lib/turn/selection.h"

namespace advisor {
namespace {

// Health of server `id` as the prober of `region` sees it; else the global prober's view; else any.
turn::HealthState HealthFor(const std::vector<store::TurnHealthRow>& rows, std::string_view id,
                            std::string_view region) {
  const turn::HealthState* global = nullptr;
  const turn::HealthState* any = nullptr;
  for (const store::TurnHealthRow& row : rows) {
    if (row.server_id != id) continue;
    if (row.prober_region == region) return row.health;
    if (row.prober_region.empty()) global = &row.health;
    if (any == nullptr) any = &row.health;
  }
  return global ? *global : any ? *any : turn::HealthState{};
}

bool OffersTcp(const config::TurnServerConfig& server) {
  for (const turn::TurnUrl& url : server.parsed_urls) {
    if (url.transport != turn::Transport::kUdp) return true;
  }
  return false;
}

grpc::Slice ReasonSlice(const std::string& reason) {
  connectivity::advisor::v1::GetStrategyResponse response;
  response.add_reasons(reason);
  return grpc::Slice(response.SerializeAsString());
}

std::string Explain(std::span<const config::TurnServerConfig> servers, int offered, int candidates,
                    const turn::HealthState& health, bool tcp) {
  if (servers.empty()) return "no TURN server is configured: the ICE configuration has STUN only";
  if (candidates == 0) {
    return tcp ? "no enabled TURN server offers TCP or TLS, which a peer without UDP needs: the "
                 "ICE configuration has STUN only"
               : "every TURN server is disabled: the ICE configuration has STUN only";
  }
  if (offered < 0) {
    return "no TURN server is usable now (each is unhealthy and skipped): the ICE configuration "
           "has STUN only";
  }
  const config::TurnServerConfig& server = servers[offered];
  std::string state = std::string(turn::HealthStatusName(health.status));
  if (health.smoothed_latency_ms > 0) {
    state += absl::StrFormat(", %.0f ms smoothed allocation latency", health.smoothed_latency_ms);
  }
  return absl::StrFormat(
      "TURN server %s%s offered (%s)%s", server.id,
      server.region.empty() ? "" : absl::StrFormat(" in region %s", server.region), state,
      tcp ? ", with its TCP/TLS urls only since UDP is blocked" : "");
}

std::shared_ptr<const Snapshot> Build(absl::Time loaded_at, absl::Time now,
                                      const strategy::History& history,
                                      const SnapshotConfig& config, const ResponseRenderer& render,
                                      std::vector<store::TurnServerRow> registry,
                                      std::vector<store::TurnHealthRow> health) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->loaded_at = loaded_at;
  snapshot->advice = strategy::DecideAll(history, config.engine);
  snapshot->responses.reserve(snapshot->advice.size());
  snapshot->exploration_responses.reserve(snapshot->advice.size());
  for (const strategy::Advice& advice : snapshot->advice) {
    snapshot->responses.emplace_back(render(advice.decision));
    snapshot->exploration_responses.emplace_back(
        advice.exploration.has_value() ? grpc::Slice(render(*advice.exploration)) : grpc::Slice());
  }
  snapshot->turn = BuildTurnView(config.turn_servers, std::move(registry), std::move(health), now);
  return snapshot;
}

}  // namespace

const TurnChoice& TurnView::For(std::string_view region, bool tcp) const {
  const auto& choices = tcp ? tcp_only : any_transport;
  auto it = choices.find(region);
  return it != choices.end() ? it->second : choices.at("");
}

TurnView BuildTurnView(std::span<const config::TurnServerConfig> servers,
                       std::vector<store::TurnServerRow> registry,
                       std::vector<store::TurnHealthRow> health, absl::Time now) {
  TurnView view;
  std::set<std::string> regions = {""};
  for (const auto& server : servers) regions.insert(server.region);
  for (const auto& row : health) regions.insert(row.prober_region);
  for (const bool tcp : {false, true}) {
    for (const std::string& region : regions) {
      std::vector<turn::Candidate> candidates;
      std::vector<int> index;
      for (int i = 0; i < static_cast<int>(servers.size()); ++i) {
        if (!servers[i].enabled || (tcp && !OffersTcp(servers[i]))) continue;
        candidates.push_back(
            {servers[i].id, servers[i].region, HealthFor(health, servers[i].id, region)});
        index.push_back(i);
      }
      const int pick = turn::PickTurnServer(candidates, region, now);
      TurnChoice choice;
      choice.server = pick < 0 ? -1 : index[pick];
      choice.reason =
          ReasonSlice(Explain(servers, choice.server, static_cast<int>(candidates.size()),
                              pick < 0 ? turn::HealthState{} : candidates[pick].health, tcp));
      (tcp ? view.tcp_only : view.any_transport).emplace(region, std::move(choice));
    }
  }
  if (registry.empty()) {
    for (const auto& server : servers) registry.push_back(store::RegistryRow(server));
  }
  view.registry = std::move(registry);
  view.health = std::move(health);
  return view;
}

std::shared_ptr<const Snapshot> ColdStartSnapshot(const SnapshotConfig& config,
                                                  const ResponseRenderer& render, absl::Time now) {
  return Build(absl::InfinitePast(), now, strategy::History{}, config, render, {}, {});
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(store::OutcomeStore& outcomes,
                                                             store::TurnStore& turn, absl::Time now,
                                                             const SnapshotConfig& config,
                                                             const ResponseRenderer& render,
                                                             strategy::ArrivalLog& arrivals) {
  auto buckets = outcomes.LoadAggregates(now - config.history_window);
  if (!buckets.ok()) return buckets.status();
  auto registry = turn.LoadTurnServers();
  if (!registry.ok()) return registry.status();
  auto health = turn.LoadTurnHealth();
  if (!health.ok()) return health.status();
  const std::vector<strategy::BucketAggregate> parts = arrivals.Split(*buckets, now);
  return Build(now, now,
               strategy::AgeHistory(parts, now, config.bucket_width, config.engine.half_life,
                                    config.engine.sample_half_life),
               config, render, *std::move(registry), *std::move(health));
}

}  // namespace advisor
