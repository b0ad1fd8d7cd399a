#include "lib/turn/turn_url.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/turn/address.h"

namespace advisor::turn {
namespace {

std::string Quoted(std::string_view text) { return absl::StrCat("\"", std::string(text), "\""); }

}  // namespace

absl::StatusOr<TurnUrl> ParseTurnUrl(std::string_view url) {
  const auto fail = [url](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("TURN URL ", Quoted(url), ": ", std::string(why)));
  };
  TurnUrl parsed;
  parsed.text = std::string(url);

  const size_t colon = url.find(':');
  if (colon == std::string_view::npos) return fail("no scheme (expected turn: or turns:)");
  const std::string scheme = absl::AsciiStrToLower(std::string(url.substr(0, colon)));
  if (scheme == "turns") {
    parsed.secure = true;
  } else if (scheme != "turn") {
    return fail(absl::StrCat("unknown scheme ", Quoted(scheme), " (expected turn or turns)"));
  }
  std::string_view rest = url.substr(colon + 1);
  if (rest.starts_with("//")) return fail("RFC 7065 TURN URLs have no \"//\" after the scheme");

  std::optional<std::string_view> query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find_first_of("@/#") != std::string_view::npos) {
    return fail("only host[:port] may come before the query");
  }

  std::string_view port_text;
  bool has_port = false;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("'[' without ']'");
    parsed.host = std::string(rest.substr(1, close - 1));
    if (!SocketAddress::Parse(parsed.host, 0).ok() || parsed.host.find(':') == std::string::npos) {
      return fail(absl::StrCat(Quoted(parsed.host), " in brackets is not an IPv6 address"));
    }
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return fail("unexpected text after ']'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const size_t host_end = rest.find(':');
    if (host_end != std::string_view::npos) {
      if (rest.find(':', host_end + 1) != std::string_view::npos) {
        return fail("an IPv6 address must be in brackets");
      }
      has_port = true;
      port_text = rest.substr(host_end + 1);
    }
    parsed.host = std::string(rest.substr(0, host_end));
    const bool valid = std::ranges::all_of(parsed.host, [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
    if (!valid) return fail(absl::StrCat("invalid host ", Quoted(parsed.host)));
  }
  if (parsed.host.empty()) return fail("no host");

  parsed.port = parsed.secure ? 5349 : 3478;
  if (has_port) {
    unsigned value = 0;
    const char* end = port_text.data() + port_text.size();
    const auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
    if (port_text.empty() || port_text.size() > 5 || ec != std::errc() || ptr != end ||
        value == 0 || value > 65535) {
      return fail(absl::StrCat("bad port ", Quoted(port_text), " (expected 1-65535)"));
    }
    parsed.port = static_cast<uint16_t>(value);
  }

  std::optional<std::string> transport;
  if (query) {
    if (query->empty()) return fail("empty query after '?'");
    for (absl::string_view param :
         absl::StrSplit(absl::string_view(query->data(), query->size()), '&')) {
      const std::pair<std::string, std::string> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
      if (absl::AsciiStrToLower(kv.first) != "transport") {
        return fail(absl::StrCat("unknown parameter ", Quoted(std::string(param))));
      }
      if (transport) return fail("transport given twice");
      transport = absl::AsciiStrToLower(kv.second);
    }
  }
  if (!transport) {
    parsed.transport = parsed.secure ? Transport::kTls : Transport::kUdp;
  } else if (*transport == "tcp") {
    parsed.transport = parsed.secure ? Transport::kTls : Transport::kTcp;
  } else if (*transport == "udp") {
    if (parsed.secure)
      return fail("turns with transport=udp would be DTLS, which is not supported");
    parsed.transport = Transport::kUdp;
  } else {
    return fail(absl::StrCat("unknown transport ", Quoted(*transport), " (expected udp or tcp)"));
  }
  return parsed;
}

}  // namespace advisor::turn
