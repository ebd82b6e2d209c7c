#include "loop/dns.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/timer.h"
#include "loop/work.h"

namespace evergreen {
namespace loop {
namespace {

// The size of libuv's thread pool, computed as libuv 1.44 does.
int PoolSize() {
  const char* v = std::getenv("UV_THREADPOOL_SIZE");
  if (v == nullptr) return 4;
  int n = std::atoi(v);
  if (n == 0) return 1;
  if (n < 0 || n > 1024) return 1024;
  return n;
}

// Watchdog fails the test and stops the loop if it runs for 10 s. Unref'd:
// it does not keep the loop alive.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> timer = Timer::Create(loop);
  EXPECT_TRUE(timer
                  ->Start(10'000, 0,
                          [](Timer& t) {
                            ADD_FAILURE() << "watchdog: test took > 10 s";
                            t.loop().Stop();
                          })
                  .ok());
  timer->Unref();
  return timer;
}

// PoolBlocker occupies every thread of libuv's pool with a job that blocks
// until Release(), so that lookups started afterwards deterministically
// wait in the queue. Released at the latest by its destructor.
class PoolBlocker {
 public:
  explicit PoolBlocker(Loop& loop) : state_(std::make_shared<State>()) {
    for (int i = 0; i < PoolSize(); ++i) {
      std::shared_ptr<State> state = state_;
      absl::StatusOr<std::shared_ptr<WorkRequest>> req = Work::Queue(
          loop,
          [state] {
            std::unique_lock<std::mutex> lock(state->mu);
            ++state->running;
            state->cv.notify_all();
            state->cv.wait(lock, [&] { return state->released; });
          },
          [](WorkRequest& r) { EXPECT_TRUE(r.status().ok()) << r.status(); });
      EXPECT_TRUE(req.ok()) << req.status();
    }
  }
  ~PoolBlocker() { Release(); }

