// lib/config/json.h: a message with map fields prints the same text however its maps were filled,
// with the keys sorted, and with the options it is given.
#include "lib/config/json.h"

#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace advisor::config {
namespace {

// An object of `count` members named k0..k<count-1>, inserted in `forward` or reverse order.
google::protobuf::Struct Filled(int count, bool forward) {
  google::protobuf::Struct object;
  for (int i = 0; i < count; ++i) {
    const int n = forward ? i : count - 1 - i;
    (*object.mutable_fields())["k" + std::to_string(n)].set_number_value(n);
  }
  return object;
}

TEST(StableJson, SortsTheKeysOfMapsWhateverTheInsertionOrder) {
  constexpr int kMembers = 64;
  const google::protobuf::util::JsonPrintOptions options;
  absl::StatusOr<std::string> forward = StableJson(Filled(kMembers, true), options);
  absl::StatusOr<std::string> backward = StableJson(Filled(kMembers, false), options);
  ASSERT_TRUE(forward.ok()) << forward.status();
  ASSERT_TRUE(backward.ok()) << backward.status();
  EXPECT_EQ(*forward, *backward);

  std::vector<std::string> keys;
  keys.reserve(kMembers);
  for (int i = 0; i < kMembers; ++i) keys.push_back("\"k" + std::to_string(i) + "\"");
  std::sort(keys.begin(), keys.end());
  size_t at = 0;
  for (const std::string& key : keys) {
    const size_t found = forward->find(key, at);
    ASSERT_NE(found, std::string::npos) << key << " missing or out of order in " << *forward;
    at = found + key.size();
  }
}

TEST(StableJson, PrintsWithTheOptionsGiven) {
  google::protobuf::Struct object;
  (*object.mutable_fields())["a"].set_string_value("x");
  google::protobuf::util::JsonPrintOptions options;
  EXPECT_EQ(StableJson(object, options).value_or(""), R"({"a":"x"})");
  options.add_whitespace = true;
  EXPECT_EQ(StableJson(object, options).value_or(""), "{\n \"a\": \"x\"\n}\n");
}

}  // namespace
}  // namespace advisor::config
