// EventLoop::AddSignalHandler / RemoveSignalHandler.

#include <signal.h>

#include <memory>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace {

TEST(SignalHandlerTest, AHandlerWakesATaskThatWaitsForIt) {
  auto loop = NewLoop();
  Event shutdown;
  int handled = 0;
  absl::Status waited = absl::UnknownError("not run");
  ASSERT_TRUE(loop->AddSignalHandler(SIGUSR1,
                                     [&] {
                                       ++handled;
                                       shutdown.Set();
                                     })
                  .ok());
  // The waiting task is not a deadlock: the handler may still wake it.
  ASSERT_TRUE(Task::Spawn([&] { waited = shutdown.Wait(); }).ok());
  loop->CallLater(absl::Milliseconds(1), [] { ASSERT_EQ(raise(SIGUSR1), 0); });
  absl::Status run = loop->Run();
  EXPECT_TRUE(run.ok()) << run;
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_EQ(handled, 1);
}

TEST(SignalHandlerTest, HandlersAloneDoNotKeepRunGoing) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop->AddSignalHandler(SIGUSR1, [] {}).ok());
  int ran = 0;
  ASSERT_TRUE(Task::Spawn([&] { ++ran; }).ok());
  absl::Status run = loop->Run();  // returns: the task ended
  EXPECT_TRUE(run.ok()) << run;
  EXPECT_EQ(ran, 1);
  // And again with no task at all.
  run = loop->Run();
  EXPECT_TRUE(run.ok()) << run;
}

TEST(SignalHandlerTest, ReplaceAndRemove) {
  auto loop = NewLoop();
  int first = 0, second = 0;
  ASSERT_TRUE(loop->AddSignalHandler(SIGUSR2, [&] { ++first; }).ok());
  ASSERT_TRUE(loop->AddSignalHandler(SIGUSR2, [&] { ++second; }).ok());
  Event done;
  ASSERT_TRUE(Task::Spawn([&] {
                ASSERT_EQ(raise(SIGUSR2), 0);
                // Delivered through the loop: wait until it ran.
                while (second == 0) ASSERT_TRUE(Yield().ok());
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  EXPECT_TRUE(loop->RemoveSignalHandler(SIGUSR2));
  EXPECT_FALSE(loop->RemoveSignalHandler(SIGUSR2));
  EXPECT_FALSE(loop->RemoveSignalHandler(SIGHUP));
}

TEST(SignalHandlerTest, AHandlerMayRemoveItself) {
  auto loop = NewLoop();
  int handled = 0;
  Event removed;
  ASSERT_TRUE(loop->AddSignalHandler(SIGUSR1,
                                     [&] {
                                       ++handled;
                                       EXPECT_TRUE(
                                           loop->RemoveSignalHandler(SIGUSR1));
                                       removed.Set();
                                     })
                  .ok());
  ASSERT_TRUE(Task::Spawn([&] {
                ASSERT_EQ(raise(SIGUSR1), 0);
                EXPECT_TRUE(removed.Wait().ok());
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(handled, 1);
}

TEST(SignalHandlerTest, AThrowingHandlerReachesTheExceptionHandler) {
  auto loop = NewLoop();
  ASSERT_TRUE(
      loop->AddSignalHandler(SIGUSR1,
                             [] { throw std::runtime_error("handler failed"); })
          .ok());
  Event never;
  ASSERT_TRUE(Task::Spawn([&] {
                ASSERT_EQ(raise(SIGUSR1), 0);
                (void)never.Wait();
              }).ok());
  // The default exception handler stops the loop and Run rethrows.
  EXPECT_THROW((void)loop->Run(), std::runtime_error);
}

TEST(SignalHandlerTest, BadCalls) {
  auto loop = NewLoop();
  absl::Status s = loop->AddSignalHandler(SIGUSR1, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = loop->AddSignalHandler(SIGKILL, [] {});
  EXPECT_FALSE(s.ok());
  s = loop->AddSignalHandler(-1, [] {});
  EXPECT_FALSE(s.ok());
  s = loop->AddSignalHandler(100000, [] {});
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(loop->Run().ok());
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
