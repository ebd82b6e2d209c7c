#include "runtime/io/dns.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

using testing::CountersDelta;
using testing::NewLoop;
using testing::PoolBlocker;
using testing::RunTask;

bool Contains(const std::vector<loop::SocketAddress>& v, const std::string& s) {
  return std::any_of(v.begin(), v.end(), [&](const loop::SocketAddress& a) {
    return a.ToString() == s;
  });
}

TEST(ResolveTest, LocalhostResolvesWithThePort) {
  auto el = NewLoop();
  int checked = 0;
  RunTask(*el, [&] {
    ResolveOptions o;
    o.family = AF_INET;
    absl::StatusOr<std::vector<loop::SocketAddress>> a =
        Resolve("localhost", 8080, o);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE(Contains(*a, "127.0.0.1:8080"));
    for (const loop::SocketAddress& addr : *a) {
      EXPECT_EQ(addr.family(), AF_INET);
      // No duplicates.
      EXPECT_EQ(std::count(a->begin(), a->end(), addr), 1);
    }
    absl::StatusOr<std::vector<loop::SocketAddress>> svc =
        ResolveService("localhost", "http", o);
    ASSERT_TRUE(svc.ok()) << svc.status();
    EXPECT_TRUE(Contains(*svc, "127.0.0.1:80"));
    ++checked;
  });
  EXPECT_EQ(checked, 1);
}

TEST(ResolveTest, NumericHostsNeedNoTaskNamesDo) {
  auto el = NewLoop();
  auto v4 = Resolve("127.0.0.1", 80);
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].ToString(), "127.0.0.1:80");
  auto v6 = Resolve("::1", 443);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ((*v6)[0].ToString(), "[::1]:443");
  ResolveOptions only6;
  only6.family = AF_INET6;
  EXPECT_EQ(Resolve("127.0.0.1", 80, only6).status().code(),
            absl::StatusCode::kNotFound);
  auto name = Resolve("localhost", 80);
  EXPECT_EQ(name.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(name.status().message(), "resolve localhost: not in a task");
}

TEST(ResolveTest, UnknownNameIsNotFound) {
  auto el = NewLoop();
  absl::Status numeric;
  RunTask(*el, [&] {
    // AI_NUMERICHOST keeps the failure local and deterministic: the lookup
    // still runs through getaddrinfo on libuv's thread pool, but no DNS
    // server is asked (one that times out would make the test depend on the
    // network this runs in).
    ResolveOptions o;
    o.flags = AI_NUMERICHOST;
    numeric = Resolve("nope.invalid", 80, o).status();
  });
  EXPECT_EQ(numeric.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(numeric.message(),
            "resolve nope.invalid: EAI_NONAME (unknown node or service)");
}

TEST(ResolveTest, BadInputIsInvalidArgument) {
  auto el = NewLoop();
  absl::Status nul;
  RunTask(*el,
          [&] { nul = Resolve(std::string("local\0host", 10), 80).status(); });
  EXPECT_EQ(nul.code(), absl::StatusCode::kInvalidArgument) << nul;
}

TEST(ReverseLookupTest, LoopbackAddress) {
  auto el = NewLoop();
  absl::StatusOr<NameInfo> numeric = absl::UnknownError("not run");
  absl::StatusOr<NameInfo> named = absl::UnknownError("not run");
  RunTask(*el, [&] {
    loop::SocketAddress a = *loop::SocketAddress::Parse("127.0.0.1", 80);
    numeric = ReverseLookup(a, NI_NUMERICHOST | NI_NUMERICSERV);
    named = ReverseLookup(a, NI_NUMERICSERV);
  });
  ASSERT_TRUE(numeric.ok()) << numeric.status();
  EXPECT_EQ(numeric->host, "127.0.0.1");
  EXPECT_EQ(numeric->service, "80");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_FALSE(named->host.empty());  // "localhost" from /etc/hosts
  EXPECT_EQ(named->service, "80");
  absl::Status bad;
  auto el2 = std::move(el);
  RunTask(*el2, [&] { bad = ReverseLookup(loop::SocketAddress()).status(); });
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
}

TEST(ResolveTest, DeadlineCancelsTheQueuedLookup) {
  auto el = NewLoop();
  CountersDelta counters;
  PoolBlocker blocker(el->io());
  ASSERT_TRUE(blocker.WaitAllRunning());
  absl::Status s;
  RunTask(*el, [&] {
    ResolveOptions o;
    o.deadline = Deadline::After(absl::Milliseconds(20));
    s = Resolve("localhost", 80, o).status();
    EXPECT_EQ(counters.abandoned(), 1u);
    blocker.Release();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "resolve localhost: deadline exceeded");
  // The request was cancelled in the queue; its callback ran, ignored.
  EXPECT_EQ(counters.late_callbacks(), 1u);
  EXPECT_EQ(counters.cancelled(), 1u);
}

TEST(ResolveTest, KillDuringLookupCancelsIt) {
  auto el = NewLoop();
  CountersDelta counters;
  PoolBlocker blocker(el->io());
  ASSERT_TRUE(blocker.WaitAllRunning());
  int unwound = 0;
  bool returned = false;
  struct Marker {
    int* n;
    ~Marker() { ++*n; }
  };
  auto resolver = Task::Spawn([&] {
    Marker m{&unwound};
    (void)Resolve("localhost", 80);
    returned = true;
  });
  ASSERT_TRUE(resolver.ok());
  RunTask(*el, [&] {
    while ((*resolver)->state() != Task::State::kBlocked)
      ASSERT_TRUE(Yield().ok());
    ASSERT_TRUE((*resolver)->Kill().ok());
    EXPECT_EQ(counters.abandoned(), 1u);
    blocker.Release();
  });
  EXPECT_TRUE((*resolver)->killed());
  EXPECT_FALSE(returned);
  EXPECT_EQ(unwound, 1);
  EXPECT_EQ(counters.late_callbacks(), 1u);
  EXPECT_EQ(counters.cancelled(), 1u);
}

TEST(ReverseLookupTest, TimeoutScopeCancelsIt) {
  auto el = NewLoop();
  CountersDelta counters;
  PoolBlocker blocker(el->io());
  ASSERT_TRUE(blocker.WaitAllRunning());
  absl::Status scope;
  bool returned = false;
  RunTask(*el, [&] {
    scope = WithTimeout(absl::Milliseconds(20), [&] {
      (void)ReverseLookup(*loop::SocketAddress::Parse("127.0.0.1", 80));
      returned = true;
    });
    blocker.Release();
  });
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded) << scope;
  EXPECT_FALSE(returned);
  EXPECT_EQ(counters.abandoned(), 1u);
  EXPECT_EQ(counters.late_callbacks(), 1u);
  EXPECT_EQ(counters.cancelled(), 1u);
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
