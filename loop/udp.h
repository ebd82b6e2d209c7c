// loop/udp.h: Udp, UDP sockets (uv_udp_t).
//
//   evergreen::loop::Loop loop;
//   auto udp = *evergreen::loop::Udp::Create(loop);
//   absl::Status s =
//       udp->Bind(*evergreen::loop::SocketAddress::Parse("127.0.0.1", 0));
//   s = udp->RecvStart([](evergreen::loop::Udp& u,
//                         absl::StatusOr<evergreen::loop::Datagram> d) {
//     if (!d.ok()) return;  // a receive error
//     // d->data is valid until this callback returns; reply to the sender:
//     (void)u.Send(std::string(d->data), d->sender);
//   });
//   loop.Run();
//
// Receive buffers: by default every Udp of a loop receives into one buffer
// shared by all the Udp handles of that loop (64 KiB; 512 KiB for handles
// created with recvmmsg), allocated on the first RecvStart and freed with
// the last Udp of the loop that used it. Sharing is safe because libuv
// hands a buffer to the receive callback synchronously, and a loop runs one
// callback at a time. The data in a Datagram is therefore valid only until
// the receive callback returns. SetAllocator supplies the caller's own
// buffers instead.
//
// Sends: Send copies (or moves) the bytes into the request and completes
// through its callback; sends still queued when the handle closes complete
// with CANCELLED. TrySend sends at once or fails, without queueing.
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_UDP_H_
#define EVERGREEN_LOOP_UDP_H_

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loop/address.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// UdpOptions configures Udp::Create.
struct UdpOptions {
  // AF_UNSPEC creates the socket lazily, on Bind, Connect or the first send
  // or receive (for the address family used there); AF_INET or AF_INET6
  // creates it at once, so that socket options can be set before binding.
  int family = AF_UNSPEC;
  // recvmmsg receives up to 8 datagrams per system call (Linux recvmmsg);
  // receive buffers must then hold at least 64 KiB (see Udp::Allocator).
  bool recvmmsg = false;
};

// UdpBindOptions are Udp::Bind's flags.
struct UdpBindOptions {
  // reuse_addr sets SO_REUSEADDR: several sockets that all set it may bind
  // the same address and port.
  bool reuse_addr = false;
  // ipv6_only makes an IPv6 socket refuse IPv4-mapped traffic; only valid
  // with an IPv6 address.
  bool ipv6_only = false;
};

// Datagram is one received datagram.
struct Datagram {
  // data is the payload (possibly empty), valid only until the receive
  // callback returns: copy it to keep it.
  absl::string_view data;
  // sender is the source address (AF_UNSPEC for non-IP sockets given to
  // Open).
  SocketAddress sender;
  // truncated is true when the datagram was larger than the receive buffer:
  // `data` holds its beginning and the rest was discarded (UV_UDP_PARTIAL).
  bool truncated = false;
};

// Membership selects joining or leaving a multicast group.
enum class Membership {
  kJoin = UV_JOIN_GROUP,
  kLeave = UV_LEAVE_GROUP,
};

// Udp is a UDP socket: unconnected (each send names its destination) or
// connected (Connect; sends go to the peer, and only its datagrams arrive).
class Udp final : public Handle {
 public:
  // RecvCallback receives each datagram, or a receive error ("udp recv:
  // ECONNREFUSED ...", or ENOBUFS when the allocator gave no buffer).
  // Receiving goes on after an error unless the callback stops it.
  using RecvCallback = std::function<void(Udp&, absl::StatusOr<Datagram>)>;
  // SendCallback receives OK once the datagram went to the kernel,
  // CANCELLED ("udp send: ECANCELED ...") if the handle closed first, or
  // the send error (EAFNOSUPPORT, EMSGSIZE, ECONNREFUSED...).
  using SendCallback = std::function<void(Udp&, absl::Status)>;
  // Allocator returns the buffer the next datagram is received into
  // (`suggested` is libuv's hint, 64 KiB). The buffer must stay valid until
  // the receive callback returned. A datagram longer than the buffer is
  // delivered truncated. An empty span, or with recvmmsg a span shorter
  // than 64 KiB, makes that receive fail with ENOBUFS. An exception thrown
  // by the allocator goes to the loop's exception handler and counts as an
  // empty span.
  using Allocator = std::function<absl::Span<char>(size_t suggested)>;

  // Create returns a new UDP handle, or InvalidArgument ("udp init: EINVAL
  // ...") for a family other than AF_UNSPEC, AF_INET, AF_INET6, or the
  // socket error (EAFNOSUPPORT when IPv6 is disabled, EMFILE).
  static absl::StatusOr<HandlePtr<Udp>> Create(Loop& loop,
                                               UdpOptions options = {});

  // Open adopts an existing datagram socket `fd`, which the handle then
  // owns (closes on Close). On error the caller keeps `fd`. Errors: EBADF
  // for a negative or closed fd, ENOTSOCK for a non-socket, EINVAL for a
  // socket that is not SOCK_DGRAM, EBUSY when the handle already has a
  // socket, EEXIST when another active handle of the loop uses `fd`.
  absl::Status Open(int fd);

  // Bind binds to `addr` (port 0: the kernel picks one, read it back with
  // SockName). Errors name the address: "udp bind 127.0.0.1:53: EADDRINUSE
  // (address already in use)", EINVAL for an unspecified address, a family
  // that does not match the socket, ipv6_only with IPv4, or a second Bind.
  absl::Status Bind(const SocketAddress& addr, UdpBindOptions options = {});

