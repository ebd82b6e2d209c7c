// runtime/condition.h: Condition, a condition variable over a Lock or RLock
// for the tasks of one EventLoop.
//
//   evergreen::runtime::Lock lock;
//   evergreen::runtime::Condition ready(lock);
//   std::deque<int> items;
//   // consumer task:
//   std::unique_lock<evergreen::runtime::Lock> guard(lock);
//   absl::Status s = ready.WaitFor([&] { return !items.empty(); },
//                                  evergreen::runtime::Deadline::After(
//                                      absl::Seconds(1)));
//   if (s.ok()) Use(items.front());       // the lock is held again here
//   // producer task (or a callback, which cannot hold the lock):
//   items.push_back(1);
//   ready.Notify();                       // wakes the first waiter
//
// Wakeups go to waiters in the order they waited. A woken waiter re-acquires
// the lock (queueing FIFO behind the lock's other waiters) before Wait
// returns, whatever the outcome: notified, timed out, or interrupted.
//
// Interrupted waits (kill, cancellation, a WithTimeout scope expiring): Wait
// cannot block any more, so it re-acquires without waiting: if the lock is
// free (or was already handed back to the task) it takes it, and the
// caller's guard releases it while unwinding. If another task holds it,
// Wait leaves without it and the task's next Release of that lock (normally
// its guard's unlock() while unwinding) is absorbed as a no-op success, so
// guards stay correct. A notified waiter that is interrupted before it
// returns passes its notification on to the next waiter: no wakeup is lost.
//
// Loop thread only (one EventLoop's tasks and callbacks). Must outlive the
// tasks waiting on it; the Lock must outlive the Condition.
#ifndef EVERGREEN_RUNTIME_CONDITION_H_
#define EVERGREEN_RUNTIME_CONDITION_H_

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "runtime/deadline.h"
#include "runtime/lock.h"

namespace evergreen {
namespace runtime {

class Condition {
 public:
  // A condition over `lock` (not owned).
  explicit Condition(Lock& lock) : lock_(&lock.core_) {}
  explicit Condition(RLock& lock) : lock_(&lock.core_) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // Wait releases the lock (every level of an RLock), blocks the current
  // task until notified or `deadline`, and re-acquires the lock (restoring
  // the levels) before returning: OK when notified; DEADLINE_EXCEEDED
  // ("condition wait: deadline exceeded") on timeout, the lock held again.
  // FailedPrecondition outside a task or when the current task does not hold
  // the lock. Throws when the task is killed or its scope cancelled (see the
  // file comment for the lock then). A wakeup does not mean the condition
  // holds: re-check it, or use WaitFor.
  absl::Status Wait(Deadline deadline = Deadline::Never());

  // WaitFor waits until `predicate()` (called with the lock held) is true:
  // it is checked first, then again after every wakeup, including the one
  // at the deadline. OK once it is true; DEADLINE_EXCEEDED ("condition
  // wait_for: deadline exceeded") if it is still false at `deadline`; the
  // lock is held in both cases. Errors and exceptions as Wait.
  template <typename Predicate>
  absl::Status WaitFor(Predicate&& predicate,
                       Deadline deadline = Deadline::Never());

  // Notify wakes the first `n` waiters (fewer if fewer wait), in the order
  // they waited. Holding the lock is not required (callbacks may notify).
  void Notify(size_t n = 1);
  // NotifyAll wakes every waiter, in the order they waited.
  void NotifyAll();
  // Waiters: the number of tasks waiting to be notified.
  size_t Waiters() const { return waiters_.size(); }

 private:
  absl::Status CheckHeld(const char* operation, Task** me) const;
  absl::Status WaitHeld(Task* me, Deadline deadline);

  sync_internal::LockCore* lock_;
  sync_internal::GrantQueue waiters_;
};

template <typename Predicate>
absl::Status Condition::WaitFor(Predicate&& predicate, Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = CheckHeld("condition wait_for", &me); !s.ok()) {
    return s;
  }
  while (!predicate()) {
    absl::Status s = WaitHeld(me, deadline);
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      if (predicate()) return absl::OkStatus();
      return absl::DeadlineExceededError(
          "condition wait_for: deadline exceeded");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_CONDITION_H_
