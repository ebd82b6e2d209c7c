// runtime/task_group.h: TaskGroup, structured concurrency in the style of
// a trio nursery: tasks spawned in a group cannot outlive it.
//
//   absl::Status s = evergreen::runtime::TaskGroup::Run(
//       [&](evergreen::runtime::TaskGroup& g) {
//         for (const std::string& url : urls) {
//           (void)g.Spawn([&results, url] { results.push_back(Fetch(url)); });
//         }
//       });  // returns once every child has ended
//
// TaskGroup::Run runs the body on the current task, then waits until all
// the children have ended: the group's scope ends only when all its
// children ended.
//
// Errors: the first exception thrown by a child (or by the body) cancels the
// group: the other children are killed (their stacks unwind, destructors
// run), the body is interrupted at its blocking point with a Cancelled
// exception that Run catches, Run waits for every child to end and then
// rethrows that first exception (the original object: catch it by its
// type). Later errors of the same group are dropped. (Chosen over a Status
// so that the error propagates out of the scope as it would from plain
// code, like trio and Evergreen.)
//
// Cancellation from outside: if the task running Run is killed, or a cancel
// scope or timeout around Run fires, the children are killed too and the
// kill / Cancelled goes on propagating:
//
//   absl::Status s = WithTimeout(absl::Seconds(1), [&] {
//     (void)TaskGroup::Run([&](TaskGroup& g) { ... });
//   });  // DEADLINE_EXCEEDED; every child killed
//
// Whether Run ends normally, by a kill or by an enclosing scope's
// cancellation, it waits (shielded from enclosing scopes: see
// CancelScope::SetShield) until every child has unwound, so children may use
// the frames Run's caller and the body own.
//
// Children start in spawn order, in the loop's next round (a child never
// runs before Spawn returns). Loop thread only.
#ifndef EVERGREEN_RUNTIME_TASK_GROUP_H_
#define EVERGREEN_RUNTIME_TASK_GROUP_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace runtime_internal {
struct TaskGroupState;
}  // namespace runtime_internal

class TaskGroup {
 public:
  // Run calls body(group) on the current task, then blocks it until every
  // child has ended. Returns OK; CANCELLED ("task group: cancelled") if
  // Cancel was called; the status of a child that could not be created
  // (e.g. RESOURCE_EXHAUSTED for its stack), which cancels the group like
  // a failing child. Rethrows the first exception of a child or of the
  // body, after all children ended. FailedPrecondition outside a task,
  // InvalidArgument for an empty body. A kill or a Cancelled from an
  // enclosing scope propagates (see above).
  static absl::Status Run(const std::function<void(TaskGroup&)>& body);

  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  // Spawn starts a child task calling f(args...) (decayed copies; move-only
  // values are fine), in the loop's next round. Callable from the body,
  // from a child (to add a sibling) or from any task or callback of the
  // loop while the group runs. FailedPrecondition "task group spawn: the
  // group is closed" once the group was cancelled, failed or ended, or from
  // another thread. The child is named "<name of Run's task>.<n>" unless
  // SpawnWith names it.
  template <typename F, typename... Args>
  absl::Status Spawn(F&& f, Args&&... args) {
    return SpawnWith(TaskOptions(), std::forward<F>(f),
                     std::forward<Args>(args)...);
  }
  template <typename F, typename... Args>
  absl::Status SpawnWith(TaskOptions options, F&& f, Args&&... args) {
    static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                  "TaskGroup::Spawn: f(args...) must be callable");
    auto bound =
        std::make_shared<std::tuple<std::decay_t<F>, std::decay_t<Args>...>>(
            std::forward<F>(f), std::forward<Args>(args)...);
    return SpawnImpl(std::move(options), [bound] {
      std::apply(
          [](auto& fn, auto&... a) {
            std::invoke(std::move(fn), std::move(a)...);
          },
          *bound);
    });
  }

  // Cancel cancels the group: the children are killed, the body is
  // interrupted at its next blocking point, and Run returns CANCELLED once
  // all children ended. Callable from the body, a child, or any task or
  // callback of the loop. No effect once Run returned.
  void Cancel();

  // Size: children spawned and not ended (started or not).
  size_t Size() const;

 private:
  explicit TaskGroup(std::shared_ptr<runtime_internal::TaskGroupState> state)
      : state_(std::move(state)) {}
  absl::Status SpawnImpl(TaskOptions options, std::function<void()> fn);

  std::shared_ptr<runtime_internal::TaskGroupState> state_;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_TASK_GROUP_H_
