// WaitForSignal and ShutdownOnSignals with real signals (raise).
#include "runtime/io/signal.h"

#include <signal.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/io/tcp.h"
#include "runtime/io/test_util.h"
#include "runtime/task.h"
#include "runtime/task_group.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

TEST(WaitForSignalTest, TwoTasksWaitingForTheSameSignalBothGetIt) {
  auto el = NewLoop();
  absl::StatusOr<int> a = absl::UnknownError("not run");
  absl::StatusOr<int> b = absl::UnknownError("not run");
  RunTask(*el, [&] {
    auto ta = Task::Spawn([&] { a = WaitForSignal({SIGUSR1, SIGUSR2}); });
    auto tb = Task::Spawn([&] {
      b = WaitForSignal({SIGUSR1}, Deadline::After(absl::Seconds(5)));
    });
    ASSERT_TRUE(ta.ok());
    ASSERT_TRUE(tb.ok());
    ASSERT_TRUE(Yield().ok());  // both wait now
    EXPECT_EQ(OpenHandles(*el, "signal") >= 3, true);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_TRUE((*ta)->Join().ok());
    ASSERT_TRUE((*tb)->Join().ok());
  });
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a, SIGUSR1);
  EXPECT_EQ(*b, SIGUSR1);
}

TEST(WaitForSignalTest, DeadlineKillAndCancelRemoveTheHandlers) {
  auto el = NewLoop();
  int before = OpenHandles(*el, "signal");
  absl::StatusOr<int> timed = 0;
  absl::Status scope_status, timeout_status;
  absl::StatusOr<int> after = absl::UnknownError("not run");
  int during = 0, after_kill = -1, after_scopes = -1;
  RunTask(*el, [&] {
    timed = WaitForSignal({SIGUSR1, SIGTERM},
                          Deadline::After(absl::Milliseconds(20)));
    EXPECT_EQ(OpenHandles(*el, "signal"), before);
    auto victim = Task::Spawn([&] { (void)WaitForSignal({SIGUSR2}); });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    during = OpenHandles(*el, "signal");
    ASSERT_TRUE((*victim)->Kill().ok());
    after_kill = OpenHandles(*el, "signal");
    timeout_status = WithTimeout(absl::Milliseconds(20),
                                 [&] { (void)WaitForSignal({SIGUSR2}); });
    CancelScope scope;
    auto canceller = Task::Spawn([&] { scope.Cancel(); });
    ASSERT_TRUE(canceller.ok());
    scope_status = scope.Run([&] { (void)WaitForSignal({SIGUSR2}); });
    after_scopes = OpenHandles(*el, "signal");
    // And a signal still arrives afterwards.
    auto raiser = Task::Spawn([] { ASSERT_EQ(raise(SIGUSR2), 0); });
    ASSERT_TRUE(raiser.ok());
    after = WaitForSignal({SIGUSR2}, Deadline::After(absl::Seconds(5)));
  });
  EXPECT_EQ(timed.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timed.status().message(),
            "wait for SIGUSR1, SIGTERM: deadline exceeded");
  EXPECT_EQ(during, before + 1);
  EXPECT_EQ(after_kill, before);
  EXPECT_EQ(timeout_status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(scope_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(after_scopes, before);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, SIGUSR2);
}

TEST(WaitForSignalTest, Errors) {
  auto el = NewLoop();
  auto outside = WaitForSignal({SIGUSR1});
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kFailedPrecondition);
  RunTask(*el, [&] {
    auto empty = WaitForSignal({});
    EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
    auto sigkill = WaitForSignal({SIGUSR1, SIGKILL});
    EXPECT_FALSE(sigkill.ok());
    EXPECT_TRUE(absl::StartsWith(sigkill.status().message(),
                                 "wait for signal 9: EINVAL"))
        << sigkill.status();
    auto bad = WaitForSignal({100000});
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(OpenHandles(*el, "signal"), 0);
  });
  EXPECT_EQ(SignalName(SIGINT), "SIGINT");
  EXPECT_EQ(SignalName(40), "signal 40");
}

