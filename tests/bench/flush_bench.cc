// flush_bench: how many reported sessions per second one PostgreSQL primary absorbs through
// PgStore::ApplyFlush now that every report's decision token is recorded as used. Run by
// tests/bench/store.sh, which starts the throwaway database and prefills the used-token table for
// the large-table figures.
//
// Batches are of realistic shape: NAT pairs drawn from a plausible population, the strategy the
// cold-start rules give them (with some exploration), the current and the previous hour's bucket,
// outcomes consistent with the strategy, and distinct random 128-bit token ids expiring in 24 h.
// Each round times three loads of --seconds each, taken in turns so that background noise on the
// shared machine cannot land on one only; figures are medians over rounds:
//   fresh       ApplyFlush of new tokens: the used-token insert plus the aggregate upsert;
//   baseline    the same batches' aggregates alone (store::internal::ApplyAggregatesOnly: flush id
//               and the same upsert, folding included), i.e. what a flush cost before tokens;
//   duplicates  ApplyFlush replaying tokens already used, under new flush ids: the token check
//               alone, since nothing is folded or upserted.
// With --replicas R, R threads (each its own PgStore and connection, as R server replicas) flush at
// once, and the figure is their total.
//
// Output: one line per load, key=value: load, batch, replicas, sessions_per_s (median),
// rounds (each round's figure), then ratio=fresh/baseline.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/config/flags.h"
#include "lib/store/store.h"

