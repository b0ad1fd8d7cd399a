// The flag layer of flags.h: an argv scan, the environment fallback, ranges and the help text
// around abseil's flag values and their parsing (absl::ParseFlag).
#include "lib/config/flags.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <type_traits>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/marshalling.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace advisor::config {
namespace {

// This abseil is built with its own string_view type, distinct from std::string_view.
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

std::string Quoted(std::string_view value) { return absl::StrCat("\"", ToAbsl(value), "\""); }

std::optional<int64_t> ParseBytes(std::string_view text) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"KiB", int64_t{1} << 10}, {"MiB", int64_t{1} << 20}, {"GiB", int64_t{1} << 30}, {"k", 1000},
      {"M", 1'000'000},          {"G", 1'000'000'000}};
  std::string_view digits = text;
  int64_t unit = 1;
  for (const auto& [suffix, size] : kUnits) {
    if (digits.ends_with(suffix)) {
      digits.remove_suffix(suffix.size());
      unit = size;
      break;
    }
  }
  int64_t value = 0;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(ToAbsl(digits), &value) || value > INT64_MAX / unit) {
    return std::nullopt;
  }
  return value * unit;
}

std::string FormatBytes(int64_t bytes) {
  for (const auto& [suffix, shift] : {std::pair{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}) {
    if (bytes != 0 && bytes % (int64_t{1} << shift) == 0) {
      return absl::StrCat(bytes >> shift, suffix);
    }
  }
  return absl::StrCat(bytes);
}

bool IsDnsName(std::string_view host) {
  if (host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(ToAbsl(host), '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    // Underscores are not valid DNS, but Docker Compose service names use them and resolve fine.
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    }
  }
  return true;
}

// ValidateHostPort without the leading "what: ", for callers that add their own prefix.
absl::Status CheckHostPort(std::string_view value, bool allow_zero) {
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quoted(value), " is not HOST:PORT: ", ToAbsl(why)));
  };
  std::string_view host, port;
  if (value.starts_with("[")) {
    const size_t close = value.find(']');
    if (close == std::string_view::npos) return fail("unclosed [");
    host = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.starts_with(":")) return fail("missing :PORT");
    port = rest.substr(1);
    in6_addr address;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      return fail(absl::StrCat("invalid IPv6 address ", Quoted(host)));
    }
  } else {
    const size_t colon = value.rfind(':');
    if (colon == std::string_view::npos) return fail("missing :PORT");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.empty()) return fail("missing host (0.0.0.0 listens on every interface)");
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 address needs brackets, as in [::1]:50051");
    }
    if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
      in_addr address;
      if (inet_pton(AF_INET, std::string(host).c_str(), &address) != 1) {
        return fail(absl::StrCat("invalid IPv4 address ", Quoted(host)));
      }
    } else if (!IsDnsName(host)) {
      return fail(absl::StrCat("invalid host name ", Quoted(host)));
    }
  }
  const int min_port = allow_zero ? 0 : 1;
  int number = -1;
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos ||
      !absl::SimpleAtoi(ToAbsl(port), &number) || number < min_port || number > 65535) {
    return fail(absl::StrCat("invalid port ", Quoted(port), " (want ", min_port, "-65535)"));
  }
  return absl::OkStatus();
}

}  // namespace

namespace flags_internal {

template <typename T>
struct Kind {
  std::string hint{};     // shown as --name=HINT; booleans take no value and show none
  std::string invalid{};  // how a value abseil cannot parse is called: "invalid duration"
  std::string example{};  // appended to that: " (e.g. 500ms, 5s, 1m30s, 2h)"
  std::string range{};    // appended to the help: " [1, 64]"
  std::function<std::string(const T&)> format{};                    // the default in Help()
  std::function<absl::Status(std::string_view, const T&)> check{};  // the range; may be empty
};

}  // namespace flags_internal

