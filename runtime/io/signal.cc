#include "runtime/io/signal.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/internal/wait.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::Renamed;

// Unique returns `signals` without repetitions, in their first order: a
// signal listed twice is watched once.
std::vector<int> Unique(const std::vector<int>& signals) {
  std::vector<int> out;
  for (int s : signals) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

std::string SignalList(const std::vector<int>& signals) {
  return absl::StrJoin(signals, ", ", [](std::string* out, int s) {
    out->append(SignalName(s));
  });
}

}  // namespace

std::string SignalName(int signum) {
  switch (signum) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGCHLD:
      return "SIGCHLD";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGWINCH:
      return "SIGWINCH";
    case SIGKILL:
      return "SIGKILL";
    case SIGSTOP:
      return "SIGSTOP";
    default:
      return absl::StrCat("signal ", signum);
  }
}

absl::StatusOr<int> WaitForSignal(const std::vector<int>& signals,
                                  Deadline deadline) {
  if (signals.empty()) {
    return absl::InvalidArgumentError("wait for signal: no signal given");
  }
  std::string what = SignalList(signals);
  Task* me = nullptr;
  if (absl::Status s = io_internal::InTask("wait for", what, &me); !s.ok()) {
    return s;
  }
  // Shared with the handles' callbacks, which may run after the task left.
  struct Arrived {
    int signum = 0;
    runtime_internal::WaitQueue waiters;
  };
  auto arrived = std::make_shared<Arrived>();
  // Closed (the handlers removed) whichever way this returns.
  std::vector<loop::HandlePtr<loop::Signal>> handles;
  for (int signum : Unique(signals)) {
    absl::StatusOr<loop::HandlePtr<loop::Signal>> h =
        loop::Signal::Create(me->loop().io());
    if (!h.ok()) return h.status();
    absl::Status s = (*h)->Start(signum, [arrived](loop::Signal&, int got) {
      if (arrived->signum != 0) return;
      arrived->signum = got;
      arrived->waiters.NotifyAll();
    });
    if (!s.ok()) {
      return Renamed(s, absl::StrCat("wait for signal ", signum));
    }
    handles.push_back(std::move(*h));  // referenced: keeps Run going
  }
  while (arrived->signum == 0) {
    if (!runtime_internal::Wait(me, arrived->waiters, deadline) &&
        arrived->signum == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("wait for ", what, ": deadline exceeded"));
    }
  }
  return arrived->signum;
}

struct ShutdownGuard::State {
  bool alive = true;  // false once the guard is destroyed
  int received = 0;
  int first = 0;
  bool forced = false;
  std::function<void(int)> graceful;
  std::function<void(int)> force;
  absl::Duration grace;
  TimerHandle grace_timer;
  EventLoop* loop = nullptr;
  runtime_internal::WaitQueue waiters;  // tasks in WaitRequested

  // Force queues the force action (once).
  static void Force(const std::shared_ptr<State>& st, int signum) {
    if (st->forced) return;
    st->forced = true;
    st->grace_timer.Cancel();
    st->loop->CallSoon([st, signum] {
      if (st->alive && st->force) st->force(signum);
    });
  }

  static void OnSignal(const std::shared_ptr<State>& st, int signum) {
    if (!st->alive) return;
    ++st->received;
    if (st->received == 1) {
      st->first = signum;
      st->waiters.NotifyAll();
      st->loop->CallSoon([st, signum] {
        if (st->alive && st->graceful) st->graceful(signum);
      });
      if (st->grace != absl::InfiniteDuration()) {
        std::weak_ptr<State> weak = st;
        st->grace_timer = st->loop->CallLater(st->grace, [weak] {
          std::shared_ptr<State> s = weak.lock();
          if (s != nullptr && s->alive) Force(s, 0);
        });
      }
      return;
    }
    Force(st, signum);
  }
};

ShutdownGuard::ShutdownGuard(std::shared_ptr<State> state,
                             std::vector<loop::HandlePtr<loop::Signal>> handles)
    : state_(std::move(state)), handles_(std::move(handles)) {}

