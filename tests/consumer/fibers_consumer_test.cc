// Uses //fibers through @evergreen, as a user's workspace would: creating a
// fiber, switching values both ways, and getting its result and exceptions.
#include <any>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fibers/fiber.h"
#include "gtest/gtest.h"

namespace {

using evergreen::Fiber;

TEST(ConsumerTest, SwitchPassesValuesBothWays) {
  Fiber* main = Fiber::Current();
  ASSERT_TRUE(main->IsMain());
  std::vector<int> received;
  auto f = Fiber::Create(
      [main, &received](int start) {
        int got = std::any_cast<int>(main->Switch(start));
        received.push_back(got);
        got = std::any_cast<int>(main->Switch(start + got));
        received.push_back(got);
        return std::string("done");
      },
      10);
  ASSERT_TRUE(f.ok()) << f.status();
  Fiber& fiber = **f;
  EXPECT_FALSE(fiber.IsStarted());

  EXPECT_EQ(std::any_cast<int>(fiber.Switch()), 10);
  EXPECT_TRUE(fiber.IsAlive());
  EXPECT_EQ(std::any_cast<int>(fiber.Switch(5)), 15);
  EXPECT_EQ(std::any_cast<std::string>(fiber.Switch(7)), "done");
  EXPECT_FALSE(fiber.IsAlive());
  EXPECT_EQ(received, (std::vector<int>{5, 7}));
  EXPECT_EQ(Fiber::Current(), main);
}

TEST(ConsumerTest, ExceptionReachesTheParent) {
  auto f = Fiber::Create([]() -> int { throw std::runtime_error("boom"); });
  ASSERT_TRUE(f.ok()) << f.status();
  try {
    (*f)->Switch();
    FAIL() << "the exception did not come out of Switch()";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_FALSE((*f)->IsAlive());
}

TEST(ConsumerTest, DestroyingASuspendedFiberRunsItsDestructors) {
  Fiber* main = Fiber::Current();
  int destroyed = 0;
  struct Counted {
    int* count;
    ~Counted() { ++*count; }
  };
  auto f = Fiber::Create([main, &destroyed] {
    Counted c{&destroyed};
    main->Switch();
  });
  ASSERT_TRUE(f.ok()) << f.status();
  (*f)->Switch();
  EXPECT_EQ(destroyed, 0);
  f->reset();
  EXPECT_EQ(destroyed, 1);
}

}  // namespace
