// Name resolution with a deadline. getaddrinfo cannot be interrupted, so it runs on a detached
// thread that shares its result through a reference-counted slot: a probe that gives up at its
// deadline leaves the lookup to finish on its own, with nothing dangling.
#include "lib/turn/resolver.h"

#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace advisor::turn {
namespace {

struct Lookup {
  std::string host;
  uint16_t port = 0;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  absl::StatusOr<SocketAddress> result = absl::UnknownError("not resolved");
};

// The first IPv4 address, else the first IPv6 one: a relay is IPv4 unless asked otherwise, and
// the relay peer must be of the relay's family.
absl::StatusOr<SocketAddress> ResolveNow(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  // One entry per address rather than one per socket type. No AI_ADDRCONFIG: it hides IPv4
  // results on a host whose only IPv4 address is loopback, and IPv4 is preferred below anyway.
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("resolve ", host, ": ",
                     rc == EAI_SYSTEM ? ErrnoText(errno) : std::string(gai_strerror(rc))));
  }
  std::optional<SocketAddress> v4, v6;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    absl::StatusOr<SocketAddress> a = SocketAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    if (!a.ok()) continue;
    a->port = port;
    auto& slot = a->family == SocketAddress::Family::kIpv4 ? v4 : v6;
    if (!slot) slot = *a;
  }
  freeaddrinfo(list);
  if (v4) return *v4;
  if (v6) return *v6;
  return absl::UnavailableError(absl::StrCat("resolve ", host, ": no IPv4 or IPv6 address"));
}

void* RunLookup(void* arg) {
  std::unique_ptr<std::shared_ptr<Lookup>> owned(static_cast<std::shared_ptr<Lookup>*>(arg));
  Lookup& lookup = **owned;
  absl::StatusOr<SocketAddress> result = ResolveNow(lookup.host, lookup.port);
  std::lock_guard<std::mutex> lock(lookup.mu);
  lookup.result = std::move(result);
  lookup.done = true;
  lookup.done_cv.notify_all();
  return nullptr;
}

}  // namespace

absl::StatusOr<SocketAddress> Resolve(const std::string& host, uint16_t port,
                                      Clock::time_point deadline) {
  if (absl::StatusOr<SocketAddress> numeric = SocketAddress::Parse(host, port); numeric.ok()) {
    return numeric;
  }
  auto lookup = std::make_shared<Lookup>();
  lookup->host = host;
  lookup->port = port;
  // pthread rather than std::thread: it reports failure as a value, not an exception.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* arg = new std::shared_ptr<Lookup>(lookup);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, RunLookup, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete arg;
    return absl::ResourceExhaustedError(
        absl::StrCat("resolve ", host, ": cannot start a thread: ", ErrnoText(rc)));
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return absl::DeadlineExceededError(absl::StrCat("resolving ", host));
  }
  return lookup->result;
}

}  // namespace advisor::turn
