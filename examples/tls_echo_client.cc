// tls_echo_client: sends a message (or stdin) over TLS with //tls's TlsStream
// and prints what comes back.
//
//   bazel-bin/examples/tls_echo_client --port=40123 --ca=tls/testdata/ca.pem
//       --server_name=localhost --message=hello      (one command line)
//   hello
//
// The client verifies the server (chain against --ca, or the system store
// when --ca is empty, and the name --server_name), sends the bytes, reads
// until as many bytes came back, then sends close_notify and waits for the
// server's end before closing. The echo goes to stdout; with --verbose the
// handshake (version, cipher, ALPN, resumption) and the ending go to stderr.
// Exit status 0 when the whole echo arrived, 1 otherwise (with the error on
// stderr), also after --timeout_seconds.
#include <stdio.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/tcp.h"
#include "loop/timer.h"
#include "tls/context.h"
#include "tls/tls_stream.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "numeric address of the server");
ABSL_FLAG(int, port, 0, "TCP port of the server (required)");
ABSL_FLAG(std::string, ca, "",
          "CA certificates (PEM) that verify the server; empty: the system "
          "store");
ABSL_FLAG(std::string, server_name, "localhost",
          "name (or IP) sent as SNI and checked against the certificate");
ABSL_FLAG(std::string, message, "",
          "bytes to send; empty: everything read from stdin");
ABSL_FLAG(std::string, alpn, "", "ALPN protocols offered, comma separated");
ABSL_FLAG(bool, insecure, false, "do not verify the server (tests only)");
ABSL_FLAG(double, timeout_seconds, 10, "give up after this many seconds");
ABSL_FLAG(bool, verbose, false, "print the handshake and ending to stderr");

namespace {

using evergreen::loop::HandlePtr;
using evergreen::loop::Loop;
using evergreen::loop::SocketAddress;
using evergreen::loop::Tcp;
using evergreen::loop::Timer;
using evergreen::tls::TlsStream;
using evergreen::tls::TlsStreamPtr;

int Fail(absl::string_view what, const absl::Status& status) {
  fprintf(stderr, "tls_echo_client: %.*s: %s\n", static_cast<int>(what.size()),
          what.data(), status.ToString().c_str());
  return 1;
}

std::string ReadStdin() {
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = read(0, buf, sizeof(buf))) > 0) all.append(buf, n);
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  const double timeout = absl::GetFlag(FLAGS_timeout_seconds);
  const bool verbose = absl::GetFlag(FLAGS_verbose);
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "tls_echo_client: --port=%d is not a port\n", port);
    return 1;
  }
  if (!(timeout > 0)) {
    fprintf(stderr, "tls_echo_client: --timeout_seconds must be > 0\n");
    return 1;
  }
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(
      absl::GetFlag(FLAGS_host), static_cast<uint16_t>(port));
  if (!address.ok()) return Fail("--host", address.status());
  std::string message = absl::GetFlag(FLAGS_message);
  if (message.empty()) message = ReadStdin();

  evergreen::tls::ClientContextOptions context_options;
  if (!absl::GetFlag(FLAGS_ca).empty()) {
    context_options.trust =
        evergreen::tls::Trust::CaFile(absl::GetFlag(FLAGS_ca));
  }
  context_options.verify_peer = !absl::GetFlag(FLAGS_insecure);
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_alpn), ',', absl::SkipEmpty())) {
    context_options.alpn_protocols.emplace_back(p);
  }
  absl::StatusOr<std::shared_ptr<evergreen::tls::ClientContext>> context =
      evergreen::tls::ClientContext::Create(context_options);
  if (!context.ok()) return Fail("context", context.status());

  int exit_code = 1;
  {
    Loop loop;
    absl::StatusOr<HandlePtr<Tcp>> tcp = Tcp::Create(loop);
    if (!tcp.ok()) return Fail("tcp", tcp.status());
    absl::Status connect_error;
    absl::Status s = (*tcp)->Connect(*address, [&](Tcp&, absl::Status st) {
      if (!st.ok()) connect_error = st;
    });
    if (!s.ok()) return Fail("connect", s);
    (void)(*tcp)->SetNoDelay(true);

    std::string echo;
    TlsStreamPtr conn;
    HandlePtr<Timer> deadline = Timer::Create(loop);
    auto finish = [&](TlsStream& t) {
      deadline.reset();
      (void)t.Close();
    };
    evergreen::tls::TlsStreamOptions options;
    options.server_name = absl::GetFlag(FLAGS_server_name);
    options.port = static_cast<uint16_t>(port);
    absl::StatusOr<TlsStreamPtr> tls = TlsStream::CreateClient(
        std::move(*tcp), *context, options, [&](TlsStream& t, absl::Status st) {
          if (!st.ok()) {
            Fail("handshake", connect_error.ok() ? st : connect_error);
            finish(t);
            return;
          }
          if (verbose) {
            const evergreen::tls::HandshakeInfo& info = t.info();
            fprintf(stderr, "tls_echo_client: %s %s group %s alpn \"%s\"%s\n",
                    info.version_name.c_str(), info.cipher.c_str(),
                    info.group.c_str(), info.alpn_protocol.c_str(),
                    info.resumed ? " resumed" : "");
          }
          absl::Status ws = t.Write(message);
          if (ws.ok() && message.empty()) ws = t.Shutdown();
          if (ws.ok()) {
            ws = t.ReadStart(
                [&](TlsStream& r, absl::StatusOr<absl::string_view> data) {
                  if (!data.ok()) {
                    if (verbose || echo.size() < message.size()) {
                      fprintf(stderr, "tls_echo_client: end: %s\n",
                              data.status().ToString().c_str());
                    }
                    finish(r);
                    return;
                  }
                  bool had_all = echo.size() >= message.size();
                  echo.append(data->data(), data->size());
                  if (!had_all && echo.size() >= message.size()) {
                    // Everything came back: close_notify, then wait for the
                    // server's end.
                    (void)r.Shutdown();
                  }
                });
          }
          if (!ws.ok()) {
            Fail("write", ws);
            finish(t);
          }
        });
    if (!tls.ok()) return Fail("tls", tls.status());
    conn = std::move(*tls);
    s = deadline->Start(static_cast<uint64_t>(timeout * 1000), 0, [&](Timer&) {
      fprintf(stderr, "tls_echo_client: timed out\n");
      (void)conn->Close();
    });
    if (!s.ok()) return Fail("timer", s);
    loop.Run();
    fwrite(echo.data(), 1, echo.size(), stdout);
    fflush(stdout);
    if (echo.size() >= message.size() && !message.empty()) exit_code = 0;
    if (message.empty() && conn->handshake_done()) exit_code = 0;
    conn.reset();
    deadline.reset();
    loop.Run();
    if (absl::Status cs = loop.Close(); !cs.ok()) exit_code = Fail("close", cs);
  }
  return exit_code;
}
