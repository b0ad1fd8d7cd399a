// grpc_load: the load generator of tests/bench/grpc.sh. One process drives advisor-server over C
// separate connections with M RPCs outstanding on each, for a fixed number of requests, and prints
// the rate, the gRPC status counts and the latency percentiles.
//
//   grpc_load health --target 127.0.0.1:50051 -n 200000
//   grpc_load get-strategy --target ... --jwt "$JWT" --tokens-out tokens.tsv
//   grpc_load report --target ... --jwt "$JWT" --tokens-in tokens.tsv
//
// Why not h2load: it sends the same bytes every time, and ReportOutcome needs a distinct decision
// token per request now that a repeated token is counted once. The three modes share this one
// client, so their rates compare like with like. A JWT, when given, is sent on the advisor's RPCs
// (never on Health/Check, which needs none) and reused across requests, as a client would.
//
// With --new-connection-per-request, each request instead gets a channel of its own (TCP connect,
// TLS handshake, one RPC, channel destroyed), as a mobile client that wakes up does; --channels
// worker threads do so in parallel. TLS sessions are resumed from a client-side cache shared by
// those channels unless --tls-session-cache=false.
//
// TLS by default (system roots, or --ca-file; --cert-file/--key-file for a client certificate);
// --insecure for a plaintext server.
//
// Output: one line of key=value pairs (mode, requests, ok, seconds, rps, p50_ms, p99_ms,
// client_cpu_us, the load generator's own CPU time per request, which shares the machine with the
// server, resumed=N, the TLS sessions resumed, with --new-connection-per-request over TLS, and
// errors=CODE:N,... when some RPC was not OK). Exit status: 0 when every RPC was OK, 1
// when some were not or the server could not be reached, 2 on a usage error.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "connectivity/advisor/v1/advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/config/client_tls.h"
#include "lib/config/flags.h"
#include "lib/config/tls.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "advisor-server gRPC address");
ABSL_FLAG(int64_t, channels, 16, "separate connections");
ABSL_FLAG(int64_t, outstanding, 32, "RPCs in flight on each connection");
ABSL_FLAG(int64_t, requests, 200000, "requests to send; report sends at most one per token");
ABSL_FLAG(std::string, jwt, "",
          "JWT sent as 'authorization: Bearer' on GetStrategy and ReportOutcome");
ABSL_FLAG(bool, jwt_on_health, false,
          "health: send the JWT too (Health/Check ignores it): what carrying it costs alone");
ABSL_FLAG(std::string, tokens_in, "", "report: the answers get-strategy kept");
ABSL_FLAG(std::string, tokens_out, "",
          "get-strategy: keep each OK answer's token, strategy and timeout here");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(10), "deadline of each RPC");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10), "time to connect every channel");
ABSL_FLAG(bool, new_connection_per_request, false,
          "a fresh connection (TCP, TLS handshake) for every request; --channels worker threads, "
          "one request at a time each");
ABSL_FLAG(bool, tls_session_cache, true,
          "resume TLS sessions from a cache shared by this process's channels");

namespace {

namespace v1 = connectivity::advisor::v1;
namespace health = grpc::health::v1;

constexpr char kSummary[] =
    "Load generator of tests/bench/grpc.sh. Commands:\n"
    "  health         grpc.health.v1.Health/Check (no JWT)\n"
    "  get-strategy   GetStrategy for full_cone x symmetric; --tokens-out keeps the answers\n"
    "  report         one ReportOutcome per line of --tokens-in, each token used once, with a\n"
    "                 report consistent with the answer's strategy and timeout";

// A direct attempt that succeeds this fast fits within any advised timeout the server gives
// full_cone x symmetric (at least seconds); a shorter timeout caps it.
constexpr uint32_t kDirectConnectMs = 1200;
constexpr uint32_t kRelayConnectMs = 300;

// One answer of GetStrategy, as kept in the tokens file: "TOKEN<TAB>STRATEGY<TAB>TIMEOUT_MS".
struct Answer {
  std::string token;
  v1::Strategy strategy = v1::STRATEGY_UNSPECIFIED;
  uint32_t direct_timeout_ms = 0;
};

absl::StatusOr<std::vector<Answer>> ReadAnswers(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<Answer> answers;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    int strategy = 0;
    uint32_t timeout = 0;
    if (fields.size() != 3 || fields[0].empty() || !absl::SimpleAtoi(fields[1], &strategy) ||
        !v1::Strategy_IsValid(strategy) || !absl::SimpleAtoi(fields[2], &timeout)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: expected TOKEN<TAB>STRATEGY<TAB>TIMEOUT_MS", path, n));
    }
    answers.push_back({std::move(fields[0]), static_cast<v1::Strategy>(strategy), timeout});
  }
  return answers;
}

