// loop_echo_server: a TCP echo server on //loop's callback API.
//
//   bazel-bin/examples/loop_echo_server --port=0 --max_seconds=10
//   listening on 127.0.0.1:40123
//
// Each connection echoes what it reads. The read callback uses the fast
// idiom: TryWrite the bytes straight to the kernel, and queue (Write) only
// the tail the kernel did not take, as a copy, since the read buffer is the
// loop's shared one and is reused after the callback returns. Backpressure:
// once more than --high_water bytes wait in a connection's write queue, the
// connection stops reading (the peer's writes then block in its kernel) until
// the queue drained below a quarter of that; reading resumes from the write
// callback. At EOF the server shuts its write side down once the queued
// echoes are written, then closes; on a read or write error it closes at
// once.
//
// SIGINT or SIGTERM (or --max_seconds elapsing) closes the listener and every
// connection; the loop then ends and the process exits with status 0.
#include <signal.h>
#include <stdio.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/signal.h"
#include "loop/stream.h"
#include "loop/tcp.h"
#include "loop/timer.h"

ABSL_FLAG(int, port, 7000, "TCP port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, host, "127.0.0.1", "numeric address to listen on");
ABSL_FLAG(double, max_seconds, 0,
          "stop after this many seconds; 0 runs until SIGINT or SIGTERM");
ABSL_FLAG(int64_t, high_water, 1 << 20,
          "bytes queued for writing on one connection above which it stops "
          "reading until they drain");

namespace {

using evergreen::loop::Handle;
using evergreen::loop::HandlePtr;
using evergreen::loop::Loop;
using evergreen::loop::Signal;
using evergreen::loop::SocketAddress;
using evergreen::loop::Stream;
using evergreen::loop::Tcp;
using evergreen::loop::Timer;

class EchoServer {
 public:
  EchoServer(Loop& loop, size_t high_water)
      : loop_(loop), high_water_(high_water) {}

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

  // Stop closes the listener and every connection (queued writes are
  // cancelled).
  void Stop() {
    listener_.reset();
    connections_.clear();
  }

 private:
  // One accepted connection; Stream::user_data points to it.
  struct Connection {
    HandlePtr<Tcp> tcp;
    bool eof = false;  // the peer closed its side: never read again
  };

  void OnConnection(absl::Status status) {
    if (!status.ok()) {
      fprintf(stderr, "loop_echo_server: %s\n", status.ToString().c_str());
      return;
    }
    absl::StatusOr<HandlePtr<Tcp>> accepted = listener_->Accept();
    if (!accepted.ok()) {
      fprintf(stderr, "loop_echo_server: %s\n",
              accepted.status().ToString().c_str());
      return;
    }
    auto conn = std::make_unique<Connection>();
    conn->tcp = std::move(*accepted);
    Tcp& tcp = *conn->tcp;
    tcp.set_user_data(conn.get());
    (void)tcp.SetNoDelay(true);
    connections_.emplace(&tcp, std::move(conn));
    if (!StartReading(tcp).ok()) Drop(tcp);
  }

  absl::Status StartReading(Stream& s) {
    return s.ReadStart([this](Stream& st, absl::StatusOr<absl::string_view> r) {
      OnRead(st, r);
    });
  }

  void OnRead(Stream& s, const absl::StatusOr<absl::string_view>& r) {
    if (!r.ok()) {
      if (r.status().code() != absl::StatusCode::kOutOfRange) {
        Drop(s);  // read error
        return;
      }
      // EOF: finish the queued echoes, shut the write side, then close.
      static_cast<Connection*>(s.user_data())->eof = true;
      absl::Status st = s.Shutdown([this](Stream& sh, absl::Status) {
        if (!sh.IsClosing()) Drop(sh);
      });
      if (!st.ok()) Drop(s);
      return;
    }
    absl::string_view data = *r;
    absl::StatusOr<size_t> written = s.TryWrite(data);
    if (written.ok()) {
      if (*written == data.size()) return;  // the common case
      data.remove_prefix(*written);
    } else if (written.status().code() != absl::StatusCode::kUnavailable) {
      Drop(s);  // EPIPE, ECONNRESET...
      return;
    }
    // The kernel's buffer is full (or earlier writes still queue): queue a
    // copy of the rest.
    absl::Status st =
        s.Write(std::string(data),
                [this](Stream& w, absl::Status ws) { OnWritten(w, ws); });
    if (!st.ok()) {
      Drop(s);
      return;
    }
    if (s.WriteQueueSize() > high_water_) (void)s.ReadStop();
  }

  void OnWritten(Stream& s, const absl::Status& status) {
    if (s.IsClosing()) return;  // cancelled by Drop or Stop
    if (!status.ok()) {
      Drop(s);
      return;
    }
    auto* conn = static_cast<Connection*>(s.user_data());
    if (!s.IsReading() && !conn->eof && s.WriteQueueSize() <= high_water_ / 4) {
      if (!StartReading(s).ok()) Drop(s);
    }
  }

  // Drop closes `s` and forgets it; its pending write callbacks then run
  // with CANCELLED (and find it closing).
  void Drop(Stream& s) { connections_.erase(static_cast<Tcp*>(&s)); }

  Loop& loop_;
  const size_t high_water_;
  HandlePtr<Tcp> listener_;
  std::unordered_map<Tcp*, std::unique_ptr<Connection>> connections_;
};

int Fail(absl::string_view what, const absl::Status& status) {
  fprintf(stderr, "loop_echo_server: %.*s: %s\n", static_cast<int>(what.size()),
          what.data(), status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const int64_t high_water = absl::GetFlag(FLAGS_high_water);
  if (port < 0 || port > 65535) {
    fprintf(stderr, "loop_echo_server: --port=%d is not a port\n", port);
    return 1;
  }
  if (!(max_seconds >= 0) || high_water <= 0) {
    fprintf(stderr,
            "loop_echo_server: --max_seconds must be >= 0 and --high_water "
            "> 0\n");
    return 1;
  }
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(
      absl::GetFlag(FLAGS_host), static_cast<uint16_t>(port));
  if (!address.ok()) return Fail("--host", address.status());

  int exit_code = 0;
  {
    Loop loop;
    EchoServer server(loop, static_cast<size_t>(high_water));
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
        absl::Status s = deadline->Start(
            static_cast<uint64_t>(std::min(max_seconds * 1000, 1e15)), 0,
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
