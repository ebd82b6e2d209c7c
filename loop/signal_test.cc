#include "loop/signal.h"

#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// A watchdog so that a lost signal fails the test instead of hanging it.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> t = Timer::Create(loop);
  EXPECT_TRUE(t->Start(5'000, 0, [&loop](Timer&) {
                 ADD_FAILURE() << "signal never arrived";
                 loop.Stop();
               }).ok());
  t->Unref();
  return t;
}

TEST(SignalTest, SeveralHandlersForOneSignal) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  auto a = Signal::Create(loop);
  auto b = Signal::Create(loop);
  ASSERT_TRUE(a.ok() && b.ok());
  int a_calls = 0;
  int b_calls = 0;
  ASSERT_TRUE((*a)->Start(SIGUSR1,
                          [&](Signal& s, int signum) {
                            EXPECT_EQ(signum, SIGUSR1);
                            ++a_calls;
                            ASSERT_TRUE(s.Close().ok());
                          })
                  .ok());
  ASSERT_TRUE((*b)->Start(SIGUSR1,
                          [&](Signal& s, int signum) {
                            EXPECT_EQ(signum, SIGUSR1);
                            ++b_calls;
                            ASSERT_TRUE(s.Stop().ok());
                          })
                  .ok());
  EXPECT_EQ((*a)->signum(), SIGUSR1);
  EXPECT_EQ((*a)->TypeName(), "signal");
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
  a->reset();
  b->reset();
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(SignalTest, OneshotStopsAfterTheFirstDelivery) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  auto oneshot = Signal::Create(loop);
  auto counter = Signal::Create(loop);
  ASSERT_TRUE(oneshot.ok() && counter.ok());
  int oneshot_calls = 0;
  int counter_calls = 0;
  ASSERT_TRUE((*oneshot)
                  ->StartOneshot(SIGUSR2,
                                 [&](Signal&, int signum) {
                                   EXPECT_EQ(signum, SIGUSR2);
                                   ++oneshot_calls;
                                 })
                  .ok());
  // The second handler keeps SIGUSR2 caught (not the default: terminate)
  // for the second kill, and counts both.
  ASSERT_TRUE((*counter)
                  ->Start(SIGUSR2,
                          [&](Signal& s, int) {
                            if (++counter_calls == 1) {
                              ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
                            } else {
                              ASSERT_TRUE(s.Stop().ok());
                            }
                          })
                  .ok());
  ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(oneshot_calls, 1);
  EXPECT_EQ(counter_calls, 2);
  EXPECT_FALSE((*oneshot)->IsActive());
  oneshot->reset();
  counter->reset();
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(SignalTest, BadSignalAndClosedHandleAreErrors) {
  Loop loop;
  auto sig = Signal::Create(loop);
  ASSERT_TRUE(sig.ok());
  absl::Status s = (*sig)->Start(0, [](Signal&, int) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "signal start: EINVAL (invalid argument)");
  ASSERT_TRUE((*sig)->Close().ok());
  EXPECT_EQ((*sig)->StartOneshot(SIGUSR1, [](Signal&, int) {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(loop.Run());
  sig->reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
