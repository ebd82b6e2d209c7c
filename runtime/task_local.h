// runtime/task_local.h: TaskLocal<T>, one value per task.
//
// Every task runs on a fiber of its own, so a FiberLocal (//local_storage)
// is a task-local: each task sees its own T, made on its first access in
// that task and destroyed when the task ends (returns, throws or is
// killed).
//
//   evergreen::runtime::TaskLocal<std::string> request_id;
//
//   Task::Spawn([&] {
//     request_id.Get() = "req-1";       // this task's value
//     Sleep(absl::Milliseconds(1));     // other tasks run meanwhile
//     assert(*request_id == "req-1");   // still this task's
//   });
//
//   // Inherited, as contextvars are at spawn: a task created by another
//   // task starts with a copy of its creator's value.
//   evergreen::runtime::TaskLocal<std::string> trace(
//       [] { return std::string("none"); }, {/*inherit=*/true});
//
// Where "the creator" is: Task::Create and Task::Spawn called from a task
// copy that task's values; tasks created from loop callbacks (CallSoon,
// timers) and TaskGroup's children, which the group creates from a loop
// callback, copy the values of the thread's main fiber, which also runs
// every loop callback. See local_storage/fiber_local.h for the rest of the
// lifetime rules (destructors, threads).
#ifndef EVERGREEN_RUNTIME_TASK_LOCAL_H_
#define EVERGREEN_RUNTIME_TASK_LOCAL_H_

#include "local_storage/fiber_local.h"

namespace evergreen {
namespace runtime {

template <typename T>
using TaskLocal = FiberLocal<T>;
using TaskLocalOptions = FiberLocalOptions;

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_TASK_LOCAL_H_
