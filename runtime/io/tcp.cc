#include "runtime/io/tcp.h"

#include <netdb.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/io/dns.h"
#include "runtime/io/internal/op.h"
#include "runtime/io/internal/serve.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::InTask;
using io_internal::Renamed;

}  // namespace

// TcpStream.

TcpStream::TcpStream(loop::HandlePtr<loop::Tcp> tcp,
                     absl::StatusOr<loop::SocketAddress> peer,
                     const TcpStreamOptions& options)
    : Stream(std::move(tcp),
             peer.ok() ? peer->ToString() : std::string("(unknown peer)"),
             options),
      peer_address_(std::move(peer)) {
  if (options.no_delay) (void)handle().SetNoDelay(true);
}

std::unique_ptr<TcpStream> TcpStream::Wrap(loop::HandlePtr<loop::Tcp> tcp,
                                           const TcpStreamOptions& options) {
  absl::StatusOr<loop::SocketAddress> peer = tcp->PeerName();
  return std::unique_ptr<TcpStream>(
      new TcpStream(std::move(tcp), std::move(peer), options));
}

absl::StatusOr<std::unique_ptr<TcpStream>> TcpStream::Connect(
    const loop::SocketAddress& address, Deadline deadline,
    TcpStreamOptions options) {
  Task* me = nullptr;
  if (absl::Status s = InTask("connect", address.ToString(), &me); !s.ok()) {
    return s;
  }
  absl::StatusOr<loop::HandlePtr<loop::Tcp>> tcp =
      loop::Tcp::Create(me->loop().io(), address.family());
  if (!tcp.ok()) return Renamed(tcp.status(), "connect " + address.ToString());
  auto c = std::make_shared<io_internal::Completion>();
  absl::Status s =
      (*tcp)->Connect(address, [c](loop::Tcp&, absl::Status status) {
        if (!c->abandoned) c->Complete(std::move(status));
      });
  if (!s.ok()) return s;
  // Abandoning closes the socket; the callback then runs with CANCELLED and
  // only sees `c`.
  try {
    if (!io_internal::Await(me, *c, deadline)) {
      c->abandoned = true;
      tcp->reset();
      return absl::DeadlineExceededError(
          absl::StrCat("connect ", address.ToString(), ": deadline exceeded"));
    }
  } catch (...) {
    c->abandoned = true;
    tcp->reset();
    throw;
  }
  if (!c->status.ok()) return c->status;
  return Wrap(std::move(*tcp), options);
}

absl::StatusOr<std::unique_ptr<TcpStream>> TcpStream::Connect(
    absl::string_view host, uint16_t port, Deadline deadline,
    TcpStreamOptions options) {
  ResolveOptions ro;
  ro.deadline = deadline;
  absl::StatusOr<std::vector<loop::SocketAddress>> addresses =
      Resolve(host, port, ro);
  if (!addresses.ok()) return addresses.status();
  absl::Status last;
  for (const loop::SocketAddress& address : *addresses) {
    absl::StatusOr<std::unique_ptr<TcpStream>> stream =
        Connect(address, deadline, options);
    if (stream.ok()) return stream;
    last = stream.status();
    if (deadline.Expired()) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect ", host, ":", port, ": deadline exceeded"));
    }
  }
  return last;
}

void TcpStream::CloseWithReset() {
  if (IsClosed()) return;
  (void)handle().CloseReset();  // when it fails, MarkClosed closes plainly
  MarkClosed("");
}

absl::StatusOr<loop::SocketAddress> TcpStream::LocalAddress() const {
  if (IsClosed()) return ClosedError("local address");
  return static_cast<const loop::Tcp&>(stream_handle()).SockName();
}

absl::StatusOr<loop::SocketAddress> TcpStream::PeerAddress() const {
  if (IsClosed()) return ClosedError("peer address");
  return peer_address_;
}

absl::Status TcpStream::SetNoDelay(bool enable) {
  if (IsClosed()) return ClosedError("tcp nodelay");
  return handle().SetNoDelay(enable);
}

absl::Status TcpStream::SetKeepAlive(bool enable, unsigned int delay_seconds) {
  if (IsClosed()) return ClosedError("tcp keepalive");
  return handle().SetKeepAlive(enable, delay_seconds);
}

// TcpListener.

TcpListener::TcpListener(loop::HandlePtr<loop::Tcp> tcp, ListenOptions options)
    : tcp_(std::move(tcp)), options_(std::move(options)) {}

TcpListener::~TcpListener() { Close(); }

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Listen(
    const loop::SocketAddress& address, ListenOptions options) {
  std::string op = absl::StrCat("listen ", address.ToString());
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  absl::StatusOr<loop::HandlePtr<loop::Tcp>> tcp =
      loop::Tcp::Create(el->io(), address.family());
  if (!tcp.ok()) return Renamed(tcp.status(), op);
  loop::TcpBindOptions bind;
  bind.ipv6_only = options.ipv6_only;
  bind.reuse_port = options.reuse_port;
  if (absl::Status s = (*tcp)->Bind(address, bind); !s.ok()) {
    return Renamed(s, op);
  }
  int backlog = options.backlog;
  std::unique_ptr<TcpListener> listener(
      new TcpListener(std::move(*tcp), std::move(options)));
  TcpListener* raw = listener.get();
  absl::Status s =
      raw->tcp_->Listen(backlog, [raw](loop::Stream&, absl::Status st) {
        raw->accept_.OnConnection(std::move(st));
      });
  if (!s.ok()) return Renamed(s, op);
  raw->tcp_->Unref();  // referenced while a task waits in Accept
  absl::StatusOr<loop::SocketAddress> local = raw->tcp_->SockName();
  raw->name_ = local.ok() ? local->ToString() : address.ToString();
  return listener;
}

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Listen(
    absl::string_view host, uint16_t port, ListenOptions options) {
  ResolveOptions ro;
  ro.flags = AI_PASSIVE;
  absl::StatusOr<std::vector<loop::SocketAddress>> addresses =
      Resolve(host, port, ro);
  if (!addresses.ok()) return addresses.status();
  return Listen(addresses->front(), std::move(options));
}

absl::StatusOr<std::unique_ptr<TcpStream>> TcpListener::Accept(
    Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = InTask("accept", name_, &me); !s.ok()) return s;
  while (true) {
    if (absl::Status s = accept_.Next(me, *tcp_, name_, deadline); !s.ok()) {
      return s;
    }
    accept_.Taken();
    absl::StatusOr<loop::HandlePtr<loop::Tcp>> conn = tcp_->Accept();
    if (conn.ok()) {
      return TcpStream::Wrap(std::move(*conn), options_.stream_options);
    }
    if (conn.status().code() != absl::StatusCode::kUnavailable) {
      return Renamed(conn.status(), "accept " + name_);
    }
    // EAGAIN: nothing after all; wait again.
  }
}

absl::StatusOr<loop::SocketAddress> TcpListener::LocalAddress() const {
  if (IsClosed() || tcp_->IsClosing()) {
    return absl::FailedPreconditionError(
        absl::StrCat("local address ", name_, ": listener closed"));
  }
  return tcp_->SockName();
}

void TcpListener::Close() {
  if (accept_.closed()) return;
  if (!tcp_->IsClosing()) (void)tcp_->Close();
  accept_.Close();
}

absl::Status Serve(TcpListener& listener,
                   std::function<void(TcpStream&)> handler) {
  return io_internal::ServeLoop(listener, std::move(handler));
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
