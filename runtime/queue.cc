#include "runtime/queue.h"

#include "absl/strings/str_cat.h"

namespace evergreen {
namespace runtime {
namespace runtime_internal {

PendingList::~PendingList() {
  while (head_ != nullptr) Remove(head_);
}

void PendingList::Enqueue(PendingOp* op) {
  op->seq = next_seq_++;
  PushBack(op);
}

void PendingList::PushBack(PendingOp* op) {
  op->list = this;
  op->prev = tail_;
  op->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = op;
  } else {
    head_ = op;
  }
  tail_ = op;
  ++size_;
}

void PendingList::InsertBySeq(PendingOp* op) {
  // Undone matches are rare and their ops were near the front: walk from
  // there.
  PendingOp* at = head_;
  while (at != nullptr && at->seq < op->seq) at = at->next;
  if (at == nullptr) {
    PushBack(op);
    return;
  }
  op->list = this;
  op->next = at;
  op->prev = at->prev;
  if (at->prev != nullptr) {
    at->prev->next = op;
  } else {
    head_ = op;
  }
  at->prev = op;
  ++size_;
}

void PendingList::Remove(PendingOp* op) {
  if (op->list != this) return;
  if (op->prev != nullptr) {
    op->prev->next = op->next;
  } else {
    head_ = op->next;
  }
  if (op->next != nullptr) {
    op->next->prev = op->prev;
  } else {
    tail_ = op->prev;
  }
  op->prev = op->next = nullptr;
  op->list = nullptr;
  --size_;
}

PendingOwner::~PendingOwner() { DetachParked(); }

void PendingOwner::DropAll(PendingList& list, const absl::Status& status) {
  while (PendingOp* op = list.front()) op->group->Drop(op, status);
}

void PendingOwner::DetachParked() {
  while (PendingOp* op = parked_.front()) {
    parked_.Remove(op);
    op->owner = nullptr;
  }
}

PendingGroup::~PendingGroup() {
  for (PendingOp* op = ops_; op != nullptr; op = op->group_next) {
    if (op->list != nullptr) op->list->Remove(op);
  }
}

void PendingGroup::Add(PendingOp* op, PendingOwner* owner, PendingList* home) {
  op->group = this;
  op->owner = owner;
  op->home = home;
  op->group_next = nullptr;
  op->dropped = false;
  if (ops_tail_ != nullptr) {
    ops_tail_->group_next = op;
  } else {
    ops_ = op;
  }
  ops_tail_ = op;
  ++live_;
  home->Enqueue(op);
}

void PendingGroup::Match(PendingOp* op) {
  state_ = State::kMatched;
  matched_ = op;
  for (PendingOp* o = ops_; o != nullptr; o = o->group_next) {
    if (o->list != nullptr) o->list->Remove(o);
    if (!o->dropped && o->owner != nullptr) o->owner->parked_.PushBack(o);
  }
}

void PendingGroup::Complete() {
  state_ = State::kDone;
  wq_.NotifyOne();
}

void PendingGroup::Unmatch() {
  state_ = State::kWaiting;
  matched_ = nullptr;
  for (PendingOp* o = ops_; o != nullptr; o = o->group_next) {
    if (o->list != nullptr) o->list->Remove(o);
    if (o->dropped) continue;
    if (o->owner == nullptr) {
      o->dropped = true;
      --live_;
      drop_status_ = DestroyedError("channel");
    } else if (!o->owner->Accepts(*o)) {
      o->dropped = true;
      --live_;
      drop_status_ = o->owner->ClosedStatus(*o);
    } else {
      o->home->InsertBySeq(o);
    }
  }
  if (live_ == 0) {
    Fail(drop_status_);
    return;
  }
  // The task may have been woken already: it re-checks and waits again.
  for (PendingOp* o = ops_; o != nullptr; o = o->group_next) {
    if (!o->dropped) o->owner->Dispatch();
  }
}

void PendingGroup::Drop(PendingOp* op, const absl::Status& status) {
  if (op->list != nullptr) op->list->Remove(op);
  if (op->dropped) return;
  op->dropped = true;
  --live_;
  drop_status_ = status;
  if (live_ == 0 && state_ == State::kWaiting) Fail(status);
}

void PendingGroup::Fail(const absl::Status& status) {
  for (PendingOp* o = ops_; o != nullptr; o = o->group_next) {
    if (o->list != nullptr) o->list->Remove(o);
  }
  state_ = State::kFailed;
  matched_ = nullptr;
  status_ = status;
  wq_.NotifyOne();
}

bool PendingGroup::Wait(Deadline deadline) {
  auto pending = [this] {
    return state_ == State::kWaiting || state_ == State::kMatched;
  };
  while (pending()) {
    // Only this group notifies wq_, so a wakeup means progress, unless a
    // match was undone meanwhile: then wait again.
    if (!runtime_internal::Wait(task_, wq_, deadline) && pending()) {
      return false;
    }
  }
  return true;
}

absl::Status ClosedError(absl::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat(op, ": closed"));
}

absl::Status DeadlineError(absl::string_view op) {
  return absl::DeadlineExceededError(absl::StrCat(op, ": deadline exceeded"));
}

absl::Status DestroyedError(absl::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat(op, ": destroyed"));
}

}  // namespace runtime_internal
}  // namespace runtime
}  // namespace evergreen
