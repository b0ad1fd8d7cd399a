#include "lib/telemetry/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace advisor::telemetry {

absl::Status InitLogging(std::string_view level, std::string_view name) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
  };
  std::string lower(level);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto* found = std::find_if(std::begin(kLevels), std::end(kLevels),
                                   [&](const auto& entry) { return entry.first == lower; });
  if (found == std::end(kLevels)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid log level \"", std::string(level),
                                                   "\" (want trace, debug, info, warn or error)"));
  }

  auto logger = std::make_shared<spdlog::logger>(std::string(name),
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  spdlog::set_default_logger(std::move(logger));
  // After set_default_logger: set_pattern and set_level apply to every logger registered so far and
  // become the defaults of those registered later.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-7l [%n] %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(found->second);
  return absl::OkStatus();
}

}  // namespace advisor::telemetry
