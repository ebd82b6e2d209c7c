#include "runtime/io/udp.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/io/test_util.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

TEST(UdpTest, PingPongConnectedAndUnconnected) {
  auto el = NewLoop();
  std::string got_ping, got_pong;
  bool sender_ok = false, reply_from_server = false;
  absl::Status server_peer;
  RunTask(*el, [&] {
    auto server = UdpSocket::Bind("127.0.0.1", 0);
    ASSERT_TRUE(server.ok()) << server.status();
    loop::SocketAddress server_addr = *(*server)->LocalAddress();
    auto client = UdpSocket::Connect(server_addr);
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(*(*client)->PeerAddress(), server_addr);
    server_peer = (*server)->PeerAddress().status();
    ASSERT_TRUE((*client)->Send("ping").ok());
    auto d = (*server)->Receive(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(d.ok()) << d.status();
    got_ping = d->data;
    sender_ok = d->sender == *(*client)->LocalAddress();
    EXPECT_FALSE(d->truncated);
    ASSERT_TRUE((*server)->SendTo("pong", d->sender).ok());
    auto r = (*client)->Receive(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(r.ok()) << r.status();
    got_pong = r->data;
    reply_from_server = r->sender == server_addr;
  });
  EXPECT_EQ(got_ping, "ping");
  EXPECT_EQ(got_pong, "pong");
  EXPECT_TRUE(sender_ok);
  EXPECT_TRUE(reply_from_server);
  EXPECT_FALSE(server_peer.ok());
  EXPECT_EQ(OpenHandles(*el, "udp"), 0);
}

TEST(UdpTest, ConnectedToAClosedPortIsRefused) {
  auto el = NewLoop();
  absl::Status refused;
  std::string name;
  RunTask(*el, [&] {
    loop::SocketAddress closed_addr;
    {
      auto gone = UdpSocket::Bind("127.0.0.1", 0);
      ASSERT_TRUE(gone.ok());
      closed_addr = *(*gone)->LocalAddress();
    }
    auto client = UdpSocket::Connect(closed_addr);
    ASSERT_TRUE(client.ok()) << client.status();
    name = (*client)->LocalAddress()->ToString();
    ASSERT_TRUE((*client)->Send("anyone?").ok());
    refused = (*client)->Receive(Deadline::After(absl::Seconds(5))).status();
  });
  EXPECT_EQ(refused.message(),
            "udp receive " + name + ": ECONNREFUSED (connection refused)");
}

TEST(UdpTest, BadSends) {
  auto el = NewLoop();
  absl::Status too_big, connected_send_to, unconnected_send;
  RunTask(*el, [&] {
    auto a = UdpSocket::Bind("127.0.0.1", 0);
    ASSERT_TRUE(a.ok());
    auto to = *(*a)->LocalAddress();
    too_big = (*a)->SendTo(std::string(70000, 'x'), to);
    unconnected_send = (*a)->Send("x");
    auto c = UdpSocket::Connect(to);
    ASSERT_TRUE(c.ok());
    connected_send_to = (*c)->SendTo("x", to);
  });
  EXPECT_TRUE(absl::StrContains(too_big.message(), "EMSGSIZE")) << too_big;
  EXPECT_TRUE(absl::StartsWith(too_big.message(), "udp send 127.0.0.1:"))
      << too_big;
  EXPECT_TRUE(absl::StrContains(unconnected_send.message(), "EDESTADDRREQ"))
      << unconnected_send;
  EXPECT_TRUE(absl::StrContains(connected_send_to.message(), "EISCONN"))
      << connected_send_to;
}

TEST(UdpTest, SlowReceiverBoundsTheQueueAndLosesNothingTheKernelKept) {
  auto el = NewLoop();
  constexpr int kCount = 50;
  UdpSocketOptions options;
  options.max_queued = 4;
  std::vector<std::string> got;
  size_t queued_when_stopped = 0;
  RunTask(*el, [&] {
    auto rx = UdpSocket::Bind("127.0.0.1", 0, options);
    ASSERT_TRUE(rx.ok());
    auto tx = UdpSocket::Connect(*(*rx)->LocalAddress());
    ASSERT_TRUE(tx.ok());
    for (int i = 0; i < kCount; ++i) {
      ASSERT_TRUE((*tx)->Send(absl::StrCat("datagram ", i)).ok());
    }
    auto first = (*rx)->Receive();
    ASSERT_TRUE(first.ok()) << first.status();
    got.push_back(first->data);
    // Reading goes on in the background only until the queue is full.
    for (int i = 0; i < 1000 && (*rx)->handle().IsReceiving(); ++i) {
      ASSERT_TRUE(Sleep(absl::Milliseconds(1)).ok());
    }
    EXPECT_FALSE((*rx)->handle().IsReceiving());
    queued_when_stopped = (*rx)->Queued();
    while (got.size() < kCount) {
      auto d = (*rx)->Receive(Deadline::After(absl::Seconds(5)));
      ASSERT_TRUE(d.ok()) << d.status();
      got.push_back(d->data);
    }
  });
  // The queue filled to its bound (the 50 were in the kernel before the
  // first Receive), which then took one.
  EXPECT_EQ(queued_when_stopped, options.max_queued - 1);
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(got[i], absl::StrCat("datagram ", i));
  }
}

TEST(UdpCancelTest, ReceiveDeadlineTimeoutAndKillStopReceiving) {
  auto el = NewLoop();
  absl::Status deadline, scope;
  bool receiving_after_kill = true;
  std::string later;
  std::string name;
  RunTask(*el, [&] {
    auto rx = UdpSocket::Bind("127.0.0.1", 0);
    ASSERT_TRUE(rx.ok());
    name = (*rx)->LocalAddress()->ToString();
    deadline = (*rx)->Receive(Deadline::After(absl::Milliseconds(10))).status();
    EXPECT_FALSE((*rx)->handle().IsReceiving());
    scope =
        WithTimeout(absl::Milliseconds(10), [&] { (void)(*rx)->Receive(); });
    EXPECT_FALSE((*rx)->handle().IsReceiving());
    auto victim = Task::Spawn([&] { (void)(*rx)->Receive(); });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*victim)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*victim)->Kill().ok());
    receiving_after_kill = (*rx)->handle().IsReceiving();
    // The socket still works.
    auto tx = UdpSocket::Connect(*(*rx)->LocalAddress());
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Send("after").ok());
    auto d = (*rx)->Receive(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(d.ok()) << d.status();
    later = d->data;
  });
  EXPECT_EQ(deadline.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(deadline.message(), "udp receive " + name + ": deadline exceeded");
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(receiving_after_kill);
  EXPECT_EQ(later, "after");
}

TEST(UdpCancelTest, CloseWakesTheReceiverSecondReceiverRejected) {
  auto el = NewLoop();
  absl::Status woken, second, outside;
  RunTask(*el, [&] {
    auto rx = UdpSocket::Bind("127.0.0.1", 0);
    ASSERT_TRUE(rx.ok());
    auto receiver = Task::Spawn([&] { woken = (*rx)->Receive().status(); });
    ASSERT_TRUE(receiver.ok());
    ASSERT_TRUE(Yield().ok());
    second = (*rx)->Receive().status();
    (*rx)->Close();
    ASSERT_TRUE((*receiver)->Join().ok());
  });
  auto rx = UdpSocket::Bind("127.0.0.1", 0);
  ASSERT_TRUE(rx.ok());
  outside = (*rx)->Receive().status();
  EXPECT_EQ(woken.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::EndsWith(woken.message(), ": socket closed")) << woken;
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(second.message(), "already receiving"))
      << second;
  EXPECT_TRUE(absl::EndsWith(outside.message(), ": not in a task")) << outside;
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
