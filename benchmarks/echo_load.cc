// echo_load: a single-threaded epoll load generator for TCP echo servers
// (the //examples echo servers, raw_uv_echo_server, asio_spawn_echo_server,
// node_net_echo_server.js), used by echo_compare.sh, io_echo_compare.sh and
// io_idle_compare.sh. Every echoed byte is checked.
//
//   echo_load --port=7000 --scenario=pingpong [--connections=100]
//             [--round_trips=200000] [--message_bytes=64]
//   echo_load --port=7000 --scenario=stream [--connections=10]
//             [--mib=64] [--chunk_bytes=16384]
//   echo_load --port=7000 --scenario=idle [--connections=10000]
//             [--batch=100] [--hold_seconds=60]
//
// pingpong: each connection sends a message, waits for its exact echo,
// compares it, then sends the next; --round_trips in total, shared evenly.
// Each connection's messages come from its own pseudo-random sequence, so a
// reordered, duplicated or misrouted byte does not match.
//
// stream: each connection writes --chunk_bytes writes continuously while it
// reads the echo back, until --mib MiB went both ways. Connection i sends a
// pseudo-random pattern from its own starting offset; the pattern's period
// is not a multiple of any chunk size, so misordering shows.
//
// idle: opens --connections (default 10000) connections, --batch (default
// 100) at a time, and on each one ping-pongs one --message_bytes message
// (checked), so that every connection was accepted and is being served;
// then prints "scenario=idle ... ready" and holds them all open, idle, until
// SIGTERM or SIGINT or --hold_seconds; a byte or an EOF from the server
// while idle is an error. The server's memory per connection is measured
// meanwhile (io_idle_compare.sh). Needs a file descriptor limit above
// --connections.
//
// Prints one line "scenario=... seconds=... round_trips_per_second=..." (or
// mib_per_second=...; idle: a "ready" line, then a "closed" line). Exit status:
// 0 on success, 1 on a mismatched byte, an early EOF or a socket error (with
// the details on stderr), 2 if
// --max_seconds elapsed first (the partial rate is still printed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server IPv4 address");
ABSL_FLAG(int, port, 7000, "server port");
ABSL_FLAG(std::string, scenario, "pingpong", "pingpong, stream or idle");
ABSL_FLAG(int, connections, 0,
          "connections; 0 is the scenario's default (100 pingpong, 10 "
          "stream, 10000 idle)");
ABSL_FLAG(int64_t, round_trips, 200000, "pingpong: round trips in total");
ABSL_FLAG(int, message_bytes, 64, "pingpong: bytes per message");
ABSL_FLAG(int64_t, mib, 64, "stream: MiB echoed per connection");
ABSL_FLAG(int, chunk_bytes, 16384, "stream: bytes per write");
ABSL_FLAG(int, batch, 100, "idle: connections opened at a time");
ABSL_FLAG(double, hold_seconds, 60,
          "idle: hold the connections open this long at most once ready");
ABSL_FLAG(double, max_seconds, 60,
          "give up (exit 2) after this long (idle: to get ready)");

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

[[noreturn]] void Die(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
void Die(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "echo_load: FAILED: ");
  vfprintf(stderr, fmt, args);
  fprintf(stderr, "\n");
  va_end(args);
  exit(1);
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void FillRandom(uint64_t& state, char* out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = SplitMix(state);
    memcpy(out + i, &v, std::min<size_t>(8, n - i));
  }
}

// Connects `n` non-blocking TCP_NODELAY sockets to the server.
std::vector<int> ConnectAll(int n) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  if (inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &addr.sin_addr) !=
      1) {
    Die("--host=%s is not an IPv4 address", absl::GetFlag(FLAGS_host).c_str());
  }
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) Die("socket: %s", strerror(errno));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Die("connect %d: %s", i, strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fds.push_back(fd);
  }
  return fds;
}

// The event loop both scenarios share: calls on_event(index, events) for
// each ready connection until done() or the deadline. Returns false on
// timeout.
template <typename OnEvent, typename Done>
bool RunLoop(int epfd, double deadline, OnEvent on_event, Done done) {
  epoll_event events[256];
  while (!done()) {
    if (Now() > deadline) return false;
    int n = epoll_wait(epfd, events, 256, 100);
    if (n < 0 && errno != EINTR) Die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; ++i) on_event(events[i].data.u32, events[i].events);
  }
  return true;
}

