#include "runtime/task.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cancel.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {
namespace {

std::atomic<uint64_t> next_task_id{1};

// A per-thread free list of blocks of one size: spawning a task then costs
// no malloc/free in a steady state. At most kMaxFree blocks are kept; the
// rest go back to the heap, as does everything at thread exit.
template <size_t kSize>
class BlockCache {
 public:
  static constexpr size_t kMaxFree = 1024;
  ~BlockCache() {
    dead_ = true;
    while (head_ != nullptr) {
      Free* f = head_;
      head_ = f->next;
      ::operator delete(f);
    }
  }
  void* Take() {
    Free* f = head_;
    if (f == nullptr) return ::operator new(kSize);
    head_ = f->next;
    --count_;
    return f;
  }
  void Give(void* p) {
    if (count_ >= kMaxFree || dead_) {
      ::operator delete(p);
      return;
    }
    Free* f = static_cast<Free*>(p);
    f->next = head_;
    head_ = f;
    ++count_;
  }
  static BlockCache& Get() {
    thread_local BlockCache cache;
    return cache;
  }

 private:
  struct Free {
    Free* next;
  };
  static_assert(kSize >= sizeof(Free), "block too small");
  Free* head_ = nullptr;
  size_t count_ = 0;
  bool dead_ = false;  // a block freed during thread exit goes to the heap
};

template <typename T>
struct RecyclingAllocator {
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned");
  RecyclingAllocator() = default;
  template <typename U>
  RecyclingAllocator(const RecyclingAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) {
    if (n != 1) return std::allocator<T>().allocate(n);
    return static_cast<T*>(BlockCache<sizeof(T)>::Get().Take());
  }
  void deallocate(T* p, size_t n) {
    if (n != 1) {
      std::allocator<T>().deallocate(p, n);
      return;
    }
    BlockCache<sizeof(T)>::Get().Give(p);
  }
  template <typename U>
  bool operator==(const RecyclingAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const RecyclingAllocator<U>&) const {
    return false;
  }
};

}  // namespace

namespace runtime_internal {

EVERGREEN_FIBERS_CONSTINIT thread_local Task* tls_current_task = nullptr;

}  // namespace runtime_internal

namespace runtime_internal {

Waiter::~Waiter() {
  if (queue != nullptr) queue->Remove(this);
  // Unwinding (kill, cancel) after being notified: pass the wakeup on.
  if (notified && !returned && origin != nullptr) origin->NotifyOne();
}

WaitQueue::~WaitQueue() {
  while (head_ != nullptr) Remove(head_);
}

void WaitQueue::PushBack(Waiter* w) {
  w->queue = this;
  w->origin = this;
  w->prev = tail_;
  w->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = w;
  } else {
    head_ = w;
  }
  tail_ = w;
  ++size_;
}

void WaitQueue::Remove(Waiter* w) {
  if (w->queue != this) return;
  if (w->prev != nullptr) {
    w->prev->next = w->next;
  } else {
    head_ = w->next;
  }
  if (w->next != nullptr) {
    w->next->prev = w->prev;
  } else {
    tail_ = w->prev;
  }
  w->prev = w->next = nullptr;
  w->queue = nullptr;
  --size_;
}

bool WaitQueue::NotifyOne() {
  Waiter* w = head_;
  if (w == nullptr) return false;
  Remove(w);
  w->notified = true;
  w->task->Wake();
  return true;
}

void WaitQueue::NotifyAll() {
  while (NotifyOne()) {
  }
}

absl::Status CheckInTask(absl::string_view operation, Task** task) {
  *task = Task::Current();
  if (*task == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(operation, ": not in a task"));
  }
  return absl::OkStatus();
}

bool Wait(Task* task, WaitQueue& queue, Deadline deadline) {
  Waiter w(task);
  queue.PushBack(&w);
  bool woken = task->Block(&w, deadline);
  w.returned = true;
  // A notification that raced with the timeout counts: the caller re-checks.
  return woken || w.notified;
}

}  // namespace runtime_internal

using runtime_internal::WaitQueue;

