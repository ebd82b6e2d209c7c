// runtime/lock.h: Lock and RLock, mutual exclusion between the tasks of one
// EventLoop.
//
//   evergreen::runtime::Lock lock;
//   // in a task:
//   {
//     std::lock_guard<evergreen::runtime::Lock> guard(lock);  // blocks the
//     // task (not the thread) while another task holds the lock
//     balance += 10;        // the critical section may block (Sleep, I/O...)
//   }                       // released, also when the task is killed
//   // with a status and a deadline instead:
//   absl::Status s = lock.Acquire(
//       evergreen::runtime::Deadline::After(absl::Milliseconds(10)));
//   if (s.ok()) {
//     ...
//     (void)lock.Release();
//   }
//
// Ownership is per task (by task id): only the task that acquired a lock may
// release it; callbacks cannot hold one. Waiters get the lock strictly in the
// order they asked for it: Release hands it directly to the first waiter, so
// a task arriving later cannot barge in between. A waiter that times out, is
// cancelled or is killed leaves the queue; if the lock had already been
// handed to it, it passes it on to the next waiter, so nothing is lost.
//
// A task killed (or cancelled) while HOLDING a lock: the lock is released
// only if something on the task's stack releases it while unwinding, which
// std::lock_guard / std::unique_lock do. A lock taken with a bare Acquire()
// stays locked forever, as in Python. Prefer the guards.
//
// lock() / try_lock() / unlock() make Lock and RLock usable with
// std::lock_guard, std::unique_lock and std::scoped_lock. lock() throws
// LockError where Acquire returns an error status (outside a task; a Lock
// already held by the calling task), and unlock() throws LockError when the
// calling task does not hold the lock (inside a guard's destructor that
// terminates the program, with the message). Kills and cancellations
// propagate through lock() as through any blocking call.
//
// Loop thread only (one EventLoop's tasks and callbacks). Must outlive the
// tasks waiting on it.
#ifndef EVERGREEN_RUNTIME_LOCK_H_
#define EVERGREEN_RUNTIME_LOCK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "absl/status/status.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {

class Condition;
class Task;

// LockError: thrown by lock() and unlock() (the std::lock_guard interface)
// when the Status API would return an error; what() is the status message.
class LockError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// The machinery shared by Lock, RLock, Semaphore, Condition and Barrier. Not
// a public API.
namespace sync_internal {

class GrantQueue;

// GrantNode: a task waiting for a primitive to hand it something (the lock,
// a unit, a notification). Lives on the waiting task's stack. Each node has
// a wait queue of its own, so a wakeup reaches exactly that task.
struct GrantNode {
  explicit GrantNode(Task* t) : task(t) {}
  GrantNode(const GrantNode&) = delete;
  GrantNode& operator=(const GrantNode&) = delete;
  ~GrantNode();

  Task* task;
  runtime_internal::WaitQueue wake;
  GrantQueue* queue = nullptr;  // while queued
  GrantNode* prev = nullptr;
  GrantNode* next = nullptr;
  bool granted = false;
  int result = 0;  // what was granted, for primitives that need to say
};

// GrantQueue: FIFO of GrantNodes. Loop thread only.
class GrantQueue {
 public:
  GrantQueue() = default;
  GrantQueue(const GrantQueue&) = delete;
  GrantQueue& operator=(const GrantQueue&) = delete;
  ~GrantQueue();

  void PushBack(GrantNode* n);
  // Remove unlinks `n` if it is in this queue.
  void Remove(GrantNode* n);
  GrantNode* front() const { return head_; }
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  // GrantFront takes the first node out, marks it granted with `result` and
  // wakes its task. Returns the node, or nullptr if the queue is empty.
  GrantNode* GrantFront(int result = 0);

 private:
  GrantNode* head_ = nullptr;
  GrantNode* tail_ = nullptr;
  size_t size_ = 0;
};

// WaitForGrant blocks `task` until `node` (queued by the caller) is granted:
// true, or false once `deadline` passed without a grant (a grant racing
// with the deadline counts). Throws when the task is killed or cancelled;
// the node may then be granted already: the caller must give back what it
// received.
bool WaitForGrant(Task* task, GrantNode& node, Deadline deadline);

// LockCore: the state of a Lock (reentrant = false) or RLock.
class LockCore {
 public:
  LockCore(bool reentrant, const char* name)
      : reentrant_(reentrant), name_(name) {}
  LockCore(const LockCore&) = delete;
  LockCore& operator=(const LockCore&) = delete;

  absl::Status Acquire(Deadline deadline);
  bool TryAcquire();
  absl::Status Release();
  void LockOrThrow();
  void UnlockOrThrow();
  bool IsLocked() const { return owner_ != 0; }
  bool IsOwnedBy(const Task* task) const;
  size_t count() const { return count_; }
  size_t Waiters() const { return waiters_.size(); }

