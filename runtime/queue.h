// runtime/queue.h: Queue, LifoQueue and PriorityQueue (Python's queue API
// for tasks) with an optional maximum size, task_done/join and close.
//
//   evergreen::runtime::Queue<std::string> jobs(/*maxsize=*/16);
//   // producer task:
//   absl::Status s = jobs.Put("job-1");   // blocks while the queue is full
//   jobs.Close();                         // no more puts
//   // consumer task:
//   while (true) {
//     absl::StatusOr<std::string> job = jobs.Get();  // blocks while empty
//     if (!job.ok()) break;  // closed and drained (or a deadline passed)
//     Handle(*job);
//     (void)jobs.TaskDone();
//   }
//
// Errors (all messages "queue <op>: ..."):
// - DEADLINE_EXCEEDED "queue get: deadline exceeded": the call's deadline
//   passed (a scope's timeout or cancellation is an exception instead; see
//   runtime/cancel.h);
// - FAILED_PRECONDITION "queue put: closed" / "queue get: closed": the queue
//   was closed (Get only after it was drained); also FAILED_PRECONDITION
//   "queue get: not in a task" when a call would have to block outside a
//   task (use closed() to tell the two apart);
// - RESOURCE_EXHAUSTED "queue put: full" (TryPut), UNAVAILABLE "queue get:
//   empty" (TryGet).
//
// Ordering and fairness: tasks blocked in Get are served in the order they
// started waiting, and so are tasks blocked in Put; an arriving Get never
// takes an item ahead of a waiting one (items are handed to the first waiter
// when they arrive).
//
// Nothing is lost or duplicated when a blocked call is interrupted:
// - Get: an item handed to a waiting getter belongs to it only once its Get
//   returns. If the getter is killed or its scope cancelled before it
//   resumed, the item goes back into the queue where it was (front of a
//   Queue, top of a LifoQueue) and to the next getter. A per-call deadline
//   racing with a hand-off: the item wins (Get returns it).
// - Put: once the item entered the queue the put happened. A per-call
//   deadline or a cancellation arriving after that makes Put return OK (the
//   cancelled scope raises at the next blocking call); a kill unwinds the
//   task with the item in the queue. Before that, the item is withdrawn: Put
//   fails and the item is destroyed.
// A give-back can leave the queue one item over maxsize for a moment.
//
// Values: any movable T, including move-only types (std::unique_ptr). The
// queue must outlive the calls blocked on it. Loop thread only: every method
// must be called on the thread of the EventLoop whose tasks use the queue.
#ifndef EVERGREEN_RUNTIME_QUEUE_H_
#define EVERGREEN_RUNTIME_QUEUE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {

class Task;

namespace runtime_internal {

class PendingGroup;
class PendingList;
class PendingOwner;

// PendingOp: one operation of a blocked call on one queue or channel (a
// put, a get, a send, a receive), on the blocked call's stack. A call
// waiting on several channels at once (Select) has one op per channel, all
// in one PendingGroup.
struct PendingOp {
  PendingGroup* group = nullptr;
  PendingOwner* owner = nullptr;  // nullptr once the owner was destroyed
  PendingList* home = nullptr;    // the owner's list the op waits in
  PendingList* list = nullptr;    // the list it is in now, if any
  PendingOp* prev = nullptr;
  PendingOp* next = nullptr;
  PendingOp* group_next = nullptr;
  uint64_t seq = 0;      // place in `home`, kept across an undone match
  uint8_t kind = 0;      // the owner's tag (send or receive...)
  bool dropped = false;  // can never match (owner closed or destroyed)
};

// PendingList: an intrusive FIFO of ops, ordered by seq. Loop thread only.
class PendingList {
 public:
  PendingList() = default;
  PendingList(const PendingList&) = delete;
  PendingList& operator=(const PendingList&) = delete;
  ~PendingList();

