#include "loop/address.h"

#include <net/if.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

SocketAddress::SocketAddress() {
  std::memset(&storage_, 0, sizeof(storage_));
  storage_.ss_family = AF_UNSPEC;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view ip,
                                                   uint16_t port) {
  std::string text(ip);
  std::string op = absl::StrCat("parse address \"", absl::CEscape(ip), "\"");
  if (text.size() != ip.size() || text.find('\0') != std::string::npos) {
    return UvStatus(UV_EINVAL, op);
  }
  SocketAddress a;
  if (text.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (uv_ip4_addr(text.c_str(), port, in) != 0) {
      return UvStatus(UV_EINVAL, op);
    }
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (uv_ip6_addr(text.c_str(), port, in6) != 0) {
      return UvStatus(UV_EINVAL, op);
    }
  }
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* addr,
                                                          socklen_t len) {
  SocketAddress a;
  if (addr == nullptr) return UvStatus(UV_EINVAL, "socket address");
  if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    std::memcpy(&a.storage_, addr, sizeof(sockaddr_in));
  } else if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    std::memcpy(&a.storage_, addr, sizeof(sockaddr_in6));
  } else {
    return UvStatus(UV_EAFNOSUPPORT, "socket address");
  }
  return a;
}

std::string SocketAddress::Ip() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  if (family() == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&storage_), buf,
                sizeof(buf));
  } else if (family() == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&storage_), buf,
                sizeof(buf));
  } else {
    return "";
  }
  return buf;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET) return absl::StrCat(Ip(), ":", port());
  if (family() == AF_INET6) return absl::StrCat("[", Ip(), "]:", port());
  return "(unspecified)";
}

socklen_t SocketAddress::length() const {
  if (family() == AF_INET) return sizeof(sockaddr_in);
  if (family() == AF_INET6) return sizeof(sockaddr_in6);
  return 0;
}

}  // namespace loop
}  // namespace evergreen
