#include "runtime/task_group.h"

#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fibers/fiber.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {
namespace runtime_internal {

// The group's state, shared with its children's tasks and the loop
// callbacks so that none of them depends on Run's frame. Loop thread only.
struct TaskGroupState : std::enable_shared_from_this<TaskGroupState> {
  struct Child {
    uint64_t id = 0;
    TaskOptions options;
    std::function<void()> fn;
    std::shared_ptr<Task> task;  // once created
    bool started = false;        // its task runs (its fiber has started)
    bool skip = false;           // cancelled before it ran: it returns at once
  };

  TaskGroupState(EventLoop* l, Task* o) : loop(l), owner_name(o->name()) {}

  // The first error wins; any error cancels the group.
  void Fail(std::exception_ptr e, absl::Status s);
  // CancelAll closes the group, interrupts the body and kills the children.
  void CancelAll();
  // Close: Run is leaving; the children still alive are killed.
  void Close();
  void ScheduleKill();
  void ScheduleCreate();
  void CreatePending();  // on the loop (a callback), see ScheduleCreate
  void KillChildren();   // on the loop (a callback)
  void ChildEnded(Child& child);
  static void ChildMain(const std::shared_ptr<TaskGroupState>& state,
                        const std::shared_ptr<Child>& child);
  // WaitChildren blocks the owner until every child ended; throws when
  // interrupted (the group's scope, an enclosing one, a kill).
  void WaitChildren(Task* me);
  // KillAndWait waits, shielded from enclosing scopes, for the children
  // killed by Close to end. Returns a FiberKilled that arrived meanwhile (it
  // waited on regardless, since the children may use the frames the kill
  // unwinds), or nullptr.
  std::exception_ptr KillAndWait(Task* me);

  EventLoop* loop;
  std::string owner_name;
  CancelScope* scope = nullptr;  // the body's scope, while Run is in it
  bool open = true;
  bool cancel_called = false;
  std::exception_ptr error;
  absl::Status error_status;
  std::map<uint64_t, std::shared_ptr<Child>> children;  // not ended
  std::vector<std::shared_ptr<Child>> to_create;
  bool create_scheduled = false;
  bool kill_scheduled = false;
  uint64_t next_id = 1;
  WaitQueue ended;  // notified when `children` becomes empty
};

void TaskGroupState::Fail(std::exception_ptr e, absl::Status s) {
  if (error == nullptr && error_status.ok()) {
    if (e != nullptr) {
      error = std::move(e);
    } else {
      error_status = std::move(s);
    }
  }
  CancelAll();
}

void TaskGroupState::CancelAll() {
  open = false;
  if (scope != nullptr) scope->Cancel();
  ScheduleKill();
}

void TaskGroupState::Close() {
  open = false;
  scope = nullptr;
  ScheduleKill();
}

void TaskGroupState::ScheduleKill() {
  if (kill_scheduled || children.empty()) return;
  kill_scheduled = true;
  // From the loop, Task::Kill unwinds a task at once; from a task it would
  // block, and a failing child or a cancelled body cannot always block.
  loop->CallSoon([self = shared_from_this()] { self->KillChildren(); });
}

void TaskGroupState::KillChildren() {
  kill_scheduled = false;
  std::vector<std::shared_ptr<Child>> victims;
  victims.reserve(children.size());
  for (const auto& entry : children) victims.push_back(entry.second);
  for (const std::shared_ptr<Child>& child : victims) {
    if (!child->started) {
      // Killing a task whose fiber never ran is not possible today; it
      // returns before running anything instead.
      child->skip = true;
    } else if (child->task != nullptr && child->task->IsAlive()) {
      (void)child->task->Kill();
    }
  }
}

void TaskGroupState::ScheduleCreate() {
  if (create_scheduled) return;
  create_scheduled = true;
  // Children are created from a loop callback, never from a task: a task
  // created inside another task returns to that task when it finishes.
  loop->CallSoon([self = shared_from_this()] { self->CreatePending(); });
}

void TaskGroupState::CreatePending() {
  create_scheduled = false;
  std::vector<std::shared_ptr<Child>> batch;
  batch.swap(to_create);
  std::shared_ptr<TaskGroupState> self = shared_from_this();
  for (const std::shared_ptr<Child>& child : batch) {
    if (child->skip || !open) {
      ChildEnded(*child);
      continue;
    }
    absl::StatusOr<std::shared_ptr<Task>> task =
        Task::Create(child->options, [self, child] { ChildMain(self, child); });
    absl::Status s = task.status();
    if (s.ok()) {
      child->task = *task;
      s = (*task)->Start();
    }
    if (!s.ok()) {
      child->task.reset();
      ChildEnded(*child);
      Fail(nullptr, std::move(s));
    }
  }
}

void TaskGroupState::ChildMain(const std::shared_ptr<TaskGroupState>& state,
                               const std::shared_ptr<Child>& child) {
  struct End {
    TaskGroupState* state;
    Child* child;
    ~End() { state->ChildEnded(*child); }
  } end{state.get(), child.get()};
  if (child->skip) return;
  child->started = true;
  try {
    child->fn();
  } catch (const FiberKilled&) {
    throw;
  } catch (...) {
    // The task boundary: the error goes to the group, not to the loop.
    state->Fail(std::current_exception(), absl::OkStatus());
  }
}

void TaskGroupState::ChildEnded(Child& child) {
  // What the child captured dies on its own task (or here, if it never ran).
  std::function<void()> fn = std::move(child.fn);
  child.fn = nullptr;
  fn = nullptr;
  child.task.reset();  // the task keeps itself alive while it runs
  if (children.erase(child.id) != 0 && children.empty()) ended.NotifyAll();
}

void TaskGroupState::WaitChildren(Task* me) {
  while (!children.empty()) Wait(me, ended, Deadline::Never());
}

std::exception_ptr TaskGroupState::KillAndWait(Task* me) {
  std::exception_ptr killed;
  // Not while the loop is being destroyed: it kills every task itself.
  while (!children.empty() && loop->IsRunning()) {
    try {
      // Shielded: a cancelled enclosing scope does not stop the wait, so the
      // children have unwound before the group's Run does.
      (void)Shielded([&] { Wait(me, ended, Deadline::Never()); });
    } catch (const FiberKilled&) {
      // Kept (not swallowed): rethrown by Run once the children ended.
      if (killed == nullptr) killed = std::current_exception();
    }
  }
  return killed;
}

}  // namespace runtime_internal

