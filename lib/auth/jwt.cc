// JWT verification (with its cache and key-file reload) and minting, on top of cpp-jwt.
//
// cpp-jwt checks the signature and signs; its own claim checks are not used because they read the
// system clock, and every time decision here must use the caller's `now`. The header and claims
// are decoded here, into google.protobuf.Struct, so that each value's JSON type is checked exactly
// (exp a number, not "123"; scope a string). cpp-jwt's base64 decoder indexes a table with raw
// (possibly negative) chars, so a token is first checked to be plain base64url segments: no byte
// the library could mishandle ever reaches it.
#include "lib/auth/jwt.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cmath>
#include <jwt/jwt.hpp>
#include <limits>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace advisor::auth {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

// Enough that threads on different tokens rarely meet on one lock; also what one eviction clears.
constexpr size_t kShards = 16;
// A kid is attacker-controlled text that ends up in refusal messages and logs.
constexpr size_t kMaxQuotedBytes = 64;

absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

absl::Status Refuse(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("authorization: ", why));
}

// Control bytes and non-ASCII are escaped, so that a message stays one line of plain text.
std::string Quote(std::string_view text) {
  const bool cut = text.size() > kMaxQuotedBytes;
  std::string quoted =
      absl::StrCat("\"", absl::CHexEscape(Absl(text.substr(0, kMaxQuotedBytes))), "\"");
  return cut ? absl::StrCat(quoted, "…") : quoted;
}

std::string Ago(absl::Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1))); }

// The time claims of a verified token, kept in the cache so that a cached token is judged by the
// same rules as a fresh one.
struct Times {
  absl::Time exp;
  std::optional<absl::Time> nbf, iat;
};

absl::Status CheckTimes(const Times& t, absl::Time now, absl::Duration skew) {
  if (now - t.exp > skew) return Refuse(absl::StrCat("token expired ", Ago(now - t.exp), " ago"));
  if (t.nbf && *t.nbf - now > skew) {
    return Refuse(absl::StrCat("token not valid yet: nbf is ", Ago(*t.nbf - now), " from now"));
  }
  if (t.iat && *t.iat - now > skew) {
    return Refuse(
        absl::StrCat("token issued in the future: iat is ", Ago(*t.iat - now), " from now"));
  }
  return absl::OkStatus();
}

// Member `name` of a JSON object; nullptr when absent.
const Value* Find(const Struct& object, const char* name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// Member `name` when it is a string; nullptr when absent or of another type.
const std::string* FindString(const Struct& object, const char* name) {
  const Value* value = Find(object, name);
  return value != nullptr && value->has_string_value() ? &value->string_value() : nullptr;
}

// A NumericDate claim (RFC 7519 §2): seconds since the epoch, possibly fractional.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const Struct& claims, const char* name) {
  const Value* value = Find(claims, name);
  if (value == nullptr) return std::optional<absl::Time>();
  if (!value->has_number_value()) return Refuse(absl::StrCat(name, " is not a number"));
  const double seconds = value->number_value();
  if (!std::isfinite(seconds)) return Refuse(absl::StrCat(name, " is not a finite number"));
  return std::optional<absl::Time>(absl::UnixEpoch() + absl::Seconds(seconds));
}

bool IsCompactJws(std::string_view token) {
  int dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return dots == 2;
}

// A base64url segment holding a JSON object. The parser refuses a member given twice (which JSON
// libraries resolve differently: the signer may have meant the other one) and nesting deeper than
// protobuf's recursion limit.
std::optional<Struct> DecodeObject(std::string_view segment) {
  std::string json;
  if (!absl::WebSafeBase64Unescape(Absl(segment), &json)) return std::nullopt;
  Struct object;
  if (!google::protobuf::util::JsonStringToMessage(json, &object).ok()) return std::nullopt;
  return object;
}

bool IsNone(std::string_view alg) { return absl::EqualsIgnoreCase(Absl(alg), "none"); }

jwt::algorithm JwtAlgorithm(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHS256:
      return jwt::algorithm::HS256;
    case Algorithm::kES256:
      return jwt::algorithm::ES256;
    case Algorithm::kRS256:
      return jwt::algorithm::RS256;
  }
  return jwt::algorithm::HS256;
}

struct Verified {
  Principal principal;
  Times times;
};

