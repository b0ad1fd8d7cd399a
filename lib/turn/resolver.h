// Name resolution for the probe, bounded by its deadline: getaddrinfo itself cannot be.
#ifndef ADVISOR_LIB_TURN_RESOLVER_H_
#define ADVISOR_LIB_TURN_RESOLVER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "lib/turn/address.h"
#include "lib/turn/transport.h"

namespace advisor::turn {

// `host` (a numeric address, or a name: its first IPv4 address, else its first IPv6 one) with
// `port`. DeadlineExceeded when the lookup has not answered by `deadline`; it then finishes on a
// detached thread, and its answer is dropped.
absl::StatusOr<SocketAddress> Resolve(const std::string& host, uint16_t port,
                                      Clock::time_point deadline);

}  // namespace advisor::turn

#endif  // ADVISOR_LIB_TURN_RESOLVER_H_
