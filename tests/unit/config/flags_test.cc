// lib/config/flags.h: settings from abseil flags, ADVISOR_* variables and defaults, their typed
// parsing and ranges, errors that name where a bad value came from, the help text, secret files,
// host:port checks and commands. The TLS flags are in tls_test.cc.
#include "lib/config/flags.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// One flag of every kind, with defaults, as a binary would declare them.
ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address");
ABSL_FLAG(std::string, name, "advisor", "instance name");
ABSL_FLAG(std::string, token_key, "super-secret-default", "decision token HMAC key");
ABSL_FLAG(absl::Duration, flush_interval, absl::Seconds(5), "how often to flush");
ABSL_FLAG(absl::Duration, grace, absl::ZeroDuration(), "shutdown grace");
ABSL_FLAG(int64_t, workers, 4, "worker threads");
ABSL_FLAG(double, threshold, 0.5, "confidence threshold");
ABSL_FLAG(bool, verbose, false, "log more");
ABSL_FLAG(advisor::config::ByteSize, memory, {int64_t{128} << 20}, "memory");
// Only for the tests that register them themselves.
ABSL_FLAG(std::string, db_password, "hunter2-default", "database password");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(90), "probe interval");
ABSL_FLAG(std::string, level, "info", "a level");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464", "metrics address");

namespace advisor::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A fixed environment, so tests never depend on the variables of the machine running them.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// The flags above registered as a binary would; every flag value goes back to what it was when
// this is destroyed, so that no test sees another's.
struct Settings {
  absl::FlagSaver saver;
  FlagSet flags{"advisor-server [serve|migrate] [flags]", "The Connectivity Advisor service."};

  Settings() {
    flags.HostPort(FLAGS_listen, "ADVISOR_LISTEN");
    flags.String(FLAGS_name, "ADVISOR_NAME");
    flags.Secret(FLAGS_token_key, "ADVISOR_TOKEN_KEY");
    flags.Duration(FLAGS_flush_interval, "ADVISOR_FLUSH_INTERVAL");
    flags.Duration(FLAGS_grace, "ADVISOR_GRACE", absl::ZeroDuration(), absl::Minutes(1));
    flags.Int(FLAGS_workers, "ADVISOR_WORKERS", 1, 64);
    flags.Double(FLAGS_threshold, "ADVISOR_THRESHOLD", 0, 1);
    flags.Bool(FLAGS_verbose, "ADVISOR_VERBOSE");
  }

  absl::StatusOr<std::vector<std::string>> Parse(std::vector<std::string> args,
                                                 std::map<std::string, std::string> env = {}) {
    return flags.Parse(args, Env(std::move(env)));
  }
};

// The error of a parse that must fail.
std::string ParseError(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  Settings s;
  auto result = s.Parse(std::move(args), std::move(env));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST(FlagSet, DefaultsStayWhenNothingIsGiven) {
  Settings s;
  auto positional = s.Parse({});
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_THAT(*positional, IsEmpty());
  EXPECT_EQ(absl::GetFlag(FLAGS_listen), "0.0.0.0:50051");
  EXPECT_EQ(absl::GetFlag(FLAGS_flush_interval), absl::Seconds(5));
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 4);
  EXPECT_FALSE(absl::GetFlag(FLAGS_verbose));
  EXPECT_FALSE(s.flags.help_requested());
}

TEST(FlagSet, FlagBeatsEnvBeatsDefault) {
  Settings s;
  auto positional = s.Parse({"--flush-interval=1m30s"}, {{"ADVISOR_FLUSH_INTERVAL", "10s"},
                                                         {"ADVISOR_WORKERS", "8"},
                                                         {"ADVISOR_TOKEN_KEY", "from-env"},
                                                         {"OTHER", "x"}});
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flush_interval), absl::Seconds(90));  // flag over env
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 8);                         // env over default
  EXPECT_EQ(absl::GetFlag(FLAGS_token_key), "from-env");              // secrets too
  EXPECT_EQ(absl::GetFlag(FLAGS_threshold), 0.5);                     // default
}

