#include "runtime/io/internal/accept.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/io/internal/op.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

void AcceptQueue::OnConnection(absl::Status status) {
  if (status.ok()) {
    pending_ = true;
  } else if (error_.ok()) {
    error_ = std::move(status);
  }
  waiters_.NotifyOne();
}

absl::Status AcceptQueue::Next(Task* me, loop::Handle& handle,
                               absl::string_view name, Deadline deadline) {
  while (true) {
    if (closed_ || handle.IsClosing()) {
      return absl::FailedPreconditionError(
          absl::StrCat("accept ", name, ": listener closed"));
    }
    if (!error_.ok()) {
      absl::Status s = std::move(error_);
      error_ = absl::OkStatus();
      return Renamed(s, absl::StrCat("accept ", name));
    }
    if (pending_) return absl::OkStatus();
    handle.Ref();
    RefWhileWaiting unref{&handle, &waiters_};
    if (!runtime_internal::Wait(me, waiters_, deadline) && !pending_ &&
        error_.ok() && !closed_) {
      return absl::DeadlineExceededError(
          absl::StrCat("accept ", name, ": deadline exceeded"));
    }
  }
}

void AcceptQueue::Close() {
  closed_ = true;
  waiters_.NotifyAll();
}

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen
