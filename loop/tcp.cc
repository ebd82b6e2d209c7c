#include "loop/tcp.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Tcp::Tcp(Loop& loop) : Stream(loop, reinterpret_cast<uv_stream_t*>(&tcp_)) {}

absl::StatusOr<HandlePtr<Tcp>> Tcp::Create(Loop& loop, int family) {
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
    return UvStatus(UV_EINVAL, "tcp init");
  }
  HandlePtr<Tcp> tcp(new Tcp(loop));
  int rc =
      uv_tcp_init_ex(loop.raw(), &tcp->tcp_, static_cast<unsigned int>(family));
  if (rc < 0) return UvStatus(rc, "tcp init");
  tcp->Register();
  return tcp;
}

absl::Status Tcp::Open(int fd) {
  std::string op = absl::StrCat("tcp open fd ", fd);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (fd < 0) return UvStatus(UV_EBADF, op);
  // libuv accepts any fd; check that it is a stream socket first.
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return UvStatus(-errno, op);
  }
  if (type != SOCK_STREAM) return UvStatus(UV_EINVAL, op);
  return UvStatus(uv_tcp_open(&tcp_, fd), op);
}

absl::Status Tcp::Bind(const SocketAddress& address, TcpBindOptions options) {
  std::string op = absl::StrCat("tcp bind ", address.ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (address.family() == AF_UNSPEC) return UvStatus(UV_EINVAL, op);
  if (options.reuse_port) {
    // libuv 1.44 has no flag for it: make sure the socket exists, then set
    // the option before binding.
    int fd = -1;
    if (uv_fileno(raw_handle(), &fd) != 0) {
      return UvStatus(UV_EINVAL,
                      absl::StrCat(op,
                                   " (reuse_port needs Create with a "
                                   "family)"));
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return UvStatus(-errno, op);
    }
  }
  unsigned int flags = options.ipv6_only ? UV_TCP_IPV6ONLY : 0;
  return UvStatus(uv_tcp_bind(&tcp_, address.sockaddr_ptr(), flags), op);
}

namespace {

struct ConnectOp {
  uv_connect_t req;
  Tcp* tcp;
  Tcp::ConnectCallback cb;
  std::string operation;
};

}  // namespace

absl::Status Tcp::Connect(const SocketAddress& address, ConnectCallback cb) {
  std::string op = absl::StrCat("connect ", address.ToString());
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (!cb || address.family() == AF_UNSPEC) return UvStatus(UV_EINVAL, op);
  auto connect = std::make_unique<ConnectOp>();
  connect->tcp = this;
  connect->cb = std::move(cb);
  connect->operation = op;
  connect->req.data = connect.get();
  int rc = uv_tcp_connect(&connect->req, &tcp_, address.sockaddr_ptr(),
                          &Tcp::OnConnect);
  if (rc < 0) return UvStatus(rc, op);
  connect.release();
  return absl::OkStatus();
}

void Tcp::OnConnect(uv_connect_t* req, int status) {
  std::unique_ptr<ConnectOp> connect(static_cast<ConnectOp*>(req->data));
  Tcp* self = connect->tcp;
  absl::Status s = UvStatus(status, connect->operation);
  self->loop().Invoke([&] { connect->cb(*self, std::move(s)); });
}

absl::StatusOr<HandlePtr<Tcp>> Tcp::Accept() {
  if (absl::Status s = CheckOpen("accept"); !s.ok()) return s;
  absl::StatusOr<HandlePtr<Tcp>> client = Create(loop());
  if (!client.ok()) return client.status();
  if (absl::Status s = Stream::Accept(**client); !s.ok()) return s;
  return client;
}

namespace {

absl::StatusOr<SocketAddress> Name(const uv_tcp_t* tcp, bool peer,
                                   bool closing) {
  const char* op = peer ? "tcp peername" : "tcp sockname";
  if (closing) return UvStatus(UV_EBADF, op);
  sockaddr_storage storage;
  int len = sizeof(storage);
  auto* addr = reinterpret_cast<sockaddr*>(&storage);
  int rc = peer ? uv_tcp_getpeername(tcp, addr, &len)
                : uv_tcp_getsockname(tcp, addr, &len);
  if (rc < 0) return UvStatus(rc, op);
  return SocketAddress::FromSockaddr(addr, static_cast<socklen_t>(len));
}

}  // namespace

absl::StatusOr<SocketAddress> Tcp::SockName() const {
  return Name(&tcp_, false, IsClosing());
}

absl::StatusOr<SocketAddress> Tcp::PeerName() const {
  return Name(&tcp_, true, IsClosing());
}

absl::Status Tcp::SetNoDelay(bool enable) {
  if (absl::Status s = CheckOpen("tcp nodelay"); !s.ok()) return s;
  return UvStatus(uv_tcp_nodelay(&tcp_, enable ? 1 : 0), "tcp nodelay");
}

absl::Status Tcp::SetKeepAlive(bool enable, unsigned int delay_seconds) {
  if (absl::Status s = CheckOpen("tcp keepalive"); !s.ok()) return s;
  if (enable && delay_seconds == 0) {
    return UvStatus(UV_EINVAL, "tcp keepalive");
  }
  return UvStatus(uv_tcp_keepalive(&tcp_, enable ? 1 : 0, delay_seconds),
                  "tcp keepalive");
}

absl::Status Tcp::SetSimultaneousAccepts(bool enable) {
  if (absl::Status s = CheckOpen("tcp simultaneous accepts"); !s.ok()) {
    return s;
  }
  return UvStatus(uv_tcp_simultaneous_accepts(&tcp_, enable ? 1 : 0),
                  "tcp simultaneous accepts");
}

absl::Status Tcp::CloseReset(CloseCallback cb) {
  if (absl::Status s = CheckOpen("tcp close reset"); !s.ok()) return s;
  int fd = -1;
  if (int rc = uv_fileno(raw_handle(), &fd); rc < 0) {
    return UvStatus(rc, "tcp close reset");
  }
  linger l = {1, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0) {
    return UvStatus(-errno, "tcp close reset");
  }
  return Close(std::move(cb));
}

}  // namespace loop
}  // namespace evergreen
