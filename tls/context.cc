#include "tls/context.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tls/internal/ssl_error.h"

namespace evergreen {
namespace tls {
namespace {

using tls_internal::SslStatus;

constexpr char kClientOp[] = "tls client context";
constexpr char kServerOp[] = "tls server context";
constexpr char kSystemBundle[] = "/etc/ssl/certs/ca-certificates.crt";
constexpr char kSystemFolder[] = "/etc/ssl/certs";
// TLS 1.2 suites: ECDHE with AEADs only (TLS 1.3 suites are fixed in
// BoringSSL and all AEAD).
constexpr char kCipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
constexpr char kCurves[] = "X25519:P-256:P-384";
// Sessions kept per key: TLS 1.3 tickets are used once, and servers send
// two per connection.
constexpr size_t kSessionsPerKey = 4;
constexpr uint32_t kClientSessionLifetime = 24 * 60 * 60;

uint16_t WireVersion(TlsVersion v) {
  return v == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

std::string Describe(const Pem& pem, absl::string_view what) {
  if (!pem.path.empty()) return absl::StrCat(what, " (file ", pem.path, ")");
  return absl::StrCat(what, " (memory)");
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadPem(const Pem& pem, absl::string_view what,
                                    absl::string_view op) {
  if (!pem.path.empty() && !pem.text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, ": both a path and a text are set"));
  }
  if (pem.path.empty()) {
    if (pem.text.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": ", what, ": empty (no path and no text)"));
    }
    return pem.text;
  }
  FILE* f = std::fopen(pem.path.c_str(), "rb");
  if (f == nullptr) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(op, ": read ", what, " ", pem.path));
  }
  std::string text;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  int failed = std::ferror(f);
  std::fclose(f);
  if (failed) {
    return absl::DataLossError(
        absl::StrCat(op, ": read ", what, " ", pem.path, ": I/O error"));
  }
  return text;
}

absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> ParseCertificates(
    const std::string& text, const std::string& what, absl::string_view op) {
  ERR_clear_error();
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(text.data(), text.size()));
  if (bio == nullptr) return SslStatus(absl::StatusCode::kInternal, op, what);
  std::vector<bssl::UniquePtr<X509>> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  uint32_t last = ERR_peek_last_error();
  if (!certs.empty() && ERR_GET_LIB(last) == ERR_LIB_PEM &&
      ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
    ERR_clear_error();  // the normal end of the input
    return certs;
  }
  return SslStatus(absl::StatusCode::kInvalidArgument, op,
                   absl::StrCat(what, ": no valid PEM certificate"));
}

// DnsNames returns the DNS names of `cert`'s subjectAltName, lower case.
std::vector<std::string> DnsNames(X509* cert) {
  std::vector<std::string> names;
  bssl::UniquePtr<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (sans == nullptr) return names;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = name->d.dNSName;
    names.push_back(absl::AsciiStrToLower(absl::string_view(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
        ASN1_STRING_length(dns))));
  }
  return names;
}

// LoadIdentity installs `identity` in `ctx`; stores the leaf's DNS names in
// `*dns_names` if not null.
absl::Status LoadIdentity(SSL_CTX* ctx, const Identity& identity,
                          absl::string_view op,
                          std::vector<std::string>* dns_names) {
  std::string chain_what =
      Describe(identity.certificate_chain, "certificate chain");
  std::string key_what = Describe(identity.private_key, "private key");
  absl::StatusOr<std::string> chain_text =
      ReadPem(identity.certificate_chain, "certificate chain", op);
  if (!chain_text.ok()) return chain_text.status();
  absl::StatusOr<std::string> key_text =
      ReadPem(identity.private_key, "private key", op);
  if (!key_text.ok()) return key_text.status();
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> chain =
      ParseCertificates(*chain_text, chain_what, op);
  if (!chain.ok()) return chain.status();

  ERR_clear_error();
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(key_text->data(), key_text->size()));
  bssl::UniquePtr<EVP_PKEY> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return SslStatus(absl::StatusCode::kInvalidArgument, op,
                     absl::StrCat(key_what, ": no valid PEM private key"));
  }
  if (!SSL_CTX_use_certificate(ctx, (*chain)[0].get())) {
    return SslStatus(absl::StatusCode::kInvalidArgument, op,
                     absl::StrCat(chain_what, ": unusable leaf certificate"));
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (!SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get())) {
      return SslStatus(absl::StatusCode::kInvalidArgument, op,
                       absl::StrCat(chain_what, ": certificate ", i));
    }
  }
  if (!SSL_CTX_use_PrivateKey(ctx, key.get()) ||
      !SSL_CTX_check_private_key(ctx)) {
    return SslStatus(absl::StatusCode::kInvalidArgument, op,
                     absl::StrCat(key_what, " does not match ", chain_what));
  }
  if (dns_names != nullptr) *dns_names = DnsNames((*chain)[0].get());
  return absl::OkStatus();
}

