#include "runtime/task.h"

#include <atomic>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cancel.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {
namespace {

thread_local Task* current_task = nullptr;
std::atomic<uint64_t> next_task_id{1};

}  // namespace

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

Task::Task(EventLoop& loop, TaskOptions options, std::function<void()> target)
    : loop_(&loop),
      name_(std::move(options.name)),
      id_(next_task_id.fetch_add(1, std::memory_order_relaxed)),
      target_(std::move(target)) {}

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
  fo.name = options.name;
  fo.stack_size = options.stack_size;
  // A finished task hands control to its fiber parent: that must be the hub,
  // not the task that spawned it (which may still be blocked).
  if (Task::Current() != nullptr && loop->hub_ != nullptr) {
    fo.parent = loop->hub_;
  }
  // One allocation for the task and its reference count.
  struct Shared : Task {
    Shared(EventLoop& l, TaskOptions o, std::function<void()> t)
        : Task(l, std::move(o), std::move(t)) {}
  };
  std::shared_ptr<Task> task =
      std::make_shared<Shared>(*loop, std::move(options), std::move(target));
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
  loop_->Schedule(this);
  return absl::OkStatus();
}

Task* Task::Current() { return current_task; }

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
  current_task = nullptr;
  target_ = nullptr;  // destroy captured state inside the task's lifetime
  joiners_.NotifyAll();
  loop_->RemoveLive(this);
  if (exception_) loop_->HandleException(this, exception_);
}

void Task::Resume() {
  // Runs on the hub: switch into the task until it blocks or finishes.
  wake_scheduled_ = false;
  if (state_ != State::kReady && state_ != State::kBlocked) return;
  state_ = State::kRunning;
  current_task = this;
  // No extra reference needed: only this function drops self_ once the task
  // finished (Kill, the other place, never runs while a task is resumed).
  if (interrupt_ != nullptr) {
    std::exception_ptr e = std::move(interrupt_);
    interrupt_ = nullptr;
    fiber_->Throw(e);
  } else {
    fiber_->Switch();
  }
  current_task = nullptr;
  if (state_ == State::kFinished) self_.reset();
}

bool Task::Block(runtime_internal::Waiter* waiter, Deadline deadline) {
  ThrowIfCancelled();
  Deadline effective = deadline;
  for (CancelScope* s = innermost_scope_; s != nullptr; s = s->outer()) {
    effective = Deadline::Earliest(effective, s->deadline_);
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
      current_task = task;
      task->state_ = State::kRunning;
      task->blocked_on_ = nullptr;
      timer->Cancel();
    }
  } resumed{this, &timer};
  current_task = nullptr;
  loop_->hub_->Switch();
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
  loop_->Schedule(this);
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
    self_.reset();
    return absl::OkStatus();
  }
  Task* me = Task::Current();
  if (me == nullptr) {
    // On the hub (a callback): unwind the task now.
    current_task = this;
    state_ = State::kRunning;
    absl::Status s = fiber_->Kill();
    current_task = nullptr;
    if (state_ != State::kFinished) {
      // It swallowed the kill and is suspended again (reported by fibers).
      return s.ok() ? absl::AbortedError(absl::StrCat(
                          "kill ", name(), ": the task swallowed the kill"))
                    : s;
    }
    self_.reset();
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
  std::weak_ptr<Task> weak = me->weak_from_this();
  uint64_t seq = me->block_seq_ + 1;  // the Block below
  me->loop_->CallSoon([weak, seq] {
    std::shared_ptr<Task> task = weak.lock();
    if (task && task->block_seq_ == seq) task->Wake();
  });
  me->Block(nullptr, Deadline::Never());
  return absl::OkStatus();
}

}  // namespace runtime
}  // namespace evergreen
