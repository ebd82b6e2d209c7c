// runtime/semaphore.h: Semaphore and BoundedSemaphore, counters of units
// that tasks acquire and release.
//
//   evergreen::runtime::BoundedSemaphore slots(4);  // 4 concurrent fetches
//   // in each of many tasks:
//   if (absl::Status s = slots.Acquire(); !s.ok()) return s;  // blocks
//   Fetch(url);                                         // at most 4 at once
//   (void)slots.Release();
//
// A semaphore has no owner: any task or callback may release. Units go to
// waiters strictly in the order they waited: Release hands a unit directly
// to the first waiter, so a later arrival (or TryAcquire) cannot take it
// first. A waiter that times out, is cancelled or is killed leaves the
// queue; a unit already handed to it goes to the next waiter.
//
// Loop thread only (one EventLoop's tasks and callbacks). Must outlive the
// tasks waiting on it.
#ifndef EVERGREEN_RUNTIME_SEMAPHORE_H_
#define EVERGREEN_RUNTIME_SEMAPHORE_H_

#include <cstddef>
#include <limits>

#include "absl/status/status.h"
#include "runtime/deadline.h"
#include "runtime/lock.h"

namespace evergreen {
namespace runtime {

class Semaphore {
 public:
  // A semaphore with `value` units available.
  explicit Semaphore(size_t value = 1)
      : Semaphore(value, std::numeric_limits<size_t>::max(), "semaphore") {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Acquire takes one unit, blocking the current task while none is free
  // (or while other tasks wait before it): OK; DEADLINE_EXCEEDED
  // ("semaphore acquire: deadline exceeded") when `deadline` passes first;
  // FailedPrecondition outside a task when it would have to block (a
  // callback may take a free unit). Throws when the task is killed or its
  // scope cancelled, without taking a unit.
  absl::Status Acquire(Deadline deadline = Deadline::Never());
  // TryAcquire takes a unit if one is free and nobody waits: true if taken.
  // Never blocks; usable from callbacks.
  bool TryAcquire();
  // Release returns `n` units: each goes to the first waiter, or back to the
  // counter. InvalidArgument when n is 0; OutOfRange when the counter would
  // overflow; for a BoundedSemaphore, FailedPrecondition ("bounded semaphore
  // release: too many releases ...") when the value would exceed the initial
  // one (nothing is released then). Never blocks; tasks and callbacks.
  absl::Status Release(size_t n = 1);

  // value: the units free now (0 whenever tasks wait).
  size_t value() const { return value_; }
  // Waiters: the number of tasks waiting in Acquire.
  size_t Waiters() const { return waiters_.size(); }

 protected:
  Semaphore(size_t value, size_t bound, const char* name)
      : value_(value), bound_(bound), name_(name) {}
  size_t bound() const { return bound_; }

 private:
  // GiveOne: one unit to the first waiter, or to the counter.
  void GiveOne();

  size_t value_;
  const size_t bound_;
  const char* const name_;
  sync_internal::GrantQueue waiters_;
};

// BoundedSemaphore: a Semaphore whose Release fails instead of raising the
// value above the initial one (catches unbalanced releases).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(size_t value = 1)
      : Semaphore(value, value, "bounded semaphore") {}
  // initial_value: the bound.
  size_t initial_value() const { return bound(); }
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_SEMAPHORE_H_
