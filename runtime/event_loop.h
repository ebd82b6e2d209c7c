// runtime/event_loop.h: EventLoop, the per-thread scheduler of the
// cooperative runtime: ready callbacks, timers, the tasks (runtime/task.h)
// and, underneath, a //loop event loop for I/O.
//
//   auto loop = *evergreen::runtime::EventLoop::Create();
//   loop->CallSoon([] { std::puts("soon"); });
//   loop->CallLater(absl::Milliseconds(10), [&] { loop->Stop(); });
//   evergreen::runtime::Task::Spawn([] {
//     evergreen::runtime::Sleep(absl::Milliseconds(1));  // blocks the task
//   });
//   absl::Status s = loop->Run();  // returns when nothing is left to do
//
// One EventLoop per thread at most; it belongs to the thread that created
// it. Every method is "loop thread only" except CallFromThread, which is
// thread-safe. Run must be called outside any task (normally on the thread's
// main fiber): that fiber becomes the hub the tasks switch back to when they
// block.
//
// Order: ready callbacks and task wakeups run FIFO, in the order they were
// scheduled; callbacks scheduled while the ready queue runs wait for the next
// round. A task that blocks hands the CPU straight to the task at the front
// of the ready queue (no switch through the loop), FIFO as ever; such a
// hand-off may run a task woken during the current round (where a round
// through the loop would have deferred it to the next), at most 64 hand-offs
// in a row before control returns to the loop. The loop polls I/O and timers
// whenever the ready queue is empty, and at least every 16 rounds while it is
// not (without blocking then), so a task that yields in a loop, or two tasks
// waking each other, cannot starve I/O or timers.
//
// Exceptions: an exception escaping a callback or a task is handed to the
// exception handler (SetExceptionHandler). The default handler prints it to
// stderr with the task's name, keeps the first one and stops the loop; Run
// then rethrows it. So a failing task fails the test or program that runs
// the loop: never swallowed silently.
#ifndef EVERGREEN_RUNTIME_EVENT_LOOP_H_
#define EVERGREEN_RUNTIME_EVENT_LOOP_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fibers/fiber.h"
#include "loop/async.h"
#include "loop/loop.h"
#include "loop/signal.h"
#include "loop/timer.h"
#include "runtime/deadline.h"

namespace evergreen {
namespace runtime {

class Task;

namespace runtime_internal {
// ReadyNode: an entry of the loop's ready queue (intrusive, FIFO, no
// allocation): a task (Task derives from it) or a callback node.
struct ReadyNode {
  ReadyNode* next_ready = nullptr;
  bool is_task = false;
};
}  // namespace runtime_internal

// TimerHandle identifies a callback scheduled with CallLater or CallAt.
class TimerHandle {
 public:
  TimerHandle() = default;
  // Cancel unschedules the callback. Returns false if it already ran, was
  // cancelled, or the handle is empty. Loop thread only.
  bool Cancel() { return loop_ != nullptr && CancelSlow(); }

 private:
  friend class EventLoop;
  bool CancelSlow();
  using Key = std::pair<int64_t, uint64_t>;
  TimerHandle(class EventLoop* loop, Key key) : loop_(loop), key_(key) {}
  class EventLoop* loop_ = nullptr;
  Key key_{0, 0};
};

// ExceptionHandler receives an exception that escaped a callback (task ==
// nullptr) or a task's target.
using TaskExceptionHandler =
    std::function<void(Task* task, std::exception_ptr)>;

class EventLoop {
 public:
  // Create makes this thread's event loop. FailedPrecondition if the thread
  // already has one; the libuv error if the I/O loop cannot be created.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  // ~EventLoop kills the tasks still alive (their stacks unwind), then closes
  // the I/O loop. Must not run inside a task.
  ~EventLoop();

  // Current returns the calling thread's event loop, or nullptr.
  static EventLoop* Current();

  // Run runs ready callbacks, timers, tasks and I/O until there is nothing
  // left to do, or Stop. Returns OK, or FailedPrecondition when it stopped
  // because every remaining task is blocked with nothing that could wake it
  // ("run: deadlock: 2 task(s) blocked forever: worker-1, worker-2").
  // Rethrows an exception kept by the default exception handler.
  // FailedPrecondition if called from a task or while running.
  absl::Status Run();
  // RunForever is Run that also waits (for CallFromThread, signals...) when
  // nothing is left, until Stop.
  absl::Status RunForever();
  // Stop makes Run return after the current round of callbacks.
  void Stop();
  // IsRunning returns whether Run or RunForever is executing.
  bool IsRunning() const { return running_; }

  // CallSoon schedules `fn` to run in the next round, FIFO.
  void CallSoon(std::function<void()> fn);
  // CallLater schedules `fn` after `delay` (negative counts as zero).
  TimerHandle CallLater(absl::Duration delay, std::function<void()> fn);
  // CallAt schedules `fn` at `deadline` (Deadline::Never: never runs).
  TimerHandle CallAt(Deadline deadline, std::function<void()> fn);
  // CallFromThread schedules `fn` from any thread. Thread-safe. Returns
  // FailedPrecondition once the loop is being destroyed.
  absl::Status CallFromThread(std::function<void()> fn);

