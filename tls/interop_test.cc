// Interop of //tls with other TLS stacks, each a child process on
// 127.0.0.1: our TlsStream client against `openssl s_server` and Node's `tls`
// server; `openssl s_client` and Node's `tls` client against
// examples/tls_echo_server; examples/tls_echo_client against it too. Every
// child is bounded in time and killed by its PID.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/tcp.h"
#include "loop/timer.h"
#include "tls/context.h"
#include "tls/engine.h"
#include "tls/tls_stream.h"

extern "C" const char* __asan_default_options() {
  return "fast_unwind_on_malloc=0";
}

extern char** environ;

namespace evergreen {
namespace tls {
namespace {

using loop::HandlePtr;
using loop::Loop;
using loop::SocketAddress;
using loop::Tcp;
using loop::Timer;

constexpr int kTimeoutMs = 10000;

std::string Runfile(absl::string_view path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/evergreen/", path);
}

std::string TestData(absl::string_view name) {
  return Runfile(absl::StrCat("tls/testdata/", name));
}

// FindProgram returns the path of `name` on $PATH or in /usr/bin,
// /usr/local/bin; "" if absent.
std::string FindProgram(absl::string_view name) {
  const char* path = std::getenv("PATH");
  std::string dirs =
      absl::StrCat(path != nullptr ? path : "", ":/usr/bin:/usr/local/bin");
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Child is a process with pipes on its stdin, stdout and stderr. It is
// killed (SIGKILL, by PID) if still running when destroyed.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2], err[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) {
      ADD_FAILURE() << "pipe: " << strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
      posix_spawn_file_actions_addclose(&actions, fd);
    }
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, args.data(),
                         environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    if (rc != 0) {
      ADD_FAILURE() << "spawn " << argv[0] << ": " << strerror(rc);
      pid_ = -1;
    }
    // A child that exits early must not kill us with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_}) {
      if (fd >= 0) close(fd);
    }
  }

  bool ok() const { return pid_ > 0; }

  // Send writes `data` to the child's stdin.
  void Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = write(in_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      ASSERT_GT(n, 0) << "write to child: " << strerror(errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void CloseStdin() {
    if (in_ >= 0) close(in_);
    in_ = -1;
  }

  // ReadUntil reads stdout and stderr until `done(out)` holds or both ended;
  // fails the test after 10 s. Returns whether `done` held.
  bool ReadUntil(const std::function<bool(const std::string&)>& done) {
    for (int waited = 0; waited < kTimeoutMs;) {
      if (done(out)) return true;
      struct pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
      int n = poll(fds, 2, 100);
      if (n == 0) {
        waited += 100;
        continue;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "poll: " << strerror(errno);
        return false;
      }
      bool open = false;
      for (int i = 0; i < 2; ++i) {
        int& fd = i == 0 ? out_ : err_;
        if (fd < 0) continue;
        if (fds[i].revents == 0) {
          open = true;
          continue;
        }
        char buf[65536];
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0) {
          (i == 0 ? out : err).append(buf, static_cast<size_t>(r));
          open = true;
        } else if (r == 0 || errno != EINTR) {
          close(fd);
          fd = -1;
        } else {
          open = true;
        }
      }
      if (!open) return done(out);
    }
    ADD_FAILURE() << "child output not seen within 10 s; stdout: " << out
                  << "\nstderr: " << err;
    return false;
  }

  // Line returns the first stdout line once read ("" after 10 s).
  std::string FirstLine() {
    ReadUntil([](const std::string& s) { return s.find('\n') != s.npos; });
    return out.substr(0, out.find('\n'));
  }

  // Wait returns the exit status (or -signal) once the child exited, after
  // reading its output to the end; kills it and fails after 10 s.
  int Wait() {
    ReadUntil([](const std::string&) { return false; });
    for (int waited = 0; waited < kTimeoutMs; waited += 10) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      usleep(10000);  // polling a child's exit, not synchronisation
    }
    ADD_FAILURE() << "child did not exit within 10 s";
    return -1000;
  }