absl::Status LoadTrust(SSL_CTX* ctx, const Trust& trust, absl::string_view op) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (size_t i = 0; i < trust.ca_certificates.size(); ++i) {
    const Pem& pem = trust.ca_certificates[i];
    std::string what = Describe(pem, "CA certificates");
    absl::StatusOr<std::string> text = ReadPem(pem, "CA certificates", op);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs =
        ParseCertificates(*text, what, op);
    if (!certs.ok()) return certs.status();
    for (const bssl::UniquePtr<X509>& cert : *certs) {
      ERR_clear_error();
      if (!X509_STORE_add_cert(store, cert.get())) {
        return SslStatus(absl::StatusCode::kInvalidArgument, op,
                         absl::StrCat(what, ": add to the trust store"));
      }
    }
  }
  if (!trust.ca_directory.empty()) {
    if (!IsDirectory(trust.ca_directory)) {
      return absl::NotFoundError(absl::StrCat(
          op, ": CA directory ", trust.ca_directory, ": not a directory"));
    }
    ERR_clear_error();
    if (!SSL_CTX_load_verify_locations(ctx, nullptr,
                                       trust.ca_directory.c_str())) {
      return SslStatus(absl::StatusCode::kInvalidArgument, op,
                       absl::StrCat("CA directory ", trust.ca_directory));
    }
  }
  if (trust.system) {
    ERR_clear_error();
    if (IsFile(kSystemBundle)) {
      if (!SSL_CTX_load_verify_locations(ctx, kSystemBundle, nullptr)) {
        return SslStatus(absl::StatusCode::kInvalidArgument, op,
                         absl::StrCat("system trust store ", kSystemBundle));
      }
    } else if (IsDirectory(kSystemFolder)) {
      if (!SSL_CTX_load_verify_locations(ctx, nullptr, kSystemFolder)) {
        return SslStatus(absl::StatusCode::kInvalidArgument, op,
                         absl::StrCat("system trust store ", kSystemFolder));
      }
    } else {
      return absl::NotFoundError(absl::StrCat(op, ": no system trust store (",
                                              kSystemBundle, " or ",
                                              kSystemFolder, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> AlpnWire(const std::vector<std::string>& protocols,
                                     absl::string_view op) {
  std::string wire;
  for (size_t i = 0; i < protocols.size(); ++i) {
    const std::string& p = protocols[i];
    if (p.empty() || p.size() > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": ALPN protocol ", i, " (\"", p, "\"): must be 1 to 255 bytes"));
    }
    wire.push_back(static_cast<char>(p.size()));
    wire.append(p);
  }
  return wire;
}

// NewBaseContext returns an SSL_CTX with the hardened defaults.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewBaseContext(TlsVersion min_version,
                                                        TlsVersion max_version,
                                                        uint32_t lifetime,
                                                        absl::string_view op) {
  if (WireVersion(min_version) > WireVersion(max_version)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": min_version is above max_version"));
  }
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) {
    return SslStatus(absl::StatusCode::kResourceExhausted, op, "SSL_CTX_new");
  }
  if (!SSL_CTX_set_min_proto_version(ctx.get(), WireVersion(min_version)) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), WireVersion(max_version)) ||
      !SSL_CTX_set_strict_cipher_list(ctx.get(), kCipherList) ||
      !SSL_CTX_set1_curves_list(ctx.get(), kCurves)) {
    return SslStatus(absl::StatusCode::kInternal, op, "hardened defaults");
  }
  SSL_CTX_set_early_data_enabled(ctx.get(), 0);
  SSL_CTX_set_timeout(ctx.get(), lifetime);
  SSL_CTX_set_session_psk_dhe_timeout(ctx.get(), lifetime);
  return ctx;
}

