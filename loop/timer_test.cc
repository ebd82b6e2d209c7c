#include "loop/timer.h"

#include <array>
#include <functional>
#include <memory>
#include <stdexcept>

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

int fired_by_function = 0;
void CountFired(Timer&) { ++fired_by_function; }

// Every kind of callable Start stores: called on a copy (function pointer,
// const lambda), in place (mutable lambda, std::function) or on the heap
// (over 32 bytes); a mutable lambda keeps its state between calls.
TEST(TimerTest, EveryKindOfCallable) {
  Loop loop;
  auto timer = Timer::Create(loop);
  fired_by_function = 0;
  ASSERT_TRUE(timer->Start(0, 0, &CountFired).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired_by_function, 1);

  int calls = 0;
  ASSERT_TRUE(timer
                  ->Start(0, 1,
                          [n = 0, &calls](Timer& t) mutable {
                            calls = ++n;
                            if (n == 3) (void)t.Stop();
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 3);

  std::array<int, 16> big{};
  big[15] = 7;
  int seen = 0;
  ASSERT_TRUE(
      timer->Start(0, 0, [big, &seen](Timer&) { seen = big[15]; }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(seen, 7);

  std::function<void(Timer&)> f = [&seen](Timer&) { seen = 8; };
  ASSERT_TRUE(timer->Start(0, 0, f).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(seen, 8);

  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(TimerTest, NullCallablesAreInvalid) {
  Loop loop;
  auto timer = Timer::Create(loop);
  void (*null_fn)(Timer&) = nullptr;
  EXPECT_EQ(timer->Start(1, 0, null_fn).code(),
            absl::StatusCode::kInvalidArgument);
  std::function<void(Timer&)> empty;
  EXPECT_EQ(timer->Start(1, 0, empty).message(),
            "timer start: EINVAL (invalid argument)");
  EXPECT_FALSE(timer->IsActive());
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

// A callback stored in place (it owns a shared_ptr) that restarts its timer
// with a new callback stays alive until it returned, then is released; the
// same when it throws afterwards. The new callback runs next.
TEST(TimerTest, ReplacedCallbackIsReleasedAfterItReturns) {
  Loop loop;
  std::exception_ptr caught;
  loop.SetExceptionHandler([&](std::exception_ptr e) { caught = e; });
  auto timer = Timer::Create(loop);
  auto token = std::make_shared<int>(5);
  std::weak_ptr<int> weak = token;
  int value_after_restart = 0;
  int second = 0;
  ASSERT_TRUE(timer
                  ->Start(0, 0,
                          [token = std::move(token), &value_after_restart,
                           &second](Timer& t) {
                            ASSERT_TRUE(t.Start(0, 0, [&second](Timer&) {
                                           ++second;
                                         }).ok());
                            value_after_restart = *token;  // still alive
                            throw std::runtime_error("after restart");
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(value_after_restart, 5);
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(second, 1);
  ASSERT_TRUE(caught != nullptr);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

// A callback called on a copy can restart its timer with one stored in
// place, and that one with one called on a copy again.
TEST(TimerTest, RestartAcrossStorageKinds) {
  Loop loop;
  auto timer = Timer::Create(loop);
  int order = 0;
  int copied_first = 0, in_place = 0, copied_last = 0;
  auto owner = std::make_shared<int>(1);
  ASSERT_TRUE(timer
                  ->Start(0, 0,
                          [&](Timer& t) {
                            copied_first = ++order;
                            ASSERT_TRUE(
                                t.Start(0, 0,
                                        [owner, &order, &in_place,
                                         &copied_last](Timer& t2) {
                                          in_place = ++order * *owner;
                                          ASSERT_TRUE(
                                              t2.Start(0, 0, [&](Timer&) {
                                                  copied_last = ++order;
                                                }).ok());
                                        })
                                    .ok());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(copied_first, 1);
  EXPECT_EQ(in_place, 2);
  EXPECT_EQ(copied_last, 3);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
