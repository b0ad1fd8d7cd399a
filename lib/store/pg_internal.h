// Helpers shared by the files of lib/store that talk to PostgreSQL. Not for use outside lib/store.
#ifndef ADVISOR_LIB_STORE_PG_INTERNAL_H_
#define ADVISOR_LIB_STORE_PG_INTERNAL_H_

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace advisor::store::internal {

// A libpqxx (or other) exception as a Status whose message starts with `what`: UNAVAILABLE when the
// session is gone or the outcome unknown (the caller should retry, and a new connection may
// succeed), INTERNAL otherwise.
absl::Status StatusFromException(const std::string& what, const std::exception& e);

// A timestamptz literal for `t`, exact to the microsecond (timestamptz's resolution).
std::string TimestampLiteral(absl::Time t);

}  // namespace advisor::store::internal

#endif  // ADVISOR_LIB_STORE_PG_INTERNAL_H_
