// runtime/event.h: Event, a flag tasks can wait for.
//
//   evergreen::runtime::Event ready;
//   // task A:
//   absl::Status s = ready.Wait();   // blocks A until Set
//   // task B or a callback:
//   ready.Set();                     // wakes every waiter, FIFO
//
// Loop thread only (one EventLoop's tasks and callbacks).
#ifndef EVERGREEN_RUNTIME_EVENT_H_
#define EVERGREEN_RUNTIME_EVENT_H_

#include <cstddef>

#include "absl/status/status.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Set sets the flag and wakes all waiters (in the order they waited).
  void Set();
  // Clear resets the flag.
  void Clear() { set_ = false; }
  bool IsSet() const { return set_; }
  // Wait blocks the current task until the flag is set: OK, or
  // DEADLINE_EXCEEDED ("event wait: deadline exceeded") when `deadline`
  // passes first; FailedPrecondition outside a task. Throws when the task is
  // killed or its scope cancelled.
  absl::Status Wait(Deadline deadline = Deadline::Never());
  // Waiters returns the number of tasks waiting.
  size_t Waiters() const { return waiters_.size(); }

 private:
  bool set_ = false;
  runtime_internal::WaitQueue waiters_;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_EVENT_H_