// SessionKeyIndex is the SSL ex_data slot holding a client connection's
// session cache key (a heap std::string owned by the SSL).
void FreeSessionKey(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/,
                    int /*index*/, long /*argl*/, void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

int SessionKeyIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeSessionKey);
  return index;
}

std::string SessionKey(const std::string& name, bool is_ipv6, uint16_t port) {
  if (port == 0) return name;
  if (is_ipv6) return absl::StrCat("[", name, "]:", port);
  return absl::StrCat(name, ":", port);
}

bool IsExpired(const SSL_SESSION* session) {
  uint64_t end = SSL_SESSION_get_time(session) +
                 uint64_t{SSL_SESSION_get_timeout(session)};
  return end <= static_cast<uint64_t>(std::time(nullptr));
}

}  // namespace

Pem Pem::File(std::string path) {
  Pem pem;
  pem.path = std::move(path);
  return pem;
}

Pem Pem::Memory(std::string text) {
  Pem pem;
  pem.text = std::move(text);
  return pem;
}

Trust Trust::System() {
  Trust trust;
  trust.system = true;
  return trust;
}

Trust Trust::CaFile(std::string path) {
  Trust trust;
  trust.ca_certificates.push_back(Pem::File(std::move(path)));
  return trust;
}

// ClientContext

absl::StatusOr<std::shared_ptr<ClientContext>> ClientContext::Create(
    const ClientContextOptions& options) {
  absl::StatusOr<std::string> alpn =
      AlpnWire(options.alpn_protocols, kClientOp);
  if (!alpn.ok()) return alpn.status();
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx =
      NewBaseContext(options.min_version, options.max_version,
                     kClientSessionLifetime, kClientOp);
  if (!ctx.ok()) return ctx.status();
  std::shared_ptr<ClientContext> self(new ClientContext());
  self->ctx_ = std::move(*ctx);
  self->verify_peer_ = options.verify_peer;
  self->session_cache_size_ = options.session_cache_size;
  SSL_CTX* raw = self->ctx_.get();

  SSL_CTX_set_verify(
      raw, options.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  absl::Status s = LoadTrust(raw, options.trust, kClientOp);
  if (!s.ok()) return s;
  if (options.identity.has_value()) {
    s = LoadIdentity(raw, *options.identity, kClientOp, nullptr);
    if (!s.ok()) return s;
  }
  if (!alpn->empty() && SSL_CTX_set_alpn_protos(
                            raw, reinterpret_cast<const uint8_t*>(alpn->data()),
                            alpn->size()) != 0) {
    return SslStatus(absl::StatusCode::kInternal, kClientOp, "set ALPN");
  }
  if (options.session_cache_size > 0) {
    SSL_CTX_set_session_cache_mode(
        raw, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(raw, &ClientContext::OnNewSession);
  } else {
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_app_data(raw, self.get());
  return self;
}

ClientContext::~ClientContext() = default;

absl::StatusOr<bssl::UniquePtr<SSL>> ClientContext::NewSsl(
    absl::string_view server_name, uint16_t port) {
  constexpr char kOp[] = "tls client";
  std::string name(server_name);
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": server name contains a NUL byte"));
  }
  unsigned char addr[16];
  bool is_ipv6 = inet_pton(AF_INET6, name.c_str(), addr) == 1;
  bool is_ip = is_ipv6 || inet_pton(AF_INET, name.c_str(), addr) == 1;
  if (verify_peer_ && name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": a server name is required to verify the server"));
  }
  ERR_clear_error();
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
  if (ssl == nullptr) {
    return SslStatus(absl::StatusCode::kResourceExhausted, kOp, "SSL_new");
  }
  SSL_set_connect_state(ssl.get());
  if (!name.empty() && !is_ip &&
      !SSL_set_tlsext_host_name(ssl.get(), name.c_str())) {
    return SslStatus(absl::StatusCode::kInvalidArgument, kOp,
                     absl::StrCat("server name \"", name, "\""));
  }
  if (verify_peer_) {
    // SSL_set1_host is only enforced with SSL_VERIFY_PEER, set on the
    // context when verify_peer_ is true.
    if (is_ip) {
      if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()),
                                         name.c_str())) {
        return SslStatus(absl::StatusCode::kInvalidArgument, kOp,
                         absl::StrCat("server address ", name));
      }
    } else {
      if (!SSL_set1_host(ssl.get(), name.c_str())) {
        return SslStatus(absl::StatusCode::kInvalidArgument, kOp,
                         absl::StrCat("server name \"", name, "\""));
      }
      SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
  }
  if (session_cache_size_ > 0 && !name.empty()) {
    auto* key = new std::string(SessionKey(name, is_ipv6, port));
    if (!SSL_set_ex_data(ssl.get(), SessionKeyIndex(), key)) {
      delete key;
      return SslStatus(absl::StatusCode::kResourceExhausted, kOp,
                       "session key");
    }
    bssl::UniquePtr<SSL_SESSION> session = TakeSession(*key);
    if (session != nullptr && !SSL_set_session(ssl.get(), session.get())) {
      ERR_clear_error();  // a full handshake instead
    }
  }
  return ssl;
}

