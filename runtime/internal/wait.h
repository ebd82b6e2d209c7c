// runtime/internal/wait.h: the blocking machinery shared by the runtime's
// primitives. Not a public API.
//
// A primitive that must wait puts a Waiter (on the blocked task's stack) in
// a WaitQueue and calls Suspend. Notify wakes a waiter; the woken task then
// re-checks the primitive's condition (a wakeup is a hint, never a
// hand-off), so a waiter that times out, is cancelled or killed after being
// notified loses nothing. Such a waiter passes its notification on to the
// next one (PassOn) so no wakeup is lost either.
#ifndef EVERGREEN_RUNTIME_INTERNAL_WAIT_H_
#define EVERGREEN_RUNTIME_INTERNAL_WAIT_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/deadline.h"

namespace evergreen {
namespace runtime {

class Task;

namespace runtime_internal {

class WaitQueue;

struct Waiter {
  explicit Waiter(Task* t) : task(t) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  // Leaves the queue; a notification received and not consumed goes to the
  // next waiter.
  ~Waiter();

  Task* task;
  WaitQueue* queue = nullptr;   // while queued
  WaitQueue* origin = nullptr;  // the queue it waited in
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool notified = false;
  // Set once Wait returned normally; otherwise (unwinding) a notification
  // received is passed on.
  bool returned = false;
};

// WaitQueue: FIFO of waiters. Loop thread only.
class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue();

  void PushBack(Waiter* w);
  void Remove(Waiter* w);
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  // NotifyOne takes the first waiter out of the queue and wakes its task;
  // false if the queue is empty.
  bool NotifyOne();
  // NotifyAll wakes every waiter.
  void NotifyAll();

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  size_t size_ = 0;
};

// CheckInTask sets *task to the running task, or returns
// FailedPrecondition ("<operation>: not in a task") in a callback or outside
// the loop.
absl::Status CheckInTask(absl::string_view operation, Task** task);

// Wait queues a waiter for the current task in `queue` and suspends it
// until notified or `deadline`. Returns true if notified. Throws when the
// task is killed or cancelled. The waiter has left the queue on return.
bool Wait(Task* task, WaitQueue& queue, Deadline deadline);

}  // namespace runtime_internal
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_INTERNAL_WAIT_H_
