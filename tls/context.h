// tls/context.h: ClientContext and ServerContext, the shared configuration
// of TLS connections (BoringSSL SSL_CTX) built from an options struct.
//
//   using namespace evergreen::tls;
//   ServerContextOptions server_options;
//   server_options.identities.push_back(
//       {Pem::File("server.pem"), Pem::File("server.key")});
//   server_options.alpn_protocols = {"h2", "http/1.1"};
//   absl::StatusOr<std::shared_ptr<ServerContext>> server =
//       ServerContext::Create(server_options);
//
//   ClientContextOptions client_options;  // trusts the system store
//   client_options.trust = Trust::CaFile("ca.pem");
//   client_options.alpn_protocols = {"h2"};
//   absl::StatusOr<std::shared_ptr<ClientContext>> client =
//       ClientContext::Create(client_options);
//   // Then one tls::Engine per connection (tls/engine.h).
//
// Defaults are hardened: TLS 1.2 minimum, AEAD-only ECDHE suites for TLS 1.2,
// server cipher preference, one-day session and ticket lifetime, 0-RTT off,
// renegotiation off, and clients verify the server (chain and name) against
// the system trust store unless told otherwise.
//
// Contexts are immutable after Create and thread-safe: one context may serve
// engines on many threads. The client session cache is guarded by a mutex.
#ifndef EVERGREEN_TLS_CONTEXT_H_
#define EVERGREEN_TLS_CONTEXT_H_

#include <openssl/base.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#if !defined(OPENSSL_IS_BORINGSSL)
#error "//tls needs BoringSSL's headers (-isystem /usr/include/android)"
#endif

namespace evergreen {
namespace tls {

class Engine;

// Pem is PEM text, either read from a file when the context is created or
// given in memory. Exactly one of `path` and `text` is set.
struct Pem {
  // File returns a Pem read from `path` at context creation.
  static Pem File(std::string path);
  // Memory returns a Pem holding `text`.
  static Pem Memory(std::string text);

  std::string path;
  std::string text;
};

// Identity is a certificate chain (leaf first, then intermediates) and the
// leaf's private key, both PEM.
struct Identity {
  Pem certificate_chain;
  Pem private_key;
  // Servers only: the names (exact, or "*.example.com" for one label) for
  // which SNI selects this identity. Empty: the DNS names in the leaf's
  // subjectAltName.
  std::vector<std::string> server_names;
};

// Trust says which certificate authorities verify the peer.
struct Trust {
  // System returns the system store (/etc/ssl/certs/ca-certificates.crt,
  // or the hashed folder /etc/ssl/certs when the bundle is missing).
  static Trust System();
  // CaFile returns a trust of the certificates in one PEM file.
  static Trust CaFile(std::string path);

  // PEM files or memory, each holding one or more CA certificates.
  std::vector<Pem> ca_certificates;
  // A folder of certificates named by subject hash ("<hash>.0", see
  // `openssl rehash`), looked up during verification.
  std::string ca_directory;
  // Also the system store (see System()).
  bool system = false;
};

// TlsVersion is a protocol version; nothing older than TLS 1.2 is offered.
enum class TlsVersion { kTls12, kTls13 };

// ClientContextOptions configures a ClientContext.
struct ClientContextOptions {
  // Whom to trust. An empty Trust fails every verification.
  Trust trust = Trust::System();
  // Verify the server's chain and its name (SSL_VERIFY_PEER). Turning it off
  // accepts any server: for tests against self-signed peers only.
  bool verify_peer = true;
  // A client certificate, sent when the server asks for one.
  std::optional<Identity> identity;
  // ALPN protocols offered, in preference order ("h2", "http/1.1"); each 1 to
  // 255 bytes. Empty: no ALPN.
  std::vector<std::string> alpn_protocols;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // Session cache: for how many servers (session keys "host:port", see
  // CachedSessions) sessions are kept for resumption; 0 turns resumption off.
  size_t session_cache_size = 256;
};

// ClientCertificates says whether a server asks clients for a certificate.
enum class ClientCertificates {
  kNone,      // never asks
  kOptional,  // asks; verifies a certificate when one is sent
  kRequired,  // asks; fails the handshake without a valid certificate
};

// ServerContextOptions configures a ServerContext.
struct ServerContextOptions {
  // Certificates and keys; at least one. The first is the default, used
  // when the client sends no server name or one no identity matches.
  std::vector<Identity> identities;
  // Whom to trust for client certificates (needed unless kNone).
  Trust trust;
  ClientCertificates client_certificates = ClientCertificates::kNone;
  // ALPN protocols accepted, in the server's preference order. When the
  // client offers ALPN and none overlaps, the handshake fails with a
  // no_application_protocol alert. Empty: ALPN ignored.
  std::vector<std::string> alpn_protocols;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // Session resumption: stateless tickets (and a stateful TLS 1.2 cache).
  bool session_tickets = true;
  // Lifetime of sessions and tickets, seconds.
  uint32_t session_lifetime_seconds = 24 * 60 * 60;
};

// ClientContext is the configuration shared by client connections, with
// their session cache. Thread-safe.
class ClientContext {
 public:
  // Create builds a context. Returns InvalidArgument for bad options (empty
  // or malformed PEM, a key that does not match its certificate, a bad ALPN
  // name, min_version above max_version) and NotFound/PermissionDenied for
  // unreadable files; the message names the item and carries BoringSSL's
  // reason, e.g. "tls client context: certificate chain (file x.pem):
  // error:...:PEM routines:OPENSSL_internal:NO_START_LINE".
  static absl::StatusOr<std::shared_ptr<ClientContext>> Create(
      const ClientContextOptions& options);

  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  ~ClientContext();

