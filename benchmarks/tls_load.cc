// tls_load: the one TLS load client of tls_compare.sh, run against every
// server (examples/tls_echo_server, Node's tls echo server, openssl
// s_server). BoringSSL directly over plain sockets; TLS 1.3 only; no
// session resumption (every connection is a full handshake).
//
//   tls_load --port=7000 --scenario=echo [--seconds=5] [--chunk_bytes=65536]
//   tls_load --port=7000 --scenario=handshakes [--seconds=5]
//            [--concurrency=1] [--ca=tls/testdata/ca.pem]
//
// echo: one connection. Writes --chunk_bytes at a time (one SSL_write each)
// for --seconds while it reads the echo back, then stops writing and reads
// until every byte sent came back. Every echoed byte is compared with what
// was sent: the bytes are a pseudo-random pattern whose period (1 MiB + 13)
// is not a multiple of any chunk size, so a reordered, duplicated or lost
// byte does not match. Non-blocking socket, poll, SSL_read drained after
// every write attempt. Prints
//   scenario=echo seconds=S bytes=B mb_per_second=R cipher=... group=...
// with MB = 10^6 bytes echoed (each byte went both ways).
//
// handshakes: --concurrency threads, each in a loop for --seconds: connect
// (blocking), full TLS 1.3 handshake, send close_notify, read until the
// server's EOF (so the server has processed the client's Finished and the
// connection before the next one starts; session tickets are read and
// dropped), close with RST (SO_LINGER 0: no TIME_WAIT on the client, so
// thousands of connections do not exhaust the ephemeral ports). Prints
//   scenario=handshakes seconds=S handshakes=N handshakes_per_second=R ...
//
// --ca: when set, the client verifies the server's chain against it and
// the name 127.0.0.1 (SSL_VERIFY_PEER); unset, it does not verify the chain
// (the CertificateVerify signature is checked either way by TLS 1.3).
//
// Exit status: 0 on success; 1 on a mismatched byte, an early EOF, a TLS or
// socket error (details on stderr); 2 if --max_seconds elapsed first.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server IPv4 address");
ABSL_FLAG(int, port, 7000, "server port");
ABSL_FLAG(std::string, scenario, "echo", "echo or handshakes");
ABSL_FLAG(double, seconds, 5, "how long to write (echo) or connect");
ABSL_FLAG(int, chunk_bytes, 65536, "echo: bytes per SSL_write");
ABSL_FLAG(int, concurrency, 1, "handshakes: connections at a time");
ABSL_FLAG(std::string, ca, "",
          "verify the server against this CA file; empty: no chain check");
ABSL_FLAG(double, max_seconds, 60, "give up (exit 2) after this long");

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
  fprintf(stderr, "tls_load: FAILED: ");
  vfprintf(stderr, fmt, args);
  fprintf(stderr, "\n");
  va_end(args);
  ERR_print_errors_fp(stderr);
  exit(1);
}

// DieSsl reports the outcome of a failed SSL call.
[[noreturn]] void DieSsl(SSL* ssl, int rc, const char* what) {
  int err = SSL_get_error(ssl, rc);
  Die("%s: SSL error %d (errno %s)", what, err, strerror(errno));
}

bssl::UniquePtr<SSL_CTX> NewContext() {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr ||
      !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION)) {
    Die("SSL_CTX_new");
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  const std::string ca = absl::GetFlag(FLAGS_ca);
  if (!ca.empty()) {
    if (!SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr)) {
      Die("cannot load --ca=%s", ca.c_str());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

// Connect returns a connected blocking TCP_NODELAY socket.
int Connect() {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  if (inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &addr.sin_addr) !=
      1) {
    Die("--host=%s is not an IPv4 address", absl::GetFlag(FLAGS_host).c_str());
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket: %s", strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Die("connect: %s", strerror(errno));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// NewSsl makes a client SSL on `fd`, checking the name when verifying.
bssl::UniquePtr<SSL> NewSsl(SSL_CTX* ctx, int fd) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  if (ssl == nullptr || !SSL_set_fd(ssl.get(), fd)) Die("SSL_new");
  if (!absl::GetFlag(FLAGS_ca).empty() &&
      !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()),
                                     absl::GetFlag(FLAGS_host).c_str())) {
    Die("X509_VERIFY_PARAM_set1_ip_asc");
  }
  return ssl;
}