  // Enqueue appends `op` with a new sequence number.
  void Enqueue(PendingOp* op);
  // PushBack appends `op` keeping its sequence number.
  void PushBack(PendingOp* op);
  // InsertBySeq puts `op` back at its place among the ops by seq.
  void InsertBySeq(PendingOp* op);
  // Remove unlinks `op` if it is in this list.
  void Remove(PendingOp* op);
  PendingOp* front() const { return head_; }
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }

 private:
  PendingOp* head_ = nullptr;
  PendingOp* tail_ = nullptr;
  size_t size_ = 0;
  uint64_t next_seq_ = 0;
};

// PendingOwner: a queue or channel that ops wait in.
class PendingOwner {
 public:
  PendingOwner() = default;
  PendingOwner(const PendingOwner&) = delete;
  PendingOwner& operator=(const PendingOwner&) = delete;
  virtual ~PendingOwner();

  // Dispatch matches waiting ops with what is available (never blocks).
  virtual void Dispatch() = 0;
  // ClosedStatus is the error of an op that can no longer complete because
  // the owner is closed.
  virtual absl::Status ClosedStatus(const PendingOp& op) const = 0;
  // Accepts: `op` can still complete here (not closed, or closed with
  // values left for a receiver).
  virtual bool Accepts(const PendingOp& op) const = 0;

 protected:
  friend class PendingGroup;
  // DropAll drops every op waiting in `list` with `status`.
  static void DropAll(PendingList& list, const absl::Status& status);
  // DetachParked makes every parked op forget this owner (destruction).
  void DetachParked();

  bool closed_ = false;
  // Ops of groups that matched (and not yet left their call).
  PendingList parked_;
};

// PendingGroup: the ops of one blocked call, and the call's wakeup.
//
// States: kWaiting (ops queued in their owners' lists), kMatched (one op
// matched; every op parked; the task not woken: a rendezvous sender waiting
// for its receiver), kDone (matched and woken), kFailed (every op dropped:
// closed or destroyed; woken). A match can be undone (Unmatch) until the
// call claims it: the ops go back to their places in their lists.
class PendingGroup {
 public:
  enum class State { kWaiting, kMatched, kDone, kFailed };

  explicit PendingGroup(Task* task) : task_(task) {}
  PendingGroup(const PendingGroup&) = delete;
  PendingGroup& operator=(const PendingGroup&) = delete;
  // Unlinks every op from whatever list it is in.
  ~PendingGroup();

  // Add queues `op` (which must outlive the group) at the end of `home`.
  void Add(PendingOp* op, PendingOwner* owner, PendingList* home);
  // Match records `op` as the group's match and parks every op.
  void Match(PendingOp* op);
  // Complete marks a matched group done and wakes its task.
  void Complete();
  void MatchAndComplete(PendingOp* op) {
    Match(op);
    Complete();
  }
  // Unmatch undoes a match: every op goes back to its place in its list
  // (dropped if its owner closed meanwhile), then the owners dispatch again.
  void Unmatch();
  // Drop marks `op` as never matching; a waiting group with no op left
  // fails with `status`.
  void Drop(PendingOp* op, const absl::Status& status);

  // Wait blocks the task until the group is done or failed: true, or false
  // when `deadline` passed first. Throws when the task is killed or
  // cancelled.
  bool Wait(Deadline deadline);

  State state() const { return state_; }
  PendingOp* matched() const { return matched_; }
  const absl::Status& status() const { return status_; }

 private:
  void Fail(const absl::Status& status);

  Task* task_;
  State state_ = State::kWaiting;
  PendingOp* matched_ = nullptr;
  PendingOp* ops_ = nullptr;
  PendingOp* ops_tail_ = nullptr;
  size_t live_ = 0;
  absl::Status drop_status_;
  absl::Status status_;
  WaitQueue wq_;  // only this group's task waits here
};

// The errors shared by queues and channels ("<op>: closed" ...).
absl::Status ClosedError(absl::string_view op);
absl::Status DeadlineError(absl::string_view op);
absl::Status DestroyedError(absl::string_view op);