ABSL_FLAG(std::string, database_url, "", "PostgreSQL to write to (migrated by this program)");
ABSL_FLAG(int64_t, batch, 10'000, "sessions per flush");
ABSL_FLAG(absl::Duration, seconds, absl::Seconds(5), "time in store calls per load and round");
ABSL_FLAG(int64_t, rounds, 3, "rounds of the three loads");
ABSL_FLAG(int64_t, replicas, 1, "concurrent flushers, one connection each");

namespace {

using advisor::store::FlushBatch;
using advisor::store::ReportedSession;
using advisor::strategy::AttemptResult;
using advisor::strategy::NatPair;
using advisor::strategy::NatType;
using advisor::strategy::Outcome;
using advisor::strategy::Path;
using advisor::strategy::Strategy;

// The flags, read once they are parsed.
struct Settings {
  std::string database_url;
  int64_t batch;
  absl::Duration seconds;
  int64_t rounds;
  int64_t replicas;
};

// Generates sessions; one per thread.
class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}

  FlushBatch Fresh(int64_t n, absl::Time now) {
    FlushBatch batch{absl::StrCat("bench-", Hex(), Hex()), {}};
    batch.sessions.reserve(n);
    const absl::Time hour = absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 3600 * 3600);
    for (int64_t i = 0; i < n; ++i) {
      ReportedSession s;
      const uint64_t hi = rng_();
      const uint64_t lo = rng_();
      for (int b = 0; b < 8; ++b) {
        s.token_id[b] = static_cast<uint8_t>(hi >> (8 * b));
        s.token_id[8 + b] = static_cast<uint8_t>(lo >> (8 * b));
      }
      // Issued within the last minute, valid for 24 h.
      s.token_expires = now + absl::Hours(24) - absl::Milliseconds(Uniform(60'000));
      s.pair = NatPair::Of(Type(), Type());
      s.strategy = Uniform(100) < 5 ? static_cast<Strategy>(1 + Uniform(3)) : ColdStart(s.pair);
      s.bucket_start = Uniform(100) < 10 ? hour - absl::Hours(1) : hour;
      s.outcome = OutcomeFor(s.strategy);
      batch.sessions.push_back(std::move(s));
    }
    return batch;
  }

  std::string Hex() { return absl::StrFormat("%016x", rng_()); }

 private:
  uint32_t Uniform(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }

  NatType Type() {
    // open 5 %, full cone 25 %, restricted 20 %, port-restricted 25 %, symmetric 20 %, blocked 1 %,
    // unknown 4 %.
    const uint32_t r = Uniform(100);
    if (r < 5) return NatType::kOpen;
    if (r < 30) return NatType::kFullCone;
    if (r < 50) return NatType::kRestrictedCone;
    if (r < 75) return NatType::kPortRestrictedCone;
    if (r < 95) return NatType::kSymmetric;
    if (r < 96) return NatType::kBlocked;
    return NatType::kUnknown;
  }

  static Strategy ColdStart(NatPair pair) {
    if (pair.b == NatType::kBlocked) return Strategy::kTurnOnly;
    if (pair.a == NatType::kSymmetric) return Strategy::kTurnOnly;  // both symmetric
    if (pair.a == NatType::kUnknown || pair.b == NatType::kSymmetric)
      return Strategy::kTurnFallback;
    return Strategy::kDirect;
  }

  Outcome OutcomeFor(Strategy strategy) {
    Outcome o;
    const uint32_t r = Uniform(100);
    const uint32_t direct_ms = 150 + Uniform(2500);
    const uint32_t relay_ms = 80 + Uniform(600);
    const uint32_t timeout_ms = strategy == Strategy::kDirect ? 15'000 : 5'000;
    if (strategy != Strategy::kTurnOnly) {
      const uint32_t direct_share = strategy == Strategy::kDirect ? 85 : 50;
      if (r < direct_share) {
        o.attempts.push_back({Path::kDirect, AttemptResult::kSucceeded, direct_ms});
        o.connected = true;
        o.time_to_connect_ms = direct_ms;
        return o;
      }
      o.attempts.push_back({Path::kDirect, AttemptResult::kTimedOut, timeout_ms});
    }
    if (r % 50 == 0) {
      o.attempts.push_back({Path::kRelay, AttemptResult::kFailed, relay_ms});
      return o;
    }
    o.attempts.push_back({Path::kRelay, AttemptResult::kSucceeded, relay_ms});
    o.connected = true;
    o.time_to_connect_ms = (o.attempts.size() == 2 ? timeout_ms : 0) + relay_ms;
    return o;
  }

  std::mt19937_64 rng_;
};

enum class Load { kFresh, kBaseline, kDuplicates };
constexpr std::array<const char*, 3> kLoadNames = {"fresh", "baseline", "duplicates"};

// One replica's share of a load: flushes for `duration`, timing only the store calls. Returns the
// sessions written, or -1 after an error (printed).
int64_t RunReplica(const Settings& settings, Load load, Workload& workload,
                   advisor::store::PgStore& store, std::vector<FlushBatch>& used,
                   absl::Duration& busy) {
  int64_t sessions = 0;
  size_t replay = 0;
  busy = absl::ZeroDuration();
  while (busy < settings.seconds) {
    FlushBatch batch;
    if (load == Load::kDuplicates && !used.empty()) {
      batch = used[replay++ % used.size()];
      batch.flush_id = absl::StrCat("replay-", workload.Hex(), workload.Hex());
    } else {
      batch = workload.Fresh(settings.batch, absl::Now());
    }
    const absl::Time start = absl::Now();
    absl::Status status;
    if (load == Load::kBaseline) {
      status = advisor::store::internal::ApplyAggregatesOnly(
          store, batch.flush_id, advisor::store::FoldSessions(batch.sessions));
    } else {
      absl::StatusOr<advisor::store::FlushResult> result = store.ApplyFlush(batch);
      status = result.status();
      if (result.ok() && load == Load::kDuplicates && result->counted != 0) {
        status = absl::InternalError(absl::StrCat("replayed batch counted ", result->counted));
      }
      if (result.ok() && load == Load::kFresh && result->counted != settings.batch) {
        status = absl::InternalError(absl::StrCat("fresh batch counted only ", result->counted));
      }
    }
    busy += absl::Now() - start;
    if (!status.ok()) {
      std::cerr << "flush_bench: " << kLoadNames[static_cast<int>(load)] << ": " << status << "\n";
      return -1;
    }
    sessions += settings.batch;
    // Kept for the duplicates load; a few batches are enough to replay.
    if (load == Load::kFresh && used.size() < 8) used.push_back(std::move(batch));
  }
  return sessions;
}

}  // namespace

