#include "fibers/fiber.h"

#include "gtest/gtest.h"

namespace evergreen {
namespace {

TEST(FiberTest, Smoke) {
  auto f = Fiber::Create([](int a) { return a + 1; }, 41);
  ASSERT_TRUE(f.ok()) << f.status();
  std::any v = (*f)->Switch();
  EXPECT_EQ(std::any_cast<int>(v), 42);
  EXPECT_FALSE((*f)->IsAlive());
}

}  // namespace
}  // namespace evergreen