void Watch(int epfd, int op, int fd, uint32_t index, uint32_t events) {
  epoll_event ev = {};
  ev.events = events;
  ev.data.u32 = index;
  if (epoll_ctl(epfd, op, fd, &ev) != 0) Die("epoll_ctl: %s", strerror(errno));
}

// Reads into `buf` what is available, dying on EOF or error; 0 on EAGAIN.
size_t ReadSome(int fd, size_t index, char* buf, size_t n) {
  ssize_t r = read(fd, buf, n);
  if (r > 0) return static_cast<size_t>(r);
  if (r == 0) Die("connection %zu: unexpected EOF from the server", index);
  if (errno == EAGAIN || errno == EINTR) return 0;
  Die("connection %zu: read: %s", index, strerror(errno));
}

int PingPong(double max_seconds) {
  int nconn = absl::GetFlag(FLAGS_connections);
  if (nconn <= 0) nconn = 100;
  const int64_t total = absl::GetFlag(FLAGS_round_trips);
  const size_t msg = static_cast<size_t>(absl::GetFlag(FLAGS_message_bytes));
  if (total <= 0 || msg == 0) Die("--round_trips and --message_bytes > 0");

  struct Conn {
    int fd;
    uint64_t rng;
    int64_t quota;
    int64_t done = 0;
    std::string sent, got;
    size_t out = 0;  // bytes of `sent` written so far
    size_t in = 0;   // bytes of `got` read so far
  };
  std::vector<int> fds = ConnectAll(nconn);
  std::vector<Conn> conns(nconn);
  int epfd = epoll_create1(0);
  int finished = 0;

  auto send_next = [&](Conn& c, uint32_t index) {
    FillRandom(c.rng, &c.sent[0], msg);
    c.out = 0;
    c.in = 0;
    ssize_t w = write(c.fd, c.sent.data(), msg);
    if (w < 0 && errno != EAGAIN) Die("write: %s", strerror(errno));
    c.out = w > 0 ? static_cast<size_t>(w) : 0;
    if (c.out < msg)
      Watch(epfd, EPOLL_CTL_MOD, c.fd, index, EPOLLIN | EPOLLOUT);
  };

  for (int i = 0; i < nconn; ++i) {
    Conn& c = conns[i];
    c.fd = fds[i];
    c.rng = 0x1234567ULL * (i + 1);
    c.quota = total / nconn + (i < total % nconn ? 1 : 0);
    c.sent.resize(msg);
    c.got.resize(msg);
    Watch(epfd, EPOLL_CTL_ADD, c.fd, i, EPOLLIN);
    if (c.quota == 0) ++finished;
  }
  const double start = Now();
  for (int i = 0; i < nconn; ++i) {
    if (conns[i].quota > 0) send_next(conns[i], i);
  }
  int64_t completed = 0;
  bool ok = RunLoop(
      epfd, start + max_seconds,
      [&](uint32_t index, uint32_t events) {
        Conn& c = conns[index];
        if ((events & EPOLLOUT) && c.out < msg) {
          ssize_t w = write(c.fd, c.sent.data() + c.out, msg - c.out);
          if (w < 0 && errno != EAGAIN) Die("write: %s", strerror(errno));
          if (w > 0) c.out += static_cast<size_t>(w);
          if (c.out == msg) Watch(epfd, EPOLL_CTL_MOD, c.fd, index, EPOLLIN);
        }
        if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
        if (c.done == c.quota) {  // finished: nothing more may arrive
          char extra;
          if (ReadSome(c.fd, index, &extra, 1) != 0) {
            Die("connection %u: bytes echoed after its last round trip", index);
          }
          return;
        }
        c.in += ReadSome(c.fd, index, &c.got[c.in], msg - c.in);
        if (c.in < msg) return;
        if (c.got != c.sent) {
          size_t at = 0;
          while (c.got[at] == c.sent[at]) ++at;
          Die("connection %u, round trip %lld: byte %zu echoed as 0x%02x, "
              "sent 0x%02x",
              index, static_cast<long long>(c.done), at,
              static_cast<uint8_t>(c.got[at]),
              static_cast<uint8_t>(c.sent[at]));
        }
        ++c.done;
        ++completed;
        if (c.done < c.quota) {
          send_next(c, index);
        } else {
          ++finished;
        }
      },
      [&] { return finished == nconn; });
  const double seconds = Now() - start;
  for (int fd : fds) close(fd);
  close(epfd);
  printf(
      "scenario=pingpong connections=%d message_bytes=%zu round_trips=%lld "
      "seconds=%.3f round_trips_per_second=%.0f%s\n",
      nconn, msg, static_cast<long long>(completed), seconds,
      completed / seconds, ok ? "" : " TIMED_OUT");
  if (!ok) {
    fprintf(stderr, "echo_load: --max_seconds=%g elapsed after %lld of %lld\n",
            max_seconds, static_cast<long long>(completed),
            static_cast<long long>(total));
    return 2;
  }
  return 0;
}

