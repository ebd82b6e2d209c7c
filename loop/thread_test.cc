#include "loop/thread.h"

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace evergreen {
namespace loop {
namespace {

using std::chrono::seconds;

constexpr int kThreads = 8;

// Runs `fn(i)` on kThreads threads started together and joins them.
template <typename F>
void OnThreads(int n, F fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  for (std::thread& t : threads) t.join();
}

TEST(MutexTest, LockGuardCountsUnderContention) {
  Mutex mu;
  int counter = 0;
  OnThreads(kThreads, [&](int) {
    for (int i = 0; i < 10000; ++i) {
      std::lock_guard<Mutex> lock(mu);
      ++counter;
    }
  });
  EXPECT_EQ(counter, kThreads * 10000);
}

TEST(MutexTest, LockAndUnlockCountUnderContention) {
  Mutex mu;
  int counter = 0;
  OnThreads(kThreads, [&](int) {
    for (int i = 0; i < 10000; ++i) {
      mu.Lock();
      ++counter;
      mu.Unlock();
    }
  });
  EXPECT_EQ(counter, kThreads * 10000);
}

TEST(MutexTest, TryLockFailsWhileAnotherThreadHoldsIt) {
  Mutex mu;
  mu.Lock();
  bool taken = true;
  std::thread([&] { taken = mu.TryLock(); }).join();
  EXPECT_FALSE(taken);
  mu.Unlock();
  std::thread([&] {
    taken = mu.TryLock();
    if (taken) mu.Unlock();
  }).join();
  EXPECT_TRUE(taken);
  std::unique_lock<Mutex> lock(mu, std::try_to_lock);
  EXPECT_TRUE(lock.owns_lock());
}

TEST(MutexTest, RecursiveMutexNestsInItsHolder) {
  Mutex mu(Mutex::kRecursive);
  mu.Lock();
  mu.Lock();
  EXPECT_TRUE(mu.TryLock());
  bool taken = true;
  std::thread([&] { taken = mu.TryLock(); }).join();
  EXPECT_FALSE(taken);
  mu.Unlock();
  mu.Unlock();
  std::thread([&] { taken = mu.TryLock(); }).join();
  EXPECT_FALSE(taken);  // still held once
  mu.Unlock();
  std::thread([&] {
    taken = mu.TryLock();
    if (taken) mu.Unlock();
  }).join();
  EXPECT_TRUE(taken);
}

TEST(RWLockTest, ReadersShareWritersExclude) {
  RWLock rw;
  rw.ReadLock();
  bool read = false;
  bool write = true;
  std::thread([&] {
    read = rw.TryReadLock();
    if (read) rw.ReadUnlock();
    write = rw.TryWriteLock();
    if (write) rw.WriteUnlock();
  }).join();
  EXPECT_TRUE(read);
  EXPECT_FALSE(write);
  rw.ReadUnlock();

  rw.WriteLock();
  read = true;
  write = true;
  std::thread([&] {
    read = rw.TryReadLock();
    if (read) rw.ReadUnlock();
    write = rw.TryWriteLock();
    if (write) rw.WriteUnlock();
  }).join();
  EXPECT_FALSE(read);
  EXPECT_FALSE(write);
  rw.WriteUnlock();
  EXPECT_TRUE(rw.TryWriteLock());
  rw.WriteUnlock();
}

TEST(RWLockTest, ReadersNeverSeeAHalfWrite) {
  RWLock rw;
  int a = 0;
  int b = 0;
  std::atomic<int> torn{0};
  int reads = 0;
  Mutex reads_mu;
  OnThreads(kThreads, [&](int i) {
    for (int n = 0; n < 2000; ++n) {
      if (i % 2 == 0) {
        std::unique_lock<RWLock> lock(rw);
        ++a;
        ++b;
      } else {
        std::shared_lock<RWLock> lock(rw);
        if (a != b) torn.fetch_add(1);
        std::lock_guard<Mutex> count(reads_mu);
        ++reads;
      }
    }
  });
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(a, kThreads / 2 * 2000);
  EXPECT_EQ(b, kThreads / 2 * 2000);
  EXPECT_EQ(reads, kThreads / 2 * 2000);
}

// Whether WaitFor(timeout) times out within a bounded number of tries (a
// spurious wakeup returns true, so a single try could be unlucky).
bool TimesOut(Condition& cond, Mutex& mu, std::chrono::nanoseconds timeout)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  for (int i = 0; i < 100; ++i) {
    if (!cond.WaitFor(mu, timeout)) return true;
  }
  return false;
}

TEST(ConditionTest, WaitForTimesOutWithoutSignal) {
  Mutex mu;
  Condition cond;
  std::lock_guard<Mutex> lock(mu);
  EXPECT_TRUE(TimesOut(cond, mu, std::chrono::milliseconds(1)));
  // Zero and negative timeouts poll.
  EXPECT_TRUE(TimesOut(cond, mu, std::chrono::nanoseconds(0)));
  EXPECT_TRUE(TimesOut(cond, mu, seconds(-5)));
  // The mutex is held again after a timeout: another thread cannot take it.
  bool taken = true;
  std::thread([&] { taken = mu.TryLock(); }).join();
  EXPECT_FALSE(taken);
}

TEST(ConditionTest, SignalWakesAWaiter) {
  Mutex mu;
  Condition cond;
  bool ready = false;
  std::unique_lock<Mutex> lock(mu);
  std::thread producer([&] {
    std::lock_guard<Mutex> l(mu);
    ready = true;
    cond.Signal();
  });
  bool woken = true;
  while (!ready && woken) woken = cond.WaitFor(mu, seconds(10));
  EXPECT_TRUE(woken);
  EXPECT_TRUE(ready);
  lock.unlock();
  producer.join();
}

TEST(ConditionTest, BroadcastWakesEveryWaiter) {
  Mutex mu;
  Condition cond;
  int waiting = 0;
  bool go = false;
  int woken = 0;
  int timed_out = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      std::lock_guard<Mutex> lock(mu);
      ++waiting;
      cond.Broadcast();  // tells the main thread one more waits
      while (!go) {
        if (!cond.WaitFor(mu, seconds(10))) {
          ++timed_out;
          return;
        }
      }
      ++woken;
    });
  }
  {
    std::lock_guard<Mutex> lock(mu);
    while (waiting < kThreads) {
      if (!cond.WaitFor(mu, seconds(10))) break;
    }
    ASSERT_EQ(waiting, kThreads);
    // Every waiter is now inside WaitFor (it released the mutex there).
    go = true;
    cond.Broadcast();
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(woken, kThreads);
  EXPECT_EQ(timed_out, 0);
}

