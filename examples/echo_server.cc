// echo_server: a TCP (or TLS) echo server on //runtime/io, a task per
// connection.
//
//   bazel-bin/examples/echo_server --port=0
//   listening on 127.0.0.1:40123
//   bazel-bin/examples/echo_server --tls --cert=server.pem --key=server.key
//
// Each connection's task reads what arrives (ReadSome) and writes it back
// (Write suspends the task above the stream's high-water mark, so a client
// that does not read its echoes stops being read: memory stays bounded).
// At EOF it shuts its write side down (TLS: sends close_notify).
//
// The first SIGINT or SIGTERM (io::ShutdownOnSignals), or --max_connections
// connections having ended, closes the listener; the connections still open
// go on until they end, a second signal arrives or --grace_seconds pass,
// which cancels them. --max_seconds cancels everything at once. The process
// exits with status 0.
#include <signal.h>
#include <stdio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "examples/internal/server_main.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/io/signal.h"
#include "runtime/io/stream.h"
#include "runtime/io/tcp.h"
#include "runtime/io/tls.h"
#include "runtime/task.h"
#include "tls/context.h"

ABSL_FLAG(int, port, 7000, "TCP port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, host, "127.0.0.1", "address or name to listen on");
ABSL_FLAG(bool, tls, false, "serve TLS (needs --cert and --key)");
ABSL_FLAG(std::string, cert, "", "PEM certificate chain for --tls");
ABSL_FLAG(std::string, key, "", "PEM private key for --tls");
ABSL_FLAG(double, grace_seconds, 5,
          "after the first SIGINT/SIGTERM, how long connections may take to "
          "end before they are cancelled");
ABSL_FLAG(double, max_seconds, 0,
          "stop after this many seconds; 0 runs until SIGINT or SIGTERM");
ABSL_FLAG(int, max_connections, 0,
          "stop once this many connections ended; 0 for no limit");
ABSL_FLAG(bool, reuse_port, false, "set SO_REUSEPORT on the listener");

namespace {

namespace io = evergreen::runtime::io;
using evergreen::runtime::CancelScope;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;

using evergreen::examples_internal::LoadServerTls;
using evergreen::examples_internal::ServeUntilStopped;

constexpr char kProgram[] = "echo_server";

int Fail(const absl::Status& s) {
  fprintf(stderr, "%s: %s\n", kProgram, s.ToString().c_str());
  return 1;
}

// Echo copies what `conn` reads back to it until EOF or an error, through
// one buffer it reuses (no allocation per read once it has grown).
void Echo(io::Stream& conn) {
  std::string buf;
  while (true) {
    buf.clear();
    absl::StatusOr<size_t> n = conn.ReadSomeInto(&buf);
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kOutOfRange) {
        (void)conn.Shutdown();
      }
      return;
    }
    if (!conn.Write(absl::string_view(buf)).ok()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) {
    fprintf(stderr, "echo_server: --port=%d is not a port\n", port);
    return 2;
  }
  std::shared_ptr<evergreen::tls::ServerContext> tls_context;
  if (int status = LoadServerTls(kProgram, absl::GetFlag(FLAGS_tls),
                                 absl::GetFlag(FLAGS_cert),
                                 absl::GetFlag(FLAGS_key), &tls_context);
      status != 0) {
    return status;
  }
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return Fail(loop.status());

  absl::Status result;
  auto server = Task::Spawn([&] {
    io::ListenOptions lo;
    lo.reuse_port = absl::GetFlag(FLAGS_reuse_port);
    auto listener = io::TcpListener::Listen(absl::GetFlag(FLAGS_host),
                                            static_cast<uint16_t>(port), lo);
    if (!listener.ok()) {
      result = listener.status();
      return;
    }
    io::TcpListener* l = listener->get();
    // Stop: the first SIGINT/SIGTERM, the time limit or the connection
    // limit closes the listener, and Serve returns once the connections
    // ended; a second signal, or --grace_seconds after the first, cancels
    // the connections still open.
    CancelScope scope;
    io::ShutdownOptions shutdown;
    shutdown.grace = absl::Seconds(absl::GetFlag(FLAGS_grace_seconds));
    auto guard = io::ShutdownOnSignals(
        scope, [l](int) { l->Close(); }, shutdown);
    if (!guard.ok()) {
      result = guard.status();
      return;
    }
    // Announced once the signals are caught.
    printf("listening on %s%s\n", (*l->LocalAddress()).ToString().c_str(),
           tls_context ? " (tls)" : "");
    fflush(stdout);
    int max_connections = absl::GetFlag(FLAGS_max_connections);
    auto ended = std::make_shared<int>(0);
    auto done_one = [ended, max_connections, l] {
      if (max_connections > 0 && ++*ended >= max_connections) l->Close();
    };
    double max_seconds = absl::GetFlag(FLAGS_max_seconds);
    auto body = [&] {
      if (tls_context) {
        result = io::ServeTls(
            *l, tls_context,
            [done_one](io::TlsStream& conn) {
              Echo(conn);
              done_one();
            },
            absl::Seconds(10),
            [done_one](const absl::Status& e) {
              fprintf(stderr, "echo_server: %s\n", e.ToString().c_str());
              done_one();
            });
      } else {
        result = io::Serve(*l, [done_one](io::TcpStream& conn) {
          Echo(conn);
          done_one();
        });
      }
    };
    // The time limit and a forced shutdown are normal ends.
    absl::Status s = ServeUntilStopped(scope, max_seconds, body);
    if (!s.ok()) result = s;
  });
  if (!server.ok()) return Fail(server.status());
  absl::Status run = (*loop)->Run();
  if (!run.ok()) return Fail(run);
  if (!result.ok()) return Fail(result);
  printf("stopped\n");
  return 0;
}
