#include "runtime/barrier.h"

#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace {

absl::Status Broken() {
  return absl::AbortedError("barrier wait: the barrier is broken");
}

}  // namespace

absl::StatusOr<size_t> Barrier::Wait(Deadline deadline) {
  if (parties_ == 0) {
    return absl::InvalidArgumentError(
        "barrier wait: parties must be at least 1");
  }
  if (broken_) return Broken();
  const size_t index = count_;
  if (index + 1 == parties_) {
    count_ = 0;
    ReleaseWaiting(kPassed);
    return index;
  }
  Task* me = Task::Current();
  if (me == nullptr) {
    return absl::FailedPreconditionError("barrier wait: not in a task");
  }
  ++count_;
  sync_internal::GrantNode node(me);
  waiters_.PushBack(&node);
  bool released = false;
  try {
    released = sync_internal::WaitForGrant(me, node, deadline);
  } catch (...) {
    // Killed or cancelled before the barrier passed: it breaks.
    waiters_.Remove(&node);
    if (!node.granted) Abort();
    throw;
  }
  waiters_.Remove(&node);
  if (!released) {
    Abort();
    return absl::DeadlineExceededError(
        "barrier wait: deadline exceeded; the barrier is broken");
  }
  if (node.result == kBroken) return Broken();
  return index;
}

void Barrier::Reset() {
  ReleaseWaiting(kBroken);
  count_ = 0;
  broken_ = false;
}

void Barrier::Abort() {
  broken_ = true;
  count_ = 0;
  ReleaseWaiting(kBroken);
}

void Barrier::ReleaseWaiting(Result result) {
  while (waiters_.GrantFront(result) != nullptr) {
  }
}

}  // namespace runtime
}  // namespace evergreen
