// runtime/io/tls.h: TLS client and server streams whose calls block only
// the calling task, on tls/tls_stream.h.
//
//   namespace io = evergreen::runtime::io;
//   // A client (in a task); the context verifies the server against ca.pem:
//   evergreen::tls::ClientContextOptions co;
//   co.trust = evergreen::tls::Trust::CaFile("ca.pem");
//   auto ctx = *evergreen::tls::ClientContext::Create(co);
//   auto conn = io::TlsStream::Connect("localhost", 8443, ctx,
//       evergreen::runtime::Deadline::After(absl::Seconds(5)));
//   if (!conn.ok()) return conn.status();  // UNAUTHENTICATED "tls handshake
//                                          // 127.0.0.1:8443: ... Hostname
//                                          // mismatch", a connect error...
//   (void)(*conn)->Write("GET / HTTP/1.0\r\n\r\n");
//   auto line = (*conn)->ReadLine();
//   // (*conn)->info().version_name == "TLSv1.3"
//   // A server, a task per connection, each handshaking in its own task:
//   absl::Status s = io::ServeTls(*listener, server_ctx,
//       [](io::TlsStream& conn) { ... }, {});
//
// TlsStream is a Stream (runtime/io/stream.h: reads, writes with
// backpressure, Drain, Shutdown, Close; errors as values, cancellation):
// bytes read are decrypted, bytes written encrypted. Shutdown sends
// close_notify then shuts the socket's write side down; a peer's
// close_notify is EOF (OutOfRange), a transport that ends without it is
// DataLoss ("read <peer>: EOF without close_notify"). Close closes without
// close_notify.
//
// Handshake errors are values: UNAUTHENTICATED when our verification of
// the peer failed (with the reason: "Hostname mismatch", "certificate has
// expired", "unable to get local issuer certificate"), UNAVAILABLE for a
// protocol error (the peer rejected our certificate:
// "TLSV1_ALERT_UNKNOWN_CA"...), DataLoss when the peer closed during the
// handshake, DeadlineExceeded "tls handshake <peer>: deadline exceeded".
// A kill or cancellation during the handshake closes the connection.
// Loop thread only; every call must be made from a task.
#ifndef EVERGREEN_RUNTIME_IO_TLS_H_
#define EVERGREEN_RUNTIME_IO_TLS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "loop/address.h"
#include "runtime/deadline.h"
#include "runtime/io/stream.h"
#include "runtime/io/tcp.h"
#include "tls/context.h"
#include "tls/engine.h"
#include "tls/tls_stream.h"

namespace evergreen {
namespace runtime {
namespace io {

// TlsOptions tune a TLS stream.
struct TlsOptions : StreamOptions {
  // Clients: the name sent (SNI) and checked against the certificate.
  // Empty: the host given to Connect (Client needs it set when the context
  // verifies the server).
  std::string server_name;
  // The TLS layer's flow-control mark (tls::TlsStreamOptions::high_water).
  size_t tls_high_water = 64 * 1024;
};

class TlsStream final : public Stream {
 public:
  // Connect connects over TCP (TcpStream::Connect: DNS, each address in
  // turn) and runs the client handshake, both before `deadline`. Returns
  // the established stream, or the connect error, or the handshake error
  // (see above) named "tls handshake <peer>: ...". FailedPrecondition
  // outside a task. Throws when the task is killed or cancelled (the
  // connection is closed).
  static absl::StatusOr<std::unique_ptr<TlsStream>> Connect(
      absl::string_view host, uint16_t port,
      std::shared_ptr<tls::ClientContext> context,
      Deadline deadline = Deadline::Never(), TlsOptions options = {});
  // Client runs the client handshake over `tcp`, a connected stream
  // nothing was read from; `tcp` is closed from then on (its socket now
  // belongs to the TLS stream, or was closed on failure).
  static absl::StatusOr<std::unique_ptr<TlsStream>> Client(
      TcpStream& tcp, std::shared_ptr<tls::ClientContext> context,
      Deadline deadline = Deadline::Never(), TlsOptions options = {});
  // Server runs the server handshake over `tcp` (an accepted stream
  // nothing was read from), as Client does.
  static absl::StatusOr<std::unique_ptr<TlsStream>> Server(
      TcpStream& tcp, std::shared_ptr<tls::ServerContext> context,
      Deadline deadline = Deadline::Never(), TlsOptions options = {});

  // info describes the connection: version, cipher, ALPN protocol, server
  // name, the peer's certificates, resumption.
  const tls::HandshakeInfo& info() const { return info_; }
  // PeerAddress returns the peer's address (kept from the connection).
  const absl::StatusOr<loop::SocketAddress>& PeerAddress() const {
    return peer_address_;
  }
  // tls returns the //tls connection (close_info, KeyUpdate). Do not read
  // from it, write to it or close it.
  tls::TlsStream& tls() { return *tls_; }

 private:
  TlsStream(tls::TlsStream* tls,
            std::unique_ptr<io_internal::Transport> transport, std::string peer,
            absl::StatusOr<loop::SocketAddress> address,
            const TlsOptions& options);
  static absl::StatusOr<std::unique_ptr<TlsStream>> Handshake(
      TcpStream& tcp, std::shared_ptr<tls::ClientContext> client,
      std::shared_ptr<tls::ServerContext> server, Deadline deadline,
      const TlsOptions& options);

  tls::TlsStream* tls_;  // owned by the transport
  tls::HandshakeInfo info_;
  absl::StatusOr<loop::SocketAddress> peer_address_;
};

// ServeTls accepts connections on `listener` (as Serve in runtime/io/tcp.h:
// a task per connection in a task group, until the listener is closed) and
// runs the server handshake in each connection's task, bounded by
// `handshake_timeout`; connections whose handshake fails are closed (the
// error goes to `on_handshake_error` if set), the others go to
// handler(stream). What the handler wrote is drained and the stream closed
// when it returns (without close_notify: call Shutdown to send one).
absl::Status ServeTls(
    TcpListener& listener, std::shared_ptr<tls::ServerContext> context,
    std::function<void(TlsStream&)> handler,
    absl::Duration handshake_timeout = absl::Seconds(10),
    std::function<void(const absl::Status&)> on_handshake_error = nullptr,
    TlsOptions options = {});

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_TLS_H_
