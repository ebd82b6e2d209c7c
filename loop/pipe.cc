#include "loop/pipe.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"
#include "loop/tcp.h"

namespace evergreen {
namespace loop {
namespace {

constexpr size_t kSunPathSize = sizeof(sockaddr_un{}.sun_path);

bool IsAbstract(absl::string_view path) {
  return !path.empty() && path[0] == '\0';
}

// Shows a path in an error message: an abstract name as "@name", other
// bytes C-escaped.
std::string Display(absl::string_view path) {
  if (IsAbstract(path)) return absl::StrCat("@", absl::CEscape(path.substr(1)));
  return absl::CEscape(path);
}

// Checks a path for Bind and Connect; returns the error status or OK.
absl::Status CheckPath(absl::string_view path, const std::string& op) {
  if (path.empty()) return UvStatus(UV_EINVAL, absl::StrCat(op, " (empty)"));
  absl::string_view rest = IsAbstract(path) ? path.substr(1) : path;
  if (rest.find('\0') != absl::string_view::npos) {
    return UvStatus(UV_EINVAL, absl::StrCat(op, " (NUL inside the path)"));
  }
  // A file path needs its terminating NUL inside sun_path; an abstract name
  // is the '\0' and up to kSunPathSize - 1 bytes.
  if (path.size() >= kSunPathSize) {
    return UvStatus(UV_ENAMETOOLONG,
                    absl::StrCat(op, " (", path.size(), " bytes, at most ",
                                 kSunPathSize - 1, ")"));
  }
  return absl::OkStatus();
}

// Fills `addr` for an abstract name and returns its length.
socklen_t AbstractAddress(absl::string_view path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
}

struct ConnectOp {
  uv_connect_t req;
  Pipe* pipe;
  Pipe::ConnectCallback cb;
  std::string operation;
  // Abstract names: the outcome of the connect already made; libuv's
  // request only delivers it from the loop.
  bool has_outcome = false;
  int outcome = 0;
};

PendingHandleType ToPendingType(uv_handle_type type) {
  switch (type) {
    case UV_UNKNOWN_HANDLE:
      return PendingHandleType::kNone;
    case UV_TCP:
      return PendingHandleType::kTcp;
    case UV_NAMED_PIPE:
      return PendingHandleType::kPipe;
    case UV_UDP:
      return PendingHandleType::kUdp;
    default:
      return PendingHandleType::kOther;
  }
}

}  // namespace

Pipe::Pipe(Loop& loop) : Stream(loop, reinterpret_cast<uv_stream_t*>(&pipe_)) {}

absl::StatusOr<HandlePtr<Pipe>> Pipe::Create(Loop& loop, bool ipc) {
  HandlePtr<Pipe> pipe(new Pipe(loop));
  int rc = uv_pipe_init(loop.raw(), &pipe->pipe_, ipc ? 1 : 0);
  if (rc < 0) return UvStatus(rc, "pipe init");
  pipe->Register();
  return pipe;
}

absl::Status Pipe::Open(int fd) {
  std::string op = absl::StrCat("pipe open fd ", fd);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (fd < 0) return UvStatus(UV_EBADF, op);
  struct stat st;
  if (fstat(fd, &st) != 0) return UvStatus(-errno, op);
  bool unix_socket = false;
  if (S_ISSOCK(st.st_mode)) {
    int domain = 0, type = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
      return UvStatus(-errno, op);
    }
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
      return UvStatus(-errno, op);
    }
    unix_socket = domain == AF_UNIX && type == SOCK_STREAM;
    if (!unix_socket) {
      return UvStatus(UV_EINVAL,
                      absl::StrCat(op, " (not a Unix stream socket)"));
    }
  } else if (!S_ISFIFO(st.st_mode)) {
    return UvStatus(UV_EINVAL,
                    absl::StrCat(op, " (not a pipe, FIFO or Unix socket)"));
  }
  if (ipc() && !unix_socket) {
    return UvStatus(UV_EINVAL,
                    absl::StrCat(op, " (an IPC pipe needs a Unix socket)"));
  }
  return UvStatus(uv_pipe_open(&pipe_, fd), op);
}

