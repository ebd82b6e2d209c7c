#include "runtime/io/dns.h"

#include <netdb.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "loop/dns.h"
#include "runtime/event_loop.h"
#include "runtime/io/internal/op.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

absl::StatusOr<std::vector<loop::SocketAddress>> Lookup(
    absl::string_view host, absl::string_view service,
    const ResolveOptions& options) {
  std::string op = absl::StrCat("resolve ", host.empty() ? service : host);
  // A numeric address needs no lookup (and no task).
  uint16_t port = 0;
  uint32_t parsed_port = 0;
  if (!host.empty() &&
      (service.empty() ||
       (absl::SimpleAtoi(service, &parsed_port) && parsed_port <= 65535))) {
    port = static_cast<uint16_t>(parsed_port);
    absl::StatusOr<loop::SocketAddress> numeric =
        loop::SocketAddress::Parse(host, port);
    if (numeric.ok()) {
      if (options.family != AF_UNSPEC && options.family != numeric->family()) {
        return absl::NotFoundError(
            absl::StrCat(op, ": not an address of the family asked for"));
      }
      return std::vector<loop::SocketAddress>{*numeric};
    }
  }
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  loop::AddrInfoHints hints;
  hints.family = options.family;
  hints.socktype = options.socktype;
  hints.flags = options.flags;
  std::string h(host);
  std::string s(service);
  loop::Loop& io = el->io();
  absl::StatusOr<std::shared_ptr<loop::GetAddrInfoRequest>> req =
      io_internal::AwaitRequest<loop::GetAddrInfoRequest>(
          op, options.deadline,
          [&](std::function<void(loop::GetAddrInfoRequest&)> cb) {
            return loop::dns::GetAddrInfo(io, h, s, hints, std::move(cb));
          });
  if (!req.ok()) return io_internal::Renamed(req.status(), op);
  if (!(*req)->status().ok()) return io_internal::Renamed((*req)->status(), op);
  std::vector<loop::SocketAddress> out;
  for (const loop::AddrInfo& ai : (*req)->results()) {
    if (std::find(out.begin(), out.end(), ai.address) == out.end()) {
      out.push_back(ai.address);
    }
  }
  if (out.empty()) {
    return absl::NotFoundError(
        absl::StrCat(op, ": no IPv4 or IPv6 address found"));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<loop::SocketAddress>> Resolve(
    absl::string_view host, uint16_t port, const ResolveOptions& options) {
  return Lookup(host, absl::StrCat(port), options);
}

absl::StatusOr<std::vector<loop::SocketAddress>> ResolveService(
    absl::string_view host, absl::string_view service,
    const ResolveOptions& options) {
  return Lookup(host, service, options);
}

absl::StatusOr<NameInfo> ReverseLookup(const loop::SocketAddress& address,
                                       int flags, Deadline deadline) {
  std::string op = absl::StrCat("reverse lookup ", address.ToString());
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  loop::Loop& io = el->io();
  absl::StatusOr<std::shared_ptr<loop::GetNameInfoRequest>> req =
      io_internal::AwaitRequest<loop::GetNameInfoRequest>(
          op, deadline, [&](std::function<void(loop::GetNameInfoRequest&)> cb) {
            return loop::dns::GetNameInfo(io, address, flags, std::move(cb));
          });
  if (!req.ok()) return io_internal::Renamed(req.status(), op);
  if (!(*req)->status().ok()) return io_internal::Renamed((*req)->status(), op);
  return NameInfo{(*req)->host(), (*req)->service()};
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
