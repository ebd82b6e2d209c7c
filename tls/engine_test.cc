// Deterministic in-memory tests of tls::Engine and the contexts: a client
// engine and a server engine (or a raw BoringSSL peer) pumped in memory.
// Each pitfall of TLS-NOTES.md that concerns the engine is named in a test.
#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tls/context.h"

// BoringSSL has no frame pointers: ASan needs the slow unwinder to walk
// through it (TLS-NOTES.md). ASAN_OPTIONS from the environment still apply.
extern "C" const char* __asan_default_options() {
  return "fast_unwind_on_malloc=0";
}

namespace evergreen {
namespace tls {
namespace {

using ::testing::HasSubstr;

// Test data and contexts.

std::string TestData(absl::string_view name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string root = srcdir != nullptr ? srcdir : ".";
  return absl::StrCat(root, "/evergreen/tls/testdata/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Identity FileIdentity(absl::string_view name) {
  return Identity{Pem::File(TestData(absl::StrCat(name, ".pem"))),
                  Pem::File(TestData(absl::StrCat(name, ".key"))),
                  {}};
}

std::string DerOf(absl::string_view pem_name) {
  std::string pem = ReadFile(TestData(absl::StrCat(pem_name, ".pem")));
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  bssl::UniquePtr<X509> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return "";
  uint8_t* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

ServerContextOptions ServerOptions(absl::string_view cert = "server") {
  ServerContextOptions options;
  options.identities.push_back(FileIdentity(cert));
  return options;
}

ClientContextOptions ClientOptions() {
  ClientContextOptions options;
  options.trust = Trust::CaFile(TestData("ca.pem"));
  return options;
}

// Fails the running test and leaves its body (gtest reports the exception),
// so no test goes on with a null context or engine.
[[noreturn]] void StopTest(const absl::Status& status) {
  ADD_FAILURE() << status;
  throw std::runtime_error("test set-up failed: " + status.ToString());
}

std::shared_ptr<ServerContext> MustServer(const ServerContextOptions& o) {
  absl::StatusOr<std::shared_ptr<ServerContext>> ctx = ServerContext::Create(o);
  if (!ctx.ok()) StopTest(ctx.status());
  return *std::move(ctx);
}

std::shared_ptr<ClientContext> MustClient(const ClientContextOptions& o) {
  absl::StatusOr<std::shared_ptr<ClientContext>> ctx = ClientContext::Create(o);
  if (!ctx.ok()) StopTest(ctx.status());
  return *std::move(ctx);
}

EngineOptions Named(absl::string_view name, uint16_t port = 443,
                    size_t high_water = 64 * 1024) {
  EngineOptions options;
  options.server_name = std::string(name);
  options.port = port;
  options.high_water = high_water;
  return options;
}

std::unique_ptr<Engine> MustClientEngine(std::shared_ptr<ClientContext> ctx,
                                         const EngineOptions& options) {
  absl::StatusOr<std::unique_ptr<Engine>> e =
      Engine::CreateClient(std::move(ctx), options);
  if (!e.ok()) StopTest(e.status());
  return std::move(*e);
}

std::unique_ptr<Engine> MustServerEngine(std::shared_ptr<ServerContext> ctx,
                                         size_t high_water = 64 * 1024) {
  EngineOptions options;
  options.high_water = high_water;
  absl::StatusOr<std::unique_ptr<Engine>> e =
      Engine::CreateServer(std::move(ctx), options);
  if (!e.ok()) StopTest(e.status());
  return std::move(*e);
}

// Moves one batch of ciphertext from `from` to `to`; returns its size.
size_t Transfer(Engine& from, Engine& to) {
  if (from.PendingCiphertext() == 0) return 0;
  std::string bytes = from.TakeCiphertext();
  if (!bytes.empty()) (void)to.FeedCiphertext(bytes);
  return bytes.size();
}

// Pump moves ciphertext both ways until neither side has any to send.
void Pump(Engine& a, Engine& b) {
  for (int round = 0; round < 1000; ++round) {
    size_t moved = Transfer(a, b);
    moved += Transfer(b, a);
    if (moved == 0) return;
  }
  ADD_FAILURE() << "Pump did not settle";
}

// Counts TLS records in `wire` whose content type is `type`.
int CountRecords(absl::string_view wire, uint8_t type) {
  int count = 0;
  size_t at = 0;
  while (at + 5 <= wire.size()) {
    size_t len = (static_cast<uint8_t>(wire[at + 3]) << 8) |
                 static_cast<uint8_t>(wire[at + 4]);
    if (static_cast<uint8_t>(wire[at]) == type) ++count;
    at += 5 + len;
  }
  EXPECT_EQ(at, wire.size()) << "not whole records";
  return count;
}

constexpr uint8_t kApplicationData = 23;

// A raw BoringSSL peer over memory BIOs, for peers our contexts refuse to
// build (TLS 1.1, CBC suites, 0-RTT).
class RawPeer {
 public:
  RawPeer(SSL_CTX* ctx, bool server) : ssl_(SSL_new(ctx)) {
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_bio(ssl_.get(), rbio, wbio);
    if (server) {
      SSL_set_accept_state(ssl_.get());
    } else {
      SSL_set_connect_state(ssl_.get());
    }
  }
  SSL* ssl() { return ssl_.get(); }
  void Feed(const std::string& bytes) {
    BIO_write(rbio_, bytes.data(), static_cast<int>(bytes.size()));
  }
  std::string Take() {
    std::string out(BIO_pending(wbio_), '\0');
    if (!out.empty()) BIO_read(wbio_, &out[0], static_cast<int>(out.size()));
    return out;
  }
  // Step runs the handshake, then reads; returns SSL_get_error's code (or
  // SSL_ERROR_NONE) and appends plaintext to `read`.
  int Step() {
    if (!SSL_is_init_finished(ssl_.get())) {
      int rc = SSL_do_handshake(ssl_.get());
      if (rc != 1) return SSL_get_error(ssl_.get(), rc);
    }
    char buf[16384];
    for (;;) {
      int n = SSL_read(ssl_.get(), buf, sizeof(buf));
      if (n <= 0) {
        int err = SSL_get_error(ssl_.get(), n);
        return err == SSL_ERROR_WANT_READ ? SSL_ERROR_NONE : err;
      }
      read.append(buf, n);
    }
  }
  std::string read;

 private:
  bssl::UniquePtr<SSL> ssl_;
  BIO* rbio_;
  BIO* wbio_;
};

// PumpRaw runs `engine` against `raw` until quiet; returns the raw peer's
// last SSL_get_error code.
int PumpRaw(Engine& engine, RawPeer& raw) {
  int last = raw.Step();
  for (int round = 0; round < 100; ++round) {
    bool moved = false;
    std::string bytes = raw.Take();
    if (!bytes.empty()) {
      moved = true;
      (void)engine.FeedCiphertext(bytes);
    }
    if (engine.PendingCiphertext() > 0) {
      moved = true;
      raw.Feed(engine.TakeCiphertext());
    }
    last = raw.Step();
    if (!moved) break;
  }
  ERR_clear_error();
  return last;
}

bssl::UniquePtr<SSL_CTX> RawContext(uint16_t min_version,
                                    uint16_t max_version) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  return ctx;
}

// Engine tests run on both protocol versions.
class EngineTest : public ::testing::TestWithParam<TlsVersion> {
 protected:
  bool tls13() const { return GetParam() == TlsVersion::kTls13; }
  ServerContextOptions Server(absl::string_view cert = "server") {
    ServerContextOptions options = ServerOptions(cert);
    options.max_version = GetParam();
    return options;
  }
  ClientContextOptions Client() {
    ClientContextOptions options = ClientOptions();
    options.max_version = GetParam();
    return options;
  }
  // Connect makes a client and a server engine and runs the handshake.
  void Connect(std::shared_ptr<ClientContext> client_ctx,
               std::shared_ptr<ServerContext> server_ctx,
               const EngineOptions& options = Named("localhost")) {
    client = MustClientEngine(std::move(client_ctx), options);
    server = MustServerEngine(std::move(server_ctx), options.high_water);
    ASSERT_NE(client, nullptr);
    ASSERT_NE(server, nullptr);
    Pump(*client, *server);
  }
  std::unique_ptr<Engine> client;
  std::unique_ptr<Engine> server;
};

INSTANTIATE_TEST_SUITE_P(Versions, EngineTest,
                         ::testing::Values(TlsVersion::kTls12,
                                           TlsVersion::kTls13),
                         [](const ::testing::TestParamInfo<TlsVersion>& info) {
                           return info.param == TlsVersion::kTls13 ? "Tls13"
                                                                   : "Tls12";
                         });

// Handshake, data both ways, the connection's description.

TEST_P(EngineTest, HandshakeAndDataBothWays) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  server = MustServerEngine(MustServer(Server()));
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_GT(client->PendingCiphertext(), 0u) << "ClientHello at creation";
  EXPECT_FALSE(client->handshake_done());
  Pump(*client, *server);
  ASSERT_TRUE(client->handshake_done()) << client->status();
  ASSERT_TRUE(server->handshake_done()) << server->status();
  EXPECT_TRUE(client->TakeEvents().handshake_done);
  EXPECT_TRUE(server->TakeEvents().handshake_done);

  for (Engine* e : {client.get(), server.get()}) {
    const HandshakeInfo& info = e->info();
    EXPECT_EQ(info.version, tls13() ? TLS1_3_VERSION : TLS1_2_VERSION);
    EXPECT_EQ(info.version_name, tls13() ? "TLSv1.3" : "TLSv1.2");
    EXPECT_TRUE(absl::StrContains(info.cipher, "GCM") ||
                absl::StrContains(info.cipher, "CHACHA20"))
        << info.cipher;
    EXPECT_EQ(info.server_name, "localhost");
    EXPECT_FALSE(info.resumed);
    EXPECT_FALSE(info.early_data_accepted);
    EXPECT_EQ(info.alpn_protocol, "");
    EXPECT_EQ(info.group, "X25519");
  }
  ASSERT_EQ(client->info().peer_chain_der.size(), 1u);
  EXPECT_EQ(client->info().peer_chain_der[0], DerOf("server"));
  EXPECT_TRUE(server->info().peer_chain_der.empty()) << "no client cert";

  ASSERT_TRUE(client->WritePlaintext("ping from client").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "ping from client");
  ASSERT_TRUE(server->WritePlaintext("pong").ok());
  ASSERT_TRUE(server->WritePlaintext(" from server").ok());
  Pump(*client, *server);
  EXPECT_EQ(client->ReadPlaintext(), "pong from server");
  EXPECT_EQ(client->outcome(), Outcome::kOpen);
  EXPECT_TRUE(client->status().ok());
  // The handshake event fired once.
  EXPECT_FALSE(client->TakeEvents().handshake_done);
  EXPECT_FALSE(server->TakeEvents().handshake_done);
}

TEST_P(EngineTest, ChainFileSendsIntermediates) {
  ServerContextOptions options = Server();
  options.identities[0].certificate_chain =
      Pem::File(TestData("server_chain.pem"));
  Connect(MustClient(Client()), MustServer(options));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  ASSERT_EQ(client->info().peer_chain_der.size(), 2u);
  EXPECT_EQ(client->info().peer_chain_der[0], DerOf("server"));
  EXPECT_EQ(client->info().peer_chain_der[1], DerOf("ca"));
}

TEST_P(EngineTest, IdentityAndTrustFromMemory) {
  ServerContextOptions server_options = Server();
  server_options.identities[0] =
      Identity{Pem::Memory(ReadFile(TestData("server.pem"))),
               Pem::Memory(ReadFile(TestData("server.key"))),
               {}};
  ClientContextOptions client_options = Client();
  client_options.trust = Trust();
  client_options.trust.ca_certificates.push_back(
      Pem::Memory(ReadFile(TestData("ca.pem"))));
  Connect(MustClient(client_options), MustServer(server_options));
  EXPECT_TRUE(client->handshake_done()) << client->status();
  EXPECT_TRUE(server->handshake_done()) << server->status();
}

TEST_P(EngineTest, TrustFromHashedFolder) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/casXXXXXX");
  ASSERT_NE(mkdtemp(&dir[0]), nullptr);
  std::string ca = ReadFile(TestData("ca.pem"));
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(ca.data(), ca.size()));
  bssl::UniquePtr<X509> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(cert, nullptr);
  char name[32];
  snprintf(name, sizeof(name), "/%08lx.0",
           static_cast<unsigned long>(
               X509_NAME_hash(X509_get_subject_name(cert.get()))));
  std::ofstream(dir + name) << ca;

