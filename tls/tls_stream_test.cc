// Tests of tls::TlsStream over real TCP connections on 127.0.0.1 (and Unix
// stream sockets): echo with every byte checked, handshake outcomes, flow
// control, close and shutdown, and peers that misbehave.
#include "tls/tls_stream.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/pipe.h"
#include "loop/stream.h"
#include "loop/tcp.h"
#include "loop/timer.h"
#include "tls/context.h"
#include "tls/engine.h"

// BoringSSL has no frame pointers: ASan needs the slow unwinder to walk
// through it (TLS-NOTES.md). ASAN_OPTIONS from the environment still apply.
extern "C" const char* __asan_default_options() {
  return "fast_unwind_on_malloc=0";
}

namespace evergreen {
namespace tls {
namespace {

using loop::Handle;
using loop::HandlePtr;
using loop::Loop;
using loop::Pipe;
using loop::SocketAddress;
using loop::Stream;
using loop::Tcp;
using loop::Timer;

// Test data and contexts.

std::string TestData(absl::string_view name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string root = srcdir != nullptr ? srcdir : ".";
  return absl::StrCat(root, "/evergreen/tls/testdata/", name);
}

Identity FileIdentity(absl::string_view name) {
  return Identity{Pem::File(TestData(absl::StrCat(name, ".pem"))),
                  Pem::File(TestData(absl::StrCat(name, ".key"))),
                  {}};
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

std::shared_ptr<ServerContext> MustServer(
    const ServerContextOptions& options = ServerOptions()) {
  absl::StatusOr<std::shared_ptr<ServerContext>> ctx =
      ServerContext::Create(options);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

std::shared_ptr<ClientContext> MustClient(
    const ClientContextOptions& options = ClientOptions()) {
  absl::StatusOr<std::shared_ptr<ClientContext>> ctx =
      ClientContext::Create(options);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

TlsStreamOptions Named(absl::string_view name = "localhost",
                       uint16_t port = 0) {
  TlsStreamOptions options;
  options.server_name = std::string(name);
  options.port = port;
  return options;
}

bool Contains(const absl::Status& s, absl::string_view part) {
  return absl::StrContains(s.message(), part);
}

// Byte `offset` of a pseudo-random stream named by `seed`: misordered or
// misrouted bytes do not match.
char PatternByte(uint64_t seed, uint64_t offset) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (offset / 8) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<char>(z >> ((offset % 8) * 8));
}

std::string Pattern(uint64_t seed, uint64_t offset, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = PatternByte(seed, offset + i);
  return s;
}

// Loop scaffolding.

SocketAddress Localhost(uint16_t port = 0) {
  return *SocketAddress::Parse("127.0.0.1", port);
}

// Fails the test and stops the loop if it runs longer than 10 s.
class Watchdog {
 public:
  explicit Watchdog(Loop& loop) : timer_(Timer::Create(loop)) {
    EXPECT_TRUE(timer_
                    ->Start(10000, 0,
                            [](Timer& t) {
                              ADD_FAILURE() << "watchdog: test took > 10 s";
                              t.loop().Stop();
                            })
                    .ok());
    timer_->Unref();
  }

 private:
  HandlePtr<Timer> timer_;
};

// Closes everything and checks that the loop closes cleanly.
void Finish(Loop& loop) {
  loop.Walk([](Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

// A fresh directory under $TEST_TMPDIR made the working directory (socket
// paths must fit in 107 bytes; $TEST_TMPDIR is longer).
class ScopedTempCwd {
 public:
  ScopedTempCwd() {
    const char* base = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(base ? base : "/tmp", "/tlsXXXXXX");
    EXPECT_NE(mkdtemp(dir_.data()), nullptr);
    EXPECT_NE(getcwd(old_, sizeof(old_)), nullptr);
    EXPECT_EQ(chdir(dir_.c_str()), 0);
  }
  ~ScopedTempCwd() { EXPECT_EQ(chdir(old_), 0); }

 private:
  std::string dir_;
  char old_[4096];
};

enum class Transport { kTcp, kPipe };

// A listening Tcp (127.0.0.1, port 0) or Pipe that hands each accepted
// stream to on_accept and stops listening after `accepts` connections.
class Listener {
 public:
  Listener(Loop& loop, Transport transport, int accepts)
      : loop_(loop), transport_(transport), left_(accepts) {
    if (transport == Transport::kTcp) {
      HandlePtr<Tcp> tcp = *Tcp::Create(loop);
      EXPECT_TRUE(tcp->Bind(Localhost()).ok());
      port_ = tcp->SockName()->port();
      server_ = std::move(tcp);
    } else {
      HandlePtr<Pipe> pipe = *Pipe::Create(loop);
      EXPECT_TRUE(pipe->Bind(kPath).ok());
      server_ = std::move(pipe);
    }
    EXPECT_TRUE(server_
                    ->Listen(16,
                             [this](Stream& s, absl::Status st) {
                               ASSERT_TRUE(st.ok()) << st;
                               HandlePtr<Stream> conn = Accept(s);
                               ASSERT_NE(conn, nullptr);
                               if (--left_ == 0) (void)s.Close();
                               if (on_accept) on_accept(std::move(conn));
                             })
                    .ok());
  }

  // Connect returns a client stream, connecting.
  HandlePtr<Stream> Connect() {
    if (transport_ == Transport::kTcp) {
      HandlePtr<Tcp> tcp = *Tcp::Create(loop_);
      EXPECT_TRUE(
          tcp->Connect(Localhost(port_), [](Tcp&, absl::Status) {}).ok());
      return tcp;
    }
    HandlePtr<Pipe> pipe = *Pipe::Create(loop_);
    EXPECT_TRUE(pipe->Connect(kPath, [](Pipe&, absl::Status) {}).ok());
    return pipe;
  }

  uint16_t port() const { return port_; }
  // Stop stops listening.
  void Stop() {
    if (!server_->IsClosing()) (void)server_->Close();
  }
  std::function<void(HandlePtr<Stream>)> on_accept;

 private:
  static constexpr const char* kPath = "tls_stream_test.sock";

  HandlePtr<Stream> Accept(Stream& s) {
    if (transport_ == Transport::kTcp) {
      absl::StatusOr<HandlePtr<Tcp>> c = static_cast<Tcp&>(s).Accept();
      EXPECT_TRUE(c.ok()) << c.status();
      return c.ok() ? std::move(*c) : nullptr;
    }
    absl::StatusOr<HandlePtr<Pipe>> c = static_cast<Pipe&>(s).Accept();
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  Loop& loop_;
  Transport transport_;
  int left_;
  uint16_t port_ = 0;
  HandlePtr<Stream> server_;
};

// A TLS server: each accepted stream becomes a server TlsStream, kept in
// `conns`; every handshake result is recorded.
struct TlsServer {
  TlsServer(Loop& loop, std::shared_ptr<ServerContext> ctx,
            TlsStreamOptions options = {}, int accepts = 1,
            Transport transport = Transport::kTcp)
      : listener(loop, transport, accepts) {
    listener.on_accept = [this, ctx, options](HandlePtr<Stream> s) {
      if (on_stream) on_stream(*s);
      absl::StatusOr<TlsStreamPtr> tls = TlsStream::CreateServer(
          std::move(s), ctx, options, [this](TlsStream& t, absl::Status st) {
            results.push_back(st);
            if (on_handshake) on_handshake(t, st);
          });
      ASSERT_TRUE(tls.ok()) << tls.status();
      conns.push_back(std::move(*tls));
    };
  }

  uint16_t port() const { return listener.port(); }

  Listener listener;
  std::vector<TlsStreamPtr> conns;
  std::vector<absl::Status> results;
  std::function<void(Stream&)> on_stream;  // before the TLS starts
  std::function<void(TlsStream&, absl::Status)> on_handshake;
};

// Connect makes a client TlsStream over a connecting stream from `listener`;
// handshake results go to `results`, then to `cb` if set.
TlsStreamPtr Connect(Listener& listener, std::shared_ptr<ClientContext> ctx,
                     TlsStreamOptions options,
                     std::vector<absl::Status>* results,
                     TlsStream::HandshakeCallback cb = nullptr) {
  absl::StatusOr<TlsStreamPtr> tls =
      TlsStream::CreateClient(listener.Connect(), std::move(ctx), options,
                              [results, cb](TlsStream& t, absl::Status st) {
                                results->push_back(st);
                                if (cb) cb(t, st);
                              });
  EXPECT_TRUE(tls.ok()) << tls.status();
  return tls.ok() ? std::move(*tls) : nullptr;
}

// Echoer echoes what its TlsStream reads, stopping reading while its write
// queue is above high_water; at the peer's close_notify it shuts down, then
// closes.
class Echoer {
 public:
  explicit Echoer(TlsStream& t) { EXPECT_TRUE(Read(t).ok()); }

  size_t bytes = 0;
  int eof = 0;
  int shutdowns = 0;
  int writes_done = 0;
  size_t max_queue = 0;

 private:
  absl::Status Read(TlsStream& t) {
    return t.ReadStart(
        [this](TlsStream& s, absl::StatusOr<absl::string_view> r) {
          OnRead(s, r);
        });
  }

  void OnRead(TlsStream& t, const absl::StatusOr<absl::string_view>& r) {
    if (!r.ok()) {
      if (r.status().code() != absl::StatusCode::kOutOfRange) {
        ADD_FAILURE() << "echo read: " << r.status();
        (void)t.Close();
        return;
      }
      ++eof;
      EXPECT_TRUE(t.Shutdown([this](TlsStream& s, absl::Status st) {
                     EXPECT_TRUE(st.ok()) << st;
                     ++shutdowns;
                     EXPECT_TRUE(s.Close().ok());
                   }).ok());
      return;
    }
    bytes += r->size();
    EXPECT_TRUE(t.Write(*r, [this](TlsStream& s, absl::Status st) {
                   EXPECT_TRUE(st.ok()) << st;
                   ++writes_done;
                   if (!s.IsClosing() && !s.IsReading() && eof == 0 &&
                       s.WriteQueueSize() <= s.high_water() / 2) {
                     EXPECT_TRUE(Read(s).ok());
                   }
                 }).ok());
    max_queue = std::max(max_queue, t.WriteQueueSize());
    if (t.WriteQueueSize() > t.high_water()) {
      EXPECT_TRUE(t.ReadStop().ok());
    }
  }
};

// Sender writes `total` pattern bytes in writes of 1..64 KiB, keeping the
// write queue below high_water and writing more from the write callbacks.
class Sender {
 public:
  Sender(uint64_t seed, size_t total) : seed_(seed), total_(total) {}

  void Pump(TlsStream& t) {
    while (!t.IsClosing() && sent < total_ &&
           t.WriteQueueSize() < t.high_water()) {
      size_t n = std::min<size_t>(total_ - sent, 1 + (sent * 7919) % 65536);
      absl::Status s = t.Write(
          Pattern(seed_, sent, n), [this](TlsStream& w, absl::Status st) {
            EXPECT_TRUE(st.ok()) << st;
            ++done;
            if (done == writes && sent == total_ && on_all_done) {
              on_all_done(w);
            }
            Pump(w);
          });
      ASSERT_TRUE(s.ok()) << s;
      sent += n;
      ++writes;
      max_queue = std::max(max_queue, t.WriteQueueSize());
    }
  }

  size_t sent = 0;
  int writes = 0;
  int done = 0;
  size_t max_queue = 0;
  std::function<void(TlsStream&)> on_all_done;  // once everything is sent

 private:
  uint64_t seed_;
  size_t total_;
};

// Checker checks that reads give the pattern bytes in order.
struct Checker {
  explicit Checker(uint64_t seed) : seed(seed) {}
  bool Add(absl::string_view data) {
    bool same = data == Pattern(seed, received, data.size());
    EXPECT_TRUE(same) << "mismatch in " << data.size() << " bytes at "
                      << received;
    received += data.size();
    return same;
  }
  uint64_t seed;
  size_t received = 0;
};

// Echo: a client sends 2 MiB + change through an echoing server and checks
// every byte that comes back; then close_notify both ways.

class TlsEchoTest : public ::testing::TestWithParam<Transport> {};

TEST_P(TlsEchoTest, EchoesEveryByteThenClosesCleanly) {
  ScopedTempCwd cwd;
  Loop loop;
  Watchdog dog(loop);
  const size_t kTotal = (2 << 20) + 12345;
  TlsServer server(loop, MustServer(), {}, 1, GetParam());
  std::unique_ptr<Echoer> echoer;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    echoer = std::make_unique<Echoer>(t);
  };
  Sender sender(1, kTotal);
  Checker checker(1);
  std::vector<absl::Status> results;
  int eof = 0, shutdowns = 0, closed = 0;
  TlsStreamPtr client = Connect(
      server.listener, MustClient(), Named(), &results,
      [&](TlsStream& t, absl::Status st) {
        ASSERT_TRUE(st.ok()) << st;
        sender.Pump(t);
        ASSERT_TRUE(
            t.ReadStart([&](TlsStream& r, auto data) {
               if (!data.ok()) {
                 EXPECT_EQ(data.status().code(), absl::StatusCode::kOutOfRange)
                     << data.status();
                 ++eof;
                 EXPECT_TRUE(r.Close([&](TlsStream&) { ++closed; }).ok());
                 return;
               }
               checker.Add(*data);
               if (checker.received == kTotal) {
                 EXPECT_TRUE(r.Shutdown([&](TlsStream&, absl::Status s) {
                                EXPECT_TRUE(s.ok()) << s;
                                ++shutdowns;
                              }).ok());
               }
             }).ok());
      });
  ASSERT_NE(client, nullptr);
  loop.Run();

  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok());
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_TRUE(server.results[0].ok());
  EXPECT_EQ(checker.received, kTotal);
  EXPECT_EQ(sender.done, sender.writes);
  EXPECT_LE(sender.max_queue, client->high_water() + 65536 + 1024);
  EXPECT_EQ(eof, 1);
  EXPECT_EQ(shutdowns, 1);
  EXPECT_EQ(closed, 1);
  ASSERT_NE(echoer, nullptr);
  EXPECT_EQ(echoer->bytes, kTotal);
  EXPECT_EQ(echoer->eof, 1);
  EXPECT_EQ(echoer->shutdowns, 1);
  EXPECT_LE(echoer->max_queue, 2 * client->high_water() + 65536);
  // Both sides ended with close_notify received.
  EXPECT_EQ(client->outcome(), Outcome::kCleanClose);
  EXPECT_EQ(server.conns[0]->outcome(), Outcome::kCleanClose);
  // What the handshake agreed on.
  EXPECT_EQ(client->info().version_name, "TLSv1.3");
  EXPECT_FALSE(client->info().cipher.empty());
  EXPECT_EQ(client->info().peer_chain_der.size(), 1u);
  EXPECT_FALSE(client->info().resumed);
  EXPECT_EQ(server.conns[0]->info().server_name, "localhost");
  EXPECT_TRUE(client->is_client());
  EXPECT_FALSE(server.conns[0]->is_client());
  client.reset();
  server.conns.clear();
  loop.Run();
  Finish(loop);
}

INSTANTIATE_TEST_SUITE_P(Transports, TlsEchoTest,
                         ::testing::Values(Transport::kTcp, Transport::kPipe),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kTcp ? "Tcp"
                                                                : "Pipe";
                         });

// The server pushes 1 MiB to a client that only reads; the client also sees
// the data that rode with the end, then the clean close.
TEST(TlsStreamTest, ServerPushesToAReader) {
  Loop loop;
  Watchdog dog(loop);
  const size_t kTotal = (1 << 20) + 777;
  TlsServer server(loop, MustServer());
  Sender sender(2, kTotal);
  int server_shutdowns = 0;
  sender.on_all_done = [&](TlsStream& t) {
    EXPECT_TRUE(t.Shutdown([&](TlsStream&, absl::Status s) {
                   EXPECT_TRUE(s.ok()) << s;
                   ++server_shutdowns;
                 }).ok());
  };
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    sender.Pump(t);
  };
  Checker checker(2);
  std::vector<absl::Status> results;
  absl::Status end;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results,
              [&](TlsStream& t, absl::Status st) {
                ASSERT_TRUE(st.ok()) << st;
                ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                               if (!data.ok()) {
                                 end = data.status();
                                 (void)r.Close();
                                 return;
                               }
                               checker.Add(*data);
                             }).ok());
              });
  loop.Run();
  EXPECT_EQ(checker.received, kTotal);
  EXPECT_EQ(end.code(), absl::StatusCode::kOutOfRange) << end;
  EXPECT_TRUE(Contains(end, "close_notify")) << end;
  EXPECT_EQ(server_shutdowns, 1);
  EXPECT_EQ(results.size(), 1u);
  EXPECT_EQ(sender.done, sender.writes);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

// Handshake outcomes.

TEST(TlsStreamTest, AlpnAndSniAreReported) {
  Loop loop;
  Watchdog dog(loop);
  ServerContextOptions so = ServerOptions();
  so.alpn_protocols = {"h2", "http/1.1"};
  ClientContextOptions co = ClientOptions();
  co.alpn_protocols = {"http/1.1"};
  TlsServer server(loop, MustServer(so));
  server.on_handshake = [](TlsStream& t, absl::Status st) {
    EXPECT_TRUE(st.ok()) << st;
    EXPECT_EQ(t.info().alpn_protocol, "http/1.1");
    EXPECT_EQ(t.info().server_name, "localhost");
    EXPECT_TRUE(t.handshake_done());
    (void)t.Close();
  };
  std::vector<absl::Status> results;
  TlsStreamPtr client = Connect(server.listener, MustClient(co), Named(),
                                &results, [](TlsStream& t, absl::Status st) {
                                  EXPECT_TRUE(st.ok()) << st;
                                  EXPECT_EQ(t.info().alpn_protocol, "http/1.1");
                                  (void)t.Close();
                                });
  loop.Run();
  EXPECT_EQ(results.size(), 1u);
  EXPECT_EQ(server.results.size(), 1u);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

TEST(TlsStreamTest, AlpnWithoutOverlapFailsBothSides) {
  Loop loop;
  Watchdog dog(loop);
  ServerContextOptions so = ServerOptions();
  so.alpn_protocols = {"h2"};
  ClientContextOptions co = ClientOptions();
  co.alpn_protocols = {"spdy/3"};
  TlsServer server(loop, MustServer(so));
  server.on_handshake = [](TlsStream& t, absl::Status) { (void)t.Close(); };
  std::vector<absl::Status> results;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(co), Named(), &results,
              [](TlsStream& t, absl::Status) { (void)t.Close(); });
  loop.Run();
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_EQ(server.results[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(server.results[0], "alert sent: no application"))
      << server.results[0];
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(results[0], "alert received: no application"))
      << results[0];
  EXPECT_EQ(client->outcome(), Outcome::kProtocolError);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

struct VerifyCase {
  const char* name;
  const char* server_cert;
  bool empty_trust;
  const char* server_name;
  const char* reason;
};

// gtest would print the bytes of the struct, padding included.
void PrintTo(const VerifyCase& c, std::ostream* os) { *os << c.name; }

class TlsVerifyTest : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(TlsVerifyTest, ClientSeesTheReason) {
  const VerifyCase& c = GetParam();
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer(ServerOptions(c.server_cert)));
  server.on_handshake = [](TlsStream& t, absl::Status) { (void)t.Close(); };
  ClientContextOptions co = ClientOptions();
  if (c.empty_trust) co.trust = Trust();
  std::vector<absl::Status> results;
  int reads = 0;
  TlsStreamPtr client = Connect(
      server.listener, MustClient(co), Named(c.server_name), &results,
      [&](TlsStream& t, absl::Status) {
        // Writes and reads after a failed handshake are refused or
        // never called.
        EXPECT_FALSE(t.Write("x").ok());
        EXPECT_TRUE(t.ReadStart([&](TlsStream&, auto) { ++reads; }).ok());
        (void)t.Close();
      });
  loop.Run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kUnauthenticated)
      << results[0];
  EXPECT_TRUE(Contains(results[0], c.reason)) << results[0];
  EXPECT_EQ(client->outcome(), Outcome::kVerifyFailed);
  EXPECT_EQ(client->close_info().reason, c.reason);
  EXPECT_NE(client->close_info().verify_result, 0);
  EXPECT_FALSE(client->handshake_done());
  EXPECT_EQ(reads, 0);
  // The server learns it from the alert.
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_FALSE(server.results[0].ok());
  client.reset();
  server.conns.clear();
  Finish(loop);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TlsVerifyTest,
    ::testing::Values(VerifyCase{"WrongHost", "wrong_host", false, "localhost",
                                 "Hostname mismatch"},
                      VerifyCase{"WrongIp", "server", false, "127.0.0.2",
                                 "IP address mismatch"},
                      VerifyCase{"Expired", "expired", false, "localhost",
                                 "certificate has expired"},
                      VerifyCase{"UnknownCa", "server", true, "localhost",
                                 "unable to get local issuer certificate"}),
    [](const ::testing::TestParamInfo<VerifyCase>& info) {
      return info.param.name;
    });

TEST(TlsStreamTest, RequiredClientCertificate) {
  Loop loop;
  Watchdog dog(loop);
  ServerContextOptions so = ServerOptions();
  so.client_certificates = ClientCertificates::kRequired;
  so.trust = Trust::CaFile(TestData("ca.pem"));
  TlsServer server(loop, MustServer(so), {}, 2);
  std::vector<std::string> server_reads;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    if (!st.ok()) {
      (void)t.Close();
      return;
    }
    ASSERT_EQ(t.info().peer_chain_der.size(), 1u);
    ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                   if (data.ok()) {
                     server_reads.emplace_back(*data);
                     return;
                   }
                   (void)r.Close();
                 }).ok());
  };
  // Without a certificate: refused. With one: accepted, and the server
  // sees it. Both connect at once.
  std::vector<absl::Status> anonymous_results, known_results;
  absl::Status end;
  TlsStreamPtr anonymous =
      Connect(server.listener, MustClient(), Named(), &anonymous_results,
              [&](TlsStream& t, absl::Status st) {
                if (!st.ok()) {
                  (void)t.Close();
                  return;
                }
                // TLS 1.3: the client finished first and learns it by
                // reading the alert.
                ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                               EXPECT_FALSE(data.ok());
                               if (!data.ok()) end = data.status();
                               (void)r.Close();
                             }).ok());
              });
  ClientContextOptions co = ClientOptions();
  co.identity = FileIdentity("client");
  TlsStreamPtr known =
      Connect(server.listener, MustClient(co), Named(), &known_results,
              [](TlsStream& t, absl::Status st) {
                ASSERT_TRUE(st.ok()) << st;
                ASSERT_TRUE(t.Write("hello").ok());
                ASSERT_TRUE(t.Shutdown().ok());
                ASSERT_TRUE(t.ReadStart([](TlsStream& r, auto data) {
                               EXPECT_FALSE(data.ok());
                               (void)r.Close();
                             }).ok());
              });
  loop.Run();
  ASSERT_EQ(server.results.size(), 2u);
  int refused = 0, accepted = 0;
  for (const absl::Status& st : server.results) {
    if (st.ok()) {
      ++accepted;
      continue;
    }
    ++refused;
    EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
    EXPECT_TRUE(Contains(st, "peer did not return a certificate")) << st;
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(accepted, 1);
  ASSERT_EQ(anonymous_results.size(), 1u);
  absl::Status client_error =
      anonymous_results[0].ok() ? end : anonymous_results[0];
  EXPECT_EQ(client_error.code(), absl::StatusCode::kUnavailable)
      << client_error;
  EXPECT_TRUE(Contains(client_error, "alert received")) << client_error;
  ASSERT_EQ(known_results.size(), 1u);
  EXPECT_TRUE(known_results[0].ok()) << known_results[0];
  EXPECT_EQ(server_reads, std::vector<std::string>{"hello"});
  anonymous.reset();
  known.reset();
  server.conns.clear();
  Finish(loop);
}

