// Protobuf messages printed as JSON documents whose key order does not change between runs.
//
// Every JSON document the project writes is a message printed with protobuf's JSON mapping
// (docs/design.md §3). MessageToJsonString prints the entries of map fields, which include the
// objects of a google.protobuf.Struct, in the order of a hash table; a report diffed against
// yesterday's, or a test reading a golden file, needs the same text for the same content.
#ifndef ADVISOR_LIB_CONFIG_JSON_H_
#define ADVISOR_LIB_CONFIG_JSON_H_

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <string>

#include "absl/status/statusor.h"

namespace advisor::config {

// `message` printed with `options`, map entries sorted by key. An error names the message type.
absl::StatusOr<std::string> StableJson(const google::protobuf::Message& message,
                                       const google::protobuf::util::JsonPrintOptions& options);

}  // namespace advisor::config

#endif  // ADVISOR_LIB_CONFIG_JSON_H_