// What a client that followed `answer` would report: TURN_ONLY relays at once; otherwise the
// direct attempt succeeds within the advised timeout.
void FillReport(const Answer& answer, v1::ReportOutcomeRequest& request) {
  request.set_decision_token(answer.token);
  v1::Attempt* attempt = request.add_attempts();
  attempt->set_result(v1::ATTEMPT_RESULT_SUCCEEDED);
  uint32_t ms = 0;
  if (answer.strategy == v1::STRATEGY_TURN_ONLY) {
    ms = kRelayConnectMs;
    attempt->set_path(v1::PATH_RELAY);
    attempt->set_transport(v1::TURN_TRANSPORT_UDP);
  } else {
    ms = std::max<uint32_t>(1, std::min(kDirectConnectMs, answer.direct_timeout_ms));
    attempt->set_path(v1::PATH_DIRECT);
  }
  attempt->set_duration_ms(ms);
  request.set_connected(true);
  request.set_time_to_connect_ms(ms);
}

// The flags, read once they are parsed.
struct Settings {
  std::string target;
  int64_t channels;
  int64_t outstanding;
  int64_t requests;
  std::string jwt;
  bool jwt_on_health;
  std::string tokens_in;
  std::string tokens_out;
  absl::Duration rpc_timeout;
  absl::Duration connect_timeout;
  advisor::config::ClientTlsFiles tls;
  bool new_connection_per_request;
  bool tls_session_cache;
};

// How every channel of this process connects: the credentials, and the channel arguments that all
// channels share (the TLS session cache).
struct Transport {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  bool session_cache = false;

  grpc::ChannelArguments Arguments(int unique) const {
    grpc::ChannelArguments args;
    // Separate connections: a channel argument unique to each channel keeps gRPC from sharing one
    // subchannel between them.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("grpc_load.channel", unique);
    if (session_cache) advisor::config::UseSharedSessionCache(args);
    return args;
  }
};

absl::StatusOr<Transport> MakeTransport(const Settings& settings) {
  auto credentials = advisor::config::MakeChannelCredentials(settings.tls);
  if (!credentials.ok()) return credentials.status();
  return Transport{.credentials = *std::move(credentials),
                   .session_cache = !settings.tls.insecure && settings.tls_session_cache};
}

// Starts request `index` on `channel` with `context`; calls `done` with its status.
using StartFn = std::function<void(size_t channel, size_t index, grpc::ClientContext* context,
                                   std::function<void(grpc::Status)> done)>;

struct Outcome {
  double seconds = 0;
  std::vector<int64_t> by_code = std::vector<int64_t>(17, 0);
  std::vector<uint32_t> latency_us;  // of every request, in index order
};

// The one client loop: `channels` × `outstanding` slots; each slot claims the next request index
// when its previous request completes, until `requests` have been started.
class Load {
 public:
  Load(size_t channels, size_t outstanding, size_t requests, absl::Duration rpc_timeout,
       StartFn start)
      : slots_(channels * outstanding),
        channels_(channels),
        requests_(requests),
        rpc_timeout_(rpc_timeout),
        start_(std::move(start)) {
    for (auto& count : by_code_) count.store(0);
    outcome_.latency_us.resize(requests);
  }

  Outcome Run() {
    const auto began = std::chrono::steady_clock::now();
    active_ = slots_.size();
    for (size_t s = 0; s < slots_.size(); ++s) Next(s);
    {
      std::unique_lock lock(mu_);
      done_cv_.wait(lock, [this] { return active_ == 0; });
    }
    outcome_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    for (size_t c = 0; c < by_code_.size(); ++c) outcome_.by_code[c] = by_code_[c].load();
    return std::move(outcome_);
  }

 private:
  struct Slot {
    // Replacing the context inside its own RPC's completion callback is safe: gRPC's callback
    // holds its own reference to the call until the callback returns.
    std::unique_ptr<grpc::ClientContext> context;
    std::chrono::steady_clock::time_point sent;
  };