int Stream(double max_seconds) {
  int nconn = absl::GetFlag(FLAGS_connections);
  if (nconn <= 0) nconn = 10;
  const int64_t mib = absl::GetFlag(FLAGS_mib);
  const size_t chunk = static_cast<size_t>(absl::GetFlag(FLAGS_chunk_bytes));
  constexpr size_t kReadBytes = 256 * 1024;
  if (mib <= 0 || chunk == 0 || chunk > kReadBytes) {
    Die("--mib > 0 and 0 < --chunk_bytes <= %zu", kReadBytes);
  }
  const uint64_t target = static_cast<uint64_t>(mib) << 20;
  // The pattern: a period of 1 MiB + 4099 bytes (odd: no chunk size divides
  // it), followed by a copy of its start so that any read or write of up to
  // kReadBytes from any offset is contiguous.
  const size_t period = (1 << 20) + 4099;
  std::string pattern(period + kReadBytes, '\0');
  uint64_t rng = 42;
  FillRandom(rng, &pattern[0], period);
  memcpy(&pattern[period], pattern.data(), kReadBytes);

  struct Conn {
    int fd;
    size_t start;       // offset of byte 0 in the pattern
    uint64_t sent = 0;  // bytes written
    uint64_t received = 0;
  };
  std::vector<int> fds = ConnectAll(nconn);
  std::vector<Conn> conns(nconn);
  int epfd = epoll_create1(0);
  for (int i = 0; i < nconn; ++i) {
    conns[i].fd = fds[i];
    conns[i].start = (static_cast<size_t>(i) * 104729) % period;
    Watch(epfd, EPOLL_CTL_ADD, fds[i], i, EPOLLIN | EPOLLOUT);
  }
  std::vector<char> buf(kReadBytes);
  int finished = 0;
  const double start = Now();
  bool ok = RunLoop(
      epfd, start + max_seconds,
      [&](uint32_t index, uint32_t events) {
        Conn& c = conns[index];
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          size_t n = ReadSome(c.fd, index, buf.data(), buf.size());
          if (c.received + n > c.sent) {
            Die("connection %u: %llu bytes echoed, only %llu sent", index,
                static_cast<unsigned long long>(c.received + n),
                static_cast<unsigned long long>(c.sent));
          }
          const char* expected = &pattern[(c.start + c.received) % period];
          if (memcmp(buf.data(), expected, n) != 0) {
            size_t at = 0;
            while (buf[at] == expected[at]) ++at;
            Die("connection %u: stream byte %llu echoed as 0x%02x, sent "
                "0x%02x",
                index, static_cast<unsigned long long>(c.received + at),
                static_cast<uint8_t>(buf[at]),
                static_cast<uint8_t>(expected[at]));
          }
          c.received += n;
          if (n > 0 && c.received == target) ++finished;
        }
        if ((events & EPOLLOUT) && c.sent < target) {
          while (c.sent < target) {
            size_t len =
                static_cast<size_t>(std::min<uint64_t>(chunk, target - c.sent));
            ssize_t w = write(c.fd, &pattern[(c.start + c.sent) % period], len);
            if (w < 0) {
              if (errno == EAGAIN) break;
              Die("connection %u: write: %s", index, strerror(errno));
            }
            c.sent += static_cast<uint64_t>(w);
          }
          if (c.sent == target)
            Watch(epfd, EPOLL_CTL_MOD, c.fd, index, EPOLLIN);
        }
      },
      [&] { return finished == nconn; });
  const double seconds = Now() - start;
  uint64_t echoed = 0;
  for (const Conn& c : conns) echoed += c.received;
  for (int fd : fds) close(fd);
  close(epfd);
  const double total_mib = static_cast<double>(echoed) / (1 << 20);
  printf(
      "scenario=stream connections=%d chunk_bytes=%zu mib=%.1f seconds=%.3f "
      "mib_per_second=%.1f%s\n",
      nconn, chunk, total_mib, seconds, total_mib / seconds,
      ok ? "" : " TIMED_OUT");
  if (!ok) {
    fprintf(stderr,
            "echo_load: --max_seconds=%g elapsed after %.1f of %lld MiB\n",
            max_seconds, total_mib, static_cast<long long>(mib * nconn));
    return 2;
  }
  return 0;
}

