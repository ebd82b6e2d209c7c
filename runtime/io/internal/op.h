// runtime/io/internal/op.h: what the blocking calls of //runtime/io share
// with the //loop callbacks that complete them. Not a public API.
//
// The pattern: a blocking call starts a //loop operation whose callback
// captures a std::shared_ptr<Completion>, never the task's frame; the call
// waits on the completion. If the call unwinds (kill, cancel scope) or times
// out, it marks the completion abandoned and releases the operation (stops
// a read, closes a handle, cancels a request); the callback, which may
// still run later, then only does the cleanup the caller asks for.
#ifndef EVERGREEN_RUNTIME_IO_INTERNAL_OP_H_
#define EVERGREEN_RUNTIME_IO_INTERNAL_OP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

// Completion is the state one operation shares with its callback.
struct Completion {
  bool done = false;
  bool abandoned = false;
  absl::Status status;
  runtime_internal::WaitQueue waiters;

  void Complete(absl::Status s = absl::OkStatus()) {
    done = true;
    status = std::move(s);
    waiters.NotifyAll();
  }
};

// Await blocks `me` until `c.done`; false when `deadline` passed first.
// Throws when the task is killed or cancelled.
bool Await(Task* me, Completion& c, Deadline deadline);

// RefWhileWaiting, made after handle->Ref() around a wait, unreferences the
// handle once no task waits in `waiters` any more: an idle socket does not
// keep EventLoop::Run going.
struct RefWhileWaiting {
  loop::Handle* handle;
  runtime_internal::WaitQueue* waiters;
  ~RefWhileWaiting() {
    if (waiters->empty() && !handle->IsClosing()) handle->Unref();
  }
};

// Busy marks a one-task-at-a-time slot (the reader of a stream) taken for
// its scope.
struct Busy {
  explicit Busy(bool& flag) : flag(flag) { flag = true; }
  ~Busy() { flag = false; }
  bool& flag;
};

// InTask sets *me to the running task, or returns FailedPrecondition
// "<op> <subject>: not in a task" (the message is only built then).
inline absl::Status InTask(absl::string_view op, absl::string_view subject,
                           Task** me) {
  *me = Task::Current();
  if (*me != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(op, " ", subject, ": not in a task"));
}

// Renamed returns `s` with its operation replaced: same code, message
// "<operation>: <what followed the first ': ' of s>" ("read:
// ECONNRESET (...)" -> "read 127.0.0.1:80: ECONNRESET (...)"). OK stays OK.
absl::Status Renamed(const absl::Status& s, absl::string_view operation);

// Counters count, per thread, what happened to abandoned requests (DNS and
// filesystem): for tests, which cannot see the requests themselves.
struct Counters {
  uint64_t abandoned = 0;       // requests given up by their caller
  uint64_t late_callbacks = 0;  // callbacks of abandoned requests that ran
  uint64_t cancelled = 0;       // ... of which with CANCELLED (Cancel took)
};
Counters& ThreadCounters();

// AwaitRequest starts a //loop request through `start` (given the callback
// to pass on) and blocks the current task until it completes. Returns the
// request (read its status and results), the error of `start`,
// FailedPrecondition "<op>: not in a task", or DeadlineExceeded "<op>:
// deadline exceeded". On a deadline, kill or cancellation the request is
// cancelled (Request::Cancel, which only takes while it is queued) and its
// callback, whenever it runs, only calls `on_late` (may be empty): e.g. to
// close a file an abandoned open opened anyway.
template <typename Req>
absl::StatusOr<std::shared_ptr<Req>> AwaitRequest(
    absl::string_view op, Deadline deadline,
    const std::function<
        absl::StatusOr<std::shared_ptr<Req>>(std::function<void(Req&)>)>& start,
    std::function<void(Req&)> on_late = nullptr) {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask(op, &me); !s.ok()) {
    return s;
  }
  auto c = std::make_shared<Completion>();
  absl::StatusOr<std::shared_ptr<Req>> req =
      start([c, on_late = std::move(on_late)](Req& r) {
        if (!c->abandoned) {
          c->Complete();
          return;
        }
        Counters& n = ThreadCounters();
        ++n.late_callbacks;
        if (r.status().code() == absl::StatusCode::kCancelled) ++n.cancelled;
        if (on_late) on_late(r);
      });
  if (!req.ok()) return req.status();
  auto abandon = [&] {
    c->abandoned = true;
    ++ThreadCounters().abandoned;
    (void)(*req)->Cancel();  // fails once running: the callback is ignored
  };
  try {
    if (!Await(me, *c, deadline)) {
      abandon();
      return absl::DeadlineExceededError(
          absl::StrCat(op, ": deadline exceeded"));
    }
  } catch (...) {
    abandon();
    throw;
  }
  return req;
}

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_INTERNAL_OP_H_