TEST(FlagSet, EmptyVariableCountsAsUnset) {
  Settings s;
  ASSERT_TRUE(s.Parse({}, {{"ADVISOR_WORKERS", ""}, {"ADVISOR_NAME", ""}}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 4);
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "advisor");
}

TEST(FlagSet, BothFlagFormsAndPositionalArgs) {
  Settings s;
  auto positional = s.Parse({"serve", "--listen", "127.0.0.1:9000", "--workers=16", "extra",
                             "--name", "a=b", "--", "--not-a-flag", "-x"});
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_THAT(*positional, ElementsAre("serve", "extra", "--not-a-flag", "-x"));
  EXPECT_EQ(absl::GetFlag(FLAGS_listen), "127.0.0.1:9000");
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 16);
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "a=b");
}

TEST(FlagSet, TheDeclaredUnderscoreSpellingIsAcceptedToo) {
  Settings s;
  ASSERT_TRUE(s.Parse({"--flush_interval=2s"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_flush_interval), absl::Seconds(2));
}

TEST(FlagSet, LastFlagWins) {
  Settings s;
  ASSERT_TRUE(s.Parse({"--workers=2", "--workers", "3"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 3);
}

TEST(FlagSet, EveryTypeParses) {
  Settings s;
  auto positional = s.Parse({"--name=", "--token-key=k", "--flush-interval=500ms", "--grace=0",
                             "--workers=64", "--threshold=0.25", "--verbose"});
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_name), "");  // an explicit empty flag value does count
  EXPECT_EQ(absl::GetFlag(FLAGS_token_key), "k");
  EXPECT_EQ(absl::GetFlag(FLAGS_flush_interval), absl::Milliseconds(500));
  EXPECT_EQ(absl::GetFlag(FLAGS_grace), absl::ZeroDuration());  // allowed because min is given
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 64);
  EXPECT_DOUBLE_EQ(absl::GetFlag(FLAGS_threshold), 0.25);
  EXPECT_TRUE(absl::GetFlag(FLAGS_verbose));
}

TEST(FlagSet, BoolForms) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, bool>>{{"true", true},
                                                                            {"1", true},
                                                                            {"yes", true},
                                                                            {"TRUE", true},
                                                                            {"false", false},
                                                                            {"0", false},
                                                                            {"no", false}}) {
    Settings flag;
    absl::SetFlag(&FLAGS_verbose, !want);
    ASSERT_TRUE(flag.Parse({"--verbose=" + text}).ok()) << text;
    EXPECT_EQ(absl::GetFlag(FLAGS_verbose), want) << text;

    absl::SetFlag(&FLAGS_verbose, !want);
    ASSERT_TRUE(flag.Parse({}, {{"ADVISOR_VERBOSE", text}}).ok()) << text;
    EXPECT_EQ(absl::GetFlag(FLAGS_verbose), want) << text;
  }
}

TEST(FlagSet, BoolDoesNotTakeTheNextArgument) {
  Settings s;
  auto positional = s.Parse({"--verbose", "false"});
  ASSERT_TRUE(positional.ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_verbose));
  EXPECT_THAT(*positional, ElementsAre("false"));
}