// Storage policies of BasicQueue: Push adds an item, Pop removes the next
// one, Return puts back an item Pop returned (as if never taken).
template <typename T>
class FifoStorage {
 public:
  void Push(T item) { items_.push_back(std::move(item)); }
  T Pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void Return(T item) { items_.push_front(std::move(item)); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  std::deque<T> items_;
};

template <typename T>
class LifoStorage {
 public:
  void Push(T item) { items_.push_back(std::move(item)); }
  T Pop() {
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  void Return(T item) { items_.push_back(std::move(item)); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<T> items_;
};

// PriorityStorage pops the smallest item by Compare first (std::less: lowest
// first, like Python's PriorityQueue). Equal items come out in no
// particular order.
template <typename T, typename Compare>
class PriorityStorage {
 public:
  void Push(T item) {
    heap_.push_back(std::move(item));
    std::push_heap(heap_.begin(), heap_.end(), Greater{&less_});
  }
  T Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), Greater{&less_});
    T item = std::move(heap_.back());
    heap_.pop_back();
    return item;
  }
  void Return(T item) { Push(std::move(item)); }
  size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

 private:
  struct Greater {
    Compare* less;
    bool operator()(const T& a, const T& b) const { return (*less)(b, a); }
  };
  std::vector<T> heap_;
  Compare less_;
};

}  // namespace runtime_internal

// BasicQueue: the queue; use the Queue, LifoQueue and PriorityQueue aliases
// below.
template <typename T, typename Storage>
class BasicQueue final : public runtime_internal::PendingOwner {
 public:
  using value_type = T;

  // maxsize: the most items the queue holds before Put blocks; 0 means
  // unbounded.
  explicit BasicQueue(size_t maxsize = 0) : maxsize_(maxsize) {}
  // ~BasicQueue fails the calls still waiting in Put or Get
  // (FAILED_PRECONDITION "queue ...: destroyed"); tasks blocked in Join must
  // not outlive the queue.
  ~BasicQueue() override;

  // Put adds `item`, blocking the task while the queue is full (FIFO among
  // blocked putters). OK once the item is in the queue; DEADLINE_EXCEEDED
  // "queue put: deadline exceeded"; FAILED_PRECONDITION "queue put: closed"
  // when closed before or while waiting; FAILED_PRECONDITION "queue put: not
  // in a task" when it would block outside a task. On failure the item is
  // destroyed. Throws when the task is killed or cancelled (see the header
  // comment for what happens to the item).
  absl::Status Put(T item, Deadline deadline = Deadline::Never());
  // TryPut adds `item` without blocking: RESOURCE_EXHAUSTED "queue put: full"
  // when full (or putters are waiting), "queue put: closed" when closed.
  // Callable from callbacks.
  absl::Status TryPut(T item);
  // Get removes and returns the next item, blocking the task while the queue
  // is empty (FIFO among blocked getters). Errors: DEADLINE_EXCEEDED "queue
  // get: deadline exceeded"; FAILED_PRECONDITION "queue get: closed" once the
  // queue is closed and empty; "queue get: not in a task" when it would block
  // outside a task. Throws when the task is killed or cancelled; the item it
  // may have been handed goes back to the queue.
  absl::StatusOr<T> Get(Deadline deadline = Deadline::Never());
  // TryGet removes the next item without blocking: UNAVAILABLE "queue get:
  // empty", or "queue get: closed" when closed and empty. Callable from
  // callbacks.
  absl::StatusOr<T> TryGet();

  // The number of items in the queue (not counting those held by blocked
  // putters).
  size_t size() const { return storage_.size(); }
  bool empty() const { return storage_.empty(); }
  // full: a Put would block.
  bool full() const { return maxsize_ > 0 && storage_.size() >= maxsize_; }
  size_t maxsize() const { return maxsize_; }
  // The tasks blocked in Get and in Put.
  size_t getters_waiting() const { return getters_.size(); }
  size_t putters_waiting() const { return putters_.size(); }