  void Next(size_t s) {
    const size_t index = next_.fetch_add(1);
    if (index >= requests_) {
      std::lock_guard lock(mu_);
      if (--active_ == 0) done_cv_.notify_all();
      return;
    }
    Slot& slot = slots_[s];
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoMilliseconds(rpc_timeout_));
    slot.sent = std::chrono::steady_clock::now();
    start_(s % channels_, index, slot.context.get(), [this, s, index](grpc::Status status) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - slots_[s].sent)
                          .count();
      outcome_.latency_us[index] = static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX));
      const size_t code = static_cast<size_t>(status.error_code());
      by_code_[code < by_code_.size() ? code : by_code_.size() - 1].fetch_add(1);
      Next(s);
    });
  }

  std::vector<Slot> slots_;
  const size_t channels_;
  const size_t requests_;
  const absl::Duration rpc_timeout_;
  const StartFn start_;
  std::atomic<size_t> next_{0};
  std::array<std::atomic<int64_t>, 17> by_code_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  size_t active_ = 0;  // guarded by mu_
  Outcome outcome_;    // latency_us[i] written by the one callback of request i
};

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> Connect(const Settings& settings,
                                                                    const Transport& transport) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(settings.connect_timeout);
  for (int64_t i = 0; i < settings.channels; ++i) {
    auto channel = grpc::CreateCustomChannel(settings.target, transport.credentials,
                                             transport.Arguments(static_cast<int>(i)));
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(
          absl::StrFormat("cannot connect to %s within %s", settings.target,
                          absl::FormatDuration(settings.connect_timeout)));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

// Makes one call and waits for it.
using CallFn = std::function<grpc::Status(grpc::GenericStub& stub, size_t index,
                                          grpc::ClientContext* context)>;

// --new-connection-per-request: `workers` threads each take the next request index, create a
// channel of its own, make that one call and drop the channel, so every request pays for the TCP
// connection and the TLS handshake, and the latency includes both. Counts in `resumed` the calls
// whose TLS session was resumed.
Outcome RunFreshConnections(const Settings& settings, const Transport& transport, size_t workers,
                            size_t requests, const CallFn& call, std::atomic<int64_t>& resumed) {
  Outcome outcome;
  outcome.latency_us.resize(requests);
  std::array<std::atomic<int64_t>, 17> by_code;
  for (auto& count : by_code) count.store(0);
  std::atomic<size_t> next{0};
  const auto began = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < requests;) {
        const auto sent = std::chrono::steady_clock::now();
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             absl::ToChronoMilliseconds(settings.rpc_timeout));
        grpc::Status status;
        {
          grpc::GenericStub stub(grpc::CreateCustomChannel(
              settings.target, transport.credentials, transport.Arguments(static_cast<int>(i))));
          status = call(stub, i, &context);
        }
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - sent)
                            .count();
        outcome.latency_us[i] = static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX));
        const size_t code = static_cast<size_t>(status.error_code());
        by_code[code < by_code.size() ? code : by_code.size() - 1].fetch_add(1);
        const auto auth = context.auth_context();
        if (status.ok() && auth != nullptr) {
          for (const auto& value : auth->FindPropertyValues(GRPC_SSL_SESSION_REUSED_PROPERTY)) {
            if (value == "true") resumed.fetch_add(1);
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  for (size_t c = 0; c < by_code.size(); ++c) outcome.by_code[c] = by_code[c].load();
  return outcome;
}

double PercentileMs(std::vector<uint32_t> us, double q) {
  if (us.empty()) return 0;
  const size_t k = std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())));
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(k), us.end());
  return us[k] / 1000.0;
}

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Fields 1 (strategy), 2 (direct_timeout_ms) and 7 (decision_token) of a GetStrategyResponse,
// skipping the rest unparsed; an empty token when the bytes do not scan.
Answer ScanAnswer(const grpc::ByteBuffer& response) {
  Answer answer;
  grpc::Slice slice;
  if (!response.DumpToSingleSlice(&slice).ok()) return answer;
  google::protobuf::io::CodedInputStream in(slice.begin(), static_cast<int>(slice.size()));
  while (const uint32_t tag = in.ReadTag()) {
    const int field = google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag);
    uint32_t value = 0;
    if (field == 1 && in.ReadVarint32(&value)) {
      answer.strategy = static_cast<v1::Strategy>(value);
    } else if (field == 2 && in.ReadVarint32(&value)) {
      answer.direct_timeout_ms = value;
    } else if (field == 7 && in.ReadVarint32(&value)) {
      if (!in.ReadString(&answer.token, static_cast<int>(value))) return {};
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      return {};
    }
  }
  return answer;
}

// This process's CPU time so far, user and system.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string CodeName(size_t code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code < std::size(kNames) ? kNames[code] : absl::StrCat(code);
}

}  // namespace

