// webapp: evergreen's main demo. One process, one thread: a page rendered
// with live figures, a JSON endpoint, a WebSocket chat and static files,
// served by tasks on //runtime/http (see app.h for the routes).
//
//   ./bazelw run //examples/webapp
//   listening on 127.0.0.1:8080 (http://127.0.0.1:8080/)
//
//   # HTTPS and wss:// (absolute paths: bazel run changes the folder)
//   ./bazelw run //examples/webapp -- --tls --cert=$PWD/server.pem
//       --key=$PWD/server.key
//
// SIGINT or SIGTERM shuts it down gracefully: the listener closes, idle
// keep-alive connections close, requests in flight are answered, chats are
// closed with 1001; it then prints "stopped" and exits 0. A second signal,
// or --grace_seconds later, cancels whatever is left ("shutdown forced";
// exit status 0 too: the shutdown was asked for). --max_seconds shuts down
// the same way, grace period included, so it bounds a run.
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/internal/server_main.h"
#include "examples/webapp/app.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/http/server.h"
#include "runtime/io/signal.h"
#include "runtime/io/tcp.h"
#include "runtime/io/tls.h"
#include "runtime/task.h"
#include "tls/context.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address or name to listen on");
ABSL_FLAG(int, port, 8080, "TCP port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, static_dir, "",
          "folder served under /static/; empty: the one built with the "
          "binary (examples/webapp/static in its runfiles)");
ABSL_FLAG(bool, tls, false, "serve HTTPS (needs --cert and --key)");
ABSL_FLAG(std::string, cert, "", "PEM certificate chain for --tls");
ABSL_FLAG(std::string, key, "", "PEM private key for --tls");
ABSL_FLAG(double, grace_seconds, 5,
          "after SIGINT/SIGTERM, how long requests and chats may take to "
          "finish before they are cancelled");
ABSL_FLAG(double, max_seconds, 0,
          "shut down after this many seconds; 0 runs until SIGINT or SIGTERM");
ABSL_FLAG(bool, reuse_port, false, "set SO_REUSEPORT on the listener");

namespace {

namespace io = evergreen::runtime::io;
namespace http = evergreen::runtime::http;
using evergreen::runtime::CancelScope;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;

using evergreen::examples_internal::LoadServerTls;

constexpr char kProgram[] = "webapp";

int Fail(const absl::Status& s) {
  fprintf(stderr, "%s: %s\n", kProgram, s.ToString().c_str());
  return 1;
}

// StaticDir finds the static folder built with the binary: in its runfiles
// (bazel run, bazel test, or bazel-bin/... run by hand). A runfiles folder
// holds symlinks to the source files, which StaticFiles rightly refuses as
// links leading out of its root, so the folder served is the one the
// links point into.
std::string StaticDir(const char* argv0) {
  const std::string relative = "evergreen/examples/webapp/static";
  std::vector<std::string> candidates;
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* dir = getenv(env);
    if (dir != nullptr) candidates.push_back(absl::StrCat(dir, "/", relative));
  }
  candidates.push_back(absl::StrCat(argv0, ".runfiles/", relative));
  candidates.push_back("examples/webapp/static");  // from the workspace
  for (const std::string& dir : candidates) {
    char real[PATH_MAX];
    if (realpath(absl::StrCat(dir, "/style.css").c_str(), real) != nullptr) {
      std::string file(real);
      return file.substr(0, file.rfind('/'));
    }
  }
  return "examples/webapp/static";  // App::Create reports it missing
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  int port = absl::GetFlag(FLAGS_port);
  double grace = absl::GetFlag(FLAGS_grace_seconds);
  if (port < 0 || port > 65535 || !(grace >= 0)) {
    fprintf(stderr, "webapp: bad --port or --grace_seconds\n");
    return 2;
  }
  std::shared_ptr<evergreen::tls::ServerContext> tls_context;
  if (int status = LoadServerTls(kProgram, absl::GetFlag(FLAGS_tls),
                                 absl::GetFlag(FLAGS_cert),
                                 absl::GetFlag(FLAGS_key), &tls_context);
      status != 0) {
    return status;
  }
  evergreen::webapp::AppOptions app_options;
  app_options.static_root = absl::GetFlag(FLAGS_static_dir);
  if (app_options.static_root.empty()) {
    app_options.static_root = StaticDir(argv[0]);
  }
  auto app = evergreen::webapp::App::Create(app_options);
  if (!app.ok()) return Fail(app.status());
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return Fail(loop.status());

  http::Server server(
      [app = app->get()](http::Request& req) { return app->Handle(req); });
  (*app)->AttachServer(&server);
  absl::Status result;
  auto main_task = Task::Spawn([&] {
    io::ListenOptions lo;
    lo.reuse_port = absl::GetFlag(FLAGS_reuse_port);
    auto listener = io::TcpListener::Listen(absl::GetFlag(FLAGS_host),
                                            static_cast<uint16_t>(port), lo);
    if (!listener.ok()) {
      result = listener.status();
      return;
    }
    io::TcpListener* l = listener->get();

    // The graceful stop: no new connections, idle ones closed, requests in
    // flight answered, chats closed with 1001. The forced one cancels
    // `scope`, ending every connection where it stands.
    CancelScope scope;
    auto stop = [&](int signum) {
      if (signum != 0) {
        printf("shutting down (%s)\n", io::SignalName(signum).c_str());
      }
      fflush(stdout);
      server.Shutdown();
      l->Close();
      (*app)->CloseChats();
    };
    auto force = [&](int signum) {
      printf("shutdown forced (%s)\n", signum != 0
                                           ? io::SignalName(signum).c_str()
                                           : "grace period over");
      fflush(stdout);
      scope.Cancel();
    };
    io::ShutdownOptions so;
    so.grace = absl::Seconds(grace);
    auto guard = io::ShutdownGuard::Install(stop, force, so);
    if (!guard.ok()) {
      result = guard.status();
      return;
    }
    // Announced once the signals are caught: from now on a SIGTERM is a
    // graceful shutdown, never the default disposition.
    std::string address = (*l->LocalAddress()).ToString();
    printf("listening on %s (%s://%s/)\n", address.c_str(),
           tls_context ? "https" : "http", address.c_str());
    fflush(stdout);

    std::shared_ptr<Task> timer;
    double max_seconds = absl::GetFlag(FLAGS_max_seconds);
    if (max_seconds > 0) {
      // The time limit shuts down like a signal, grace period included.
      auto t = Task::Spawn([&, max_seconds] {
        if (!evergreen::runtime::Sleep(absl::Seconds(max_seconds)).ok() ||
            server.draining()) {
          return;
        }
        printf("shutting down (--max_seconds)\n");
        stop(0);
        if (evergreen::runtime::Sleep(absl::Seconds(grace)).ok()) force(0);
      });
      if (t.ok()) timer = *t;
    }
    absl::Status s = scope.Run([&] {
      if (tls_context) {
        result = io::ServeTls(*l, tls_context, [&](io::TlsStream& conn) {
          server.ServeConnection(conn);
        });
      } else {
        result = server.Serve(*l);
      }
    });
    if (!s.ok() && s.code() != absl::StatusCode::kCancelled) result = s;
    if (timer) (void)timer->Kill();  // stopped before the time limit
  });
  if (!main_task.ok()) return Fail(main_task.status());
  absl::Status run = (*loop)->Run();
  if (!run.ok()) return Fail(run);
  (*app)->AttachServer(nullptr);
  if (!result.ok()) return Fail(result);
  printf("stopped\n");
  return 0;
}