TEST(ConditionTest, ProducerConsumerWithWait) {
  Mutex mu;
  Condition cond;
  std::vector<int> queue;
  int consumed = 0;
  long sum = 0;
  std::thread consumer([&] {
    std::lock_guard<Mutex> lock(mu);
    while (consumed < 1000) {
      while (queue.empty()) cond.Wait(mu);
      sum += queue.back();
      queue.pop_back();
      ++consumed;
    }
  });
  for (int i = 1; i <= 1000; ++i) {
    std::lock_guard<Mutex> lock(mu);
    queue.push_back(i);
    cond.Signal();
  }
  consumer.join();
  EXPECT_EQ(consumed, 1000);
  EXPECT_EQ(sum, 1000 * 1001 / 2);
}

TEST(SemaphoreTest, CountsPostsAndWaits) {
  absl::StatusOr<std::unique_ptr<Semaphore>> sem = Semaphore::Create(2);
  ASSERT_TRUE(sem.ok()) << sem.status();
  EXPECT_TRUE((*sem)->TryWait());
  EXPECT_TRUE((*sem)->TryWait());
  EXPECT_FALSE((*sem)->TryWait());
  (*sem)->Post();
  (*sem)->Wait();  // the count was 1: does not block
  EXPECT_FALSE((*sem)->TryWait());
}

