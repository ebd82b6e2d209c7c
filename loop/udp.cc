#include "loop/udp.h"

#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

// libuv's receive size: the largest datagram, and its recvmmsg slot size.
constexpr size_t kDatagramMax = 64 * 1024;
// Slots per recvmmsg call with the shared buffer (libuv takes up to 20).
constexpr size_t kMmsgSlots = 8;

// SharedBuffer is a receive buffer shared by the Udp handles of one loop.
struct Udp::SharedBuffer {
  explicit SharedBuffer(size_t n) : bytes(new char[n]), size(n) {}
  std::unique_ptr<char[]> bytes;
  size_t size;
};

namespace {

// The shared receive buffers, by loop and size. A Udp holds a strong
// reference from its first RecvStart until it is destroyed; the map only a
// weak one, so a buffer is freed with the last Udp of its loop that used it.
// Loops may run on different threads, hence the mutex (taken only on
// RecvStart, never per datagram).
template <typename Buffer>
struct BufferRegistry {
  std::mutex mu;
  std::map<std::pair<const uv_loop_t*, size_t>, std::weak_ptr<Buffer>> buffers;

  std::shared_ptr<Buffer> Acquire(const uv_loop_t* loop, size_t size) {
    std::lock_guard<std::mutex> lock(mu);
    // Drop the entries of buffers already freed.
    for (auto it = buffers.begin(); it != buffers.end();) {
      it = it->second.expired() ? buffers.erase(it) : std::next(it);
    }
    std::weak_ptr<Buffer>& slot = buffers[{loop, size}];
    std::shared_ptr<Buffer> buffer = slot.lock();
    if (!buffer) {
      buffer = std::make_shared<Buffer>(size);
      slot = buffer;
    }
    return buffer;
  }
};

template <typename Buffer>
BufferRegistry<Buffer>& GetBufferRegistry() {
  static auto* const registry = new BufferRegistry<Buffer>;
  return *registry;
}

// WithDetail appends `detail` to a status message.
absl::Status WithDetail(absl::Status s, absl::string_view detail) {
  return absl::Status(s.code(), absl::StrCat(s.message(), "; ", detail));
}

// CString copies `s` for a C API, refusing embedded NULs.
bool CString(absl::string_view s, std::string* out) {
  if (s.find('\0') != absl::string_view::npos) return false;
  out->assign(s.data(), s.size());
  return true;
}

}  // namespace

// SendOp is one queued send: libuv's request and the bytes it points to.
struct Udp::SendOp {
  uv_udp_send_t req;
  std::string data;
  SendCallback cb;
};

Udp::Udp(Loop& loop) : Handle(loop, reinterpret_cast<uv_handle_t*>(&udp_)) {}

Udp::~Udp() = default;

absl::StatusOr<HandlePtr<Udp>> Udp::Create(Loop& loop, UdpOptions options) {
  if (options.family != AF_UNSPEC && options.family != AF_INET &&
      options.family != AF_INET6) {
    return WithDetail(UvStatus(UV_EINVAL, "udp init"),
                      absl::StrCat("bad address family ", options.family));
  }
  unsigned flags = static_cast<unsigned>(options.family);
  if (options.recvmmsg) flags |= UV_UDP_RECVMMSG;
  HandlePtr<Udp> udp(new Udp(loop));
  int rc = uv_udp_init_ex(loop.raw(), &udp->udp_, flags);
  if (rc < 0) return UvStatus(rc, "udp init");  // not registered: freed now
  udp->Register();
  return udp;
}

absl::Status Udp::Open(int fd) {
  std::string op = absl::StrCat("udp open fd ", fd);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (fd < 0) return UvStatus(UV_EBADF, op);
  // libuv adopts any socket; a stream socket would misbehave later.
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return UvStatus(-errno, op);
  }
  if (type != SOCK_DGRAM) {
    return WithDetail(UvStatus(UV_EINVAL, op), "not a datagram socket");
  }
  return UvStatus(uv_udp_open(&udp_, fd), op);
}