// Resumption: a second connection with the same client context resumes the
// session (its ticket arrived while the first one was read).
TEST(TlsStreamTest, SecondConnectionResumes) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer(), {}, 2);
  std::vector<std::unique_ptr<Echoer>> echoers;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    echoers.push_back(std::make_unique<Echoer>(t));
  };
  std::shared_ptr<ClientContext> ctx = MustClient();
  const std::string key = absl::StrCat("localhost:", server.port());
  std::vector<bool> resumed;
  std::vector<absl::Status> results;
  TlsStreamPtr first, second;
  size_t cached_after_first = 0;
  std::function<void(TlsStream&, absl::Status)> ping = [&](TlsStream& t,
                                                           absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    resumed.push_back(t.info().resumed);
    ASSERT_TRUE(t.Write("ping").ok());
    ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                   if (data.ok()) {
                     EXPECT_EQ(*data, "ping");
                     EXPECT_TRUE(r.Shutdown().ok());
                     return;
                   }
                   (void)r.Close([&](TlsStream&) {
                     if (second != nullptr) return;
                     cached_after_first = ctx->CachedSessions(key);
                     second = Connect(server.listener, ctx,
                                      Named("localhost", server.port()),
                                      &results, ping);
                   });
                 }).ok());
  };
  first = Connect(server.listener, ctx, Named("localhost", server.port()),
                  &results, ping);
  loop.Run();
  EXPECT_GE(cached_after_first, 1u);
  EXPECT_EQ(resumed, (std::vector<bool>{false, true}));
  ASSERT_EQ(server.conns.size(), 2u);
  EXPECT_FALSE(server.conns[0]->info().resumed);
  EXPECT_TRUE(server.conns[1]->info().resumed);
  first.reset();
  second.reset();
  server.conns.clear();
  Finish(loop);
}

