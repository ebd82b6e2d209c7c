#include "runtime/lock.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace sync_internal {

GrantNode::~GrantNode() {
  if (queue != nullptr) queue->Remove(this);
}

GrantQueue::~GrantQueue() {
  while (head_ != nullptr) Remove(head_);
}

void GrantQueue::PushBack(GrantNode* n) {
  n->queue = this;
  n->prev = tail_;
  n->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = n;
  } else {
    head_ = n;
  }
  tail_ = n;
  ++size_;
}

void GrantQueue::Remove(GrantNode* n) {
  if (n->queue != this) return;
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    head_ = n->next;
  }
  if (n->next != nullptr) {
    n->next->prev = n->prev;
  } else {
    tail_ = n->prev;
  }
  n->prev = n->next = nullptr;
  n->queue = nullptr;
  --size_;
}

GrantNode* GrantQueue::GrantFront(int result) {
  GrantNode* n = head_;
  if (n == nullptr) return nullptr;
  Remove(n);
  n->granted = true;
  n->result = result;
  // No-op when the task is not suspended in its wait any more (its deadline
  // fired and it is about to run): it sees `granted` when it does.
  n->wake.NotifyOne();
  return n;
}

bool WaitForGrant(Task* task, GrantNode& node, Deadline deadline) {
  while (!node.granted) {
    if (!runtime_internal::Wait(task, node.wake, deadline) && !node.granted) {
      return false;
    }
  }
  return true;
}

absl::Status LockCore::Acquire(Deadline deadline) {
  Task* me = Task::Current();
  if (me == nullptr) {
    // As runtime_internal::CheckInTask, without building the name each time.
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " acquire: not in a task"));
  }
  if (owner_ == me->id()) {
    if (!reentrant_) {
      return absl::FailedPreconditionError(
          absl::StrCat(name_,
                       " acquire: already held by this task (a Lock is not "
                       "reentrant; use RLock)"));
    }
    ++count_;
    return absl::OkStatus();
  }
  if (owner_ == 0) {
    // Unlocked implies no waiters: Release hands the lock to the first one.
    owner_ = me->id();
    count_ = 1;
    return absl::OkStatus();
  }
  return AcquireSlow(me, deadline, /*keep_on_unwind=*/false);
}

absl::Status LockCore::AcquireSlow(Task* me, Deadline deadline,
                                   bool keep_on_unwind) {
  GrantNode node(me);
  waiters_.PushBack(&node);
  bool granted = false;
  try {
    granted = WaitForGrant(me, node, deadline);
  } catch (...) {
    // Killed or cancelled. A lock handed to us meanwhile goes to the next
    // waiter (unless the caller keeps it, see RestoreNow).
    waiters_.Remove(&node);
    if (node.granted && !keep_on_unwind && owner_ == me->id()) {
      count_ = 0;
      HandOff();
    }
    throw;
  }
  waiters_.Remove(&node);
  if (!granted) {
    return absl::DeadlineExceededError(
        absl::StrCat(name_, " acquire: deadline exceeded"));
  }
  return absl::OkStatus();  // HandOff made us the owner
}

bool LockCore::TryAcquire() {
  Task* me = Task::Current();
  if (me == nullptr) return false;
  if (owner_ == me->id()) {
    if (!reentrant_) return false;
    ++count_;
    return true;
  }
  if (owner_ != 0) return false;
  owner_ = me->id();
  count_ = 1;
  return true;
}

absl::Status LockCore::Release() {
  Task* me = Task::Current();
  if (me == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_,
                     " release: not in a task (only its owner task can release "
                     "a lock)"));
  }
  if (owner_ == me->id()) {
    if (--count_ == 0) HandOff();
    return absl::OkStatus();
  }
  if (ConsumeOwed(me->id())) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(name_, " release: not held by this task"));
}

void LockCore::LockOrThrow() {
  absl::Status s = Acquire(Deadline::Never());
  if (!s.ok()) throw LockError(std::string(s.message()));
}

void LockCore::UnlockOrThrow() {
  absl::Status s = Release();
  if (!s.ok()) throw LockError(std::string(s.message()));
}

bool LockCore::IsOwnedBy(const Task* task) const {
  return task != nullptr && owner_ == task->id();
}

void LockCore::HandOff() {
  GrantNode* next = waiters_.GrantFront();
  if (next != nullptr) {
    owner_ = next->task->id();
    count_ = 1;
  } else {
    owner_ = 0;
    count_ = 0;
  }
}

size_t LockCore::ReleaseAll() {
  size_t saved = count_;
  count_ = 0;
  HandOff();
  return saved;
}

void LockCore::AcquireRestore(Task* me, size_t count) {
  if (owner_ == 0) {
    owner_ = me->id();
  } else if (owner_ != me->id()) {
    // No deadline: only a kill or a cancellation ends this wait.
    (void)AcquireSlow(me, Deadline::Never(), /*keep_on_unwind=*/true);
  }
  count_ = count;
}

void LockCore::RestoreNow(Task* me, size_t count) {
  if (owner_ == 0 || owner_ == me->id()) {
    owner_ = me->id();
    count_ = count;
    return;
  }
  // Forget the debts of tasks that are gone.
  owed_.erase(std::remove_if(owed_.begin(), owed_.end(),
                             [](const Owed& o) {
                               std::shared_ptr<Task> t = o.task.lock();
                               return t == nullptr || !t->IsAlive();
                             }),
              owed_.end());
  for (Owed& o : owed_) {
    if (o.task_id == me->id()) {
      o.count += count;
      return;
    }
  }
  owed_.push_back(Owed{me->id(), me->weak_from_this(), count});
}

bool LockCore::ConsumeOwed(uint64_t task_id) {
  for (auto it = owed_.begin(); it != owed_.end(); ++it) {
    if (it->task_id != task_id) continue;
    if (--it->count == 0) owed_.erase(it);
    return true;
  }
  return false;
}

}  // namespace sync_internal

bool Lock::IsOwnedByCurrentTask() const {
  return core_.IsOwnedBy(Task::Current());
}

bool RLock::IsOwnedByCurrentTask() const {
  return core_.IsOwnedBy(Task::Current());
}

}  // namespace runtime
}  // namespace evergreen
