// TaskLocal: values per task, their lifetimes, inheritance at spawn.

#include "runtime/task_local.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace {

// Counts its live instances.
struct Counted {
  static int alive;
  Counted() { ++alive; }
  Counted(const Counted& other) : value(other.value) { ++alive; }
  ~Counted() { --alive; }
  int value = 0;
};
int Counted::alive = 0;

TEST(TaskLocalTest, EachTaskSeesItsOwnValueAcrossSwitches) {
  auto loop = NewLoop();
  TaskLocal<int> id;
  std::vector<int> seen;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(Task::Spawn([&, i] {
                  id.Get() = i;
                  // Interleave: every task sleeps while the others set theirs.
                  EXPECT_TRUE(Sleep(absl::Milliseconds(1)).ok());
                  seen.push_back(*id);
                }).ok());
  }
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(id.Get(), 0);  // the main fiber's own, untouched value
}

TEST(TaskLocalTest, AValueDiesWithItsTaskEvenWhenKilled) {
  auto loop = NewLoop();
  TaskLocal<Counted> local;
  int alive_in_task = -1;
  ASSERT_TRUE(Task::Spawn([&] {
                local.Get().value = 1;
                alive_in_task = Counted::alive;
              }).ok());
  absl::StatusOr<std::shared_ptr<Task>> sleeper = Task::Spawn([&] {
    local.Get().value = 2;
    (void)Sleep(absl::Hours(1));
  });
  ASSERT_TRUE(sleeper.ok());
  ASSERT_TRUE(Task::Spawn([&] { EXPECT_TRUE((*sleeper)->Kill().ok()); }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(alive_in_task, 1);
  EXPECT_EQ(Counted::alive, 0);
}

TEST(TaskLocalTest, InheritedFromTheSpawningTask) {
  auto loop = NewLoop();
  TaskLocal<std::string> trace([] { return std::string("none"); },
                               TaskLocalOptions{/*inherit=*/true});
  TaskLocal<std::string> plain([] { return std::string("none"); });
  std::string child_trace, child_plain, parent_after;
  ASSERT_TRUE(Task::Spawn([&] {
                trace.Get() = "parent";
                plain.Get() = "parent";
                absl::StatusOr<std::shared_ptr<Task>> child = Task::Spawn([&] {
                  child_trace = *trace;
                  child_plain = *plain;
                  trace.Get() = "child";  // its own copy
                });
                ASSERT_TRUE(child.ok());
                EXPECT_TRUE((*child)->Join().ok());
                parent_after = *trace;
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(child_trace, "parent");
  EXPECT_EQ(child_plain, "none");
  EXPECT_EQ(parent_after, "parent");
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