absl::Status Udp::Bind(const SocketAddress& addr, UdpBindOptions options) {
  std::string op = absl::StrCat("udp bind ", addr.ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  unsigned flags = 0;
  if (options.reuse_addr) flags |= UV_UDP_REUSEADDR;
  if (options.ipv6_only) flags |= UV_UDP_IPV6ONLY;
  return UvStatus(uv_udp_bind(&udp_, addr.sockaddr_ptr(), flags), op);
}

absl::Status Udp::Connect(const SocketAddress& addr) {
  std::string op = absl::StrCat("udp connect ", addr.ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  return UvStatus(uv_udp_connect(&udp_, addr.sockaddr_ptr()), op);
}

absl::Status Udp::Disconnect() {
  if (absl::Status s = CheckOpen("udp disconnect"); !s.ok()) return s;
  return UvStatus(uv_udp_connect(&udp_, nullptr), "udp disconnect");
}

absl::Status Udp::Send(std::string data, const SocketAddress& to,
                       SendCallback cb) {
  return SendImpl(std::move(data), &to, std::move(cb));
}

absl::Status Udp::Send(std::string data, SendCallback cb) {
  return SendImpl(std::move(data), nullptr, std::move(cb));
}

absl::Status Udp::SendImpl(std::string data, const SocketAddress* to,
                           SendCallback cb) {
  std::string op = to == nullptr ? std::string("udp send")
                                 : absl::StrCat("udp send ", to->ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (data.size() > UINT_MAX) return UvStatus(UV_EMSGSIZE, op);
  auto send = std::make_unique<SendOp>();
  send->data = std::move(data);
  send->cb = std::move(cb);
  uv_buf_t buf =
      uv_buf_init(send->data.data(), static_cast<unsigned>(send->data.size()));
  send->req.data = send.get();
  int rc =
      uv_udp_send(&send->req, &udp_, &buf, 1,
                  to == nullptr ? nullptr : to->sockaddr_ptr(), &Udp::OnSend);
  if (rc < 0) return UvStatus(rc, op);
  send.release();  // OnSend frees it; libuv always calls it, even on close
  return absl::OkStatus();
}

void Udp::OnSend(uv_udp_send_t* req, int status) {
  std::unique_ptr<SendOp> send(static_cast<SendOp*>(req->data));
  if (!send->cb) return;
  auto* self = static_cast<Udp*>(static_cast<Handle*>(req->handle->data));
  absl::Status s = UvStatus(status, "udp send");
  self->loop().Invoke([&] { send->cb(*self, std::move(s)); });
}

absl::StatusOr<size_t> Udp::TrySend(absl::string_view data,
                                    const SocketAddress& to) {
  return TrySendImpl(data, &to);
}

absl::StatusOr<size_t> Udp::TrySend(absl::string_view data) {
  return TrySendImpl(data, nullptr);
}

absl::StatusOr<size_t> Udp::TrySendImpl(absl::string_view data,
                                        const SocketAddress* to) {
  std::string op = to == nullptr
                       ? std::string("udp try send")
                       : absl::StrCat("udp try send ", to->ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (data.size() > UINT_MAX) return UvStatus(UV_EMSGSIZE, op);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()),
                             static_cast<unsigned>(data.size()));
  int rc = uv_udp_try_send(&udp_, &buf, 1,
                           to == nullptr ? nullptr : to->sockaddr_ptr());
  if (rc < 0) return UvStatus(rc, op);
  return static_cast<size_t>(rc);
}

absl::Status Udp::RecvStart(RecvCallback cb) {
  if (absl::Status s = CheckOpen("udp recv start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "udp recv start");
  if (receiving_) {
    recv_cb_ = std::make_shared<RecvCallback>(std::move(cb));
    return absl::OkStatus();
  }
  int rc = uv_udp_recv_start(&udp_, &Udp::OnAlloc, &Udp::OnRecv);
  if (rc < 0) return UvStatus(rc, "udp recv start");
  if (!shared_) {
    shared_ = GetBufferRegistry<SharedBuffer>().Acquire(
        udp_.loop, UsingRecvmmsg() ? kMmsgSlots * kDatagramMax : kDatagramMax);
  }
  recv_cb_ = std::make_shared<RecvCallback>(std::move(cb));
  receiving_ = true;
  return absl::OkStatus();
}

absl::Status Udp::RecvStop() {
  if (absl::Status s = CheckOpen("udp recv stop"); !s.ok()) return s;
  int rc = uv_udp_recv_stop(&udp_);
  if (rc < 0) return UvStatus(rc, "udp recv stop");
  receiving_ = false;
  recv_cb_.reset();  // a running callback holds its own reference
  return absl::OkStatus();
}

bool Udp::UsingRecvmmsg() const { return uv_udp_using_recvmmsg(&udp_) != 0; }

void Udp::SetAllocator(Allocator alloc) {
  alloc_ = alloc ? std::make_shared<Allocator>(std::move(alloc)) : nullptr;
}

void Udp::OnAlloc(uv_handle_t* raw, size_t suggested, uv_buf_t* buf) {
  auto* self = static_cast<Udp*>(static_cast<Handle*>(raw->data));
  *buf = uv_buf_init(nullptr, 0);  // libuv reports ENOBUFS for it
  if (!self->alloc_) {
    // With recvmmsg, libuv reads one datagram per 64 KiB of the buffer.
    *buf = uv_buf_init(self->shared_->bytes.get(),
                       static_cast<unsigned>(self->shared_->size));
    return;
  }
  std::shared_ptr<Allocator> alloc = self->alloc_;
  absl::Span<char> span;
  self->loop().Invoke([&] { span = (*alloc)(suggested); });
  if (span.data() == nullptr || span.empty()) return;
  // recvmmsg with less than one 64 KiB slot would spin in libuv forever.
  if (self->UsingRecvmmsg() && span.size() < kDatagramMax) return;
  size_t size = span.size() > UINT_MAX ? UINT_MAX : span.size();
  *buf = uv_buf_init(span.data(), static_cast<unsigned>(size));
}

void Udp::OnRecv(uv_udp_t* raw, ssize_t nread, const uv_buf_t* buf,
                 const sockaddr* addr, unsigned flags) {
  auto* self = static_cast<Udp*>(static_cast<Handle*>(raw->data));
  // The end of a recvmmsg batch (the buffer is ours to keep), nothing to
  // read (EAGAIN), or a batch going on after the callback closed the handle.
  if ((flags & UV_UDP_MMSG_FREE) != 0) return;
  if (nread == 0 && addr == nullptr) return;
  if (self->IsClosing()) return;
  std::shared_ptr<RecvCallback> cb = self->recv_cb_;
  if (!cb) return;
  if (nread < 0) {
    absl::Status s = UvStatus(static_cast<int>(nread), "udp recv");
    self->loop().Invoke([&] { (*cb)(*self, std::move(s)); });
    return;
  }
  Datagram d;
  d.data = absl::string_view(buf->base, static_cast<size_t>(nread));
  d.truncated = (flags & UV_UDP_PARTIAL) != 0;
  if (addr != nullptr) {
    socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                : sizeof(sockaddr_in);
    absl::StatusOr<SocketAddress> sender =
        SocketAddress::FromSockaddr(addr, len);
    if (sender.ok()) d.sender = *sender;
  }
  self->loop().Invoke([&] { (*cb)(*self, std::move(d)); });
}

absl::StatusOr<SocketAddress> Udp::SockName() const {
  if (absl::Status s = CheckOpen("udp sockname"); !s.ok()) return s;
  sockaddr_storage storage;
  int len = sizeof(storage);
  int rc =
      uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&storage), &len);
  if (rc < 0) return UvStatus(rc, "udp sockname");
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage),
                                     static_cast<socklen_t>(len));
}

