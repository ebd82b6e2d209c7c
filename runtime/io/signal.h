// runtime/io/signal.h: waiting for POSIX signals in a task, and a graceful
// shutdown helper for servers.
//
//   namespace io = evergreen::runtime::io;
//   // In a task: block it (not the thread) until SIGINT or SIGTERM.
//   absl::StatusOr<int> sig = io::WaitForSignal({SIGINT, SIGTERM});
//
//   // A server: the first SIGINT/SIGTERM stops accepting and lets the
//   // connections finish; a second one (or 10 s later) cancels them.
//   evergreen::runtime::CancelScope scope;
//   io::ShutdownOptions options;
//   options.grace = absl::Seconds(10);
//   auto guard = io::ShutdownOnSignals(
//       scope, [&](int) { listener->Close(); }, options);
//   absl::Status s = scope.Run([&] { (void)io::Serve(*listener, handler); });
//   // s: OK after a graceful stop, CANCELLED when forced.
//
// Both watch signals with //loop Signal handles of their own (one per
// signal), not EventLoop::AddSignalHandler, so they coexist with it and with
// each other: every watcher of a signal sees each delivery.
//
// Signals delivered while nobody watches them (no task in WaitForSignal for
// that signal, no ShutdownGuard, no AddSignalHandler) are not recorded: they
// get the disposition they had before anyone watched (for SIGINT and
// SIGTERM by default: the process terminates). A program that must not miss
// one keeps a ShutdownGuard (or an AddSignalHandler) installed for as long
// as it runs. POSIX merges deliveries of one signal that arrive before the
// loop saw the first.
//
// Loop thread only.
#ifndef EVERGREEN_RUNTIME_IO_SIGNAL_H_
#define EVERGREEN_RUNTIME_IO_SIGNAL_H_

#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "loop/loop.h"
#include "loop/signal.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"
#include "runtime/event_loop.h"
#include "runtime/task_group.h"

namespace evergreen {
namespace runtime {
namespace io {

// SignalName returns "SIGINT" for the usual signals, "signal 40" otherwise.
std::string SignalName(int signum);

// WaitForSignal blocks the calling task until one of `signals` is delivered
// to the process and returns its number. Several tasks may wait for the same
// signal: each one returns it. While the task waits, the signals are caught
// (a task waiting for a signal keeps EventLoop::Run going); once it
// returns, its handlers are removed. Errors: InvalidArgument for an empty
// list; "wait for signal 9: EINVAL ..." for a signal that cannot be caught
// (SIGKILL, SIGSTOP, out of range); DeadlineExceeded "wait for SIGINT,
// SIGTERM: deadline exceeded"; FailedPrecondition outside a task. Throws
// when the task is killed or cancelled, after removing its handlers.
absl::StatusOr<int> WaitForSignal(const std::vector<int>& signals,
                                  Deadline deadline = Deadline::Never());

// ShutdownOptions tune ShutdownOnSignals.
struct ShutdownOptions {
  // The signals that request the shutdown.
  std::vector<int> signals = {SIGINT, SIGTERM};
  // After the first signal, the shutdown is forced once this much time
  // passed (unless the guard was destroyed before: the graceful shutdown
  // finished). Infinite: only a second signal forces it.
  absl::Duration grace = absl::InfiniteDuration();
};

// ShutdownGuard catches the shutdown signals for as long as it lives: the
// first one runs the graceful action (stop accepting new work), the next
// one, or the end of the grace period, runs the force action (cancel the
// work in flight) once. Later signals are counted and otherwise ignored.
// The actions run as callbacks of the loop (like CallSoon), never inside a
// task, and never after the guard was destroyed. The guard's handlers do
// not keep EventLoop::Run going (the grace timer, once started, does),
// except while a task waits in WaitRequested: so a program whose tasks all
// wait on what only an action would end (an Event the graceful action sets)
// is a deadlock to Run; wait in WaitRequested (or in I/O) instead.
class ShutdownGuard {
 public:
  // Install starts catching `options.signals`. `graceful(signum)` runs on
  // the first signal; `force(signum)` on the second, or with signum 0 when
  // the grace period ends. Either may be empty. Errors: InvalidArgument for
  // no signals; "catch signal 9: EINVAL ..." for a signal that cannot be
  // caught; FailedPrecondition without an EventLoop on the thread. Needs
  // the EventLoop, not a task.
  static absl::StatusOr<std::unique_ptr<ShutdownGuard>> Install(
      std::function<void(int signum)> graceful,
      std::function<void(int signum)> force, ShutdownOptions options = {});

  ShutdownGuard(const ShutdownGuard&) = delete;
  ShutdownGuard& operator=(const ShutdownGuard&) = delete;
  // ~ShutdownGuard removes the handlers (signals get their earlier
  // disposition back) and cancels the grace timer.
  ~ShutdownGuard();

  // WaitRequested blocks the calling task until a shutdown signal arrived
  // and returns the first one (at once if one did). While a task waits here
  // the guard's handlers keep EventLoop::Run going. Errors:
  // DeadlineExceeded "wait for shutdown signal: deadline exceeded";
  // FailedPrecondition outside a task, or "wait for shutdown signal: guard
  // destroyed" for a task blocked here when the guard is destroyed. Throws
  // when the task is killed or cancelled.
  absl::StatusOr<int> WaitRequested(Deadline deadline = Deadline::Never());

  // requested: a shutdown signal arrived (the graceful action ran or is
  // queued to run).
  bool requested() const;
  // forced: the force action ran or is queued to run.
  bool forced() const;
  // first_signal: the signal that requested the shutdown, 0 before.
  int first_signal() const;
  // signals_received: how many shutdown signals the loop saw.
  int signals_received() const;

 private:
  struct State;
  ShutdownGuard(std::shared_ptr<State> state,
                std::vector<loop::HandlePtr<loop::Signal>> handles);

  std::shared_ptr<State> state_;  // shared with the signal callbacks
  std::vector<loop::HandlePtr<loop::Signal>> handles_;
};

// ShutdownOnSignals installs a ShutdownGuard whose force action cancels
// `scope` (so whatever runs in scope.Run is interrupted and Run returns
// CANCELLED). `graceful` (may be empty) stops accepting: close the
// listener, set an Event the workers check. `scope` must outlive the guard.
absl::StatusOr<std::unique_ptr<ShutdownGuard>> ShutdownOnSignals(
    CancelScope& scope, std::function<void(int signum)> graceful,
    ShutdownOptions options = {});
// The same for a task group: the force action cancels `group` (its children
// are killed and TaskGroup::Run returns CANCELLED). `group` must outlive
// the guard.
absl::StatusOr<std::unique_ptr<ShutdownGuard>> ShutdownOnSignals(
    TaskGroup& group, std::function<void(int signum)> graceful,
    ShutdownOptions options = {});

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_SIGNAL_H_
