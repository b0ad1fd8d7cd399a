// JWKS parsing and key generation. The JWT library takes PEM keys, so each JWK's members are
// turned into an OpenSSL key (EVP_PKEY_fromdata) and written out as PEM. The JSON side is
// protobuf's JSON mapping, into the messages of formats/jwks.proto.
#include "lib/auth/jwks.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <span>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "connectivity/advisor/formats/jwks.pb.h"

namespace advisor::auth {
namespace {

using ::connectivity::advisor::formats::Jwk;
using ::connectivity::advisor::formats::Jwks;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Struct;

// A JWKS with more than this is not a key file (and reading it whole would be a mistake).
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr size_t kMinHmacKeyBytes = 32;  // RFC 7518 §3.2: at least the hash size
constexpr int kMinRsaBits = 2048;
constexpr size_t kP256Bytes = 32;

absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

// Kids, algorithm and key type names go into error messages and logs: control bytes and non-ASCII
// are escaped.
std::string Quote(std::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(Absl(text)), "\"");
}

// The first line of a protobuf JSON parser error: the lines after it quote the input around the
// error, which in a keys file may be key material.
std::string FirstLine(const google::protobuf::util::Status& status) {
  std::string message = status.message().ToString();
  return message.substr(0, message.find('\n'));
}

// The Jwk field of a member name of the tables below, which name members as RFC 7517 spells them.
const FieldDescriptor* JwkField(const char* name) {
  return Jwk::descriptor()->FindFieldByName(name);
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// RFC 7515 base64url without padding; anything else (padding, whitespace, the standard alphabet)
// is refused rather than guessed at.
std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string standard;
  standard.reserve(text.size() + 3);
  for (char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      standard.push_back(c);
    } else if (c == '-') {
      standard.push_back('+');
    } else if (c == '_') {
      standard.push_back('/');
    } else {
      return std::nullopt;
    }
  }
  const size_t padding = (4 - standard.size() % 4) % 4;
  standard.append(padding, '=');
  std::string out(standard.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

absl::StatusOr<std::string> Pem(EVP_PKEY* key, bool private_part) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return absl::InternalError("BIO_new failed");
  const int ok =
      private_part ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                   : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) return absl::InternalError("cannot write the key as PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// Reads JWK member `name` as base64url bytes. A missing member is std::nullopt when !required.
absl::StatusOr<std::optional<std::string>> Member(const Jwk& jwk, const char* name, bool required) {
  const FieldDescriptor* field = JwkField(name);
  if (field == nullptr) return absl::InternalError(absl::StrCat("no JWK member ", name));
  if (!jwk.GetReflection()->HasField(jwk, field)) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("missing \"", name, "\""));
    return std::optional<std::string>();
  }
  std::optional<std::string> bytes = Base64UrlDecode(jwk.GetReflection()->GetString(jwk, field));
  if (!bytes || bytes->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not base64url"));
  }
  return bytes;
}

Bn ToBn(const std::string& bytes) {
  return Bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()), nullptr));
}

// Builds an OpenSSL key from the parameters in `bld` and checks it: the public part is valid (an
// EC point on the curve) and, with a private part, the two belong together.
absl::StatusOr<Pkey> FromData(const char* type, OSSL_PARAM_BLD* bld, bool has_private) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError("OpenSSL cannot build the key");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, has_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    return absl::InvalidArgumentError("OpenSSL refuses the key parameters");
  }
  Pkey key(raw);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError("the public key is not valid");
  }
  if (has_private && EVP_PKEY_pairwise_check(check.get()) != 1) {
    return absl::InvalidArgumentError("the private part does not match the public key");
  }
  return key;
}

absl::Status SetPem(EVP_PKEY* pkey, bool has_private, Key& key) {
  absl::StatusOr<std::string> pub = Pem(pkey, false);
  if (!pub.ok()) return pub.status();
  key.verify_key = *std::move(pub);
  if (has_private) {
    absl::StatusOr<std::string> priv = Pem(pkey, true);
    if (!priv.ok()) return priv.status();
    key.signing_key = *std::move(priv);
  }
  return absl::OkStatus();
}

absl::Status ParseOct(const Jwk& jwk, Key& key) {
  absl::StatusOr<std::optional<std::string>> k = Member(jwk, "k", true);
  if (!k.ok()) return k.status();
  if ((*k)->size() < kMinHmacKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"k\" has ", (*k)->size(), " bytes; HS256 needs at least ", kMinHmacKeyBytes));
  }
  key.verify_key = **k;
  key.signing_key = **k;
  return absl::OkStatus();
}

