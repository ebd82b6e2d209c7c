// runtime/task.h: Task, a thread-like cooperative task on the current
// thread's EventLoop, and the calls that block the current task: Sleep,
// Yield.
//
//   auto task = evergreen::runtime::Task::Spawn(
//       [](int n) { evergreen::runtime::Sleep(absl::Milliseconds(n)); }, 5);
//   // ... from another task:
//   absl::Status s = (*task)->Join(evergreen::runtime::Deadline::After(
//       absl::Seconds(1)));     // OK once it finished, DeadlineExceeded
//
// A task runs on a fiber of its own. It runs until it blocks (Sleep, Join,
// a wait on an Event, Lock, Queue...), which switches back to the loop; the
// loop resumes it when it is woken, in FIFO order with the other ready tasks
// and callbacks. A blocking call blocks the task, never the thread.
//
// Killing (Kill) raises evergreen::FiberKilled at the point where the task
// is blocked: its stack unwinds, destructors run, and the task finishes. Do
// not catch FiberKilled without rethrowing it (//fibers reports a swallowed
// kill). A task that never blocks cannot be killed until it does.
//
// Ownership: Spawn returns a shared_ptr; the loop also keeps the task alive
// until it finished, so the caller may drop its pointer. Loop thread only.
#ifndef EVERGREEN_RUNTIME_TASK_H_
#define EVERGREEN_RUNTIME_TASK_H_

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fibers/fiber.h"
#include "runtime/deadline.h"
#include "runtime/event_loop.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {

class CancelScope;
namespace runtime_internal {
// The running task of this thread (Task::Current). Initial-exec and
// constant-initialized: one instruction to read, no TLS wrapper call.
extern EVERGREEN_FIBERS_CONSTINIT thread_local Task* tls_current_task
    __attribute__((tls_model("initial-exec")));
struct Waiter;
class WaitQueue;
bool Wait(Task* task, WaitQueue& queue, Deadline deadline);
}  // namespace runtime_internal
absl::Status SleepUntil(Deadline deadline);
absl::Status Yield();

struct TaskOptions {
  // Shown in diagnostics and by name(). Default: "task-<id>".
  std::string name;
  // Usable stack bytes (see FiberOptions::stack_size).
  size_t stack_size = 256 * 1024;
};

