// loop/dns.h: asynchronous, cancellable name resolution on libuv's thread
// pool (uv_getaddrinfo, uv_getnameinfo).
//
//   evergreen::loop::Loop loop;
//   evergreen::loop::AddrInfoHints hints;
//   hints.socktype = SOCK_STREAM;
//   auto req = evergreen::loop::dns::GetAddrInfo(
//       loop, "localhost", "8080", hints,
//       [](evergreen::loop::GetAddrInfoRequest& r) {
//         if (!r.status().ok()) return;  // e.g. NotFound for an unknown name
//         for (const evergreen::loop::AddrInfo& ai : r.results()) {
//           Connect(ai.address);  // 127.0.0.1:8080, ...
//         }
//       });
//   loop.Run();
//
// Requests follow loop/request.h: the callback runs exactly once on the loop
// thread; the caller may drop the returned pointer; Cancel() works while the
// lookup waits in the pool's queue (a lookup already running cannot be
// interrupted: the system resolver decides how long it takes). Lookups use
// the system resolver (nsswitch: /etc/hosts, DNS...), so a name that needs
// an unreachable DNS server takes the resolver's timeouts to fail.
#ifndef EVERGREEN_LOOP_DNS_H_
#define EVERGREEN_LOOP_DNS_H_

#include <netdb.h>
#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/request.h"

namespace evergreen {
namespace loop {

// AddrInfoHints narrows a lookup, as getaddrinfo's hints do. The defaults
// ask for every family and socket type with no flags (unlike a null hints
// pointer to getaddrinfo, which means AI_V4MAPPED | AI_ADDRCONFIG).
struct AddrInfoHints {
  int family = AF_UNSPEC;  // AF_INET, AF_INET6 or AF_UNSPEC
  int socktype = 0;        // SOCK_STREAM, SOCK_DGRAM... 0 for any
  int protocol = 0;        // IPPROTO_TCP... 0 for any
  int flags = 0;           // AI_NUMERICHOST, AI_CANONNAME, AI_PASSIVE...
};

// AddrInfo is one result of a lookup.
struct AddrInfo {
  SocketAddress address;  // with the service's port (0 without a service)
  int socktype = 0;
  int protocol = 0;
  // The canonical name, with AI_CANONNAME; glibc sets it on the first
  // result only. Empty otherwise.
  std::string canonical_name;
};

class GetAddrInfoRequest;
class GetNameInfoRequest;

namespace dns {

// GetAddrInfo resolves `host` and/or `service` (either may be empty, not
// both) on the thread pool, then calls `cb` on the loop thread with the
// request: status() and results(). Failures in the callback: NotFound
// ("getaddrinfo nope.invalid: EAI_NONAME (unknown node or service)") for an
// unknown name, Unavailable (EAI_AGAIN) when the resolver could not answer,
// Cancelled (EAI_CANCELED) after Cancel(), Unknown for other EAI_* codes
// (EAI_FAMILY for a bad hints.family...). An exception from `cb` goes to the
// loop's exception handler.
//
// Returns the request, or InvalidArgument ("getaddrinfo <host>: EINVAL
// ...") at once for an empty `cb`, a NUL byte in `host` or `service`, both
// empty, or a host name libuv cannot convert to ASCII (bad UTF-8, longer
// than 255 bytes). Loop thread only.
absl::StatusOr<std::shared_ptr<GetAddrInfoRequest>> GetAddrInfo(
    Loop& loop, absl::string_view host, absl::string_view service,
    const AddrInfoHints& hints, std::function<void(GetAddrInfoRequest&)> cb);

// GetNameInfo looks up the host and service names of `address` (an IPv4 or
// IPv6 SocketAddress) on the thread pool, `flags` being getnameinfo's NI_*
// flags (NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD...), then calls `cb` on
// the loop thread. Failures in the callback: NotFound (EAI_NONAME, e.g.
// NI_NAMEREQD with no name), Cancelled, Unknown for other EAI_* codes.
//
// Returns the request, or InvalidArgument ("getnameinfo (unspecified):
// EINVAL ...") at once for an empty `cb` or an address that is neither IPv4
// nor IPv6. Loop thread only.
absl::StatusOr<std::shared_ptr<GetNameInfoRequest>> GetNameInfo(
    Loop& loop, const SocketAddress& address, int flags,
    std::function<void(GetNameInfoRequest&)> cb);

}  // namespace dns

// GetAddrInfoRequest is one getaddrinfo lookup (dns::GetAddrInfo). Its
// accessors are loop thread only and meaningful once the callback runs.
class GetAddrInfoRequest final : public Request {
 public:
  using Callback = std::function<void(GetAddrInfoRequest&)>;

  // status is OK, or the failure described at dns::GetAddrInfo.
  const absl::Status& status() const { return status_; }
  // results are the addresses found, in the resolver's order; empty on
  // failure. Results of a family other than IPv4 and IPv6 are skipped.
  const std::vector<AddrInfo>& results() const { return results_; }
  // host and service are the names looked up.
  const std::string& host() const { return host_; }
  const std::string& service() const { return service_; }

 private:
  friend absl::StatusOr<std::shared_ptr<GetAddrInfoRequest>> dns::GetAddrInfo(
      Loop&, absl::string_view, absl::string_view, const AddrInfoHints&,
      Callback);
  GetAddrInfoRequest(Loop& loop, std::string host, std::string service,
                     Callback cb);
  static void OnDone(uv_getaddrinfo_t* raw, int status, addrinfo* res);

  uv_getaddrinfo_t req_;
  std::string host_;
  std::string service_;
  std::string operation_;
  Callback cb_;
  absl::Status status_;
  std::vector<AddrInfo> results_;
};

// GetNameInfoRequest is one getnameinfo lookup (dns::GetNameInfo). Its
// accessors are loop thread only and meaningful once the callback runs.
class GetNameInfoRequest final : public Request {
 public:
  using Callback = std::function<void(GetNameInfoRequest&)>;

  // status is OK, or the failure described at dns::GetNameInfo.
  const absl::Status& status() const { return status_; }
  // host and service are the names found ("localhost", "http"; numeric with
  // NI_NUMERICHOST / NI_NUMERICSERV); empty on failure.
  const std::string& host() const { return host_; }
  const std::string& service() const { return service_; }
  // address is the address looked up.
  const SocketAddress& address() const { return address_; }

 private:
  friend absl::StatusOr<std::shared_ptr<GetNameInfoRequest>> dns::GetNameInfo(
      Loop&, const SocketAddress&, int, Callback);
  GetNameInfoRequest(Loop& loop, const SocketAddress& address, Callback cb);
  static void OnDone(uv_getnameinfo_t* raw, int status, const char* host,
                     const char* service);

  uv_getnameinfo_t req_;
  SocketAddress address_;
  std::string operation_;
  Callback cb_;
  absl::Status status_;
  std::string host_;
  std::string service_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_DNS_H_
