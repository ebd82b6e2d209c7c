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
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("event wait", &me);
      !s.ok()) {
    return s;
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