TEST(SemaphoreTest, WakesBlockedWaiters) {
  absl::StatusOr<std::unique_ptr<Semaphore>> sem = Semaphore::Create(0);
  ASSERT_TRUE(sem.ok()) << sem.status();
  Semaphore& s = **sem;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 100; ++n) {
        s.Wait();
        passed.fetch_add(1);
      }
    });
  }
  for (int n = 0; n < kThreads * 100; ++n) s.Post();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(passed.load(), kThreads * 100);
  EXPECT_FALSE(s.TryWait());
}

TEST(SemaphoreTest, TooLargeInitialValueIsAnError) {
  absl::StatusOr<std::unique_ptr<Semaphore>> sem =
      Semaphore::Create(static_cast<unsigned int>(SEM_VALUE_MAX) + 1u);
  ASSERT_FALSE(sem.ok());
  EXPECT_EQ(sem.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sem.status().message(),
            "semaphore init: EINVAL (invalid argument)");
  EXPECT_TRUE(Semaphore::Create(static_cast<unsigned int>(SEM_VALUE_MAX)).ok());
}

TEST(BarrierTest, ExactlyOneSerialThreadPerRound) {
  absl::StatusOr<std::unique_ptr<Barrier>> barrier = Barrier::Create(kThreads);
  ASSERT_TRUE(barrier.ok()) << barrier.status();
  constexpr int kRounds = 5;
  std::atomic<int> serial[kRounds] = {};
  std::atomic<int> arrived[kRounds] = {};
  std::atomic<int> early{0};
  OnThreads(kThreads, [&](int) {
    for (int round = 0; round < kRounds; ++round) {
      arrived[round].fetch_add(1);
      if ((*barrier)->Wait()) serial[round].fetch_add(1);
      // Nobody passes before everyone arrived.
      if (arrived[round].load() != kThreads) early.fetch_add(1);
    }
  });
  for (int round = 0; round < kRounds; ++round) {
    EXPECT_EQ(serial[round].load(), 1) << "round " << round;
  }
  EXPECT_EQ(early.load(), 0);
}

TEST(BarrierTest, CountOfOneNeverBlocksAndZeroIsAnError) {
  absl::StatusOr<std::unique_ptr<Barrier>> one = Barrier::Create(1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_TRUE((*one)->Wait());
  EXPECT_TRUE((*one)->Wait());
  absl::StatusOr<std::unique_ptr<Barrier>> zero = Barrier::Create(0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(), "barrier init: EINVAL (invalid argument)");
}

TEST(OnceTest, RunsExactlyOnceAcrossThreads) {
  Once once;
  absl::StatusOr<std::unique_ptr<Barrier>> start = Barrier::Create(kThreads);
  ASSERT_TRUE(start.ok());
  std::atomic<int> runs{0};
  std::atomic<int> saw_done{0};
  int value = 0;  // written by the one run, read by all after Call
  OnThreads(kThreads, [&](int) {
    (*start)->Wait();
    once.Call([&] {
      runs.fetch_add(1);
      value = 42;
    });
    // Every caller returns only once the function returned.
    if (value == 42) saw_done.fetch_add(1);
  });
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(saw_done.load(), kThreads);
  once.Call([&] { runs.fetch_add(1); });
  EXPECT_EQ(runs.load(), 1);
}

TEST(OnceTest, ThrowingFunctionCountsAsRun) {
  Once once;
  int runs = 0;
  EXPECT_THROW(once.Call([&] {
    ++runs;
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  once.Call([&] { ++runs; });
  EXPECT_EQ(runs, 1);
}

TEST(OnceTest, EmptyFunctionAndNestedOnces) {
  Once empty;
  empty.Call(nullptr);
  int runs = 0;
  empty.Call([&] { ++runs; });
  EXPECT_EQ(runs, 0);  // the empty function was the one run

  Once outer;
  Once inner;
  outer.Call([&] {
    ++runs;
    inner.Call([&] { runs += 10; });
    ++runs;
  });
  inner.Call([&] { runs += 100; });
  EXPECT_EQ(runs, 12);
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