absl::StatusOr<SocketAddress> Udp::PeerName() const {
  if (absl::Status s = CheckOpen("udp peername"); !s.ok()) return s;
  sockaddr_storage storage;
  int len = sizeof(storage);
  int rc =
      uv_udp_getpeername(&udp_, reinterpret_cast<sockaddr*>(&storage), &len);
  if (rc < 0) return UvStatus(rc, "udp peername");
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage),
                                     static_cast<socklen_t>(len));
}

absl::Status Udp::SetMembership(absl::string_view multicast_addr,
                                absl::string_view interface_addr,
                                Membership membership) {
  std::string op =
      absl::StrCat("udp ", membership == Membership::kJoin ? "join" : "leave",
                   " group ", multicast_addr, " on ",
                   interface_addr.empty() ? "(any interface)" : interface_addr);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (membership != Membership::kJoin && membership != Membership::kLeave) {
    return UvStatus(UV_EINVAL, op);
  }
  std::string group;
  std::string iface;
  if (!CString(multicast_addr, &group) || !CString(interface_addr, &iface)) {
    return UvStatus(UV_EINVAL, op);
  }
  return UvStatus(uv_udp_set_membership(&udp_, group.c_str(),
                                        iface.empty() ? nullptr : iface.c_str(),
                                        static_cast<uv_membership>(membership)),
                  op);
}

