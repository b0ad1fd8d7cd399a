// Helpers shared by the files of lib/store that talk to PostgreSQL. Not for use outside lib/store.
#ifndef ADVISOR_LIB_STORE_PG_INTERNAL_H_
#define ADVISOR_LIB_STORE_PG_INTERNAL_H_

#include <exception>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace advisor::store::internal {

// What the store's headers call a connection. A class of its own rather than a forward
// declaration of pqxx::connection, which libpqxx 6 spells as an alias of a template and libpqxx 7
// as a class: no declaration fits both.
class PgConnection : public pqxx::connection {
 public:
  explicit PgConnection(const std::string& options) : pqxx::connection(options) {}
};

// A libpqxx (or other) exception as a Status whose message starts with `what`: UNAVAILABLE when the
// session is gone or the outcome unknown (the caller should retry, and a new connection may
// succeed), INTERNAL otherwise.
absl::Status StatusFromException(const std::string& what, const std::exception& e);

// A timestamptz literal for `t`, exact to the microsecond (timestamptz's resolution).
std::string TimestampLiteral(absl::Time t);

}  // namespace advisor::store::internal

#endif  // ADVISOR_LIB_STORE_PG_INTERNAL_H_
