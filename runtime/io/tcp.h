// runtime/io/tcp.h: TCP streams, listeners and a server loop whose calls
// block only the calling task.
//
//   namespace io = evergreen::runtime::io;
//   // An echo server: a task per connection.
//   auto listener = *io::TcpListener::Listen("127.0.0.1", 0);
//   uint16_t port = listener->LocalAddress()->port();
//   evergreen::runtime::Task::Spawn([&] {
//     absl::Status s = io::Serve(*listener, [](io::TcpStream& conn) {
//       while (true) {
//         absl::StatusOr<std::string> data = conn.ReadSome();
//         if (!data.ok()) return;  // OutOfRange at EOF, or the error
//         if (!conn.Write(*std::move(data)).ok()) return;
//       }
//     });
//   });
//   // A client, in another task:
//   auto conn = io::TcpStream::Connect("localhost", port);
//   if (conn.ok()) {
//     absl::Status w = (*conn)->Write("hello\n");
//     absl::StatusOr<std::string> line = (*conn)->ReadLine();  // "hello\n"
//   }
//
// TcpStream is a Stream (runtime/io/stream.h: reading, writing,
// backpressure, errors, cancellation) over a TCP socket, with connecting,
// addresses and socket options. Interrupting Connect (deadline, kill,
// cancel scope) closes the socket being connected. TcpListener accepts
// connections; Serve runs a task per connection.
//
// Liveness: a listener keeps EventLoop::Run going only while a task waits
// in Accept. Loop thread only; every blocking call must be made from a
// task.
#ifndef EVERGREEN_RUNTIME_IO_TCP_H_
#define EVERGREEN_RUNTIME_IO_TCP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/tcp.h"
#include "runtime/deadline.h"
#include "runtime/io/internal/accept.h"
#include "runtime/io/stream.h"

namespace evergreen {
namespace runtime {
namespace io {

// TcpStreamOptions tune a TCP stream.
struct TcpStreamOptions : StreamOptions {
  // TCP_NODELAY (Nagle's algorithm off), set when the stream is created.
  bool no_delay = true;
};

class TcpStream final : public Stream {
 public:
  // Connect resolves `host` (io::Resolve; a numeric address needs no
  // lookup) and connects to its addresses in order until one accepts.
  // Returns the connected stream, or: the lookup's error; the last connect
  // error ("connect 127.0.0.1:9: ECONNREFUSED (connection refused)");
  // DeadlineExceeded "connect <host>:<port>: deadline exceeded" when
  // `deadline` passes first (the socket being connected is closed);
  // FailedPrecondition outside a task. Throws when the task is killed or
  // cancelled (the socket being connected is closed).
  static absl::StatusOr<std::unique_ptr<TcpStream>> Connect(
      absl::string_view host, uint16_t port,
      Deadline deadline = Deadline::Never(), TcpStreamOptions options = {});
  // Connect connects to `address`; as above.
  static absl::StatusOr<std::unique_ptr<TcpStream>> Connect(
      const loop::SocketAddress& address, Deadline deadline = Deadline::Never(),
      TcpStreamOptions options = {});

  // CloseWithReset closes the stream at once with a TCP reset instead of a
  // FIN: the peer's reads and writes fail with ECONNRESET. No effect when
  // already closed.
  void CloseWithReset();

  // LocalAddress / PeerAddress return the socket's addresses. The peer
  // address is kept from the connection, so it is known after a reset.
  // FailedPrecondition "local address <peer>: stream closed" when closed.
  absl::StatusOr<loop::SocketAddress> LocalAddress() const;
  absl::StatusOr<loop::SocketAddress> PeerAddress() const;
  // SetNoDelay toggles TCP_NODELAY; SetKeepAlive toggles SO_KEEPALIVE with
  // the first probe after `delay_seconds` (>= 1). The libuv error, or
  // FailedPrecondition when closed.
  absl::Status SetNoDelay(bool enable);
  absl::Status SetKeepAlive(bool enable, unsigned int delay_seconds = 60);