namespace {

using flags_internal::Kind;

Kind<std::string> StringKind() {
  return {.hint = "STRING", .format = [](const std::string& value) { return Quoted(value); }};
}

Kind<std::string> SecretKind() {
  return {.hint = "SECRET", .format = [](const std::string&) { return std::string("(hidden)"); }};
}

Kind<std::string> HostPortKind(bool allow_zero_port) {
  return {.hint = "HOST:PORT",
          .format = [](const std::string& value) { return Quoted(value); },
          .check = [allow_zero_port](
                       std::string_view,
                       const std::string& value) { return CheckHostPort(value, allow_zero_port); }};
}

Kind<absl::Duration> DurationKind(std::optional<absl::Duration> min, absl::Duration max) {
  return {
      .hint = "DURATION",
      .invalid = "invalid duration",
      .example = " (e.g. 500ms, 5s, 1m30s, 2h)",
      .format = [](const absl::Duration& value) { return absl::FormatDuration(value); },
      .check =
          [min, max](std::string_view text, const absl::Duration& value) {
            if (!min.has_value() && value <= absl::ZeroDuration()) {
              return absl::InvalidArgumentError(
                  absl::StrCat("duration ", Quoted(text), " must be positive"));
            }
            if (min.has_value() && value < *min) {
              return absl::InvalidArgumentError(absl::StrCat(
                  "duration ", Quoted(text), " is below the minimum ", absl::FormatDuration(*min)));
            }
            if (value > max) {
              return absl::InvalidArgumentError(absl::StrCat(
                  "duration ", Quoted(text), " is above the maximum ", absl::FormatDuration(max)));
            }
            return absl::OkStatus();
          }};
}

Kind<int64_t> IntKind(int64_t min, int64_t max) {
  return {.hint = "INT",
          .invalid = "invalid integer",
          .range = absl::StrCat(" [", min, ", ", max, "]"),
          .format = [](const int64_t& value) { return absl::StrCat(value); },
          .check =
              [min, max](std::string_view, const int64_t& value) {
                if (value >= min && value <= max) return absl::OkStatus();
                return absl::InvalidArgumentError(
                    absl::StrCat(value, " is out of range [", min, ", ", max, "]"));
              }};
}

Kind<ByteSize> BytesKind(int64_t min, int64_t max) {
  const std::string range = absl::StrCat("[", FormatBytes(min), ", ", FormatBytes(max), "]");
  return {.hint = "BYTES",
          .invalid = "invalid size",
          .example = " (e.g. 1048576, 64M, 128MiB)",
          .range = absl::StrCat(" ", range),
          .format = [](const ByteSize& value) { return FormatBytes(value.bytes); },
          .check =
              [min, max, range](std::string_view text, const ByteSize& value) {
                if (value.bytes >= min && value.bytes <= max) return absl::OkStatus();
                return absl::InvalidArgumentError(
                    absl::StrCat(ToAbsl(text), " is out of range ", range));
              }};
}

Kind<double> DoubleKind(double min, double max) {
  return {.hint = "NUMBER",
          .invalid = "invalid number",
          .range = absl::StrCat(" [", min, ", ", max, "]"),
          // Six significant digits, so that a default converted from a float reads 0.6, not
          // 0.60000002384185791.
          .format = [](const double& value) { return absl::StrCat(value); },
          .check =
              [min, max](std::string_view text, const double& value) {
                if (!std::isfinite(value)) {
                  return absl::InvalidArgumentError(absl::StrCat("invalid number ", Quoted(text)));
                }
                if (value >= min && value <= max) return absl::OkStatus();
                return absl::InvalidArgumentError(
                    absl::StrCat(ToAbsl(text), " is out of range [", min, ", ", max, "]"));
              }};
}

Kind<bool> BoolKind() {
  return {.invalid = "invalid boolean",
          .example = " (want true/false, 1/0 or yes/no)",
          .format = [](const bool& value) { return std::string(value ? "true" : "false"); }};
}

}  // namespace

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  std::optional<int64_t> bytes = ParseBytes(std::string_view(text.data(), text.size()));
  if (!bytes.has_value()) {
    *error = "want a size such as 1048576, 64M or 128MiB";
    return false;
  }
  size->bytes = *bytes;
  return true;
}

std::string AbslUnparseFlag(ByteSize size) { return FormatBytes(size.bytes); }

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

FlagSet::FlagSet(std::string usage_line, std::string summary)
    : usage_line_(std::move(usage_line)), summary_(std::move(summary)) {}