absl::Status Udp::SetMulticastInterface(absl::string_view interface_addr) {
  std::string op =
      absl::StrCat("udp set multicast interface ",
                   interface_addr.empty() ? "(default)" : interface_addr);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  std::string iface;
  if (!CString(interface_addr, &iface)) return UvStatus(UV_EINVAL, op);
  return UvStatus(uv_udp_set_multicast_interface(
                      &udp_, iface.empty() ? nullptr : iface.c_str()),
                  op);
}

absl::Status Udp::SetMulticastLoop(bool on) {
  if (absl::Status s = CheckOpen("udp set multicast loop"); !s.ok()) return s;
  return UvStatus(uv_udp_set_multicast_loop(&udp_, on ? 1 : 0),
                  "udp set multicast loop");
}

absl::Status Udp::SetMulticastTtl(int ttl) {
  std::string op = absl::StrCat("udp set multicast ttl ", ttl);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  return UvStatus(uv_udp_set_multicast_ttl(&udp_, ttl), op);
}

absl::Status Udp::SetBroadcast(bool on) {
  if (absl::Status s = CheckOpen("udp set broadcast"); !s.ok()) return s;
  return UvStatus(uv_udp_set_broadcast(&udp_, on ? 1 : 0), "udp set broadcast");
}

absl::Status Udp::SetTtl(int ttl) {
  std::string op = absl::StrCat("udp set ttl ", ttl);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  return UvStatus(uv_udp_set_ttl(&udp_, ttl), op);
}

absl::Status Udp::BufferSize(bool send, int* value,
                             absl::string_view op) const {
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  auto* handle = reinterpret_cast<uv_handle_t*>(const_cast<uv_udp_t*>(&udp_));
  int rc = send ? uv_send_buffer_size(handle, value)
                : uv_recv_buffer_size(handle, value);
  return UvStatus(rc, op);
}

absl::StatusOr<int> Udp::SendBufferSize() const {
  int value = 0;  // 0 reads the size
  if (absl::Status s = BufferSize(true, &value, "udp send buffer size");
      !s.ok()) {
    return s;
  }
  return value;
}

absl::StatusOr<int> Udp::RecvBufferSize() const {
  int value = 0;
  if (absl::Status s = BufferSize(false, &value, "udp recv buffer size");
      !s.ok()) {
    return s;
  }
  return value;
}

absl::Status Udp::SetSendBufferSize(int bytes) {
  std::string op = absl::StrCat("udp set send buffer size ", bytes);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  // libuv reads the size for 0 and passes negative values to the kernel.
  if (bytes <= 0) return UvStatus(UV_EINVAL, op);
  return BufferSize(true, &bytes, op);
}

absl::Status Udp::SetRecvBufferSize(int bytes) {
  std::string op = absl::StrCat("udp set recv buffer size ", bytes);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (bytes <= 0) return UvStatus(UV_EINVAL, op);
  return BufferSize(false, &bytes, op);
}

size_t Udp::SendQueueSize() const { return uv_udp_get_send_queue_size(&udp_); }

size_t Udp::SendQueueCount() const {
  return uv_udp_get_send_queue_count(&udp_);
}

}  // namespace loop
}  // namespace evergreen