// The loop's hand-off functions live here, next to their only callers, so
// that they inline.
Task* EventLoop::NextForHandoff(Task* self) {
  ReadyNode* node = ready_head_;
  if (node == nullptr || !node->is_task || handoffs_ >= kMaxHandoffs || stop_ ||
      pending_ || !running_) {
    return nullptr;
  }
  Task* next = static_cast<Task*>(node);
  // The hub deals with the rest: interrupts to raise, finished tasks.
  if (next == self || next->interrupt_ != nullptr ||
      (next->state_ != Task::State::kReady &&
       next->state_ != Task::State::kBlocked)) {
    return nullptr;
  }
  PopReady();
  if (round_left_ > 0) --round_left_;
  ++handoffs_;
  return next;
}

void EventLoop::Reap() {
  Task* task = finished_;
  if (task == nullptr) return;
  finished_ = nullptr;
  // A task still queued (killed while ready) is released by its entry.
  if (!task->wake_scheduled_) task->self_.reset();
}

Task::Task(EventLoop& loop, TaskOptions options, std::function<void()> target)
    : loop_(&loop),
      name_(std::move(options.name)),
      id_(next_task_id.fetch_add(1, std::memory_order_relaxed)),
      target_(std::move(target)) {
  is_task = true;
}

Task::~Task() = default;

const std::string& Task::name() const {
  if (name_.empty()) name_ = absl::StrCat("task-", id_);
  return name_;
}

absl::StatusOr<std::shared_ptr<Task>> Task::Create(
    TaskOptions options, std::function<void()> target) {
  EventLoop* loop = EventLoop::Current();
  if (loop == nullptr) {
    return absl::FailedPreconditionError(
        "task create: no EventLoop on this thread");
  }
  if (!target) return absl::InvalidArgumentError("task create: empty target");
  FiberOptions fo;
  // Unnamed tasks leave the fiber unnamed: diagnostics then say "fiber #N",
  // and spawning costs no string.
  if (!options.name.empty()) fo.name = options.name;
  fo.stack_size = options.stack_size;
  // A finished task hands control to its fiber parent: that must be the hub,
  // not the task that spawned it (which may still be blocked).
  if (Task::Current() != nullptr && loop->hub_ != nullptr) {
    fo.parent = loop->hub_;
  }
  // One block for the task and its reference count, recycled per thread.
  struct Shared : Task {
    Shared(EventLoop& l, TaskOptions&& o, std::function<void()>&& t)
        : Task(l, std::move(o), std::move(t)) {}
  };
  std::shared_ptr<Task> task =
      std::allocate_shared<Shared>(RecyclingAllocator<Shared>(), *loop,
                                   std::move(options), std::move(target));
  Task* raw = task.get();
  absl::StatusOr<std::unique_ptr<Fiber>> fiber =
      Fiber::Create(std::move(fo), [raw] { raw->Main(); });
  if (!fiber.ok()) return fiber.status();
  task->fiber_ = std::move(*fiber);
  return task;
}

absl::Status Task::Start() {
  if (state_ != State::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("task start ", name(), ": already started"));
  }
  if (loop_->destroying_) {
    return absl::FailedPreconditionError(
        absl::StrCat("task start ", name(), ": the loop is being destroyed"));
  }
  self_ = shared_from_this();
  loop_->AddLive(this);
  state_ = State::kReady;
  wake_scheduled_ = true;
  loop_->PushReady(this);
  return absl::OkStatus();
}

void Task::Main() {
  try {
    target_();
  } catch (const FiberKilled&) {
    killed_ = true;
    Finish();
    throw;  // //fibers finishes the fiber
  } catch (const Cancelled& c) {
    // A cancellation whose scope is not on this task's stack (it escaped
    // the scope's Run): report it like any other exception.
    exception_ = std::current_exception();
  } catch (...) {
    exception_ = std::current_exception();
  }
  Finish();
}

