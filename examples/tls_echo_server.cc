// tls_echo_server: a TLS echo server on //tls's TlsStream over //loop TCP.
//
//   bazel-bin/examples/tls_echo_server --port=0 --max_seconds=60
//       --cert=tls/testdata/server.pem --key=tls/testdata/server.key
//   listening on 127.0.0.1:40123
//
// Each accepted connection becomes a server TlsStream. Once its handshake
// completed, what it reads is written back; a connection whose write queue
// holds more than the high-water mark stops reading until the queue drained
// to half of it (resumed from the write callback). At the peer's
// close_notify it shuts down (close_notify back, once the echoes are out)
// and closes; on any error it closes. A handshake that does not finish
// within --handshake_timeout_ms fails and the connection is closed.
//
// SIGINT or SIGTERM (or --max_seconds elapsing) closes the listener and every
// connection; the loop then ends and the process exits with status 0.
#include <signal.h>
#include <stdio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/signal.h"
#include "loop/stream.h"
#include "loop/tcp.h"
#include "loop/timer.h"
#include "tls/context.h"
#include "tls/tls_stream.h"

ABSL_FLAG(int, port, 0, "TCP port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, host, "127.0.0.1", "numeric address to listen on");
ABSL_FLAG(std::string, cert, "", "certificate chain, PEM (leaf first)");
ABSL_FLAG(std::string, key, "", "private key of the certificate, PEM");
ABSL_FLAG(std::string, alpn, "", "ALPN protocols accepted, comma separated");
ABSL_FLAG(double, max_seconds, 0,
          "stop after this many seconds; 0 runs until SIGINT or SIGTERM");
ABSL_FLAG(int64_t, handshake_timeout_ms, 10000,
          "close connections whose handshake takes longer; 0: no limit");
ABSL_FLAG(bool, verbose, false, "log each connection's outcome to stderr");

namespace {

using evergreen::loop::HandlePtr;
using evergreen::loop::Loop;
using evergreen::loop::Signal;
using evergreen::loop::SocketAddress;
using evergreen::loop::Stream;
using evergreen::loop::Tcp;
using evergreen::loop::Timer;
using evergreen::tls::ServerContext;
using evergreen::tls::TlsStream;
using evergreen::tls::TlsStreamOptions;
using evergreen::tls::TlsStreamPtr;

class EchoServer {
 public:
  EchoServer(Loop& loop, std::shared_ptr<ServerContext> context,
             TlsStreamOptions options, bool verbose)
      : loop_(loop),
        context_(std::move(context)),
        options_(options),
        verbose_(verbose) {}

  // Listen binds and listens on `address`; returns the bound address.
  absl::StatusOr<SocketAddress> Listen(const SocketAddress& address) {
    absl::StatusOr<HandlePtr<Tcp>> tcp = Tcp::Create(loop_);
    if (!tcp.ok()) return tcp.status();
    listener_ = std::move(*tcp);
    if (absl::Status s = listener_->Bind(address); !s.ok()) return s;
    absl::Status s = listener_->Listen(
        511, [this](Stream&, absl::Status st) { OnConnection(st); });
    if (!s.ok()) return s;
    return listener_->SockName();
  }

  // Stop closes the listener and every connection.
  void Stop() {
    listener_.reset();
    connections_.clear();
  }

 private:
  void OnConnection(absl::Status status) {
    if (!status.ok()) {
      fprintf(stderr, "tls_echo_server: %s\n", status.ToString().c_str());
      return;
    }
    absl::StatusOr<HandlePtr<Tcp>> accepted = listener_->Accept();
    if (!accepted.ok()) {
      fprintf(stderr, "tls_echo_server: %s\n",
              accepted.status().ToString().c_str());
      return;
    }
    (void)(*accepted)->SetNoDelay(true);
    absl::StatusOr<TlsStreamPtr> tls = TlsStream::CreateServer(
        std::move(*accepted), context_, options_,
        [this](TlsStream& t, absl::Status st) { OnHandshake(t, st); });
    if (!tls.ok()) {
      fprintf(stderr, "tls_echo_server: %s\n", tls.status().ToString().c_str());
      return;
    }
    TlsStream* key = tls->get();
    connections_.emplace(key, std::move(*tls));
  }

  void OnHandshake(TlsStream& t, const absl::Status& status) {
    if (!status.ok()) {
      Log(t, status);
      Drop(t);
      return;
    }
    if (!StartReading(t).ok()) Drop(t);
  }

  absl::Status StartReading(TlsStream& t) {
    return t.ReadStart(
        [this](TlsStream& s, absl::StatusOr<absl::string_view> r) {
          OnRead(s, r);
        });
  }

  void OnRead(TlsStream& t, const absl::StatusOr<absl::string_view>& r) {
    if (!r.ok()) {
      Log(t, r.status());
      if (r.status().code() != absl::StatusCode::kOutOfRange) {
        Drop(t);  // truncation, protocol error, socket error
        return;
      }
      // close_notify: ours after the queued echoes, then close.
      absl::Status s =
          t.Shutdown([this](TlsStream& sh, absl::Status) { Drop(sh); });
      if (!s.ok()) Drop(t);
      return;
    }
    absl::Status s = t.Write(
        *r, [this](TlsStream& w, absl::Status ws) { OnWritten(w, ws); });
    if (!s.ok()) {
      Drop(t);
      return;
    }
    if (t.WriteQueueSize() > t.high_water()) (void)t.ReadStop();
  }

  void OnWritten(TlsStream& t, const absl::Status& status) {
    if (t.IsClosing()) return;  // cancelled by Drop or Stop
    if (!status.ok()) {
      Drop(t);
      return;
    }
    if (!t.IsReading() && t.WriteQueueSize() <= t.high_water() / 2) {
      if (!StartReading(t).ok()) Drop(t);
    }
  }

  void Log(TlsStream& t, const absl::Status& status) {
    if (verbose_) {
      fprintf(stderr, "tls_echo_server: connection %p: %s\n",
              static_cast<void*>(&t), status.ToString().c_str());
    }
  }

  // Drop closes `t` and frees it once closed; its pending write callbacks
  // run with CANCELLED first (and find it closing).
  void Drop(TlsStream& t) { connections_.erase(&t); }

  Loop& loop_;
  std::shared_ptr<ServerContext> context_;
  TlsStreamOptions options_;
  bool verbose_;
  HandlePtr<Tcp> listener_;
  std::unordered_map<TlsStream*, TlsStreamPtr> connections_;
};

int Fail(absl::string_view what, const absl::Status& status) {
  fprintf(stderr, "tls_echo_server: %.*s: %s\n", static_cast<int>(what.size()),
          what.data(), status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const int64_t handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout_ms);
  if (port < 0 || port > 65535) {
    fprintf(stderr, "tls_echo_server: --port=%d is not a port\n", port);
    return 1;
  }
  if (!(max_seconds >= 0) || handshake_timeout < 0) {
    fprintf(stderr,
            "tls_echo_server: --max_seconds and --handshake_timeout_ms must "
            "be >= 0\n");
    return 1;
  }
  if (absl::GetFlag(FLAGS_cert).empty() || absl::GetFlag(FLAGS_key).empty()) {
    fprintf(stderr, "tls_echo_server: --cert and --key are required\n");
    return 1;
  }
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(
      absl::GetFlag(FLAGS_host), static_cast<uint16_t>(port));
  if (!address.ok()) return Fail("--host", address.status());

  evergreen::tls::ServerContextOptions context_options;
  context_options.identities.push_back(
      {evergreen::tls::Pem::File(absl::GetFlag(FLAGS_cert)),
       evergreen::tls::Pem::File(absl::GetFlag(FLAGS_key)),
       {}});
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_alpn), ',', absl::SkipEmpty())) {
    context_options.alpn_protocols.emplace_back(p);
  }
  absl::StatusOr<std::shared_ptr<ServerContext>> context =
      ServerContext::Create(context_options);
  if (!context.ok()) return Fail("context", context.status());
  TlsStreamOptions options;
  options.handshake_timeout_ms = static_cast<uint64_t>(handshake_timeout);

  int exit_code = 0;
  {
    Loop loop;
    EchoServer server(loop, *context, options, absl::GetFlag(FLAGS_verbose));
    HandlePtr<Signal> sigint, sigterm;
    HandlePtr<Timer> deadline;
    auto stop = [&] {
      server.Stop();
      sigint.reset();
      sigterm.reset();
      deadline.reset();
    };
    absl::StatusOr<SocketAddress> bound = server.Listen(*address);
    if (!bound.ok()) {
      exit_code = Fail("listen on " + address->ToString(), bound.status());
      stop();
    } else {
      for (auto [handle, signum] : {std::make_pair(&sigint, SIGINT),
                                    std::make_pair(&sigterm, SIGTERM)}) {
        absl::StatusOr<HandlePtr<Signal>> sig = Signal::Create(loop);
        if (!sig.ok()) return Fail("signal", sig.status());
        *handle = std::move(*sig);
        absl::Status s =
            (*handle)->Start(signum, [&](Signal&, int) { stop(); });
        if (!s.ok()) return Fail("signal", s);
      }
      if (max_seconds > 0) {
        deadline = Timer::Create(loop);
        absl::Status s =
            deadline->Start(static_cast<uint64_t>(max_seconds * 1000), 0,
                            [&](Timer&) { stop(); });
        if (!s.ok()) return Fail("timer", s);
      }
      printf("listening on %s\n", bound->ToString().c_str());
      fflush(stdout);
    }
    loop.Run();
    if (absl::Status s = loop.Close(); !s.ok()) exit_code = Fail("close", s);
  }
  return exit_code;
}
