// runtime/cancel.h: cancel scopes and timeouts.
//
// A CancelScope runs a function in the current task; cancelling the scope
// (Cancel, or its deadline passing) interrupts whatever blocking call the
// task is in inside the scope with a Cancelled exception, which unwinds to
// the scope, and Run returns a status saying why:
//
//   absl::Status s = evergreen::runtime::WithTimeout(absl::Seconds(1), [&] {
//     queue.Get();   // any blocking call, however deep
//   });
//   // s: OK, or DEADLINE_EXCEEDED "timeout: deadline exceeded after 1s"
//
// Scopes nest; the deadline in effect is the earliest of the enclosing
// ones, and a cancelled outer scope cancels everything inside it. Once a
// scope is cancelled, every blocking call inside it throws at once.
//
// Cancelled is deliberately not a std::exception, so `catch (const
// std::exception&)` does not stop a cancellation. Code that catches `...`
// must rethrow. Loop thread only.
#ifndef EVERGREEN_RUNTIME_CANCEL_H_
#define EVERGREEN_RUNTIME_CANCEL_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/deadline.h"

namespace evergreen {
namespace runtime {

class CancelScope;
class Task;

// Cancelled: thrown at a blocking point inside a cancelled scope; caught by
// that scope's Run.
class Cancelled {
 public:
  explicit Cancelled(const CancelScope* scope) : scope_(scope) {}
  const char* what() const noexcept { return "evergreen::runtime::Cancelled"; }
  const CancelScope* scope() const { return scope_; }

 private:
  const CancelScope* scope_;
};

class CancelScope {
 public:
  explicit CancelScope(Deadline deadline = Deadline::Never());
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  ~CancelScope();

  // Run calls `fn` inside the scope on the current task. Returns OK if `fn`
  // returned; CANCELLED ("cancel scope: cancelled") if Cancel() interrupted
  // it; DEADLINE_EXCEEDED ("cancel scope: deadline exceeded") if the
  // deadline did. Other exceptions propagate. FailedPrecondition outside a
  // task or if the scope already ran.
  absl::Status Run(const std::function<void()>& fn);

  // Cancel cancels the scope: if its task is blocked inside it, the blocking
  // call throws Cancelled as soon as the loop resumes the task; calls made
  // later inside the scope throw at once (so a scope cancelled before Run
  // runs `fn` up to its first blocking call). Callable from any task or
  // callback of the loop.
  void Cancel();
  bool cancel_called() const { return cancelled_; }

  // The scope's own deadline; SetDeadline applies from the next blocking
  // call on.
  Deadline deadline() const { return deadline_; }
  void SetDeadline(Deadline deadline) { deadline_ = deadline; }

  // A shielded scope protects what runs inside it from the enclosing
  // scopes: their Cancel and their deadlines do not interrupt the blocking
  // calls inside, which are bounded only by this scope's own deadline and
  // the scopes nested in it. Once the shielded scope has ended, a
  // cancellation of an enclosing scope takes effect again at the task's next
  // blocking call. Kills are never shielded. Cleanup that must block (wait
  // for children to unwind, send a goodbye) runs in a shielded scope, best
  // with a deadline of its own. SetShield applies from the next blocking
  // call on.
  bool shield() const { return shield_; }
  void SetShield(bool shield) { shield_ = shield; }

 private:
  friend class Task;
  // The next scope out whose cancellation reaches inside this one: the
  // parent, or none past a shield.
  CancelScope* outer() const { return shield_ ? nullptr : parent_; }
  // Whether a shielded scope nested in this one stands between it and the
  // task's innermost scope.
  bool HiddenByShield() const;

  Task* task_ = nullptr;
  CancelScope* parent_ = nullptr;
  Deadline deadline_;
  bool cancelled_ = false;
  bool by_deadline_ = false;
  bool ran_ = false;
  bool active_ = false;
  bool shield_ = false;
};

// WithDeadline runs `fn` in a CancelScope with `deadline`; returns its
// Run's status.
absl::Status WithDeadline(Deadline deadline, const std::function<void()>& fn);
// WithTimeout runs `fn` in a CancelScope expiring after `timeout`.
absl::Status WithTimeout(absl::Duration timeout,
                         const std::function<void()>& fn);
// Shielded runs `fn` in a shielded CancelScope (see SetShield) without a
// deadline: the enclosing scopes' cancellations wait until it returns.
// Returns OK, or FailedPrecondition outside a task.
absl::Status Shielded(const std::function<void()>& fn);

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_CANCEL_H_
