#include "runtime/semaphore.h"

#include "absl/strings/str_cat.h"
#include "runtime/internal/wait.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {

absl::Status Semaphore::Acquire(Deadline deadline) {
  // value_ > 0 implies nobody waits (Release serves waiters first).
  if (value_ > 0 && waiters_.empty()) {
    --value_;
    return absl::OkStatus();
  }
  Task* me = Task::Current();
  if (me == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " acquire: not in a task"));
  }
  sync_internal::GrantNode node(me);
  waiters_.PushBack(&node);
  bool granted = false;
  try {
    granted = sync_internal::WaitForGrant(me, node, deadline);
  } catch (...) {
    // Killed or cancelled: a unit handed to us goes to the next waiter.
    waiters_.Remove(&node);
    if (node.granted) GiveOne();
    throw;
  }
  waiters_.Remove(&node);
  if (!granted) {
    return absl::DeadlineExceededError(
        absl::StrCat(name_, " acquire: deadline exceeded"));
  }
  return absl::OkStatus();
}

bool Semaphore::TryAcquire() {
  if (value_ == 0 || !waiters_.empty()) return false;
  --value_;
  return true;
}

absl::Status Semaphore::Release(size_t n) {
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, " release: n must be at least 1"));
  }
  // Units held (including those handed to waiters not yet running) are
  // bound_ - value_ for a bounded semaphore.
  if (bound_ != std::numeric_limits<size_t>::max() && n > bound_ - value_) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " release: too many releases (value ", value_,
                     ", bound ", bound_, ", releasing ", n, ")"));
  }
  if (n > std::numeric_limits<size_t>::max() - value_) {
    return absl::OutOfRangeError(
        absl::StrCat(name_, " release: value overflow"));
  }
  for (size_t i = 0; i < n; ++i) GiveOne();
  return absl::OkStatus();
}

void Semaphore::GiveOne() {
  if (waiters_.GrantFront() == nullptr) ++value_;
}

}  // namespace runtime
}  // namespace evergreen