TEST(FlagSet, ErrorsNameTheFlagAndTheValue) {
  EXPECT_EQ(ParseError({"--flush-interval=5 parsecs"}),
            "--flush-interval: invalid duration \"5 parsecs\" (e.g. 500ms, 5s, 1m30s, 2h)");
  EXPECT_THAT(ParseError({"--flush-interval", "0s"}),
              HasSubstr("--flush-interval: duration \"0s\" must be positive"));
  EXPECT_THAT(ParseError({"--flush-interval=-1s"}), HasSubstr("--flush-interval:"));
  EXPECT_THAT(ParseError({"--grace=-1s"}), HasSubstr("--grace: duration \"-1s\" is below"));
  EXPECT_THAT(ParseError({"--grace=2m"}), HasSubstr("--grace: duration \"2m\" is above"));
  EXPECT_EQ(ParseError({"--workers=many"}), "--workers: invalid integer \"many\"");
  EXPECT_EQ(ParseError({"--workers=0"}), "--workers: 0 is out of range [1, 64]");
  EXPECT_EQ(ParseError({"--workers=65"}), "--workers: 65 is out of range [1, 64]");
  EXPECT_THAT(ParseError({"--workers=99999999999999999999"}), HasSubstr("invalid integer"));
  EXPECT_EQ(ParseError({"--threshold=high"}), "--threshold: invalid number \"high\"");
  EXPECT_THAT(ParseError({"--threshold=nan"}), HasSubstr("--threshold: invalid number"));
  EXPECT_THAT(ParseError({"--threshold=inf"}), HasSubstr("--threshold: invalid number"));
  EXPECT_THAT(ParseError({"--threshold=1.5"}), HasSubstr("--threshold: 1.5 is out of range"));
  EXPECT_THAT(ParseError({"--verbose=maybe"}), HasSubstr("--verbose: invalid boolean \"maybe\""));
  EXPECT_THAT(ParseError({"--listen=nowhere"}),
              HasSubstr("--listen: \"nowhere\" is not HOST:PORT: missing :PORT"));
  EXPECT_EQ(ParseError({"--workers"}), "--workers: missing value");
  EXPECT_EQ(ParseError({"--workers", "--verbose"}), "--workers: missing value");
}

TEST(FlagSet, ErrorsNameTheVariableAndTheValue) {
  EXPECT_THAT(ParseError({}, {{"ADVISOR_FLUSH_INTERVAL", "5 parsecs"}}),
              HasSubstr("ADVISOR_FLUSH_INTERVAL: invalid duration \"5 parsecs\""));
  EXPECT_EQ(ParseError({}, {{"ADVISOR_WORKERS", "x"}}), "ADVISOR_WORKERS: invalid integer \"x\"");
  EXPECT_EQ(ParseError({}, {{"ADVISOR_WORKERS", "100"}}),
            "ADVISOR_WORKERS: 100 is out of range [1, 64]");
  EXPECT_EQ(ParseError({}, {{"ADVISOR_THRESHOLD", "x"}}),
            "ADVISOR_THRESHOLD: invalid number \"x\"");
  EXPECT_THAT(ParseError({}, {{"ADVISOR_VERBOSE", "on"}}),
              HasSubstr("ADVISOR_VERBOSE: invalid boolean \"on\""));
  EXPECT_THAT(ParseError({}, {{"ADVISOR_LISTEN", "0.0.0.0:0"}}),
              HasSubstr("ADVISOR_LISTEN: \"0.0.0.0:0\" is not HOST:PORT: invalid port \"0\""));
}