  // WaitAllRunning waits (10 s at most) until a blocker runs on every pool
  // thread.
  bool WaitAllRunning() {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->cv.wait_for(lock, std::chrono::seconds(10),
                               [&] { return state_->running == PoolSize(); });
  }
  // Release lets the blockers return.
  void Release() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->released = true;
    state_->cv.notify_all();
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int running = 0;
    bool released = false;
  };
  std::shared_ptr<State> state_;
};

TEST(GetAddrInfoTest, LocalhostResolves) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  AddrInfoHints hints;
  hints.family = AF_INET;
  hints.socktype = SOCK_STREAM;
  hints.flags = AI_NUMERICSERV | AI_CANONNAME;
  int calls = 0;
  absl::StatusOr<std::shared_ptr<GetAddrInfoRequest>> req = dns::GetAddrInfo(
      loop, "localhost", "8080", hints, [&](GetAddrInfoRequest& r) {
        ++calls;
        ASSERT_TRUE(r.status().ok()) << r.status();
        ASSERT_FALSE(r.results().empty());
        for (const AddrInfo& ai : r.results()) {
          EXPECT_EQ(ai.address.family(), AF_INET);
          EXPECT_EQ(ai.address.Ip().rfind("127.", 0), 0u) << ai.address.Ip();
          EXPECT_EQ(ai.address.port(), 8080);
          EXPECT_EQ(ai.socktype, SOCK_STREAM);
          EXPECT_EQ(ai.protocol, IPPROTO_TCP);
        }
        EXPECT_EQ(r.results()[0].canonical_name.rfind("localhost", 0), 0u)
            << r.results()[0].canonical_name;
      });
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ((*req)->TypeName(), "getaddrinfo");
  EXPECT_EQ((*req)->host(), "localhost");
  EXPECT_EQ((*req)->service(), "8080");
  EXPECT_TRUE((*req)->InFlight());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE((*req)->InFlight());
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(GetAddrInfoTest, NumericHostsResolveAndDroppedRequestsAreFreed) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  AddrInfoHints hints;
  hints.flags = AI_NUMERICHOST | AI_NUMERICSERV;
  int calls = 0;
  std::weak_ptr<GetAddrInfoRequest> weak4;
  std::weak_ptr<GetAddrInfoRequest> weak6;
  {
    auto v4 = dns::GetAddrInfo(
        loop, "127.0.0.1", "", hints, [&](GetAddrInfoRequest& r) {
          ++calls;
          ASSERT_TRUE(r.status().ok()) << r.status();
          ASSERT_FALSE(r.results().empty());
          for (const AddrInfo& ai : r.results()) {
            EXPECT_EQ(ai.address.ToString(), "127.0.0.1:0");
            EXPECT_TRUE(ai.canonical_name.empty());
          }
        });
    ASSERT_TRUE(v4.ok()) << v4.status();
    weak4 = *v4;
    auto v6 =
        dns::GetAddrInfo(loop, "::1", "443", hints, [&](GetAddrInfoRequest& r) {
          ++calls;
          ASSERT_TRUE(r.status().ok()) << r.status();
          ASSERT_FALSE(r.results().empty());
          for (const AddrInfo& ai : r.results()) {
            EXPECT_EQ(ai.address.family(), AF_INET6);
            EXPECT_EQ(ai.address.ToString(), "[::1]:443");
          }
        });
    ASSERT_TRUE(v6.ok()) << v6.status();
    weak6 = *v6;
  }
  EXPECT_FALSE(weak4.expired());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(weak4.expired());
  EXPECT_TRUE(weak6.expired());
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

// Resolving a name under .invalid through the system resolver may ask a DNS
// server, which can hang for the resolver's timeouts where the network is
// unreachable. AI_NUMERICHOST makes the failure local and immediate while
// still going through getaddrinfo's error path.
TEST(GetAddrInfoTest, UnknownNameFailsWithNotFound) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  AddrInfoHints hints;
  hints.flags = AI_NUMERICHOST;
  int calls = 0;
  auto req = dns::GetAddrInfo(
      loop, "nope.invalid", "", hints, [&](GetAddrInfoRequest& r) {
        ++calls;
        EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
        EXPECT_EQ(r.status().message(),
                  "getaddrinfo nope.invalid: EAI_NONAME (unknown node or "
                  "service)");
        EXPECT_TRUE(r.results().empty());
      });
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(GetAddrInfoTest, BadFamilyFailsInTheCallback) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  AddrInfoHints hints;
  hints.family = 12345;
  hints.flags = AI_NUMERICHOST;
  int calls = 0;
  auto req = dns::GetAddrInfo(
      loop, "127.0.0.1", "", hints, [&](GetAddrInfoRequest& r) {
        ++calls;
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
        EXPECT_EQ(r.status().message(),
                  "getaddrinfo 127.0.0.1: EAI_FAMILY (ai_family not "
                  "supported)");
        EXPECT_TRUE(r.results().empty());
      });
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(GetAddrInfoTest, BadInputIsRejectedAtOnce) {
  Loop loop;
  int calls = 0;
  auto cb = [&](GetAddrInfoRequest&) { ++calls; };
  AddrInfoHints hints;
  struct Case {
    std::string host;
    std::string service;
    std::string message;
  };
  const std::vector<Case> cases = {
      {std::string("a\0b", 3), "", "getaddrinfo a\\000b: EINVAL"},
      {"localhost", std::string("8\0", 2),
       "getaddrinfo localhost (service "
       "8\\000): EINVAL"},
      {"", "", "getaddrinfo: EINVAL"},
      {std::string(300, 'a'), "",
       "getaddrinfo " + std::string(300, 'a') + ": EINVAL"},
      {"\xff\xfe", "", "getaddrinfo \\377\\376: EINVAL"},
  };
  for (const Case& c : cases) {
    auto req = dns::GetAddrInfo(loop, c.host, c.service, hints, cb);
    ASSERT_FALSE(req.ok());
    EXPECT_EQ(req.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(req.status().message(), c.message + " (invalid argument)");
  }
  auto no_cb = dns::GetAddrInfo(loop, "localhost", "", hints, nullptr);
  EXPECT_EQ(no_cb.status().message(),
            "getaddrinfo localhost: EINVAL (invalid argument)");
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(loop.Close().ok());
}

TEST(DnsTest, CancelWhileQueued) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  PoolBlocker blocker(loop);
  ASSERT_TRUE(blocker.WaitAllRunning());
  int calls = 0;
  auto done = [&] {
    if (++calls == 2) blocker.Release();
  };
  auto addr = dns::GetAddrInfo(
      loop, "localhost", "", AddrInfoHints(), [&](GetAddrInfoRequest& r) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
        EXPECT_EQ(r.status().message(),
                  "getaddrinfo localhost: EAI_CANCELED (request canceled)");
        EXPECT_TRUE(r.results().empty());
        done();
      });
  ASSERT_TRUE(addr.ok()) << addr.status();
  absl::StatusOr<SocketAddress> local = SocketAddress::Parse("127.0.0.1", 80);
  ASSERT_TRUE(local.ok());
  auto name = dns::GetNameInfo(loop, *local, 0, [&](GetNameInfoRequest& r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(r.status().message(),
              "getnameinfo 127.0.0.1:80: EAI_CANCELED (request canceled)");
    EXPECT_TRUE(r.host().empty());
    EXPECT_TRUE(r.service().empty());
    done();
  });
  ASSERT_TRUE(name.ok()) << name.status();
  absl::Status s = (*addr)->Cancel();
  EXPECT_TRUE(s.ok()) << s;
  s = (*name)->Cancel();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ((*addr)->Cancel().message(),
            "getaddrinfo cancel: EBUSY (resource busy or locked)");
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(GetNameInfoTest, NumericHostAndService) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  absl::StatusOr<SocketAddress> v4 = SocketAddress::Parse("127.0.0.1", 80);
  absl::StatusOr<SocketAddress> v6 = SocketAddress::Parse("::1", 443);
  ASSERT_TRUE(v4.ok());
  ASSERT_TRUE(v6.ok());
  // The service name getnameinfo finds for port 80 (/etc/services), or the
  // number when the system has none.
  const servent* http = getservbyport(htons(80), "tcp");
  std::string expected_service = http != nullptr ? http->s_name : "80";
  int calls = 0;
  auto a =
      dns::GetNameInfo(loop, *v4, NI_NUMERICHOST, [&](GetNameInfoRequest& r) {
        ++calls;
        ASSERT_TRUE(r.status().ok()) << r.status();
        EXPECT_EQ(r.host(), "127.0.0.1");
        EXPECT_EQ(r.service(), expected_service);
        EXPECT_EQ(r.address(), *v4);
      });
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->TypeName(), "getnameinfo");
  auto b = dns::GetNameInfo(loop, *v4, NI_NUMERICHOST | NI_NUMERICSERV,
                            [&](GetNameInfoRequest& r) {
                              ++calls;
                              ASSERT_TRUE(r.status().ok()) << r.status();
                              EXPECT_EQ(r.host(), "127.0.0.1");
                              EXPECT_EQ(r.service(), "80");
                            });
  ASSERT_TRUE(b.ok()) << b.status();
  auto c = dns::GetNameInfo(loop, *v6, NI_NUMERICHOST | NI_NUMERICSERV,
                            [&](GetNameInfoRequest& r) {
                              ++calls;
                              ASSERT_TRUE(r.status().ok()) << r.status();
                              EXPECT_EQ(r.host(), "::1");
                              EXPECT_EQ(r.service(), "443");
                            });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 3);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(GetNameInfoTest, BadInputIsRejectedAtOnce) {
  Loop loop;
  int calls = 0;
  auto none = dns::GetNameInfo(loop, SocketAddress(), NI_NUMERICHOST,
                               [&](GetNameInfoRequest&) { ++calls; });
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(none.status().message(),
            "getnameinfo (unspecified): EINVAL (invalid argument)");
  absl::StatusOr<SocketAddress> v4 = SocketAddress::Parse("127.0.0.1", 80);
  ASSERT_TRUE(v4.ok());
  auto no_cb = dns::GetNameInfo(loop, *v4, NI_NUMERICHOST, nullptr);
  EXPECT_EQ(no_cb.status().message(),
            "getnameinfo 127.0.0.1:80: EINVAL (invalid argument)");
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(loop.Close().ok());
}

TEST(DnsTest, CallbackExceptionGoesToTheLoopHandler) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  AddrInfoHints hints;
  hints.flags = AI_NUMERICHOST;
  ASSERT_TRUE(
      dns::GetAddrInfo(loop, "127.0.0.1", "", hints, [](GetAddrInfoRequest&) {
        throw std::runtime_error("from callback");
      }).ok());
  EXPECT_THROW(loop.Run(), std::runtime_error);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