absl::Status ParseEc(const Jwk& jwk, Key& key) {
  absl::StatusOr<std::optional<std::string>> x = Member(jwk, "x", true);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::optional<std::string>> y = Member(jwk, "y", true);
  if (!y.ok()) return y.status();
  absl::StatusOr<std::optional<std::string>> d = Member(jwk, "d", false);
  if (!d.ok()) return d.status();
  if ((*x)->size() != kP256Bytes || (*y)->size() != kP256Bytes ||
      (d->has_value() && (*d)->size() != kP256Bytes)) {
    return absl::InvalidArgumentError("P-256 coordinates and \"d\" must be 32 bytes each");
  }
  const std::string point = absl::StrCat("\x04", **x, **y);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  Bn priv = d->has_value() ? ToBn(**d) : nullptr;
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1 ||
      (priv != nullptr &&
       OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1)) {
    return absl::InternalError("OpenSSL cannot hold the EC parameters");
  }
  absl::StatusOr<Pkey> pkey = FromData("EC", bld.get(), priv != nullptr);
  if (!pkey.ok()) return pkey.status();
  return SetPem(pkey->get(), priv != nullptr, key);
}

absl::Status ParseRsa(const Jwk& jwk, Key& key) {
  struct Part {
    const char* member;
    const char* param;
  };
  static constexpr Part kPublic[] = {{"n", OSSL_PKEY_PARAM_RSA_N}, {"e", OSSL_PKEY_PARAM_RSA_E}};
  // RFC 7518 §6.3.2: "d" alone, or "d" with all of the CRT members.
  static constexpr Part kCrt[] = {{"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
                                  {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
                                  {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
                                  {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
                                  {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr) return absl::InternalError("OSSL_PARAM_BLD_new failed");
  std::vector<Bn> numbers;  // the builder keeps pointers until OSSL_PARAM_BLD_to_param
  auto push = [&](const Part& part, bool required) -> absl::StatusOr<bool> {
    absl::StatusOr<std::optional<std::string>> bytes = Member(jwk, part.member, required);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) return false;
    numbers.push_back(ToBn(**bytes));
    if (numbers.back() == nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), part.param, numbers.back().get()) != 1) {
      return absl::InternalError("OpenSSL cannot hold the RSA parameters");
    }
    return true;
  };
  for (const Part& part : kPublic) {
    if (absl::StatusOr<bool> pushed = push(part, true); !pushed.ok()) return pushed.status();
  }
  absl::StatusOr<bool> has_private = push({"d", OSSL_PKEY_PARAM_RSA_D}, false);
  if (!has_private.ok()) return has_private.status();
  if (*has_private && jwk.has_p()) {
    for (const Part& part : kCrt) {
      if (absl::StatusOr<bool> pushed = push(part, true); !pushed.ok()) return pushed.status();
    }
  }
  absl::StatusOr<Pkey> pkey = FromData("RSA", bld.get(), *has_private);
  if (!pkey.ok()) return pkey.status();
  if (const int bits = EVP_PKEY_get_bits(pkey->get()); bits < kMinRsaBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus has ", bits, " bits; at least ", kMinRsaBits, " are needed"));
  }
  return SetPem(pkey->get(), *has_private, key);
}

std::string Describe(size_t index, const Jwk& jwk) {
  std::string out = absl::StrCat("keys[", index, "]");
  if (jwk.has_kid()) absl::StrAppend(&out, " (kid ", Quote(jwk.kid()), ")");
  return out;
}

// Parses one JWK; `members` is the same object as parsed JSON, for what the typed parse does not
// keep: that a member is present but null. std::nullopt: a key of a kind this service does not
// use, skipped.
absl::StatusOr<std::optional<Key>> ParseKey(const Jwk& jwk, const Struct& members) {
  if (!jwk.has_kty()) return absl::InvalidArgumentError("missing \"kty\"");
  // Any "use" but "sig" skips the key, a null one too.
  if (members.fields().contains("use") && jwk.use() != "sig") return std::optional<Key>();
  Key key;
  if (jwk.kty() == "oct") {
    key.alg = Algorithm::kHS256;
  } else if (jwk.kty() == "EC") {
    if (!jwk.has_crv()) return absl::InvalidArgumentError("missing \"crv\"");
    if (jwk.crv() != "P-256") return std::optional<Key>();
    key.alg = Algorithm::kES256;
  } else if (jwk.kty() == "RSA") {
    key.alg = Algorithm::kRS256;
  } else {
    return std::optional<Key>();
  }
  // The typed parse takes a null member as absent, which would turn "d": null into a public key.
  for (const auto& [name, value] : members.fields()) {
    if (value.has_null_value() && JwkField(name.c_str()) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a string"));
    }
  }
  if (jwk.has_alg() && jwk.alg() != AlgorithmName(key.alg)) {
    return absl::InvalidArgumentError(absl::StrCat("\"alg\" ", Quote(jwk.alg()),
                                                   " does not match kty ", Quote(jwk.kty()), " (",
                                                   Absl(AlgorithmName(key.alg)), ")"));
  }
  if (jwk.kid().empty()) {
    return absl::InvalidArgumentError("missing \"kid\" (tokens choose their key by kid)");
  }
  key.kid = jwk.kid();
  absl::Status parsed = key.alg == Algorithm::kHS256   ? ParseOct(jwk, key)
                        : key.alg == Algorithm::kES256 ? ParseEc(jwk, key)
                                                       : ParseRsa(jwk, key);
  if (!parsed.ok()) return parsed;
  return std::optional<Key>(std::move(key));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr)
    return absl::NotFoundError(absl::StrCat("cannot open: ", std::strerror(errno)));
  std::string text;
  char buffer[8192];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat("larger than ", kMaxFileBytes, " bytes"));
    }
  }
  if (std::ferror(file.get())) {
    return absl::InternalError(absl::StrCat("cannot read: ", std::strerror(errno)));
  }
  return text;
}