void FlagSet::Add(Setting setting) {
  if (setting.name == "help" || setting.name == "h" || Find(setting.name) != nullptr) {
    registration_error_ = absl::InternalError(
        absl::StrCat("flag --", setting.name, " is registered twice or reserved"));
    return;
  }
  if (!setting.env.empty()) {
    for (const Setting& other : settings_) {
      if (other.env == setting.env) {
        registration_error_ = absl::InternalError(absl::StrCat(
            setting.env, " is registered for both --", other.name, " and --", setting.name));
        return;
      }
    }
  }
  settings_.push_back(std::move(setting));
}

const FlagSet::Setting* FlagSet::Find(std::string_view name) const {
  const std::string dashed = absl::StrReplaceAll(ToAbsl(name), {{"_", "-"}});
  for (const Setting& setting : settings_) {
    if (setting.name == dashed) return &setting;
  }
  return nullptr;
}

template <typename T>
void FlagSet::Register(absl::Flag<T>& flag, std::string_view env, const Kind<T>& kind) {
  const absl::CommandLineFlag& reflection = absl::GetFlagReflectionHandle(flag);
  // abseil keeps the declared default only as text; absl::GetFlag would give the current value.
  T default_value{};
  std::string ignored;
  absl::ParseFlag(absl::string_view(reflection.DefaultValue()), &default_value, &ignored);
  Add({.name = absl::StrReplaceAll(reflection.Name(), {{"_", "-"}}),
       .env = std::string(env),
       .help = absl::StrCat(reflection.Help(), kind.range),
       .value_hint = kind.hint,
       .default_text = kind.format(default_value),
       .is_bool = std::is_same_v<T, bool>,
       .set = [&flag, kind](std::string_view text) -> absl::Status {
         T value{};
         // abseil's own messages are empty for most types; ours quote the value.
         std::string abseil_message;
         if (!absl::ParseFlag(ToAbsl(text), &value, &abseil_message)) {
           return absl::InvalidArgumentError(
               absl::StrCat(kind.invalid, " ", Quoted(text), kind.example));
         }
         if (kind.check) {
           if (absl::Status status = kind.check(text, value); !status.ok()) return status;
         }
         absl::SetFlag(&flag, value);
         return absl::OkStatus();
       }});
}

void FlagSet::String(absl::Flag<std::string>& flag, std::string_view env) {
  Register(flag, env, StringKind());
}
void FlagSet::Secret(absl::Flag<std::string>& flag, std::string_view env) {
  Register(flag, env, SecretKind());
}
void FlagSet::HostPort(absl::Flag<std::string>& flag, std::string_view env, bool allow_zero_port) {
  Register(flag, env, HostPortKind(allow_zero_port));
}
void FlagSet::Duration(absl::Flag<absl::Duration>& flag, std::string_view env,
                       std::optional<absl::Duration> min, absl::Duration max) {
  Register(flag, env, DurationKind(min, max));
}
void FlagSet::Int(absl::Flag<int64_t>& flag, std::string_view env, int64_t min, int64_t max) {
  Register(flag, env, IntKind(min, max));
}
void FlagSet::Bytes(absl::Flag<ByteSize>& flag, std::string_view env, int64_t min, int64_t max) {
  Register(flag, env, BytesKind(min, max));
}
void FlagSet::Double(absl::Flag<double>& flag, std::string_view env, double min, double max) {
  Register(flag, env, DoubleKind(min, max));
}
void FlagSet::Bool(absl::Flag<bool>& flag, std::string_view env) {
  Register(flag, env, BoolKind());
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(std::span<const std::string> args,
                                                        const EnvLookup& env) {
  help_requested_ = false;
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return std::vector<std::string>();
    }
  }
  if (!registration_error_.ok()) return registration_error_;

  std::vector<std::string> positional;
  std::vector<bool> from_flag(settings_.size(), false);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        args.end());
      break;
    }
    if (!absl::StartsWith(arg, "--")) {
      if (arg.size() > 1 && arg[0] == '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag ", arg, " (flags start with two dashes)"));
      }
      positional.push_back(arg);
      continue;
    }
    std::string_view body = std::string_view(arg).substr(2);
    std::optional<std::string_view> value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    const Setting* setting = Find(body);
    if (setting == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", ToAbsl(body)));
    }
    if (!value.has_value()) {
      if (setting->is_bool) {
        value = "true";
      } else if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "--")) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", ToAbsl(body), ": missing value"));
      }
    }
    if (absl::Status status = setting->set(*value); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", ToAbsl(body), ": ", status.message()));
    }
    from_flag[setting - settings_.data()] = true;
  }

  for (size_t i = 0; i < settings_.size(); ++i) {
    const Setting& setting = settings_[i];
    if (from_flag[i] || setting.env.empty()) continue;
    std::optional<std::string> value = env(setting.env);
    if (!value.has_value() || value->empty()) continue;
    if (absl::Status status = setting.set(*value); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(setting.env, ": ", status.message()));
    }
  }
  return positional;
}

