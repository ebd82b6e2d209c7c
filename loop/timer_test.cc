#include "loop/timer.h"

#include "gtest/gtest.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {
namespace {

TEST(TimerTest, OneShotFiresOnce) {
  Loop loop;
  auto timer = Timer::Create(loop);
  int fired = 0;
  loop.UpdateTime();  // the timeout counts from the cached time
  uint64_t start = Loop::HrTime();
  ASSERT_TRUE(timer
                  ->Start(20, 0,
                          [&](Timer& t) {
                            ++fired;
                            EXPECT_FALSE(t.IsActive());
                          })
                  .ok());
  EXPECT_TRUE(timer->IsActive());
  EXPECT_GT(timer->DueIn(), 0u);
  EXPECT_LE(timer->DueIn(), 20u);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired, 1);
  EXPECT_GE(Loop::HrTime() - start, 19'000'000u);
  EXPECT_EQ(timer->DueIn(), 0u);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TimerTest, RepeatStopAndSetRepeat) {
  Loop loop;
  auto timer = Timer::Create(loop);
  int fired = 0;
  ASSERT_TRUE(timer
                  ->Start(1, 2,
                          [&](Timer& t) {
                            ++fired;
                            if (fired == 2) t.SetRepeat(1);
                            if (fired == 5) {
                              ASSERT_TRUE(t.Stop().ok());
                            }
                          })
                  .ok());
  EXPECT_EQ(timer->Repeat(), 2u);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired, 5);
  EXPECT_EQ(timer->Repeat(), 1u);
  EXPECT_FALSE(timer->IsActive());
  ASSERT_TRUE(timer->Close().ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TimerTest, AgainNeedsAStartAndRestartsWithRepeat) {
  Loop loop;
  auto timer = Timer::Create(loop);
  absl::Status s = timer->Again();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "timer again: EINVAL (invalid argument)");
  int fired = 0;
  ASSERT_TRUE(timer
                  ->Start(10'000, 0,
                          [&](Timer& t) {
                            if (++fired == 3) {
                              ASSERT_TRUE(t.Stop().ok());
                            }
                          })
                  .ok());
  timer->SetRepeat(1);
  ASSERT_TRUE(timer->Again().ok());  // now due in 1 ms, repeating
  EXPECT_LE(timer->DueIn(), 1u);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired, 3);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TimerTest, RestartFromItsOwnCallbackWithANewCallback) {
  Loop loop;
  auto timer = Timer::Create(loop);
  int first = 0;
  int second = 0;
  ASSERT_TRUE(timer
                  ->Start(0, 0,
                          [&](Timer& t) {
                            ++first;
                            ASSERT_TRUE(
                                t.Start(0, 0, [&](Timer&) { ++second; }).ok());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TimerTest, EmptyCallbackAndClosedHandleAreErrors) {
  Loop loop;
  auto timer = Timer::Create(loop);
  EXPECT_EQ(timer->Start(1, 0, nullptr).message(),
            "timer start: EINVAL (invalid argument)");
  ASSERT_TRUE(timer->Close().ok());
  absl::Status s = timer->Start(1, 0, [](Timer&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "timer start: handle is closing");
  EXPECT_EQ(timer->Stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(loop.Run());
  timer.reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
