// runtime/executor.h: executors that run calls and hand back futures
// (runtime/future.h): TaskPoolExecutor runs them in tasks of the loop,
// ThreadPoolExecutor runs blocking functions on libuv's thread pool while
// the calling task waits.
//
//   evergreen::runtime::TaskPoolExecutor tasks(/*max_workers=*/4);
//   Future<int> f = tasks.Submit([](int n) { Sleep(...); return n * 2; }, 21);
//
//   evergreen::runtime::ThreadPoolExecutor threads;
//   Future<std::string> g = threads.Submit(ReadWholeFileBlocking, path);
//   absl::StatusOr<std::string> text = g.Get();  // blocks this task only
//
//   absl::StatusOr<std::vector<int>> squares = Map(tasks, Square, inputs);
//
// Submit never blocks and never throws: a call that cannot be accepted
// (after Shutdown, no EventLoop on the thread, a bad configuration, no
// memory for a task's stack) comes back as a future already failed with
// that status. An exception thrown by the function is rethrown by
// Future::Get.
//
// Cancelling a job's future (Future::Cancel, or a cancel scope / timeout /
// kill interrupting a task blocked in its Get):
//  - a job still queued (waiting for a worker slot, or in libuv's thread
//    pool queue) is dropped: it never runs;
//  - a running TaskPoolExecutor job is killed: its task unwinds at its
//    current or next blocking point (destructors run);
//  - a running ThreadPoolExecutor job cannot be stopped (it is plain code on
//    another thread): it runs to its end and its result is dropped (the
//    future stays CANCELLED). It holds its pool thread meanwhile.
//
// Executors are loop thread only (the loop of the thread that created
// them). Destroying an executor is Shutdown(/*wait=*/false): jobs already
// submitted still run and complete their futures.
#ifndef EVERGREEN_RUNTIME_EXECUTOR_H_
#define EVERGREEN_RUNTIME_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "runtime/future.h"
#include "runtime/internal/wait.h"
#include "runtime/task.h"

namespace evergreen {
namespace loop {
class WorkRequest;
}  // namespace loop

namespace runtime {
namespace runtime_internal {

// BoundCall: f(args...) with decayed copies, called once.
template <typename F, typename... Args>
class BoundCall {
 public:
  using Result = std::invoke_result_t<F, Args...>;
  template <typename G, typename... A>
  explicit BoundCall(G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}
  Result operator()() { return std::apply(std::move(f_), std::move(args_)); }

 private:
  F f_;
  std::tuple<Args...> args_;
};

// JobCalls: a submitted call, type-erased.
struct JobCalls {
  // Runs the function and keeps its result: in the job's task, or on a
  // pool thread. May throw.
  std::function<void()> call;
  // Complete the future (loop thread); errors of a second set are ignored.
  std::function<void()> set_value;
  std::function<void(std::exception_ptr)> set_exception;
  std::function<void(absl::Status)> set_error;
};

class ExecutorCore;

struct ExecutorJob {
  enum class State : uint8_t { kQueued, kStarted, kEnded };
  JobCalls calls;
  State state = State::kQueued;
  bool cancelled = false;      // the future was cancelled once started
  bool running = false;        // task pool: the task is running the call
  std::shared_ptr<Task> task;  // task pool, while started
  std::shared_ptr<loop::WorkRequest> work;  // thread pool, while started
  std::weak_ptr<ExecutorCore> core;
};

// ExecutorCore: the queue, the worker limit and the shutdown state shared
// by both executors, kept alive by the jobs' tasks and callbacks so that an
// executor can be destroyed while its jobs run. Loop thread only.
class ExecutorCore : public std::enable_shared_from_this<ExecutorCore> {
 public:
  enum class Kind : uint8_t { kTasks, kThreads };
  // limit: the most jobs started at once; 0 = no limit (threads only).
  ExecutorCore(Kind kind, std::string name, size_t limit, TaskOptions options);

  // Submit queues the call, or fails its future at once and returns null.
  std::shared_ptr<ExecutorJob> Submit(JobCalls calls);
  // Cancel: the job's future was cancelled.
  static void Cancel(const std::shared_ptr<ExecutorJob>& job);
  absl::Status Shutdown(bool wait, bool cancel_pending);
  size_t running() const { return running_; }
  size_t queued() const { return queue_.size(); }

 private:
  void SchedulePump();
  void Pump();
  absl::Status Start(const std::shared_ptr<ExecutorJob>& job);
  void JobEnded(ExecutorJob& job);
  static void RunInTask(const std::shared_ptr<ExecutorCore>& core,
                        const std::shared_ptr<ExecutorJob>& job);

