#include "runtime/event_loop.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace {

thread_local EventLoop* current_loop = nullptr;

std::string Describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "(not a std::exception)";
  }
}

}  // namespace

struct EventLoop::CallbackNode : runtime_internal::ReadyNode {
  std::function<void()> fn;
};

bool TimerHandle::CancelSlow() {
  bool erased = loop_->CancelTimer(key_);
  loop_ = nullptr;
  return erased;
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  if (current_loop != nullptr) {
    return absl::FailedPreconditionError(
        "event loop create: this thread already has one");
  }
  absl::StatusOr<std::unique_ptr<loop::Loop>> io = loop::Loop::Create();
  if (!io.ok()) return io.status();
  std::unique_ptr<EventLoop> el(new EventLoop());
  el->io_ = std::move(*io);
  el->timer_ = loop::Timer::Create(*el->io_);
  EventLoop* raw = el.get();
  absl::StatusOr<loop::HandlePtr<loop::Async>> async = loop::Async::Create(
      *el->io_, [raw](loop::Async&) { raw->DrainFromThread(); });
  if (!async.ok()) return async.status();
  el->async_ = std::move(*async);
  el->async_->Unref();
  current_loop = raw;
  return el;
}

EventLoop::~EventLoop() {
  {
    std::lock_guard<std::mutex> lock(from_thread_mu_);
    from_thread_closed_ = true;
  }
  destroying_ = true;
  // Kill what is alive; a killed task may wake others, so repeat.
  for (int round = 0; round < 64 && live_head_ != nullptr; ++round) {
    std::vector<std::shared_ptr<Task>> alive;
    for (Task* t = live_head_; t != nullptr; t = t->next_live_) {
      alive.push_back(t->shared_from_this());
    }
    for (const std::shared_ptr<Task>& t : alive) (void)t->Kill();
  }
  while (ReadyNode* node = PopReady()) {
    if (node->is_task) {
      // A task killed while queued: its queue entry held its reference.
      Task* task = static_cast<Task*>(node);
      task->wake_scheduled_ = false;
      if (task->state_ == Task::State::kFinished) task->self_.reset();
    } else {
      delete static_cast<CallbackNode*>(node);
    }
  }
  while (free_callbacks_ != nullptr) {
    CallbackNode* node = free_callbacks_;
    free_callbacks_ = static_cast<CallbackNode*>(node->next_ready);
    delete node;
  }
  timers_.clear();
  if (pending_) {
    std::fprintf(stderr,
                 "evergreen::runtime: exception never rethrown (the loop was "
                 "destroyed): %s\n",
                 Describe(pending_).c_str());
  }
  signal_handlers_.clear();
  timer_.reset();
  async_.reset();
  io_.reset();
  if (current_loop == this) current_loop = nullptr;
}

EventLoop* EventLoop::Current() { return current_loop; }

absl::Status EventLoop::Run() { return RunImpl(false); }

absl::Status EventLoop::RunForever() { return RunImpl(true); }

void EventLoop::Stop() { stop_ = true; }

absl::Status EventLoop::RunImpl(bool forever) {
  if (Task::Current() != nullptr) {
    return absl::FailedPreconditionError("run: called from a task");
  }
  if (running_) return absl::FailedPreconditionError("run: already running");
  running_ = true;
  stop_ = false;
  hub_ = Fiber::Current();
  if (forever) async_->Ref();
  while (!stop_ && !pending_) {
    RunReady();
    if (stop_ || pending_) break;
    bool more = ready_head_ != nullptr;
    // While callbacks keep coming, poll I/O and timers only every few rounds:
    // a poll is a system call, and a ping-pong between two tasks would pay
    // one per handoff. Bounded, so a busy loop cannot starve I/O.
    if (more && ++busy_rounds_ < kRoundsBetweenPolls) continue;
    busy_rounds_ = 0;
    ArmTimer();
    if (!signal_handlers_.empty()) UpdateSignalRefs();
    if (!more && !forever && !io_->Alive()) break;
    in_io_run_ = true;
    try {
      io_->Run(more ? loop::RunMode::kNoWait : loop::RunMode::kOnce);
    } catch (...) {
      HandleException(nullptr, std::current_exception());
    }
    in_io_run_ = false;
    RunDueTimers();
  }
  if (forever) async_->Unref();
  running_ = false;
  if (pending_) {
    std::exception_ptr e = std::move(pending_);
    pending_ = nullptr;
    std::rethrow_exception(e);
  }
  if (!stop_ && live_head_ != nullptr) {
    std::vector<std::string> names;
    for (Task* t = live_head_; t != nullptr; t = t->next_live_) {
      if (names.size() == 20) {
        names.push_back("...");
        break;
      }
      names.push_back(t->name());
    }
    return absl::FailedPreconditionError(
        absl::StrCat("run: deadlock: ", live_count_,
                     " task(s) blocked forever: ", absl::StrJoin(names, ", ")));
  }
  return absl::OkStatus();
}

void EventLoop::RunReady() {
  // Only what is queued now: later arrivals wait for the next round (or run
  // by a hand-off, see NextForHandoff).
  round_left_ = ready_size_;
  while (round_left_ > 0) {
    ReadyNode* node = PopReady();
    if (node == nullptr) break;
    --round_left_;
    if (node->is_task) {
      handoffs_ = 0;
      static_cast<Task*>(node)->Resume();
    } else {
      CallbackNode* cb = static_cast<CallbackNode*>(node);
      try {
        cb->fn();
      } catch (...) {
        HandleException(nullptr, std::current_exception());
      }
      RecycleCallback(cb);
    }
    if (pending_) return;
  }
}

