// The credentials of tls.h: PEM files read and checked with OpenSSL before gRPC is handed them.
#include "lib/config/tls.h"

#include <grpc/grpc_security.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace advisor::config {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// `what` names the file for the operator, e.g. "--tls-cert-file /etc/tls/tls.crt".
absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Bio MemoryBio(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in a PEM text; an error when there is none.
absl::StatusOr<std::vector<Cert>> ParseCertificates(const std::string& what,
                                                    const std::string& pem) {
  Bio bio = MemoryBio(pem);
  std::vector<Cert> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the read past the last certificate
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no PEM certificate in it"));
  }
  return certs;
}

// An encrypted key must not make OpenSSL prompt on the terminal: it is refused instead.
int NoPassword(char*, int, int, void*) { return 0; }

absl::StatusOr<Key> ParseKey(const std::string& what, const std::string& pem) {
  Bio bio = MemoryBio(pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  ERR_clear_error();
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no unencrypted PEM private key in it"));
  }
  return key;
}

struct Pems {
  std::string cert_chain, key;
};

// Reads a certificate chain and its key, checking that the key is the leaf's.
absl::StatusOr<Pems> ReadKeyPair(const std::string& cert_what, const std::string& cert_path,
                                 const std::string& key_what, const std::string& key_path) {
  const std::string cert_name = absl::StrCat(cert_what, " ", cert_path);
  const std::string key_name = absl::StrCat(key_what, " ", key_path);
  absl::StatusOr<std::string> chain = ReadFile(cert_name, cert_path);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key_name, key_path);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::vector<Cert>> certs = ParseCertificates(cert_name, *chain);
  if (!certs.ok()) return certs.status();
  absl::StatusOr<Key> key = ParseKey(key_name, *key_pem);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key_name, " is not the private key of the first certificate in ", cert_name));
  }
  return Pems{*std::move(chain), *std::move(key_pem)};
}

absl::StatusOr<std::string> ReadCa(const std::string& what, const std::string& path) {
  const std::string name = absl::StrCat(what, " ", path);
  absl::StatusOr<std::string> pem = ReadFile(name, path);
  if (!pem.ok()) return pem.status();
  if (auto certs = ParseCertificates(name, *pem); !certs.ok()) return certs.status();
  return pem;
}

}  // namespace

absl::Status CheckServerTlsFiles(const ServerTlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert-file and --tls-key-file (ADVISOR_TLS_CERT_FILE, ADVISOR_TLS_KEY_FILE) go "
        "together: give both or neither");
  }
  if (files.cert_file.empty()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca-file needs --tls-cert-file and --tls-key-file: client certificates "
          "are only asked for over TLS");
    }
    return absl::OkStatus();
  }
  if (files.refresh_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("the TLS refresh interval must be at least 1s");
  }
  absl::StatusOr<Pems> pair =
      ReadKeyPair("--tls-cert-file", files.cert_file, "--tls-key-file", files.key_file);
  if (!pair.ok()) return pair.status();
  if (!files.client_ca_file.empty()) {
    if (auto ca = ReadCa("--tls-client-ca-file", files.client_ca_file); !ca.ok()) {
      return ca.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files) {
  if (files.cert_file.empty()) {
    return absl::InvalidArgumentError("TLS needs --tls-cert-file and --tls-key-file");
  }
  if (absl::Status status = CheckServerTlsFiles(files); !status.ok()) return status;
  const auto refresh = static_cast<unsigned int>(absl::ToInt64Seconds(files.refresh_interval));
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (files.client_ca_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.key_file, files.cert_file, refresh);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.key_file, files.cert_file, files.client_ca_file, refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files) {
  if (files.insecure) {
    if (!files.ca_file.empty() || !files.cert_file.empty() || !files.key_file.empty()) {
      return absl::InvalidArgumentError(
          "--insecure (ADVISOR_INSECURE) turns TLS off: it cannot go with --ca-file, --cert-file "
          "or --key-file");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--cert-file and --key-file (ADVISOR_CERT_FILE, ADVISOR_KEY_FILE) go together");
  }
  grpc::SslCredentialsOptions options;
  if (!files.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadCa("--ca-file", files.ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (!files.cert_file.empty()) {
    absl::StatusOr<Pems> pair =
        ReadKeyPair("--cert-file", files.cert_file, "--key-file", files.key_file);
    if (!pair.ok()) return pair.status();
    options.pem_cert_chain = std::move(pair->cert_chain);
    options.pem_private_key = std::move(pair->key);
  }
  return grpc::SslCredentials(options);
}

void UseSharedSessionCache(grpc::ChannelArguments& args) {
  // Never destroyed: channels may outlive any owner we could give it.
  static grpc_ssl_session_cache* const cache = grpc_ssl_session_cache_create_lru(1024);
  grpc_arg arg = grpc_ssl_session_cache_create_channel_arg(cache);
  args.SetPointerWithVtable(arg.key, arg.value.pointer.p, arg.value.pointer.vtable);
}

}  // namespace advisor::config
