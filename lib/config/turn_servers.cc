#include "lib/config/turn_servers.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace advisor::config {
namespace {

constexpr size_t kMaxNameLength = 64;

struct CloseFile {
  void operator()(FILE* file) const { std::fclose(file); }
};

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// Whether `name` may be a server id or region: it ends up in metric labels, log lines and
// database keys, so it is kept to characters that need no quoting anywhere.
bool IsName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckName(const std::string& path, const std::string& name) {
  if (IsName(name)) return absl::OkStatus();
  return Invalid(path, absl::StrCat("\"", absl::CHexEscape(name), "\" must be 1 to ",
                                    kMaxNameLength, " letters, digits, '.', '_' or '-'"));
}

// Checks that `node` (at `path`) is a map with string keys, each one of `allowed` and none twice.
// An unknown key is quoted in the error only when `name_unknown` and it looks like a key: a
// malformed entry such as `{rest_secret:abc}` or `{rest_secret abc}` parses as one key that holds
// the secret. Under auth, where every value is secret, it is never quoted.
absl::Status CheckMap(const YAML::Node& node, const std::string& path,
                      std::initializer_list<std::string> allowed, bool name_unknown = true) {
  if (!node.IsMap()) return Invalid(path, "expected a map");
  const std::string expected = absl::StrJoin(allowed, ", ");
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) return Invalid(path, "keys must be strings");
    const std::string& key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Invalid(path, name_unknown && IsName(key)
                               ? absl::StrCat("unknown key \"", key, "\" (expected ", expected, ")")
                               : absl::StrCat("unknown key (expected ", expected, ")"));
    }
    if (!seen.insert(key).second) return Invalid(path, absl::StrCat("\"", key, "\" given twice"));
  }
  return absl::OkStatus();
}

// The string at `map[key]`; "" when the key is absent or null. The value is never quoted in an
// error, since it may be a secret.
absl::StatusOr<std::string> OptionalString(const YAML::Node& map, const std::string& key,
                                           const std::string& path) {
  const YAML::Node node = map[key];
  if (!node.IsDefined() || node.IsNull()) return std::string();
  if (!node.IsScalar()) return Invalid(absl::StrCat(path, ".", key), "expected a string");
  return node.Scalar();
}

absl::StatusOr<std::string> RequiredString(const YAML::Node& map, const std::string& key,
                                           const std::string& path) {
  absl::StatusOr<std::string> value = OptionalString(map, key, path);
  if (value.ok() && value->empty()) return Invalid(absl::StrCat(path, ".", key), "required");
  return value;
}

absl::StatusOr<std::vector<std::string>> ParseUrls(const YAML::Node& node,
                                                   const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) return Invalid(path, "required");
  if (!node.IsSequence()) return Invalid(path, "expected a list of TURN urls");
  if (node.size() == 0) return Invalid(path, "needs at least one url");
  std::vector<std::string> urls;
  for (size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) return Invalid(absl::StrCat(path, "[", i, "]"), "expected a string");
    urls.push_back(node[i].Scalar());
  }
  return urls;
}

absl::StatusOr<TurnAuth> ParseAuth(const YAML::Node& node, const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) {
    return Invalid(path, "required: {rest_secret: ...} or {username: ..., password: ...}");
  }
  if (absl::Status keys = CheckMap(node, path, {"rest_secret", "username", "password"},
                                   /*name_unknown=*/false);
      !keys.ok()) {
    return keys;
  }
  TurnAuth auth;
  for (auto [key, target] :
       {std::pair{"rest_secret", &auth.rest_secret}, std::pair{"username", &auth.username},
        std::pair{"password", &auth.password}}) {
    const YAML::Node value = node[key];
    absl::StatusOr<std::string> text = OptionalString(node, key, path);
    if (!text.ok()) return text.status();
    // Present but empty is a mistake of its own, and must not read as "that kind not chosen".
    if (value.IsDefined() && text->empty()) {
      return Invalid(absl::StrCat(path, ".", key), "must not be empty");
    }
    *target = *std::move(text);
  }
  const bool rest = !auth.rest_secret.empty();
  const bool user = !auth.username.empty();
  const bool password = !auth.password.empty();
  if (rest && (user || password)) {
    return Invalid(path, "either rest_secret or username and password, not both");
  }
  if (!rest && user != password) {
    return Invalid(path, user ? "username without password" : "password without username");
  }
  if (!rest && !user) return Invalid(path, "needs rest_secret, or username and password");
  return auth;
}

