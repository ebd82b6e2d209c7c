// loop/address.h: SocketAddress, an IPv4 or IPv6 address and port.
//
//   absl::StatusOr<evergreen::loop::SocketAddress> a =
//       evergreen::loop::SocketAddress::Parse("127.0.0.1", 8080);
//   a->ToString();  // "127.0.0.1:8080"; IPv6 prints as "[::1]:8080"
//
// A value type, thread-compatible.
#ifndef EVERGREEN_LOOP_ADDRESS_H_
#define EVERGREEN_LOOP_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evergreen {
namespace loop {

class SocketAddress {
 public:
  // An unspecified address (family AF_UNSPEC); ToString() is "(unspecified)".
  SocketAddress();

  // Parse reads a numeric IPv4 or IPv6 address (no DNS; "::1", "10.0.0.1",
  // "fe80::1%eth0"). InvalidArgument ("parse address \"x\": EINVAL ...")
  // otherwise.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view ip,
                                             uint16_t port);
  // FromSockaddr copies an AF_INET or AF_INET6 sockaddr; InvalidArgument for
  // other families or a too short length.
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* addr,
                                                    socklen_t len);

  // family returns AF_INET, AF_INET6 or AF_UNSPEC.
  int family() const { return storage_.ss_family; }
  // Ip returns the address without the port ("127.0.0.1", "::1").
  std::string Ip() const;
  uint16_t port() const;
  // ToString returns "ip:port", "[ip6]:port".
  std::string ToString() const;

  const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t length() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.ToString() == b.ToString();
  }
  friend bool operator!=(const SocketAddress& a, const SocketAddress& b) {
    return !(a == b);
  }

 private:
  sockaddr_storage storage_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_ADDRESS_H_
