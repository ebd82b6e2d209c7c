// runtime/io/udp.h: UDP endpoints whose calls block only the calling task.
//
//   namespace io = evergreen::runtime::io;
//   // In a task: a server answering each datagram.
//   auto server = *io::UdpSocket::Bind("127.0.0.1", 0);
//   auto client = *io::UdpSocket::Connect(*server->LocalAddress());
//   absl::Status s = client->Send("ping");
//   absl::StatusOr<io::Datagram> d = server->Receive(
//       evergreen::runtime::Deadline::After(absl::Seconds(1)));
//   if (d.ok()) s = server->SendTo("pong", d->sender);
//   absl::StatusOr<io::Datagram> reply = client->Receive();  // "pong"
//
// Receiving is driven by the consumer: datagrams are taken from the kernel
// while a Receive waits, or into a queue of at most
// UdpSocketOptions::max_queued datagrams; when the queue is full the socket
// is not read and the kernel keeps (and, when its buffer is full, drops)
// what arrives, as UDP does.
//
// Sending: SendTo sends at once when the kernel takes the datagram, else
// queues it and waits until it went out. Interrupting a waiting send (kill,
// cancel scope) abandons the wait; the datagram may still go out.
// Interrupting a Receive stops reading the socket; queued datagrams stay.
//
// Errors name the operation and the socket: "udp receive 127.0.0.1:4000:
// ECONNREFUSED (connection refused)" (a connected socket whose peer has no
// listener, reported by the next Receive after an ICMP error). One task
// may receive at a time; several may send. Loop thread only; every call
// but Close and the address calls must be made from a task.
#ifndef EVERGREEN_RUNTIME_IO_UDP_H_
#define EVERGREEN_RUNTIME_IO_UDP_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/udp.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {
namespace io {

// Datagram is one datagram received.
struct Datagram {
  std::string data;
  loop::SocketAddress sender;
  // truncated: the datagram was longer than the receive buffer (64 KiB)
  // and `data` is its beginning.
  bool truncated = false;
};

// UdpSocketOptions tune a socket.
struct UdpSocketOptions {
  // Datagrams received and not yet returned by Receive, at most.
  size_t max_queued = 64;
  // SO_REUSEADDR for Bind: several sockets setting it share the address.
  bool reuse_addr = false;
};

class UdpSocket {
 public:
  // Bind makes a socket bound to `host` (resolved with io::Resolve; a
  // numeric one needs no task) and `port` (0: a free port, see
  // LocalAddress). Errors: the lookup's, "udp bind 127.0.0.1:53:
  // EADDRINUSE (address already in use)"...
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Bind(
      absl::string_view host, uint16_t port, UdpSocketOptions options = {});
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Bind(
      const loop::SocketAddress& address, UdpSocketOptions options = {});
  // Connect makes a socket connected to `host`:`port` (the first address
  // found): Send and Receive then talk to that peer only. Bound to the
  // wildcard address of the peer's family.
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Connect(
      absl::string_view host, uint16_t port, UdpSocketOptions options = {});
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Connect(
      const loop::SocketAddress& peer, UdpSocketOptions options = {});

  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  // ~UdpSocket closes the socket. No task may be blocked on it.
  ~UdpSocket();

  // SendTo sends `data` as one datagram to `to` (an unconnected socket).
  // OK once the kernel took it. Errors: EMSGSIZE for a datagram too large,
  // EISCONN on a connected socket, FailedPrecondition when closed or
  // outside a task. Throws when interrupted while waiting (see above).
  absl::Status SendTo(std::string data, const loop::SocketAddress& to);
  // Send sends `data` to the connected peer. EDESTADDRREQ when not
  // connected; otherwise as SendTo.
  absl::Status Send(std::string data);
  // Receive returns the next datagram, waiting for it. Errors: the receive
  // error (once, in the order it came); DeadlineExceeded "udp receive
  // <address>: deadline exceeded"; FailedPrecondition when closed (also
  // for a task blocked here when Close is called), outside a task or while
  // another task receives. Throws when the task is killed or cancelled.
  absl::StatusOr<Datagram> Receive(Deadline deadline = Deadline::Never());

  // LocalAddress returns the bound address; PeerAddress the connected peer
  // (ENOTCONN when not connected). FailedPrecondition when closed.
  absl::StatusOr<loop::SocketAddress> LocalAddress() const;
  absl::StatusOr<loop::SocketAddress> PeerAddress() const;
  // Close closes the socket; queued datagrams are dropped. No effect when
  // already closed.
  void Close();
  bool IsClosed() const;
  // Queued returns the datagrams received and not yet returned.
  size_t Queued() const { return queue_.size(); }
  // handle returns the //loop socket (options, buffer sizes). Do not
  // receive from it, send with it or close it.
  loop::Udp& handle() { return *udp_; }

 private:
  struct Item {
    absl::Status error;  // a receive error, or OK with a datagram
    Datagram datagram;
  };
  struct SendState;
  UdpSocket(loop::HandlePtr<loop::Udp> udp, UdpSocketOptions options);
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Make(
      int family, UdpSocketOptions options, absl::string_view op);
  absl::Status DoSend(std::string data, const loop::SocketAddress* to);
  void OnRecv(absl::StatusOr<loop::Datagram> d);
  void Name();

  loop::HandlePtr<loop::Udp> udp_;
  UdpSocketOptions options_;
  std::string name_;  // the local address, for messages
  std::deque<Item> queue_;
  bool receiver_busy_ = false;
  bool closed_ = false;
  runtime_internal::WaitQueue receivers_;
};

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_UDP_H_