absl::Status Pipe::Bind(absl::string_view path) {
  std::string op = absl::StrCat("pipe bind ", Display(path));
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (absl::Status s = CheckPath(path, op); !s.ok()) return s;
  if (!IsAbstract(path)) {
    std::string copy(path);
    return UvStatus(uv_pipe_bind(&pipe_, copy.c_str()), op);
  }
  // libuv 1.44 takes a C string: bind an abstract name ourselves.
  int existing = -1;
  if (uv_fileno(raw_handle(), &existing) == 0) return UvStatus(UV_EINVAL, op);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UvStatus(-errno, op);
  sockaddr_un addr;
  socklen_t len = AbstractAddress(path, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = -errno;
    close(fd);
    return UvStatus(err, op);
  }
  if (int rc = uv_pipe_open(&pipe_, fd); rc < 0) {
    close(fd);
    return UvStatus(rc, op);
  }
  return absl::OkStatus();
}

absl::Status Pipe::Connect(absl::string_view path, ConnectCallback cb) {
  std::string op = absl::StrCat("pipe connect ", Display(path));
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, op);
  if (absl::Status s = CheckPath(path, op); !s.ok()) return s;
  // libuv 1.44 would drop the first request of two.
  if (pipe_.connect_req != nullptr) return UvStatus(UV_EALREADY, op);
  std::string copy(path);
  if (IsAbstract(path)) return ConnectAbstract(copy, op, std::move(cb));
  auto connect = std::make_unique<ConnectOp>();
  connect->pipe = this;
  connect->cb = std::move(cb);
  connect->operation = std::move(op);
  connect->req.data = connect.get();
  // Never fails at once: errors arrive through OnConnect.
  uv_pipe_connect(&connect->req, &pipe_, copy.c_str(), &Pipe::OnConnect);
  connect.release();
  return absl::OkStatus();
}

absl::Status Pipe::ConnectAbstract(const std::string& path,
                                   const std::string& op, ConnectCallback cb) {
  // Unix-domain connects complete (or fail) at once, so connect here, then
  // let a libuv connect request deliver the outcome from the loop: that
  // request connects to "/", which always fails (a directory is never a
  // socket) and leaves the socket as it is; OnConnect reports our outcome
  // instead, or CANCELLED if the handle closed first.
  int outcome = 0;
  int fd = -1;
  bool adopt = false;
  if (uv_fileno(raw_handle(), &fd) != 0) {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return UvStatus(-errno, op);
    adopt = true;
  }
  sockaddr_un addr;
  socklen_t len = AbstractAddress(path, &addr);
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) outcome = -errno;
  if (adopt) {
    if (outcome == 0) {
      if (int open_rc = uv_pipe_open(&pipe_, fd); open_rc < 0) {
        close(fd);
        return UvStatus(open_rc, op);
      }
    } else {
      close(fd);  // libuv makes a fresh socket, as a failed connect leaves
    }
  }
  auto connect = std::make_unique<ConnectOp>();
  connect->pipe = this;
  connect->cb = std::move(cb);
  connect->operation = op;
  connect->has_outcome = true;
  connect->outcome = outcome;
  connect->req.data = connect.get();
  uv_pipe_connect(&connect->req, &pipe_, "/", &Pipe::OnConnect);
  connect.release();
  return absl::OkStatus();
}

void Pipe::OnConnect(uv_connect_t* req, int status) {
  std::unique_ptr<ConnectOp> connect(static_cast<ConnectOp*>(req->data));
  Pipe* self = connect->pipe;
  if (connect->has_outcome && status != UV_ECANCELED) {
    status = connect->outcome;
  }
  absl::Status s = UvStatus(status, connect->operation);
  self->loop().Invoke([&] { connect->cb(*self, std::move(s)); });
}

absl::StatusOr<HandlePtr<Pipe>> Pipe::Accept(bool ipc) {
  if (absl::Status s = CheckOpen("accept"); !s.ok()) return s;
  if (this->ipc() && PendingType() != PendingHandleType::kPipe &&
      PendingType() != PendingHandleType::kNone) {
    return UvStatus(UV_EINVAL, "accept (the pending handle is not a pipe)");
  }
  absl::StatusOr<HandlePtr<Pipe>> client = Create(loop(), ipc);
  if (!client.ok()) return client.status();
  if (absl::Status s = Stream::Accept(**client); !s.ok()) return s;
  return client;
}