absl::StatusOr<std::string> BnParam(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return absl::InternalError(absl::StrCat("cannot read key parameter ", name));
  }
  Bn bn(raw);
  std::string bytes(pad_to > 0 ? static_cast<size_t>(pad_to) : BN_num_bytes(bn.get()), '\0');
  auto* out = reinterpret_cast<unsigned char*>(bytes.data());
  if (pad_to > 0 ? BN_bn2binpad(bn.get(), out, pad_to) < 0 : BN_bn2bin(bn.get(), out) < 0) {
    return absl::InternalError(absl::StrCat("cannot encode key parameter ", name));
  }
  return Base64UrlEncode(bytes);
}

}  // namespace

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHS256:
      return "HS256";
    case Algorithm::kES256:
      return "ES256";
    case Algorithm::kRS256:
      return "RS256";
  }
  return "HS256";
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm alg : {Algorithm::kHS256, Algorithm::kES256, Algorithm::kRS256}) {
    if (name == AlgorithmName(alg)) return alg;
  }
  return std::nullopt;
}

absl::StatusOr<KeySet> KeySet::FromJson(std::string_view json) {
  // First as any JSON: for the refusals the typed parse would not make (an object for the keys
  // array, a null key), and because it refuses a member given twice where the typed parse would
  // append to "keys".
  google::protobuf::Value doc;
  const google::protobuf::StringPiece text(json.data(), json.size());
  if (auto parsed = google::protobuf::util::JsonStringToMessage(text, &doc); !parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", FirstLine(parsed)));
  }
  const google::protobuf::ListValue* list = nullptr;
  if (doc.has_struct_value()) {
    auto keys = doc.struct_value().fields().find("keys");
    if (keys != doc.struct_value().fields().end() && keys->second.has_list_value()) {
      list = &keys->second.list_value();
    }
  }
  if (list == nullptr) return absl::InvalidArgumentError("not a JWKS: no \"keys\" array");
  for (int i = 0; i < list->values_size(); ++i) {
    if (!list->values(i).has_struct_value()) {
      return absl::InvalidArgumentError(absl::StrCat("keys[", i, "]: not a JSON object"));
    }
  }
  Jwks jwks;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // JWKs carry members this service does not read
  if (auto parsed = google::protobuf::util::JsonStringToMessage(text, &jwks, options);
      !parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JWKS: ", FirstLine(parsed)));
  }
  // Every element is an object, so each made one Jwk.
  if (jwks.keys_size() != list->values_size()) {
    return absl::InternalError("JWKS parsed twice differs");
  }
  KeySet set;
  std::set<std::string> kids;
  for (int i = 0; i < jwks.keys_size(); ++i) {
    const Jwk& jwk = jwks.keys(i);
    const size_t index = static_cast<size_t>(i);
    absl::StatusOr<std::optional<Key>> key = ParseKey(jwk, list->values(i).struct_value());
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(index, jwk), ": ", key.status().message()));
    }
    if (!key->has_value()) continue;
    if (!kids.insert((*key)->kid).second) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(index, jwk), ": duplicate kid"));
    }
    set.keys_.push_back(**std::move(key));
  }
  if (set.keys_.empty()) {
    return absl::InvalidArgumentError(
        "no usable key (want kty \"oct\" for HS256, \"EC\" P-256 for ES256 or \"RSA\" for "
        "RS256, with a kid and use \"sig\" if any)");
  }
  return set;
}