  // Terminate sends `signum` and waits.
  int Terminate(int signum = SIGTERM) {
    EXPECT_EQ(kill(pid_, signum), 0);
    return Wait();
  }

  std::string out, err;

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
};

uint16_t PortAfter(const std::string& line, absl::string_view prefix) {
  unsigned port = 0;
  if (!absl::StartsWith(line, prefix)) return 0;
  if (sscanf(line.c_str() + prefix.size(), "%u", &port) != 1) return 0;
  return static_cast<uint16_t>(port);
}

// Starts examples/tls_echo_server on port 0 and reads its port.
std::unique_ptr<Child> StartOurServer(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {
      Runfile("examples/tls_echo_server"), "--port=0",
      "--cert=" + TestData("server.pem"), "--key=" + TestData("server.key"),
      "--max_seconds=30"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Child>(argv);
}

std::string PatternBytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + (i >> 13)) & 0xff);
  }
  return s;
}

// Loop scaffolding: a watchdog and a clean end.
class Watchdog {
 public:
  explicit Watchdog(Loop& loop) : timer_(Timer::Create(loop)) {
    EXPECT_TRUE(timer_
                    ->Start(kTimeoutMs, 0,
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

void Finish(Loop& loop) {
  loop.Walk([](loop::Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

// Exchange runs one TlsStream client connection to 127.0.0.1:`port`: sends
// `message` (in pieces of at most 64 KiB, keeping the queue bounded), reads
// until `expect_bytes` came back, then sends close_notify and reads to the
// end. Returns the handshake status; fills `echo`, `info`, `end`.
struct Exchange {
  absl::Status handshake = absl::UnknownError("no handshake");
  std::string echo;
  HandshakeInfo info;
  absl::Status end;

  void Run(uint16_t port, ClientContextOptions options,
           const std::string& message, size_t expect_bytes) {
    Loop loop;
    Watchdog dog(loop);
    std::shared_ptr<ClientContext> ctx = *ClientContext::Create(options);
    HandlePtr<Tcp> tcp = *Tcp::Create(loop);
    ASSERT_TRUE(
        tcp->Connect(*SocketAddress::Parse("127.0.0.1", port),
                     [](Tcp&, absl::Status st) { EXPECT_TRUE(st.ok()) << st; })
            .ok());
    TlsStreamOptions tls_options;
    tls_options.server_name = "localhost";
    tls_options.port = port;
    size_t sent = 0;
    std::function<void(TlsStream&)> pump = [&](TlsStream& t) {
      while (!t.IsClosing() && sent < message.size() &&
             t.WriteQueueSize() < t.high_water()) {
        size_t n = std::min<size_t>(message.size() - sent, 65536);
        ASSERT_TRUE(t.Write(absl::string_view(message).substr(sent, n),
                            [&](TlsStream& w, absl::Status s) {
                              EXPECT_TRUE(s.ok()) << s;
                              pump(w);
                            })
                        .ok());
        sent += n;
      }
    };
    absl::StatusOr<TlsStreamPtr> conn = TlsStream::CreateClient(
        std::move(tcp), ctx, tls_options, [&](TlsStream& t, absl::Status st) {
          handshake = st;
          if (!st.ok()) {
            (void)t.Close();
            return;
          }
          info = t.info();
          pump(t);
          ASSERT_TRUE(t.ReadStart([&](TlsStream& r, auto data) {
                         if (!data.ok()) {
                           end = data.status();
                           (void)r.Close();
                           return;
                         }
                         bool had_all = echo.size() >= expect_bytes;
                         echo.append(data->data(), data->size());
                         if (!had_all && echo.size() >= expect_bytes) {
                           EXPECT_TRUE(r.Shutdown().ok());
                         }
                       }).ok());
        });
    ASSERT_TRUE(conn.ok()) << conn.status();
    loop.Run();
    conn->reset();
    Finish(loop);
  }
};

ClientContextOptions TrustingTestCa() {
  ClientContextOptions options;
  options.trust = Trust::CaFile(TestData("ca.pem"));
  return options;
}

// Our client against `openssl s_server -rev` (it echoes each line
// reversed), TLS 1.3 and 1.2.
class OpensslServerTest : public ::testing::TestWithParam<TlsVersion> {};

TEST_P(OpensslServerTest, OurClientTalksToOpensslServer) {
  std::string openssl = FindProgram("openssl");
  if (openssl.empty())
    FAIL() << "the openssl CLI is not installed (./bazelw installs it)";
  Child server({openssl, "s_server", "-accept", "127.0.0.1:0", "-cert",
                TestData("server.pem"), "-key", TestData("server.key"), "-rev",
                "-naccept", "1"});
  ASSERT_TRUE(server.ok());
  uint16_t port = 0;
  ASSERT_TRUE(server.ReadUntil([&](const std::string& out) {
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      port = PortAfter(std::string(line), "ACCEPT 127.0.0.1:");
      if (port != 0) return true;
    }
    return false;
  })) << server.out;
  ClientContextOptions options = TrustingTestCa();
  options.max_version = GetParam();
  Exchange x;
  const std::string line = "hello from evergreen\n";
  x.Run(port, options, line, line.size());
  ASSERT_TRUE(x.handshake.ok()) << x.handshake;
  EXPECT_EQ(x.echo, "neergreve morf olleh\n");
  EXPECT_EQ(x.info.version_name,
            GetParam() == TlsVersion::kTls13 ? "TLSv1.3" : "TLSv1.2");
  EXPECT_EQ(x.info.peer_chain_der.size(), 1u);
  // s_server ends the connection after our close_notify, with or without
  // its own.
  EXPECT_TRUE(x.end.code() == absl::StatusCode::kOutOfRange ||
              x.end.code() == absl::StatusCode::kDataLoss)
      << x.end;
  EXPECT_EQ(server.Wait(), 0) << server.err;  // -naccept 1: it exits
}

INSTANTIATE_TEST_SUITE_P(Versions, OpensslServerTest,
                         ::testing::Values(TlsVersion::kTls13,
                                           TlsVersion::kTls12),
                         [](const ::testing::TestParamInfo<TlsVersion>& i) {
                           return i.param == TlsVersion::kTls13 ? "Tls13"
                                                                : "Tls12";
                         });

// `openssl s_client` against examples/tls_echo_server, TLS 1.3 and 1.2.
class OpensslClientTest : public ::testing::TestWithParam<const char*> {};

TEST_P(OpensslClientTest, OpensslClientTalksToOurServer) {
  std::string openssl = FindProgram("openssl");
  if (openssl.empty())
    FAIL() << "the openssl CLI is not installed (./bazelw installs it)";
  std::unique_ptr<Child> server = StartOurServer();
  ASSERT_TRUE(server->ok());
  uint16_t port = PortAfter(server->FirstLine(), "listening on 127.0.0.1:");
  ASSERT_NE(port, 0) << server->out << server->err;
  Child client({openssl, "s_client", "-connect",
                absl::StrCat("127.0.0.1:", port), "-CAfile", TestData("ca.pem"),
                "-servername", "localhost", "-verify_hostname", "localhost",
                "-verify_return_error", "-brief", GetParam()});
  ASSERT_TRUE(client.ok());
  const std::string line = "interop line one\n";
  client.Send(line);
  ASSERT_TRUE(client.ReadUntil([&](const std::string& out) {
    return absl::StrContains(out, line);
  })) << client.err;
  client.CloseStdin();  // s_client sends close_notify and exits
  EXPECT_EQ(client.Wait(), 0) << client.err;
  EXPECT_EQ(client.out, line);
  EXPECT_TRUE(absl::StrContains(client.err, "Verification: OK")) << client.err;
  EXPECT_TRUE(absl::StrContains(
      client.err,
      std::string("Protocol version: ") +
          (absl::string_view(GetParam()) == "-tls1_3" ? "TLSv1.3" : "TLSv1.2")))
      << client.err;
  EXPECT_EQ(server->Terminate(), 0) << server->err;
}

INSTANTIATE_TEST_SUITE_P(Versions, OpensslClientTest,
                         ::testing::Values("-tls1_3", "-tls1_2"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "-tls1_3" ? "Tls13"
                                                                    : "Tls12";
                         });

// Our client against Node's `tls` echo server: 1 MiB and ALPN.
TEST(InteropTest, OurClientTalksToNodeServer) {
  std::string node = FindProgram("node");
  if (node.empty())
    FAIL() << "node is not installed (./bazelw installs nodejs)";
  Child server({node, TestData("node_echo_server.js"), TestData("server.pem"),
                TestData("server.key"), "20"});
  ASSERT_TRUE(server.ok());
  uint16_t port = PortAfter(server.FirstLine(), "listening on 127.0.0.1:");
  ASSERT_NE(port, 0) << server.out << server.err;
  ClientContextOptions options = TrustingTestCa();
  options.alpn_protocols = {"echo"};
  const std::string message = PatternBytes((1 << 20) + 333);
  Exchange x;
  x.Run(port, options, message, message.size());
  ASSERT_TRUE(x.handshake.ok()) << x.handshake;
  EXPECT_TRUE(x.echo == message) << "echo of " << x.echo.size() << " bytes";
  EXPECT_EQ(x.info.version_name, "TLSv1.3");
  EXPECT_EQ(x.info.alpn_protocol, "echo");
  EXPECT_EQ(x.end.code(), absl::StatusCode::kOutOfRange) << x.end;
  EXPECT_EQ(server.Terminate(), 0) << server.err;
}

// Node's `tls` client against examples/tls_echo_server: 1 MiB, verified by
// name against the test CA, ALPN.
TEST(InteropTest, NodeClientTalksToOurServer) {
  std::string node = FindProgram("node");
  if (node.empty())
    FAIL() << "node is not installed (./bazelw installs nodejs)";
  std::unique_ptr<Child> server = StartOurServer({"--alpn=echo"});
  ASSERT_TRUE(server->ok());
  uint16_t port = PortAfter(server->FirstLine(), "listening on 127.0.0.1:");
  ASSERT_NE(port, 0) << server->out << server->err;
  const size_t bytes = (1 << 20) + 4321;
  Child client({node, TestData("node_client.js"), std::to_string(port),
                TestData("ca.pem"), std::to_string(bytes)});
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client.Wait(), 0) << client.err;
  EXPECT_EQ(client.out, absl::StrCat("ok ", bytes, " TLSv1.3 echo\n"))
      << client.err;
  EXPECT_EQ(server->Terminate(), 0) << server->err;
}

// The two examples together: a message flag, then stdin; and a wrong name
// is refused with the reason.
TEST(InteropTest, ExampleClientAndServer) {
  std::unique_ptr<Child> server = StartOurServer();
  ASSERT_TRUE(server->ok());
  uint16_t port = PortAfter(server->FirstLine(), "listening on 127.0.0.1:");
  ASSERT_NE(port, 0) << server->out << server->err;
  const std::string client_binary = Runfile("examples/tls_echo_client");
  const std::string port_flag = absl::StrCat("--port=", port);
  const std::string ca_flag = "--ca=" + TestData("ca.pem");
  {
    Child client(
        {client_binary, port_flag, ca_flag, "--message=hi there", "--verbose"});
    EXPECT_EQ(client.Wait(), 0) << client.err;
    EXPECT_EQ(client.out, "hi there");
    EXPECT_TRUE(absl::StrContains(client.err, "TLSv1.3")) << client.err;
  }
  {
    Child client({client_binary, port_flag, ca_flag});
    const std::string input = PatternBytes(300000);
    client.Send(input);
    client.CloseStdin();
    EXPECT_EQ(client.Wait(), 0) << client.err;
    EXPECT_TRUE(client.out == input) << client.out.size() << " bytes";
  }
  {
    Child client({client_binary, port_flag, ca_flag, "--message=x",
                  "--server_name=wrong.example"});
    EXPECT_EQ(client.Wait(), 1);
    EXPECT_TRUE(absl::StrContains(client.err, "Hostname mismatch"))
        << client.err;
  }
  EXPECT_EQ(server->Terminate(), 0) << server->err;
}

}  // namespace
}  // namespace tls
}  // namespace evergreen
