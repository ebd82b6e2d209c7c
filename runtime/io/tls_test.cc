#include "runtime/io/tls.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/io/tcp.h"
#include "runtime/io/test_util.h"
#include "runtime/task.h"
#include "runtime/task_group.h"
#include "tls/context.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

std::string TestData(absl::string_view name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string root = srcdir != nullptr ? srcdir : ".";
  return absl::StrCat(root, "/evergreen/tls/testdata/", name);
}

std::shared_ptr<tls::ServerContext> ServerCtx(absl::string_view cert) {
  tls::ServerContextOptions o;
  o.identities.push_back(
      tls::Identity{tls::Pem::File(TestData(absl::StrCat(cert, ".pem"))),
                    tls::Pem::File(TestData(absl::StrCat(cert, ".key"))),
                    {}});
  auto ctx = tls::ServerContext::Create(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

std::shared_ptr<tls::ClientContext> ClientCtx(bool trust_test_ca = true) {
  tls::ClientContextOptions o;
  if (trust_test_ca) o.trust = tls::Trust::CaFile(TestData("ca.pem"));
  auto ctx = tls::ClientContext::Create(o);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

// A line echo server over TLS until the listener closes; counts failed
// handshakes.
struct EchoServer {
  std::unique_ptr<TcpListener> listener;
  std::shared_ptr<Task> task;
  std::shared_ptr<std::vector<absl::Status>> handshake_errors =
      std::make_shared<std::vector<absl::Status>>();
  uint16_t port = 0;

  explicit EchoServer(absl::string_view cert) {
    auto l = TcpListener::Listen("127.0.0.1", 0);
    EXPECT_TRUE(l.ok()) << l.status();
    listener = std::move(*l);
    port = listener->LocalAddress()->port();
    auto ctx = ServerCtx(cert);
    auto errors = handshake_errors;
    TcpListener* raw = listener.get();
    auto t = Task::Spawn([raw, ctx, errors] {
      absl::Status s = ServeTls(
          *raw, ctx,
          [](TlsStream& conn) {
            while (true) {
              auto line = conn.ReadLine(1024);
              if (!line.ok()) break;
              if (!conn.Write(*line).ok()) return;
            }
            (void)conn.Shutdown();
          },
          absl::Seconds(5),
          [errors](const absl::Status& e) { errors->push_back(e); });
      EXPECT_TRUE(s.ok()) << s;
    });
    EXPECT_TRUE(t.ok());
    task = *t;
  }
  void Stop() {
    listener->Close();
    EXPECT_TRUE(task->Join(Deadline::After(absl::Seconds(5))).ok());
  }
};

TEST(TlsTest, EchoLinesWithHandshakeInfoAndCloseNotify) {
  auto el = NewLoop();
  std::vector<std::string> got;
  std::string version;
  std::string sni;
  absl::Status eof;
  RunTask(*el, [&] {
    EchoServer server("server");
    auto conn = TlsStream::Connect("localhost", server.port, ClientCtx(),
                                   Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    version = (*conn)->info().version_name;
    sni = (*conn)->info().server_name;
    EXPECT_FALSE((*conn)->info().peer_chain_der.empty());
    EXPECT_EQ((*conn)->PeerAddress()->port(), server.port);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE((*conn)->Write(absl::StrCat("line ", i, "\n")).ok());
    }
    for (int i = 0; i < 50; ++i) {
      auto line = (*conn)->ReadLine();
      ASSERT_TRUE(line.ok()) << line.status();
      got.push_back(*line);
    }
    ASSERT_TRUE((*conn)->Shutdown().ok());  // close_notify: the server ends
    eof = (*conn)->ReadSome().status();
    server.Stop();
    EXPECT_TRUE(server.handshake_errors->empty());
  });
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(got[i], absl::StrCat("line ", i, "\n"));
  EXPECT_FALSE(version.empty());
  EXPECT_EQ(sni, "localhost");
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange) << eof;
}

TEST(TlsTest, VerificationFailuresAreUnauthenticated) {
  auto el = NewLoop();
  absl::Status wrong_host, expired, untrusted;
  size_t server_errors = 0;
  RunTask(*el, [&] {
    EchoServer wrong("wrong_host");
    EchoServer old("expired");
    EchoServer good("server");
    auto d = [] { return Deadline::After(absl::Seconds(5)); };
    wrong_host =
        TlsStream::Connect("localhost", wrong.port, ClientCtx(), d()).status();
    expired =
        TlsStream::Connect("localhost", old.port, ClientCtx(), d()).status();
    // The system store does not trust the test CA.
    untrusted = TlsStream::Connect("localhost", good.port,
                                   ClientCtx(/*trust_test_ca=*/false), d())
                    .status();
    wrong.Stop();
    old.Stop();
    good.Stop();
    server_errors = wrong.handshake_errors->size() +
                    old.handshake_errors->size() +
                    good.handshake_errors->size();
  });
  EXPECT_EQ(wrong_host.code(), absl::StatusCode::kUnauthenticated)
      << wrong_host;
  EXPECT_TRUE(
      absl::StrContains(wrong_host.message(), "tls handshake 127.0.0.1:"))
      << wrong_host;
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated) << expired;
  EXPECT_TRUE(absl::StrContains(expired.message(), "expired")) << expired;
  EXPECT_EQ(untrusted.code(), absl::StatusCode::kUnauthenticated) << untrusted;
  // Each server saw its handshake fail (the client's alert).
  EXPECT_EQ(server_errors, 3u);
}

TEST(TlsTest, TruncationIsDataLossAndPlainPeerIsAnError) {
  auto el = NewLoop();
  absl::Status truncated;
  absl::Status plain;
  std::string before;
  RunTask(*el, [&] {
    auto l = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    uint16_t port = (*l)->LocalAddress()->port();
    auto server = Task::Spawn([&] {
      auto tcp = (*l)->Accept(Deadline::After(absl::Seconds(5)));
      ASSERT_TRUE(tcp.ok()) << tcp.status();
      auto conn = TlsStream::Server(**tcp, ServerCtx("server"),
                                    Deadline::After(absl::Seconds(5)));
      ASSERT_TRUE(conn.ok()) << conn.status();
      ASSERT_TRUE((*conn)->Write("partial").ok());
      ASSERT_TRUE((*conn)->Drain().ok());
      (*conn)->Close();  // no close_notify
    });
    ASSERT_TRUE(server.ok());
    auto conn = TlsStream::Connect("localhost", port, ClientCtx(),
                                   Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    auto line = (*conn)->ReadLine();
    truncated = line.status();
    auto rest = (*conn)->ReadSome();
    if (rest.ok()) before = *rest;
    ASSERT_TRUE((*server)->Join().ok());
    // A peer that speaks plain text: the handshake fails with an error.
    auto plain_server = Task::Spawn([&] {
      auto tcp = (*l)->Accept(Deadline::After(absl::Seconds(5)));
      ASSERT_TRUE(tcp.ok()) << tcp.status();
      (void)(*tcp)->Write("HTTP/1.0 400 Bad Request\r\n\r\n");
      (void)(*tcp)->Shutdown();
      (void)(*tcp)->ReadSome();
    });
    ASSERT_TRUE(plain_server.ok());
    plain = TlsStream::Connect("localhost", port, ClientCtx(),
                               Deadline::After(absl::Seconds(5)))
                .status();
    ASSERT_TRUE((*plain_server)->Join().ok());
  });
  // The line never ended: the truncation, with the bytes kept.
  EXPECT_EQ(truncated.code(), absl::StatusCode::kDataLoss) << truncated;
  EXPECT_EQ(before, "partial");
  EXPECT_FALSE(plain.ok());
  EXPECT_TRUE(absl::StrContains(plain.message(), "tls handshake")) << plain;
}

TEST(TlsCancelTest, DeadlineKillAndTimeoutDuringHandshakeCloseTheSocket) {
  auto el = NewLoop();
  absl::Status deadline;
  absl::Status scope;
  bool killed = false;
  int tcp_after = -1;
  int tcp_before = -1;
  RunTask(*el, [&] {
    // A server that accepts and never answers the ClientHello.
    auto l = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    uint16_t port = (*l)->LocalAddress()->port();
    std::vector<std::unique_ptr<TcpStream>> held;
    auto acceptor = Task::Spawn([&] {
      for (int i = 0; i < 3; ++i) {
        auto c = (*l)->Accept(Deadline::After(absl::Seconds(5)));
        if (!c.ok()) return;
        held.push_back(std::move(*c));
      }
    });
    ASSERT_TRUE(acceptor.ok());
    auto ctx = ClientCtx();
    tcp_before = OpenHandles(*el, "tcp");
    deadline = TlsStream::Connect("localhost", port, ctx,
                                  Deadline::After(absl::Milliseconds(50)))
                   .status();
    scope = WithTimeout(absl::Milliseconds(50), [&] {
      (void)TlsStream::Connect("localhost", port, ctx);
    });
    auto client = Task::Spawn([&] {
      (void)TlsStream::Connect("localhost", port, ctx);
      ADD_FAILURE() << "the handshake finished";
    });
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE((*acceptor)->Join(Deadline::After(absl::Seconds(5))).ok());
    ASSERT_EQ(held.size(), 3u);
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*client)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*client)->Kill().ok());
    killed = (*client)->killed();
    // The three client sockets are closed; the accepted ones remain.
    tcp_after = OpenHandles(*el, "tcp") - 3;
  });
  EXPECT_EQ(deadline.code(), absl::StatusCode::kDeadlineExceeded) << deadline;
  EXPECT_TRUE(absl::StrContains(deadline.message(), "tls handshake"))
      << deadline;
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded) << scope;
  EXPECT_TRUE(killed);
  EXPECT_EQ(tcp_after, tcp_before);
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