// Signature and claims of one token against `keys`. `signature_checks` counts the checks done.
absl::StatusOr<Verified> VerifyToken(const KeySet& keys, const VerifierOptions& options,
                                     std::string_view token, absl::Time now,
                                     std::atomic<int64_t>& signature_checks) {
  if (!IsCompactJws(token)) {
    return Refuse("malformed token: not three base64url segments separated by dots");
  }
  const size_t first_dot = token.find('.');
  const size_t signed_part = token.rfind('.');
  std::optional<Struct> header = DecodeObject(token.substr(0, first_dot));
  if (!header) return Refuse("malformed token: the header is not a base64url JSON object");
  const std::string* alg = FindString(*header, "alg");
  if (alg == nullptr) return Refuse("malformed token: no alg");
  // A "typ" other than JWT (any case) is another kind of token, not to be taken for a client JWT
  // (RFC 8725 §3.11). An unsigned token, refused below, may lack the signature segment.
  if (!IsNone(*alg)) {
    if (const Value* typ = Find(*header, "typ");
        typ != nullptr &&
        (!typ->has_string_value() || !absl::EqualsIgnoreCase(typ->string_value(), "JWT"))) {
      return Refuse("malformed token: typ is not \"JWT\"");
    }
    if (signed_part + 1 == token.size()) return Refuse("malformed token: no signature");
  }
  std::optional<Struct> claims =
      DecodeObject(token.substr(first_dot + 1, signed_part - first_dot - 1));
  if (!claims) return Refuse("malformed token: the claims are not a base64url JSON object");
  if (IsNone(*alg)) return Refuse("unsigned tokens (alg none) are refused");
  const std::string* kid = FindString(*header, "kid");
  if (kid == nullptr) return Refuse("token has no kid");
  const Key* key = keys.Find(*kid);
  if (key == nullptr) return Refuse(absl::StrCat("unknown kid ", Quote(*kid)));
  // The key decides the algorithm, never the token: otherwise an HS256 token "signed" with an RSA
  // key's public PEM as the HMAC secret would verify.
  if (*alg != AlgorithmName(key->alg)) {
    return Refuse(absl::StrCat("algorithm ", Quote(*alg), " does not match key ", Quote(*kid), " (",
                               Absl(AlgorithmName(key->alg)), ")"));
  }

  signature_checks.fetch_add(1, std::memory_order_relaxed);
  try {
    jwt::jwt_signature signature(jwt::string_view(key->verify_key));
    auto [valid, error] = signature.verify(
        jwt::jwt_header(JwtAlgorithm(key->alg)), jwt::string_view(token.data(), signed_part),
        jwt::string_view(token.data() + signed_part + 1, token.size() - signed_part - 1));
    if (error || !valid) return Refuse("bad signature");
  } catch (const std::exception&) {
    return Refuse("bad signature");
  }

  Verified out;
  absl::StatusOr<std::optional<absl::Time>> exp = TimeClaim(*claims, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) return Refuse("token has no exp");
  out.times.exp = **exp;
  out.principal.expires = **exp;
  for (auto [name, target] : {std::pair{"nbf", &out.times.nbf}, std::pair{"iat", &out.times.iat}}) {
    absl::StatusOr<std::optional<absl::Time>> value = TimeClaim(*claims, name);
    if (!value.ok()) return value.status();
    *target = *value;
  }
  if (absl::Status times = CheckTimes(out.times, now, options.clock_skew); !times.ok()) {
    return times;
  }

  const Value* aud = Find(*claims, "aud");
  bool audience_ok = false;
  if (aud != nullptr && aud->has_string_value()) {
    audience_ok = aud->string_value() == options.audience;
  } else if (aud != nullptr && aud->has_list_value()) {
    for (const Value& item : aud->list_value().values()) {
      audience_ok |= item.has_string_value() && item.string_value() == options.audience;
    }
  }
  if (!audience_ok) {
    return Refuse(absl::StrCat("wrong audience: aud must contain ", Quote(options.audience)));
  }

  const std::string* sub = FindString(*claims, "sub");
  if (sub == nullptr || sub->empty()) return Refuse("token has no sub");
  if (sub->size() > kMaxSubjectBytes) {
    return Refuse(absl::StrCat("sub is longer than ", kMaxSubjectBytes, " bytes"));
  }
  out.principal.subject = *sub;

  if (const Value* scope = Find(*claims, "scope"); scope != nullptr) {
    if (!scope->has_string_value()) return Refuse("scope is not a string");
    for (absl::string_view item : absl::StrSplit(scope->string_value(), ' ', absl::SkipEmpty())) {
      out.principal.admin |= item == kAdminScope;
    }
  }
  return out;
}