absl::StatusOr<KeySet> KeySet::FromFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  absl::StatusOr<KeySet> set = text.ok() ? FromJson(*text) : text.status();
  if (!set.ok()) {
    return absl::Status(set.status().code(),
                        absl::StrCat("keys file ", path, ": ", set.status().message()));
  }
  return set;
}

const Key* KeySet::Find(std::string_view kid) const {
  for (const Key& key : keys_) {
    if (key.kid == kid) return &key;
  }
  return nullptr;
}

const Key* KeySet::FirstSigningKey() const {
  for (const Key& key : keys_) {
    if (key.can_sign()) return &key;
  }
  return nullptr;
}

absl::StatusOr<std::string> GenerateJwks(std::string_view alg_name, std::string_view kid) {
  if (kid.empty()) return absl::InvalidArgumentError("the kid must not be empty");
  std::optional<Algorithm> alg = ParseAlgorithm(alg_name);
  if (!alg) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown algorithm \"", Absl(alg_name), "\" (want HS256, ES256 or RS256)"));
  }
  Jwks jwks;
  Jwk& jwk = *jwks.add_keys();
  jwk.set_kid(std::string(kid));
  jwk.set_use("sig");
  jwk.set_alg(std::string(alg_name));
  if (*alg == Algorithm::kHS256) {
    std::string secret(kMinHmacKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                   static_cast<int>(secret.size())) != 1) {
      return absl::InternalError("RAND_bytes failed");
    }
    jwk.set_kty("oct");
    jwk.set_k(Base64UrlEncode(secret));
  } else {
    Pkey key(*alg == Algorithm::kES256
                 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                 : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kMinRsaBits)));
    if (key == nullptr) return absl::InternalError("key generation failed");
    struct Param {
      const char* member;
      const char* name;
      int pad_to;
    };
    constexpr int kPad = static_cast<int>(kP256Bytes);
    static constexpr Param kEc[] = {{"x", OSSL_PKEY_PARAM_EC_PUB_X, kPad},
                                    {"y", OSSL_PKEY_PARAM_EC_PUB_Y, kPad},
                                    {"d", OSSL_PKEY_PARAM_PRIV_KEY, kPad}};
    static constexpr Param kRsa[] = {
        {"n", OSSL_PKEY_PARAM_RSA_N, 0},          {"e", OSSL_PKEY_PARAM_RSA_E, 0},
        {"d", OSSL_PKEY_PARAM_RSA_D, 0},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1, 0},
        {"q", OSSL_PKEY_PARAM_RSA_FACTOR2, 0},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1, 0},
        {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2, 0}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0}};
    if (*alg == Algorithm::kES256) {
      jwk.set_kty("EC");
      jwk.set_crv("P-256");
    } else {
      jwk.set_kty("RSA");
    }
    for (const Param& param :
         *alg == Algorithm::kES256 ? std::span<const Param>(kEc) : std::span<const Param>(kRsa)) {
      absl::StatusOr<std::string> value = BnParam(key.get(), param.name, param.pad_to);
      if (!value.ok()) return value.status();
      const FieldDescriptor* field = JwkField(param.member);
      if (field == nullptr)
        return absl::InternalError(absl::StrCat("no JWK member ", param.member));
      jwk.GetReflection()->SetString(&jwk, field, *std::move(value));
    }
  }
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;  // "dp", not a camel-cased name
  std::string out;
  if (auto printed = google::protobuf::util::MessageToJsonString(jwks, &out, print);
      !printed.ok()) {
    return absl::InternalError(absl::StrCat("cannot print the JWKS: ", FirstLine(printed)));
  }
  if (!out.ends_with('\n')) out.push_back('\n');
  return out;
}

}  // namespace advisor::auth