ShutdownGuard::~ShutdownGuard() {
  state_->alive = false;
  state_->waiters.NotifyAll();
  state_->grace_timer.Cancel();
  handles_.clear();  // closes them: the handlers are removed
}

absl::StatusOr<std::unique_ptr<ShutdownGuard>> ShutdownGuard::Install(
    std::function<void(int)> graceful, std::function<void(int)> force,
    ShutdownOptions options) {
  if (options.signals.empty()) {
    return absl::InvalidArgumentError("catch signals: no signal given");
  }
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("catch ", SignalList(options.signals),
                     ": no EventLoop on this thread"));
  }
  auto state = std::make_shared<State>();
  state->graceful = std::move(graceful);
  state->force = std::move(force);
  state->grace = options.grace;
  state->loop = el;
  std::vector<loop::HandlePtr<loop::Signal>> handles;
  for (int signum : Unique(options.signals)) {
    absl::StatusOr<loop::HandlePtr<loop::Signal>> h =
        loop::Signal::Create(el->io());
    if (!h.ok()) return h.status();
    // A weak pointer: the state owns nothing of the handles, and the
    // callbacks do nothing once the guard is gone.
    std::weak_ptr<State> weak = state;
    absl::Status s = (*h)->Start(signum, [weak](loop::Signal&, int got) {
      std::shared_ptr<State> st = weak.lock();
      if (st != nullptr) State::OnSignal(st, got);
    });
    if (!s.ok()) return Renamed(s, absl::StrCat("catch signal ", signum));
    (*h)->Unref();  // a guard alone does not keep Run going
    handles.push_back(std::move(*h));
  }
  return std::unique_ptr<ShutdownGuard>(
      new ShutdownGuard(std::move(state), std::move(handles)));
}

absl::StatusOr<int> ShutdownGuard::WaitRequested(Deadline deadline) {
  static constexpr char kOp[] = "wait for shutdown signal";
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask(kOp, &me); !s.ok()) {
    return s;
  }
  // Only `st` is used once the task blocked: the guard may be destroyed.
  std::shared_ptr<State> st = state_;
  if (st->received > 0) return st->first;
  for (auto& h : handles_) h->Ref();
  // Unreferences the handles once no task waits, unless the guard is gone
  // (then they are closed).
  struct Unref {
    State* st;
    std::vector<loop::HandlePtr<loop::Signal>>* handles;
    ~Unref() {
      if (!st->alive || !st->waiters.empty()) return;
      for (auto& h : *handles) {
        if (!h->IsClosing()) h->Unref();
      }
    }
  } unref{st.get(), &handles_};
  while (st->received == 0) {
    if (!st->alive) {
      return absl::FailedPreconditionError(
          absl::StrCat(kOp, ": guard destroyed"));
    }
    if (!runtime_internal::Wait(me, st->waiters, deadline) &&
        st->received == 0 && st->alive) {
      return absl::DeadlineExceededError(
          absl::StrCat(kOp, ": deadline exceeded"));
    }
  }
  return st->first;
}

bool ShutdownGuard::requested() const { return state_->received > 0; }
bool ShutdownGuard::forced() const { return state_->forced; }
int ShutdownGuard::first_signal() const { return state_->first; }
int ShutdownGuard::signals_received() const { return state_->received; }

absl::StatusOr<std::unique_ptr<ShutdownGuard>> ShutdownOnSignals(
    CancelScope& scope, std::function<void(int)> graceful,
    ShutdownOptions options) {
  CancelScope* s = &scope;
  return ShutdownGuard::Install(
      std::move(graceful), [s](int) { s->Cancel(); }, std::move(options));
}

absl::StatusOr<std::unique_ptr<ShutdownGuard>> ShutdownOnSignals(
    TaskGroup& group, std::function<void(int)> graceful,
    ShutdownOptions options) {
  TaskGroup* g = &group;
  return ShutdownGuard::Install(
      std::move(graceful), [g](int) { g->Cancel(); }, std::move(options));
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
