#include "loop/udp.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// Watchdog fails the test and stops the loop if it runs for more than 10 s;
// unreferenced, so it never keeps the loop alive by itself.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> t = Timer::Create(loop);
  EXPECT_TRUE(t->Start(10'000, 0, [&loop](Timer&) {
                 ADD_FAILURE() << "watchdog: the test hung";
                 loop.Stop();
               }).ok());
  t->Unref();
  return t;
}

SocketAddress Loopback(uint16_t port) {
  return *SocketAddress::Parse("127.0.0.1", port);
}

// Bound returns a Udp bound to 127.0.0.1 on a port the kernel picks.
HandlePtr<Udp> Bound(Loop& loop, UdpOptions options = {}) {
  absl::StatusOr<HandlePtr<Udp>> udp = Udp::Create(loop, options);
  EXPECT_TRUE(udp.ok()) << udp.status();
  if (!udp.ok()) return nullptr;
  absl::Status s = (*udp)->Bind(Loopback(0));
  EXPECT_TRUE(s.ok()) << s;
  return std::move(*udp);
}

SocketAddress NameOf(const Udp& udp) {
  absl::StatusOr<SocketAddress> a = udp.SockName();
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : SocketAddress();
}

struct Received {
  std::string data;
  SocketAddress sender;
  bool truncated;
};

