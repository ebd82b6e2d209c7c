#include "loop/idle.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

TEST(IdleTest, RunsEachIterationUntilStopped) {
  Loop loop;
  auto idle = Idle::Create(loop);
  int calls = 0;
  ASSERT_TRUE(idle->Start([&](Idle& h) {
                    if (++calls == 10) {
                      ASSERT_TRUE(h.Stop().ok());
                    }
                  })
                  .ok());
  EXPECT_TRUE(idle->IsActive());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 10);
  EXPECT_FALSE(idle->IsActive());
  EXPECT_EQ(idle->TypeName(), "idle");
  EXPECT_FALSE(idle->Fileno().ok());
  idle.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(IdleTest, PrepareAndCheckSurroundThePoll) {
  Loop loop;
  auto prepare = Prepare::Create(loop);
  auto check = Check::Create(loop);
  auto timer = Timer::Create(loop);
  std::vector<std::string> order;
  ASSERT_TRUE(
      prepare->Start([&](Prepare&) { order.push_back("prepare"); }).ok());
  ASSERT_TRUE(check->Start([&](Check&) { order.push_back("check"); }).ok());
  // The timer makes the poll block, then stops both watchers (a started
  // prepare or check alone would keep the loop polling forever).
  loop.UpdateTime();
  // Repeating: on a slow machine (valgrind) the first expiry can come before
  // the first poll; the watchers are stopped only once a poll happened.
  ASSERT_TRUE(timer
                  ->Start(5, 1,
                          [&](Timer& t) {
                            if (order.empty()) return;
                            order.push_back("timer");
                            ASSERT_TRUE(t.Stop().ok());
                            ASSERT_TRUE(prepare->Stop().ok());
                            ASSERT_TRUE(check->Stop().ok());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.back(), "timer");
  order.pop_back();
  // Every iteration: prepare before the poll, check after it.
  ASSERT_GE(order.size(), 2u);
  ASSERT_EQ(order.size() % 2, 0u);
  for (size_t i = 0; i < order.size(); i += 2) {
    EXPECT_EQ(order[i], "prepare");
    EXPECT_EQ(order[i + 1], "check");
  }
  EXPECT_FALSE(prepare->IsActive());
  EXPECT_FALSE(check->IsActive());
  EXPECT_EQ(prepare->TypeName(), "prepare");
  EXPECT_EQ(check->TypeName(), "check");
  int closed = 0;
  for (Handle* h :
       std::vector<Handle*>{prepare.get(), check.get(), timer.get()}) {
    ASSERT_TRUE(h->Close([&](Handle&) { ++closed; }).ok());
  }
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(closed, 3);
  prepare.reset();
  check.reset();
  timer.reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(IdleTest, ErrorsOnEmptyCallbackAndClosing) {
  Loop loop;
  auto check = Check::Create(loop);
  EXPECT_EQ(check->Start(nullptr).message(),
            "check start: EINVAL (invalid argument)");
  check.reset();
  auto prepare = Prepare::Create(loop);
  ASSERT_TRUE(prepare->Close().ok());
  EXPECT_EQ(prepare->Start([](Prepare&) {}).message(),
            "prepare start: handle is closing");
  EXPECT_FALSE(loop.Run());
  prepare.reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