TaskGroup::~TaskGroup() = default;

absl::Status TaskGroup::Run(const std::function<void(TaskGroup&)>& body) {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("task group run", &me);
      !s.ok()) {
    return s;
  }
  if (!body) return absl::InvalidArgumentError("task group run: empty body");
  auto state =
      std::make_shared<runtime_internal::TaskGroupState>(&me->loop(), me);
  TaskGroup group(state);
  CancelScope scope;
  state->scope = &scope;
  try {
    // CANCELLED from the group's own scope is read from the state below.
    (void)scope.Run([&] {
      try {
        body(group);
      } catch (const Cancelled&) {
        throw;
      } catch (const FiberKilled&) {
        throw;
      } catch (...) {
        state->Fail(std::current_exception(), absl::OkStatus());
        return;
      }
      state->WaitChildren(me);
    });
  } catch (...) {
    // Killed, or an enclosing scope was cancelled: the children go too.
    state->Close();
    (void)state->KillAndWait(me);
    throw;
  }
  state->Close();
  if (std::exception_ptr killed = state->KillAndWait(me)) {
    std::rethrow_exception(killed);
  }
  if (state->error != nullptr) std::rethrow_exception(state->error);
  if (!state->error_status.ok()) return state->error_status;
  if (state->cancel_called) {
    return absl::CancelledError("task group: cancelled");
  }
  return absl::OkStatus();
}

absl::Status TaskGroup::SpawnImpl(TaskOptions options,
                                  std::function<void()> fn) {
  runtime_internal::TaskGroupState& s = *state_;
  if (EventLoop::Current() != s.loop) {
    return absl::FailedPreconditionError(
        "task group spawn: not on the group's loop thread");
  }
  if (!s.open) {
    return absl::FailedPreconditionError(
        "task group spawn: the group is closed");
  }
  auto child = std::make_shared<runtime_internal::TaskGroupState::Child>();
  child->id = s.next_id++;
  child->options = std::move(options);
  if (child->options.name.empty()) {
    child->options.name = absl::StrCat(s.owner_name, ".", child->id);
  }
  child->fn = std::move(fn);
  s.children.emplace(child->id, child);
  s.to_create.push_back(std::move(child));
  s.ScheduleCreate();
  return absl::OkStatus();
}

void TaskGroup::Cancel() {
  if (!state_->open && state_->scope == nullptr) return;  // Run returned
  state_->cancel_called = true;
  state_->CancelAll();
}

size_t TaskGroup::Size() const { return state_->children.size(); }

}  // namespace runtime
}  // namespace evergreen