TEST(FlagSet, BadVariableIsIgnoredWhenTheFlagIsGiven) {
  Settings s;
  ASSERT_TRUE(s.Parse({"--workers=2"}, {{"ADVISOR_WORKERS", "junk"}}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 2);
}

TEST(FlagSet, AFailedParseLeavesTheFlagAsItWas) {
  Settings s;
  ASSERT_FALSE(s.Parse({"--workers=65"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 4);
}

TEST(FlagSet, UnknownFlagIsNamed) {
  EXPECT_EQ(ParseError({"--frobnicate=3"}), "unknown flag --frobnicate");
  EXPECT_EQ(ParseError({"serve", "--frobnicate"}), "unknown flag --frobnicate");
  EXPECT_THAT(ParseError({"-workers=3"}), HasSubstr("unknown flag -workers=3"));
  // Declared with ABSL_FLAG in this binary, but not registered in the set.
  EXPECT_EQ(ParseError({"--interval=1s"}), "unknown flag --interval");
}

TEST(FlagSet, HelpIsRequestedEvenBesideBadFlags) {
  for (const char* help : {"--help", "-h"}) {
    Settings s;
    auto result = s.Parse({"--bogus", help, "--workers=0"});
    ASSERT_TRUE(result.ok()) << help;
    EXPECT_TRUE(s.flags.help_requested()) << help;
  }
  Settings after_dashes;
  ASSERT_TRUE(after_dashes.Parse({"--", "--help"}).ok());
  EXPECT_FALSE(after_dashes.flags.help_requested());
}

TEST(FlagSet, HelpListsEverySettingAndHidesSecrets) {
  Settings s;
  s.flags.Secret(FLAGS_db_password, "");
  const std::string help = s.flags.Help();
  EXPECT_THAT(help, HasSubstr("usage: advisor-server [serve|migrate] [flags]"));
  EXPECT_THAT(help, HasSubstr("The Connectivity Advisor service."));
  for (const char* text : {"--listen=HOST:PORT",
                           "ADVISOR_LISTEN",
                           "\"0.0.0.0:50051\"",
                           "gRPC listen address",
                           "--name=STRING",
                           "ADVISOR_NAME",
                           "--token-key=SECRET",
                           "ADVISOR_TOKEN_KEY",
                           "(hidden)",
                           "--flush-interval=DURATION",
                           "ADVISOR_FLUSH_INTERVAL",
                           "default 5s",
                           "--grace=DURATION",
                           "ADVISOR_GRACE",
                           "--workers=INT",
                           "ADVISOR_WORKERS",
                           "default 4",
                           "[1, 64]",
                           "--threshold=NUMBER",
                           "ADVISOR_THRESHOLD",
                           "default 0.5",
                           "--verbose",
                           "ADVISOR_VERBOSE",
                           "default false",
                           "--db-password=SECRET",
                           "--help, -h"}) {
    EXPECT_THAT(help, HasSubstr(text));
  }
  EXPECT_THAT(help, Not(HasSubstr("super-secret-default")));
  EXPECT_THAT(help, Not(HasSubstr("hunter2-default")));
  EXPECT_THAT(help, Not(HasSubstr("--flush_interval")));  // flags are shown with dashes
}

TEST(FlagSet, HelpShowsTheDeclaredDefault) {
  absl::FlagSaver saver;
  FlagSet flags("x", "y");
  flags.Duration(FLAGS_interval, "");
  absl::SetFlag(&FLAGS_interval, absl::Hours(2));
  EXPECT_THAT(flags.Help(), HasSubstr("default 1m30s"));
}

TEST(FlagSet, DuplicateRegistrationFailsParse) {
  FlagSet flags("x", "y");
  flags.String(FLAGS_name, "NAME");
  flags.String(FLAGS_name, "OTHER");
  EXPECT_EQ(flags.Parse({}, Env({})).status().code(), absl::StatusCode::kInternal);

  FlagSet same_env("x", "y");
  same_env.String(FLAGS_name, "SAME");
  same_env.String(FLAGS_level, "SAME");
  EXPECT_EQ(same_env.Parse({}, Env({})).status().code(), absl::StatusCode::kInternal);
}

TEST(FlagSet, BytesTakeSiAndBinarySuffixes) {
  absl::FlagSaver saver;
  FlagSet flags("x", "y");
  flags.Bytes(FLAGS_memory, "ADVISOR_MEMORY", 1 << 20, int64_t{1} << 40);
  EXPECT_THAT(flags.Help(), HasSubstr("default 128MiB"));
  EXPECT_THAT(flags.Help(), HasSubstr("[1MiB, 1024GiB]"));
  for (const auto& [text, bytes] :
       std::vector<std::pair<std::string, int64_t>>{{"1048576", 1 << 20},
                                                    {"64M", 64'000'000},
                                                    {"2GiB", int64_t{2} << 30},
                                                    {"3000k", 3'000'000},
                                                    {"1536KiB", 1536 << 10}}) {
    ASSERT_TRUE(flags.Parse(std::vector<std::string>{"--memory=" + text}, Env({})).ok()) << text;
    EXPECT_EQ(absl::GetFlag(FLAGS_memory).bytes, bytes) << text;
  }
  auto bad = flags.Parse(std::vector<std::string>{"--memory=lots"}, Env({}));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--memory: invalid size \"lots\""));
  bad = flags.Parse(std::vector<std::string>{}, Env({{"ADVISOR_MEMORY", "1k"}}));
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("ADVISOR_MEMORY: 1k is out of range [1MiB, 1024GiB]"));
  EXPECT_FALSE(flags.Parse(std::vector<std::string>{"--memory=-5M"}, Env({})).ok());
  EXPECT_FALSE(flags.Parse(std::vector<std::string>{"--memory=99999999999GiB"}, Env({})).ok());
}