// Endings: close_notify, or the transport closing without it.

class TlsEndTest : public ::testing::TestWithParam<bool> {};

TEST_P(TlsEndTest, CleanCloseAndTruncationAreToldApart) {
  const bool clean = GetParam();
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  int server_closed = 0;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_TRUE(
        t.Write("last words", [&](TlsStream& w, absl::Status s) {
           EXPECT_TRUE(s.ok()) << s;
           if (clean) {
             // close_notify, then the socket's FIN.
             EXPECT_TRUE(w.Shutdown([&](TlsStream& d, absl::Status) {
                            (void)d.Close([&](TlsStream&) { ++server_closed; });
                          }).ok());
           } else {
             // The socket closes without close_notify.
             EXPECT_TRUE(w.Close([&](TlsStream&) { ++server_closed; }).ok());
           }
         }).ok());
  };
  std::vector<absl::Status> results;
  std::string got;
  std::vector<absl::Status> ends;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results,
              [&](TlsStream& t, absl::Status st) {
                ASSERT_TRUE(st.ok()) << st;
                ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                               if (data.ok()) {
                                 got.append(data->data(), data->size());
                                 return;
                               }
                               ends.push_back(data.status());
                               if (ends.size() == 1) (void)r.Close();
                             }).ok());
              });
  loop.Run();
  EXPECT_EQ(got, "last words");
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(server_closed, 1);
  if (clean) {
    EXPECT_EQ(ends[0].code(), absl::StatusCode::kOutOfRange) << ends[0];
    EXPECT_EQ(client->outcome(), Outcome::kCleanClose);
  } else {
    EXPECT_EQ(ends[0].code(), absl::StatusCode::kDataLoss) << ends[0];
    EXPECT_TRUE(Contains(ends[0], "EOF without close_notify")) << ends[0];
    EXPECT_EQ(client->outcome(), Outcome::kTruncated);
  }
  client.reset();
  server.conns.clear();
  Finish(loop);
}

