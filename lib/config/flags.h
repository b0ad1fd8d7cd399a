// Command-line flags and environment variables → typed settings, for every binary of the project,
// on top of abseil's flags.
//
// A binary declares its flags with ABSL_FLAG (name with underscores, default, help) and lists them
// in a FlagSet with the environment variable and the range each one takes. abseil owns the values
// and their syntax (absl::ParseFlag: absl::ParseDuration for durations, and ByteSize below); this
// layer adds what abseil's own absl::ParseCommandLine lacks or does differently: the variables, a
// flag beating its variable beating the default (so containers configure through the environment
// while a person at a shell can still override one setting), ranges, a help text that names the
// variables and hides secrets, and errors returned rather than printed with an exit. Every error
// names where the bad value came from ("--flush-interval: …" or "ADVISOR_FLUSH_INTERVAL: …"),
// because that is what the operator has to go and fix.
//
//   ABSL_FLAG(absl::Duration, flush_interval, absl::Seconds(5), "how often outcomes are written");
//
//   config::FlagSet flags("advisor-server [serve|migrate] [flags]", "The Connectivity Advisor.");
//   flags.Duration(FLAGS_flush_interval, "ADVISOR_FLUSH_INTERVAL");
//   const config::ParsedCommand cli = config::ParseCommand(flags, argc, argv, "advisor-server",
//                                                          {"serve", "migrate"}, "serve");
//   if (cli.exit_code) return *cli.exit_code;
//   absl::Duration flush = absl::GetFlag(FLAGS_flush_interval);
//
// Flags are spelled with dashes on the command line and in Help() ("--flush-interval"); the
// underscore spelling of the declaration is accepted too. abseil's registry is process-wide, so
// flags that several binaries share live in a library only those binaries link
// (lib/config/client_tls.h).
#ifndef ADVISOR_LIB_CONFIG_FLAGS_H_
#define ADVISOR_LIB_CONFIG_FLAGS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace advisor::config {

// Reads one environment variable; std::nullopt when it is not set. Tests pass a map-backed lookup.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();

// A size in bytes as a flag type: "1048576", or with a suffix: k/M/G (powers of 1000) or
// KiB/MiB/GiB (powers of 1024), e.g. "128MiB". Shown with the largest binary unit that divides it.
struct ByteSize {
  int64_t bytes = 0;
};
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

namespace flags_internal {
// How one kind of value is checked and shown in Help(); defined in flags.cc.
template <typename T>
struct Kind;
}  // namespace flags_internal

class FlagSet {
 public:
  // `usage_line` follows "usage: " in Help(), e.g. "advisor-server [serve|migrate] [flags]";
  // `summary` is a sentence or two on what the binary does.
  FlagSet(std::string usage_line, std::string summary);

  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // Registration of a flag declared with ABSL_FLAG: its name, help and default come from the
  // declaration. `env` is the variable ("ADVISOR_FLUSH_INTERVAL") or empty when the setting has
  // none. Parse() stores into the flag; read it with absl::GetFlag.
  void String(absl::Flag<std::string>& flag, std::string_view env);
  // A string whose value is never shown: Help() prints "(hidden)" instead of the default.
  void Secret(absl::Flag<std::string>& flag, std::string_view env);
  // A "host:port" string, checked with ValidateHostPort.
  void HostPort(absl::Flag<std::string>& flag, std::string_view env, bool allow_zero_port = false);
  // absl::ParseDuration syntax: "500ms", "5s", "1m30s", "2h". Without `min` the value must be > 0.
  void Duration(absl::Flag<absl::Duration>& flag, std::string_view env,
                std::optional<absl::Duration> min = std::nullopt,
                absl::Duration max = absl::InfiniteDuration());
  // Inclusive range [min, max].
  void Int(absl::Flag<int64_t>& flag, std::string_view env, int64_t min, int64_t max);
  // Inclusive range [min, max], in bytes.
  void Bytes(absl::Flag<ByteSize>& flag, std::string_view env, int64_t min, int64_t max);
  // Inclusive range [min, max]; NaN and infinities are refused.
  void Double(absl::Flag<double>& flag, std::string_view env, double min, double max);
  // "--name" alone means true; "--name=true|false" (also 1/0, yes/no, t/f, y/n) sets it
  // explicitly. The "--name value" form is not taken for booleans, so "--verbose serve" keeps
  // "serve" positional.
  void Bool(absl::Flag<bool>& flag, std::string_view env);

  // `args` excludes the program name. Accepts "--name=value" and "--name value" anywhere among the
  // positional arguments; everything after "--" is positional. Then fills each setting not given as
  // a flag from its variable (a variable set to the empty string counts as unset, so templated
  // manifests can leave it blank). Returns the positional arguments in order.
  // "--help" or "-h" anywhere before "--" stops parsing: help_requested() turns true and the result
  // is an empty list, so help works even beside a bad flag.
  absl::StatusOr<std::vector<std::string>> Parse(std::span<const std::string> args,
                                                 const EnvLookup& env = ProcessEnv());

  bool help_requested() const { return help_requested_; }

  // Usage line, summary, then one line per setting: flag, variable, default, help.
  std::string Help() const;

 private:
  struct Setting {
    std::string name;  // as typed and shown, with dashes: "flush-interval"
    std::string env;
    std::string help;
    std::string value_hint;    // "DURATION", "INT", … shown as --name=HINT
    std::string default_text;  // the default, already formatted
    bool is_bool = false;
    // Parses, checks and stores a value; the error does not yet say where the value came from.
    std::function<absl::Status(std::string_view)> set;
  };
  template <typename T>
  void Register(absl::Flag<T>& flag, std::string_view env, const flags_internal::Kind<T>& kind);
  void Add(Setting setting);
  const Setting* Find(std::string_view name) const;

  std::string usage_line_;
  std::string summary_;
  std::vector<Setting> settings_;
  // A registration mistake (duplicate name or variable) is reported by Parse(), not thrown.
  absl::Status registration_error_;
  bool help_requested_ = false;
};

// The contents of a file holding one secret, without the one trailing newline ("\n" or "\r\n")
// editors and `echo` add. An empty secret is an error; messages do not include the contents.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// Checks a "host:port" listen or target address. The host is an IPv4 address, a bracketed IPv6
// address ("[::]:50051") or a DNS name; the port is 1–65535, or 0 as well when `allow_zero` (bind
// any free port). Errors start with `what`, e.g. "--listen: …".
absl::Status ValidateHostPort(std::string_view what, std::string_view value,
                              bool allow_zero = false);

// What a binary's command line asks for: the command to run, or an exit code to return at once (0
// after printing the help, 2 after printing a usage error to stderr).
struct ParsedCommand {
  std::string command;
  std::optional<int> exit_code;
};

// Parses `argv` into `flags` and takes at most one positional argument, the command, which must be
// one of `commands`. Without one, `default_command` runs; an empty default makes the command
// required, and an empty `commands` list accepts no positional argument at all. Messages printed
// start with "<program>: ".
ParsedCommand ParseCommand(FlagSet& flags, int argc, char** argv, std::string_view program,
                           const std::vector<std::string>& commands = {},
                           std::string_view default_command = "");

}  // namespace advisor::config

#endif  // ADVISOR_LIB_CONFIG_FLAGS_H_