  // Connect associates the socket with `addr`: Send and TrySend then take
  // no address, and only datagrams from `addr` are received. Binds to the
  // wildcard address first if unbound. EISCONN when already connected,
  // EINVAL for an unspecified address.
  absl::Status Connect(const SocketAddress& addr);
  // Disconnect undoes Connect. ENOTCONN when not connected.
  absl::Status Disconnect();

  // Send queues `data` (copied, or moved from an rvalue) as one datagram to
  // `to`; `cb` (may be empty) runs once it was sent, failed or was
  // cancelled. Binds to the wildcard address first if unbound. An error is
  // returned at once, and `cb` never runs, when the handle is closing, is
  // connected (EISCONN), `to` is unspecified (EINVAL), or `data` exceeds
  // 4 GiB (EMSGSIZE); errors found by the kernel arrive through `cb`.
  absl::Status Send(std::string data, const SocketAddress& to,
                    SendCallback cb = nullptr);
  // Send on a connected handle: to its peer. EDESTADDRREQ when not
  // connected.
  absl::Status Send(std::string data, SendCallback cb = nullptr);

  // TrySend sends `data` to `to` now, without queueing: returns the bytes
  // sent, or kUnavailable ("udp try send: EAGAIN ...") when the kernel
  // cannot take it now or earlier sends are still queued; other errors as
  // for Send, but at once.
  absl::StatusOr<size_t> TrySend(absl::string_view data,
                                 const SocketAddress& to);
  // TrySend on a connected handle. EDESTADDRREQ when not connected.
  absl::StatusOr<size_t> TrySend(absl::string_view data);

  // RecvStart starts receiving; `cb` runs for each datagram. Binds to
  // 0.0.0.0 port 0 first if unbound. A receiving handle only replaces its
  // callback. InvalidArgument for an empty callback, FailedPrecondition
  // when closing.
  absl::Status RecvStart(RecvCallback cb);
  // RecvStop stops receiving (safe from the receive callback: no further
  // datagram of the current batch is delivered).
  absl::Status RecvStop();
  // IsReceiving returns whether RecvStart is in effect.
  bool IsReceiving() const { return receiving_; }
  // UsingRecvmmsg returns whether receives use recvmmsg.
  bool UsingRecvmmsg() const;

  // SetAllocator makes receives use `alloc`; nullptr restores the loop's
  // shared buffer. Takes effect from the next receive.
  void SetAllocator(Allocator alloc);

  // SockName returns the bound address. EBADF before the socket exists.
  absl::StatusOr<SocketAddress> SockName() const;
  // PeerName returns the connected peer. ENOTCONN when not connected.
  absl::StatusOr<SocketAddress> PeerName() const;

  // SetMembership joins or leaves the multicast group `multicast_addr`
  // ("239.1.2.3", "ff02::1") on the interface with address
  // `interface_addr` (empty: the kernel's choice). Binds to the wildcard
  // address with SO_REUSEADDR first if unbound. EINVAL for an address that
  // does not parse; the kernel's error (ENODEV, EADDRNOTAVAIL...) otherwise.
  absl::Status SetMembership(absl::string_view multicast_addr,
                             absl::string_view interface_addr,
                             Membership membership);
  // SetMulticastInterface sets the interface multicast datagrams leave by,
  // by its address (empty: the default). EINVAL for a bad address.
  absl::Status SetMulticastInterface(absl::string_view interface_addr);
  // SetMulticastLoop sets whether multicast datagrams sent loop back to this
  // host.
  absl::Status SetMulticastLoop(bool on);
  // SetMulticastTtl sets the multicast hop limit, 0 to 255 (else EINVAL).
  absl::Status SetMulticastTtl(int ttl);
  // SetBroadcast allows sending to broadcast addresses.
  absl::Status SetBroadcast(bool on);
  // SetTtl sets the unicast hop limit, 1 to 255 (else EINVAL).
  absl::Status SetTtl(int ttl);
  // The socket options above need the socket: EBADF on a handle created
  // with AF_UNSPEC before Bind, Connect or a send created it.

  // SendBufferSize / RecvBufferSize return SO_SNDBUF / SO_RCVBUF (Linux
  // reports twice the value set). EBADF before the socket exists.
  absl::StatusOr<int> SendBufferSize() const;
  absl::StatusOr<int> RecvBufferSize() const;
  // SetSendBufferSize / SetRecvBufferSize set them; `bytes` must be > 0
  // (else EINVAL).
  absl::Status SetSendBufferSize(int bytes);
  absl::Status SetRecvBufferSize(int bytes);

  // SendQueueSize returns the bytes of queued, not yet completed sends.
  size_t SendQueueSize() const;
  // SendQueueCount returns the number of sends whose callback has not run.
  size_t SendQueueCount() const;

 private:
  struct SendOp;
  struct SharedBuffer;
  explicit Udp(Loop& loop);
  ~Udp() override;
  absl::Status SendImpl(std::string data, const SocketAddress* to,
                        SendCallback cb);
  absl::StatusOr<size_t> TrySendImpl(absl::string_view data,
                                     const SocketAddress* to);
  absl::Status BufferSize(bool send, int* value, absl::string_view op) const;
  static void OnAlloc(uv_handle_t* raw, size_t suggested, uv_buf_t* buf);
  static void OnRecv(uv_udp_t* raw, ssize_t nread, const uv_buf_t* buf,
                     const sockaddr* addr, unsigned flags);
  static void OnSend(uv_udp_send_t* req, int status);

  uv_udp_t udp_;
  bool receiving_ = false;
  std::shared_ptr<RecvCallback> recv_cb_;
  std::shared_ptr<Allocator> alloc_;
  std::shared_ptr<SharedBuffer> shared_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_UDP_H_