void Task::Finish() {
  state_ = State::kFinished;
  runtime_internal::tls_current_task = nullptr;
  target_ = nullptr;  // destroy captured state inside the task's lifetime
  joiners_.NotifyAll();
  loop_->RemoveLive(this);
  if (exception_) loop_->HandleException(this, exception_);
  // Last: whoever runs next on this thread (the hub, once this fiber ended)
  // drops the loop's reference.
  loop_->Reap();
  loop_->finished_ = this;
}

void Task::Resume() {
  // Runs on the hub: switch into the task until it blocks or finishes.
  wake_scheduled_ = false;
  if (state_ != State::kReady && state_ != State::kBlocked) {
    // Killed while queued: the entry held the loop's reference.
    if (state_ == State::kFinished) {
      std::shared_ptr<Task> drop = std::move(self_);
    }
    return;
  }
  state_ = State::kRunning;
  runtime_internal::tls_current_task = this;
  // Control comes back here when some task (maybe another one, after
  // hand-offs) blocks without a hand-off, or finishes; `this` may be gone by
  // then (Reap).
  EventLoop* loop = loop_;
  if (interrupt_ != nullptr) {
    std::exception_ptr e = std::move(interrupt_);
    interrupt_ = nullptr;
    fiber_->Throw(e);
  } else {
    fiber_->Switch();
  }
  runtime_internal::tls_current_task = nullptr;
  loop->Reap();
}

void Task::SwitchInto() {
  wake_scheduled_ = false;
  state_ = State::kRunning;
  runtime_internal::tls_current_task = this;
  fiber_->Switch();
}

bool Task::Block(runtime_internal::Waiter* waiter, Deadline deadline) {
  Deadline effective = deadline;
  if (innermost_scope_ != nullptr) {
    ThrowIfCancelled();
    for (CancelScope* s = innermost_scope_; s != nullptr; s = s->outer()) {
      effective = Deadline::Earliest(effective, s->deadline_);
    }
  }
  ++block_seq_;
  timed_out_ = false;
  blocked_on_ = waiter;
  state_ = State::kBlocked;
  TimerHandle timer;
  if (!effective.is_never()) {
    uint64_t seq = block_seq_;
    timer = loop_->CallAt(effective, [this, seq] { OnDeadline(seq); });
  }
  // Restores the running state however the switch returns: normally, or by
  // an exception raised at this point (kill, cancellation).
  struct Resumed {
    Task* task;
    TimerHandle* timer;
    ~Resumed() {
      runtime_internal::tls_current_task = task;
      task->state_ = State::kRunning;
      task->blocked_on_ = nullptr;
      task->loop_->Reap();
      timer->Cancel();
    }
  } resumed{this, &timer};
  runtime_internal::tls_current_task = nullptr;
  // Straight to the next ready task when there is one (see EventLoop).
  Task* next = being_killed_ ? nullptr : loop_->NextForHandoff(this);
  if (next != nullptr) {
    next->SwitchInto();
  } else {
    loop_->hub_->Switch();
  }
  return !timed_out_;
}

void Task::OnDeadline(uint64_t seq) {
  if (state_ != State::kBlocked || block_seq_ != seq) return;
  // An expired scope interrupts the task; the call's own deadline only
  // times the call out.
  for (CancelScope* s = innermost_scope_; s != nullptr; s = s->outer()) {
    if (!s->cancelled_ && s->deadline_.Expired()) {
      s->by_deadline_ = true;
      s->Cancel();
    }
  }
  if (interrupt_ != nullptr) return;
  timed_out_ = true;
  if (blocked_on_ != nullptr && blocked_on_->queue != nullptr) {
    blocked_on_->queue->Remove(blocked_on_);
  }
  Wake();
}

void Task::Wake() {
  if (state_ != State::kBlocked || wake_scheduled_) return;
  wake_scheduled_ = true;
  loop_->PushReady(this);
}

void Task::QueueSelf() {
  wake_scheduled_ = true;
  loop_->PushReady(this);
}

void Task::Interrupt(std::exception_ptr e) {
  // Raise `e` at the task's blocking point the next time it is resumed.
  if (state_ != State::kBlocked) return;
  if (interrupt_ == nullptr) interrupt_ = std::move(e);
  Wake();
}