// What identifies one version of the keys file. Kubernetes updates a mounted Secret by swapping a
// symlink to a new directory, so the inode (behind the symlink) changes even when size and mtime
// might not.
struct FileStamp {
  bool exists = false;
  int64_t mtime_ns = 0, ctime_ns = 0, size = 0;
  uint64_t inode = 0, device = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return {true,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec,
          static_cast<int64_t>(st.st_size),
          static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_dev)};
}

}  // namespace

struct JwtVerifier::State {
  struct Entry {
    Verified verified;
    uint64_t generation = 0;  // keys it was verified with; stale after a reload
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
  };

  VerifierOptions options;
  size_t shard_capacity = 1;
  std::array<Shard, kShards> shards;

  mutable absl::Mutex keys_mu;
  std::shared_ptr<const KeySet> keys ABSL_GUARDED_BY(keys_mu);
  std::atomic<uint64_t> generation{0};

  // Unix ns of the next stat() of the keys file; whoever moves it forward does the check.
  std::atomic<int64_t> next_check_ns{std::numeric_limits<int64_t>::min()};
  absl::Mutex reload_mu;
  FileStamp stamp ABSL_GUARDED_BY(reload_mu);

  std::atomic<int64_t> signature_checks{0};

  Shard& ShardFor(std::string_view token) {
    return shards[absl::Hash<absl::string_view>{}(Absl(token)) % kShards];
  }

  void ClearCache() {
    for (Shard& shard : shards) {
      absl::MutexLock lock(&shard.mu);
      shard.entries.clear();
    }
  }

  void MaybeReload(absl::Time now) {
    const int64_t now_ns = absl::ToUnixNanos(now);
    int64_t due = next_check_ns.load(std::memory_order_relaxed);
    if (now_ns < due) return;
    const int64_t next = now_ns + absl::ToInt64Nanoseconds(options.reload_check_interval);
    if (!next_check_ns.compare_exchange_strong(due, next, std::memory_order_relaxed)) return;

    absl::MutexLock lock(&reload_mu);
    const FileStamp current = Stamp(options.keys_file);
    if (current == stamp) return;
    // Remember even a bad version, so that it is reported once rather than at every check.
    stamp = current;
    const size_t loaded = key_count();
    if (!current.exists) {
      spdlog::error("keys file {}: cannot stat it; keeping the {} keys loaded before",
                    options.keys_file, loaded);
      return;
    }
    absl::StatusOr<KeySet> fresh = KeySet::FromFile(options.keys_file);
    if (!fresh.ok()) {
      spdlog::error("{}; keeping the {} keys loaded before", std::string(fresh.status().message()),
                    loaded);
      return;
    }
    const size_t count = fresh->size();
    {
      absl::MutexLock keys_lock(&keys_mu);
      keys = std::make_shared<const KeySet>(*std::move(fresh));
      generation.fetch_add(1, std::memory_order_acq_rel);
    }
    ClearCache();
    spdlog::info("keys file {} reloaded: {} keys", options.keys_file, count);
  }

  size_t key_count() const {
    absl::ReaderMutexLock lock(&keys_mu);
    return keys->size();
  }
};

JwtVerifier::JwtVerifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(VerifierOptions options) {
  if (options.keys_file.empty()) return absl::InvalidArgumentError("no keys file given");
  auto state = std::make_unique<State>();
  // Stamp before reading: a change in between is then seen by the first check, not missed.
  const FileStamp stamp = Stamp(options.keys_file);
  absl::StatusOr<KeySet> keys = KeySet::FromFile(options.keys_file);
  if (!keys.ok()) return keys.status();
  state->shard_capacity = std::max<size_t>(1, options.cache_entries / kShards);
  state->options = std::move(options);
  {
    absl::MutexLock lock(&state->reload_mu);
    state->stamp = stamp;
  }
  {
    absl::MutexLock lock(&state->keys_mu);
    state->keys = std::make_shared<const KeySet>(*std::move(keys));
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(state)));
}

