// Runs examples/echo_server as a child process on port 0 (TCP, then TLS
// with tls/testdata's certificate) and talks to it with //runtime/io
// clients: 20 concurrent connections each checking every echoed byte; the
// server stops by itself after --max_connections and exits with status 0.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/test_util.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/io/tcp.h"
#include "runtime/io/tls.h"
#include "runtime/task.h"
#include "runtime/task_group.h"
#include "tls/context.h"

extern char** environ;

namespace {

using evergreen::examples_test::Runfile;
using evergreen::examples_test::ServerProcess;

namespace io = evergreen::runtime::io;
using evergreen::runtime::Deadline;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;
using evergreen::runtime::TaskGroup;

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 10)) % 253);
  }
  return s;
}

// Exchange writes 64 KiB in pieces on `conn` from one task while another
// reads the echo back, then shuts down and expects EOF. Returns the bytes
// that matched.
size_t Exchange(io::Stream& conn, uint32_t seed) {
  std::string sent = Pattern(64 * 1024, seed);
  size_t matched = 0;
  absl::Status s = TaskGroup::Run([&](TaskGroup& g) {
    (void)g.Spawn([&] {
      for (size_t off = 0; off < sent.size(); off += 1000) {
        if (!conn.Write(sent.substr(off, 1000)).ok()) return;
      }
      EXPECT_TRUE(conn.Shutdown().ok());
    });
    std::string got;
    while (true) {
      auto r = conn.ReadSome();
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange)
            << r.status();
        break;
      }
      got += *r;
    }
    if (got == sent) matched = got.size();
  });
  EXPECT_TRUE(s.ok()) << s;
  return matched;
}

void RunClients(int n, const std::function<void(int)>& client) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto main = Task::Spawn([&] {
    absl::Status s = evergreen::runtime::WithTimeout(absl::Seconds(8), [&] {
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < n; ++i) (void)g.Spawn([&client, i] { client(i); });
      });
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  ASSERT_TRUE(main.ok());
  EXPECT_TRUE((*loop)->Run().ok());
}

TEST(EchoServerTest, TcpTwentyConnectionsThenStopsByItself) {
  constexpr int kConns = 20;
  ServerProcess server(
      "examples/echo_server",
      {"--port=0", absl::StrCat("--max_connections=", kConns)});
  ASSERT_NE(server.port(), 0);
  std::vector<size_t> matched(kConns, 0);
  RunClients(kConns, [&](int i) {
    auto conn = io::TcpStream::Connect("127.0.0.1", server.port(),
                                       Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    matched[i] = Exchange(**conn, static_cast<uint32_t>(i));
  });
  for (int i = 0; i < kConns; ++i) EXPECT_EQ(matched[i], 64u * 1024) << i;
  EXPECT_EQ(server.Wait(), 0);
}

TEST(EchoServerTest, TlsConnectionsAndSigtermStops) {
  constexpr int kConns = 10;
  ServerProcess server(
      "examples/echo_server",
      {"--port=0", "--tls", "--cert=" + Runfile("tls/testdata/server.pem"),
       "--key=" + Runfile("tls/testdata/server.key")});
  ASSERT_NE(server.port(), 0);
  std::vector<size_t> matched(kConns, 0);
  std::vector<std::string> versions(kConns);
  evergreen::tls::ClientContextOptions co;
  co.trust = evergreen::tls::Trust::CaFile(Runfile("tls/testdata/ca.pem"));
  auto ctx = evergreen::tls::ClientContext::Create(co);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  RunClients(kConns, [&](int i) {
    auto conn = io::TlsStream::Connect("127.0.0.1", server.port(), *ctx,
                                       Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    versions[i] = (*conn)->info().version_name;
    matched[i] = Exchange(**conn, static_cast<uint32_t>(100 + i));
  });
  for (int i = 0; i < kConns; ++i) {
    EXPECT_EQ(matched[i], 64u * 1024) << i;
    EXPECT_FALSE(versions[i].empty()) << i;
  }
  EXPECT_EQ(server.Terminate(), 0);
}

TEST(EchoServerTest, TlsWithoutCertIsAUsageError) {
  std::string binary = Runfile("examples/echo_server");
  std::vector<std::string> flags = {binary, "--tls", "--port=0"};
  std::vector<char*> argv;
  for (std::string& f : flags) argv.push_back(f.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(
      posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ),
      0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