INSTANTIATE_TEST_SUITE_P(Endings, TlsEndTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "CloseNotify" : "Truncated";
                         });

// Misbehaving peers, played by plain TCP sockets.

// RawServer accepts one connection and hands it to `on_accept`.
struct RawServer {
  explicit RawServer(Loop& loop) : listener(loop, Transport::kTcp, 1) {
    listener.on_accept = [this](HandlePtr<Stream> s) {
      conn = std::move(s);
      if (on_accept) on_accept(*conn);
    };
  }
  Listener listener;
  HandlePtr<Stream> conn;
  std::function<void(Stream&)> on_accept;
};

// The first `n` bytes of a real ClientHello.
std::string ClientHelloPrefix(size_t n) {
  EngineOptions options;
  options.server_name = "localhost";
  absl::StatusOr<std::unique_ptr<Engine>> e =
      Engine::CreateClient(MustClient(), options);
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return "";
  std::string hello = (*e)->TakeCiphertext();
  EXPECT_GT(hello.size(), n);
  return hello.substr(0, n);
}

struct GarbageCase {
  const char* name;
  std::string bytes;
  const char* reason;
};

void PrintTo(const GarbageCase& c, std::ostream* os) { *os << c.name; }

class TlsGarbageTest : public ::testing::TestWithParam<GarbageCase> {};