int ClientContext::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self =
      static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* key =
      static_cast<std::string*>(SSL_get_ex_data(ssl, SessionKeyIndex()));
  if (self == nullptr || key == nullptr) return 0;  // not taken
  self->StoreSession(*key, bssl::UniquePtr<SSL_SESSION>(session));
  return 1;  // ownership taken
}

void ClientContext::StoreSession(const std::string& key,
                                 bssl::UniquePtr<SSL_SESSION> session) {
  std::lock_guard<std::mutex> lock(mu_);
  CacheEntry& entry = sessions_[key];
  entry.sessions.push_back(std::move(session));
  if (entry.sessions.size() > kSessionsPerKey) {
    entry.sessions.erase(entry.sessions.begin());
  }
  entry.stamp = ++stamp_;
  if (sessions_.size() > session_cache_size_) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.stamp < oldest->second.stamp) oldest = it;
    }
    sessions_.erase(oldest);
  }
}

bssl::UniquePtr<SSL_SESSION> ClientContext::TakeSession(
    const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return nullptr;
  std::vector<bssl::UniquePtr<SSL_SESSION>>& list = it->second.sessions;
  bssl::UniquePtr<SSL_SESSION> found;
  while (!list.empty() && found == nullptr) {
    SSL_SESSION* newest = list.back().get();
    if (!SSL_SESSION_is_resumable(newest) || IsExpired(newest)) {
      list.pop_back();
    } else if (SSL_SESSION_should_be_single_use(newest)) {
      found = std::move(list.back());  // TLS 1.3: never offer a ticket twice
      list.pop_back();
    } else {
      found = bssl::UpRef(newest);
    }
  }
  if (list.empty()) sessions_.erase(it);
  return found;
}

size_t ClientContext::CachedSessions(absl::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(std::string(key));
  return it == sessions_.end() ? 0 : it->second.sessions.size();
}

void ClientContext::ClearSessions() {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.clear();
}

// ServerContext