  // For Condition. ReleaseAll releases every level held by the owner
  // (handing the lock on) and returns how many there were.
  size_t ReleaseAll();
  // AcquireRestore blocks until `me` owns the lock again, then restores
  // `count` levels. Throws when killed or cancelled; a lock handed to `me`
  // meanwhile is kept (see RestoreNow).
  void AcquireRestore(Task* me, size_t count);
  // RestoreNow, for a task unwinding out of Condition::Wait (it cannot
  // block any more): takes the lock with `count` levels if it is free or
  // already handed to `me`; otherwise records that `me` owes `count`
  // releases, which its next Release calls (typically its guards
  // unwinding) absorb.
  void RestoreNow(Task* me, size_t count);

 private:
  struct Owed {
    uint64_t task_id;
    std::weak_ptr<Task> task;
    size_t count;
  };
  absl::Status AcquireSlow(Task* me, Deadline deadline, bool keep_on_unwind);
  // HandOff: the owner let go: the first waiter gets the lock, if any.
  void HandOff();
  bool ConsumeOwed(uint64_t task_id);

  const bool reentrant_;
  const char* const name_;
  uint64_t owner_ = 0;  // task id; 0: unlocked
  size_t count_ = 0;    // levels held by the owner
  GrantQueue waiters_;
  std::vector<Owed> owed_;
};

}  // namespace sync_internal

class Lock {
 public:
  Lock() : core_(/*reentrant=*/false, "lock") {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Acquire blocks the current task until it owns the lock (FIFO among
  // waiters): OK; DEADLINE_EXCEEDED ("lock acquire: deadline exceeded")
  // when `deadline` passes first; FailedPrecondition outside a task or when
  // the task already holds the lock (not reentrant: that would deadlock; use
  // RLock). Throws when the task is killed or its scope cancelled; the lock
  // is then not held and the queue order of the others is unchanged.
  absl::Status Acquire(Deadline deadline = Deadline::Never()) {
    return core_.Acquire(deadline);
  }
  // TryAcquire takes the lock if it is free, without blocking: true if the
  // current task now owns it. False when it is held (even by the current
  // task) or outside a task. Never jumps the queue: a lock being handed to a
  // waiter is not free.
  bool TryAcquire() { return core_.TryAcquire(); }
  // Release lets go of the lock and hands it to the first waiter. OK, or
  // FailedPrecondition ("lock release: not held by this task") when the
  // current task does not hold it (also outside a task). Does not block.
  absl::Status Release() { return core_.Release(); }
  // IsLocked: some task holds the lock (or it is being handed to a waiter).
  bool IsLocked() const { return core_.IsLocked(); }
  // IsOwnedByCurrentTask: the running task holds it.
  bool IsOwnedByCurrentTask() const;
  // Waiters: the number of tasks waiting in Acquire.
  size_t Waiters() const { return core_.Waiters(); }

  // std::lock_guard interface; see the file comment. lock() throws
  // LockError instead of returning an error status.
  void lock() { core_.LockOrThrow(); }
  bool try_lock() { return core_.TryAcquire(); }
  void unlock() { core_.UnlockOrThrow(); }

 private:
  friend class Condition;
  sync_internal::LockCore core_;
};

// RLock: a reentrant lock. The owning task may acquire it again; it is
// released when Release has been called as many times as Acquire.
class RLock {
 public:
  RLock() : core_(/*reentrant=*/true, "rlock") {}
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  // Acquire: as Lock::Acquire, except that the owner acquiring again
  // succeeds at once and adds a level. Messages say "rlock acquire".
  absl::Status Acquire(Deadline deadline = Deadline::Never()) {
    return core_.Acquire(deadline);
  }
  // TryAcquire: true if the current task now holds the lock (a new level
  // when it held it already); false when another task holds it, or outside
  // a task.
  bool TryAcquire() { return core_.TryAcquire(); }
  // Release removes one level; the last one hands the lock to the first
  // waiter. FailedPrecondition ("rlock release: not held by this task")
  // when the current task does not hold it.
  absl::Status Release() { return core_.Release(); }
  bool IsLocked() const { return core_.IsLocked(); }
  bool IsOwnedByCurrentTask() const;
  // Count: the levels held by the owner (0 when unlocked).
  size_t Count() const { return core_.count(); }
  size_t Waiters() const { return core_.Waiters(); }

  // std::lock_guard interface (see Lock).
  void lock() { core_.LockOrThrow(); }
  bool try_lock() { return core_.TryAcquire(); }
  void unlock() { core_.UnlockOrThrow(); }

 private:
  friend class Condition;
  sync_internal::LockCore core_;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_LOCK_H_
