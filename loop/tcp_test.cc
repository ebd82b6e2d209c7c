#include "loop/tcp.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

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
                              std::string open;
                              t.loop().Walk([&](Handle& h) {
                                open += std::string(h.TypeName()) +
                                        (h.IsActive() ? "(active) " : " ");
                              });
                              ADD_FAILURE()
                                  << "watchdog: test took > 10 s; " << open;
                              t.loop().Stop();
                            })
                    .ok());
    timer_->Unref();
  }

 private:
  HandlePtr<Timer> timer_;
};

// A listening server on 127.0.0.1 that keeps its accepted connections.
struct Server {
  explicit Server(Loop& loop) : tcp(*Tcp::Create(loop)) {
    EXPECT_TRUE(tcp->Bind(Localhost()).ok());
    EXPECT_TRUE(tcp->Listen(16,
                            [this](Stream& s, absl::Status st) {
                              ASSERT_TRUE(st.ok()) << st;
                              auto conn = static_cast<Tcp&>(s).Accept();
                              ASSERT_TRUE(conn.ok()) << conn.status();
                              conns.push_back(std::move(*conn));
                              // One connection per test: stop listening so
                              // that the loop can end.
                              (void)s.Close();
                              if (on_accept) on_accept(*conns.back());
                            })
                    .ok());
    port = tcp->SockName()->port();
  }
  HandlePtr<Tcp> tcp;
  std::vector<HandlePtr<Tcp>> conns;
  std::function<void(Tcp&)> on_accept;
  uint16_t port = 0;
};