absl::StatusOr<std::shared_ptr<ServerContext>> ServerContext::Create(
    const ServerContextOptions& options) {
  if (options.identities.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kServerOp, ": no identity (certificate and key)"));
  }
  if (options.client_certificates != ClientCertificates::kNone &&
      options.trust.ca_certificates.empty() &&
      options.trust.ca_directory.empty() && !options.trust.system) {
    return absl::InvalidArgumentError(absl::StrCat(
        kServerOp, ": client certificates need a trust (CA certificates)"));
  }
  absl::StatusOr<std::string> alpn =
      AlpnWire(options.alpn_protocols, kServerOp);
  if (!alpn.ok()) return alpn.status();
  std::shared_ptr<ServerContext> self(new ServerContext());
  self->alpn_wire_ = std::move(*alpn);

  int verify_mode = SSL_VERIFY_NONE;
  if (options.client_certificates == ClientCertificates::kOptional) {
    verify_mode = SSL_VERIFY_PEER;
  } else if (options.client_certificates == ClientCertificates::kRequired) {
    verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  // Every identity gets a complete SSL_CTX: after SSL_set_SSL_CTX some
  // settings (ALPN callback, trust store) are read from the new context.
  for (size_t i = 0; i < options.identities.size(); ++i) {
    const Identity& identity = options.identities[i];
    std::string op = absl::StrCat(kServerOp, ": identity ", i);
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx =
        NewBaseContext(options.min_version, options.max_version,
                       options.session_lifetime_seconds, op);
    if (!ctx.ok()) return ctx.status();
    SSL_CTX* raw = ctx->get();
    std::vector<std::string> dns_names;
    absl::Status s = LoadIdentity(raw, identity, op, &dns_names);
    if (!s.ok()) return s;
    Named named;
    if (identity.server_names.empty()) {
      named.names = std::move(dns_names);
    } else {
      for (const std::string& n : identity.server_names) {
        named.names.push_back(absl::AsciiStrToLower(n));
      }
    }
    if (i > 0 && named.names.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": no server names (none given, no DNS names in the leaf)"));
    }
    SSL_CTX_set_options(raw, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!options.session_tickets) SSL_CTX_set_options(raw, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_SERVER);
    // Sessions resume only on the identity that made them.
    std::string sid = absl::StrCat("evergreen tls ", i);
    if (!SSL_CTX_set_session_id_context(
            raw, reinterpret_cast<const uint8_t*>(sid.data()), sid.size())) {
      return SslStatus(absl::StatusCode::kInternal, op, "session id context");
    }
    SSL_CTX_set_verify(raw, verify_mode, nullptr);
    if (verify_mode != SSL_VERIFY_NONE) {
      s = LoadTrust(raw, options.trust, op);
      if (!s.ok()) return s;
    }
    if (!self->alpn_wire_.empty()) {
      SSL_CTX_set_alpn_select_cb(raw, &ServerContext::OnAlpnSelect, self.get());
    }
    if (options.identities.size() > 1) {
      SSL_CTX_set_tlsext_servername_callback(raw, &ServerContext::OnServerName);
      SSL_CTX_set_tlsext_servername_arg(raw, self.get());
    }
    named.ctx = std::move(*ctx);
    self->identities_.push_back(std::move(named));
  }
  return self;
}

ServerContext::~ServerContext() = default;

absl::StatusOr<bssl::UniquePtr<SSL>> ServerContext::NewSsl() {
  ERR_clear_error();
  bssl::UniquePtr<SSL> ssl(SSL_new(identities_[0].ctx.get()));
  if (ssl == nullptr) {
    return SslStatus(absl::StatusCode::kResourceExhausted, "tls server",
                     "SSL_new");
  }
  SSL_set_accept_state(ssl.get());
  return ssl;
}

SSL_CTX* ServerContext::Find(absl::string_view server_name) const {
  std::string name = absl::AsciiStrToLower(server_name);
  size_t dot = name.find('.');
  for (const Named& identity : identities_) {
    for (const std::string& pattern : identity.names) {
      if (pattern == name) return identity.ctx.get();
      // "*.example.com" matches exactly one non-empty leading label.
      if (absl::StartsWith(pattern, "*.") && dot != std::string::npos &&
          dot > 0 &&
          absl::string_view(name).substr(dot) ==
              absl::string_view(pattern).substr(1)) {
        return identity.ctx.get();
      }
    }
  }
  return identities_[0].ctx.get();
}

int ServerContext::OnServerName(SSL* ssl, int* /*out_alert*/, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // the default identity
  SSL_CTX* ctx = self->Find(name);
  if (ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) == nullptr) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::OnAlpnSelect(SSL* /*ssl*/, const uint8_t** out,
                                uint8_t* out_len, const uint8_t* in,
                                unsigned in_len, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  // Passing our list as `peer` makes the first of OUR protocols that the
  // client offers win: server preference.
  uint8_t* selected = nullptr;
  uint8_t selected_len = 0;
  int result = SSL_select_next_proto(
      &selected, &selected_len,
      reinterpret_cast<const uint8_t*>(self->alpn_wire_.data()),
      self->alpn_wire_.size(), in, in_len);
  // SSL_select_next_proto writes `selected` even on OPENSSL_NPN_NO_OVERLAP
  // (the client's first protocol): never return it as a choice.
  if (result != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  *out_len = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace tls
}  // namespace evergreen