absl::StatusOr<Principal> JwtVerifier::Verify(std::string_view jwt, absl::Time now) {
  State& s = *state_;
  s.MaybeReload(now);
  if (jwt.empty()) return Refuse("empty token");
  if (jwt.size() > kMaxTokenBytes) {
    return Refuse(absl::StrCat("token is longer than ", kMaxTokenBytes, " bytes"));
  }
  State::Shard& shard = s.ShardFor(jwt);
  {
    const uint64_t generation = s.generation.load(std::memory_order_acquire);
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.entries.find(Absl(jwt));
    if (it != shard.entries.end() && it->second.generation == generation) {
      if (absl::Status times = CheckTimes(it->second.verified.times, now, s.options.clock_skew);
          !times.ok()) {
        return times;
      }
      return it->second.verified.principal;
    }
  }

  std::shared_ptr<const KeySet> keys;
  uint64_t generation = 0;
  {
    absl::ReaderMutexLock lock(&s.keys_mu);
    keys = s.keys;
    generation = s.generation.load(std::memory_order_acquire);
  }
  absl::StatusOr<Verified> verified = VerifyToken(*keys, s.options, jwt, now, s.signature_checks);
  if (!verified.ok()) return verified.status();
  {
    absl::MutexLock lock(&shard.mu);
    // Clearing a whole shard keeps eviction O(shard) with no per-entry bookkeeping on hits; a
    // client whose token was dropped pays one signature check.
    if (shard.entries.size() >= s.shard_capacity) shard.entries.clear();
    shard.entries.insert_or_assign(std::string(jwt), State::Entry{*verified, generation});
  }
  return std::move(verified->principal);
}

bool JwtVerifier::Remembers(std::string_view jwt) const {
  State& s = *state_;
  State::Shard& shard = s.ShardFor(jwt);
  const uint64_t generation = s.generation.load(std::memory_order_acquire);
  absl::ReaderMutexLock lock(&shard.mu);
  auto it = shard.entries.find(Absl(jwt));
  return it != shard.entries.end() && it->second.generation == generation;
}

int64_t JwtVerifier::signature_checks() const {
  return state_->signature_checks.load(std::memory_order_relaxed);
}

size_t JwtVerifier::key_count() const { return state_->key_count(); }

absl::StatusOr<std::string> MintJwt(const KeySet& keys, const MintOptions& options) {
  const Key* key = options.kid.empty() ? keys.FirstSigningKey() : keys.Find(options.kid);
  if (key == nullptr) {
    return options.kid.empty()
               ? absl::NotFoundError("the key set has no key with a private part")
               : absl::NotFoundError(absl::StrCat("no key with kid ", Quote(options.kid)));
  }
  if (!key->can_sign()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", Quote(key->kid), " has no private part: it can only verify"));
  }
  if (options.subject.empty()) return absl::InvalidArgumentError("the subject must not be empty");
  if (options.subject.size() > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the subject is longer than ", kMaxSubjectBytes, " bytes"));
  }
  if (options.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the ttl must be positive");
  }
  try {
    jwt::jwt_object obj{jwt::params::algorithm(jwt::string_view(AlgorithmName(key->alg))),
                        jwt::params::secret(jwt::string_view(key->signing_key))};
    obj.header().add_header("kid", key->kid);
    obj.add_claim("sub", options.subject);
    obj.add_claim("aud", options.audience);
    obj.add_claim("iat", absl::ToUnixSeconds(options.issued_at));
    obj.add_claim("exp", absl::ToUnixSeconds(options.issued_at + options.ttl));
    std::vector<std::string> scopes;
    for (const std::string& scope : options.scopes) {
      for (absl::string_view item : absl::StrSplit(scope, ' ', absl::SkipEmpty())) {
        scopes.emplace_back(item);
      }
    }
    if (!scopes.empty()) obj.add_claim("scope", absl::StrJoin(scopes, " "));
    std::error_code ec;
    std::string token = obj.signature(ec);
    if (ec) return absl::InternalError(absl::StrCat("signing failed: ", ec.message()));
    return token;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("signing failed: ", e.what()));
  }
}

}  // namespace advisor::auth
