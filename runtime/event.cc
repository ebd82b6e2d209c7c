#include "runtime/event.h"

#include "runtime/task.h"

namespace evergreen {
namespace runtime {

void Event::Set() {
  set_ = true;
  waiters_.NotifyAll();
}

absl::Status Event::Wait(Deadline deadline) {
  if (set_) return absl::OkStatus();
  Task* me = Task::Current();
  if (me == nullptr) {
    return absl::FailedPreconditionError("event wait: not in a task");
  }
  while (!set_) {
    if (!runtime_internal::Wait(me, waiters_, deadline) && !set_) {
      return absl::DeadlineExceededError("event wait: deadline exceeded");
    }
  }
  return absl::OkStatus();
}

}  // namespace runtime
}  // namespace evergreen