absl::StatusOr<TurnServerConfig> ParseServer(const YAML::Node& node, const std::string& path) {
  if (absl::Status keys = CheckMap(node, path, {"id", "urls", "region", "auth", "enabled"});
      !keys.ok()) {
    return keys;
  }
  TurnServerConfig server;

  absl::StatusOr<std::string> id = RequiredString(node, "id", path);
  if (!id.ok()) return id.status();
  if (absl::Status valid = CheckName(absl::StrCat(path, ".id"), *id); !valid.ok()) return valid;
  server.id = *std::move(id);

  const std::string urls_path = absl::StrCat(path, ".urls");
  absl::StatusOr<std::vector<std::string>> urls = ParseUrls(node["urls"], urls_path);
  if (!urls.ok()) return urls.status();
  server.urls = *std::move(urls);
  for (size_t i = 0; i < server.urls.size(); ++i) {
    absl::StatusOr<turn::TurnUrl> parsed = turn::ParseTurnUrl(server.urls[i]);
    if (!parsed.ok()) {
      return Invalid(absl::StrCat(urls_path, "[", i, "]"), std::string(parsed.status().message()));
    }
    server.parsed_urls.push_back(*std::move(parsed));
  }

  absl::StatusOr<std::string> region = OptionalString(node, "region", path);
  if (!region.ok()) return region.status();
  if (!region->empty()) {
    if (absl::Status valid = CheckName(absl::StrCat(path, ".region"), *region); !valid.ok()) {
      return valid;
    }
  }
  server.region = *std::move(region);

  absl::StatusOr<TurnAuth> auth = ParseAuth(node["auth"], absl::StrCat(path, ".auth"));
  if (!auth.ok()) return auth.status();
  server.auth = *std::move(auth);

  if (const YAML::Node enabled = node["enabled"]; enabled.IsDefined() && !enabled.IsNull()) {
    if (!enabled.IsScalar() || !YAML::convert<bool>::decode(enabled, server.enabled)) {
      return Invalid(absl::StrCat(path, ".enabled"), "expected true or false");
    }
  }
  return server;
}

absl::StatusOr<std::vector<TurnServerConfig>> ParseDocument(const YAML::Node& root) {
  std::vector<TurnServerConfig> servers;
  // An empty file is a deployment without TURN.
  if (!root.IsDefined() || root.IsNull()) return servers;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError("expected a map with a \"servers\" list at the top");
  }
  if (absl::Status keys = CheckMap(root, "top level", {"servers"}); !keys.ok()) return keys;
  const YAML::Node list = root["servers"];
  if (!list.IsDefined() || list.IsNull()) return servers;
  if (!list.IsSequence()) return Invalid("servers", "expected a list");

  std::map<std::string, size_t> index_of_id;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat("servers[", i, "]");
    absl::StatusOr<TurnServerConfig> server = ParseServer(list[i], path);
    if (!server.ok()) return server.status();
    if (auto [it, inserted] = index_of_id.emplace(server->id, i); !inserted) {
      return Invalid(
          absl::StrCat(path, ".id"),
          absl::StrCat("duplicate id \"", server->id, "\" (also servers[", it->second, "])"));
    }
    servers.push_back(*std::move(server));
  }
  return servers;
}

}  // namespace

absl::StatusOr<std::vector<TurnServerConfig>> ParseTurnServers(std::string_view yaml) {
  // yaml-cpp reports both syntax errors and misuse of nodes by throwing; neither leaves this file.
  try {
    return ParseDocument(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    // e.msg is one of yaml-cpp's fixed descriptions (at most with the one character of a bad
    // escape appended), never the text around the error, so no secret leaks through it.
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<std::vector<TurnServerConfig>> LoadTurnServersFile(const std::string& path) {
  std::unique_ptr<FILE, CloseFile> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("TURN servers file ", path));
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  // A directory opens fine and fails only here, with EISDIR.
  if (std::ferror(file.get())) {
    return absl::ErrnoToStatus(errno, absl::StrCat("TURN servers file ", path));
  }
  absl::StatusOr<std::vector<TurnServerConfig>> servers = ParseTurnServers(text);
  if (!servers.ok()) {
    return absl::Status(servers.status().code(),
                        absl::StrCat(path, ": ", servers.status().message()));
  }
  return servers;
}

}  // namespace advisor::config
