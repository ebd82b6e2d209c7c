#include "loop/address.h"

#include <netinet/in.h>

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace evergreen {
namespace loop {
namespace {

TEST(SocketAddressTest, ParsesIpv4AndIpv6) {
  absl::StatusOr<SocketAddress> v4 = SocketAddress::Parse("127.0.0.1", 8080);
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->Ip(), "127.0.0.1");
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_EQ(v4->ToString(), "127.0.0.1:8080");
  EXPECT_EQ(v4->length(), sizeof(sockaddr_in));

  absl::StatusOr<SocketAddress> v6 = SocketAddress::Parse("::1", 443);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->ToString(), "[::1]:443");
  EXPECT_EQ(v6->length(), sizeof(sockaddr_in6));
}

TEST(SocketAddressTest, RejectsBadInputWithAClearError) {
  for (absl::string_view bad :
       {"", "localhost", "256.0.0.1", "1.2.3", "::g", "1.2.3.4 "}) {
    absl::StatusOr<SocketAddress> a = SocketAddress::Parse(bad, 1);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find("parse address"), std::string::npos);
  }
  std::string with_nul("127.0.0.1\0x", 11);
  EXPECT_FALSE(SocketAddress::Parse(with_nul, 1).ok());
}

TEST(SocketAddressTest, RoundTripsThroughSockaddr) {
  SocketAddress a = *SocketAddress::Parse("10.1.2.3", 99);
  absl::StatusOr<SocketAddress> b =
      SocketAddress::FromSockaddr(a.sockaddr_ptr(), a.length());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a, *b);
  EXPECT_FALSE(SocketAddress::FromSockaddr(a.sockaddr_ptr(), 4).ok());
  EXPECT_FALSE(SocketAddress::FromSockaddr(nullptr, 0).ok());
  EXPECT_EQ(SocketAddress().ToString(), "(unspecified)");
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