  // verify_peer returns whether servers are verified.
  bool verify_peer() const { return verify_peer_; }
  // CachedSessions returns how many sessions the cache holds for `key`: the
  // server name and port of the connections that made them, "localhost:443",
  // "127.0.0.1:443", "[::1]:443", or the bare name when the port was 0.
  size_t CachedSessions(absl::string_view key) const;
  // ClearSessions forgets every cached session.
  void ClearSessions();
  // native_handle returns the SSL_CTX, owned by this context.
  SSL_CTX* native_handle() const { return ctx_.get(); }

 private:
  friend class Engine;
  struct CacheEntry {
    std::vector<bssl::UniquePtr<SSL_SESSION>> sessions;  // oldest first
    uint64_t stamp = 0;                                  // last store
  };

  ClientContext() = default;
  // NewSsl returns an SSL for one connection to `server_name` (a DNS name or
  // an IP literal: SNI and the name check) on `port` (only a part of the
  // session key), resuming a cached session if any. Called by Engine.
  absl::StatusOr<bssl::UniquePtr<SSL>> NewSsl(absl::string_view server_name,
                                              uint16_t port);
  void StoreSession(const std::string& key,
                    bssl::UniquePtr<SSL_SESSION> session);
  bssl::UniquePtr<SSL_SESSION> TakeSession(const std::string& key);
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  bssl::UniquePtr<SSL_CTX> ctx_;
  bool verify_peer_ = true;
  size_t session_cache_size_ = 0;
  mutable std::mutex mu_;
  std::unordered_map<std::string, CacheEntry> sessions_ ABSL_GUARDED_BY(mu_);
  uint64_t stamp_ ABSL_GUARDED_BY(mu_) = 0;
};

// ServerContext is the configuration shared by server connections: one
// SSL_CTX per identity, picked by SNI. Thread-safe.
class ServerContext {
 public:
  // Create builds a context. Errors as ClientContext::Create, plus
  // InvalidArgument for no identity, for a non-default identity without
  // server names, and for client certificates without a trust.
  static absl::StatusOr<std::shared_ptr<ServerContext>> Create(
      const ServerContextOptions& options);

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;
  ~ServerContext();

  // native_handle returns the default identity's SSL_CTX, owned by this
  // context (the session cache and ticket keys of every connection).
  SSL_CTX* native_handle() const { return identities_[0].ctx.get(); }

 private:
  friend class Engine;
  struct Named {
    std::vector<std::string> names;  // lower case
    bssl::UniquePtr<SSL_CTX> ctx;
  };

  ServerContext() = default;
  // NewSsl returns an SSL for one accepted connection. Called by Engine.
  absl::StatusOr<bssl::UniquePtr<SSL>> NewSsl();
  // Find returns the identity context for a client's server name.
  SSL_CTX* Find(absl::string_view server_name) const;
  static int OnServerName(SSL* ssl, int* out_alert, void* arg);
  static int OnAlpnSelect(SSL* ssl, const uint8_t** out, uint8_t* out_len,
                          const uint8_t* in, unsigned in_len, void* arg);

  std::vector<Named> identities_;
  std::string alpn_wire_;  // length-prefixed protocols
};

}  // namespace tls
}  // namespace evergreen

#endif  // EVERGREEN_TLS_CONTEXT_H_