TEST_P(TlsGarbageTest, ServerReportsAProtocolError) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  int closed = 0;
  server.on_handshake = [&](TlsStream& t, absl::Status) {
    EXPECT_TRUE(t.Close([&](TlsStream&) { ++closed; }).ok());
  };
  HandlePtr<Tcp> raw = *Tcp::Create(loop);
  std::string reply;
  absl::Status raw_end;
  ASSERT_TRUE(raw->Connect(Localhost(server.port()),
                           [&](Tcp& c, absl::Status st) {
                             ASSERT_TRUE(st.ok()) << st;
                             ASSERT_TRUE(c.Write(GetParam().bytes).ok());
                             ASSERT_TRUE(c.ReadStart([&](Stream& s, auto r) {
                                            if (r.ok()) {
                                              reply.append(r->data(),
                                                           r->size());
                                              return;
                                            }
                                            raw_end = r.status();
                                            (void)s.Close();
                                          }).ok());
                           })
                  .ok());
  loop.Run();
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_EQ(server.results[0].code(), absl::StatusCode::kUnavailable)
      << server.results[0];
  EXPECT_TRUE(Contains(server.results[0], GetParam().reason))
      << server.results[0];
  EXPECT_EQ(server.conns[0]->outcome(), Outcome::kProtocolError);
  EXPECT_EQ(closed, 1);
  EXPECT_FALSE(raw_end.ok());  // EOF (or a reset) after any alert
  raw.reset();
  server.conns.clear();
  Finish(loop);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, TlsGarbageTest,
    ::testing::Values(
        GarbageCase{"HttpRequest", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    "HTTP_REQUEST"},
        GarbageCase{"Binary", std::string("\x16\x03\x01\x00\x05hello", 10),
                    "protocol error"},
        GarbageCase{"RecordOfZeros", std::string(64, '\0'), "protocol error"}),
    [](const ::testing::TestParamInfo<GarbageCase>& info) {
      return info.param.name;
    });

TEST(TlsStreamTest, ClientResetMidHandshake) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  server.on_handshake = [](TlsStream& t, absl::Status) { (void)t.Close(); };
  HandlePtr<Tcp> raw = *Tcp::Create(loop);
  const std::string half = ClientHelloPrefix(40);
  ASSERT_TRUE(raw->Connect(Localhost(server.port()),
                           [&](Tcp& c, absl::Status st) {
                             ASSERT_TRUE(st.ok()) << st;
                             ASSERT_TRUE(
                                 c.Write(half, [](Stream& w, absl::Status ws) {
                                    ASSERT_TRUE(ws.ok()) << ws;
                                    EXPECT_TRUE(
                                        static_cast<Tcp&>(w).CloseReset().ok());
                                  }).ok());
                           })
                  .ok());
  loop.Run();
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_TRUE(Contains(server.results[0], "tls handshake"))
      << server.results[0];
  // Usually the RST (ECONNRESET); EOF if the kernel reported it so.
  EXPECT_TRUE(Contains(server.results[0], "ECONNRESET") ||
              server.results[0].code() == absl::StatusCode::kDataLoss)
      << server.results[0];
  raw.reset();
  server.conns.clear();
  Finish(loop);
}

TEST(TlsStreamTest, ServerResetMidHandshake) {
  Loop loop;
  Watchdog dog(loop);
  RawServer raw(loop);
  size_t hello_bytes = 0;
  raw.on_accept = [&](Stream& s) {
    ASSERT_TRUE(s.ReadStart([&](Stream& r, auto data) {
                   ASSERT_TRUE(data.ok()) << data.status();
                   hello_bytes += data->size();
                   EXPECT_TRUE(static_cast<Tcp&>(r).CloseReset().ok());
                 }).ok());
  };
  std::vector<absl::Status> results;
  int closed = 0;
  TlsStreamPtr client = Connect(raw.listener, MustClient(), Named(), &results,
                                [&](TlsStream& t, absl::Status) {
                                  (void)t.Close([&](TlsStream&) { ++closed; });
                                });
  loop.Run();
  EXPECT_GT(hello_bytes, 0u);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kUnavailable) << results[0];
  EXPECT_TRUE(Contains(results[0], "tls handshake: read: ECONNRESET"))
      << results[0];
  EXPECT_EQ(closed, 1);
  client.reset();
  raw.conn.reset();
  Finish(loop);
}

TEST(TlsStreamTest, ServerClosesMidHandshakeIsDataLoss) {
  Loop loop;
  Watchdog dog(loop);
  RawServer raw(loop);
  raw.on_accept = [&](Stream& s) {
    ASSERT_TRUE(s.ReadStart([&](Stream& r, auto) { (void)r.Close(); }).ok());
  };
  std::vector<absl::Status> results;
  TlsStreamPtr client =
      Connect(raw.listener, MustClient(), Named(), &results,
              [&](TlsStream& t, absl::Status) { (void)t.Close(); });
  loop.Run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kDataLoss) << results[0];
  EXPECT_TRUE(Contains(results[0], "EOF during handshake")) << results[0];
  client.reset();
  raw.conn.reset();
  Finish(loop);
}

// A peer that never finishes the handshake: the timeout fails it with
// DEADLINE_EXCEEDED and closes the connection (the peer reads EOF).
TEST(TlsStreamTest, HandshakeTimeoutOnTheServer) {
  Loop loop;
  Watchdog dog(loop);
  TlsStreamOptions options;
  options.handshake_timeout_ms = 50;
  TlsServer server(loop, MustServer(), options);
  HandlePtr<Tcp> raw = *Tcp::Create(loop);
  absl::Status raw_end;
  const std::string part = ClientHelloPrefix(30);
  ASSERT_TRUE(raw->Connect(Localhost(server.port()),
                           [&](Tcp& c, absl::Status st) {
                             ASSERT_TRUE(st.ok()) << st;
                             ASSERT_TRUE(c.Write(part).ok());
                             ASSERT_TRUE(c.ReadStart([&](Stream& s, auto r) {
                                            if (r.ok()) return;
                                            raw_end = r.status();
                                            (void)s.Close();
                                          }).ok());
                           })
                  .ok());
  loop.Run();
  ASSERT_EQ(server.results.size(), 1u);
  EXPECT_EQ(server.results[0].code(), absl::StatusCode::kDeadlineExceeded)
      << server.results[0];
  EXPECT_TRUE(Contains(server.results[0], "50 ms")) << server.results[0];
  EXPECT_TRUE(server.conns[0]->IsClosing());
  EXPECT_EQ(raw_end.code(), absl::StatusCode::kOutOfRange) << raw_end;
  EXPECT_EQ(server.conns[0]->Close().code(),
            absl::StatusCode::kFailedPrecondition);
  raw.reset();
  server.conns.clear();
  Finish(loop);
}

