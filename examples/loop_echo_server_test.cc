// Runs examples/loop_echo_server as a child process on port 0 and talks to it
// through plain sockets: every echoed byte is checked, backpressure is seen
// from the kernel's side, and SIGTERM / --max_seconds end it with status 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "examples/test_util.h"
#include "gtest/gtest.h"

extern char** environ;

namespace {

using evergreen::examples_test::Runfile;
using evergreen::examples_test::ServerProcess;

constexpr int kTimeoutMs = ServerProcess::kTimeoutMs;

// Byte `offset` of a pseudo-random stream named by `seed` (splitmix64 of the
// 8-byte block index): misordered or misrouted bytes do not match.
uint8_t PatternByte(uint64_t seed, uint64_t offset) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (offset / 8) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<uint8_t>(z >> ((offset % 8) * 8));
}

std::string Pattern(uint64_t seed, uint64_t offset, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = PatternByte(seed, offset + i);
  return s;
}

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect: " << strerror(errno);
  }
  timeval tv = {kTimeoutMs / 1000, 0};  // a lost echo fails, never hangs
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_in addr = {};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// ReadExactly reads `n` bytes; fewer at EOF, error or timeout.
std::string ReadExactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t r = read(fd, &out[done], n - done);
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  out.resize(done);
  return out;
}

// Index of the first differing byte, or -1 if equal.
long FirstMismatch(const std::string& a, const std::string& b) {
  if (a == b) return -1;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return static_cast<long>(i);
}

// The receive queue (bytes the server has not read yet) of the server's
// side of a connection, from /proc/net/tcp; -1 if not found.
long ServerRxQueue(uint16_t server_port, uint16_t client_port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues;
    in >> slot >> local >> remote >> state >> queues;
    unsigned lport = 0, rport = 0;
    if (local.size() < 5 || remote.size() < 5) continue;
    lport = std::stoul(local.substr(local.find(':') + 1), nullptr, 16);
    rport = std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16);
    if (lport == server_port && rport == client_port) {
      return std::stol(queues.substr(queues.find(':') + 1), nullptr, 16);
    }
  }
  return -1;
}

TEST(LoopEchoServerTest, EchoesEveryByteThenExitsZeroOnSigterm) {
  ServerProcess server("examples/loop_echo_server", {"--port=0"},
                       /*merge_stderr=*/true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  int fd = Connect(server.port());
  int nodelay = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
  // A few KiB in messages of varied sizes, each echoed before the next.
  uint64_t offset = 0;
  for (size_t size : {1, 64, 100, 1500, 4096, 10000}) {
    std::string sent = Pattern(1, offset, size);
    offset += size;
    ASSERT_TRUE(WriteAll(fd, sent));
    std::string echoed = ReadExactly(fd, size);
    ASSERT_EQ(echoed.size(), size);
    ASSERT_EQ(FirstMismatch(sent, echoed), -1) << "message of " << size;
  }
  // A 1 MiB burst, written by a second thread while this one reads it back.
  const std::string burst = Pattern(2, 0, 1 << 20);
  bool wrote = false;
  std::thread writer([&] { wrote = WriteAll(fd, burst); });
  std::string echoed = ReadExactly(fd, burst.size());
  writer.join();
  EXPECT_TRUE(wrote);
  ASSERT_EQ(echoed.size(), burst.size());
  EXPECT_EQ(FirstMismatch(burst, echoed), -1);
  // EOF from this side: the server finishes, shuts down, and closes.
  ASSERT_TRUE(WriteAll(fd, "tail"));
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  EXPECT_EQ(ReadExactly(fd, 4), "tail");
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0) << "expected EOF after the echo";
  close(fd);
  // A second connection still works after the first one closed.
  fd = Connect(server.port());
  ASSERT_TRUE(WriteAll(fd, "again"));
  EXPECT_EQ(ReadExactly(fd, 5), "again");
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
  // The server closed the connection on SIGTERM.
  EXPECT_EQ(read(fd, &c, 1), 0);
  close(fd);
}

