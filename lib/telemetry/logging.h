// Process-wide logging setup: spdlog is the one logger of the project.
//
// Every binary calls InitLogging once at start-up, before it creates threads. Log lines go to
// stderr (containers collect them from there) as
//   2024-05-01T12:00:00.123Z info    [advisor] message
// with the time in UTC, so lines from replicas in different zones sort together. Loggers created
// later with spdlog (e.g. spdlog::stderr_logger_mt("prober")) take the same pattern and level.
//
// This abseil has its own absl::string_view (not std::string_view), which fmt cannot format:
// include this header wherever spdlog logs an absl::Status or its message(); it teaches fmt both.
#ifndef ADVISOR_LIB_TELEMETRY_LOGGING_H_
#define ADVISOR_LIB_TELEMETRY_LOGGING_H_

#include <spdlog/fmt/fmt.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace advisor::telemetry {

// Makes a stderr logger named `name` the spdlog default and sets the level of every logger:
// "trace", "debug", "info", "warn" or "error" (any case). An unknown level is an InvalidArgument
// error that lists the valid ones, and changes nothing.
absl::Status InitLogging(std::string_view level, std::string_view name = "advisor");

}  // namespace advisor::telemetry

#ifndef ABSL_USES_STD_STRING_VIEW
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view text, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text.data(), text.size()),
                                                    ctx);
  }
};
#endif

// "INVALID_ARGUMENT: message", as absl::Status::ToString() writes it.
template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(const absl::Status& status, FormatContext& ctx) const {
    const std::string text = status.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};

#endif  // ADVISOR_LIB_TELEMETRY_LOGGING_H_