  // handle returns the //loop socket, for what this class does not wrap
  // (buffer sizes, WriteQueueSize...). Do not read from it, write to it or
  // close it.
  loop::Tcp& handle() { return static_cast<loop::Tcp&>(stream_handle()); }

 private:
  friend class TcpListener;
  // Wrap makes a stream of the connected `tcp`.
  static std::unique_ptr<TcpStream> Wrap(loop::HandlePtr<loop::Tcp> tcp,
                                         const TcpStreamOptions& options);
  TcpStream(loop::HandlePtr<loop::Tcp> tcp,
            absl::StatusOr<loop::SocketAddress> peer,
            const TcpStreamOptions& options);

  absl::StatusOr<loop::SocketAddress> peer_address_;
};

// ListenOptions tune TcpListener::Listen.
struct ListenOptions {
  // Pending connections the kernel queues before refusing more.
  int backlog = 511;
  // SO_REUSEPORT: several listeners (one per thread) share the port and the
  // kernel balances connections between them.
  bool reuse_port = false;
  // For an IPv6 address: do not also accept IPv4.
  bool ipv6_only = false;
  // Options of the accepted streams.
  TcpStreamOptions stream_options;
};

class TcpListener {
 public:
  // Listen resolves `host` (an empty host is every local address; a
  // numeric one needs no lookup and no task) and listens on the first
  // address found with `port` (0: a free port, see LocalAddress). Errors:
  // the lookup's, "listen 127.0.0.1:80: EADDRINUSE (address already in
  // use)", EACCES...
  static absl::StatusOr<std::unique_ptr<TcpListener>> Listen(
      absl::string_view host, uint16_t port, ListenOptions options = {});
  // Listen listens on `address`.
  static absl::StatusOr<std::unique_ptr<TcpListener>> Listen(
      const loop::SocketAddress& address, ListenOptions options = {});

  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  // ~TcpListener closes the listener. No task may be blocked on it.
  ~TcpListener();

  // Accept waits for a connection and returns it as a stream. Errors:
  // DeadlineExceeded "accept <address>: deadline exceeded"; the accept
  // error (EMFILE...); FailedPrecondition "accept <address>: listener
  // closed" when closed (also for the tasks blocked here when Close is
  // called) or outside a task. Throws when the task is killed or cancelled;
  // nothing is lost: a pending connection stays for the next Accept.
  absl::StatusOr<std::unique_ptr<TcpStream>> Accept(
      Deadline deadline = Deadline::Never());
  // LocalAddress returns the address listened on (with the port chosen for
  // port 0).
  absl::StatusOr<loop::SocketAddress> LocalAddress() const;
  // Close stops listening; connections not accepted yet are refused. No
  // effect when already closed. Callable from callbacks too.
  void Close();
  bool IsClosed() const { return accept_.closed(); }
  // handle returns the //loop socket.
  loop::Tcp& handle() { return *tcp_; }

 private:
  TcpListener(loop::HandlePtr<loop::Tcp> tcp, ListenOptions options);

  loop::HandlePtr<loop::Tcp> tcp_;
  ListenOptions options_;
  std::string name_;  // the local address, for messages
  io_internal::AcceptQueue accept_;
};

// Serve accepts connections on `listener` and runs handler(stream) for each
// in a task of its own (a runtime/task_group.h group): the stream is owned
// by that task; when the handler returns, what it wrote is drained and the
// stream closed. Runs until the listener is closed (then returns OK once
// every connection's task ended) or Accept fails with a lasting error (its
// status, once the connections ended). Transient accept errors (EMFILE,
// ENFILE, ENOBUFS, ENOMEM: wait 100 ms; ECONNABORTED) are skipped.
//
// A kill, cancel scope or timeout around Serve kills every connection's
// task and propagates. An exception escaping a handler kills the other
// connections too and is rethrown by Serve (the task group's rule): a
// handler reports per-connection failures by returning. The handler must
// not refer to the frames of Serve's caller that a cancellation unwinds
// (capture by value or what outlives the server). FailedPrecondition
// outside a task. Loop thread only.
absl::Status Serve(TcpListener& listener,
                   std::function<void(TcpStream&)> handler);

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_TCP_H_