std::string Negotiated(const SSL* ssl) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  const char* group = SSL_get_curve_name(SSL_get_curve_id(ssl));
  return std::string("cipher=") +
         (cipher != nullptr ? SSL_CIPHER_standard_name(cipher) : "?") +
         " group=" + (group != nullptr ? group : "?");
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int Echo(double max_seconds) {
  const size_t chunk = static_cast<size_t>(absl::GetFlag(FLAGS_chunk_bytes));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  if (chunk == 0 || chunk > (1 << 24) || !(seconds > 0)) {
    Die("--chunk_bytes must be in 1..16 MiB and --seconds > 0");
  }
  // pattern[i] for i < kPeriod + chunk, with pattern[i] == pattern[i %
  // kPeriod]: any chunk starting below kPeriod is contiguous.
  const size_t kPeriod = (1 << 20) + 13;
  std::string pattern(kPeriod + chunk, '\0');
  uint64_t rng = 0x5eed;
  for (size_t i = 0; i < kPeriod; i += 8) {
    uint64_t v = SplitMix(rng);
    memcpy(&pattern[i], &v, std::min<size_t>(8, kPeriod - i));
  }
  for (size_t i = kPeriod; i < pattern.size(); ++i) {
    pattern[i] = pattern[i % kPeriod];
  }

  bssl::UniquePtr<SSL_CTX> ctx = NewContext();
  // A blocked SSL_write is retried with the same arguments.
  int fd = Connect();
  bssl::UniquePtr<SSL> ssl = NewSsl(ctx.get(), fd);
  int rc = SSL_connect(ssl.get());
  if (rc != 1) DieSsl(ssl.get(), rc, "handshake");
  fcntl(fd, F_SETFL, O_NONBLOCK);

  std::vector<char> buf(1 << 16);
  uint64_t sent = 0, received = 0;
  const double start = Now();
  const double stop_writing = start + seconds;
  const double deadline = start + max_seconds;
  bool writing = true;
  bool write_pending = false;  // a blocked SSL_write, to finish first
  bool timed_out = false;
  while (writing || write_pending || received < sent) {
    const double now = Now();
    if (now > deadline) {
      timed_out = true;
      break;
    }
    if (writing && now >= stop_writing) writing = false;
    bool want_write = false;
    bool progress = false;
    if (writing || write_pending) {
      const char* p = pattern.data() + sent % kPeriod;
      int w = SSL_write(ssl.get(), p, static_cast<int>(chunk));
      if (w > 0) {
        sent += static_cast<uint64_t>(w);
        write_pending = false;
        progress = true;
      } else if (SSL_get_error(ssl.get(), w) == SSL_ERROR_WANT_WRITE) {
        // Retried with the same pointer and length (`sent` has not moved),
        // even once --seconds passed: BoringSSL holds part of it.
        want_write = true;
        write_pending = true;
      } else {
        DieSsl(ssl.get(), w, "SSL_write");
      }
    }
    for (;;) {
      int r = SSL_read(ssl.get(), buf.data(), static_cast<int>(buf.size()));
      if (r > 0) {
        size_t n = static_cast<size_t>(r);
        // A blocked SSL_write may already have put some of its records on
        // the wire (BoringSSL writes whole records, then blocks on the
        // rest), and their echo may come back before it completes: those
        // bytes count as sent.
        const uint64_t on_wire = sent + (write_pending ? chunk : 0);
        if (received + n > on_wire) {
          Die("echoed %llu bytes, more than the %llu sent",
              static_cast<unsigned long long>(received + n),
              static_cast<unsigned long long>(on_wire));
        }
        if (memcmp(buf.data(), pattern.data() + received % kPeriod, n) != 0) {
          Die("echo mismatch in bytes %llu..%llu",
              static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(received + n));
        }
        received += n;
        progress = true;
        continue;
      }
      int err = SSL_get_error(ssl.get(), r);
      if (err == SSL_ERROR_WANT_READ) break;
      if (err == SSL_ERROR_ZERO_RETURN) {
        Die("close_notify after %llu of %llu bytes",
            static_cast<unsigned long long>(received),
            static_cast<unsigned long long>(sent));
      }
      DieSsl(ssl.get(), r, "SSL_read");
    }
    if (!progress) {
      pollfd pfd = {fd, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)),
                    0};
      if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
        Die("poll: %s", strerror(errno));
      }
    }
  }
  const double elapsed = Now() - start;
  // A clean end: close_notify, then the server's (best effort).
  fcntl(fd, F_SETFL, 0);
  (void)SSL_shutdown(ssl.get());
  printf("scenario=echo seconds=%.3f bytes=%llu mb_per_second=%.1f %s\n",
         elapsed, static_cast<unsigned long long>(received),
         static_cast<double>(received) / elapsed / 1e6,
         Negotiated(ssl.get()).c_str());
  ssl.reset();
  close(fd);
  if (timed_out) {
    fprintf(stderr, "tls_load: --max_seconds elapsed (%llu of %llu back)\n",
            static_cast<unsigned long long>(received),
            static_cast<unsigned long long>(sent));
    return 2;
  }
  return 0;
}