  // TaskDone says that an item taken from the queue was processed.
  // FAILED_PRECONDITION "queue task done: called more times than items were
  // put" when every item was already marked done. Callable from callbacks.
  absl::Status TaskDone();
  // Join blocks the task until every item ever put was marked done:
  // OK, DEADLINE_EXCEEDED "queue join: deadline exceeded", or
  // FAILED_PRECONDITION "queue join: not in a task" when it would block
  // outside a task.
  absl::Status Join(Deadline deadline = Deadline::Never());
  // The items put and not yet marked done.
  size_t unfinished_tasks() const { return unfinished_; }

  // Close refuses further puts. The tasks blocked in Put fail ("queue put:
  // closed"; their items are not added); getters drain the items left, then
  // fail with "queue get: closed", as do the tasks blocked in Get. Callable
  // from callbacks; closing twice has no effect.
  void Close();
  bool closed() const { return closed_; }

 private:
  using Group = runtime_internal::PendingGroup;
  enum : uint8_t { kGet, kPut };
  struct GetOp : runtime_internal::PendingOp {
    std::optional<T> item;  // handed by Dispatch, until claimed
  };
  struct PutOp : runtime_internal::PendingOp {
    T* item = nullptr;  // Put's argument
  };

  void Dispatch() override;
  absl::Status ClosedStatus(
      const runtime_internal::PendingOp& op) const override {
    return runtime_internal::ClosedError(op.kind == kGet ? "queue get"
                                                         : "queue put");
  }
  bool Accepts(const runtime_internal::PendingOp& op) const override {
    return !closed_ || (op.kind == kGet && !storage_.empty());
  }
  void Admit(T item) {
    storage_.Push(std::move(item));
    ++unfinished_;
  }
  // GiveBack returns an item a getter was handed and did not claim.
  static void GiveBack(GetOp& op);

  size_t maxsize_;
  Storage storage_;
  size_t unfinished_ = 0;
  runtime_internal::PendingList getters_;
  runtime_internal::PendingList putters_;
  runtime_internal::WaitQueue joiners_;
};

// Queue: first in, first out.
template <typename T>
using Queue = BasicQueue<T, runtime_internal::FifoStorage<T>>;
// LifoQueue: last in, first out.
template <typename T>
using LifoQueue = BasicQueue<T, runtime_internal::LifoStorage<T>>;
// PriorityQueue: the smallest item by Compare first (Python's order with the
// default std::less). Compare is default-constructed.
template <typename T, typename Compare = std::less<T>>
using PriorityQueue =
    BasicQueue<T, runtime_internal::PriorityStorage<T, Compare>>;

// ---------------------------------------------------------------------------
// Implementation.

template <typename T, typename S>
BasicQueue<T, S>::~BasicQueue() {
  closed_ = true;
  DropAll(putters_, runtime_internal::DestroyedError("queue put"));
  DropAll(getters_, runtime_internal::DestroyedError("queue get"));
  DetachParked();
}

template <typename T, typename S>
void BasicQueue<T, S>::Dispatch() {
  for (;;) {
    if (!getters_.empty() && !storage_.empty()) {
      auto* op = static_cast<GetOp*>(getters_.front());
      op->item.emplace(storage_.Pop());
      op->group->MatchAndComplete(op);
      continue;
    }
    if (!putters_.empty() && !full()) {
      auto* op = static_cast<PutOp*>(putters_.front());
      Admit(std::move(*op->item));
      op->group->MatchAndComplete(op);
      continue;
    }
    return;
  }
}

template <typename T, typename S>
void BasicQueue<T, S>::GiveBack(GetOp& op) {
  if (!op.item.has_value()) return;
  if (op.owner != nullptr) {
    auto* queue = static_cast<BasicQueue*>(op.owner);
    queue->storage_.Return(std::move(*op.item));
    op.item.reset();
    queue->Dispatch();
  }
  op.item.reset();  // the queue is gone: nowhere to return it
}