std::string FlagSet::Help() const {
  struct Row {
    std::string flag, env, default_text, help;
  };
  std::vector<Row> rows;
  for (const Setting& setting : settings_) {
    rows.push_back({setting.is_bool ? absl::StrCat("--", setting.name)
                                    : absl::StrCat("--", setting.name, "=", setting.value_hint),
                    setting.env, absl::StrCat("default ", setting.default_text), setting.help});
  }
  rows.push_back({"--help, -h", "", "", "show this help and exit"});

  size_t flag_width = 0, env_width = 0, default_width = 0;
  for (const Row& row : rows) {
    flag_width = std::max(flag_width, row.flag.size());
    env_width = std::max(env_width, row.env.size());
    default_width = std::max(default_width, row.default_text.size());
  }
  auto pad = [](const std::string& text, size_t width) {
    return absl::StrCat(text, std::string(width - text.size() + 2, ' '));
  };

  std::string out = absl::StrCat("usage: ", usage_line_, "\n\n", summary_, "\n\n",
                                 "Flags (each may also be set by the environment variable shown; "
                                 "a flag beats the variable):\n");
  for (const Row& row : rows) {
    absl::StrAppend(&out, "  ", pad(row.flag, flag_width), pad(row.env, env_width),
                    pad(row.default_text, default_width), row.help, "\n");
  }
  return out;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  if (secret.ends_with("\n")) secret.pop_back();
  if (secret.ends_with("\r")) secret.pop_back();
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  return secret;
}

absl::Status ValidateHostPort(std::string_view what, std::string_view value, bool allow_zero) {
  if (absl::Status status = CheckHostPort(value, allow_zero); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), ": ", status.message()));
  }
  return absl::OkStatus();
}

ParsedCommand ParseCommand(FlagSet& flags, int argc, char** argv, std::string_view program,
                           const std::vector<std::string>& commands,
                           std::string_view default_command) {
  auto usage_error = [program](std::string_view message) {
    std::cerr << program << ": " << message << "\n";
    return ParsedCommand{.command = "", .exit_code = 2};
  };
  auto positional = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return {.command = "", .exit_code = 0};
  }
  if (!positional.ok()) return usage_error(std::string(positional.status().message()));
  const std::string expected = absl::StrJoin(commands, ", ");
  if (commands.empty()) {
    if (positional->empty()) return {};
    return usage_error(absl::StrCat("unexpected argument '", positional->front(), "'"));
  }
  if (positional->size() > 1) {
    return usage_error(absl::StrCat("expected one command (", expected, "), got '",
                                    absl::StrJoin(*positional, " "), "'; see --help"));
  }
  if (positional->empty()) {
    if (default_command.empty()) {
      return usage_error(absl::StrCat("expected a command (", expected, "); see --help"));
    }
    return {.command = std::string(default_command), .exit_code = std::nullopt};
  }
  if (std::find(commands.begin(), commands.end(), positional->front()) == commands.end()) {
    return usage_error(absl::StrCat("unknown command '", positional->front(), "' (expected ",
                                    expected, "; see --help)"));
  }
  return {.command = positional->front(), .exit_code = std::nullopt};
}

}  // namespace advisor::config