  // AddSignalHandler runs `fn` as a callback of this loop (queued FIFO like
  // CallSoon) each time `signum` is delivered to the process, replacing a
  // handler this loop already had for it. While a task is alive the handlers
  // keep Run going (a task waiting for what a handler will do is not a
  // deadlock); once none is, they do not keep Run from returning (RunForever
  // waits for them). Several loops may handle the same signal; each runs its
  // own handler. InvalidArgument for an empty `fn`; the libuv error for a
  // signal that cannot be watched ("signal start 9: EINVAL ..." for
  // SIGKILL). Loop thread only.
  absl::Status AddSignalHandler(int signum, std::function<void()> fn);
  // RemoveSignalHandler removes the handler for `signum`; returns whether
  // there was one. The signal's disposition goes back to what it was once no
  // loop watches it.
  bool RemoveSignalHandler(int signum);

  // SetExceptionHandler replaces the handler; nullptr restores the default.
  void SetExceptionHandler(TaskExceptionHandler handler);

  // io returns the underlying //loop event loop, for handles and requests.
  loop::Loop& io() { return *io_; }

  // TaskCount returns the number of tasks started and not finished.
  size_t TaskCount() const { return live_count_; }

 private:
  friend class Task;
  friend class TimerHandle;
  EventLoop() = default;
  absl::Status RunImpl(bool forever);
  void RunReady();
  void RunDueTimers();
  void ArmTimer();
  void DrainFromThread();
  void HandleException(Task* task, std::exception_ptr e) noexcept;
  bool CancelTimer(TimerHandle::Key key);

  // The ready queue.
  using ReadyNode = runtime_internal::ReadyNode;
  struct CallbackNode;
  void PushReady(ReadyNode* node) {
    // Made ready by a libuv callback: the poll must not block after it.
    if (in_io_run_) EndPoll();
    node->next_ready = nullptr;
    if (ready_tail_ != nullptr) {
      ready_tail_->next_ready = node;
    } else {
      ready_head_ = node;
    }
    ready_tail_ = node;
    ++ready_size_;
  }
  ReadyNode* PopReady() {
    ReadyNode* node = ready_head_;
    if (node == nullptr) return nullptr;
    ready_head_ = node->next_ready;
    if (ready_head_ == nullptr) ready_tail_ = nullptr;
    node->next_ready = nullptr;
    --ready_size_;
    return node;
  }
  void RecycleCallback(CallbackNode* node);
  // EndPoll makes the running io_->Run return after its current iteration
  // without blocking in the poll (uv_stop).
  void EndPoll();
  // NextForHandoff pops the task at the front of the ready queue if the
  // running task `self`, which is blocking, may switch straight to it;
  // nullptr when it must switch to the hub instead.
  Task* NextForHandoff(Task* self);
  // Reap drops the loop's reference to the task that finished last.
  void Reap();

  // Refs the signal handlers while tasks are alive, unrefs them otherwise.
  void UpdateSignalRefs();

  std::unique_ptr<loop::Loop> io_;
  std::map<int, loop::HandlePtr<loop::Signal>> signal_handlers_;
  loop::HandlePtr<loop::Timer> timer_;
  loop::HandlePtr<loop::Async> async_;
  Fiber* hub_ = nullptr;
  bool running_ = false;
  // True inside io_->Run: a libuv callback there that makes work ready must
  // end the poll (EndPoll), or the poll blocks until the next timer.
  bool in_io_run_ = false;
  bool stop_ = false;
  bool destroying_ = false;
  ReadyNode* ready_head_ = nullptr;
  ReadyNode* ready_tail_ = nullptr;
  size_t ready_size_ = 0;
  // Items of the current round not yet run (the hub's round).
  size_t round_left_ = 0;
  // Hand-offs since the hub last resumed a task.
  static constexpr int kMaxHandoffs = 64;
  int handoffs_ = 0;
  // Recycled callback nodes (at most kMaxFreeCallbacks).
  static constexpr size_t kMaxFreeCallbacks = 256;
  CallbackNode* free_callbacks_ = nullptr;
  size_t free_count_ = 0;
  // The task whose target just ended, until Reap.
  Task* finished_ = nullptr;
  std::map<TimerHandle::Key, std::function<void()>> timers_;
  uint64_t timer_seq_ = 0;
  static constexpr int kRoundsBetweenPolls = 16;
  int busy_rounds_ = 0;
  int64_t armed_for_ = -1;
  // The libuv timer fired since RunDueTimers last looked: only then can a
  // timer be due.
  bool timer_fired_ = false;
  // Tasks started and not finished (they keep a reference to themselves),
  // linked through the tasks.
  void AddLive(Task* task);
  void RemoveLive(Task* task);
  Task* live_head_ = nullptr;
  size_t live_count_ = 0;
  TaskExceptionHandler handler_;
  std::exception_ptr pending_;
  std::mutex from_thread_mu_;
  std::vector<std::function<void()>> from_thread_;  // guarded by the mutex
  bool from_thread_closed_ = false;                 // guarded by the mutex
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_EVENT_LOOP_H_
