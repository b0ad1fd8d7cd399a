// lib/telemetry/logging.h: the five log levels by name, a clear error for any other, and
// absl::Status formatted through spdlog.
#include "lib/telemetry/logging.h"

#include <spdlog/spdlog.h>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace advisor::telemetry {
namespace {

using ::testing::HasSubstr;

TEST(Logging, AcceptsTheFiveLevels) {
  EXPECT_TRUE(InitLogging("trace").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::trace);
  EXPECT_TRUE(InitLogging("debug").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  EXPECT_TRUE(InitLogging("WARN").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  EXPECT_TRUE(InitLogging("error").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::err);
  EXPECT_TRUE(InitLogging("info", "telemetry-test").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::info);
  EXPECT_EQ(spdlog::default_logger()->name(), "telemetry-test");
  spdlog::info("logging works");
}

TEST(Logging, RefusesAnUnknownLevel) {
  // warn, not spdlog's default info: a refusal that reset the logger would show.
  ASSERT_TRUE(InitLogging("warn").ok());
  const absl::Status status = InitLogging("verbose");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"verbose\""));
  EXPECT_THAT(status.message(), HasSubstr("trace, debug, info, warn or error"));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
}

TEST(Logging, FormatsAbslStatusAndItsMessage) {
  const absl::Status status = absl::UnavailableError("database down");
  EXPECT_EQ(fmt::format("[{}]", status.message()), "[database down]");
  EXPECT_EQ(fmt::format("{}", status), "UNAVAILABLE: database down");
  EXPECT_EQ(fmt::format("{}", absl::OkStatus()), "OK");
}

}  // namespace
}  // namespace advisor::telemetry
