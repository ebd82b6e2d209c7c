#include "runtime/cancel.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "runtime/internal/wait.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {

CancelScope::CancelScope(Deadline deadline) : deadline_(deadline) {}

CancelScope::~CancelScope() = default;

absl::Status CancelScope::Run(const std::function<void()>& fn) {
  Task* task = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("cancel scope", &task);
      !s.ok()) {
    return s;
  }
  if (ran_) {
    return absl::FailedPreconditionError("cancel scope: already ran");
  }
  ran_ = true;
  task_ = task;
  parent_ = task->innermost_scope_;
  task->innermost_scope_ = this;
  active_ = true;
  struct Pop {
    CancelScope* scope;
    ~Pop() {
      scope->task_->innermost_scope_ = scope->parent_;
      scope->active_ = false;
    }
  } pop{this};
  try {
    fn();
  } catch (const Cancelled& c) {
    if (c.scope() != this) throw;
  }
  if (!cancelled_) return absl::OkStatus();
  if (by_deadline_) {
    return absl::DeadlineExceededError("cancel scope: deadline exceeded");
  }
  return absl::CancelledError("cancel scope: cancelled");
}

void CancelScope::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  if (!active_ || task_ == nullptr) return;
  // The task is blocked (or ready) somewhere inside this scope: interrupt it.
  // If it is the running task, its next blocking call throws.
  if (task_->state() == Task::State::kBlocked && !HiddenByShield()) {
    task_->Interrupt(std::make_exception_ptr(Cancelled(this)));
  }
}

bool CancelScope::HiddenByShield() const {
  for (const CancelScope* s = task_->innermost_scope_;
       s != nullptr && s != this; s = s->parent_) {
    if (s->shield_) return true;
  }
  return false;
}

absl::Status Shielded(const std::function<void()>& fn) {
  CancelScope scope;
  scope.SetShield(true);
  return scope.Run(fn);
}

absl::Status WithDeadline(Deadline deadline, const std::function<void()>& fn) {
  CancelScope scope(deadline);
  return scope.Run(fn);
}

absl::Status WithTimeout(absl::Duration timeout,
                         const std::function<void()>& fn) {
  absl::Status s = WithDeadline(Deadline::After(timeout), fn);
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(absl::StrCat(
        "timeout: deadline exceeded after ", absl::FormatDuration(timeout)));
  }
  return s;
}

}  // namespace runtime
}  // namespace evergreen