class Task : public std::enable_shared_from_this<Task>,
             private runtime_internal::ReadyNode {
 public:
  enum class State { kCreated, kReady, kRunning, kBlocked, kFinished };

  // Create makes a task running `target` on the current thread's loop,
  // without starting it. FailedPrecondition without an EventLoop on this
  // thread; the fibers error when the stack cannot be allocated.
  static absl::StatusOr<std::shared_ptr<Task>> Create(
      TaskOptions options, std::function<void()> target);

  // Spawn creates a task calling f(args...) (decayed copies) and starts it.
  template <typename F, typename... Args>
  static absl::StatusOr<std::shared_ptr<Task>> Spawn(F&& f, Args&&... args) {
    return SpawnWith(TaskOptions(), std::forward<F>(f),
                     std::forward<Args>(args)...);
  }
  template <typename F, typename... Args>
  static absl::StatusOr<std::shared_ptr<Task>> SpawnWith(TaskOptions options,
                                                         F&& f,
                                                         Args&&... args) {
    static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                  "Spawn: f(args...) must be callable");
    auto bound = [f = std::forward<F>(f),
                  tuple =
                      std::make_tuple(std::forward<Args>(args)...)]() mutable {
      std::apply(f, std::move(tuple));
    };
    absl::StatusOr<std::shared_ptr<Task>> task =
        Create(std::move(options), std::move(bound));
    if (!task.ok()) return task;
    if (absl::Status s = (*task)->Start(); !s.ok()) return s;
    return task;
  }

  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task();

  // Start schedules the task to run (FIFO). FailedPrecondition if already
  // started.
  absl::Status Start();

  // Join blocks the current task until this one finished. OK when it
  // finished (whatever the outcome: see exception(), killed()),
  // DeadlineExceeded when `deadline` passed first, FailedPrecondition when
  // called outside a task, on itself, or on a task never started.
  absl::Status Join(Deadline deadline = Deadline::Never());

  // Kill unwinds the task (see above). From another task or a callback it
  // returns once the task finished; on the current task it throws
  // FiberKilled and does not return. A task never started just finishes. A
  // finished task: no effect. FailedPrecondition from another thread.
  absl::Status Kill();

  // IsAlive: started (or created) and not finished.
  bool IsAlive() const { return state_ != State::kFinished; }
  State state() const { return state_; }
  // name returns the name given in TaskOptions, or "task-<id>".
  const std::string& name() const;
  uint64_t id() const { return id_; }
  // exception returns what escaped the target, if anything (a kill is not an
  // exception).
  std::exception_ptr exception() const { return exception_; }
  // killed returns whether the task finished because it was killed.
  bool killed() const { return killed_; }
  EventLoop& loop() const { return *loop_; }

  // Current returns the running task, or nullptr outside tasks.
  static Task* Current() { return runtime_internal::tls_current_task; }

 private:
  friend class EventLoop;
  friend class CancelScope;
  friend struct runtime_internal::Waiter;
  friend class runtime_internal::WaitQueue;
  friend bool runtime_internal::Wait(Task* task,
                                     runtime_internal::WaitQueue& queue,
                                     Deadline deadline);
  friend absl::Status SleepUntil(Deadline deadline);
  friend absl::Status Yield();
  Task(EventLoop& loop, TaskOptions options, std::function<void()> target);
  void Main();
  // Resume runs on the hub: switches into the task (popped from the ready
  // queue) until control comes back to the hub.
  void Resume();
  // SwitchInto runs on a task that is blocking: marks this task (popped from
  // the ready queue by EventLoop::NextForHandoff) running and switches to
  // it directly.
  void SwitchInto();
  void Finish();
  // Block suspends the running task until Wake or `deadline`; returns true
  // if woken, false on timeout. Throws when killed or cancelled.
  bool Block(runtime_internal::Waiter* waiter, Deadline deadline);
  void OnDeadline(uint64_t seq);
  void Wake();
  // QueueSelf puts the running task at the back of the ready queue (Yield).
  void QueueSelf();
  void ThrowIfCancelled();
  void Interrupt(std::exception_ptr e);

  EventLoop* loop_;
  mutable std::string name_;  // "task-<id>" is made on first use
  uint64_t id_;
  std::function<void()> target_;
  std::unique_ptr<Fiber> fiber_;
  State state_ = State::kCreated;
  bool wake_scheduled_ = false;
  bool timed_out_ = false;
  bool killed_ = false;
  // Set while Kill unwinds the task: it then blocks only through the hub.
  bool being_killed_ = false;
  std::exception_ptr exception_;
  std::exception_ptr interrupt_;  // thrown at the next resume
  uint64_t block_seq_ = 0;
  runtime_internal::Waiter* blocked_on_ = nullptr;
  CancelScope* innermost_scope_ = nullptr;
  std::shared_ptr<Task> self_;  // set while started and unfinished
  runtime_internal::WaitQueue joiners_;
  // The loop's list of started, unfinished tasks (intrusive: no allocation).
  Task* prev_live_ = nullptr;
  Task* next_live_ = nullptr;
};

// Sleep blocks the current task for `duration`. FailedPrecondition outside a
// task (callbacks must not block). Throws when the task is killed or
// cancelled meanwhile.
absl::Status Sleep(absl::Duration duration);
// SleepUntil blocks the current task until `deadline`.
absl::Status SleepUntil(Deadline deadline);
// Yield lets every other ready task and callback run once, then resumes.
// FailedPrecondition outside a task.
absl::Status Yield();

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_TASK_H_