// A line echo server under a ShutdownGuard: the first signal closes the
// listener (no new connection), the connection in flight goes on until its
// client ends it; Serve then returns and the scope ends normally.
TEST(ShutdownTest, FirstSignalStopsAcceptingInFlightWorkFinishes) {
  auto el = NewLoop();
  absl::Status scope_status = absl::UnknownError("not run");
  int graceful_signal = 0;
  bool forced = true;
  int handled_lines = 0;
  absl::Status refused;
  RunTask(*el, [&] {
    auto listener = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status();
    uint16_t port = (*listener)->LocalAddress()->port();
    Event stopped_accepting;
    CancelScope scope;
    auto guard = ShutdownOnSignals(scope, [&](int signum) {
      graceful_signal = signum;
      (*listener)->Close();
      stopped_accepting.Set();
    });
    ASSERT_TRUE(guard.ok()) << guard.status();
    auto server = Task::Spawn([&] {
      scope_status = scope.Run([&] {
        absl::Status s = Serve(**listener, [&](TcpStream& conn) {
          while (true) {
            auto line = conn.ReadLine();
            if (!line.ok()) return;
            ++handled_lines;
            if (!conn.Write(*line).ok()) return;
          }
        });
        EXPECT_TRUE(s.ok()) << s;
      });
    });
    ASSERT_TRUE(server.ok());
    auto conn = TcpStream::Connect("127.0.0.1", port,
                                   Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->Write("one\n").ok());
    ASSERT_EQ(*(*conn)->ReadLine(), "one\n");
    ASSERT_EQ(raise(SIGTERM), 0);
    ASSERT_TRUE(stopped_accepting.Wait().ok());
    EXPECT_TRUE((*guard)->requested());
    // No new connection...
    refused =
        TcpStream::Connect("127.0.0.1", port, Deadline::After(absl::Seconds(5)))
            .status();
    // ... but the one in flight still works.
    ASSERT_TRUE((*conn)->Write("two\n").ok());
    ASSERT_EQ(*(*conn)->ReadLine(), "two\n");
    ASSERT_TRUE((*conn)->Shutdown().ok());
    ASSERT_TRUE((*server)->Join().ok());
    forced = (*guard)->forced();
    EXPECT_EQ((*guard)->first_signal(), SIGTERM);
    EXPECT_EQ((*guard)->signals_received(), 1);
  });
  EXPECT_TRUE(scope_status.ok()) << scope_status;
  EXPECT_EQ(graceful_signal, SIGTERM);
  EXPECT_FALSE(forced);
  EXPECT_EQ(handled_lines, 2);
  EXPECT_FALSE(refused.ok());
}