TEST(ByteSize, UnparsesToTheLargestBinaryUnitThatDividesIt) {
  EXPECT_EQ(AbslUnparseFlag(ByteSize{int64_t{3} << 30}), "3GiB");
  EXPECT_EQ(AbslUnparseFlag(ByteSize{1536 << 10}), "1536KiB");
  EXPECT_EQ(AbslUnparseFlag(ByteSize{1000}), "1000");
  ByteSize size;
  std::string error;
  EXPECT_TRUE(absl::ParseFlag("64MiB", &size, &error));
  EXPECT_EQ(size.bytes, 64 << 20);
  EXPECT_FALSE(absl::ParseFlag("64 MiB", &size, &error));
  EXPECT_THAT(error, HasSubstr("1048576"));
}

TEST(FlagSet, HostPortMayAllowPortZero) {
  absl::FlagSaver saver;
  FlagSet flags("x", "y");
  flags.HostPort(FLAGS_metrics_listen, "ADVISOR_METRICS_LISTEN", /*allow_zero_port=*/true);
  EXPECT_THAT(flags.Help(), HasSubstr("--metrics-listen=HOST:PORT"));
  ASSERT_TRUE(flags.Parse(std::vector<std::string>{"--metrics-listen=[::1]:0"}, Env({})).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_metrics_listen), "[::1]:0");
  ASSERT_TRUE(
      flags.Parse(std::vector<std::string>{}, Env({{"ADVISOR_METRICS_LISTEN", "a:0"}})).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_metrics_listen), "a:0");
  auto bad = flags.Parse(std::vector<std::string>{}, Env({{"ADVISOR_METRICS_LISTEN", "[::1]"}}));
  EXPECT_EQ(bad.status().message(),
            "ADVISOR_METRICS_LISTEN: \"[::1]\" is not HOST:PORT: missing :PORT");
}

// A file in a fresh temp dir holding `contents`.
std::string TempFile(const std::string& name, const std::string& contents) {
  static const std::string dir = [] {
    std::string pattern = "/tmp/config-test-XXXXXX";
    return std::string(mkdtemp(pattern.data()));
  }();
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

TEST(ReadSecretFile, DropsOneTrailingNewline) {
  EXPECT_EQ(*ReadSecretFile(TempFile("a", "s3cret\n")), "s3cret");
  EXPECT_EQ(*ReadSecretFile(TempFile("b", "s3cret\r\n")), "s3cret");
  EXPECT_EQ(*ReadSecretFile(TempFile("c", "s3cret")), "s3cret");
  EXPECT_EQ(*ReadSecretFile(TempFile("d", "s3cret\n\n")), "s3cret\n");
  auto empty = ReadSecretFile(TempFile("e", "\n"));
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("is empty"));
  auto missing = ReadSecretFile("/nonexistent/token.key");
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("cannot read /nonexistent/token.key"));
}