TEST(UdpTest, SendAndReceiveBetweenTwoHandles) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress a_addr = NameOf(*a);
  SocketAddress b_addr = NameOf(*b);
  EXPECT_EQ(a_addr.Ip(), "127.0.0.1");
  EXPECT_NE(a_addr.port(), 0);
  EXPECT_EQ(a->TypeName(), "udp");
  absl::StatusOr<int> fd = a->Fileno();
  EXPECT_TRUE(fd.ok()) << fd.status();

  std::vector<Received> got;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.push_back({std::string(d->data), d->sender, d->truncated});
                 if (got.size() == 3) {
                   ASSERT_TRUE(u.RecvStop().ok());
                   EXPECT_FALSE(u.IsReceiving());
                 }
               }).ok());
  EXPECT_TRUE(b->IsReceiving());
  int sent = 0;
  auto on_sent = [&](Udp& u, absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(&u, a.get());
    ++sent;
  };
  std::string payload = "hello";
  ASSERT_TRUE(a->Send(payload, b_addr, on_sent).ok());
  payload = "HELLO";  // the request holds its own copy
  ASSERT_TRUE(a->Send("", b_addr, on_sent).ok());  // an empty datagram
  ASSERT_TRUE(a->Send(std::string(1000, 'z'), b_addr, on_sent).ok());
  EXPECT_EQ(a->SendQueueCount(), 3u);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(sent, 3);
  EXPECT_EQ(a->SendQueueCount(), 0u);
  EXPECT_EQ(a->SendQueueSize(), 0u);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data, "hello");
  EXPECT_EQ(got[0].sender, a_addr);
  EXPECT_FALSE(got[0].truncated);
  EXPECT_EQ(got[1].data, "");
  EXPECT_EQ(got[1].sender, a_addr);
  EXPECT_EQ(got[2].data, std::string(1000, 'z'));
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, ConnectedMode) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress a_addr = NameOf(*a);
  SocketAddress b_addr = NameOf(*b);

  EXPECT_EQ(a->PeerName().status().message(),
            "udp peername: ENOTCONN (socket is not connected)");
  EXPECT_EQ(a->Send("x").message(),
            "udp send: EDESTADDRREQ (destination address required)");
  EXPECT_EQ(a->TrySend("x").status().message(),
            "udp try send: EDESTADDRREQ (destination address required)");
  EXPECT_EQ(a->Disconnect().message(),
            "udp disconnect: ENOTCONN (socket is not connected)");

  ASSERT_TRUE(a->Connect(b_addr).ok());
  absl::StatusOr<SocketAddress> peer = a->PeerName();
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(*peer, b_addr);
  EXPECT_EQ(a->Connect(b_addr).message(),
            absl::StrCat("udp connect ", b_addr.ToString(),
                         ": EISCONN (socket is already connected)"));
  int called = 0;
  absl::Status s = a->Send("x", b_addr, [&](Udp&, absl::Status) { ++called; });
  EXPECT_EQ(s.message(), absl::StrCat("udp send ", b_addr.ToString(),
                                      ": EISCONN (socket is already "
                                      "connected)"));
  EXPECT_FALSE(a->TrySend("x", b_addr).ok());

  std::vector<Received> got;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.push_back({std::string(d->data), d->sender, d->truncated});
                 (void)u.RecvStop();
               }).ok());
  int sent = 0;
  ASSERT_TRUE(a->Send("ping", [&](Udp&, absl::Status st) {
                 EXPECT_TRUE(st.ok()) << st;
                 ++sent;
               }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(called, 0);  // refused sends never call back
  EXPECT_EQ(sent, 1);
  // TrySend to the peer once the queue is empty.
  absl::StatusOr<size_t> n = a->TrySend("pong");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.push_back({std::string(d->data), d->sender, d->truncated});
                 (void)u.RecvStop();
               }).ok());
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, "ping");
  EXPECT_EQ(got[0].sender, a_addr);
  EXPECT_EQ(got[1].data, "pong");

  ASSERT_TRUE(a->Disconnect().ok());
  EXPECT_FALSE(a->PeerName().ok());
  EXPECT_EQ(a->Send("x").code(), a->TrySend("x").status().code());
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, TrySend) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress b_addr = NameOf(*b);
  absl::StatusOr<size_t> n = a->TrySend("abc", b_addr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  // A queued send (its callback has not run) makes TrySend refuse, which
  // keeps datagrams in order.
  int sent = 0;
  ASSERT_TRUE(a->Send("def", b_addr, [&](Udp&, absl::Status) { ++sent; }).ok());
  absl::StatusOr<size_t> refused = a->TrySend("ghi", b_addr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("udp try send ", b_addr.ToString(),
                         ": EAGAIN (resource temporarily unavailable)"));
  std::vector<std::string> got;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.emplace_back(d->data);
                 if (got.size() == 2) (void)u.Close();
               }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(got, (std::vector<std::string>{"abc", "def"}));
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, SmallAllocatorTruncates) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress b_addr = NameOf(*b);
  char small[4];
  int allocs = 0;
  size_t suggested_seen = 0;
  b->SetAllocator([&](size_t suggested) {
    ++allocs;
    suggested_seen = suggested;
    return absl::Span<char>(small, sizeof(small));
  });
  std::vector<Received> got;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.push_back({std::string(d->data), d->sender, d->truncated});
                 if (got.size() == 1) {
                   EXPECT_EQ(d->data.data(), small);
                   u.SetAllocator(nullptr);  // from the next datagram on
                 } else {
                   EXPECT_NE(d->data.data(), small);
                   (void)u.RecvStop();
                 }
               }).ok());
  ASSERT_TRUE(a->Send("hello world", b_addr).ok());
  ASSERT_TRUE(a->Send("hello world", b_addr).ok());
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, "hell");
  EXPECT_TRUE(got[0].truncated);
  EXPECT_EQ(got[1].data, "hello world");
  EXPECT_FALSE(got[1].truncated);
  EXPECT_GE(allocs, 1);
  EXPECT_EQ(suggested_seen, 64u * 1024);
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, EmptyOrThrowingAllocatorIsENOBUFS) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  b->SetAllocator([](size_t) { return absl::Span<char>(); });
  std::vector<absl::Status> errors;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_FALSE(d.ok());
                 errors.push_back(d.status());
                 (void)u.RecvStop();
               }).ok());
  ASSERT_TRUE(a->Send("x", NameOf(*b)).ok());
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message(),
            "udp recv: ENOBUFS (no buffer space available)");

  // A throwing allocator: the exception reaches Run, the receive fails.
  b->SetAllocator([](size_t) -> absl::Span<char> {
    throw std::runtime_error("no memory today");
  });
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_FALSE(d.ok());
                 errors.push_back(d.status());
                 (void)u.RecvStop();
               }).ok());
  EXPECT_THROW(loop.Run(), std::runtime_error);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[1].code(), errors[0].code());
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, Recvmmsg) {
  Loop loop;
  auto dog = Watchdog(loop);
  UdpOptions options;
  options.recvmmsg = true;
  auto b = Bound(loop, options);
  auto a = Bound(loop);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(b->UsingRecvmmsg());
  EXPECT_FALSE(a->UsingRecvmmsg());
  SocketAddress a_addr = NameOf(*a);
  SocketAddress b_addr = NameOf(*b);
  std::vector<Received> got;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok()) << d.status();
                 got.push_back({std::string(d->data), d->sender, d->truncated});
                 if (got.size() == 12) (void)u.Close();
               }).ok());
  for (int i = 0; i < 12; ++i) {  // more than one batch of 8
    ASSERT_TRUE(a->Send(i == 5 ? "" : absl::StrCat("d", i), b_addr).ok());
  }
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(got.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(got[i].data, i == 5 ? "" : absl::StrCat("d", i));
    EXPECT_EQ(got[i].sender, a_addr);
    EXPECT_FALSE(got[i].truncated);
  }
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, RecvmmsgNeedsAFullSlotFromTheAllocator) {
  Loop loop;
  auto dog = Watchdog(loop);
  UdpOptions options;
  options.recvmmsg = true;
  auto b = Bound(loop, options);
  auto a = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress b_addr = NameOf(*b);
  std::vector<char> small(1024);
  std::vector<char> big(2 * 64 * 1024);
  b->SetAllocator([&](size_t) { return absl::Span<char>(small); });
  std::vector<std::string> got;
  absl::Status error;
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 if (!d.ok()) {
                   // Too small for recvmmsg: refused, not an endless loop.
                   error = d.status();
                   u.SetAllocator(
                       [&](size_t) { return absl::Span<char>(big); });
                   return;
                 }
                 EXPECT_GE(d->data.data(), big.data());
                 EXPECT_LT(d->data.data(), big.data() + big.size());
                 got.emplace_back(d->data);
                 if (got.size() == 3) (void)u.Close();
               }).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->Send(absl::StrCat("m", i), b_addr).ok());
  }
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(error.message(), "udp recv: ENOBUFS (no buffer space available)");
  EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1", "m2"}));
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, HandlesOfOneLoopShareTheDefaultBuffer) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  auto c = Bound(loop);
  ASSERT_TRUE(a && b && c);
  std::vector<const char*> where;
  auto on_recv = [&](Udp& u, absl::StatusOr<Datagram> d) {
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->data, "x");
    where.push_back(d->data.data());
    (void)u.Close();
  };
  ASSERT_TRUE(b->RecvStart(on_recv).ok());
  ASSERT_TRUE(c->RecvStart(on_recv).ok());
  ASSERT_TRUE(a->Send("x", NameOf(*b)).ok());
  ASSERT_TRUE(a->Send("x", NameOf(*c)).ok());
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(where.size(), 2u);
  EXPECT_EQ(where[0], where[1]);
  // Another loop has a buffer of its own.
  {
    Loop other;
    auto d = Bound(other);
    auto e = Bound(other);
    ASSERT_TRUE(d && e);
    ASSERT_TRUE(e->RecvStart(on_recv).ok());
    ASSERT_TRUE(d->Send("x", NameOf(*e)).ok());
    EXPECT_FALSE(other.Run());
    ASSERT_EQ(where.size(), 3u);
    EXPECT_NE(where[2], where[0]);
    d.reset();
    e.reset();
    EXPECT_FALSE(other.Run());
    EXPECT_TRUE(other.Close().ok());
  }
  a.reset();
  b.reset();
  c.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, PendingSendsAreCancelledOnClose) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress b_addr = NameOf(*b);
  std::vector<absl::Status> results;
  auto on_sent = [&](Udp& u, absl::Status s) {
    EXPECT_TRUE(u.IsClosing());
    EXPECT_EQ(u.Send("again", b_addr).code(),
              absl::StatusCode::kFailedPrecondition);
    results.push_back(s);
  };
  // The first goes to the kernel at once (its callback is still due); the
  // second waits in libuv's queue behind it.
  ASSERT_TRUE(a->Send("one", b_addr, on_sent).ok());
  ASSERT_TRUE(a->Send("two", b_addr, on_sent).ok());
  EXPECT_EQ(a->SendQueueCount(), 2u);
  int closed = 0;
  ASSERT_TRUE(a->Close([&](Handle&) {
                 // Send callbacks run before the close callback.
                 EXPECT_EQ(results.size(), 2u);
                 ++closed;
               }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(closed, 1);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(results[1].code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(results[1].message(), "udp send: ECANCELED (operation canceled)");
  a.reset();
  b.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, PendingSendsCompleteWhenTheLoopIsDestroyed) {
  int called = 0;
  HandlePtr<Udp> survivor;
  {
    Loop loop;
    survivor = Bound(loop);
    ASSERT_TRUE(survivor);
    SocketAddress to = NameOf(*survivor);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(
          survivor->Send("x", to, [&](Udp&, absl::Status) { ++called; }).ok());
    }
  }
  EXPECT_EQ(called, 3);
  EXPECT_TRUE(survivor->IsClosing());
  EXPECT_EQ(survivor->Send("x", Loopback(9)).code(),
            absl::StatusCode::kFailedPrecondition);
  survivor.reset();
}

TEST(UdpTest, SocketOptionsOnABoundSocket) {
  Loop loop;
  auto udp = Bound(loop);
  ASSERT_TRUE(udp);
  EXPECT_TRUE(udp->SetBroadcast(true).ok());
  EXPECT_TRUE(udp->SetBroadcast(false).ok());
  EXPECT_TRUE(udp->SetTtl(64).ok());
  EXPECT_EQ(udp->SetTtl(0).message(),
            "udp set ttl 0: EINVAL (invalid argument)");
  EXPECT_EQ(udp->SetTtl(256).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(udp->SetMulticastTtl(4).ok());
  EXPECT_EQ(udp->SetMulticastTtl(300).message(),
            "udp set multicast ttl 300: EINVAL (invalid argument)");
  EXPECT_TRUE(udp->SetMulticastLoop(true).ok());
  EXPECT_TRUE(udp->SetMulticastLoop(false).ok());
  absl::Status iface = udp->SetMulticastInterface("127.0.0.1");
  EXPECT_TRUE(iface.ok()) << iface;
  EXPECT_TRUE(udp->SetMulticastInterface("").ok());
  EXPECT_EQ(udp->SetMulticastInterface("not an address").message(),
            "udp set multicast interface not an address: EINVAL (invalid "
            "argument)");
  EXPECT_EQ(udp->SetMulticastInterface(absl::string_view("1.2\0.3", 6)).code(),
            absl::StatusCode::kInvalidArgument);

  // Joining a group may be refused here (no multicast route on loopback in
  // a sandbox); either way a clear status, never a crash.
  absl::Status join =
      udp->SetMembership("239.255.0.1", "127.0.0.1", Membership::kJoin);
  if (join.ok()) {
    EXPECT_TRUE(
        udp->SetMembership("239.255.0.1", "127.0.0.1", Membership::kLeave)
            .ok());
  } else {
    EXPECT_TRUE(absl::StartsWith(join.message(),
                                 "udp join group 239.255.0.1 on 127.0.0.1: E"))
        << join;
  }
  EXPECT_EQ(udp->SetMembership("not-a-group", "", Membership::kJoin).message(),
            "udp join group not-a-group on (any interface): EINVAL (invalid "
            "argument)");
  EXPECT_EQ(
      udp->SetMembership("239.255.0.1", "bogus", Membership::kJoin).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      udp->SetMembership("239.255.0.1", "", static_cast<Membership>(7)).code(),
      absl::StatusCode::kInvalidArgument);
  // Leaving a group never joined: the kernel's error, as a status.
  EXPECT_FALSE(
      udp->SetMembership("239.255.0.2", "127.0.0.1", Membership::kLeave).ok());

  absl::StatusOr<int> snd = udp->SendBufferSize();
  ASSERT_TRUE(snd.ok()) << snd.status();
  EXPECT_GT(*snd, 0);
  ASSERT_TRUE(udp->SetSendBufferSize(64 * 1024).ok());
  snd = udp->SendBufferSize();
  ASSERT_TRUE(snd.ok());
  EXPECT_EQ(*snd, 2 * 64 * 1024);  // Linux doubles what was set
  ASSERT_TRUE(udp->SetRecvBufferSize(32 * 1024).ok());
  absl::StatusOr<int> rcv = udp->RecvBufferSize();
  ASSERT_TRUE(rcv.ok()) << rcv.status();
  EXPECT_EQ(*rcv, 2 * 32 * 1024);
  EXPECT_EQ(udp->SetSendBufferSize(0).message(),
            "udp set send buffer size 0: EINVAL (invalid argument)");
  EXPECT_EQ(udp->SetRecvBufferSize(-5).code(),
            absl::StatusCode::kInvalidArgument);
  udp.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, SocketOptionsNeedTheSocket) {
  Loop loop;
  auto lazy = Udp::Create(loop);  // AF_UNSPEC: no socket yet
  ASSERT_TRUE(lazy.ok()) << lazy.status();
  EXPECT_EQ((*lazy)->SetTtl(10).message(),
            "udp set ttl 10: EBADF (bad file descriptor)");
  EXPECT_FALSE((*lazy)->SetBroadcast(true).ok());
  EXPECT_EQ((*lazy)->SockName().status().message(),
            "udp sockname: EBADF (bad file descriptor)");
  EXPECT_EQ((*lazy)->SendBufferSize().status().message(),
            "udp send buffer size: EBADF (bad file descriptor)");
  EXPECT_FALSE((*lazy)->Fileno().ok());

  UdpOptions v4;
  v4.family = AF_INET;
  auto eager = Udp::Create(loop, v4);  // the socket exists before Bind
  ASSERT_TRUE(eager.ok()) << eager.status();
  EXPECT_TRUE((*eager)->SetTtl(10).ok());
  EXPECT_TRUE((*eager)->SetBroadcast(true).ok());
  EXPECT_TRUE((*eager)->Fileno().ok());
  ASSERT_TRUE((*eager)->Bind(Loopback(0)).ok());
  EXPECT_NE(NameOf(**eager).port(), 0);
  lazy->reset();
  eager->reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, AddressFamilyErrors) {
  Loop loop;
  auto dog = Watchdog(loop);
  UdpOptions bad;
  bad.family = AF_UNIX;
  auto unix_udp = Udp::Create(loop, bad);
  ASSERT_FALSE(unix_udp.ok());
  EXPECT_EQ(unix_udp.status().message(),
            absl::StrCat("udp init: EINVAL (invalid argument); bad address "
                         "family ",
                         AF_UNIX));
  bad.family = 256 + AF_INET;  // would set libuv flag bits
  EXPECT_EQ(Udp::Create(loop, bad).status().code(),
            absl::StatusCode::kInvalidArgument);

  UdpOptions v4;
  v4.family = AF_INET;
  auto udp = Udp::Create(loop, v4);
  ASSERT_TRUE(udp.ok()) << udp.status();
  SocketAddress v6 = *SocketAddress::Parse("::1", 0);
  EXPECT_EQ((*udp)->Bind(v6).message(),
            "udp bind [::1]:0: EINVAL (invalid argument)");
  EXPECT_EQ((*udp)->Bind(SocketAddress()).message(),
            "udp bind (unspecified): EINVAL (invalid argument)");
  UdpBindOptions v6only;
  v6only.ipv6_only = true;
  EXPECT_EQ((*udp)->Bind(Loopback(0), v6only).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*udp)->Bind(Loopback(0)).ok());
  EXPECT_EQ((*udp)->Bind(Loopback(0)).code(),
            absl::StatusCode::kInvalidArgument);  // bound already
  EXPECT_EQ((*udp)->Connect(SocketAddress()).message(),
            "udp connect (unspecified): EINVAL (invalid argument)");
  EXPECT_EQ((*udp)->Send("x", SocketAddress()).message(),
            "udp send (unspecified): EINVAL (invalid argument)");
  EXPECT_EQ((*udp)->TrySend("x", SocketAddress()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // An IPv6 destination from an IPv4 socket: at once for TrySend, through
  // the callback for Send.
  SocketAddress v6_dest = *SocketAddress::Parse("::1", 9);
  absl::StatusOr<size_t> tried = (*udp)->TrySend("x", v6_dest);
  ASSERT_FALSE(tried.ok());
  EXPECT_TRUE(
      absl::StartsWith(tried.status().message(), "udp try send [::1]:9: E"))
      << tried.status();
  absl::Status sent;
  int calls = 0;
  ASSERT_TRUE((*udp)
                  ->Send("x", v6_dest,
                         [&](Udp&, absl::Status s) {
                           ++calls;
                           sent = s;
                         })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(sent.ok());
  EXPECT_TRUE(absl::StartsWith(sent.message(), "udp send: E")) << sent;
  udp->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, Ipv6) {
  Loop loop;
  auto dog = Watchdog(loop);
  UdpOptions v6;
  v6.family = AF_INET6;
  // The test machines have IPv6 on the loopback (::1); a host without it
  // fails here with the reason, rather than skipping silently.
  auto a = Udp::Create(loop, v6);
  ASSERT_TRUE(a.ok()) << "IPv6 UDP socket: " << a.status();
  auto b = Udp::Create(loop);
  ASSERT_TRUE(b.ok()) << b.status();
  UdpBindOptions v6only;
  v6only.ipv6_only = true;
  absl::Status bound = (*a)->Bind(*SocketAddress::Parse("::1", 0), v6only);
  ASSERT_TRUE(bound.ok()) << "bind to [::1]: " << bound;
  // An IPv4 address on the IPv6 socket: the family does not match.
  EXPECT_EQ((*a)->Bind(Loopback(0)).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*b)->Bind(*SocketAddress::Parse("::1", 0)).ok());
  SocketAddress a_addr = NameOf(**a);
  EXPECT_EQ(a_addr.Ip(), "::1");
  EXPECT_TRUE((*a)->SetTtl(5).ok());
  EXPECT_TRUE((*a)->SetMulticastLoop(true).ok());
  Received got{"", SocketAddress(), true};
  ASSERT_TRUE((*a)->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                    ASSERT_TRUE(d.ok()) << d.status();
                    got = {std::string(d->data), d->sender, d->truncated};
                    (void)u.Close();
                  })
                  .ok());
  ASSERT_TRUE((*b)->Send("six", a_addr).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(got.data, "six");
  EXPECT_EQ(got.sender, NameOf(**b));
  EXPECT_EQ(got.sender.family(), AF_INET6);
  EXPECT_FALSE(got.truncated);
  a->reset();
  b->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, BindToAnAddressInUse) {
  Loop loop;
  auto a = Bound(loop);
  ASSERT_TRUE(a);
  SocketAddress taken = NameOf(*a);
  auto b = Udp::Create(loop);
  ASSERT_TRUE(b.ok());
  absl::Status s = (*b)->Bind(taken);
  EXPECT_EQ(s.message(), absl::StrCat("udp bind ", taken.ToString(),
                                      ": EADDRINUSE (address already in use)"));
  // With SO_REUSEADDR on both, two sockets share the port.
  UdpBindOptions reuse;
  reuse.reuse_addr = true;
  auto c = Udp::Create(loop);
  auto d = Udp::Create(loop);
  ASSERT_TRUE(c.ok() && d.ok());
  ASSERT_TRUE((*c)->Bind(Loopback(0), reuse).ok());
  SocketAddress shared = NameOf(**c);
  absl::Status shared_bind = (*d)->Bind(shared, reuse);
  EXPECT_TRUE(shared_bind.ok()) << shared_bind;
  EXPECT_EQ(NameOf(**d), shared);
  a.reset();
  b->reset();
  c->reset();
  d->reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, OpenAnExistingSocket) {
  Loop loop;
  auto dog = Watchdog(loop);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  auto udp = Udp::Create(loop);
  ASSERT_TRUE(udp.ok());
  ASSERT_TRUE((*udp)->Open(fd).ok());  // the handle owns fd now
  absl::StatusOr<int> fileno = (*udp)->Fileno();
  ASSERT_TRUE(fileno.ok());
  EXPECT_EQ(*fileno, fd);
  EXPECT_EQ(
      (*udp)->Open(fd).message(),
      absl::StrCat("udp open fd ", fd, ": EBUSY (resource busy or locked)"));
  ASSERT_TRUE((*udp)->Bind(Loopback(0)).ok());
  SocketAddress addr = NameOf(**udp);
  auto peer = Bound(loop);
  ASSERT_TRUE(peer);
  std::string got;
  ASSERT_TRUE((*udp)
                  ->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                    ASSERT_TRUE(d.ok());
                    got = std::string(d->data);
                    (void)u.Close();
                  })
                  .ok());
  ASSERT_TRUE(peer->Send("via open", addr).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(got, "via open");
  udp->reset();
  peer.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, OpenBadDescriptorsIsAnError) {
  Loop loop;
  auto udp = Udp::Create(loop);
  ASSERT_TRUE(udp.ok());
  EXPECT_EQ((*udp)->Open(-1).message(),
            "udp open fd -1: EBADF (bad file descriptor)");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ((*udp)->Open(fds[0]).message(),
            absl::StrCat("udp open fd ", fds[0],
                         ": ENOTSOCK (socket operation on non-socket)"));
  close(fds[1]);
  close(fds[0]);
  EXPECT_EQ(
      (*udp)->Open(fds[0]).message(),
      absl::StrCat("udp open fd ", fds[0], ": EBADF (bad file descriptor)"));
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(tcp, 0);
  EXPECT_EQ((*udp)->Open(tcp).message(),
            absl::StrCat("udp open fd ", tcp,
                         ": EINVAL (invalid argument); not a datagram "
                         "socket"));
  close(tcp);
  UdpOptions v4;
  v4.family = AF_INET;
  auto has_socket = Udp::Create(loop, v4);
  ASSERT_TRUE(has_socket.ok());
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_EQ((*has_socket)->Open(fd).code(),
            absl::StatusCode::kFailedPrecondition);  // EBUSY
  close(fd);                                         // refused: still ours
  udp->reset();
  has_socket->reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, EmptyCallbackAndClosedHandleAreErrors) {
  Loop loop;
  auto udp = Bound(loop);
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->RecvStart(nullptr).message(),
            "udp recv start: EINVAL (invalid argument)");
  EXPECT_FALSE(udp->IsReceiving());
  ASSERT_TRUE(udp->Close().ok());
  auto closing = [](absl::Status s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::EndsWith(s.message(), ": handle is closing")) << s;
  };
  SocketAddress to = Loopback(9);
  closing(udp->Open(3));
  closing(udp->Bind(to));
  closing(udp->Connect(to));
  closing(udp->Disconnect());
  closing(udp->Send("x", to));
  closing(udp->Send("x"));
  closing(udp->TrySend("x", to).status());
  closing(udp->TrySend("x").status());
  closing(udp->RecvStart([](Udp&, absl::StatusOr<Datagram>) {}));
  closing(udp->RecvStop());
  closing(udp->SockName().status());
  closing(udp->PeerName().status());
  closing(udp->SetMembership("239.255.0.1", "", Membership::kJoin));
  closing(udp->SetMulticastInterface(""));
  closing(udp->SetMulticastLoop(true));
  closing(udp->SetMulticastTtl(1));
  closing(udp->SetBroadcast(true));
  closing(udp->SetTtl(1));
  closing(udp->SendBufferSize().status());
  closing(udp->RecvBufferSize().status());
  closing(udp->SetSendBufferSize(1));
  closing(udp->SetRecvBufferSize(0));
  EXPECT_EQ(udp->Send("x", to).message(),
            "udp send 127.0.0.1:9: handle is closing");
  EXPECT_FALSE(loop.Run());
  udp.reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(UdpTest, StopRestartAndDropFromTheReceiveCallback) {
  Loop loop;
  auto dog = Watchdog(loop);
  auto a = Bound(loop);
  auto b = Bound(loop);
  ASSERT_TRUE(a && b);
  SocketAddress b_addr = NameOf(*b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->Send(absl::StrCat(i), b_addr).ok());
  }
  std::vector<std::string> got;
  // Stop after the first: the other two wait in the kernel.
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok());
                 got.emplace_back(d->data);
                 ASSERT_TRUE(u.RecvStop().ok());
               }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(got, std::vector<std::string>{"0"});
  // Restart; replace the callback from inside it; drop the owner from the
  // replacement: the third datagram is never delivered.
  ASSERT_TRUE(b->RecvStart([&](Udp& u, absl::StatusOr<Datagram> d) {
                 ASSERT_TRUE(d.ok());
                 got.push_back(absl::StrCat("first:", d->data));
                 ASSERT_TRUE(
                     u.RecvStart([&](Udp& u2, absl::StatusOr<Datagram> d2) {
                        ASSERT_TRUE(d2.ok());
                        got.push_back(absl::StrCat("second:", d2->data));
                        EXPECT_EQ(&u2, b.get());
                        b.reset();
                        EXPECT_TRUE(u2.IsClosing());
                      }).ok());
               }).ok());
  ASSERT_TRUE(a->Send("3", b_addr).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(got, (std::vector<std::string>{"0", "first:1", "second:2"}));
  EXPECT_EQ(b, nullptr);
  a.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