volatile sig_atomic_t stop_requested = 0;
void OnStopSignal(int) { stop_requested = 1; }

int Idle(double max_seconds) {
  int nconn = absl::GetFlag(FLAGS_connections);
  if (nconn <= 0) nconn = 10000;
  const int batch = absl::GetFlag(FLAGS_batch);
  const size_t msg = static_cast<size_t>(absl::GetFlag(FLAGS_message_bytes));
  const double hold_seconds = absl::GetFlag(FLAGS_hold_seconds);
  if (batch <= 0 || msg == 0) Die("--batch and --message_bytes > 0");
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  struct Conn {
    int fd = -1;
    std::string sent, got;
    size_t in = 0;
    bool idle = false;  // its round trip is done
  };
  std::vector<Conn> conns(nconn);
  int epfd = epoll_create1(0);
  if (epfd < 0) Die("epoll_create1: %s", strerror(errno));
  // Data or an EOF on an idle connection is an error; on one waiting for
  // its echo, the echo is read and checked.
  auto on_event = [&](uint32_t index, uint32_t) {
    Conn& c = conns[index];
    if (c.idle) {
      char extra;
      if (ReadSome(c.fd, index, &extra, 1) != 0) {
        Die("connection %u: bytes from the server while idle", index);
      }
      return;
    }
    c.in += ReadSome(c.fd, index, &c.got[c.in], msg - c.in);
    if (c.in < msg) return;
    if (c.got != c.sent) {
      size_t at = 0;
      while (c.got[at] == c.sent[at]) ++at;
      Die("connection %u: byte %zu echoed as 0x%02x, sent 0x%02x", index, at,
          static_cast<uint8_t>(c.got[at]), static_cast<uint8_t>(c.sent[at]));
    }
    c.idle = true;
    c.got = std::string();
    c.sent = std::string();
  };
  const double start = Now();
  int ready = 0;
  bool ok = true;
  for (int first = 0; ok && first < nconn; first += batch) {
    const int k = std::min(batch, nconn - first);
    std::vector<int> fds = ConnectAll(k);
    for (int i = 0; i < k; ++i) {
      Conn& c = conns[first + i];
      c.fd = fds[i];
      c.sent.resize(msg);
      c.got.resize(msg);
      uint64_t rng = 0x9876543ULL * (first + i + 1);
      FillRandom(rng, &c.sent[0], msg);
      Watch(epfd, EPOLL_CTL_ADD, c.fd, first + i, EPOLLIN | EPOLLRDHUP);
      ssize_t w = write(c.fd, c.sent.data(), msg);
      if (w != static_cast<ssize_t>(msg)) {
        Die("connection %d: write of %zu bytes: %zd (%s)", first + i, msg, w,
            w < 0 ? strerror(errno) : "short");
      }
    }
    ok = RunLoop(epfd, start + max_seconds, on_event, [&] {
      for (int i = first; i < first + k; ++i) {
        if (!conns[i].idle) return false;
      }
      return true;
    });
    if (ok) ready = first + k;
  }
  const double seconds = Now() - start;
  printf("scenario=idle connections=%d message_bytes=%zu seconds=%.3f %s\n",
         ready, msg, seconds, ok ? "ready" : "TIMED_OUT");
  fflush(stdout);
  if (!ok) {
    fprintf(stderr, "echo_load: --max_seconds=%g elapsed with %d of %d ready\n",
            max_seconds, ready, nconn);
    return 2;
  }
  // Idle: nothing may arrive until a stop signal or --hold_seconds.
  const double hold_end = Now() + hold_seconds;
  epoll_event events[256];
  while (!stop_requested && Now() < hold_end) {
    int n = epoll_wait(epfd, events, 256, 100);
    if (n < 0 && errno != EINTR) Die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; ++i) on_event(events[i].data.u32, events[i].events);
  }
  for (Conn& c : conns) close(c.fd);
  close(epfd);
  printf("scenario=idle closed%s\n",
         stop_requested ? "" : " (--hold_seconds elapsed)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  int rc;
  if (scenario == "pingpong") {
    rc = PingPong(max_seconds);
  } else if (scenario == "stream") {
    rc = Stream(max_seconds);
  } else if (scenario == "idle") {
    rc = Idle(max_seconds);
  } else {
    Die("--scenario=%s: expected pingpong, stream or idle", scenario.c_str());
  }
  fflush(stdout);
  return rc;
}