absl::StatusOr<HandlePtr<Stream>> Pipe::AcceptPending() {
  if (absl::Status s = CheckOpen("accept pending"); !s.ok()) return s;
  if (!ipc()) {
    return UvStatus(UV_EINVAL, "accept pending (not an IPC pipe)");
  }
  switch (PendingType()) {
    case PendingHandleType::kNone:
      return UvStatus(UV_EAGAIN, "accept pending");
    case PendingHandleType::kTcp: {
      absl::StatusOr<HandlePtr<Tcp>> tcp = Tcp::Create(loop());
      if (!tcp.ok()) return tcp.status();
      if (absl::Status s = Stream::Accept(**tcp); !s.ok()) return s;
      return HandlePtr<Stream>(std::move(*tcp));
    }
    case PendingHandleType::kPipe: {
      absl::StatusOr<HandlePtr<Pipe>> pipe = Create(loop());
      if (!pipe.ok()) return pipe.status();
      if (absl::Status s = Stream::Accept(**pipe); !s.ok()) return s;
      return HandlePtr<Stream>(std::move(*pipe));
    }
    case PendingHandleType::kUdp:
      return UvStatus(UV_EINVAL, "accept pending (a UDP socket)");
    case PendingHandleType::kOther:
      break;
  }
  return UvStatus(UV_EINVAL, "accept pending (not a socket or pipe)");
}

int Pipe::PendingCount() {
  if (IsClosing()) return 0;
  return uv_pipe_pending_count(&pipe_);
}

PendingHandleType Pipe::PendingType() {
  if (IsClosing()) return PendingHandleType::kNone;
  return ToPendingType(uv_pipe_pending_type(&pipe_));
}

absl::Status Pipe::Write2(std::string data, Stream& send_handle,
                          WriteCallback cb) {
  const char* op = "pipe write2";
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (!ipc()) return UvStatus(UV_EINVAL, "pipe write2 (not an IPC pipe)");
  if (data.empty()) return UvStatus(UV_EINVAL, "pipe write2 (empty data)");
  if (send_handle.IsClosing()) {
    return absl::FailedPreconditionError(
        "pipe write2: the handle to send is closing");
  }
  uv_handle_type type = uv_handle_get_type(
      reinterpret_cast<uv_handle_t*>(send_handle.raw_stream()));
  if (type != UV_TCP && type != UV_NAMED_PIPE) {
    return UvStatus(UV_EINVAL,
                    absl::StrCat("pipe write2 (cannot send a ",
                                 send_handle.TypeName(), " handle)"));
  }
  if (!send_handle.Fileno().ok()) {
    return UvStatus(UV_EBADF,
                    "pipe write2 (the handle to send has no descriptor)");
  }
  std::vector<std::string> buffers;
  buffers.push_back(std::move(data));
  return WriteImpl(std::move(buffers), send_handle.raw_stream(), std::move(cb));
}

absl::Status Pipe::Chmod(bool readable, bool writable) {
  const char* op = "pipe chmod";
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  int mode = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  if (mode == 0) return UvStatus(UV_EINVAL, op);
  absl::StatusOr<std::string> name = SockName();
  if (name.ok() && IsAbstract(*name)) {
    return UvStatus(UV_EINVAL, absl::StrCat(op, " ", Display(*name),
                                            " (abstract: no file)"));
  }
  std::string full =
      name.ok() ? absl::StrCat(op, " ", Display(*name)) : std::string(op);
  return UvStatus(uv_pipe_chmod(&pipe_, mode), full);
}

namespace {

absl::StatusOr<std::string> Name(const uv_pipe_t* pipe, bool peer,
                                 bool closing) {
  const char* op = peer ? "pipe peername" : "pipe sockname";
  if (closing) return UvStatus(UV_EBADF, op);
  std::string name(kSunPathSize + 1, '\0');
  size_t size = name.size();
  int rc = peer ? uv_pipe_getpeername(pipe, name.data(), &size)
                : uv_pipe_getsockname(pipe, name.data(), &size);
  if (rc < 0) return UvStatus(rc, op);
  name.resize(size);
  return name;
}

}  // namespace

absl::StatusOr<std::string> Pipe::SockName() const {
  return Name(&pipe_, false, IsClosing());
}

absl::StatusOr<std::string> Pipe::PeerName() const {
  return Name(&pipe_, true, IsClosing());
}

}  // namespace loop
}  // namespace evergreen
