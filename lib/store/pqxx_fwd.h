// Forward declaration of libpqxx's connection, so that the store headers need no libpqxx include.
#ifndef ADVISOR_LIB_STORE_PQXX_FWD_H_
#define ADVISOR_LIB_STORE_PQXX_FWD_H_

// libpqxx 6 spells its connection class as an alias of a template; declared the same way here.
namespace pqxx {
class connect_direct;
template <typename ConnectPolicy>
class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
}  // namespace pqxx

#endif  // ADVISOR_LIB_STORE_PQXX_FWD_H_