int main(int argc, char** argv) {
  advisor::config::FlagSet flags("grpc_load health|get-strategy|report [flags]", kSummary);
  flags.HostPort(FLAGS_target, "");
  flags.Int(FLAGS_channels, "", 1, 1024);
  flags.Int(FLAGS_outstanding, "", 1, 4096);
  flags.Int(FLAGS_requests, "", 1, 100'000'000);
  flags.Secret(FLAGS_jwt, "ADVISOR_JWT");
  flags.Bool(FLAGS_jwt_on_health, "");
  flags.String(FLAGS_tokens_in, "");
  flags.String(FLAGS_tokens_out, "");
  flags.Duration(FLAGS_rpc_timeout, "");
  flags.Duration(FLAGS_connect_timeout, "");
  advisor::config::RegisterClientTlsFlags(flags);
  flags.Bool(FLAGS_new_connection_per_request, "");
  flags.Bool(FLAGS_tls_session_cache, "");
  const advisor::config::ParsedCommand cli = advisor::config::ParseCommand(
      flags, argc, argv, "grpc_load", {"health", "get-strategy", "report"});
  if (cli.exit_code) return *cli.exit_code;
  const Settings settings{
      .target = absl::GetFlag(FLAGS_target),
      .channels = absl::GetFlag(FLAGS_channels),
      .outstanding = absl::GetFlag(FLAGS_outstanding),
      .requests = absl::GetFlag(FLAGS_requests),
      .jwt = absl::GetFlag(FLAGS_jwt),
      .jwt_on_health = absl::GetFlag(FLAGS_jwt_on_health),
      .tokens_in = absl::GetFlag(FLAGS_tokens_in),
      .tokens_out = absl::GetFlag(FLAGS_tokens_out),
      .rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout),
      .connect_timeout = absl::GetFlag(FLAGS_connect_timeout),
      .tls = advisor::config::ClientTlsFlags(),
      .new_connection_per_request = absl::GetFlag(FLAGS_new_connection_per_request),
      .tls_session_cache = absl::GetFlag(FLAGS_tls_session_cache)};
  const std::string& mode = cli.command;
  if ((mode == "report") != !settings.tokens_in.empty()) {
    std::cerr << "grpc_load: --tokens-in is for report, and report needs it\n";
    return 2;
  }
  if (!settings.tokens_out.empty() && mode != "get-strategy") {
    std::cerr << "grpc_load: --tokens-out is for get-strategy\n";
    return 2;
  }

  std::vector<Answer> answers;
  if (mode == "report") {
    auto read = ReadAnswers(settings.tokens_in);
    if (!read.ok()) {
      std::cerr << "grpc_load: " << read.status().message() << "\n";
      return 1;
    }
    answers = std::move(*read);
    if (answers.empty()) {
      std::cerr << "grpc_load: no tokens in " << settings.tokens_in << "\n";
      return 1;
    }
  }
  const size_t requests = mode == "report"
                              ? std::min(answers.size(), static_cast<size_t>(settings.requests))
                              : static_cast<size_t>(settings.requests);

  auto transport = MakeTransport(settings);
  if (!transport.ok()) {
    std::cerr << "grpc_load: " << transport.status().message() << "\n";
    return 1;
  }
  const std::string bearer = settings.jwt.empty() ? "" : absl::StrCat("Bearer ", settings.jwt);
  auto authorize = [&bearer](grpc::ClientContext* context) {
    if (!bearer.empty()) context->AddMetadata("authorization", bearer);
  };

  // The client serializes nothing while the clock runs and parses no answer, like h2load did, so
  // that the three rates differ by what the server does: requests are serialized beforehand and
  // sent as bytes; of a GetStrategy answer only the three top-level fields a report needs are
  // read. Responses live per request index: each is touched by its own RPC only.
  std::vector<grpc::ByteBuffer> request_bytes;  // one shared by every request, or one per request
  std::vector<grpc::ByteBuffer> responses(requests);
  std::vector<Answer> received(mode == "get-strategy" ? requests : 0);
  std::string method;
  bool authorized = true;
  if (mode == "health") {
    method = "/grpc.health.v1.Health/Check";
    authorized = settings.jwt_on_health;
    request_bytes.push_back(Serialize(health::HealthCheckRequest()));
  } else if (mode == "get-strategy") {
    method = "/connectivity.advisor.v1.ConnectivityAdvisor/GetStrategy";
    v1::GetStrategyRequest request;
    request.mutable_local()->set_nat_type(v1::NAT_TYPE_FULL_CONE);
    request.mutable_local()->set_confidence(0.9f);
    request.mutable_remote()->set_nat_type(v1::NAT_TYPE_SYMMETRIC);
    request.mutable_remote()->set_confidence(0.8f);
    request_bytes.push_back(Serialize(request));
  } else {
    method = "/connectivity.advisor.v1.ConnectivityAdvisor/ReportOutcome";
    request_bytes.reserve(requests);
    for (size_t i = 0; i < requests; ++i) {
      v1::ReportOutcomeRequest request;
      FillReport(answers[i], request);
      request_bytes.push_back(Serialize(request));
    }
  }
  const bool keep_answers = mode == "get-strategy";
  // Starts request i on `stub`; `done` gets its status once the answer (if kept) is scanned.
  auto start_on = [&](grpc::GenericStub& stub, size_t i, grpc::ClientContext* context,
                      std::function<void(grpc::Status)> done) {
    if (authorized) authorize(context);
    const grpc::ByteBuffer* request = &request_bytes[request_bytes.size() == 1 ? 0 : i];
    stub.UnaryCall(context, method, grpc::StubOptions(), request, &responses[i],
                   [&, i, done = std::move(done)](grpc::Status status) {
                     if (keep_answers && status.ok()) received[i] = ScanAnswer(responses[i]);
                     responses[i].Clear();
                     done(std::move(status));
                   });
  };

  std::atomic<int64_t> resumed{0};
  Outcome outcome;
  double cpu_seconds = 0;
  if (settings.new_connection_per_request) {
    CallFn call = [&](grpc::GenericStub& stub, size_t i, grpc::ClientContext* context) {
      std::promise<grpc::Status> finished;
      start_on(stub, i, context,
               [&finished](grpc::Status status) { finished.set_value(std::move(status)); });
      return finished.get_future().get();
    };
    const double cpu_before = CpuSeconds();
    outcome = RunFreshConnections(settings, *transport, static_cast<size_t>(settings.channels),
                                  requests, call, resumed);
    cpu_seconds = CpuSeconds() - cpu_before;
  } else {
    auto channels = Connect(settings, *transport);
    if (!channels.ok()) {
      std::cerr << "grpc_load: " << channels.status().message() << "\n";
      return 1;
    }
    std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
    for (const auto& channel : *channels)
      stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
    StartFn start = [&](size_t c, size_t i, grpc::ClientContext* context,
                        std::function<void(grpc::Status)> done) {
      start_on(*stubs[c], i, context, std::move(done));
    };
    const double cpu_before = CpuSeconds();
    Load load(channels->size(), static_cast<size_t>(settings.outstanding), requests,
              settings.rpc_timeout, std::move(start));
    outcome = load.Run();
    cpu_seconds = CpuSeconds() - cpu_before;
  }

  if (!settings.tokens_out.empty()) {
    std::ofstream out(settings.tokens_out);
    for (const Answer& a : received) {
      if (a.token.empty()) continue;  // a failed RPC leaves its answer empty
      out << a.token << '\t' << static_cast<int>(a.strategy) << '\t' << a.direct_timeout_ms << '\n';
    }
    if (!out.flush()) {
      std::cerr << "grpc_load: cannot write " << settings.tokens_out << "\n";
      return 1;
    }
  }

  const int64_t ok = outcome.by_code[0];
  std::string errors;
  for (size_t c = 1; c < outcome.by_code.size(); ++c) {
    if (outcome.by_code[c] == 0) continue;
    absl::StrAppend(&errors, errors.empty() ? "" : ",", CodeName(c), ":", outcome.by_code[c]);
  }
  std::cout << absl::StrFormat(
      "mode=%s requests=%d ok=%d seconds=%.3f rps=%.0f p50_ms=%.2f p99_ms=%.2f "
      "client_cpu_us=%.1f%s%s\n",
      mode, requests, ok, outcome.seconds,
      outcome.seconds > 0 ? static_cast<double>(requests) / outcome.seconds : 0,
      PercentileMs(outcome.latency_us, 0.50), PercentileMs(outcome.latency_us, 0.99),
      1e6 * cpu_seconds / static_cast<double>(requests),
      settings.new_connection_per_request && !settings.tls.insecure
          ? absl::StrCat(" resumed=", resumed.load())
          : "",
      errors.empty() ? "" : absl::StrCat(" errors=", errors));
  return ok == static_cast<int64_t>(requests) ? 0 : 1;
}