void EventLoop::RecycleCallback(CallbackNode* node) {
  node->fn = nullptr;  // destroys the captured state now
  if (free_count_ >= kMaxFreeCallbacks) {
    delete node;
    return;
  }
  node->next_ready = free_callbacks_;
  free_callbacks_ = node;
  ++free_count_;
}

void EventLoop::EndPoll() {
  // libuv 1.44's uv_run(ONCE) runs due timers, idle and prepare callbacks
  // before it computes the poll timeout: a task one of them wakes would
  // otherwise wait for the next I/O event or timer. uv_stop makes that
  // timeout zero; uv_run clears the flag when it returns.
  io_->Stop();
}

void EventLoop::RunDueTimers() {
  // No clock read unless the libuv timer, always armed for the earliest
  // deadline (ArmTimer), fired: before that nothing is due. (It may fire a
  // little early, libuv counting from its cached time: then nothing runs
  // and ArmTimer arms it again.)
  if (!timer_fired_) return;
  timer_fired_ = false;
  if (timers_.empty()) return;
  int64_t now = Deadline::NowNanos();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto it = timers_.begin();
    std::function<void()> fn = std::move(it->second);
    timers_.erase(it);
    // Timer callbacks run in order with the ready queue.
    CallSoon(std::move(fn));
  }
}

void EventLoop::ArmTimer() {
  if (timers_.empty()) {
    if (armed_for_ != -1) {
      (void)timer_->Stop();
      armed_for_ = -1;
    }
    return;
  }
  int64_t next = timers_.begin()->first.first;
  // armed_for_ is -1 again once the timer fired or was stopped.
  if (next == armed_for_) return;
  int64_t now = Deadline::NowNanos();
  uint64_t ms =
      next <= now ? 0 : static_cast<uint64_t>((next - now + 999999) / 1000000);
  // The callback only ends the poll: RunDueTimers runs after it. Stopping
  // the I/O loop matters: libuv 1.44 runs a timer already due at the start
  // of uv_run(ONCE), then blocks in the poll without a timeout while a
  // thread-pool job keeps the loop alive, so the due work would wait for it.
  absl::Status s = timer_->Start(ms, 0, [this](loop::Timer&) {
    armed_for_ = -1;
    timer_fired_ = true;
    io_->Stop();
  });
  // Not armed: try again next iteration.
  armed_for_ = s.ok() ? next : -1;
}

void EventLoop::AddLive(Task* task) {
  task->prev_live_ = nullptr;
  task->next_live_ = live_head_;
  if (live_head_ != nullptr) live_head_->prev_live_ = task;
  live_head_ = task;
  ++live_count_;
}

void EventLoop::RemoveLive(Task* task) {
  if (task->prev_live_ != nullptr) {
    task->prev_live_->next_live_ = task->next_live_;
  } else if (live_head_ == task) {
    live_head_ = task->next_live_;
  } else {
    return;  // not in the list
  }
  if (task->next_live_ != nullptr)
    task->next_live_->prev_live_ = task->prev_live_;
  task->prev_live_ = task->next_live_ = nullptr;
  --live_count_;
}

void EventLoop::CallSoon(std::function<void()> fn) {
  CallbackNode* node = free_callbacks_;
  if (node != nullptr) {
    free_callbacks_ = static_cast<CallbackNode*>(node->next_ready);
    --free_count_;
  } else {
    node = new CallbackNode();
  }
  node->fn = std::move(fn);
  PushReady(node);
}

TimerHandle EventLoop::CallLater(absl::Duration delay,
                                 std::function<void()> fn) {
  return CallAt(Deadline::After(delay), std::move(fn));
}

TimerHandle EventLoop::CallAt(Deadline deadline, std::function<void()> fn) {
  if (deadline.is_never()) return TimerHandle();
  TimerHandle::Key key{deadline.nanos(), ++timer_seq_};
  timers_.emplace(key, std::move(fn));
  return TimerHandle(this, key);
}

bool EventLoop::CancelTimer(TimerHandle::Key key) {
  return timers_.erase(key) != 0;
}

absl::Status EventLoop::CallFromThread(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(from_thread_mu_);
    if (from_thread_closed_) {
      return absl::FailedPreconditionError(
          "call from thread: the loop is being destroyed");
    }
    from_thread_.push_back(std::move(fn));
    // Sending under the lock: the destructor closes the async handle only
    // after taking the lock and marking the queue closed.
    return async_->Send();
  }
}

void EventLoop::DrainFromThread() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(from_thread_mu_);
    batch.swap(from_thread_);
  }
  for (std::function<void()>& fn : batch) CallSoon(std::move(fn));
}

void EventLoop::SetExceptionHandler(TaskExceptionHandler handler) {
  handler_ = std::move(handler);
}

void EventLoop::HandleException(Task* task, std::exception_ptr e) noexcept {
  std::string who = task == nullptr ? std::string("a callback")
                                    : absl::StrCat("task ", task->name());
  if (handler_) {
    try {
      handler_(task, e);
      return;
    } catch (...) {
      std::fprintf(stderr,
                   "evergreen::runtime: the exception handler threw: %s\n",
                   Describe(std::current_exception()).c_str());
    }
  }
  std::fprintf(stderr, "evergreen::runtime: uncaught exception in %s: %s\n",
               who.c_str(), Describe(e).c_str());
  if (!handler_ && !pending_) {
    pending_ = e;
    stop_ = true;
  }
}

}  // namespace runtime
}  // namespace evergreen