TEST(TlsStreamTest, HandshakeTimeoutOnTheClient) {
  Loop loop;
  Watchdog dog(loop);
  RawServer raw(loop);  // accepts, reads, never answers
  absl::Status raw_end;
  raw.on_accept = [&](Stream& s) {
    ASSERT_TRUE(s.ReadStart([&](Stream& r, auto data) {
                   if (data.ok()) return;
                   raw_end = data.status();
                   (void)r.Close();
                 }).ok());
  };
  TlsStreamOptions options = Named();
  options.handshake_timeout_ms = 30;
  std::vector<absl::Status> results;
  TlsStreamPtr client = Connect(raw.listener, MustClient(), options, &results);
  loop.Run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kDeadlineExceeded)
      << results[0];
  EXPECT_TRUE(client->IsClosing());
  EXPECT_EQ(raw_end.code(), absl::StatusCode::kOutOfRange) << raw_end;
  client.reset();
  raw.conn.reset();
  Finish(loop);
}

// A handshake that completes in time leaves no timer running: the loop ends
// on its own once the connections closed.
TEST(TlsStreamTest, HandshakeTimeoutStopsOnceDone) {
  Loop loop;
  Watchdog dog(loop);
  TlsStreamOptions server_options;
  server_options.handshake_timeout_ms = 60000;
  TlsServer server(loop, MustServer(), server_options);
  server.on_handshake = [](TlsStream& t, absl::Status st) {
    EXPECT_TRUE(st.ok()) << st;
    EXPECT_TRUE(t.ReadStart([](TlsStream& r, auto data) {
                   if (!data.ok()) (void)r.Close();
                 }).ok());
  };
  TlsStreamOptions options = Named();
  options.handshake_timeout_ms = 60000;
  std::vector<absl::Status> results;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), options, &results,
              [](TlsStream& t, absl::Status st) {
                EXPECT_TRUE(st.ok()) << st;
                EXPECT_TRUE(t.Shutdown([](TlsStream& s, absl::Status) {
                               (void)s.Close();
                             }).ok());
              });
  loop.Run();  // returns long before 60 s
  EXPECT_EQ(results.size(), 1u);
  EXPECT_EQ(server.results.size(), 1u);
  EXPECT_TRUE(client->IsClosing());
  EXPECT_TRUE(server.conns[0]->IsClosing());
  client.reset();
  server.conns.clear();
  Finish(loop);
}

TEST(TlsStreamTest, ConnectFailureFailsTheHandshake) {
  Loop loop;
  Watchdog dog(loop);
  uint16_t port;
  {
    Listener free_port(loop, Transport::kTcp, 1);
    port = free_port.port();
  }
  loop.Run();
  HandlePtr<Tcp> tcp = *Tcp::Create(loop);
  absl::Status connect_status;
  ASSERT_TRUE(tcp->Connect(Localhost(port),
                           [&](Tcp&, absl::Status st) { connect_status = st; })
                  .ok());
  std::vector<absl::Status> statuses;
  absl::StatusOr<TlsStreamPtr> client =
      TlsStream::CreateClient(std::move(tcp), MustClient(), Named(),
                              [&](TlsStream& t, absl::Status st) {
                                statuses.push_back(st);
                                (void)t.Close();
                              });
  ASSERT_TRUE(client.ok()) << client.status();
  loop.Run();
  EXPECT_TRUE(Contains(connect_status, "ECONNREFUSED")) << connect_status;
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_FALSE(statuses[0].ok());
  EXPECT_TRUE(Contains(statuses[0], "tls handshake")) << statuses[0];
  client->reset();
  Finish(loop);
}

// Flow control: a reader that stops reading. The server's TlsStream reads
// the socket only up to its high-water mark; the writer's queue stays at
// its bound while nothing moves; then everything arrives intact.
TEST(TlsStreamTest, StoppedReaderBoundsBothQueues) {
  Loop loop;
  Watchdog dog(loop);
  const size_t kTotal = 4 << 20;
  TlsServer server(loop, MustServer());
  server.on_stream = [](Stream& s) {
    EXPECT_TRUE(s.SetRecvBufferSize(32 * 1024).ok());
  };
  TlsStream* reader = nullptr;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    reader = &t;  // does not read yet
  };
  Sender sender(3, kTotal);
  int client_closed = 0;
  sender.on_all_done = [&](TlsStream& t) {
    EXPECT_TRUE(t.Shutdown([&](TlsStream& s, absl::Status st) {
                   EXPECT_TRUE(st.ok()) << st;
                   (void)s.Close([&](TlsStream&) { ++client_closed; });
                 }).ok());
  };
  HandlePtr<Tcp> tcp = *Tcp::Create(loop, AF_INET);
  ASSERT_TRUE(tcp->SetSendBufferSize(32 * 1024).ok());
  ASSERT_TRUE(
      tcp->Connect(Localhost(server.port()),
                   [](Tcp&, absl::Status st) { ASSERT_TRUE(st.ok()) << st; })
          .ok());
  std::vector<absl::Status> results;
  absl::StatusOr<TlsStreamPtr> client =
      TlsStream::CreateClient(std::move(tcp), MustClient(), Named(),
                              [&](TlsStream& t, absl::Status st) {
                                results.push_back(st);
                                ASSERT_TRUE(st.ok()) << st;
                                sender.Pump(t);
                              });
  ASSERT_TRUE(client.ok()) << client.status();
  TlsStream& writer = **client;

  // Poll until the server stopped reading its socket: its read queue
  // reached the mark.
  Checker checker(3);
  size_t stalled_read_queue = 0, stalled_write_queue = 0;
  int stalled_pending = 0;
  size_t sent_when_stalled = 0;
  int server_eof = 0;
  HandlePtr<Timer> poll = Timer::Create(loop);
  ASSERT_TRUE(
      poll->Start(5, 5,
                  [&](Timer& p) {
                    if (reader == nullptr ||
                        reader->ReadQueueSize() < reader->high_water()) {
                      return;
                    }
                    (void)p.Stop();
                    stalled_read_queue = reader->ReadQueueSize();
                    stalled_write_queue = writer.WriteQueueSize();
                    stalled_pending = static_cast<int>(writer.PendingWrites());
                    sent_when_stalled = sender.sent;
                    ASSERT_TRUE(reader
                                    ->ReadStart([&](TlsStream& r, auto d) {
                                      if (d.ok()) {
                                        checker.Add(*d);
                                        return;
                                      }
                                      EXPECT_EQ(d.status().code(),
                                                absl::StatusCode::kOutOfRange)
                                          << d.status();
                                      ++server_eof;
                                      (void)r.Close();
                                    })
                                    .ok());
                  })
          .ok());
  loop.Run();
  EXPECT_EQ(results.size(), 1u);
  // While stalled: the reader held at most the mark plus a record and a
  // socket read; the writer at most its bound plus one write.
  EXPECT_GE(stalled_read_queue, reader->high_water());
  EXPECT_LE(stalled_read_queue,
            reader->high_water() + 16 * 1024 + 64 * 1024 + 1024);
  EXPECT_GT(stalled_write_queue, 0u);
  // (+1 KiB: records add a few bytes as plaintext turns into ciphertext.)
  EXPECT_LE(stalled_write_queue, writer.high_water() + 65536 + 1024);
  EXPECT_LE(sender.max_queue, writer.high_water() + 65536 + 1024);
  EXPECT_GT(stalled_pending, 0);
  EXPECT_LT(sent_when_stalled, kTotal);
  // Then everything arrived.
  EXPECT_EQ(checker.received, kTotal);
  EXPECT_EQ(sender.done, sender.writes);
  EXPECT_EQ(server_eof, 1);
  EXPECT_EQ(client_closed, 1);
  client->reset();
  server.conns.clear();
  poll.reset();
  Finish(loop);
}

