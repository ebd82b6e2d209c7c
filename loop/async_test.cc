#include "loop/async.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {
namespace {

TEST(AsyncTest, SendFromAnotherThreadRunsTheCallbackOnTheLoopThread) {
  Loop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  int calls = 0;
  absl::StatusOr<HandlePtr<Async>> async = Async::Create(loop, [&](Async& a) {
    ++calls;
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    ASSERT_TRUE(a.Close().ok());
  });
  ASSERT_TRUE(async.ok()) << async.status();
  EXPECT_TRUE((*async)->IsActive());
  EXPECT_EQ((*async)->TypeName(), "async");
  absl::Status sent;
  std::thread sender([&] { sent = (*async)->Send(); });
  EXPECT_FALSE(loop.Run());  // returns once the callback closed it
  sender.join();
  EXPECT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(calls, 1);
  async->reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(AsyncTest, ManySendersEveryMessageSeen) {
  Loop loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> produced{0};
  int consumed = 0;
  int calls = 0;
  HandlePtr<Async> async;
  auto created = Async::Create(loop, [&](Async& a) {
    ++calls;
    consumed = produced.load();
    // Not Close: a sender may still be inside Send (see Async::Send).
    if (consumed == kThreads * kPerThread) a.loop().Stop();
  });
  ASSERT_TRUE(created.ok());
  async = std::move(*created);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kPerThread; ++j) {
        produced.fetch_add(1);
        ASSERT_TRUE(async->Send().ok());
      }
    });
  }
  EXPECT_TRUE(loop.Run());  // stopped, the async handle still active
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(consumed, kThreads * kPerThread);
  ASSERT_TRUE(async->Close().ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_GE(calls, 1);
  EXPECT_LE(calls, kThreads * kPerThread);  // sends coalesce
  async.reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(AsyncTest, UnrefLetsTheLoopEndAndEmptyCallbackIsAnError) {
  Loop loop;
  EXPECT_EQ(Async::Create(loop, nullptr).status().message(),
            "async init: EINVAL (invalid argument)");
  int calls = 0;
  auto async = Async::Create(loop, [&](Async&) { ++calls; });
  ASSERT_TRUE(async.ok());
  (*async)->Unref();
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE((*async)->Send().ok());
  (*async)->Ref();
  EXPECT_TRUE(loop.Run(RunMode::kOnce));
  EXPECT_EQ(calls, 1);
  async->reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
