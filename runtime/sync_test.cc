// Tests for the synchronization primitives: Lock, RLock, Semaphore,
// BoundedSemaphore, Condition, Barrier.
//
// Every test checks its results after loop->Run() too, so an ASSERT that
// returned early from a task lambda cannot go unnoticed: the counters and
// orders it would have filled are wrong.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/barrier.h"
#include "runtime/cancel.h"
#include "runtime/condition.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/lock.h"
#include "runtime/semaphore.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace {

using absl::StatusCode;

std::unique_ptr<EventLoop> NewLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return std::move(loop).value();
}

std::shared_ptr<Task> Go(std::function<void()> fn, std::string name = "") {
  TaskOptions options;
  options.name = std::move(name);
  absl::StatusOr<std::shared_ptr<Task>> task =
      Task::SpawnWith(std::move(options), std::move(fn));
  EXPECT_TRUE(task.ok()) << task.status();
  return std::move(task).value();
}

struct Tracker {
  explicit Tracker(int* n) : n(n) {}
  ~Tracker() { ++*n; }
  int* n;
};

// How a waiter is interrupted in the "interrupted waiter" tests.
enum class Interrupt { kCancel, kKill };

std::string InterruptName(const testing::TestParamInfo<Interrupt>& info) {
  return info.param == Interrupt::kCancel ? "Cancel" : "Kill";
}

// ---------------------------------------------------------------------------
// Lock and RLock: the behaviour they share, for both.

template <typename L>
struct LockName;
template <>
struct LockName<Lock> {
  static constexpr const char* kName = "lock";
};
template <>
struct LockName<RLock> {
  static constexpr const char* kName = "rlock";
};

template <typename L>
class LockLikeTest : public testing::Test {
 protected:
  static std::string Msg(const char* rest) {
    return absl::StrCat(LockName<L>::kName, rest);
  }
};
using LockTypes = testing::Types<Lock, RLock>;
TYPED_TEST_SUITE(LockLikeTest, LockTypes);

TYPED_TEST(LockLikeTest, WaitersGetTheLockInFifoOrderWithoutBarging) {
  auto loop = NewLoop();
  TypeParam lock;
  std::vector<int> order;
  bool newcomer_blocked = false;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    // The 5 queue up (they run in this round; bounded in case they do not).
    for (int i = 0; i < 100 && lock.Waiters() < 5; ++i) {
      ASSERT_TRUE(Yield().ok());
    }
    EXPECT_EQ(lock.Waiters(), 5u);
    ASSERT_TRUE(lock.Release().ok());
    // Handed to waiter 0 already: neither we nor a newcomer can take it.
    EXPECT_TRUE(lock.IsLocked());
    EXPECT_FALSE(lock.TryAcquire());
    Go([&] {
      newcomer_blocked = lock.IsLocked();
      ASSERT_TRUE(lock.Acquire().ok());
      order.push_back(5);
      ASSERT_TRUE(lock.Release().ok());
    });
  });
  for (int i = 0; i < 5; ++i) {
    Go([&, i] {
      ASSERT_TRUE(lock.Acquire().ok());
      EXPECT_TRUE(lock.IsOwnedByCurrentTask());
      order.push_back(i);
      ASSERT_TRUE(Yield().ok());  // the others stay queued meanwhile
      ASSERT_TRUE(lock.Release().ok());
    });
  }
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(newcomer_blocked);
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(lock.Waiters(), 0u);
}