TEST(LoopEchoServerTest, StopsReadingAboveHighWaterAndResumes) {
  ServerProcess server("examples/loop_echo_server",
                       {"--port=0", "--high_water=65536"},
                       /*merge_stderr=*/true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  int fd = Connect(server.port());
  const uint16_t client_port = LocalPort(fd);
  ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
  // Write without reading until the kernel refuses more for 2 s. Without
  // backpressure the server would keep reading (and buffering) everything.
  const uint64_t kLimit = 64 << 20;
  uint64_t written = 0;
  std::string chunk;
  while (written < kLimit) {
    chunk = Pattern(3, written, 64 * 1024);
    ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n > 0) {
      written += static_cast<uint64_t>(n);
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        << strerror(errno);
    pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 2000) == 0) break;  // stalled
  }
  ASSERT_LT(written, kLimit) << "the server never stopped reading";
  // Stalled because the server stopped reading, not because it is slow: it
  // sleeps while unread bytes wait in its socket. Sampled a few times.
  for (int i = 0; i < 5; ++i) {
    EXPECT_GT(ServerRxQueue(server.port(), client_port), 0);
    EXPECT_EQ(server.State(), 'S');
    usleep(20000);  // sampling, not synchronisation
  }
  // Read back and verify everything while writing 8 MiB more: reading
  // resumes once the queue drained.
  const uint64_t total = written + (8 << 20);
  uint64_t received = 0;
  std::vector<char> buf(256 * 1024);
  while (received < total) {
    pollfd p = {
        fd, static_cast<short>(POLLIN | (written < total ? POLLOUT : 0)), 0};
    ASSERT_EQ(poll(&p, 1, kTimeoutMs), 1) << "no progress for 10 s";
    if ((p.revents & POLLOUT) && written < total) {
      chunk = Pattern(
          3, written,
          static_cast<size_t>(std::min<uint64_t>(64 * 1024, total - written)));
      ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n > 0) written += static_cast<uint64_t>(n);
    }
    if (p.revents & POLLIN) {
      ssize_t n = read(fd, buf.data(), buf.size());
      ASSERT_GT(n, 0) << "unexpected EOF or error";
      for (ssize_t i = 0; i < n; ++i) {
        ASSERT_EQ(static_cast<uint8_t>(buf[i]), PatternByte(3, received + i))
            << "byte " << received + i;
      }
      received += static_cast<uint64_t>(n);
    }
  }
  EXPECT_EQ(received, total);
  close(fd);
  EXPECT_EQ(server.Terminate(SIGINT), 0);
}

TEST(LoopEchoServerTest, SigtermWithQueuedWritesExitsZero) {
  ServerProcess server("examples/loop_echo_server",
                       {"--port=0", "--high_water=65536"},
                       /*merge_stderr=*/true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(server.port());
    ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    // Fill both directions without reading: the server queues echoes.
    std::string chunk = Pattern(4, 0, 64 * 1024);
    for (int k = 0; k < 64; ++k) {
      if (write(fd, chunk.data(), chunk.size()) <= 0) {
        pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 500) == 0) break;
      }
    }
    fds.push_back(fd);
  }
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
  for (int fd : fds) close(fd);
}

TEST(LoopEchoServerTest, MaxSecondsEndsByItself) {
  ServerProcess server("examples/loop_echo_server",
                       {"--port=0", "--max_seconds=0.2"},
                       /*merge_stderr=*/true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  EXPECT_EQ(server.Wait(), 0);
}

TEST(LoopEchoServerTest, BadFlagsAreClearErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"--port=70000", "--port=70000 is not a port"},
      {"--host=not-an-ip", "parse address"},
      {"--host=192.0.2.1", "EADDRNOTAVAIL"},  // not a local address
      {"--max_seconds=-1", "--max_seconds must be >= 0"},
      {"--high_water=0", "--high_water > 0"},
      {"--no_such_flag=1", "no_such_flag"},
  };
  for (const auto& [flag, message] : cases) {
    ServerProcess server("examples/loop_echo_server", {"--port=0", flag},
                         /*merge_stderr=*/true);
    // The server fails before listening, and says why.
    EXPECT_EQ(server.port(), 0) << flag;
    EXPECT_NE(server.first_line().find(message), std::string::npos)
        << flag << ": " << server.first_line();
    EXPECT_EQ(server.Wait(), 1) << flag;
  }
}

TEST(LoopEchoServerTest, PortInUseIsAClearError) {
  ServerProcess first("examples/loop_echo_server", {"--port=0"},
                      /*merge_stderr=*/true);
  ASSERT_NE(first.port(), 0) << first.first_line();
  ServerProcess second("examples/loop_echo_server",
                       {"--port=" + std::to_string(first.port())},
                       /*merge_stderr=*/true);
  EXPECT_EQ(second.port(), 0);
  EXPECT_NE(second.first_line().find("EADDRINUSE"), std::string::npos)
      << second.first_line();
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_EQ(first.Terminate(), 0);
}

}  // namespace