template <typename T, typename S>
absl::Status BasicQueue<T, S>::Put(T item, Deadline deadline) {
  if (closed_) return runtime_internal::ClosedError("queue put");
  if (putters_.empty() && !full()) {
    Admit(std::move(item));
    Dispatch();
    return absl::OkStatus();
  }
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("queue put", &me);
      !s.ok()) {
    return s;
  }
  PutOp op;
  op.kind = kPut;
  op.item = &item;
  Group group(me);
  group.Add(&op, this, &putters_);
  try {
    group.Wait(deadline);
  } catch (const Cancelled&) {
    // The item is in the queue: the put happened. The scope stays
    // cancelled; its next blocking call raises.
    if (group.state() == Group::State::kDone) return absl::OkStatus();
    throw;
  }
  switch (group.state()) {
    case Group::State::kDone:
      return absl::OkStatus();
    case Group::State::kFailed:
      return group.status();
    default:
      return runtime_internal::DeadlineError("queue put");
  }
}

template <typename T, typename S>
absl::Status BasicQueue<T, S>::TryPut(T item) {
  if (closed_) return runtime_internal::ClosedError("queue put");
  if (!putters_.empty() || full()) {
    return absl::ResourceExhaustedError("queue put: full");
  }
  Admit(std::move(item));
  Dispatch();
  return absl::OkStatus();
}

template <typename T, typename S>
absl::StatusOr<T> BasicQueue<T, S>::Get(Deadline deadline) {
  // No getter waits while items are in the queue (Dispatch hands them out),
  // so taking one here never overtakes a waiting getter.
  if (!storage_.empty()) return TryGet();
  if (closed_) return runtime_internal::ClosedError("queue get");
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("queue get", &me);
      !s.ok()) {
    return s;
  }
  GetOp op;
  op.kind = kGet;
  Group group(me);
  group.Add(&op, this, &getters_);
  // Leaving without claiming the handed item (kill, cancellation): return
  // it.
  struct Unclaimed {
    GetOp* op;
    ~Unclaimed() { GiveBack(*op); }
  } unclaimed{&op};
  group.Wait(deadline);
  switch (group.state()) {
    case Group::State::kDone: {
      absl::StatusOr<T> item(std::move(*op.item));
      op.item.reset();
      return item;
    }
    case Group::State::kFailed:
      return group.status();
    default:
      return runtime_internal::DeadlineError("queue get");
  }
}

template <typename T, typename S>
absl::StatusOr<T> BasicQueue<T, S>::TryGet() {
  if (storage_.empty()) {
    if (closed_) return runtime_internal::ClosedError("queue get");
    return absl::UnavailableError("queue get: empty");
  }
  absl::StatusOr<T> item(storage_.Pop());
  Dispatch();  // admits a blocked putter
  return item;
}

template <typename T, typename S>
absl::Status BasicQueue<T, S>::TaskDone() {
  if (unfinished_ == 0) {
    return absl::FailedPreconditionError(
        "queue task done: called more times than items were put");
  }
  if (--unfinished_ == 0) joiners_.NotifyAll();
  return absl::OkStatus();
}

template <typename T, typename S>
absl::Status BasicQueue<T, S>::Join(Deadline deadline) {
  if (unfinished_ == 0) return absl::OkStatus();
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("queue join", &me);
      !s.ok()) {
    return s;
  }
  while (unfinished_ > 0) {
    if (!runtime_internal::Wait(me, joiners_, deadline) && unfinished_ > 0) {
      return runtime_internal::DeadlineError("queue join");
    }
  }
  return absl::OkStatus();
}

template <typename T, typename S>
void BasicQueue<T, S>::Close() {
  if (closed_) return;
  closed_ = true;
  DropAll(putters_, runtime_internal::ClosedError("queue put"));
  // Getters wait only while the queue is empty.
  DropAll(getters_, runtime_internal::ClosedError("queue get"));
}

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_QUEUE_H_
