// Command-line flags and environment variables → typed settings, for every binary of the project.
//
// Each setting is registered once with a flag name, an optional environment variable and a pointer
// to where its value goes; the value already in *target is the default. A flag beats the variable,
// which beats the default, so containers configure through the environment while a person at a
// shell can still override one setting. Every error names where the bad value came from
// ("--flush-interval: …" or "ADVISOR_FLUSH_INTERVAL: …"), because that is what the operator has to
// go and fix.
//
//   std::string listen = "0.0.0.0:50051";
//   absl::Duration flush = absl::Seconds(5);
//   config::FlagSet flags("advisor-server [serve|migrate] [flags]", "The Connectivity Advisor
//   service."); flags.HostPort("listen", "ADVISOR_LISTEN", &listen, "gRPC listen address");
//   flags.Duration("flush-interval", "ADVISOR_FLUSH_INTERVAL", &flush, "how often outcomes are
//   written"); auto positional = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); if
//   (flags.help_requested()) { std::cout << flags.Help(); return 0; } if (!positional.ok()) {
//   std::cerr << positional.status().message() << "\n"; return 2; }
#ifndef ADVISOR_LIB_CONFIG_FLAGS_H_
#define ADVISOR_LIB_CONFIG_FLAGS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace advisor::config {

// Reads one environment variable; std::nullopt when it is not set. Tests pass a map-backed lookup.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();

class FlagSet {
 public:
  // `usage_line` follows "usage: " in Help(), e.g. "advisor-server [serve|migrate] [flags]";
  // `summary` is a sentence or two on what the binary does.
  FlagSet(std::string usage_line, std::string summary);

  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // Registration. `name` is the flag without its dashes ("flush-interval"); `env` is the variable
  // ("ADVISOR_FLUSH_INTERVAL") or empty when the setting has none. Targets must outlive Parse().
  void String(std::string_view name, std::string_view env, std::string* target,
              std::string_view help);
  // A string whose value is never shown: Help() prints "(hidden)" instead of the default.
  void Secret(std::string_view name, std::string_view env, std::string* target,
              std::string_view help);
  // A "host:port" string, checked with ValidateHostPort.
  void HostPort(std::string_view name, std::string_view env, std::string* target,
                std::string_view help, bool allow_zero_port = false);
  // absl::ParseDuration syntax: "500ms", "5s", "1m30s", "2h". Without `min` the value must be > 0.
  void Duration(std::string_view name, std::string_view env, absl::Duration* target,
                std::string_view help, std::optional<absl::Duration> min = std::nullopt,
                absl::Duration max = absl::InfiniteDuration());
  // Inclusive range [min, max].
  void Int(std::string_view name, std::string_view env, int64_t* target, std::string_view help,
           int64_t min, int64_t max);
  // A size in bytes, inclusive range [min, max]: "1048576", or with a suffix: k/M/G (powers of
  // 1000) or KiB/MiB/GiB (powers of 1024), e.g. "128MiB".
  void Bytes(std::string_view name, std::string_view env, int64_t* target, std::string_view help,
             int64_t min, int64_t max);
  // Inclusive range [min, max]; NaN and infinities are refused.
  void Double(std::string_view name, std::string_view env, double* target, std::string_view help,
              double min, double max);
  // "--name" alone means true; "--name=true|false" (also 1/0/yes/no) sets it explicitly. The
  // "--name value" form is not taken for booleans, so "--verbose serve" keeps "serve" positional.
  void Bool(std::string_view name, std::string_view env, bool* target, std::string_view help);

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
    std::string name;
    std::string env;
    std::string help;
    std::string value_hint;    // "DURATION", "INT", … shown as --name=HINT
    std::string default_text;  // the target's value at registration, already formatted
    bool is_bool = false;
    // Parses and stores a value; the error message does not yet say where the value came from.
    std::function<absl::Status(std::string_view)> set;
  };

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