TYPED_TEST(LockLikeTest, AcquireTimesOutWithDeadlineExceeded) {
  auto loop = NewLoop();
  TypeParam lock;
  absl::Status timed_out, later;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(Sleep(absl::Milliseconds(20)).ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] {
    timed_out = lock.Acquire(Deadline::After(absl::Milliseconds(2)));
    EXPECT_EQ(lock.Waiters(), 0u);
    EXPECT_FALSE(lock.IsOwnedByCurrentTask());
    later = lock.Acquire();  // usable afterwards
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
    EXPECT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(timed_out.code(), StatusCode::kDeadlineExceeded) << timed_out;
  EXPECT_EQ(timed_out.message(), this->Msg(" acquire: deadline exceeded"));
  EXPECT_TRUE(later.ok()) << later;
  EXPECT_FALSE(lock.IsLocked());
}

TYPED_TEST(LockLikeTest, MisuseErrors) {
  auto loop = NewLoop();
  TypeParam lock;
  // Outside a task.
  absl::Status s = lock.Acquire();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), this->Msg(" acquire: not in a task"));
  EXPECT_FALSE(lock.TryAcquire());
  EXPECT_EQ(lock.Release().code(), StatusCode::kFailedPrecondition);
  EXPECT_THROW(lock.lock(), LockError);
  EXPECT_THROW(lock.unlock(), LockError);
  EXPECT_FALSE(lock.IsLocked());

  int checked = 0;
  absl::Status not_held, other_task, in_callback;
  std::string unlock_what;
  Go([&] {
    not_held = lock.Release();  // unlocked
    ASSERT_TRUE(lock.Acquire().ok());
    loop->CallSoon([&] {
      EXPECT_FALSE(lock.TryAcquire());
      in_callback = lock.Release();
    });
    ASSERT_TRUE(Sleep(absl::Milliseconds(1)).ok());
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());  // nobody took it from us
    ASSERT_TRUE(lock.Release().ok());
    ++checked;
  });
  Go([&] {
    other_task = lock.Release();  // held by the first task
    try {
      lock.unlock();
    } catch (const LockError& e) {
      unlock_what = e.what();
    }
    ++checked;
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(checked, 2);
  const std::string not_held_msg = this->Msg(" release: not held by this task");
  EXPECT_EQ(not_held.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(not_held.message(), not_held_msg);
  EXPECT_EQ(other_task.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(other_task.message(), not_held_msg);
  EXPECT_EQ(unlock_what, not_held_msg);
  EXPECT_EQ(in_callback.code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(lock.IsLocked());
}

TYPED_TEST(LockLikeTest, GuardsGiveMutualExclusionAcrossBlockingCalls) {
  auto loop = NewLoop();
  TypeParam lock, other;
  int inside = 0, max_inside = 0, entries = 0;
  for (int t = 0; t < 3; ++t) {
    Go([&] {
      for (int i = 0; i < 3; ++i) {
        std::lock_guard<TypeParam> guard(lock);
        max_inside = std::max(max_inside, ++inside);
        ASSERT_TRUE(Yield().ok());  // the others run and must block
        --inside;
        ++entries;
      }
      const bool was_free = !lock.IsLocked();
      std::unique_lock<TypeParam> maybe(lock, std::try_to_lock);
      EXPECT_EQ(maybe.owns_lock(), was_free);
      if (maybe.owns_lock()) maybe.unlock();
      ++entries;
      std::scoped_lock both(lock, other);  // std::lock over try_lock/lock
      ++entries;
    });
  }
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(entries, 3 * (3 + 1 + 1));
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_FALSE(other.IsLocked());
}

TYPED_TEST(LockLikeTest, KillingAWaiterKeepsTheQueueOrder) {
  auto loop = NewLoop();
  TypeParam lock;
  Event release_now;
  std::vector<std::string> order;
  int destroyed = 0;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(release_now.Wait().ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  std::shared_ptr<Task> victim;
  for (std::string name : {"a", "b", "c"}) {
    std::shared_ptr<Task> t = Go([&, name] {
      Tracker tracker(&destroyed);
      ASSERT_TRUE(lock.Acquire().ok());
      order.push_back(name);
      ASSERT_TRUE(lock.Release().ok());
    });
    if (name == "b") victim = t;
  }
  Go([&] {
    EXPECT_EQ(lock.Waiters(), 3u);
    EXPECT_TRUE(victim->Kill().ok());
    EXPECT_EQ(lock.Waiters(), 2u);
    release_now.Set();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "c"}));
  EXPECT_TRUE(victim->killed());
  EXPECT_EQ(destroyed, 3);
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(lock.Waiters(), 0u);
}

TYPED_TEST(LockLikeTest, WithTimeoutAroundLockLeavesTheQueueIntact) {
  auto loop = NewLoop();
  TypeParam lock;
  Event go;
  absl::Status scoped;
  bool entered = false, second_got = false;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(go.Wait().ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  std::shared_ptr<Task> first = Go([&] {
    scoped = WithTimeout(absl::Milliseconds(2), [&] {
      std::lock_guard<TypeParam> guard(lock);
      entered = true;
    });
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    second_got = true;
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] {
    ASSERT_TRUE(first->Join().ok());
    EXPECT_EQ(lock.Waiters(), 1u);
    go.Set();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(scoped.code(), StatusCode::kDeadlineExceeded) << scoped;
  EXPECT_FALSE(entered);
  EXPECT_TRUE(second_got);
  EXPECT_FALSE(lock.IsLocked());
}

TYPED_TEST(LockLikeTest, AGrantRacingWithTheDeadlineCounts) {
  auto loop = NewLoop();
  TypeParam lock;
  // Both timers fire in the same round; the holder's (registered first)
  // runs first, then the waiter's deadline, then the holder releases to
  // the waiter that is due to wake with a timeout.
  const Deadline d = Deadline::After(absl::Milliseconds(5));
  absl::Status s = absl::UnknownError("not run");
  bool owned = false;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(SleepUntil(d).ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] {
    s = lock.Acquire(d);
    owned = lock.IsOwnedByCurrentTask();
    if (owned) {
      EXPECT_TRUE(lock.Release().ok());
    }
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(owned);
  EXPECT_FALSE(lock.IsLocked());
}

// The lock is handed to A; in the same round, before A runs, a callback
// cancels or kills A. B must get the lock: the grant is not lost.
template <typename L>
void CheckInterruptedGranteePassesTheLockOn(Interrupt how) {
  auto loop = NewLoop();
  L lock;
  Event go;
  CancelScope scope;
  std::shared_ptr<Task> a;
  absl::Status a_status = absl::UnknownError("not run");
  bool a_got = false, b_got = false, handed_to_a = false;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(go.Wait().ok());
    loop->CallSoon([&] {
      // Scheduled before the Release below wakes A, so it runs first.
      EXPECT_EQ(lock.Waiters(), 1u);  // only B is still queued
      if (how == Interrupt::kCancel) {
        scope.Cancel();
      } else {
        EXPECT_TRUE(a->Kill().ok());
      }
    });
    ASSERT_TRUE(lock.Release().ok());
    handed_to_a = lock.IsLocked();
  });
  a = Go([&] {
    a_status = scope.Run([&] {
      ASSERT_TRUE(lock.Acquire().ok());
      a_got = true;
      ASSERT_TRUE(lock.Release().ok());
    });
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    b_got = lock.IsOwnedByCurrentTask();
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] {
    EXPECT_EQ(lock.Waiters(), 2u);
    go.Set();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(handed_to_a);
  EXPECT_FALSE(a_got);
  EXPECT_TRUE(b_got);
  if (how == Interrupt::kCancel) {
    EXPECT_EQ(a_status.code(), StatusCode::kCancelled) << a_status;
  } else {
    EXPECT_TRUE(a->killed());
  }
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(lock.Waiters(), 0u);
}

TYPED_TEST(LockLikeTest, CancelledGranteePassesTheLockOn) {
  CheckInterruptedGranteePassesTheLockOn<TypeParam>(Interrupt::kCancel);
}

TYPED_TEST(LockLikeTest, KilledGranteePassesTheLockOn) {
  CheckInterruptedGranteePassesTheLockOn<TypeParam>(Interrupt::kKill);
}

TYPED_TEST(LockLikeTest, ATaskKilledWhileHoldingReleasesOnlyThroughAGuard) {
  auto loop = NewLoop();
  TypeParam guarded, bare;
  Event never;
  bool waiter_got = false;
  absl::Status bare_after_kill = absl::UnknownError("not run");
  std::shared_ptr<Task> with_guard = Go([&] {
    std::lock_guard<TypeParam> guard(guarded);
    (void)never.Wait();
  });
  std::shared_ptr<Task> without_guard = Go([&] {
    ASSERT_TRUE(bare.Acquire().ok());
    (void)never.Wait();
  });
  Go([&] {
    ASSERT_TRUE(guarded.Acquire().ok());  // blocks until the kill below
    waiter_got = true;
    ASSERT_TRUE(guarded.Release().ok());
  });
  Go([&] {
    EXPECT_TRUE(with_guard->Kill().ok());
    EXPECT_TRUE(without_guard->Kill().ok());
    // Documented: a bare Acquire stays locked after its task died.
    EXPECT_TRUE(bare.IsLocked());
    EXPECT_FALSE(bare.TryAcquire());
    bare_after_kill = bare.Acquire(Deadline::After(absl::Milliseconds(1)));
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(waiter_got);
  EXPECT_FALSE(guarded.IsLocked());
  EXPECT_TRUE(bare.IsLocked());
  EXPECT_EQ(bare_after_kill.code(), StatusCode::kDeadlineExceeded);
}

// ---------------------------------------------------------------------------
// Lock and RLock: what differs.

TEST(LockTest, AcquireByTheOwnerIsAnErrorNotADeadlock) {
  auto loop = NewLoop();
  Lock lock;
  absl::Status again;
  bool try_again = true;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    again = lock.Acquire();
    try_again = lock.TryAcquire();
    EXPECT_THROW(lock.lock(), LockError);
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again;
  EXPECT_NE(again.message().find("already held by this task"),
            std::string::npos);
  EXPECT_FALSE(try_again);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(RLockTest, ReentrantLevelsAndOwnership) {
  auto loop = NewLoop();
  RLock lock;
  std::vector<std::string> trace;
  absl::Status other_release;
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(lock.TryAcquire());
    {
      std::lock_guard<RLock> nested(lock);
      EXPECT_EQ(lock.Count(), 4u);
    }
    EXPECT_EQ(lock.Count(), 3u);
    ASSERT_TRUE(Yield().ok());  // the other task tries and queues
    for (int i = 0; i < 3; ++i) {
      trace.push_back(absl::StrCat("release ", i));
      ASSERT_TRUE(lock.Release().ok());
      ASSERT_TRUE(Yield().ok());
    }
  });
  Go([&] {
    EXPECT_FALSE(lock.TryAcquire());
    other_release = lock.Release();
    ASSERT_TRUE(lock.Acquire().ok());
    trace.push_back("other got it");
    EXPECT_EQ(lock.Count(), 1u);
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(trace, (std::vector<std::string>{"release 0", "release 1",
                                             "release 2", "other got it"}));
  EXPECT_EQ(other_release.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(other_release.message(), "rlock release: not held by this task");
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(lock.Count(), 0u);
}

// ---------------------------------------------------------------------------
// Semaphore and BoundedSemaphore.

TEST(SemaphoreTest, CountsTryAcquireAndCallbacks) {
  auto loop = NewLoop();
  Semaphore sem(2);
  EXPECT_EQ(sem.value(), 2u);
  EXPECT_TRUE(sem.TryAcquire());
  EXPECT_TRUE(sem.Acquire().ok());  // a free unit: no task needed
  EXPECT_FALSE(sem.TryAcquire());
  absl::Status would_block = sem.Acquire();
  EXPECT_EQ(would_block.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(would_block.message(), "semaphore acquire: not in a task");
  EXPECT_EQ(sem.value(), 0u);
  absl::Status zero = sem.Release(0);
  EXPECT_EQ(zero.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.message(), "semaphore release: n must be at least 1");
  EXPECT_TRUE(sem.Release(3).ok());  // unbounded: above the initial value
  EXPECT_EQ(sem.value(), 3u);
  int got = 0;
  for (int i = 0; i < 4; ++i) {
    Go([&] {
      ASSERT_TRUE(sem.Acquire().ok());
      ++got;
    });
  }
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(got, 3);
    EXPECT_EQ(sem.Waiters(), 1u);
    EXPECT_TRUE(sem.Release().ok());  // from a callback
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(got, 4);
  EXPECT_EQ(sem.value(), 0u);
}

TEST(SemaphoreTest, UnitsGoToWaitersInFifoOrderWithoutBarging) {
  auto loop = NewLoop();
  Semaphore sem(0);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    Go([&, i] {
      ASSERT_TRUE(sem.Acquire().ok());
      order.push_back(i);
    });
  }
  Go([&] {
    EXPECT_EQ(sem.Waiters(), 5u);
    ASSERT_TRUE(sem.Release(2).ok());
    EXPECT_EQ(sem.value(), 0u);  // both units handed to waiters 0 and 1
    EXPECT_FALSE(sem.TryAcquire());
    Go([&] {
      ASSERT_TRUE(sem.Acquire().ok());  // queues behind 2, 3, 4
      order.push_back(5);
    });
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
    EXPECT_EQ(sem.Waiters(), 4u);
    ASSERT_TRUE(sem.Release(5).ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(sem.value(), 1u);
  EXPECT_EQ(sem.Waiters(), 0u);
}

TEST(SemaphoreTest, TimeoutScopeAndKillLeaveItUsable) {
  auto loop = NewLoop();
  Semaphore sem(0);
  absl::Status timed_out, scoped;
  std::vector<std::string> order;
  int destroyed = 0;
  std::shared_ptr<Task> first = Go([&] {
    timed_out = sem.Acquire(Deadline::After(absl::Milliseconds(1)));
    scoped = WithTimeout(absl::Milliseconds(1), [&] {
      (void)sem.Acquire();
      order.push_back("scoped");
    });
  });
  std::shared_ptr<Task> victim;
  for (std::string name : {"a", "b", "c"}) {
    std::shared_ptr<Task> t = Go([&, name] {
      Tracker tracker(&destroyed);
      ASSERT_TRUE(sem.Acquire().ok());
      order.push_back(name);
    });
    if (name == "b") victim = t;
  }
  Go([&] {
    EXPECT_EQ(sem.Waiters(), 4u);
    EXPECT_TRUE(victim->Kill().ok());
    EXPECT_EQ(sem.Waiters(), 3u);
    ASSERT_TRUE(first->Join().ok());  // it gave up twice
    EXPECT_EQ(sem.Waiters(), 2u);
    ASSERT_TRUE(sem.Release(3).ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(timed_out.code(), StatusCode::kDeadlineExceeded) << timed_out;
  EXPECT_EQ(timed_out.message(), "semaphore acquire: deadline exceeded");
  EXPECT_EQ(scoped.code(), StatusCode::kDeadlineExceeded) << scoped;
  EXPECT_EQ(order, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(sem.value(), 1u);
}

class SemaphoreInterruptTest : public testing::TestWithParam<Interrupt> {};

TEST_P(SemaphoreInterruptTest, InterruptedGranteePassesTheUnitOn) {
  auto loop = NewLoop();
  Semaphore sem(0);
  CancelScope scope;
  std::shared_ptr<Task> a;
  absl::Status a_status = absl::UnknownError("not run");
  bool a_got = false, b_got = false;
  a = Go([&] {
    a_status = scope.Run([&] {
      ASSERT_TRUE(sem.Acquire().ok());
      a_got = true;
    });
  });
  Go([&] {
    ASSERT_TRUE(sem.Acquire().ok());
    b_got = true;
  });
  Go([&] {
    EXPECT_EQ(sem.Waiters(), 2u);
    loop->CallSoon([&] {  // before A, which the Release below wakes
      if (GetParam() == Interrupt::kCancel) {
        scope.Cancel();
      } else {
        EXPECT_TRUE(a->Kill().ok());
      }
    });
    ASSERT_TRUE(sem.Release().ok());
    EXPECT_EQ(sem.value(), 0u);  // handed to A
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_FALSE(a_got);
  EXPECT_TRUE(b_got);
  if (GetParam() == Interrupt::kCancel) {
    EXPECT_EQ(a_status.code(), StatusCode::kCancelled) << a_status;
  } else {
    EXPECT_TRUE(a->killed());
  }
  EXPECT_EQ(sem.value(), 0u);
  EXPECT_EQ(sem.Waiters(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Both, SemaphoreInterruptTest,
                         testing::Values(Interrupt::kCancel, Interrupt::kKill),
                         InterruptName);

TEST(BoundedSemaphoreTest, ReleaseAboveTheInitialValueIsAnError) {
  auto loop = NewLoop();
  BoundedSemaphore sem(2);
  EXPECT_EQ(sem.initial_value(), 2u);
  absl::Status over = sem.Release();
  EXPECT_EQ(over.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(over.message().find("bounded semaphore release: too many releases"),
            std::string::npos)
      << over;
  EXPECT_EQ(sem.value(), 2u);
  ASSERT_TRUE(sem.TryAcquire());
  EXPECT_EQ(sem.Release(2).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sem.value(), 1u);  // nothing released by the failed call
  EXPECT_TRUE(sem.Release().ok());
  EXPECT_EQ(sem.value(), 2u);
  EXPECT_EQ(sem.Release(0).code(), StatusCode::kInvalidArgument);

  // With a waiter: units handed to it count as held.
  int got = 0;
  absl::Status third;
  for (int i = 0; i < 3; ++i) {
    Go([&] {
      ASSERT_TRUE(sem.Acquire().ok());
      ++got;
    });
  }
  Go([&] {
    EXPECT_EQ(got, 2);
    EXPECT_EQ(sem.Waiters(), 1u);
    ASSERT_TRUE(sem.Release().ok());  // to the waiter
    ASSERT_TRUE(sem.Release().ok());
    ASSERT_TRUE(sem.Release().ok());
    third = sem.Release();  // all three units are back
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(got, 3);
  EXPECT_EQ(third.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sem.value(), 2u);
}

// ---------------------------------------------------------------------------
// Condition.

TEST(ConditionTest, NotifyWakesInFifoOrderAndWaitersRequeueOnTheLock) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  std::vector<int> order;
  cond.Notify();  // nobody waits: no effect, not remembered
  cond.NotifyAll();
  for (int i = 0; i < 5; ++i) {
    Go([&, i] {
      std::unique_lock<Lock> guard(lock);
      ASSERT_TRUE(cond.Wait().ok());
      EXPECT_TRUE(lock.IsOwnedByCurrentTask());
      order.push_back(i);
    });
  }
  Go([&] {
    EXPECT_EQ(cond.Waiters(), 5u);
    EXPECT_FALSE(lock.IsLocked());  // every waiter released it
    cond.Notify(2);
    EXPECT_EQ(cond.Waiters(), 3u);
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
    {
      std::lock_guard<Lock> guard(lock);
      cond.NotifyAll();
      ASSERT_TRUE(Yield().ok());
      EXPECT_EQ(lock.Waiters(), 3u);  // woken, queued on the lock in order
      EXPECT_EQ(order.size(), 2u);
    }
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(cond.Waiters(), 0u);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(ConditionTest, WaitForRechecksThePredicateOnEveryWakeup) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  int items = 0, calls = 0, seen = -1;
  absl::Status s = absl::UnknownError("not run");
  Go([&] {
    std::lock_guard<Lock> guard(lock);
    s = cond.WaitFor([&] {
      ++calls;
      EXPECT_TRUE(lock.IsOwnedByCurrentTask());
      return items >= 3;
    });
    seen = items;
  });
  Go([&] {
    EXPECT_EQ(calls, 1);  // checked once before waiting
    cond.Notify();        // a wakeup with nothing changed
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(calls, 2);
    for (int i = 0; i < 3; ++i) {
      {
        std::lock_guard<Lock> guard(lock);
        ++items;
        cond.NotifyAll();
      }
      ASSERT_TRUE(Yield().ok());
    }
    cond.Notify();  // after it returned: nobody to wake
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 5);  // first check + 4 wakeups
  EXPECT_EQ(seen, 3);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(ConditionTest, TimeoutsReturnDeadlineExceededHoldingTheLock) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  absl::Status wait, wait_for;
  int calls = 0;
  bool other_ran_meanwhile = false, owned_after_wait = false,
       owned_after_wait_for = false;
  Go([&] {
    std::lock_guard<Lock> guard(lock);
    wait = cond.Wait(Deadline::After(absl::Milliseconds(2)));
    owned_after_wait = lock.IsOwnedByCurrentTask();
    wait_for = cond.WaitFor(
        [&] {
          ++calls;
          return false;
        },
        Deadline::After(absl::Milliseconds(2)));
    owned_after_wait_for = lock.IsOwnedByCurrentTask();
    EXPECT_EQ(cond.Waiters(), 0u);
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());  // possible only while the other waits
    other_ran_meanwhile = true;
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(wait.code(), StatusCode::kDeadlineExceeded) << wait;
  EXPECT_EQ(wait.message(), "condition wait: deadline exceeded");
  EXPECT_EQ(wait_for.code(), StatusCode::kDeadlineExceeded) << wait_for;
  EXPECT_EQ(wait_for.message(), "condition wait_for: deadline exceeded");
  EXPECT_EQ(calls, 2);  // before waiting, and after the timeout wakeup
  EXPECT_TRUE(other_ran_meanwhile);
  EXPECT_TRUE(owned_after_wait);
  EXPECT_TRUE(owned_after_wait_for);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(ConditionTest, TimedOutWaitReacquiresAfterTheHolderReleases) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  absl::Status s;
  bool holder_released = false, released_before_return = false;
  Go([&] {
    std::lock_guard<Lock> guard(lock);
    s = cond.Wait(Deadline::After(absl::Milliseconds(1)));
    released_before_return = holder_released;
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(Sleep(absl::Milliseconds(10)).ok());  // past the timeout
    EXPECT_EQ(lock.Waiters(), 1u);  // the timed-out waiter wants it back
    holder_released = true;
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
  EXPECT_TRUE(released_before_return);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(ConditionTest, ANotificationRacingWithTheDeadlineCounts) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  // Set by the first task, which runs just before the waiter: far enough
  // ahead that the waiter starts waiting before it passes, even slowed down
  // by valgrind.
  Deadline d = Deadline::Never();
  absl::Status s = absl::UnknownError("not run");
  Go([&] {
    d = Deadline::After(absl::Milliseconds(100));
    ASSERT_TRUE(SleepUntil(d).ok());  // its timer runs first in that round
    cond.Notify();
  });
  Go([&] {
    std::lock_guard<Lock> guard(lock);
    s = cond.Wait(d);
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ConditionTest, MisuseErrors) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  absl::Status outside = cond.Wait();
  EXPECT_EQ(outside.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(outside.message(), "condition wait: not in a task");
  absl::Status unlocked, other_holds, wait_for_unlocked;
  int calls = 0;
  Go([&] {
    unlocked = cond.Wait();
    wait_for_unlocked = cond.WaitFor([&] {
      ++calls;
      return true;
    });
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] { other_holds = cond.Wait(); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(unlocked.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(unlocked.message(),
            "condition wait: the lock is not held by this task");
  EXPECT_EQ(other_holds.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(wait_for_unlocked.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(wait_for_unlocked.message(),
            "condition wait_for: the lock is not held by this task");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(cond.Waiters(), 0u);
}

TEST(ConditionTest, KillDuringWaitReleasesThroughTheGuard) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  int destroyed = 0;
  bool flag = false, b_done = false;
  std::shared_ptr<Task> a = Go([&] {
    std::unique_lock<Lock> guard(lock);
    Tracker tracker(&destroyed);
    (void)cond.Wait();
    ADD_FAILURE() << "the killed waiter went on";
  });
  Go([&] {
    std::unique_lock<Lock> guard(lock);
    ASSERT_TRUE(cond.WaitFor([&] { return flag; }).ok());
    b_done = true;
  });
  Go([&] {
    EXPECT_EQ(cond.Waiters(), 2u);
    EXPECT_TRUE(a->Kill().ok());
    EXPECT_EQ(destroyed, 1);
    EXPECT_EQ(cond.Waiters(), 1u);
    EXPECT_FALSE(lock.IsLocked());  // its guard released what Wait took
    std::lock_guard<Lock> guard(lock);
    flag = true;
    cond.Notify();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(a->killed());
  EXPECT_TRUE(b_done);
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(cond.Waiters(), 0u);
}

// A was notified and is waiting for the lock (held by the controller) when
// it is killed: it cannot block any more, so it leaves without the lock
// (its guard's unlock is absorbed), and its notification goes to B.
TEST(ConditionTest, KillWhileReacquiringPassesTheNotificationOn) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  absl::Status b_status = absl::UnknownError("not run");
  std::shared_ptr<Task> a = Go([&] {
    std::unique_lock<Lock> guard(lock);
    (void)cond.Wait();
    ADD_FAILURE() << "the killed waiter went on";
  });
  Go([&] {
    std::unique_lock<Lock> guard(lock);
    b_status = cond.Wait();
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
  });
  Go([&] {
    std::unique_lock<Lock> guard(lock);
    cond.Notify(1);  // A
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(lock.Waiters(), 1u);  // A, re-acquiring
    EXPECT_TRUE(a->Kill().ok());
    EXPECT_EQ(cond.Waiters(), 0u);  // B got A's notification
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(lock.Waiters(), 1u);  // B, re-acquiring
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(a->killed());
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_FALSE(lock.IsLocked());
}

// The lost-wakeup case: A is notified, and cancelled in the same round
// before it runs. B must get the notification.
class ConditionInterruptTest : public testing::TestWithParam<Interrupt> {};

TEST_P(ConditionInterruptTest, InterruptedNotifiedWaiterPassesItOn) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  CancelScope scope;
  std::shared_ptr<Task> a;
  absl::Status a_status = absl::UnknownError("not run"),
               b_status = absl::UnknownError("not run");
  bool held_while_unwinding = false;
  a = Go([&] {
    a_status = scope.Run([&] {
      std::unique_lock<Lock> guard(lock);
      try {
        (void)cond.Wait();
      } catch (const Cancelled&) {
        held_while_unwinding = lock.IsOwnedByCurrentTask();
        throw;
      }
      ADD_FAILURE() << "A returned from Wait";
    });
  });
  Go([&] {
    std::unique_lock<Lock> guard(lock);
    b_status = cond.Wait();
  });
  Go([&] {
    EXPECT_EQ(cond.Waiters(), 2u);
    loop->CallSoon([&] {  // before A, which the Notify below wakes
      if (GetParam() == Interrupt::kCancel) {
        scope.Cancel();
      } else {
        EXPECT_TRUE(a->Kill().ok());
      }
    });
    cond.Notify(1);
    EXPECT_EQ(cond.Waiters(), 1u);
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(b_status.ok()) << b_status;
  if (GetParam() == Interrupt::kCancel) {
    EXPECT_EQ(a_status.code(), StatusCode::kCancelled) << a_status;
    EXPECT_TRUE(held_while_unwinding);  // the lock was free: retaken
  } else {
    EXPECT_TRUE(a->killed());
  }
  EXPECT_EQ(cond.Waiters(), 0u);
  EXPECT_FALSE(lock.IsLocked());
}

INSTANTIATE_TEST_SUITE_P(Both, ConditionInterruptTest,
                         testing::Values(Interrupt::kCancel, Interrupt::kKill),
                         InterruptName);

TEST(ConditionTest, WithTimeoutWhileAnotherTaskHoldsTheLock) {
  auto loop = NewLoop();
  Lock lock;
  Condition cond(lock);
  absl::Status scoped, release_after;
  bool other_held_at_timeout = false, owned_after = true;
  Go([&] {
    scoped = WithTimeout(absl::Milliseconds(2), [&] {
      std::unique_lock<Lock> guard(lock);
      (void)cond.Wait();
    });
    // The guard's unlock was absorbed; the holder still has the lock.
    other_held_at_timeout = lock.IsLocked();
    owned_after = lock.IsOwnedByCurrentTask();
    release_after = lock.Release();  // nothing owed any more
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(Sleep(absl::Milliseconds(10)).ok());
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(scoped.code(), StatusCode::kDeadlineExceeded) << scoped;
  EXPECT_TRUE(other_held_at_timeout);
  EXPECT_FALSE(owned_after);
  EXPECT_EQ(release_after.code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(lock.IsLocked());
}

TEST(ConditionTest, OverAnRLockReleasesAndRestoresEveryLevel) {
  auto loop = NewLoop();
  RLock lock;
  Condition cond(lock);
  size_t levels_after = 0;
  bool other_got_it = false;
  absl::Status s = absl::UnknownError("not run");
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    ASSERT_TRUE(lock.Acquire().ok());
    s = cond.Wait();
    levels_after = lock.Count();
    EXPECT_TRUE(lock.IsOwnedByCurrentTask());
    ASSERT_TRUE(lock.Release().ok());
    ASSERT_TRUE(lock.Release().ok());
  });
  Go([&] {
    ASSERT_TRUE(lock.Acquire().ok());
    other_got_it = true;
    cond.Notify();
    ASSERT_TRUE(lock.Release().ok());
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(other_got_it);
  EXPECT_EQ(levels_after, 2u);
  EXPECT_FALSE(lock.IsLocked());
}

// ---------------------------------------------------------------------------
// Barrier.

TEST(BarrierTest, IndicesFifoReleaseAndCycles) {
  auto loop = NewLoop();
  Barrier barrier(3);
  std::vector<std::string> trace;
  auto party = [&](std::string name) {
    for (int cycle = 0; cycle < 2; ++cycle) {
      absl::StatusOr<size_t> i = barrier.Wait();
      ASSERT_TRUE(i.ok()) << i.status();
      trace.push_back(absl::StrCat(name, *i));
    }
  };
  Go([&] { party("a"); });
  Go([&] { party("b"); });
  Go([&] {
    EXPECT_EQ(barrier.n_waiting(), 2u);
    EXPECT_FALSE(barrier.broken());
  });
  Go([&] { party("c"); });
  ASSERT_TRUE(loop->Run().ok());
  // Cycle 1: a, b, c arrive; c (last) goes on at once, then a, b in order.
  // Cycle 2: c, a, b arrive; b goes on, then c, a.
  EXPECT_EQ(trace,
            (std::vector<std::string>{"c2", "a0", "b1", "b2", "c0", "a1"}));
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_EQ(barrier.parties(), 3u);
}

TEST(BarrierTest, MisuseAndDegenerateParties) {
  auto loop = NewLoop();
  Barrier none(0);
  absl::StatusOr<size_t> zero = none.Wait();
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(),
            "barrier wait: parties must be at least 1");
  Barrier one(1);
  absl::StatusOr<size_t> alone = one.Wait();  // never blocks
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_EQ(*alone, 0u);
  Barrier two(2);
  absl::StatusOr<size_t> outside = two.Wait();
  EXPECT_EQ(outside.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(two.n_waiting(), 0u);  // not counted as an arrival
  EXPECT_FALSE(two.broken());
}

TEST(BarrierTest, TimeoutBreaksTheBarrierForEveryoneUntilReset) {
  auto loop = NewLoop();
  Barrier barrier(3);
  absl::StatusOr<size_t> patient = absl::UnknownError("not run");
  absl::StatusOr<size_t> hasty = absl::UnknownError("not run");
  absl::StatusOr<size_t> late = absl::UnknownError("not run");
  int passed_after_reset = 0;
  Go([&] { patient = barrier.Wait(); });
  Go([&] { hasty = barrier.Wait(Deadline::After(absl::Milliseconds(2))); });
  Go([&] {
    ASSERT_TRUE(Sleep(absl::Milliseconds(10)).ok());
    EXPECT_TRUE(barrier.broken());
    late = barrier.Wait();
    barrier.Reset();
    EXPECT_FALSE(barrier.broken());
    for (int i = 0; i < 3; ++i) {
      Go([&] {
        if (barrier.Wait().ok()) ++passed_after_reset;
      });
    }
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(hasty.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(hasty.status().message(),
            "barrier wait: deadline exceeded; the barrier is broken");
  EXPECT_EQ(patient.status().code(), StatusCode::kAborted);
  EXPECT_EQ(patient.status().message(), "barrier wait: the barrier is broken");
  EXPECT_EQ(late.status().code(), StatusCode::kAborted);
  EXPECT_EQ(passed_after_reset, 3);
  EXPECT_FALSE(barrier.broken());
}

class BarrierInterruptTest : public testing::TestWithParam<Interrupt> {};

TEST_P(BarrierInterruptTest, InterruptingAWaiterBreaksTheBarrier) {
  auto loop = NewLoop();
  Barrier barrier(3);
  absl::StatusOr<size_t> other = absl::UnknownError("not run");
  absl::Status scoped = absl::UnknownError("not run");
  int destroyed = 0, passed_after_reset = 0;
  Go([&] { other = barrier.Wait(); });
  std::shared_ptr<Task> victim = Go([&] {
    Tracker tracker(&destroyed);
    if (GetParam() == Interrupt::kCancel) {
      scoped = WithTimeout(absl::Milliseconds(2), [&] {
        (void)barrier.Wait();
        ADD_FAILURE() << "the cancelled waiter passed";
      });
    } else {
      (void)barrier.Wait();
      ADD_FAILURE() << "the killed waiter went on";
    }
  });
  Go([&] {
    EXPECT_EQ(barrier.n_waiting(), 2u);
    if (GetParam() == Interrupt::kKill) {
      EXPECT_TRUE(victim->Kill().ok());
    } else {
      ASSERT_TRUE(victim->Join().ok());
    }
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0u);
    barrier.Reset();
    for (int i = 0; i < 3; ++i) {
      Go([&] {
        if (barrier.Wait().ok()) ++passed_after_reset;
      });
    }
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(other.status().code(), StatusCode::kAborted) << other.status();
  EXPECT_EQ(destroyed, 1);
  if (GetParam() == Interrupt::kCancel) {
    EXPECT_EQ(scoped.code(), StatusCode::kDeadlineExceeded) << scoped;
  } else {
    EXPECT_TRUE(victim->killed());
  }
  EXPECT_EQ(passed_after_reset, 3);
  EXPECT_FALSE(barrier.broken());
}

INSTANTIATE_TEST_SUITE_P(Both, BarrierInterruptTest,
                         testing::Values(Interrupt::kCancel, Interrupt::kKill),
                         InterruptName);

TEST(BarrierTest, KilledAfterTheBarrierPassedDoesNotBreakIt) {
  auto loop = NewLoop();
  Barrier barrier(2);
  std::shared_ptr<Task> a = Go([&] {
    (void)barrier.Wait();
    ADD_FAILURE() << "the killed waiter went on";
  });
  absl::StatusOr<size_t> last = absl::UnknownError("not run");
  Go([&] {
    loop->CallSoon([&] { EXPECT_TRUE(a->Kill().ok()); });  // before A runs
    last = barrier.Wait();
  });
  ASSERT_TRUE(loop->Run().ok());
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 1u);
  EXPECT_TRUE(a->killed());
  EXPECT_FALSE(barrier.broken());
}

TEST(BarrierTest, AbortAndResetWakeTheWaiters) {
  auto loop = NewLoop();
  Barrier barrier(3);
  std::vector<absl::StatusCode> codes;
  auto wait = [&] { codes.push_back(barrier.Wait().status().code()); };
  Event third_go;
  Go(wait);
  Go(wait);
  Go([&] {
    EXPECT_EQ(barrier.n_waiting(), 2u);
    barrier.Reset();  // waiters get ABORTED; the barrier is not broken
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0u);
    ASSERT_TRUE(Yield().ok());
    third_go.Set();
    ASSERT_TRUE(Yield().ok());
    EXPECT_EQ(barrier.n_waiting(), 1u);
    barrier.Abort();
    EXPECT_TRUE(barrier.broken());
    ASSERT_TRUE(Yield().ok());
    wait();  // broken: fails at once
  });
  Go([&] {
    ASSERT_TRUE(third_go.Wait().ok());
    wait();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>(4, StatusCode::kAborted)));
  EXPECT_TRUE(barrier.broken());
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
