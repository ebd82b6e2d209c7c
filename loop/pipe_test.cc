#include "loop/pipe.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/tcp.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

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

// Closes everything and checks that the loop closes cleanly.
void Finish(Loop& loop) {
  loop.Walk([](Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

// A fresh directory under $TEST_TMPDIR.
std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base ? base : "/tmp", "/pipeXXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// A Linux abstract socket name unique to this process.
std::string AbstractName(absl::string_view tag) {
  return absl::StrCat(std::string(1, '\0'), "evergreen-pipe-test-", getpid(),
                      "-", tag);
}

// Socket paths must fit in 107 bytes and $TEST_TMPDIR is longer: a test
// that binds file names works inside a fresh temporary directory made the
// working directory, with relative names. Declare it before the Loop so that
// the handles (which unlink their socket files) close first.
class ScopedTempCwd {
 public:
  ScopedTempCwd() : dir_(TempDir()) {
    EXPECT_NE(getcwd(old_, sizeof(old_)), nullptr);
    EXPECT_EQ(chdir(dir_.c_str()), 0);
  }
  ~ScopedTempCwd() { EXPECT_EQ(chdir(old_), 0); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  char old_[4096];
};

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool Contains(const absl::Status& s, absl::string_view part) {
  return s.message().find(part) != absl::string_view::npos;
}

// A listening pipe server that echoes what each connection sends and closes
// the connection at EOF. It stops listening after the first connection.
struct EchoServer {
  EchoServer(Loop& loop, const std::string& path) : pipe(*Pipe::Create(loop)) {
    bind_status = pipe->Bind(path);
    if (!bind_status.ok()) return;
    EXPECT_TRUE(pipe->Listen(8,
                             [this](Stream& s, absl::Status st) {
                               ASSERT_TRUE(st.ok()) << st;
                               auto conn = static_cast<Pipe&>(s).Accept();
                               ASSERT_TRUE(conn.ok()) << conn.status();
                               (void)s.Close();
                               ASSERT_TRUE(
                                   (*conn)
                                       ->ReadStart([](Stream& c, auto r) {
                                         if (!r.ok()) {
                                           (void)c.Close();
                                           return;
                                         }
                                         ASSERT_TRUE(
                                             c.Write(std::string(*r)).ok());
                                       })
                                       .ok());
                               conns.push_back(std::move(*conn));
                             })
                    .ok());
  }
  HandlePtr<Pipe> pipe;
  absl::Status bind_status;
  std::vector<HandlePtr<Pipe>> conns;
};

// Connects to `path`, sends `text`, shuts down and collects the echo.
struct EchoClient {
  EchoClient(Loop& loop, const std::string& path, std::string text)
      : pipe(*Pipe::Create(loop)) {
    EXPECT_TRUE(pipe->Connect(path,
                              [this, path, text](Pipe& c, absl::Status st) {
                                connect_status = st;
                                ++connects;
                                if (!st.ok()) return;
                                peer = c.PeerName();
                                ASSERT_TRUE(c.Write(text).ok());
                                ASSERT_TRUE(c.Shutdown().ok());
                                ASSERT_TRUE(
                                    c.ReadStart([this](Stream& s, auto r) {
                                       if (!r.ok()) {
                                         ++eofs;
                                         (void)s.Close();
                                         return;
                                       }
                                       echoed.append(r->data(), r->size());
                                     }).ok());
                              })
                    .ok());
  }
  HandlePtr<Pipe> pipe;
  absl::Status connect_status;
  absl::StatusOr<std::string> peer = absl::UnknownError("not connected");
  int connects = 0;
  int eofs = 0;
  std::string echoed;
};

TEST(PipeTest, EchoOverAFilePathWithNamesAndChmod) {
  ScopedTempCwd cwd;
  Loop loop;
  Watchdog dog(loop);
  std::string path = "echo.sock";
  EchoServer server(loop, path);
  ASSERT_TRUE(server.bind_status.ok()) << server.bind_status;
  EXPECT_EQ(*server.pipe->SockName(), path);
  EXPECT_FALSE(server.pipe->ipc());
  ASSERT_TRUE(Exists(path));
  ASSERT_TRUE(server.pipe->Chmod(true, true).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0666, 0666u);
  EXPECT_EQ(server.pipe->Chmod(false, false).code(),
            absl::StatusCode::kInvalidArgument);

  EchoClient client(loop, path, "hello over a pipe");
  loop.Run();
  EXPECT_EQ(client.connects, 1);
  EXPECT_TRUE(client.connect_status.ok()) << client.connect_status;
  ASSERT_TRUE(client.peer.ok()) << client.peer.status();
  EXPECT_EQ(*client.peer, path);
  EXPECT_EQ(client.echoed, "hello over a pipe");
  EXPECT_EQ(client.eofs, 1);
  // The server closed after its one connection: libuv removed the file.
  EXPECT_FALSE(Exists(path));
  client.pipe.reset();
  server.conns.clear();
  server.pipe.reset();
  Finish(loop);
}

TEST(PipeTest, AbstractNamesBindConnectAndShowAsAt) {
  Loop loop;
  Watchdog dog(loop);
  std::string name = AbstractName("echo");
  EchoServer server(loop, name);
  ASSERT_TRUE(server.bind_status.ok()) << server.bind_status;
  absl::StatusOr<std::string> bound = server.pipe->SockName();
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(*bound, name);
  absl::Status chmod = server.pipe->Chmod(true, true);
  EXPECT_EQ(chmod.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(chmod, "@evergreen-pipe-test-")) << chmod;

  EchoClient client(loop, name, "abstract hello");
  // A second name nobody listens on.
  auto refused = *Pipe::Create(loop);
  absl::Status refused_status;
  int refused_calls = 0;
  ASSERT_TRUE(refused
                  ->Connect(AbstractName("nobody"),
                            [&](Pipe&, absl::Status st) {
                              ++refused_calls;
                              refused_status = st;
                            })
                  .ok());
  EXPECT_EQ(refused_calls, 0);  // always from the loop
  loop.Run();
  EXPECT_EQ(client.connects, 1);
  EXPECT_TRUE(client.connect_status.ok()) << client.connect_status;
  ASSERT_TRUE(client.peer.ok()) << client.peer.status();
  EXPECT_EQ(*client.peer, name);
  EXPECT_EQ(client.echoed, "abstract hello");
  EXPECT_EQ(client.eofs, 1);
  EXPECT_EQ(refused_calls, 1);
  EXPECT_TRUE(Contains(refused_status, "ECONNREFUSED")) << refused_status;
  EXPECT_TRUE(Contains(refused_status, "pipe connect @evergreen-pipe-test-"))
      << refused_status;
  client.pipe.reset();
  refused.reset();
  server.conns.clear();
  server.pipe.reset();
  Finish(loop);
}

TEST(PipeTest, ConnectToAMissingPathIsAClearError) {
  ScopedTempCwd cwd;
  Loop loop;
  Watchdog dog(loop);
  std::string path = "missing.sock";
  auto pipe = *Pipe::Create(loop);
  absl::Status result;
  int calls = 0;
  ASSERT_TRUE(pipe->Connect(path,
                            [&](Pipe&, absl::Status st) {
                              ++calls;
                              result = st;
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(result, "ENOENT")) << result;
  EXPECT_TRUE(Contains(result, path)) << result;
  pipe.reset();
  Finish(loop);
}

TEST(PipeTest, ClosingCancelsAPendingConnect) {
  ScopedTempCwd cwd;
  Loop loop;
  Watchdog dog(loop);
  std::string path = "cancel.sock";
  EchoServer server(loop, path);
  ASSERT_TRUE(server.bind_status.ok());
  EchoServer abstract_server(loop, AbstractName("cancel"));
  ASSERT_TRUE(abstract_server.bind_status.ok());
  std::vector<absl::Status> results;
  auto a = *Pipe::Create(loop);
  auto b = *Pipe::Create(loop);
  auto record = [&](Pipe&, absl::Status st) { results.push_back(st); };
  ASSERT_TRUE(a->Connect(path, record).ok());
  ASSERT_TRUE(b->Connect(AbstractName("cancel"), record).ok());
  // A second connect while one is pending would be lost by libuv.
  EXPECT_TRUE(Contains(a->Connect(path, record), "EALREADY"));
  ASSERT_TRUE(a->Close().ok());
  ASSERT_TRUE(b->Close().ok());
  server.pipe.reset();
  abstract_server.pipe.reset();
  loop.Run();
  ASSERT_EQ(results.size(), 2u);
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  }
  a.reset();
  b.reset();
  server.conns.clear();
  abstract_server.conns.clear();
  Finish(loop);
}

TEST(PipeTest, BadPathsAreRejectedWithoutTouchingTheFileSystem) {
  ScopedTempCwd cwd;
  Loop loop;
  // sun_path holds 108 bytes: a path keeps one for its NUL.
  auto pipe = *Pipe::Create(loop);
  std::string too_long(120, 'x');
  absl::Status s = pipe->Bind(too_long);
  EXPECT_TRUE(Contains(s, "ENAMETOOLONG")) << s;
  EXPECT_TRUE(Contains(s, "pipe bind xxx")) << s;
  // libuv 1.44 would have bound (and left behind) the truncated name.
  EXPECT_FALSE(Exists(too_long.substr(0, 107)));
  std::string longest(107, 'y');
  std::string one_more(108, 'z');
  auto edge = *Pipe::Create(loop);
  EXPECT_TRUE(Contains(edge->Bind(one_more), "ENAMETOOLONG"));
  EXPECT_FALSE(Exists(one_more.substr(0, 107)));
  ASSERT_TRUE(edge->Bind(longest).ok());
  EXPECT_EQ(*edge->SockName(), longest);
  EXPECT_TRUE(Exists(longest));
  edge.reset();
  loop.Run();
  EXPECT_FALSE(Exists(longest));  // unlinked on close

  std::string dir = ".";
  EXPECT_EQ(pipe->Bind("").code(), absl::StatusCode::kInvalidArgument);
  std::string with_nul = dir + "/a";
  with_nul += '\0';
  with_nul += "b";
  s = pipe->Bind(with_nul);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "NUL")) << s;
  EXPECT_FALSE(Exists(dir + "/a"));
  std::string abstract_nul = AbstractName("x");
  abstract_nul += '\0';
  EXPECT_EQ(pipe->Bind(abstract_nul).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(pipe->Bind(std::string(1, '\0') + std::string(107, 'a')),
                       "ENAMETOOLONG"));
  int calls = 0;
  auto never = [&](Pipe&, absl::Status) { ++calls; };
  EXPECT_TRUE(Contains(pipe->Connect(too_long, never), "ENAMETOOLONG"));
  EXPECT_EQ(pipe->Connect(with_nul, never).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pipe->Connect(dir + "/x.sock", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // The longest abstract name is fine; binding twice is not.
  ASSERT_TRUE(pipe->Bind(std::string(1, '\0') + std::string(106, 'b')).ok());
  EXPECT_EQ(pipe->Bind(dir + "/again.sock").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pipe->Bind(AbstractName("again")).code(),
            absl::StatusCode::kInvalidArgument);
  loop.Run();
  EXPECT_EQ(calls, 0);
  pipe.reset();
  Finish(loop);
}

TEST(PipeTest, OpenAdoptsPipesAndRejectsOtherFds) {
  Loop loop;
  Watchdog dog(loop);
  auto reader = *Pipe::Create(loop);
  auto writer = *Pipe::Create(loop);
  EXPECT_TRUE(Contains(reader->Open(-1), "EBADF"));
  int closed_fd = dup(0);
  ASSERT_GE(closed_fd, 0);
  close(closed_fd);
  EXPECT_TRUE(Contains(reader->Open(closed_fd), "EBADF"));
  std::string file = TempDir() + "/plain";
  int file_fd = open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(file_fd, 0);
  EXPECT_EQ(reader->Open(file_fd).code(), absl::StatusCode::kInvalidArgument);
  close(file_fd);
  int tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(reader->Open(tcp_fd).code(), absl::StatusCode::kInvalidArgument);
  close(tcp_fd);
  int dgram[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram), 0);
  EXPECT_EQ(reader->Open(dgram[0]).code(), absl::StatusCode::kInvalidArgument);
  close(dgram[0]);
  close(dgram[1]);

  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  auto ipc = *Pipe::Create(loop, /*ipc=*/true);
  EXPECT_EQ(ipc->Open(fds[0]).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(reader->Open(fds[0]).ok());
  ASSERT_TRUE(writer->Open(fds[1]).ok());
  EXPECT_EQ(*reader->Fileno(), fds[0]);
  EXPECT_TRUE(reader->IsReadable());
  EXPECT_FALSE(reader->IsWritable());
  EXPECT_TRUE(writer->IsWritable());
  EXPECT_FALSE(writer->IsReadable());
  std::string got;
  int eofs = 0;
  ASSERT_TRUE(reader
                  ->ReadStart([&](Stream& s, auto r) {
                    if (!r.ok()) {
                      EXPECT_EQ(r.status().code(),
                                absl::StatusCode::kOutOfRange);
                      ++eofs;
                      (void)s.Close();
                      return;
                    }
                    got.append(r->data(), r->size());
                  })
                  .ok());
  // The loop watches fds[0] now.
  auto twice = *Pipe::Create(loop);
  EXPECT_TRUE(Contains(twice->Open(fds[0]), "EEXIST"));
  ASSERT_TRUE(writer
                  ->Write("through a pipe(2)",
                          [](Stream& s, absl::Status st) {
                            EXPECT_TRUE(st.ok()) << st;
                            (void)s.Close();
                          })
                  .ok());
  loop.Run();
  EXPECT_EQ(got, "through a pipe(2)");
  EXPECT_EQ(eofs, 1);
  reader.reset();
  writer.reset();
  ipc.reset();
  twice.reset();
  Finish(loop);
}

TEST(PipeTest, IpcPassesTcpAndPipeHandles) {
  Loop loop;
  Watchdog dog(loop);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto sender = *Pipe::Create(loop, /*ipc=*/true);
  auto receiver = *Pipe::Create(loop, /*ipc=*/true);
  EXPECT_TRUE(sender->ipc());
  ASSERT_TRUE(sender->Open(pair[0]).ok());
  ASSERT_TRUE(receiver->Open(pair[1]).ok());
  EXPECT_EQ(receiver->PendingCount(), 0);
  EXPECT_EQ(receiver->PendingType(), PendingHandleType::kNone);
  EXPECT_TRUE(Contains(receiver->AcceptPending().status(), "EAGAIN"));

  // A TCP connection to pass, and a server that reads from its other end.
  auto server = *Tcp::Create(loop);
  ASSERT_TRUE(server->Bind(*SocketAddress::Parse("127.0.0.1", 0)).ok());
  uint16_t port = server->SockName()->port();
  HandlePtr<Tcp> server_conn;
  std::string via_tcp;
  ASSERT_TRUE(server
                  ->Listen(4,
                           [&](Stream& s, absl::Status st) {
                             ASSERT_TRUE(st.ok());
                             auto c = static_cast<Tcp&>(s).Accept();
                             ASSERT_TRUE(c.ok());
                             server_conn = std::move(*c);
                             (void)s.Close();
                             ASSERT_TRUE(
                                 server_conn
                                     ->ReadStart([&](Stream& r, auto data) {
                                       if (!data.ok()) {
                                         (void)r.Close();
                                         return;
                                       }
                                       via_tcp.append(data->data(),
                                                      data->size());
                                     })
                                     .ok());
                           })
                  .ok());
  // A pipe to pass: one end of another socket pair.
  int other[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, other), 0);
  auto passed_pipe = *Pipe::Create(loop);
  ASSERT_TRUE(passed_pipe->Open(other[0]).ok());
  auto other_end = *Pipe::Create(loop);
  ASSERT_TRUE(other_end->Open(other[1]).ok());
  std::string via_pipe;
  ASSERT_TRUE(other_end
                  ->ReadStart([&](Stream& r, auto data) {
                    if (!data.ok()) {
                      (void)r.Close();
                      return;
                    }
                    via_pipe.append(data->data(), data->size());
                  })
                  .ok());

  std::vector<HandlePtr<Stream>> received;
  std::vector<PendingHandleType> types;
  std::string tags;
  ASSERT_TRUE(receiver
                  ->ReadStart([&](Stream& s, auto r) {
                    auto& ipc = static_cast<Pipe&>(s);
                    if (!r.ok()) {
                      (void)s.Close();
                      return;
                    }
                    tags.append(r->data(), r->size());
                    while (ipc.PendingCount() > 0) {
                      PendingHandleType type = ipc.PendingType();
                      types.push_back(type);
                      if (type == PendingHandleType::kTcp) {
                        // Accept() makes Pipes only.
                        EXPECT_EQ(ipc.Accept().status().code(),
                                  absl::StatusCode::kInvalidArgument);
                      }
                      auto h = ipc.AcceptPending();
                      ASSERT_TRUE(h.ok()) << h.status();
                      std::string line = type == PendingHandleType::kTcp
                                             ? "tcp says hi\n"
                                             : "pipe says hi\n";
                      ASSERT_TRUE((*h)->Write(line,
                                              [](Stream& w, absl::Status st) {
                                                EXPECT_TRUE(st.ok()) << st;
                                                (void)w.Close();
                                              })
                                      .ok());
                      received.push_back(std::move(*h));
                    }
                    if (received.size() == 2) (void)s.Close();
                  })
                  .ok());
  // The sender closes once the receiver did (EOF): closing right after the
  // writes could lose the second handle (see pipe.h on POLLHUP).
  ASSERT_TRUE(sender
                  ->ReadStart([](Stream& s, auto r) {
                    if (!r.ok()) (void)s.Close();
                  })
                  .ok());

  auto client = *Tcp::Create(loop);
  int sent = 0;
  ASSERT_TRUE(
      client
          ->Connect(*SocketAddress::Parse("127.0.0.1", port),
                    [&](Tcp& c, absl::Status st) {
                      ASSERT_TRUE(st.ok()) << st;
                      ASSERT_TRUE(sender
                                      ->Write2("T", c,
                                               [&](Stream&, absl::Status ws) {
                                                 EXPECT_TRUE(ws.ok()) << ws;
                                                 ++sent;
                                                 // The peer has its own copy.
                                                 (void)c.Close();
                                               })
                                      .ok());
                      ASSERT_TRUE(sender
                                      ->Write2("P", *passed_pipe,
                                               [&](Stream&, absl::Status ws) {
                                                 EXPECT_TRUE(ws.ok()) << ws;
                                                 ++sent;
                                                 (void)passed_pipe->Close();
                                               })
                                      .ok());
                    })
          .ok());
  loop.Run();
  EXPECT_EQ(sent, 2);
  EXPECT_EQ(tags, "TP");
  EXPECT_EQ(types, (std::vector<PendingHandleType>{PendingHandleType::kTcp,
                                                   PendingHandleType::kPipe}));
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0]->TypeName(), "tcp");
  EXPECT_EQ(received[1]->TypeName(), "pipe");
  EXPECT_EQ(via_tcp, "tcp says hi\n");
  EXPECT_EQ(via_pipe, "pipe says hi\n");
  received.clear();
  client.reset();
  server.reset();
  server_conn.reset();
  sender.reset();
  receiver.reset();
  passed_pipe.reset();
  other_end.reset();
  Finish(loop);
}

TEST(PipeTest, Write2RejectsBadInput) {
  Loop loop;
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto ipc = *Pipe::Create(loop, /*ipc=*/true);
  auto plain = *Pipe::Create(loop);
  ASSERT_TRUE(ipc->Open(pair[0]).ok());
  ASSERT_TRUE(plain->Open(pair[1]).ok());
  auto unconnected = *Tcp::Create(loop);  // no socket yet
  auto bound = *Tcp::Create(loop);
  ASSERT_TRUE(bound->Bind(*SocketAddress::Parse("127.0.0.1", 0)).ok());

  absl::Status s = plain->Write2("x", *bound);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "not an IPC pipe")) << s;
  s = ipc->Write2("", *bound);
  EXPECT_TRUE(Contains(s, "empty data")) << s;
  s = ipc->Write2("x", *unconnected);
  EXPECT_TRUE(Contains(s, "EBADF")) << s;
  EXPECT_EQ(plain->AcceptPending().status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(plain->PendingCount(), 0);
  EXPECT_EQ(plain->PendingType(), PendingHandleType::kNone);
  ASSERT_TRUE(bound->Close().ok());
  EXPECT_EQ(ipc->Write2("x", *bound).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ipc->Close().ok());
  EXPECT_EQ(ipc->Write2("x", *plain).code(),
            absl::StatusCode::kFailedPrecondition);
  ipc.reset();
  plain.reset();
  unconnected.reset();
  bound.reset();
  Finish(loop);
}

TEST(PipeTest, BadCallsOnUnboundAndClosedPipes) {
  Loop loop;
  auto pipe = *Pipe::Create(loop);
  EXPECT_FALSE(pipe->Listen(4, [](Stream&, absl::Status) {}).ok());
  EXPECT_TRUE(Contains(pipe->Chmod(true, false), "EBADF"));
  EXPECT_FALSE(pipe->SockName().ok());
  EXPECT_FALSE(pipe->PeerName().ok());
  EXPECT_TRUE(Contains(pipe->Accept().status(), "EAGAIN"));
  EXPECT_FALSE(pipe->Write("x").ok());
  EXPECT_FALSE(pipe->ReadStart([](Stream&, auto) {}).ok());
  // Bound but not connected: no peer.
  auto bound = *Pipe::Create(loop);
  ASSERT_TRUE(bound->Bind(AbstractName("unconnected")).ok());
  EXPECT_TRUE(Contains(bound->PeerName().status(), "ENOTCONN"));
  ASSERT_TRUE(pipe->Close().ok());
  EXPECT_EQ(pipe->Bind(AbstractName("closed")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe->Connect("/x", [](Pipe&, absl::Status) {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe->Open(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe->Chmod(true, true).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe->Accept().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe->AcceptPending().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(pipe->SockName().status(), "EBADF"));
  EXPECT_EQ(pipe->PendingCount(), 0);
  loop.Run();
  pipe.reset();
  bound.reset();
  Finish(loop);
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
