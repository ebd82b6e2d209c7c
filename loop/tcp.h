// loop/tcp.h: Tcp, a TCP socket (uv_tcp_t): client, server or accepted
// connection. Reading and writing come from Stream (loop/stream.h).
//
//   evergreen::loop::Loop loop;
//   auto server = *evergreen::loop::Tcp::Create(loop);
//   absl::Status s =
//       server->Bind(*evergreen::loop::SocketAddress::Parse("127.0.0.1", 0));
//   s = server->Listen(128, [](evergreen::loop::Stream& srv, absl::Status st) {
//     if (!st.ok()) return;
//     auto conn = static_cast<evergreen::loop::Tcp&>(srv).Accept();
//     if (conn.ok()) { /* keep *conn (a HandlePtr<Tcp>) and read from it */ }
//   });
//   uint16_t port = server->SockName()->port();
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_TCP_H_
#define EVERGREEN_LOOP_TCP_H_

#include <sys/socket.h>
#include <uv.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/stream.h"

namespace evergreen {
namespace loop {

// BindOptions tune Tcp::Bind.
struct TcpBindOptions {
  // IPv6 only: do not also accept IPv4 on an IPv6 wildcard address.
  bool ipv6_only = false;
  // SO_REUSEPORT: several sockets (one per loop thread) share a port and the
  // kernel balances connections between them.
  bool reuse_port = false;
};

class Tcp final : public Stream {
 public:
  using ConnectCallback = std::function<void(Tcp&, absl::Status)>;

  // Create returns a new TCP handle. With `family` AF_INET or AF_INET6 the
  // socket is created at once (so options can be set before Bind); with
  // AF_UNSPEC it is created by Bind, Connect or Open. InvalidArgument for
  // another family; the libuv error ("tcp init: EMFILE ...") otherwise.
  static absl::StatusOr<HandlePtr<Tcp>> Create(Loop& loop,
                                               int family = AF_UNSPEC);

  // Open adopts an existing socket `fd` (connected, listening or not); the
  // handle owns it from then on. EBADF/ENOTSOCK for a bad fd.
  absl::Status Open(int fd);

  // Bind binds to `address` (port 0 picks a free port: read it back with
  // SockName). EADDRINUSE may only show at Listen or Connect (libuv defers
  // it).
  absl::Status Bind(const SocketAddress& address, TcpBindOptions options = {});

  // Connect connects to `address`; `cb` runs with OK or the error
  // ("connect 127.0.0.1:9: ECONNREFUSED (connection refused)"), with
  // CANCELLED if the handle closes first.
  absl::Status Connect(const SocketAddress& address, ConnectCallback cb);

  // Accept accepts a pending connection into a new Tcp on the same loop.
  // Call it from the connection callback (see Stream::Listen).
  absl::StatusOr<HandlePtr<Tcp>> Accept();
  using Stream::Accept;

  // SockName / PeerName return the local and remote addresses.
  absl::StatusOr<SocketAddress> SockName() const;
  absl::StatusOr<SocketAddress> PeerName() const;

  // SetNoDelay toggles TCP_NODELAY (Nagle's algorithm off when true).
  absl::Status SetNoDelay(bool enable);
  // SetKeepAlive toggles SO_KEEPALIVE with the first probe after
  // `delay_seconds` (ignored when disabling; must be >= 1 when enabling).
  absl::Status SetKeepAlive(bool enable, unsigned int delay_seconds = 60);
  // SetSimultaneousAccepts: libuv's knob (no effect on Linux, kept for
  // parity).
  absl::Status SetSimultaneousAccepts(bool enable);

  // CloseReset closes the connection with an RST instead of a FIN (SO_LINGER
  // 0): the peer's next read fails with ECONNRESET. `cb` as in Close. Fails
  // (and does not close) when the handle has no socket yet.
  absl::Status CloseReset(CloseCallback cb = nullptr);

 private:
  explicit Tcp(Loop& loop);
  static void OnConnect(uv_connect_t* req, int status);

  uv_tcp_t tcp_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_TCP_H_
