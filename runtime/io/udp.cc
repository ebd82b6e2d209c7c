#include "runtime/io/udp.h"

#include <netdb.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/io/dns.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::Busy;
using io_internal::InTask;
using io_internal::RefWhileWaiting;
using io_internal::Renamed;

}  // namespace

UdpSocket::UdpSocket(loop::HandlePtr<loop::Udp> udp, UdpSocketOptions options)
    : udp_(std::move(udp)), options_(options) {
  options_.max_queued = std::max<size_t>(options_.max_queued, 1);
  udp_->Unref();  // referenced while a task waits in Receive
}

UdpSocket::~UdpSocket() { Close(); }

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Make(
    int family, UdpSocketOptions options, absl::string_view op) {
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  loop::UdpOptions uo;
  uo.family = family;
  absl::StatusOr<loop::HandlePtr<loop::Udp>> udp =
      loop::Udp::Create(el->io(), uo);
  if (!udp.ok()) return udp.status();
  return std::unique_ptr<UdpSocket>(new UdpSocket(std::move(*udp), options));
}

void UdpSocket::Name() {
  absl::StatusOr<loop::SocketAddress> local = udp_->SockName();
  name_ = local.ok() ? local->ToString() : std::string("(unbound)");
}

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Bind(
    const loop::SocketAddress& address, UdpSocketOptions options) {
  std::string op = absl::StrCat("udp bind ", address.ToString());
  absl::StatusOr<std::unique_ptr<UdpSocket>> s =
      Make(address.family(), options, op);
  if (!s.ok()) return s;
  loop::UdpBindOptions bo;
  bo.reuse_addr = options.reuse_addr;
  if (absl::Status b = (*s)->udp_->Bind(address, bo); !b.ok()) return b;
  (*s)->Name();
  return s;
}

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Bind(
    absl::string_view host, uint16_t port, UdpSocketOptions options) {
  ResolveOptions ro;
  ro.socktype = SOCK_DGRAM;
  ro.flags = AI_PASSIVE;
  absl::StatusOr<std::vector<loop::SocketAddress>> a = Resolve(host, port, ro);
  if (!a.ok()) return a.status();
  return Bind(a->front(), options);
}

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Connect(
    const loop::SocketAddress& peer, UdpSocketOptions options) {
  std::string op = absl::StrCat("udp connect ", peer.ToString());
  absl::StatusOr<std::unique_ptr<UdpSocket>> s =
      Make(peer.family(), options, op);
  if (!s.ok()) return s;
  if (absl::Status c = (*s)->udp_->Connect(peer); !c.ok()) {
    return Renamed(c, op);
  }
  (*s)->Name();
  return s;
}

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Connect(
    absl::string_view host, uint16_t port, UdpSocketOptions options) {
  ResolveOptions ro;
  ro.socktype = SOCK_DGRAM;
  absl::StatusOr<std::vector<loop::SocketAddress>> a = Resolve(host, port, ro);
  if (!a.ok()) return a.status();
  return Connect(a->front(), options);
}

bool UdpSocket::IsClosed() const { return closed_ || udp_->IsClosing(); }

void UdpSocket::Close() {
  if (IsClosed()) return;
  closed_ = true;
  queue_.clear();
  (void)udp_->Close();
  receivers_.NotifyAll();
}

absl::Status UdpSocket::DoSend(std::string data,
                               const loop::SocketAddress* to) {
  Task* me = nullptr;
  if (absl::Status s = InTask("udp send", name_, &me); !s.ok()) return s;
  std::string op = absl::StrCat("udp send ", name_);
  if (IsClosed()) {
    return absl::FailedPreconditionError(absl::StrCat(op, ": socket closed"));
  }
  if (udp_->SendQueueCount() == 0) {
    absl::StatusOr<size_t> n =
        to != nullptr ? udp_->TrySend(data, *to) : udp_->TrySend(data);
    if (n.ok()) return absl::OkStatus();
    if (n.status().code() != absl::StatusCode::kUnavailable) {
      return Renamed(n.status(), op);
    }
  }
  // The kernel cannot take it now: queue it and wait until it went out.
  auto c = std::make_shared<io_internal::Completion>();
  auto cb = [c](loop::Udp&, absl::Status s) {
    if (!c->abandoned) c->Complete(std::move(s));
  };
  absl::Status s = to != nullptr ? udp_->Send(std::move(data), *to, cb)
                                 : udp_->Send(std::move(data), cb);
  if (!s.ok()) return Renamed(s, op);
  try {
    io_internal::Await(me, *c, Deadline::Never());
  } catch (...) {
    c->abandoned = true;  // the datagram may still go out
    throw;
  }
  return Renamed(c->status, op);
}

absl::Status UdpSocket::SendTo(std::string data,
                               const loop::SocketAddress& to) {
  return DoSend(std::move(data), &to);
}

absl::Status UdpSocket::Send(std::string data) {
  return DoSend(std::move(data), nullptr);
}

void UdpSocket::OnRecv(absl::StatusOr<loop::Datagram> d) {
  Item item;
  if (!d.ok()) {
    item.error = Renamed(d.status(), "udp receive " + name_);
  } else {
    item.datagram.data.assign(d->data.data(), d->data.size());
    item.datagram.sender = d->sender;
    item.datagram.truncated = d->truncated;
  }
  queue_.push_back(std::move(item));
  // Consumer-driven: the kernel keeps what does not fit.
  if (queue_.size() >= options_.max_queued) (void)udp_->RecvStop();
  receivers_.NotifyOne();
}

absl::StatusOr<Datagram> UdpSocket::Receive(Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = InTask("udp receive", name_, &me); !s.ok()) return s;
  auto closed = [&] {
    return absl::FailedPreconditionError(
        absl::StrCat("udp receive ", name_, ": socket closed"));
  };
  if (IsClosed()) return closed();
  if (receiver_busy_) {
    return absl::FailedPreconditionError(
        absl::StrCat("udp receive ", name_,
                     ": another task is already receiving on this socket"));
  }
  Busy busy(receiver_busy_);
  while (queue_.empty()) {
    if (IsClosed()) return closed();
    if (!udp_->IsReceiving()) {
      absl::Status s =
          udp_->RecvStart([this](loop::Udp&, absl::StatusOr<loop::Datagram> d) {
            OnRecv(std::move(d));
          });
      if (!s.ok()) return Renamed(s, "udp receive " + name_);
    }
    udp_->Ref();
    RefWhileWaiting unref{udp_.get(), &receivers_};
    bool woken;
    try {
      woken = runtime_internal::Wait(me, receivers_, deadline);
    } catch (...) {
      if (!IsClosed()) (void)udp_->RecvStop();
      throw;
    }
    if (!woken && queue_.empty() && !IsClosed()) {
      (void)udp_->RecvStop();
      return absl::DeadlineExceededError(
          absl::StrCat("udp receive ", name_, ": deadline exceeded"));
    }
  }
  Item item = std::move(queue_.front());
  queue_.pop_front();
  if (!item.error.ok()) return item.error;
  return std::move(item.datagram);
}

absl::StatusOr<loop::SocketAddress> UdpSocket::LocalAddress() const {
  if (IsClosed()) {
    return absl::FailedPreconditionError(
        absl::StrCat("local address ", name_, ": socket closed"));
  }
  return udp_->SockName();
}

absl::StatusOr<loop::SocketAddress> UdpSocket::PeerAddress() const {
  if (IsClosed()) {
    return absl::FailedPreconditionError(
        absl::StrCat("peer address ", name_, ": socket closed"));
  }
  return udp_->PeerName();
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
