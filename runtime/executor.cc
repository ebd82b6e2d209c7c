#include "runtime/executor.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fibers/fiber.h"
#include "loop/work.h"
#include "runtime/event_loop.h"

namespace evergreen {
namespace runtime {
namespace runtime_internal {

ExecutorCore::ExecutorCore(Kind kind, std::string name, size_t limit,
                           TaskOptions options)
    : kind_(kind),
      name_(std::move(name)),
      limit_(limit),
      options_(std::move(options)),
      loop_(EventLoop::Current()) {
  if (loop_ == nullptr) {
    config_error_ = absl::FailedPreconditionError(
        absl::StrCat(name_, ": no EventLoop on the thread that created it"));
  } else if (kind_ == Kind::kTasks && limit_ == 0) {
    config_error_ = absl::InvalidArgumentError(
        absl::StrCat(name_, ": max_workers must be at least 1"));
  }
  if (options_.name.empty()) options_.name = "task-pool";
}

std::shared_ptr<ExecutorJob> ExecutorCore::Submit(JobCalls calls) {
  absl::Status error = config_error_;
  if (error.ok() && EventLoop::Current() != loop_) {
    error = absl::FailedPreconditionError(
        absl::StrCat(name_, " submit: not on the executor's loop thread"));
  } else if (error.ok() && shutdown_) {
    error = absl::FailedPreconditionError(
        absl::StrCat(name_, " submit: shut down"));
  }
  if (!error.ok()) {
    calls.set_error(std::move(error));
    return nullptr;
  }
  auto job = std::make_shared<ExecutorJob>();
  job->calls = std::move(calls);
  job->core = weak_from_this();
  queue_.push_back(job);
  SchedulePump();
  return job;
}

void ExecutorCore::SchedulePump() {
  if (pump_scheduled_ || queue_.empty()) return;
  pump_scheduled_ = true;
  // Jobs start from a loop callback, never from the submitting task: a task
  // created inside another task would return to it when it finishes.
  loop_->CallSoon([self = shared_from_this()] {
    self->pump_scheduled_ = false;
    self->Pump();
  });
}

void ExecutorCore::Pump() {
  while (!queue_.empty() && (limit_ == 0 || running_ < limit_)) {
    std::shared_ptr<ExecutorJob> job = std::move(queue_.front());
    queue_.pop_front();
    job->state = ExecutorJob::State::kStarted;
    ++running_;
    if (absl::Status s = Start(job); !s.ok()) {
      job->state = ExecutorJob::State::kEnded;
      job->task.reset();
      job->work.reset();
      --running_;
      job->calls.set_error(std::move(s));
    }
  }
  if (running_ == 0 && queue_.empty()) idle_.NotifyAll();
}

absl::Status ExecutorCore::Start(const std::shared_ptr<ExecutorJob>& job) {
  std::shared_ptr<ExecutorCore> self = shared_from_this();
  if (kind_ == Kind::kTasks) {
    TaskOptions options = options_;
    options.name = absl::StrCat(options_.name, "-", ++tasks_started_);
    absl::StatusOr<std::shared_ptr<Task>> task =
        Task::Create(std::move(options), [self, job] { RunInTask(self, job); });
    if (!task.ok()) return task.status();
    job->task = *task;
    return (*task)->Start();
  }
  absl::StatusOr<std::shared_ptr<loop::WorkRequest>> work = loop::Work::Queue(
      loop_->io(), job->calls.call, [self, job](loop::WorkRequest& request) {
        if (request.exception() != nullptr) {
          job->calls.set_exception(request.exception());
        } else if (!request.status().ok()) {
          // Cancelled while in the pool's queue: it never ran.
          job->calls.set_error(request.status());
        } else {
          job->calls.set_value();
        }
        self->JobEnded(*job);
      });
  if (!work.ok()) return work.status();
  job->work = *work;
  return absl::OkStatus();
}

void ExecutorCore::RunInTask(const std::shared_ptr<ExecutorCore>& core,
                             const std::shared_ptr<ExecutorJob>& job) {
  struct End {
    ExecutorCore* core;
    ExecutorJob* job;
    ~End() { core->JobEnded(*job); }
  } end{core.get(), job.get()};
  if (job->cancelled) return;  // cancelled before the task ran
  job->running = true;
  try {
    job->calls.call();
    job->calls.set_value();
  } catch (const FiberKilled&) {
    job->calls.set_error(absl::CancelledError(
        absl::StrCat(core->name_, ": the job's task was killed")));
    throw;
  } catch (...) {
    // The task boundary: the exception goes to the future, not the loop.
    job->calls.set_exception(std::current_exception());
  }
}

void ExecutorCore::JobEnded(ExecutorJob& job) {
  if (job.state != ExecutorJob::State::kStarted) return;
  job.state = ExecutorJob::State::kEnded;
  job.running = false;
  job.task.reset();
  job.work.reset();
  --running_;
  SchedulePump();
  if (running_ == 0 && queue_.empty()) idle_.NotifyAll();
}

void ExecutorCore::Cancel(const std::shared_ptr<ExecutorJob>& job) {
  std::shared_ptr<ExecutorCore> core = job->core.lock();
  switch (job->state) {
    case ExecutorJob::State::kEnded:
      return;
    case ExecutorJob::State::kQueued:
      // Dropped before it started; the future is cancelled already.
      job->state = ExecutorJob::State::kEnded;
      if (core != nullptr) {
        for (auto it = core->queue_.begin(); it != core->queue_.end(); ++it) {
          if (*it == job) {
            core->queue_.erase(it);
            break;
          }
        }
        if (core->running_ == 0 && core->queue_.empty()) {
          core->idle_.NotifyAll();
        }
      }
      return;
    case ExecutorJob::State::kStarted:
      break;
  }
  job->cancelled = true;
  if (job->work != nullptr) {
    // Works while the call waits in the pool's queue (the after callback
    // then sees CANCELLED); once it runs, its result is dropped.
    (void)job->work->Cancel();
    return;
  }
  if (job->task != nullptr && job->running && core != nullptr) {
    // Killed from the loop (the task may be the caller of Cancel).
    std::shared_ptr<Task> task = job->task;
    core->loop_->CallSoon([task] { (void)task->Kill(); });
  }
  // A task that has not run yet sees `cancelled` and returns at once.
}

absl::Status ExecutorCore::Shutdown(bool wait, bool cancel_pending) {
  shutdown_ = true;
  if (cancel_pending && !queue_.empty()) {
    std::deque<std::shared_ptr<ExecutorJob>> pending;
    pending.swap(queue_);
    for (const std::shared_ptr<ExecutorJob>& job : pending) {
      job->state = ExecutorJob::State::kEnded;
      job->calls.set_error(
          absl::CancelledError(absl::StrCat(name_, ": cancelled by shutdown")));
    }
    if (running_ == 0) idle_.NotifyAll();
  }
  if (!wait || (running_ == 0 && queue_.empty())) return absl::OkStatus();
  Task* me = nullptr;
  if (absl::Status s = CheckInTask(absl::StrCat(name_, " shutdown"), &me);
      !s.ok()) {
    return s;
  }
  // Keep the core (and the wait queue) alive even if the executor goes.
  std::shared_ptr<ExecutorCore> keep = shared_from_this();
  while (running_ > 0 || !queue_.empty()) {
    Wait(me, idle_, Deadline::Never());
  }
  return absl::OkStatus();
}

}  // namespace runtime_internal

TaskPoolExecutor::TaskPoolExecutor(size_t max_workers, TaskOptions options)
    : core_(std::make_shared<runtime_internal::ExecutorCore>(
          runtime_internal::ExecutorCore::Kind::kTasks, "task pool executor",
          max_workers, std::move(options))) {}

TaskPoolExecutor::~TaskPoolExecutor() { (void)core_->Shutdown(false, false); }

ThreadPoolExecutor::ThreadPoolExecutor(size_t max_in_flight)
    : core_(std::make_shared<runtime_internal::ExecutorCore>(
          runtime_internal::ExecutorCore::Kind::kThreads,
          "thread pool executor", max_in_flight, TaskOptions())) {}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  (void)core_->Shutdown(false, false);
}

}  // namespace runtime
}  // namespace evergreen