// Close from inside callbacks: pending writes complete (OK if their bytes
// reached the socket, else CANCELLED) before the close callback, in order.
TEST(TlsStreamTest, CloseFromAWriteCallbackCancelsTheRest) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  server.on_stream = [](Stream& s) {
    EXPECT_TRUE(s.SetRecvBufferSize(16 * 1024).ok());
  };
  server.on_handshake = [](TlsStream&, absl::Status st) {
    EXPECT_TRUE(st.ok()) << st;  // never reads
  };
  std::vector<std::string> order;
  std::vector<absl::Status> results;
  TlsStreamPtr client = Connect(
      server.listener, MustClient(), Named(), &results,
      [&](TlsStream& t, absl::Status st) {
        ASSERT_TRUE(st.ok()) << st;
        ASSERT_TRUE(t.Write("small", [&](TlsStream& w, absl::Status s) {
                       order.push_back("small " + s.ToString());
                       // Another write from inside: refused once closing.
                       EXPECT_TRUE(
                           w.Close([&](TlsStream& c) {
                              order.push_back("closed");
                              EXPECT_EQ(c.Write("late").code(),
                                        absl::StatusCode::kFailedPrecondition);
                            }).ok());
                       EXPECT_EQ(w.Write("x").code(),
                                 absl::StatusCode::kFailedPrecondition);
                       EXPECT_EQ(w.Close().code(),
                                 absl::StatusCode::kFailedPrecondition);
                     }).ok());
        ASSERT_TRUE(
            t.Write(std::string(8 << 20, 'b'), [&](TlsStream&, absl::Status s) {
               order.push_back(
                   absl::StrCat("big ", absl::StatusCodeToString(s.code())));
             }).ok());
        ASSERT_TRUE(t.Write("tail", [&](TlsStream&, absl::Status s) {
                       order.push_back(absl::StrCat(
                           "tail ", absl::StatusCodeToString(s.code())));
                     }).ok());
      });
  loop.Run();
  EXPECT_EQ(order, (std::vector<std::string>{"small OK", "big CANCELLED",
                                             "tail CANCELLED", "closed"}));
  client.reset();
  server.conns.clear();
  Finish(loop);
}

// Dropping the owner inside the read callback: the TlsStream closes, its
// pending writes get CANCELLED, memory is freed after the stream closed.
TEST(TlsStreamTest, DropOwnerInsideReadCallback) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  server.on_handshake = [](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_TRUE(t.Write("hello").ok());
    ASSERT_TRUE(t.ReadStart([](TlsStream& r, auto data) {
                   if (!data.ok()) (void)r.Close();
                 }).ok());
  };
  TlsStreamPtr client;
  std::vector<absl::Status> results;
  std::vector<absl::Status> writes;
  int reads = 0;
  client = Connect(
      server.listener, MustClient(), Named(), &results,
      [&](TlsStream& t, absl::Status st) {
        ASSERT_TRUE(st.ok()) << st;
        ASSERT_TRUE(
            t.ReadStart([&](TlsStream& r, auto data) {
               ++reads;
               ASSERT_TRUE(data.ok()) << data.status();
               // A write that cannot be done yet...
               ASSERT_TRUE(
                   r.Write(std::string(4 << 20, 'x'), [&](TlsStream&,
                                                          absl::Status s) {
                      writes.push_back(s);
                    }).ok());
               // ...then the owner goes away.
               client.reset();
             }).ok());
      });
  loop.Run();
  EXPECT_EQ(reads, 1);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].code(), absl::StatusCode::kCancelled) << writes[0];
  EXPECT_EQ(client, nullptr);
  server.conns.clear();
  Finish(loop);
}

// Close inside the handshake callback, on both sides, and a close callback
// that drops the owner.
TEST(TlsStreamTest, CloseInsideHandshakeCallback) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  int server_closed = 0;
  server.on_handshake = [&](TlsStream& t, absl::Status) {
    EXPECT_TRUE(t.Close([&](TlsStream&) {
                   ++server_closed;
                   server.conns.clear();  // frees it after this callback
                 }).ok());
  };
  std::vector<absl::Status> results;
  int closed = 0;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results,
              [&](TlsStream& t, absl::Status st) {
                EXPECT_TRUE(st.ok()) << st;
                EXPECT_TRUE(t.Close([&](TlsStream&) { ++closed; }).ok());
              });
  loop.Run();
  EXPECT_EQ(results.size(), 1u);
  EXPECT_EQ(server.results.size(), 1u);
  EXPECT_EQ(server_closed, 1);
  EXPECT_EQ(closed, 1);
  EXPECT_TRUE(server.conns.empty());
  client.reset();
  Finish(loop);
}

// Closing before the handshake finished: the handshake callback runs once,
// with CANCELLED, from the loop.
TEST(TlsStreamTest, CloseBeforeHandshakeCancelsIt) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  server.on_handshake = [](TlsStream& t, absl::Status) { (void)t.Close(); };
  std::vector<absl::Status> results;
  std::vector<absl::Status> writes;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results);
  ASSERT_TRUE(client
                  ->Write("early", [&](TlsStream&,
                                       absl::Status s) { writes.push_back(s); })
                  .ok());
  EXPECT_EQ(client->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  int closed = 0;
  ASSERT_TRUE(client
                  ->Close([&](TlsStream&) {
                    ++closed;
                    server.listener.Stop();  // if it never connected
                  })
                  .ok());
  EXPECT_TRUE(results.empty());  // not from inside Close
  loop.Run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kCancelled) << results[0];
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].code(), absl::StatusCode::kCancelled) << writes[0];
  EXPECT_EQ(closed, 1);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