int Handshakes(double max_seconds) {
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  if (concurrency < 1 || concurrency > 64 || !(seconds > 0)) {
    Die("--concurrency must be in 1..64 and --seconds > 0");
  }
  bssl::UniquePtr<SSL_CTX> ctx = NewContext();
  std::atomic<uint64_t> total{0};
  std::atomic<bool> timed_out{false};
  std::string negotiated;
  const double start = Now();
  const double stop = start + seconds;
  const double deadline = start + max_seconds;
  auto worker = [&](int index) {
    uint64_t count = 0;
    char buf[4096];
    while (Now() < stop) {
      int fd = Connect();
      bssl::UniquePtr<SSL> ssl = NewSsl(ctx.get(), fd);
      int rc = SSL_connect(ssl.get());
      if (rc != 1) DieSsl(ssl.get(), rc, "handshake");
      if (SSL_session_reused(ssl.get())) Die("a session was resumed");
      if (index == 0 && count == 0) negotiated = Negotiated(ssl.get());
      // close_notify, then read (tickets, the server's close_notify) until
      // the server ends the connection.
      rc = SSL_shutdown(ssl.get());
      if (rc < 0) DieSsl(ssl.get(), rc, "SSL_shutdown");
      timeval tv = {5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      for (;;) {
        int r = SSL_read(ssl.get(), buf, sizeof buf);
        if (r > 0) Die("unexpected data from the server");
        int err = SSL_get_error(ssl.get(), r);
        if (err == SSL_ERROR_ZERO_RETURN) break;
        if (err == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET)) {
          break;  // EOF (or RST) without the server's close_notify
        }
        DieSsl(ssl.get(), r, "waiting for the server to close");
      }
      linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ssl.reset();
      close(fd);
      ++count;
      if (Now() > deadline) {
        timed_out = true;
        break;
      }
    }
    total += count;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) threads.emplace_back(worker, i);
  for (std::thread& t : threads) t.join();
  const double elapsed = Now() - start;
  printf(
      "scenario=handshakes seconds=%.3f handshakes=%llu "
      "handshakes_per_second=%.1f concurrency=%d %s\n",
      elapsed, static_cast<unsigned long long>(total.load()),
      static_cast<double>(total.load()) / elapsed, concurrency,
      negotiated.c_str());
  return timed_out ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  if (scenario == "echo") return Echo(max_seconds);
  if (scenario == "handshakes") return Handshakes(max_seconds);
  Die("--scenario=%s: use echo or handshakes", scenario.c_str());
}