  Kind kind_;
  std::string name_;
  size_t limit_;
  TaskOptions options_;
  EventLoop* loop_;
  absl::Status config_error_;
  bool shutdown_ = false;
  bool pump_scheduled_ = false;
  std::deque<std::shared_ptr<ExecutorJob>> queue_;
  size_t running_ = 0;
  uint64_t tasks_started_ = 0;
  WaitQueue idle_;  // Shutdown(wait) waiters
};

template <typename F, typename... Args>
using SubmitResult =
    typename BoundCall<std::decay_t<F>, std::decay_t<Args>...>::Result;

template <typename F, typename... Args>
Future<SubmitResult<F, Args...>> SubmitTo(ExecutorCore& core, F&& fn,
                                          Args&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "Submit: fn(args...) must be callable");
  using Call = BoundCall<std::decay_t<F>, std::decay_t<Args>...>;
  using R = typename Call::Result;
  using Stored = typename FutureState<R>::Stored;
  auto promise = std::make_shared<Promise<R>>();
  Future<R> future = promise->GetFuture();
  // Shared: std::function needs copies, the arguments may be move-only.
  auto call =
      std::make_shared<Call>(std::forward<F>(fn), std::forward<Args>(args)...);
  auto slot = std::make_shared<std::optional<Stored>>();
  JobCalls calls;
  calls.call = [call, slot] {
    if constexpr (std::is_void_v<R>) {
      (*call)();
      slot->emplace();
    } else {
      slot->emplace((*call)());
    }
  };
  calls.set_value = [promise, slot] {
    if constexpr (std::is_void_v<R>) {
      (void)promise->SetValue();
    } else {
      (void)promise->SetValue(std::move(**slot));
    }
    slot->reset();
  };
  calls.set_exception = [promise](std::exception_ptr e) {
    (void)promise->SetException(std::move(e));
  };
  calls.set_error = [promise](absl::Status s) {
    (void)promise->SetError(std::move(s));
  };
  std::shared_ptr<ExecutorJob> job = core.Submit(std::move(calls));
  if (job != nullptr) {
    std::weak_ptr<ExecutorJob> weak = job;
    promise->OnCancel([weak] {
      if (std::shared_ptr<ExecutorJob> j = weak.lock()) {
        ExecutorCore::Cancel(j);
      }
    });
  }
  return future;
}

}  // namespace runtime_internal

// TaskPoolExecutor runs each submitted call in a task of its own, at most
// `max_workers` at once; the others wait in a FIFO queue. Loop thread only.
class TaskPoolExecutor {
 public:
  // max_workers must be at least 1 (else every Submit fails with
  // InvalidArgument). `options` apply to the job tasks (name: the job tasks
  // are named "<name>-<n>", default "task-pool"). Needs an EventLoop on the
  // thread (else every Submit fails with FailedPrecondition).
  explicit TaskPoolExecutor(size_t max_workers,
                            TaskOptions options = TaskOptions());
  TaskPoolExecutor(const TaskPoolExecutor&) = delete;
  TaskPoolExecutor& operator=(const TaskPoolExecutor&) = delete;
  // ~TaskPoolExecutor: Shutdown(false); submitted jobs still run.
  ~TaskPoolExecutor();

  // Submit queues fn(args...) (decayed copies; move-only values are fine)
  // and returns its future; it starts in a new task when a worker slot is
  // free, at the earliest in the loop's next round. A failed submission
  // returns a failed future: FailedPrecondition "task pool executor submit:
  // shut down" (or: not on the executor's loop thread, no EventLoop),
  // InvalidArgument for max_workers 0; a task that cannot be created fails
  // the future with its status. If the job's task is killed, its future
  // completes with CANCELLED.
  template <typename F, typename... Args>
  Future<runtime_internal::SubmitResult<F, Args...>> Submit(F&& fn,
                                                            Args&&... args) {
    return runtime_internal::SubmitTo(*core_, std::forward<F>(fn),
                                      std::forward<Args>(args)...);
  }

  // Shutdown stops accepting calls (Submit fails from now on). With
  // `cancel_pending`, queued jobs that have not started are dropped and
  // their futures cancelled. With `wait`, blocks the current task until
  // every started and queued job ended: FailedPrecondition outside a task
  // if there is something to wait for; throws when the task is killed or
  // its scope cancelled. Calling it again is fine; waiting from one of the
  // executor's own jobs waits for itself (the loop reports the deadlock).
  absl::Status Shutdown(bool wait = true, bool cancel_pending = false) {
    return core_->Shutdown(wait, cancel_pending);
  }
  // Running: jobs started and not ended. Queued: waiting for a slot.
  size_t Running() const { return core_->running(); }
  size_t Queued() const { return core_->queued(); }

 private:
  std::shared_ptr<runtime_internal::ExecutorCore> core_;
};

// ThreadPoolExecutor runs submitted calls on libuv's thread pool (shared by
// the whole process, UV_THREADPOOL_SIZE threads, 4 by default; see
// loop/work.h); the future completes on the loop thread. The function must
// not touch the loop, its tasks or handles, nor any loop-thread-only
// object (futures, promises, executors...). Loop thread only.
class ThreadPoolExecutor {
 public:
  // max_in_flight: the most calls of this executor handed to the pool at
  // once (the others wait in a FIFO queue here, so that one executor does
  // not take every pool thread from file and DNS requests); 0: no limit.
  explicit ThreadPoolExecutor(size_t max_in_flight = 0);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  // ~ThreadPoolExecutor: Shutdown(false); submitted jobs still run.
  ~ThreadPoolExecutor();

  // Submit queues fn(args...) (decayed copies, destroyed on the loop
  // thread) and returns its future, which completes with the result or the
  // exception thrown on the pool thread. Failed submissions as for
  // TaskPoolExecutor::Submit ("thread pool executor submit: ...").
  template <typename F, typename... Args>
  Future<runtime_internal::SubmitResult<F, Args...>> Submit(F&& fn,
                                                            Args&&... args) {
    return runtime_internal::SubmitTo(*core_, std::forward<F>(fn),
                                      std::forward<Args>(args)...);
  }

  // Shutdown as TaskPoolExecutor::Shutdown; waiting also waits for calls
  // whose futures were cancelled while they ran.
  absl::Status Shutdown(bool wait = true, bool cancel_pending = false) {
    return core_->Shutdown(wait, cancel_pending);
  }
  // InFlight: calls handed to the pool and not completed. Queued: waiting
  // here for max_in_flight.
  size_t InFlight() const { return core_->running(); }
  size_t Queued() const { return core_->queued(); }

 private:
  std::shared_ptr<runtime_internal::ExecutorCore> core_;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_EXECUTOR_H_