// Writes before the handshake wait for it; a write's callback never runs
// inside Write, even when the kernel took the bytes at once.
TEST(TlsStreamTest, WritesBeforeHandshakeAndCallbacksFromTheLoop) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  std::string got;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                   if (!data.ok()) {
                     (void)r.Close();
                     return;
                   }
                   got.append(data->data(), data->size());
                 }).ok());
  };
  std::vector<absl::Status> results;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results);
  int done = 0;
  bool inside = false;
  ASSERT_TRUE(client
                  ->Write("one,",
                          [&](TlsStream&, absl::Status s) {
                            EXPECT_TRUE(s.ok()) << s;
                            EXPECT_FALSE(inside);
                            ++done;
                          })
                  .ok());
  ASSERT_TRUE(client
                  ->Write("",
                          [&](TlsStream&, absl::Status s) {
                            EXPECT_TRUE(s.ok()) << s;
                            ++done;
                          })
                  .ok());
  EXPECT_EQ(client->PendingWrites(), 2u);
  EXPECT_GT(client->WriteQueueSize(), 0u);
  // Once connected, a write from a timer (outside any TlsStream callback).
  HandlePtr<Timer> timer = Timer::Create(loop);
  ASSERT_TRUE(timer
                  ->Start(1, 1,
                          [&](Timer& tm) {
                            if (done < 2) return;
                            (void)tm.Stop();
                            inside = true;
                            ASSERT_TRUE(
                                client
                                    ->Write("two",
                                            [&](TlsStream& t, absl::Status s) {
                                              EXPECT_TRUE(s.ok()) << s;
                                              EXPECT_FALSE(inside);
                                              ++done;
                                              EXPECT_TRUE(
                                                  t.Shutdown([](TlsStream& c,
                                                                absl::Status) {
                                                     (void)c.Close();
                                                   }).ok());
                                            })
                                    .ok());
                            EXPECT_EQ(done, 2);
                            inside = false;
                          })
                  .ok());
  loop.Run();
  EXPECT_EQ(done, 3);
  EXPECT_EQ(got, "one,two");
  EXPECT_EQ(client->PendingWrites(), 0u);
  client.reset();
  server.conns.clear();
  timer.reset();
  Finish(loop);
}

// KeyUpdate mid-stream: data keeps flowing both ways.
TEST(TlsStreamTest, KeyUpdateMidStream) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  std::unique_ptr<Echoer> echoer;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    echoer = std::make_unique<Echoer>(t);
  };
  std::vector<absl::Status> results;
  std::string got;
  TlsStreamPtr client =
      Connect(server.listener, MustClient(), Named(), &results,
              [&](TlsStream& t, absl::Status st) {
                ASSERT_TRUE(st.ok()) << st;
                ASSERT_TRUE(t.Write("before|").ok());
                ASSERT_TRUE(t.KeyUpdate().ok());
                ASSERT_TRUE(t.Write("after").ok());
                ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                               if (!data.ok()) {
                                 EXPECT_EQ(data.status().code(),
                                           absl::StatusCode::kOutOfRange);
                                 (void)r.Close();
                                 return;
                               }
                               got.append(data->data(), data->size());
                               if (got == "before|after") {
                                 EXPECT_TRUE(r.Shutdown().ok());
                               }
                             }).ok());
              });
  loop.Run();
  EXPECT_EQ(got, "before|after");
  client.reset();
  server.conns.clear();
  Finish(loop);
}

// Bad input: each a clear error, no crash, no callback.
TEST(TlsStreamTest, BadInputIsAClearError) {
  Loop loop;
  Watchdog dog(loop);
  int calls = 0;
  auto cb = [&](TlsStream&, absl::Status) { ++calls; };
  std::shared_ptr<ClientContext> client_ctx = MustClient();
  std::shared_ptr<ServerContext> server_ctx = MustServer();

  absl::StatusOr<TlsStreamPtr> r =
      TlsStream::CreateClient(nullptr, client_ctx, Named(), cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status(), "no stream")) << r.status();

  r = TlsStream::CreateClient(*Tcp::Create(loop), nullptr, Named(), cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  r = TlsStream::CreateServer(*Tcp::Create(loop), nullptr, {}, cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  r = TlsStream::CreateClient(*Tcp::Create(loop), client_ctx, Named(), nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status(), "empty handshake callback")) << r.status();

  // No server name while verifying; high_water 0.
  r = TlsStream::CreateClient(*Tcp::Create(loop), client_ctx, {}, cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  TlsStreamOptions zero = Named();
  zero.high_water = 0;
  r = TlsStream::CreateClient(*Tcp::Create(loop), client_ctx, zero, cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  // A closing stream.
  HandlePtr<Tcp> closing = *Tcp::Create(loop);
  ASSERT_TRUE(closing->Close().ok());
  r = TlsStream::CreateServer(std::move(closing), server_ctx, {}, cb);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);

  // A Tcp with no socket cannot read.
  r = TlsStream::CreateServer(*Tcp::Create(loop), server_ctx, {}, cb);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status(), "ENOTCONN")) << r.status();
  loop.Run();
  EXPECT_EQ(calls, 0);

  // Calls on a live TlsStream, then on a closing one.
  TlsServer server(loop, server_ctx);
  server.on_handshake = [](TlsStream& t, absl::Status) { (void)t.Close(); };
  std::vector<absl::Status> results;
  TlsStreamPtr client = Connect(server.listener, client_ctx, Named(), &results);
  EXPECT_EQ(client->ReadStart(nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->KeyUpdate().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(client->Close().ok());
  EXPECT_TRUE(client->IsClosing());
  EXPECT_EQ(client->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->ReadStart([](TlsStream&, auto) {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->ReadStop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->KeyUpdate().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->WriteQueueSize(), 0u);
  loop.Run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), absl::StatusCode::kCancelled);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

// Shutdown twice, write after shutdown.
TEST(TlsStreamTest, ShutdownRules) {
  Loop loop;
  Watchdog dog(loop);
  TlsServer server(loop, MustServer());
  std::unique_ptr<Echoer> echoer;
  server.on_handshake = [&](TlsStream& t, absl::Status st) {
    ASSERT_TRUE(st.ok()) << st;
    echoer = std::make_unique<Echoer>(t);
  };
  std::vector<absl::Status> results;
  int shutdowns = 0;
  std::string got;
  TlsStreamPtr client = Connect(
      server.listener, MustClient(), Named(), &results,
      [&](TlsStream& t, absl::Status st) {
        ASSERT_TRUE(st.ok()) << st;
        ASSERT_TRUE(t.Write("data").ok());
        ASSERT_TRUE(t.Shutdown([&](TlsStream&, absl::Status s) {
                       EXPECT_TRUE(s.ok()) << s;
                       ++shutdowns;
                     }).ok());
        EXPECT_EQ(t.Shutdown().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_EQ(t.Write("more").code(),
                  absl::StatusCode::kFailedPrecondition);
        // Reading goes on after our shutdown: the echo, then the peer's
        // close_notify.
        ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                       if (data.ok()) {
                         got.append(data->data(), data->size());
                         return;
                       }
                       EXPECT_EQ(data.status().code(),
                                 absl::StatusCode::kOutOfRange);
                       (void)r.Close();
                     }).ok());
      });
  loop.Run();
  EXPECT_EQ(shutdowns, 1);
  EXPECT_EQ(got, "data");
  ASSERT_NE(echoer, nullptr);
  EXPECT_EQ(echoer->eof, 1);
  client.reset();
  server.conns.clear();
  Finish(loop);
}

}  // namespace
}  // namespace tls
}  // namespace evergreen