  ClientContextOptions options = Client();
  options.trust = Trust();
  options.trust.ca_directory = dir;
  Connect(MustClient(options), MustServer(Server()));
  EXPECT_TRUE(client->handshake_done()) << client->status();
  unlink((dir + name).c_str());
  rmdir(dir.c_str());
}

TEST_P(EngineTest, IpAddressIsVerifiedAndNotSentAsSni) {
  Connect(MustClient(Client()), MustServer(Server()), Named("127.0.0.1"));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(server->info().server_name, "") << "no SNI for an IP literal";

  Connect(MustClient(Client()), MustServer(Server("wrong_host")),
          Named("127.0.0.1"));
  EXPECT_EQ(client->outcome(), Outcome::kVerifyFailed);
  EXPECT_EQ(client->close_info().verify_result, X509_V_ERR_IP_ADDRESS_MISMATCH);
  EXPECT_EQ(client->close_info().reason, "IP address mismatch");
}

// Verification failures, told apart. Pitfall 1 too: the failing side's
// alert is in its outgoing ciphertext, and the peer learns why.

struct VerifyCase {
  const char* name;
  const char* server_cert;
  bool empty_trust;
  long verify_result;
  const char* reason;
  int alert;
};

TEST_P(EngineTest, VerificationFailuresAreToldApart) {
  const VerifyCase cases[] = {
      {"expired", "expired", false, X509_V_ERR_CERT_HAS_EXPIRED,
       "certificate has expired", SSL_AD_CERTIFICATE_EXPIRED},
      {"wrong host", "wrong_host", false, X509_V_ERR_HOSTNAME_MISMATCH,
       "Hostname mismatch", SSL_AD_BAD_CERTIFICATE},
      {"unknown CA", "server", true,
       X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
       "unable to get local issuer certificate", SSL_AD_UNKNOWN_CA},
  };
  for (const VerifyCase& c : cases) {
    SCOPED_TRACE(c.name);
    ClientContextOptions options = Client();
    if (c.empty_trust) options.trust = Trust();
    client = MustClientEngine(MustClient(options), Named("localhost"));
    server = MustServerEngine(MustServer(Server(c.server_cert)));
    // Step by step, to look at the client's output right after it failed.
    ASSERT_GT(Transfer(*client, *server), 0u);  // ClientHello
    ASSERT_GT(Transfer(*server, *client), 0u);  // server flight
    EXPECT_FALSE(client->handshake_done());
    EXPECT_EQ(client->outcome(), Outcome::kVerifyFailed);
    const CloseInfo& info = client->close_info();
    EXPECT_EQ(info.operation, "tls handshake");
    EXPECT_EQ(info.verify_result, c.verify_result);
    EXPECT_EQ(info.reason, c.reason);
    EXPECT_EQ(info.alert_sent, c.alert);
    EXPECT_THAT(info.ssl_error, HasSubstr("CERTIFICATE_VERIFY_FAILED"));
    absl::Status s = client->status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(
        std::string(s.message()),
        HasSubstr(absl::StrCat("tls handshake: verify failed: ", c.reason)));
    Engine::Events events = client->TakeEvents();
    EXPECT_TRUE(events.closed);
    EXPECT_FALSE(events.handshake_done);
    // The alert is queued (pitfall 1) and reaches the server.
    ASSERT_GT(client->PendingCiphertext(), 0u);
    Transfer(*client, *server);
    EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
    EXPECT_EQ(server->close_info().alert_received, c.alert);
    EXPECT_EQ(server->status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST_P(EngineTest, DefaultClientRejectsWrongHost) {
  // The SSL_set1_host trap: the name is enforced only with SSL_VERIFY_PEER,
  // which the default options set.
  ClientContextOptions options = Client();
  ASSERT_TRUE(options.verify_peer);
  std::shared_ptr<ClientContext> ctx = MustClient(options);
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx->native_handle()), SSL_VERIFY_PEER);
  Connect(ctx, MustServer(Server("wrong_host")));
  EXPECT_EQ(client->outcome(), Outcome::kVerifyFailed);
  EXPECT_FALSE(client->handshake_done());
}

TEST_P(EngineTest, VerifyOffAcceptsAnyServer) {
  ClientContextOptions options = Client();
  options.verify_peer = false;
  options.trust = Trust();
  Connect(MustClient(options), MustServer(Server("expired")),
          Named("anything.example"));
  EXPECT_TRUE(client->handshake_done()) << client->status();
}

TEST_P(EngineTest, SystemTrustDoesNotKnowTheTestCa) {
  ClientContextOptions options = Client();
  options.trust = Trust::System();
  Connect(MustClient(options), MustServer(Server()));
  EXPECT_EQ(client->outcome(), Outcome::kVerifyFailed);
  EXPECT_EQ(client->close_info().verify_result,
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

// SNI.

TEST_P(EngineTest, SniSelectsTheIdentity) {
  ServerContextOptions options = Server();
  options.identities.push_back(FileIdentity("wrong_host"));  // wrong.example
  Identity wildcard = FileIdentity("expired");
  wildcard.server_names = {"*.Example.ORG"};
  options.identities.push_back(wildcard);
  std::shared_ptr<ServerContext> server_ctx = MustServer(options);
  ClientContextOptions unverified = Client();
  unverified.verify_peer = false;
  std::shared_ptr<ClientContext> verifying = MustClient(Client());
  std::shared_ptr<ClientContext> any = MustClient(unverified);

  Connect(verifying, server_ctx, Named("wrong.example"));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(server->info().server_name, "wrong.example");
  EXPECT_EQ(client->info().peer_chain_der[0], DerOf("wrong_host"));

  // Resumption stays within the identity.
  Connect(verifying, server_ctx, Named("wrong.example"));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_TRUE(client->info().resumed);
  EXPECT_EQ(server->info().server_name, "wrong.example");

  Connect(verifying, server_ctx, Named("LOCALHOST"));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(client->info().peer_chain_der[0], DerOf("server"));

  const std::pair<const char*, const char*> picks[] = {
      {"a.example.org", "expired"},   // wildcard
      {"a.b.example.org", "server"},  // one label only: the default
      {"example.org", "server"},      // the bare domain is not matched
      {"unknown.example", "server"},  // unknown: the default
  };
  for (const auto& pick : picks) {
    SCOPED_TRACE(pick.first);
    Connect(any, server_ctx, Named(pick.first));
    ASSERT_TRUE(client->handshake_done()) << client->status();
    EXPECT_EQ(client->info().peer_chain_der[0], DerOf(pick.second));
    EXPECT_EQ(server->info().server_name, pick.first);
  }
}

// ALPN.

TEST_P(EngineTest, AlpnServerPreferenceWins) {
  ClientContextOptions client_options = Client();
  client_options.alpn_protocols = {"h2", "http/1.1"};
  ServerContextOptions server_options = Server();
  server_options.alpn_protocols = {"http/1.1", "h2"};
  Connect(MustClient(client_options), MustServer(server_options));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(client->info().alpn_protocol, "http/1.1");
  EXPECT_EQ(server->info().alpn_protocol, "http/1.1");
}

TEST_P(EngineTest, AlpnOnlyOnOneSideNegotiatesNothing) {
  ClientContextOptions client_options = Client();
  ServerContextOptions server_options = Server();
  server_options.alpn_protocols = {"h2"};
  Connect(MustClient(client_options), MustServer(server_options));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(server->info().alpn_protocol, "");

  client_options.alpn_protocols = {"h2"};
  Connect(MustClient(client_options), MustServer(Server()));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_EQ(client->info().alpn_protocol, "");
}

TEST_P(EngineTest, AlpnWithoutOverlapFailsWithAFatalAlert) {
  ClientContextOptions client_options = Client();
  client_options.alpn_protocols = {"spdy/3", "h2c"};
  ServerContextOptions server_options = Server();
  server_options.alpn_protocols = {"h2", "http/1.1"};
  Connect(MustClient(client_options), MustServer(server_options));
  EXPECT_FALSE(server->handshake_done());
  EXPECT_FALSE(client->handshake_done());
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().alert_sent, SSL_AD_NO_APPLICATION_PROTOCOL);
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(client->close_info().alert_received,
            SSL_AD_NO_APPLICATION_PROTOCOL);
  EXPECT_THAT(std::string(client->status().message()),
              HasSubstr("alert received: no application protocol"));
}

// Session resumption; pitfall "TLS 1.3 tickets wait for the server's next
// write": the server never writes application data here.

TEST_P(EngineTest, SecondConnectionResumes) {
  std::shared_ptr<ClientContext> client_ctx = MustClient(Client());
  std::shared_ptr<ServerContext> server_ctx = MustServer(Server());
  Connect(client_ctx, server_ctx, Named("localhost", 8443));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_FALSE(client->info().resumed);
  EXPECT_GE(client_ctx->CachedSessions("localhost:8443"), 1u);
  EXPECT_EQ(client_ctx->CachedSessions("localhost:443"), 0u);

  Connect(client_ctx, server_ctx, Named("localhost", 8443));
  ASSERT_TRUE(client->handshake_done()) << client->status();
  EXPECT_TRUE(client->info().resumed);
  EXPECT_TRUE(server->info().resumed);
  EXPECT_FALSE(server->info().early_data_accepted);
  // A resumed session still describes the peer.
  ASSERT_EQ(client->info().peer_chain_der.size(), 1u);
  EXPECT_EQ(client->info().peer_chain_der[0], DerOf("server"));
  ASSERT_TRUE(client->WritePlaintext("resumed").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "resumed");

  // Another port is another key: a full handshake.
  Connect(client_ctx, server_ctx, Named("localhost", 9443));
  ASSERT_TRUE(client->handshake_done());
  EXPECT_FALSE(client->info().resumed);

  client_ctx->ClearSessions();
  Connect(client_ctx, server_ctx, Named("localhost", 8443));
  ASSERT_TRUE(client->handshake_done());
  EXPECT_FALSE(client->info().resumed);
}

TEST_P(EngineTest, ResumptionOffWithoutCache) {
  ClientContextOptions options = Client();
  options.session_cache_size = 0;
  std::shared_ptr<ClientContext> client_ctx = MustClient(options);
  std::shared_ptr<ServerContext> server_ctx = MustServer(Server());
  Connect(client_ctx, server_ctx);
  Connect(client_ctx, server_ctx);
  ASSERT_TRUE(client->handshake_done());
  EXPECT_FALSE(client->info().resumed);
  EXPECT_EQ(client_ctx->CachedSessions("localhost:443"), 0u);
}

TEST_P(EngineTest, SessionCacheIsBounded) {
  ClientContextOptions options = Client();
  options.session_cache_size = 2;
  std::shared_ptr<ClientContext> client_ctx = MustClient(options);
  std::shared_ptr<ServerContext> server_ctx = MustServer(Server());
  for (uint16_t port : {1, 2, 3})
    Connect(client_ctx, server_ctx, Named("localhost", port));
  EXPECT_EQ(client_ctx->CachedSessions("localhost:1"), 0u) << "evicted";
  EXPECT_GE(client_ctx->CachedSessions("localhost:2"), 1u);
  EXPECT_GE(client_ctx->CachedSessions("localhost:3"), 1u);
}

TEST_P(EngineTest, SessionLifetimeIsOneDay) {
  std::shared_ptr<ServerContext> server_ctx = MustServer(Server());
  EXPECT_EQ(SSL_CTX_get_timeout(server_ctx->native_handle()), 86400u);
  bssl::UniquePtr<SSL_CTX> raw_ctx =
      RawContext(TLS1_2_VERSION, tls13() ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(raw_ctx.get(), SSL_SESS_CACHE_CLIENT);
  static bssl::UniquePtr<SSL_SESSION>* last;
  bssl::UniquePtr<SSL_SESSION> session;
  last = &session;
  SSL_CTX_sess_set_new_cb(raw_ctx.get(), [](SSL*, SSL_SESSION* s) {
    last->reset(s);
    return 1;
  });
  RawPeer raw(raw_ctx.get(), /*server=*/false);
  server = MustServerEngine(server_ctx);
  PumpRaw(*server, raw);
  ASSERT_TRUE(server->handshake_done()) << server->status();
  ASSERT_NE(session, nullptr);
  // The raw client would keep sessions longer: the server's lifetime wins.
  EXPECT_GT(SSL_SESSION_get_timeout(session.get()), 0u);
  EXPECT_LE(SSL_SESSION_get_timeout(session.get()), 86400u);
  if (!tls13()) {
    EXPECT_GT(SSL_SESSION_get_ticket_lifetime_hint(session.get()), 0u);
    EXPECT_LE(SSL_SESSION_get_ticket_lifetime_hint(session.get()), 86400u);
  }
}

// Client certificates.

TEST_P(EngineTest, RequiredClientCertificatePresent) {
  ServerContextOptions server_options = Server();
  server_options.client_certificates = ClientCertificates::kRequired;
  server_options.trust = Trust::CaFile(TestData("ca.pem"));
  ClientContextOptions client_options = Client();
  client_options.identity = FileIdentity("client");
  Connect(MustClient(client_options), MustServer(server_options));
  ASSERT_TRUE(server->handshake_done()) << server->status();
  ASSERT_TRUE(client->handshake_done()) << client->status();
  ASSERT_EQ(server->info().peer_chain_der.size(), 1u);
  EXPECT_EQ(server->info().peer_chain_der[0], DerOf("client"));
  ASSERT_TRUE(client->WritePlaintext("authenticated").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "authenticated");
}

TEST_P(EngineTest, RequiredClientCertificateMissing) {
  ServerContextOptions server_options = Server();
  server_options.client_certificates = ClientCertificates::kRequired;
  server_options.trust = Trust::CaFile(TestData("ca.pem"));
  Connect(MustClient(Client()), MustServer(server_options));
  EXPECT_FALSE(server->handshake_done());
  EXPECT_EQ(server->outcome(), Outcome::kVerifyFailed);
  EXPECT_EQ(server->close_info().reason, "peer did not return a certificate");
  EXPECT_EQ(server->status().code(), absl::StatusCode::kUnauthenticated);
  // In TLS 1.3 the client finishes first and learns it from the alert.
  EXPECT_EQ(client->handshake_done(), tls13());
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(client->close_info().alert_received,
            tls13() ? SSL_AD_CERTIFICATE_REQUIRED : SSL_AD_HANDSHAKE_FAILURE);
}

TEST_P(EngineTest, OptionalClientCertificate) {
  ServerContextOptions server_options = Server();
  server_options.client_certificates = ClientCertificates::kOptional;
  server_options.trust = Trust::CaFile(TestData("ca.pem"));
  std::shared_ptr<ServerContext> server_ctx = MustServer(server_options);
  Connect(MustClient(Client()), server_ctx);
  ASSERT_TRUE(server->handshake_done()) << server->status();
  EXPECT_TRUE(server->info().peer_chain_der.empty());

  ClientContextOptions with_cert = Client();
  with_cert.identity = FileIdentity("client");
  Connect(MustClient(with_cert), server_ctx);
  ASSERT_TRUE(server->handshake_done()) << server->status();
  ASSERT_EQ(server->info().peer_chain_der.size(), 1u);
  EXPECT_EQ(server->info().peer_chain_der[0], DerOf("client"));
}

TEST_P(EngineTest, ClientCertificateFromUnknownCaFails) {
  ServerContextOptions server_options = Server();
  server_options.client_certificates = ClientCertificates::kOptional;
  // A trust that does not contain the client's CA.
  server_options.trust = Trust::CaFile(TestData("server.pem"));
  ClientContextOptions client_options = Client();
  client_options.identity = FileIdentity("client");
  Connect(MustClient(client_options), MustServer(server_options));
  EXPECT_EQ(server->outcome(), Outcome::kVerifyFailed);
  EXPECT_EQ(server->close_info().verify_result,
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(client->close_info().alert_received, SSL_AD_UNKNOWN_CA);
}

// Old and weak peers, through a raw BoringSSL peer.

TEST(EngineRawPeer, Tls11ClientIsRefused) {
  std::unique_ptr<Engine> server =
      MustServerEngine(MustServer(ServerOptions()));
  bssl::UniquePtr<SSL_CTX> ctx = RawContext(TLS1_1_VERSION, TLS1_1_VERSION);
  RawPeer raw(ctx.get(), /*server=*/false);
  EXPECT_EQ(PumpRaw(*server, raw), SSL_ERROR_SSL);
  EXPECT_FALSE(server->handshake_done());
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().reason, "UNSUPPORTED_PROTOCOL");
  EXPECT_EQ(server->close_info().alert_sent, SSL_AD_PROTOCOL_VERSION);
}

TEST(EngineRawPeer, Tls11ServerIsRefused) {
  std::unique_ptr<Engine> client =
      MustClientEngine(MustClient(ClientOptions()), Named("localhost"));
  bssl::UniquePtr<SSL_CTX> ctx = RawContext(TLS1_1_VERSION, TLS1_1_VERSION);
  ASSERT_TRUE(SSL_CTX_use_certificate_chain_file(
      ctx.get(), TestData("server.pem").c_str()));
  ASSERT_TRUE(SSL_CTX_use_PrivateKey_file(
      ctx.get(), TestData("server.key").c_str(), SSL_FILETYPE_PEM));
  RawPeer raw(ctx.get(), /*server=*/true);
  raw.Feed(client->TakeCiphertext());
  PumpRaw(*client, raw);
  EXPECT_FALSE(client->handshake_done());
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(client->close_info().reason, "TLSV1_ALERT_PROTOCOL_VERSION");
  EXPECT_EQ(client->close_info().alert_received, SSL_AD_PROTOCOL_VERSION);
}

TEST(EngineRawPeer, CbcOnlyClientIsRefused) {
  std::unique_ptr<Engine> server =
      MustServerEngine(MustServer(ServerOptions()));
  bssl::UniquePtr<SSL_CTX> ctx = RawContext(TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(
      SSL_CTX_set_strict_cipher_list(ctx.get(), "ECDHE-ECDSA-AES128-SHA"));
  RawPeer raw(ctx.get(), /*server=*/false);
  PumpRaw(*server, raw);
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().reason, "NO_SHARED_CIPHER");
}

TEST(EngineRawPeer, ServerCipherPreferenceWins) {
  std::unique_ptr<Engine> server =
      MustServerEngine(MustServer(ServerOptions()));
  bssl::UniquePtr<SSL_CTX> ctx = RawContext(TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(SSL_CTX_set_strict_cipher_list(
      ctx.get(),
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"));
  RawPeer raw(ctx.get(), /*server=*/false);
  PumpRaw(*server, raw);
  ASSERT_TRUE(server->handshake_done()) << server->status();
  EXPECT_EQ(server->info().cipher, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
}

// Pitfall 14: 0-RTT stays off even for a client that asks for it.
TEST(EngineRawPeer, ZeroRttIsOff) {
  std::shared_ptr<ServerContext> server_ctx = MustServer(ServerOptions());
  bssl::UniquePtr<SSL_CTX> ctx = RawContext(TLS1_3_VERSION, TLS1_3_VERSION);
  SSL_CTX_set_early_data_enabled(ctx.get(), 1);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
  static bssl::UniquePtr<SSL_SESSION>* last;
  bssl::UniquePtr<SSL_SESSION> session;
  last = &session;
  SSL_CTX_sess_set_new_cb(ctx.get(), [](SSL*, SSL_SESSION* s) {
    last->reset(s);
    return 1;
  });
  {
    std::unique_ptr<Engine> server = MustServerEngine(server_ctx);
    RawPeer raw(ctx.get(), /*server=*/false);
    PumpRaw(*server, raw);
    ASSERT_TRUE(server->handshake_done()) << server->status();
  }
  ASSERT_NE(session, nullptr) << "the ticket was flushed without app data";
  EXPECT_FALSE(SSL_SESSION_early_data_capable(session.get()));

  std::unique_ptr<Engine> server = MustServerEngine(server_ctx);
  RawPeer raw(ctx.get(), /*server=*/false);
  ASSERT_TRUE(SSL_set_session(raw.ssl(), session.get()));
  PumpRaw(*server, raw);
  ASSERT_TRUE(server->handshake_done()) << server->status();
  EXPECT_TRUE(server->info().resumed);
  EXPECT_FALSE(server->info().early_data_accepted);
  EXPECT_FALSE(SSL_early_data_accepted(raw.ssl()));
}

// Bad input: a clear error, no crash.

TEST(EngineBadInput, HttpInsteadOfClientHello) {
  std::unique_ptr<Engine> server =
      MustServerEngine(MustServer(ServerOptions()));
  absl::Status s =
      server->FeedCiphertext("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().reason, "HTTP_REQUEST");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("tls handshake: protocol error: HTTP_REQUEST"));
  EXPECT_TRUE(server->TakeEvents().closed);
}

TEST(EngineBadInput, RandomBytesInsteadOfClientHello) {
  std::shared_ptr<ServerContext> ctx = MustServer(ServerOptions());
  std::mt19937 rng(42);
  for (int i = 0; i < 50; ++i) {
    std::unique_ptr<Engine> server = MustServerEngine(ctx);
    std::string garbage(1 + rng() % 600, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    if (i % 2 == 0) {
      // A plausible record header in front of the garbage.
      garbage.insert(0, std::string("\x16\x03\x01\x01\x00", 5));
    }
    (void)server->FeedCiphertext(garbage);
    server->FeedEof();
    EXPECT_NE(server->outcome(), Outcome::kOpen) << i;
    EXPECT_FALSE(server->handshake_done()) << i;
    EXPECT_FALSE(server->status().ok()) << i;
  }
}

TEST(EngineBadInput, MalformedClientHelloGetsDecodeError) {
  std::unique_ptr<Engine> server =
      MustServerEngine(MustServer(ServerOptions()));
  // A handshake record holding a ClientHello of 3 bytes.
  (void)server->FeedCiphertext(
      std::string("\x16\x03\x01\x00\x07\x01\x00\x00\x03\x03\x03\x00", 12));
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().alert_sent, SSL_AD_DECODE_ERROR);
  EXPECT_GT(server->PendingCiphertext(), 0u) << "the alert";
}

TEST_P(EngineTest, CorruptedRecordIsAProtocolErrorWithAnAlert) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_TRUE(server->handshake_done());
  ASSERT_TRUE(client->WritePlaintext("first").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "first");
  ASSERT_TRUE(client->WritePlaintext(std::string(1000, 'x')).ok());
  std::string record = client->TakeCiphertext();
  ASSERT_GT(record.size(), 1000u);
  record[record.size() / 2] ^= 0x40;
  absl::Status s = server->FeedCiphertext(record);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(server->close_info().operation, "tls read");
  EXPECT_EQ(server->close_info().reason, "BAD_DECRYPT");
  EXPECT_EQ(server->close_info().alert_sent, SSL_AD_BAD_RECORD_MAC);
  EXPECT_EQ(server->PendingPlaintext(), 0u);
  // Pitfall 1: the alert is in the outgoing ciphertext after the failure.
  ASSERT_GT(server->PendingCiphertext(), 0u);
  Transfer(*server, *client);
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(client->close_info().alert_received, SSL_AD_BAD_RECORD_MAC);
  EXPECT_THAT(std::string(client->status().message()),
              HasSubstr("alert received: bad record mac"));
}

// Pitfall 9/10: clean close, truncation, EOF during the handshake.

TEST_P(EngineTest, CloseNotifyIsACleanClose) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_TRUE(client->handshake_done());
  client->TakeEvents();
  server->TakeEvents();
  ASSERT_TRUE(client->WritePlaintext("last words").ok());
  ASSERT_TRUE(client->Shutdown().ok());
  EXPECT_FALSE(client->close_notify_sent()) << "after the queued data";
  EXPECT_EQ(client->WritePlaintext("more").code(),
            absl::StatusCode::kFailedPrecondition);
  Transfer(*client, *server);
  EXPECT_TRUE(client->close_notify_sent());
  EXPECT_EQ(server->ReadPlaintext(), "last words");
  EXPECT_EQ(server->outcome(), Outcome::kCleanClose);
  EXPECT_TRUE(server->status().ok());
  EXPECT_EQ(server->close_info().reason, "close_notify received");
  EXPECT_TRUE(server->TakeEvents().closed);
  EXPECT_FALSE(server->WantsCiphertext());
  // The server may still write, then answers with its own close_notify.
  ASSERT_TRUE(server->WritePlaintext("goodbye").ok());
  ASSERT_TRUE(server->Shutdown().ok());
  Transfer(*server, *client);
  EXPECT_EQ(client->ReadPlaintext(), "goodbye");
  EXPECT_EQ(client->outcome(), Outcome::kCleanClose);
  EXPECT_TRUE(client->TakeEvents().closed);
  // The socket's EOF after close_notify changes nothing.
  client->FeedEof();
  server->FeedEof();
  EXPECT_EQ(client->outcome(), Outcome::kCleanClose);
  EXPECT_EQ(server->outcome(), Outcome::kCleanClose);
  EXPECT_FALSE(client->TakeEvents().closed) << "reported once";
  EXPECT_EQ(server->FeedCiphertext("x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(EngineTest, EofWithoutCloseNotifyIsTruncation) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_TRUE(client->handshake_done());
  ASSERT_TRUE(client->WritePlaintext("partial").ok());
  Transfer(*client, *server);
  EXPECT_EQ(server->outcome(), Outcome::kOpen);
  server->FeedEof();
  EXPECT_EQ(server->ReadPlaintext(), "partial") << "data before EOF is kept";
  EXPECT_EQ(server->outcome(), Outcome::kTruncated);
  EXPECT_EQ(server->close_info().reason, "EOF without close_notify");
  EXPECT_EQ(server->close_info().operation, "tls read");
  absl::Status s = server->status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "tls read: truncated: EOF without close_notify");
  EXPECT_TRUE(server->TakeEvents().closed);
}

TEST_P(EngineTest, TruncationWaitsForTheBufferedRecords) {
  // EOF arrives with a close_notify still buffered behind a full plaintext
  // queue: the outcome is decided only when the records are read.
  Connect(MustClient(Client()), MustServer(Server()),
          Named("localhost", 443, 16 * 1024));
  ASSERT_TRUE(client->WritePlaintext(std::string(100 * 1024, 'a')).ok());
  ASSERT_TRUE(client->Shutdown().ok());
  std::string wire;
  while (client->PendingCiphertext() > 0) wire += client->TakeCiphertext();
  ASSERT_TRUE(client->close_notify_sent());
  (void)server->FeedCiphertext(wire);
  server->FeedEof();
  EXPECT_EQ(server->outcome(), Outcome::kOpen) << "records still buffered";
  size_t received = 0;
  while (server->PendingPlaintext() > 0)
    received += server->ReadPlaintext().size();
  EXPECT_EQ(received, 100u * 1024);
  EXPECT_EQ(server->outcome(), Outcome::kCleanClose);
}

TEST_P(EngineTest, EofDuringHandshakeIsTruncation) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  server = MustServerEngine(MustServer(Server()));
  Transfer(*client, *server);
  client->FeedEof();
  EXPECT_EQ(client->outcome(), Outcome::kTruncated);
  EXPECT_EQ(client->close_info().reason, "EOF during handshake");
  EXPECT_EQ(client->close_info().operation, "tls handshake");
  EXPECT_FALSE(client->handshake_done());
  EXPECT_EQ(client->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
}

// Pitfall 12: events once; every entry point refuses after a failure.
TEST_P(EngineTest, EntryPointsAfterAFailure) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_TRUE(server->handshake_done());
  EXPECT_TRUE(server->TakeEvents().handshake_done);
  (void)server->FeedCiphertext(std::string(64, '\x17'));  // not a record
  ASSERT_EQ(server->outcome(), Outcome::kProtocolError);
  Engine::Events events = server->TakeEvents();
  EXPECT_TRUE(events.closed);
  EXPECT_FALSE(events.handshake_done);
  std::string alert = server->TakeCiphertext();
  EXPECT_FALSE(alert.empty());
  EXPECT_EQ(server->FeedCiphertext("x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server->WritePlaintext("x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(server->WritePlaintext("x").message()),
              HasSubstr("protocol error"));
  EXPECT_EQ(server->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server->KeyUpdate().code(), absl::StatusCode::kFailedPrecondition);
  server->FeedEof();
  EXPECT_EQ(server->outcome(), Outcome::kProtocolError) << "unchanged";
  EXPECT_EQ(server->PendingCiphertext(), 0u);
  EXPECT_EQ(server->TakeCiphertext(), "");
  EXPECT_FALSE(server->WantsCiphertext());
  events = server->TakeEvents();
  EXPECT_FALSE(events.closed);
  EXPECT_FALSE(events.handshake_done);
}

TEST_P(EngineTest, ShutdownBeforeTheHandshakeIsRefused) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  EXPECT_EQ(client->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->KeyUpdate().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(client->WritePlaintext("queued until the handshake").ok());
}

// Pitfall 2: records are read as soon as they arrive, also in the feed that
// finishes the handshake, and several records in one feed.

TEST_P(EngineTest, DataRidingTheLastFlightIsReadAtOnce) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  server = MustServerEngine(MustServer(Server()));
  ASSERT_TRUE(client->WritePlaintext("early from client").ok());
  ASSERT_TRUE(server->WritePlaintext("early from server").ok());
  EXPECT_EQ(client->write_queue_size(), client->PendingCiphertext() + 17);
  bool client_together = false;
  bool server_together = false;
  for (int round = 0; round < 10; ++round) {
    if (Transfer(*client, *server) > 0 && server->TakeEvents().handshake_done) {
      server_together = server->PendingPlaintext() > 0;
    }
    if (Transfer(*server, *client) > 0 && client->TakeEvents().handshake_done) {
      client_together = client->PendingPlaintext() > 0;
    }
  }
  EXPECT_EQ(server->ReadPlaintext(), "early from client");
  EXPECT_EQ(client->ReadPlaintext(), "early from server");
  // TLS 1.3: the client's Finished and data reach the server together;
  // TLS 1.2: the server's Finished and data reach the client together.
  EXPECT_EQ(server_together, tls13());
  EXPECT_EQ(client_together, !tls13());
}

TEST_P(EngineTest, AllRecordsOfOneFeedAreRead) {
  Connect(MustClient(Client()), MustServer(Server()));
  std::string wire;
  for (const char* piece : {"one ", "two ", "three"}) {
    ASSERT_TRUE(client->WritePlaintext(piece).ok());
    wire += client->TakeCiphertext();
  }
  EXPECT_EQ(CountRecords(wire, kApplicationData), 3);
  ASSERT_TRUE(server->FeedCiphertext(wire).ok());
  EXPECT_EQ(server->ReadPlaintext(), "one two three");
  EXPECT_EQ(server->BufferedCiphertext(), 0u);
}

TEST_P(EngineTest, OneByteFeedsWork) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  server = MustServerEngine(MustServer(Server()));
  ASSERT_TRUE(client->WritePlaintext("byte by byte").ok());
  for (int round = 0; round < 20; ++round) {
    for (char c : client->TakeCiphertext()) {
      (void)server->FeedCiphertext(absl::string_view(&c, 1));
    }
    for (char c : server->TakeCiphertext()) {
      (void)client->FeedCiphertext(absl::string_view(&c, 1));
    }
  }
  ASSERT_TRUE(server->handshake_done()) << server->status();
  EXPECT_EQ(server->ReadPlaintext(), "byte by byte");
}

// Pitfall 8: small writes become few records.
TEST_P(EngineTest, SmallWritesAreCoalesced) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_EQ(client->PendingCiphertext(), 0u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(client->WritePlaintext("0123456789").ok());
  }
  EXPECT_EQ(client->PendingCiphertext(), 10000u) << "not yet encrypted";
  std::string wire = client->TakeCiphertext();
  EXPECT_EQ(CountRecords(wire, kApplicationData), 1);
  for (int i = 0; i < 4000; ++i) {
    ASSERT_TRUE(client->WritePlaintext("0123456789").ok());
  }
  std::string wire2 = client->TakeCiphertext();
  EXPECT_EQ(CountRecords(wire2, kApplicationData), 3);  // 40000 bytes
  ASSERT_TRUE(server->FeedCiphertext(wire + wire2).ok());
  EXPECT_EQ(server->ReadPlaintext().size(), 50000u);
}

// A write of at least one record with nothing queued is encrypted at once,
// in full records only (no copy); its tail still coalesces with the next
// small write, and a large write never overtakes queued bytes.
TEST_P(EngineTest, LargeWritesKeepRecordsFullAndOrder) {
  Connect(MustClient(Client()), MustServer(Server()));
  std::string big(2 * Engine::kMaxRecord + 100, 'b');
  ASSERT_TRUE(client->WritePlaintext(big).ok());
  ASSERT_TRUE(client->WritePlaintext("tail").ok());
  std::string wire = client->TakeCiphertext();
  EXPECT_EQ(CountRecords(wire, kApplicationData), 3);  // 16384, 16384, 104
  EXPECT_EQ(client->plaintext_bytes_taken(), big.size() + 4);
  // Queued small bytes first, then a large write: order is kept.
  ASSERT_TRUE(client->WritePlaintext("head").ok());
  ASSERT_TRUE(client->WritePlaintext(big).ok());
  std::string wire2 = client->TakeCiphertext();
  EXPECT_EQ(CountRecords(wire2, kApplicationData), 3);
  ASSERT_TRUE(server->FeedCiphertext(wire + wire2).ok());
  std::string got;
  while (server->PendingPlaintext() > 0) got += server->ReadPlaintext();
  EXPECT_EQ(got, big + "tail" + "head" + big);
}

// Pitfalls 4 and 5: taken ciphertext belongs to the caller; the plaintext
// offset tells which writes are complete.
TEST_P(EngineTest, WriteCompletionOffsets) {
  Connect(MustClient(Client()), MustServer(Server()),
          Named("localhost", 443, 4096));
  EXPECT_EQ(client->plaintext_bytes_taken(), 0u);
  ASSERT_TRUE(client->WritePlaintext(std::string(100, 'a')).ok());
  ASSERT_TRUE(client->WritePlaintext(std::string(200, 'b')).ok());
  EXPECT_EQ(client->plaintext_bytes_taken(), 0u);
  std::string first = client->TakeCiphertext();
  EXPECT_EQ(client->plaintext_bytes_taken(), 300u);
  // 40000 bytes above a 4 KiB mark: several takes, each bounded.
  ASSERT_TRUE(client->WritePlaintext(std::string(40000, 'c')).ok());
  std::vector<std::string> taken;
  uint64_t last = 300;
  while (client->PendingCiphertext() > 0) {
    taken.push_back(client->TakeCiphertext());
    EXPECT_LE(taken.back().size(), 4096u + Engine::kMaxRecord + 64);
    EXPECT_GT(client->plaintext_bytes_taken(), last);
    last = client->plaintext_bytes_taken();
  }
  EXPECT_GT(taken.size(), 2u);
  EXPECT_EQ(client->plaintext_bytes_taken(), 40300u);
  // The caller's copies survive the engine.
  client.reset();
  ASSERT_TRUE(server->FeedCiphertext(first).ok());
  for (const std::string& t : taken) {
    ASSERT_TRUE(server->FeedCiphertext(t).ok());
  }
  std::string got;
  while (server->PendingPlaintext() > 0) got += server->ReadPlaintext();
  EXPECT_EQ(got, std::string(100, 'a') + std::string(200, 'b') +
                     std::string(40000, 'c'));
}

// Pitfall 6: the plaintext queue stops at the mark, reading resumes.
TEST_P(EngineTest, PlaintextQueueStopsAtTheHighWaterMark) {
  const size_t mark = 32 * 1024;
  // A server with a small mark, a client with a large one.
  std::unique_ptr<Engine> c =
      MustClientEngine(MustClient(Client()), Named("localhost", 443, 1 << 20));
  std::unique_ptr<Engine> s = MustServerEngine(MustServer(Server()), mark);
  Pump(*c, *s);
  ASSERT_TRUE(c->WritePlaintext(std::string(200 * 1024, 'z')).ok());
  std::string wire = c->TakeCiphertext();
  ASSERT_TRUE(s->FeedCiphertext(wire).ok());
  EXPECT_GE(s->PendingPlaintext(), mark);
  EXPECT_LT(s->PendingPlaintext(), mark + Engine::kMaxRecord);
  EXPECT_GT(s->BufferedCiphertext(), 100u * 1024) << "left undecrypted";
  EXPECT_FALSE(s->WantsCiphertext());
  size_t total = 0;
  while (s->PendingPlaintext() > 0) {
    EXPECT_LT(s->PendingPlaintext(), mark + Engine::kMaxRecord);
    total += s->ReadPlaintext().size();
  }
  EXPECT_EQ(total, 200u * 1024);
  EXPECT_EQ(s->BufferedCiphertext(), 0u);
  EXPECT_TRUE(s->WantsCiphertext());
}

// Pitfalls 3 and 6: 16 MiB echoed through bounded queues. Time is not
// asserted.
TEST_P(EngineTest, LargeTransferWithBoundedQueues) {
  const size_t mark = 64 * 1024;
  const size_t total = 16 << 20;
  Connect(MustClient(Client()), MustServer(Server()),
          Named("localhost", 443, mark));
  std::string data(total, '\0');
  std::mt19937 rng(7);
  for (size_t i = 0; i < total; i += 4) {
    uint32_t r = rng();
    std::memcpy(&data[i], &r, 4);
  }
  size_t sent = 0, echoed = 0, received = 0;
  size_t max_plaintext = 0, max_buffered = 0, max_taken = 0, max_queue = 0;
  bool same = true;
  int rounds = 0;
  while (received < total && rounds++ < 100000) {
    while (sent < total && client->write_queue_size() < mark) {
      size_t n = std::min<size_t>(64 * 1024, total - sent);
      ASSERT_TRUE(
          client->WritePlaintext(absl::string_view(data).substr(sent, n)).ok());
      sent += n;
    }
    max_queue = std::max(max_queue, client->write_queue_size());
    if (client->PendingCiphertext() > 0 && server->WantsCiphertext()) {
      std::string c = client->TakeCiphertext();
      max_taken = std::max(max_taken, c.size());
      ASSERT_TRUE(server->FeedCiphertext(c).ok());
    }
    max_plaintext = std::max(max_plaintext, server->PendingPlaintext());
    max_buffered = std::max(max_buffered, server->BufferedCiphertext());
    if (server->PendingPlaintext() > 0 && server->write_queue_size() < mark) {
      std::string p = server->ReadPlaintext();
      same = same && absl::string_view(data).substr(echoed, p.size()) == p;
      echoed += p.size();
      ASSERT_TRUE(server->WritePlaintext(p).ok());
    }
    max_queue = std::max(max_queue, server->write_queue_size());
    if (server->PendingCiphertext() > 0 && client->WantsCiphertext()) {
      std::string c = server->TakeCiphertext();
      max_taken = std::max(max_taken, c.size());
      ASSERT_TRUE(client->FeedCiphertext(c).ok());
    }
    max_plaintext = std::max(max_plaintext, client->PendingPlaintext());
    max_buffered = std::max(max_buffered, client->BufferedCiphertext());
    if (client->PendingPlaintext() > 0) {
      std::string p = client->ReadPlaintext();
      same = same && absl::string_view(data).substr(received, p.size()) == p;
      received += p.size();
    }
  }
  EXPECT_EQ(received, total);
  EXPECT_EQ(echoed, total);
  EXPECT_TRUE(same);
  // Bounds: a mark plus one record (and its overhead).
  const size_t record = Engine::kMaxRecord + 64;
  EXPECT_LE(max_plaintext, mark + Engine::kMaxRecord);
  EXPECT_LE(max_taken, mark + record);
  EXPECT_LE(max_buffered, 2 * mark + record);
  EXPECT_LE(max_queue, 2 * mark + record);
}

// Pitfall 3: a 16 MiB backlog fed at once is consumed piece by piece. The
// engine's BIO never moves the remainder; a memory BIO would memmove it on
// every read (some 16 GB here: seconds instead of milliseconds). Time is
// not asserted.
TEST_P(EngineTest, LargeBacklogFedAtOnce) {
  const size_t total = 16 << 20;
  client = MustClientEngine(MustClient(Client()),
                            Named("localhost", 443, total + (1 << 20)));
  server = MustServerEngine(MustServer(Server()), 64 * 1024);
  Pump(*client, *server);
  ASSERT_TRUE(client->WritePlaintext(std::string(total, 'q')).ok());
  std::string wire = client->TakeCiphertext();
  ASSERT_GT(wire.size(), total);
  ASSERT_TRUE(server->FeedCiphertext(wire).ok());
  size_t received = 0;
  size_t reads = 0;
  while (server->PendingPlaintext() > 0) {
    received += server->ReadPlaintext().size();
    ++reads;
  }
  EXPECT_EQ(received, total);
  EXPECT_GT(reads, 100u) << "the plaintext queue stayed bounded";
  EXPECT_EQ(server->BufferedCiphertext(), 0u);
}

// The zero-length write: TLS 1.3 KeyUpdate replies go out without data.
TEST_P(EngineTest, KeyUpdateIsAnsweredWithoutApplicationData) {
  Connect(MustClient(Client()), MustServer(Server()));
  ASSERT_TRUE(client->handshake_done());
  if (!tls13()) {
    EXPECT_EQ(client->KeyUpdate().code(),
              absl::StatusCode::kFailedPrecondition);
    return;
  }
  ASSERT_TRUE(client->KeyUpdate().ok());
  ASSERT_GT(client->PendingCiphertext(), 0u);
  Transfer(*client, *server);
  EXPECT_GT(server->PendingCiphertext(), 0u) << "the server's KeyUpdate";
  Transfer(*server, *client);
  EXPECT_EQ(client->outcome(), Outcome::kOpen);
  ASSERT_TRUE(client->WritePlaintext("new keys").ok());
  ASSERT_TRUE(server->WritePlaintext("both ways").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "new keys");
  EXPECT_EQ(client->ReadPlaintext(), "both ways");
}

// Pitfall 15: the handshake configuration is shed; the info stays.
TEST_P(EngineTest, HandshakeConfigurationIsShed) {
  client = MustClientEngine(MustClient(Client()), Named("localhost"));
  server = MustServerEngine(MustServer(Server()));
  EXPECT_NE(SSL_get_ciphers(server->native_handle()), nullptr);
  Pump(*client, *server);
  ASSERT_TRUE(server->handshake_done());
  EXPECT_EQ(SSL_get_ciphers(server->native_handle()), nullptr);
  EXPECT_EQ(SSL_get_ciphers(client->native_handle()), nullptr);
  EXPECT_FALSE(client->info().cipher.empty());
  ASSERT_TRUE(client->WritePlaintext("still works").ok());
  Pump(*client, *server);
  EXPECT_EQ(server->ReadPlaintext(), "still works");
}

// Pitfall 13: contexts are shared across threads, engines are not.
TEST(EngineThreads, ContextsAreSharedAcrossThreads) {
  std::shared_ptr<ClientContext> client_ctx = MustClient(ClientOptions());
  std::shared_ptr<ServerContext> server_ctx = MustServer(ServerOptions());
  std::atomic<int> ok{0};
  std::atomic<int> resumed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto c =
            Engine::CreateClient(client_ctx, Named("localhost", 1000 + t % 2));
        auto s = Engine::CreateServer(server_ctx, EngineOptions());
        if (!c.ok() || !s.ok()) continue;
        Pump(**c, **s);
        if (!(*c)->WritePlaintext("hi").ok()) continue;
        Pump(**c, **s);
        if ((*s)->ReadPlaintext() == "hi") ok++;
        if ((*c)->info().resumed) resumed++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_GT(resumed.load(), 0);
}

// Creation errors.

TEST(EngineCreate, BadOptions) {
  std::shared_ptr<ClientContext> client_ctx = MustClient(ClientOptions());
  EXPECT_EQ(Engine::CreateClient(nullptr, Named("localhost")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Engine::CreateServer(nullptr, EngineOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status s = Engine::CreateClient(client_ctx, Named("")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("server name is required"));
  EXPECT_EQ(Engine::CreateClient(client_ctx, Named("localhost", 443, 0))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Engine::CreateClient(client_ctx, Named(std::string("a\0b", 3)))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EngineOptions zero;
  zero.high_water = 0;
  EXPECT_EQ(
      Engine::CreateServer(MustServer(ServerOptions()), zero).status().code(),
      absl::StatusCode::kInvalidArgument);
  // Without verification a name is optional; an IPv6 literal in brackets.
  ClientContextOptions unverified = ClientOptions();
  unverified.verify_peer = false;
  std::shared_ptr<ClientContext> any = MustClient(unverified);
  EXPECT_TRUE(Engine::CreateClient(any, Named("")).ok());
  EXPECT_TRUE(Engine::CreateClient(client_ctx, Named("[::1]")).ok());
}

TEST(ContextCreate, Errors) {
  struct Case {
    const char* name;
    std::function<absl::Status()> create;
    absl::StatusCode code;
    const char* message;
  };
  auto server = [](std::function<void(ServerContextOptions&)> edit) {
    return [edit] {
      ServerContextOptions o = ServerOptions();
      edit(o);
      return ServerContext::Create(o).status();
    };
  };
  auto client = [](std::function<void(ClientContextOptions&)> edit) {
    return [edit] {
      ClientContextOptions o = ClientOptions();
      edit(o);
      return ClientContext::Create(o).status();
    };
  };
  const Case cases[] = {
      {"missing chain file", server([](ServerContextOptions& o) {
         o.identities[0].certificate_chain = Pem::File("/nonexistent.pem");
       }),
       absl::StatusCode::kNotFound,
       "tls server context: identity 0: read certificate chain "
       "/nonexistent.pem"},
      {"garbage chain", server([](ServerContextOptions& o) {
         o.identities[0].certificate_chain = Pem::Memory("not a PEM");
       }),
       absl::StatusCode::kInvalidArgument, "NO_START_LINE"},
      {"garbage key", server([](ServerContextOptions& o) {
         o.identities[0].private_key = Pem::Memory("not a PEM");
       }),
       absl::StatusCode::kInvalidArgument, "no valid PEM private key"},
      {"key does not match", server([](ServerContextOptions& o) {
         o.identities[0].private_key = Pem::File(TestData("client.key"));
       }),
       absl::StatusCode::kInvalidArgument, "does not match"},
      {"both path and text", server([](ServerContextOptions& o) {
         o.identities[0].private_key.text = "x";
       }),
       absl::StatusCode::kInvalidArgument, "both a path and a text"},
      {"empty pem", server([](ServerContextOptions& o) {
         o.identities[0].private_key = Pem();
       }),
       absl::StatusCode::kInvalidArgument, "private key: empty"},
      {"no identity",
       server([](ServerContextOptions& o) { o.identities.clear(); }),
       absl::StatusCode::kInvalidArgument, "no identity"},
      {"second identity without names", server([](ServerContextOptions& o) {
         o.identities.push_back(FileIdentity("client"));
       }),
       absl::StatusCode::kInvalidArgument, "identity 1: no server names"},
      {"client certificates without trust", server([](ServerContextOptions& o) {
         o.client_certificates = ClientCertificates::kRequired;
       }),
       absl::StatusCode::kInvalidArgument, "need a trust"},
      {"min above max", server([](ServerContextOptions& o) {
         o.min_version = TlsVersion::kTls13;
         o.max_version = TlsVersion::kTls12;
       }),
       absl::StatusCode::kInvalidArgument, "min_version is above max_version"},
      {"empty ALPN name", server([](ServerContextOptions& o) {
         o.alpn_protocols = {"h2", ""};
       }),
       absl::StatusCode::kInvalidArgument, "ALPN protocol 1"},
      {"long ALPN name", client([](ClientContextOptions& o) {
         o.alpn_protocols = {std::string(256, 'x')};
       }),
       absl::StatusCode::kInvalidArgument, "must be 1 to 255 bytes"},
      {"missing CA file", client([](ClientContextOptions& o) {
         o.trust = Trust::CaFile("/nonexistent/ca.pem");
       }),
       absl::StatusCode::kNotFound, "read CA certificates /nonexistent/ca.pem"},
      {"garbage CA", client([](ClientContextOptions& o) {
         o.trust.ca_certificates = {Pem::Memory("garbage")};
       }),
       absl::StatusCode::kInvalidArgument, "CA certificates (memory)"},
      {"missing CA directory", client([](ClientContextOptions& o) {
         o.trust.ca_directory = "/nonexistent";
       }),
       absl::StatusCode::kNotFound, "CA directory /nonexistent"},
      {"client identity key mismatch", client([](ClientContextOptions& o) {
         o.identity = Identity{Pem::File(TestData("client.pem")),
                               Pem::File(TestData("server.key")),
                               {}};
       }),
       absl::StatusCode::kInvalidArgument, "does not match"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = c.create();
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
  }
}

TEST(CertificatePem, RoundTrip) {
  absl::StatusOr<std::string> pem = CertificatePem(DerOf("server"));
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(*pem, ReadFile(TestData("server.pem")));
  EXPECT_EQ(CertificatePem("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CertificatePem(DerOf("server") + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Outcome, Names) {
  EXPECT_EQ(OutcomeName(Outcome::kOpen), "open");
  EXPECT_EQ(OutcomeName(Outcome::kCleanClose), "clean close");
  EXPECT_EQ(OutcomeName(Outcome::kTruncated), "truncated");
  EXPECT_EQ(OutcomeName(Outcome::kProtocolError), "protocol error");
  EXPECT_EQ(OutcomeName(Outcome::kVerifyFailed), "verify failed");
}

}  // namespace
}  // namespace tls
}  // namespace evergreen
