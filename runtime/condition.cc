#include "runtime/condition.h"

#include "absl/strings/str_cat.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {

absl::Status Condition::CheckHeld(const char* operation, Task** me) const {
  *me = Task::Current();
  if (*me == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(operation, ": not in a task"));
  }
  if (!lock_->IsOwnedBy(*me)) {
    return absl::FailedPreconditionError(
        absl::StrCat(operation, ": the lock is not held by this task"));
  }
  return absl::OkStatus();
}

absl::Status Condition::Wait(Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = CheckHeld("condition wait", &me); !s.ok()) return s;
  return WaitHeld(me, deadline);
}

absl::Status Condition::WaitHeld(Task* me, Deadline deadline) {
  sync_internal::GrantNode node(me);
  waiters_.PushBack(&node);  // before releasing: no notification missed
  size_t levels = lock_->ReleaseAll();
  bool notified = false;
  try {
    notified = sync_internal::WaitForGrant(me, node, deadline);
    waiters_.Remove(&node);
    lock_->AcquireRestore(me, levels);
  } catch (...) {
    // Killed or cancelled, waiting for the notification or for the lock.
    waiters_.Remove(&node);
    lock_->RestoreNow(me, levels);
    if (node.granted) Notify(1);  // a notification we did not use
    throw;
  }
  if (!notified) {
    return absl::DeadlineExceededError("condition wait: deadline exceeded");
  }
  return absl::OkStatus();
}

void Condition::Notify(size_t n) {
  for (size_t i = 0; i < n && waiters_.GrantFront() != nullptr; ++i) {
  }
}

void Condition::NotifyAll() {
  while (waiters_.GrantFront() != nullptr) {
  }
}

}  // namespace runtime
}  // namespace evergreen
