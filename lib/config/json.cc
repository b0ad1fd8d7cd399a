// The message is serialized deterministically (map entries sorted by key) and printed from those
// bytes, which the JSON mapping reads in order.
#include "lib/config/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace advisor::config {

absl::StatusOr<std::string> StableJson(const google::protobuf::Message& message,
                                       const google::protobuf::util::JsonPrintOptions& options) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!message.SerializeToCodedStream(&coded)) {
      return absl::InternalError(absl::StrCat("cannot serialize ", message.GetTypeName()));
    }
  }
  constexpr char kUrlPrefix[] = "type.googleapis.com";
  const std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          kUrlPrefix, google::protobuf::DescriptorPool::generated_pool()));
  std::string json;
  if (const google::protobuf::util::Status status = google::protobuf::util::BinaryToJsonString(
          resolver.get(), absl::StrCat(kUrlPrefix, "/", message.GetDescriptor()->full_name()),
          bytes, &json, options);
      !status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(),
                                            " as JSON: ", status.message().ToString()));
  }
  return json;
}

}  // namespace advisor::config