void Task::ThrowIfCancelled() {
  // The outermost cancelled scope wins: everything inside it is cancelled.
  CancelScope* hit = nullptr;
  for (CancelScope* s = innermost_scope_; s != nullptr; s = s->outer()) {
    if (!s->cancelled_ && s->deadline_.Expired()) {
      s->cancelled_ = true;
      s->by_deadline_ = true;
    }
    if (s->cancelled_) hit = s;
  }
  if (hit != nullptr) throw Cancelled(hit);
}

absl::Status Task::Join(Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("join", &me); !s.ok()) {
    return s;
  }
  if (me == this) {
    return absl::FailedPreconditionError(
        absl::StrCat("join ", name(), ": a task cannot join itself"));
  }
  if (state_ == State::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("join ", name(), ": task not started"));
  }
  std::shared_ptr<Task> keep = shared_from_this();
  while (state_ != State::kFinished) {
    if (!runtime_internal::Wait(me, joiners_, deadline) &&
        state_ != State::kFinished) {
      return absl::DeadlineExceededError(
          absl::StrCat("join ", name(), ": deadline exceeded"));
    }
  }
  return absl::OkStatus();
}

absl::Status Task::Kill() {
  if (EventLoop::Current() != loop_) {
    return absl::FailedPreconditionError(
        absl::StrCat("kill ", name(), ": not on the task's thread"));
  }
  switch (state_) {
    case State::kFinished:
      return absl::OkStatus();
    case State::kCreated:
      killed_ = true;
      state_ = State::kFinished;
      target_ = nullptr;
      joiners_.NotifyAll();
      return absl::OkStatus();
    case State::kRunning:
      // Only the current task can be running: kill itself.
      being_killed_ = true;
      (void)fiber_->Kill();  // throws FiberKilled here
      return absl::OkStatus();
    case State::kReady:
    case State::kBlocked:
      break;
  }
  std::shared_ptr<Task> keep = shared_from_this();
  if (!fiber_->IsStarted()) {
    // Started but never resumed: it finishes without running.
    killed_ = true;
    state_ = State::kFinished;
    target_ = nullptr;
    joiners_.NotifyAll();
    loop_->RemoveLive(this);
    // Still queued: the entry holds the reference until the hub pops it.
    if (!wake_scheduled_) self_.reset();
    return absl::OkStatus();
  }
  Task* me = Task::Current();
  if (me == nullptr) {
    // On the hub (a callback): unwind the task now.
    runtime_internal::tls_current_task = this;
    state_ = State::kRunning;
    being_killed_ = true;
    absl::Status s = fiber_->Kill();
    being_killed_ = false;
    runtime_internal::tls_current_task = nullptr;
    loop_->Reap();
    if (state_ != State::kFinished) {
      // It swallowed the kill and is suspended again (reported by fibers).
      return s.ok() ? absl::AbortedError(absl::StrCat(
                          "kill ", name(), ": the task swallowed the kill"))
                    : s;
    }
    return absl::OkStatus();
  }
  // From another task: the hub does it; wait for the end.
  loop_->CallSoon([keep] { (void)keep->Kill(); });
  while (state_ != State::kFinished) {
    runtime_internal::Wait(me, joiners_, Deadline::Never());
  }
  return absl::OkStatus();
}

absl::Status Sleep(absl::Duration duration) {
  return SleepUntil(Deadline::After(duration));
}

absl::Status SleepUntil(Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("sleep", &me); !s.ok()) {
    return s;
  }
  if (deadline.is_never()) {
    return absl::InvalidArgumentError("sleep: infinite duration");
  }
  while (!deadline.Expired()) me->Block(nullptr, deadline);
  return absl::OkStatus();
}

absl::Status Yield() {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("yield", &me); !s.ok()) {
    return s;
  }
  // Queue itself behind what is ready now, then block: the queue entry
  // resumes it (a kill or cancellation meanwhile is raised then).
  me->ThrowIfCancelled();
  me->QueueSelf();
  me->Block(nullptr, Deadline::Never());
  return absl::OkStatus();
}

}  // namespace runtime
}  // namespace evergreen