// Closes everything and checks that the loop closes cleanly.
void Finish(Loop& loop) {
  loop.Walk([](Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TcpTest, EchoRoundTripWithAddresses) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  server.on_accept = [](Tcp& conn) {
    ASSERT_TRUE(
        conn.ReadStart([](Stream& s, absl::StatusOr<absl::string_view> r) {
              if (!r.ok()) {
                EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
                (void)s.Close();
                return;
              }
              ASSERT_TRUE(s.Write(std::string(*r)).ok());
            })
            .ok());
  };
  auto client = *Tcp::Create(loop);
  std::string echoed;
  int connected = 0, eof = 0;
  ASSERT_TRUE(
      client
          ->Connect(Localhost(server.port),
                    [&](Tcp& c, absl::Status st) {
                      ASSERT_TRUE(st.ok()) << st;
                      ++connected;
                      EXPECT_EQ(c.PeerName()->port(), server.port);
                      EXPECT_EQ(c.SockName()->Ip(), "127.0.0.1");
                      ASSERT_TRUE(c.Write("hello ").ok());
                      ASSERT_TRUE(
                          c.Write(std::vector<std::string>{"vec", "tor"}).ok());
                      ASSERT_TRUE(c.ReadStart([&](Stream& s, auto r) {
                                     if (!r.ok()) {
                                       ++eof;
                                       (void)s.Close();
                                       return;
                                     }
                                     echoed.append(r->data(), r->size());
                                     if (echoed.size() == 12) {
                                       ASSERT_TRUE(s.Shutdown().ok());
                                     }
                                   }).ok());
                    })
          .ok());
  loop.Run();
  EXPECT_EQ(connected, 1);
  EXPECT_EQ(echoed, "hello vector");
  EXPECT_EQ(eof, 1);
  ASSERT_EQ(server.conns.size(), 1u);
  EXPECT_TRUE(server.conns[0]->IsClosing());
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, ConnectToAClosedPortIsAClearError) {
  Loop loop;
  Watchdog dog(loop);
  // Find a free port, then close it.
  uint16_t port;
  {
    Server s(loop);
    port = s.port;
  }
  loop.Run();
  auto client = *Tcp::Create(loop);
  absl::Status result;
  int calls = 0;
  ASSERT_TRUE(client
                  ->Connect(Localhost(port),
                            [&](Tcp&, absl::Status st) {
                              ++calls;
                              result = st;
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.message().find("ECONNREFUSED"), std::string::npos) << result;
  EXPECT_NE(result.message().find("127.0.0.1"), std::string::npos) << result;
  client.reset();
  Finish(loop);
}

TEST(TcpTest, TryWriteAndOptions) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  std::string received;
  server.on_accept = [&](Tcp& conn) {
    EXPECT_TRUE(conn.SetNoDelay(true).ok());
    EXPECT_TRUE(conn.SetKeepAlive(true, 30).ok());
    EXPECT_FALSE(conn.SetKeepAlive(true, 0).ok());
    EXPECT_TRUE(conn.SetSimultaneousAccepts(true).ok());
    ASSERT_TRUE(conn.SetSendBufferSize(64 * 1024).ok());
    absl::StatusOr<int> snd = conn.SendBufferSize();
    ASSERT_TRUE(snd.ok());
    EXPECT_GE(*snd, 64 * 1024);
    EXPECT_TRUE(conn.RecvBufferSize().ok());
    EXPECT_FALSE(conn.SetRecvBufferSize(0).ok());
    EXPECT_TRUE(conn.Fileno().ok());
    ASSERT_TRUE(conn.ReadStart([&](Stream& s, auto r) {
                      if (!r.ok()) {
                        (void)s.Close();
                        return;
                      }
                      received.append(r->data(), r->size());
                    })
                    .ok());
  };
  auto client = *Tcp::Create(loop);
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              absl::StatusOr<size_t> n = c.TryWrite("abc");
                              ASSERT_TRUE(n.ok()) << n.status();
                              EXPECT_EQ(*n, 3u);
                              absl::string_view parts[] = {"de", "f"};
                              n = c.TryWrite(parts);
                              ASSERT_TRUE(n.ok());
                              EXPECT_EQ(*n, 3u);
                              ASSERT_TRUE(c.Shutdown().ok());
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(received, "abcdef");
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, PendingWritesCompleteCancelledOnClose) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);  // accepts but never reads
  auto client = *Tcp::Create(loop);
  std::vector<absl::Status> results;
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              ASSERT_TRUE(c.SetSendBufferSize(4096).ok());
                              // Far more than the socket buffers take.
                              for (int i = 0; i < 64; ++i) {
                                ASSERT_TRUE(
                                    c.Write(std::string(256 * 1024, 'x'),
                                            [&](Stream&, absl::Status ws) {
                                              results.push_back(ws);
                                            })
                                        .ok());
                              }
                              EXPECT_GT(c.WriteQueueSize(), 0u);
                              EXPECT_EQ(c.PendingWrites(), 64u);
                              // The queue is not empty: try-write must not
                              // reorder.
                              absl::StatusOr<size_t> n = c.TryWrite("y");
                              EXPECT_EQ(n.status().code(),
                                        absl::StatusCode::kUnavailable);
                              ASSERT_TRUE(c.Close().ok());
                            })
                  .ok());
  loop.Run();
  ASSERT_EQ(results.size(), 64u);
  int cancelled = 0;
  for (const absl::Status& s : results) {
    if (s.code() == absl::StatusCode::kCancelled) ++cancelled;
  }
  EXPECT_GT(cancelled, 0);
  EXPECT_EQ(client->PendingWrites(), 0u);
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, PeerResetMidWriteIsAnErrorNotSigpipe) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  server.on_accept = [](Tcp& conn) {
    ASSERT_TRUE(conn.ReadStart([](Stream& s, auto r) {
                      if (r.ok()) {
                        ASSERT_TRUE(static_cast<Tcp&>(s).CloseReset().ok());
                      }
                    })
                    .ok());
  };
  auto client = *Tcp::Create(loop);
  absl::Status write_error;
  absl::Status read_error;
  int writes_done = 0;
  std::function<void(Stream&)> write_more = [&](Stream& s) {
    absl::Status st =
        s.Write(std::string(64 * 1024, 'z'), [&](Stream& s2, absl::Status ws) {
          ++writes_done;
          if (!ws.ok()) {
            if (write_error.ok()) write_error = ws;
            if (!s2.IsClosing()) (void)s2.Close();
            return;
          }
          write_more(s2);
        });
    if (!st.ok() && write_error.ok()) write_error = st;
  };
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              ASSERT_TRUE(c.ReadStart([&](Stream&, auto r) {
                                             if (!r.ok() && read_error.ok()) {
                                               read_error = r.status();
                                             }
                                           }).ok());
                              write_more(c);
                            })
                  .ok());
  loop.Run();
  // The process is alive (SIGPIPE ignored) and the failure is reported.
  EXPECT_FALSE(write_error.ok());
  EXPECT_TRUE(write_error.message().find("EPIPE") != std::string::npos ||
              write_error.message().find("ECONNRESET") != std::string::npos ||
              write_error.code() == absl::StatusCode::kCancelled)
      << write_error;
  struct sigaction current;
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &current), 0);
  EXPECT_EQ(current.sa_handler, SIG_IGN);
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, CloseResetMakesThePeerSeeEconnreset) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  server.on_accept = [](Tcp& conn) {
    ASSERT_TRUE(conn.ReadStart([](Stream& s, auto r) {
                      if (r.ok()) {
                        ASSERT_TRUE(static_cast<Tcp&>(s).CloseReset().ok());
                      }
                    })
                    .ok());
  };
  auto client = *Tcp::Create(loop);
  absl::Status seen;
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              ASSERT_TRUE(c.Write("ping").ok());
                              ASSERT_TRUE(c.ReadStart([&](Stream& s, auto r) {
                                             ASSERT_FALSE(r.ok());
                                             seen = r.status();
                                             (void)s.Close();
                                           }).ok());
                            })
                  .ok());
  loop.Run();
  EXPECT_NE(seen.message().find("ECONNRESET"), std::string::npos) << seen;
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, UserAllocatorAndEmptyBufferError) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  char mine[4];
  std::string got;
  absl::Status nobufs;
  server.on_accept = [&](Tcp& conn) {
    conn.SetAllocator([&](Stream&, size_t suggested) {
      EXPECT_GT(suggested, 0u);
      return absl::Span<char>(mine, sizeof(mine));
    });
    ASSERT_TRUE(conn.ReadStart([&](Stream& s, auto r) {
                      if (!r.ok()) {
                        (void)s.Close();
                        return;
                      }
                      EXPECT_EQ(r->data(), mine);  // read into our buffer
                      EXPECT_LE(r->size(), sizeof(mine));
                      got.append(r->data(), r->size());
                      if (got.size() == 8) {
                        // Now an allocator that gives nothing.
                        s.SetAllocator(
                            [](Stream&, size_t) { return absl::Span<char>(); });
                        ASSERT_TRUE(s.ReadStart([&](Stream& s2, auto r2) {
                                       ASSERT_FALSE(r2.ok());
                                       nobufs = r2.status();
                                       (void)s2.Close();
                                     }).ok());
                      }
                    })
                    .ok());
  };
  auto client = *Tcp::Create(loop);
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              ASSERT_TRUE(c.Write("0123456789ab").ok());
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(got, "01234567");
  EXPECT_NE(nobufs.message().find("ENOBUFS"), std::string::npos) << nobufs;
  client.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, DestroyInsideReadCallbackAndExceptionsReachTheHandler) {
  Loop loop;
  Watchdog dog(loop);
  std::vector<std::string> errors;
  loop.SetExceptionHandler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      errors.push_back(ex.what());
    }
  });
  Server server(loop);
  server.on_accept = [&](Tcp& conn) {
    ASSERT_TRUE(conn.ReadStart([&](Stream&, auto) {
                      server.conns.clear();  // destroys this very handle
                      throw std::runtime_error("from read");
                    })
                    .ok());
  };
  auto client = *Tcp::Create(loop);
  ASSERT_TRUE(client
                  ->Connect(Localhost(server.port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok());
                              ASSERT_TRUE(c.Write("x").ok());
                              ASSERT_TRUE(c.Shutdown().ok());
                              (void)c.Close();
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(errors, std::vector<std::string>{"from read"});
  EXPECT_TRUE(server.conns.empty());
  client.reset();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, OpenAdoptsASocketAndRejectsBadFds) {
  Loop loop;
  Watchdog dog(loop);
  Server server(loop);
  auto tcp = *Tcp::Create(loop);
  absl::Status bad = tcp->Open(-1);
  EXPECT_NE(bad.message().find("EBADF"), std::string::npos) << bad;
  int not_socket[2];
  ASSERT_EQ(pipe(not_socket), 0);
  absl::Status notsock = tcp->Open(not_socket[0]);
  EXPECT_NE(notsock.message().find("ENOTSOCK"), std::string::npos) << notsock;
  close(not_socket[0]);
  close(not_socket[1]);
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_EQ(tcp->Open(udp).code(), absl::StatusCode::kInvalidArgument);
  close(udp);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(tcp->Open(fd).ok());
  EXPECT_EQ(*tcp->Fileno(), fd);
  int connected = 0;
  ASSERT_TRUE(tcp->Connect(Localhost(server.port),
                           [&](Tcp& c, absl::Status st) {
                             EXPECT_TRUE(st.ok()) << st;
                             ++connected;
                             (void)c.Close();
                           })
                  .ok());
  loop.Run();
  EXPECT_EQ(connected, 1);
  tcp.reset();
  server.conns.clear();
  server.tcp.reset();
  Finish(loop);
}

TEST(TcpTest, BadCallsOnClosedAndMismatchedHandles) {
  Loop loop;
  auto tcp = *Tcp::Create(loop);
  EXPECT_EQ(Tcp::Create(loop, AF_UNIX).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tcp->Connect(SocketAddress(), [](Tcp&, absl::Status) {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tcp->Connect(Localhost(1), nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tcp->Listen(0, [](Stream&, absl::Status) {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tcp->ReadStart(nullptr).code(), absl::StatusCode::kInvalidArgument);
  // Not connected: reading and writing fail cleanly.
  EXPECT_FALSE(tcp->ReadStart([](Stream&, auto) {}).ok());
  EXPECT_FALSE(tcp->Write("x").ok());
  EXPECT_FALSE(tcp->TryWrite("x").ok());
  EXPECT_FALSE(tcp->Accept().ok());
  EXPECT_FALSE(tcp->CloseReset().ok());  // no socket yet
  ASSERT_TRUE(tcp->Close().ok());
  EXPECT_EQ(tcp->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tcp->Bind(Localhost()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(tcp->SockName().ok());
  EXPECT_FALSE(tcp->SetNoDelay(true).ok());
  EXPECT_FALSE(tcp->SendBufferSize().ok());
  loop.Run();
  tcp.reset();
  Finish(loop);
}

TEST(TcpTest, ReusePortLetsTwoServersShareAPort) {
  Loop loop;
  auto a = *Tcp::Create(loop, AF_INET);
  auto b = *Tcp::Create(loop, AF_INET);
  auto c = *Tcp::Create(loop, AF_INET);
  ASSERT_TRUE(a->Bind(Localhost(), {.reuse_port = true}).ok());
  uint16_t port = a->SockName()->port();
  ASSERT_TRUE(a->Listen(8, [](Stream&, absl::Status) {}).ok());
  ASSERT_TRUE(b->Bind(Localhost(port), {.reuse_port = true}).ok());
  EXPECT_TRUE(b->Listen(8, [](Stream&, absl::Status) {}).ok());
  // Without the option the port is taken (libuv reports it at Listen).
  absl::Status s = c->Bind(Localhost(port));
  if (s.ok()) s = c->Listen(8, [](Stream&, absl::Status) {});
  EXPECT_NE(s.message().find("EADDRINUSE"), std::string::npos) << s;
  // reuse_port needs a socket to exist before Bind.
  auto d = *Tcp::Create(loop);
  EXPECT_EQ(d->Bind(Localhost(), {.reuse_port = true}).code(),
            absl::StatusCode::kInvalidArgument);
  a.reset();
  b.reset();
  c.reset();
  d.reset();
  Finish(loop);
}

TEST(TcpTest, LoopDestructionClosesConnectionsAndCancelsWrites) {
  int cancelled = 0;
  HandlePtr<Tcp> survivor;
  {
    Loop loop;
    Server server(loop);
    survivor = *Tcp::Create(loop);
    ASSERT_TRUE(
        survivor
            ->Connect(Localhost(server.port),
                      [&](Tcp& c, absl::Status st) {
                        ASSERT_TRUE(st.ok());
                        for (int i = 0; i < 32; ++i) {
                          ASSERT_TRUE(
                              c.Write(std::string(1 << 20, 'q'),
                                      [&](Stream&, absl::Status ws) {
                                        if (ws.code() ==
                                            absl::StatusCode::kCancelled) {
                                          ++cancelled;
                                        }
                                      })
                                  .ok());
                        }
                        c.loop().Stop();
                      })
            .ok());
    loop.Run();
  }  // ~Loop with open handles and queued writes
  EXPECT_GT(cancelled, 0);
  EXPECT_TRUE(survivor->IsClosing());
  EXPECT_FALSE(survivor->Write("x").ok());
  survivor.reset();
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
