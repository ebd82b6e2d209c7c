#include "fibers/internal/stack_pool.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace evergreen {
namespace fibers_internal {
namespace {

TEST(StackPoolTest, StacksAreGuardedAndUsable) {
  absl::StatusOr<Stack> s = AllocateStack(100 * 1024);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GE(s->size, 100u * 1024);
  EXPECT_EQ(s->size % static_cast<size_t>(sysconf(_SC_PAGESIZE)), 0u);
  EXPECT_EQ(s->guard_size, GuardSize());
  EXPECT_TRUE(StackGuardIsIntact(*s));
  // The whole usable range can be written.
  for (char* p = s->base; p < s->top(); p += 4096) *p = 1;
  s->top()[-1] = 1;
  ReleaseStack(*s);
}

TEST(StackPoolTest, TinyRequestsGetTheMinimum) {
  absl::StatusOr<Stack> s = AllocateStack(1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size, kMinStackSize);
  ReleaseStack(*s);
}

TEST(StackPoolTest, ReleasedStackIsReusedWithItsGuard) {
  absl::StatusOr<Stack> a = AllocateStack(64 * 1024);
  ASSERT_TRUE(a.ok());
  Stack first = *a;
  ReleaseStack(first);
  absl::StatusOr<Stack> b = AllocateStack(64 * 1024);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->base, first.base);
  EXPECT_TRUE(StackGuardIsIntact(*b));
  ReleaseStack(*b);
}

TEST(StackPoolTest, StacksNeverOverlapAndAllKeepGuards) {
  std::vector<Stack> stacks;
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<Stack> s = AllocateStack(32 * 1024);
    ASSERT_TRUE(s.ok());
    stacks.push_back(*s);
  }
  std::sort(stacks.begin(), stacks.end(),
            [](const Stack& x, const Stack& y) { return x.base < y.base; });
  for (size_t i = 1; i < stacks.size(); ++i) {
    EXPECT_LE(stacks[i - 1].top() + stacks[i].guard_size, stacks[i].base);
  }
  for (const Stack& s : stacks) {
    EXPECT_TRUE(StackGuardIsIntact(s));
  }
  // Released past the thread cache: memory goes back to the kernel, the
  // guards stay.
  for (const Stack& s : stacks) ReleaseStack(s);
  std::vector<Stack> again;
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<Stack> s = AllocateStack(32 * 1024);
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(StackGuardIsIntact(*s));
    again.push_back(*s);
  }
  for (const Stack& s : again) ReleaseStack(s);
}

TEST(StackPoolTest, StacksMayBeReleasedOnAnotherThread) {
  std::vector<Stack> stacks;
  for (int i = 0; i < 100; ++i) stacks.push_back(*AllocateStack(16 * 1024));
  std::thread t([&] {
    for (const Stack& s : stacks) ReleaseStack(s);
  });
  t.join();
  std::set<char*> seen;
  std::vector<Stack> again;
  for (int i = 0; i < 100; ++i) {
    Stack s = *AllocateStack(16 * 1024);
    EXPECT_TRUE(StackGuardIsIntact(s));
    EXPECT_TRUE(seen.insert(s.base).second);
    again.push_back(s);
  }
  for (const Stack& s : again) ReleaseStack(s);
}

// Whether this kernel really installs MADV_GUARD_INSTALL guards (Linux
// 6.13+; an emulator such as qemu-user may accept the call and do nothing).
bool KernelHasGuardInstall() {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return false;
  bool guarded = false;
  if (madvise(mem, page, 102 /* MADV_GUARD_INSTALL */) == 0) {
    int fds[2];
    if (pipe(fds) == 0) {
      guarded = write(fds[1], mem, 1) < 0 && errno == EFAULT;
      close(fds[0]);
      close(fds[1]);
    }
  }
  munmap(mem, 2 * page);
  return guarded;
}

TEST(StackPoolTest, GuardModeMatchesTheKernel) {
  absl::StatusOr<Stack> s = AllocateStack(16 * 1024);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(StackGuardIsIntact(*s));
  ReleaseStack(*s);
  EXPECT_EQ(CurrentGuardMode() == GuardMode::kMadviseGuard,
            KernelHasGuardInstall());
}

}  // namespace
}  // namespace fibers_internal
}  // namespace evergreen
