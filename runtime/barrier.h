// runtime/barrier.h: Barrier, a meeting point for a fixed number of tasks.
//
//   evergreen::runtime::Barrier phase(3);
//   // in each of 3 tasks:
//   absl::StatusOr<size_t> i = phase.Wait(
//       evergreen::runtime::Deadline::After(absl::Seconds(1)));
//   if (!i.ok()) return i.status();  // the barrier broke (ABORTED) or this
//                                    // call timed out (DEADLINE_EXCEEDED)
//   if (*i == 0) Log("first to arrive");
//
// When the last of `parties` tasks arrives, every waiter is released (in
// the order they arrived) and the barrier starts over for the next cycle.
// As in Python, the barrier breaks when a waiter times out, is cancelled or
// is killed: everyone waiting then gets ABORTED ("barrier wait: the barrier
// is broken"), and so do later calls until Reset.
//
// Loop thread only (one EventLoop's tasks and callbacks). Must outlive the
// tasks waiting on it.
#ifndef EVERGREEN_RUNTIME_BARRIER_H_
#define EVERGREEN_RUNTIME_BARRIER_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/deadline.h"
#include "runtime/lock.h"

namespace evergreen {
namespace runtime {

class Barrier {
 public:
  // A barrier for `parties` tasks. 0 makes a barrier whose Wait always
  // fails with InvalidArgument.
  explicit Barrier(size_t parties) : parties_(parties) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Wait arrives at the barrier and blocks the current task until all
  // parties arrived. Returns the arrival index, 0 for the first to arrive
  // in this cycle to parties() - 1 for the last (which does not block).
  // Errors: ABORTED ("barrier wait: the barrier is broken") when the
  // barrier is or becomes broken (or is Reset while waiting);
  // DEADLINE_EXCEEDED ("barrier wait: deadline exceeded; the barrier is
  // broken") when `deadline` passes first, which breaks the barrier;
  // InvalidArgument when parties() is 0; FailedPrecondition outside a task
  // when it would have to block (the arrival is then not counted). Throws
  // when the task is killed or its scope cancelled, which breaks the
  // barrier.
  absl::StatusOr<size_t> Wait(Deadline deadline = Deadline::Never());

  // Reset returns the barrier to its initial state: tasks waiting now get
  // ABORTED; the barrier is no longer broken.
  void Reset();
  // Abort breaks the barrier: waiting tasks and later calls get ABORTED
  // until Reset.
  void Abort();

  size_t parties() const { return parties_; }
  // n_waiting: the tasks waiting in the current cycle.
  size_t n_waiting() const { return count_; }
  bool broken() const { return broken_; }

 private:
  enum Result { kPassed = 0, kBroken = 1 };
  void ReleaseWaiting(Result result);

  const size_t parties_;
  size_t count_ = 0;
  bool broken_ = false;
  sync_internal::GrantQueue waiters_;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_BARRIER_H_