// The second signal forces: the group's connections are killed.
TEST(ShutdownTest, SecondSignalForcesTheTaskGroup) {
  auto el = NewLoop();
  absl::Status group_status = absl::UnknownError("not run");
  int graceful_signal = 0;
  RunTask(*el, [&] {
    auto listener = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status();
    uint16_t port = (*listener)->LocalAddress()->port();
    Event graceful_ran;
    auto server = Task::Spawn([&] {
      group_status = TaskGroup::Run([&](TaskGroup& g) {
        auto guard = ShutdownOnSignals(g, [&](int signum) {
          graceful_signal = signum;
          graceful_ran.Set();
        });
        ASSERT_TRUE(guard.ok()) << guard.status();
        // A connection handler that never finishes on its own.
        auto conn = (*listener)->Accept();
        ASSERT_TRUE(conn.ok()) << conn.status();
        std::shared_ptr<TcpStream> c = *std::move(conn);
        ASSERT_TRUE(g.Spawn([c] {
                       while (c->ReadSome().ok()) {
                       }
                     }).ok());
        // The body waits as a server's main task would.
        while (!(*guard)->forced()) {
          auto sig = WaitForSignal({SIGINT, SIGTERM});
          (void)sig;
        }
      });
    });
    ASSERT_TRUE(server.ok());
    auto conn = TcpStream::Connect("127.0.0.1", port,
                                   Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ(raise(SIGINT), 0);
    ASSERT_TRUE(graceful_ran.Wait().ok());
    ASSERT_EQ(raise(SIGTERM), 0);
    ASSERT_TRUE((*server)->Join().ok());
  });
  EXPECT_EQ(graceful_signal, SIGINT);
  EXPECT_EQ(group_status.code(), absl::StatusCode::kCancelled) << group_status;
}

// Without a second signal, the grace period forces (signum 0); a guard
// destroyed first runs nothing more.
TEST(ShutdownTest, GracePeriodForcesAndDestroyedGuardsDoNothing) {
  auto el = NewLoop();
  int forced_with = -1;
  absl::Status scope_status;
  int late_actions = 0;
  RunTask(*el, [&] {
    CancelScope scope;
    ShutdownOptions options;
    options.signals = {SIGUSR1};
    options.grace = absl::Milliseconds(20);
    auto guard = ShutdownGuard::Install(
        nullptr,
        [&](int signum) {
          forced_with = signum;
          scope.Cancel();
        },
        options);
    ASSERT_TRUE(guard.ok()) << guard.status();
    auto raiser = Task::Spawn([] { ASSERT_EQ(raise(SIGUSR1), 0); });
    ASSERT_TRUE(raiser.ok());
    // The work in flight: a wait that only the force action ends.
    scope_status = scope.Run([&] {
      (void)WaitForSignal({SIGUSR2}, Deadline::After(absl::Seconds(5)));
    });
    guard->reset();
    // A destroyed guard: its actions never run (the signal goes to the
    // waiting task only).
    options.grace = absl::InfiniteDuration();
    auto second = ShutdownGuard::Install([&](int) { ++late_actions; },
                                         [&](int) { ++late_actions; }, options);
    ASSERT_TRUE(second.ok());
    // The signal is caught by a waiting task, and by the guard, which is
    // destroyed before the loop dispatched the signal to it.
    absl::StatusOr<int> got = absl::UnknownError("not run");
    auto waiter = Task::Spawn([&] {
      got = WaitForSignal({SIGUSR1}, Deadline::After(absl::Seconds(5)));
    });
    ASSERT_TRUE(waiter.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ(raise(SIGUSR1), 0);
    second->reset();
    ASSERT_TRUE((*waiter)->Join().ok());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, SIGUSR1);
  });
  EXPECT_EQ(forced_with, 0);
  EXPECT_EQ(scope_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(late_actions, 0);
}

// A task can wait for the request itself; only then do the guard's handlers
// keep Run going.
TEST(ShutdownTest, WaitRequested) {
  auto el = NewLoop();
  absl::StatusOr<int> got = absl::UnknownError("not run");
  absl::StatusOr<int> again = absl::UnknownError("not run");
  absl::StatusOr<int> timed = 0, orphaned = 0;
  int received = 0;
  RunTask(*el, [&] {
    ShutdownOptions options;
    options.signals = {SIGUSR2, SIGHUP, SIGHUP};  // listed twice: once
    auto guard = ShutdownGuard::Install(nullptr, nullptr, options);
    ASSERT_TRUE(guard.ok()) << guard.status();
    timed = (*guard)->WaitRequested(Deadline::After(absl::Milliseconds(20)));
    auto raiser = Task::Spawn([] { ASSERT_EQ(raise(SIGHUP), 0); });
    ASSERT_TRUE(raiser.ok());
    got = (*guard)->WaitRequested(Deadline::After(absl::Seconds(5)));
    again = (*guard)->WaitRequested();
    received = (*guard)->signals_received();
    // A guard destroyed under a waiting task.
    auto other = ShutdownGuard::Install(nullptr, nullptr, options);
    ASSERT_TRUE(other.ok());
    auto waiter = Task::Spawn([&] { orphaned = (*other)->WaitRequested(); });
    ASSERT_TRUE(waiter.ok());
    ASSERT_TRUE(Yield().ok());
    other->reset();
    ASSERT_TRUE((*waiter)->Join().ok());
  });
  EXPECT_EQ(timed.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timed.status().message(),
            "wait for shutdown signal: deadline exceeded");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, SIGHUP);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, SIGHUP);
  EXPECT_EQ(received, 1);
  EXPECT_EQ(orphaned.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(orphaned.status().message(), "guard destroyed"))
      << orphaned.status();
}

TEST(ShutdownTest, InstallErrors) {
  {
    auto guard = ShutdownGuard::Install(nullptr, nullptr);
    EXPECT_EQ(guard.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto el = NewLoop();
  ShutdownOptions options;
  options.signals = {};
  auto none = ShutdownGuard::Install(nullptr, nullptr, options);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  options.signals = {SIGTERM, SIGSTOP};
  auto stop = ShutdownGuard::Install(nullptr, nullptr, options);
  EXPECT_FALSE(stop.ok());
  EXPECT_TRUE(
      absl::StartsWith(stop.status().message(), "catch signal 19: EINVAL"))
      << stop.status();
  EXPECT_EQ(OpenHandles(*el, "signal"), 0);
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