TEST(ValidateHostPort, Accepts) {
  for (const char* value :
       {"0.0.0.0:50051", "127.0.0.1:1", "10.1.2.3:65535", "[::]:50051", "[::1]:9090",
        "[2001:db8::1]:443", "localhost:9090", "advisor.default.svc.cluster.local:50051",
        "postgres_db:5432", "a-b:1"}) {
    EXPECT_TRUE(ValidateHostPort("--listen", value).ok()) << value;
  }
  EXPECT_TRUE(ValidateHostPort("--listen", "127.0.0.1:0", /*allow_zero=*/true).ok());
}

TEST(ValidateHostPort, Refuses) {
  for (const char* value : {"",
                            "50051",
                            ":50051",
                            "0.0.0.0",
                            "0.0.0.0:",
                            "0.0.0.0:0",
                            "0.0.0.0:65536",
                            "0.0.0.0:123456",
                            "0.0.0.0:-1",
                            "0.0.0.0:+80",
                            "0.0.0.0:http",
                            "::1:50051",
                            "[::1]50051",
                            "[::1",
                            "[]:80",
                            "[nothost]:80",
                            "256.0.0.1:80",
                            "1.2.3:80",
                            "-bad-.host:80",
                            "a..b:80",
                            "host name:80"}) {
    absl::Status status = ValidateHostPort("--listen", value);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(status.message(), HasSubstr("--listen: ")) << value;
  }
  EXPECT_EQ(ValidateHostPort("ADVISOR_LISTEN", "0.0.0.0:99999").message(),
            "ADVISOR_LISTEN: \"0.0.0.0:99999\" is not HOST:PORT: invalid port \"99999\" "
            "(want 1-65535)");
  EXPECT_THAT(ValidateHostPort("--listen", "::1:50051").message(), HasSubstr("needs brackets"));
}

// Runs ParseCommand on `args` (without the program name) with one registered flag.
ParsedCommand Command(std::vector<std::string> args, const std::vector<std::string>& commands,
                      std::string_view default_command = "") {
  absl::FlagSaver saver;
  FlagSet flags("prog [a|b] [flags]", "Test program.");
  flags.String(FLAGS_level, "");
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return ParseCommand(flags, static_cast<int>(argv.size()), argv.data(), "prog", commands,
                      default_command);
}

TEST(ParseCommand, DefaultKnownUnknownAndMissingCommands) {
  EXPECT_EQ(Command({}, {"a", "b"}, "a").command, "a");
  EXPECT_FALSE(Command({}, {"a", "b"}, "a").exit_code);
  EXPECT_EQ(Command({"--level=debug", "b"}, {"a", "b"}, "a").command, "b");
  EXPECT_EQ(Command({"c"}, {"a", "b"}, "a").exit_code, 2);
  EXPECT_EQ(Command({"a", "b"}, {"a", "b"}, "a").exit_code, 2);
  EXPECT_EQ(Command({}, {"a", "b"}).exit_code, 2);  // no default: a command is required
  EXPECT_EQ(Command({"--help"}, {"a", "b"}).exit_code, 0);
  EXPECT_EQ(Command({"--bogus"}, {"a", "b"}, "a").exit_code, 2);
}

TEST(ParseCommand, FillsTheFlags) {
  absl::FlagSaver saver;
  FlagSet flags("prog [flags]", "Test program.");
  flags.String(FLAGS_level, "");
  std::vector<std::string> args = {"prog", "--level", "debug"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  EXPECT_FALSE(ParseCommand(flags, static_cast<int>(argv.size()), argv.data(), "prog").exit_code);
  EXPECT_EQ(absl::GetFlag(FLAGS_level), "debug");
}

TEST(ParseCommand, NoCommandsMeansNoPositionalArguments) {
  EXPECT_FALSE(Command({"--level=warn"}, {}).exit_code);
  EXPECT_EQ(Command({"extra"}, {}).exit_code, 2);
}

}  // namespace
}  // namespace advisor::config