int main(int argc, char** argv) {
  advisor::config::FlagSet flags(
      "flush_bench --database-url URL [flags]",
      "Sessions per second PostgreSQL absorbs through PgStore::ApplyFlush, against the same "
      "batches' aggregate upsert alone.");
  flags.String(FLAGS_database_url, "ADVISOR_DATABASE_URL");
  flags.Int(FLAGS_batch, "", 1, 1'000'000);
  flags.Duration(FLAGS_seconds, "");
  flags.Int(FLAGS_rounds, "", 1, 100);
  flags.Int(FLAGS_replicas, "", 1, 64);
  const advisor::config::ParsedCommand cli =
      advisor::config::ParseCommand(flags, argc, argv, "flush_bench");
  if (cli.exit_code) return *cli.exit_code;
  const Settings settings{.database_url = absl::GetFlag(FLAGS_database_url),
                          .batch = absl::GetFlag(FLAGS_batch),
                          .seconds = absl::GetFlag(FLAGS_seconds),
                          .rounds = absl::GetFlag(FLAGS_rounds),
                          .replicas = absl::GetFlag(FLAGS_replicas)};
  if (settings.database_url.empty()) {
    std::cerr << "flush_bench: --database-url is required\n";
    return 2;
  }
  if (absl::StatusOr<int> migrated = advisor::store::Migrate(settings.database_url);
      !migrated.ok()) {
    std::cerr << "flush_bench: " << migrated.status() << "\n";
    return 1;
  }

  const int replicas = static_cast<int>(settings.replicas);
  std::vector<Workload> workloads;
  std::vector<std::unique_ptr<advisor::store::PgStore>> stores;
  std::vector<std::vector<FlushBatch>> used(replicas);
  std::random_device seed;
  for (int r = 0; r < replicas; ++r) {
    workloads.emplace_back((static_cast<uint64_t>(seed()) << 32) ^ seed());
    stores.push_back(std::make_unique<advisor::store::PgStore>(settings.database_url));
  }

  std::array<std::vector<double>, 3> rates;
  for (int round = 0; round < settings.rounds; ++round) {
    for (Load load : {Load::kFresh, Load::kBaseline, Load::kDuplicates}) {
      std::vector<int64_t> sessions(replicas, 0);
      std::vector<absl::Duration> busy(replicas);
      const absl::Time start = absl::Now();
      {
        std::vector<std::jthread> threads;
        for (int r = 0; r < replicas; ++r) {
          threads.emplace_back([&, r] {
            sessions[r] = RunReplica(settings, load, workloads[r], *stores[r], used[r], busy[r]);
          });
        }
      }
      const double wall = absl::ToDoubleSeconds(absl::Now() - start);
      int64_t total = 0;
      for (int r = 0; r < replicas; ++r) {
        if (sessions[r] < 0) return 1;
        total += sessions[r];
      }
      // One replica: its time in store calls (batch generation excluded). Several: wall time, as
      // their calls overlap; each replica's generation then counts against it, which understates.
      const double seconds = replicas == 1 ? absl::ToDoubleSeconds(busy[0]) : wall;
      rates[static_cast<int>(load)].push_back(static_cast<double>(total) / seconds);
    }
  }

  auto median = [](std::vector<double> v) {
    std::ranges::sort(v);
    return v[v.size() / 2];
  };
  for (int load = 0; load < 3; ++load) {
    std::vector<std::string> rounds;
    for (double rate : rates[load]) rounds.push_back(absl::StrFormat("%.0f", rate));
    std::cout << absl::StrFormat("load=%s batch=%d replicas=%d sessions_per_s=%.0f rounds=%s\n",
                                 kLoadNames[load], settings.batch, replicas, median(rates[load]),
                                 absl::StrJoin(rounds, ","));
  }
  std::cout << absl::StrFormat("ratio=%.3f\n", median(rates[0]) / median(rates[1]));
  return 0;
}
