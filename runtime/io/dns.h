// runtime/io/dns.h: name resolution that blocks only the calling task.
//
//   // In a task:
//   absl::StatusOr<std::vector<evergreen::loop::SocketAddress>> addrs =
//       evergreen::runtime::io::Resolve("localhost", 8080);
//   if (addrs.ok()) Connect(addrs->front());  // 127.0.0.1:8080, ...
//   absl::StatusOr<evergreen::runtime::io::NameInfo> name =
//       evergreen::runtime::io::ReverseLookup(addrs->front());
//   // name->host == "localhost"
//
// Lookups run getaddrinfo / getnameinfo on libuv's thread pool (through
// loop/dns.h), so they use the system resolver (/etc/hosts, DNS...). A
// numeric host ("127.0.0.1", "::1") is parsed at once without the pool.
//
// Cancellation: a kill, cancel scope or timeout that interrupts a lookup
// cancels its request if it still waits in the pool's queue; a lookup
// already running cannot be interrupted (the resolver decides how long it
// takes): it finishes in the background and its result is dropped. Either
// way the call unwinds at once. Loop thread only.
#ifndef EVERGREEN_RUNTIME_IO_DNS_H_
#define EVERGREEN_RUNTIME_IO_DNS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"
#include "runtime/deadline.h"

namespace evergreen {
namespace runtime {
namespace io {

// ResolveOptions narrow a lookup (getaddrinfo's hints) and bound it.
struct ResolveOptions {
  // AF_INET, AF_INET6 or AF_UNSPEC (both).
  int family = AF_UNSPEC;
  // The socket type asked for: SOCK_STREAM (TCP), SOCK_DGRAM (UDP), 0 for
  // any (then an address may come once per type; duplicates are removed).
  int socktype = SOCK_STREAM;
  // getaddrinfo's AI_* flags: AI_NUMERICHOST (no DNS), AI_PASSIVE (an empty
  // host means the wildcard address), AI_ADDRCONFIG...
  int flags = 0;
  // The lookup fails with DeadlineExceeded once this passes.
  Deadline deadline;
};

// Resolve returns the addresses of `host` with `port`, in the resolver's
// order, without duplicates. An empty host means the loopback address, or
// the wildcard address with AI_PASSIVE. Errors (the message names the
// host): NotFound "resolve nope.invalid: EAI_NONAME (unknown node or
// service)" for an unknown name, Unavailable (EAI_AGAIN) when the resolver
// could not answer, DeadlineExceeded "resolve <host>: deadline exceeded",
// InvalidArgument for a NUL byte or a bad family, FailedPrecondition
// "resolve <host>: not in a task" when a lookup would block outside a task
// (numeric hosts work anywhere). Throws when the task is killed or
// cancelled. Loop thread only.
absl::StatusOr<std::vector<loop::SocketAddress>> Resolve(
    absl::string_view host, uint16_t port, const ResolveOptions& options = {});

// ResolveService is Resolve with a service name or number ("http", "8080")
// instead of a port.
absl::StatusOr<std::vector<loop::SocketAddress>> ResolveService(
    absl::string_view host, absl::string_view service,
    const ResolveOptions& options = {});

// NameInfo is what ReverseLookup finds.
struct NameInfo {
  std::string host;     // "localhost"; numeric with NI_NUMERICHOST
  std::string service;  // "http"; numeric with NI_NUMERICSERV
};

// ReverseLookup returns the host and service names of `address`
// (getnameinfo with NI_* `flags`; NI_NAMEREQD makes a missing name an
// error). Errors: NotFound "reverse lookup 192.0.2.1:0: EAI_NONAME ...",
// InvalidArgument for an unspecified address, DeadlineExceeded,
// FailedPrecondition outside a task. Throws when the task is killed or
// cancelled. Loop thread only.
absl::StatusOr<NameInfo> ReverseLookup(const loop::SocketAddress& address,
                                       int flags = 0,
                                       Deadline deadline = Deadline::Never());

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_DNS_H_
