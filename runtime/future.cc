#include "runtime/future.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace runtime_internal {
namespace {

std::string Describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "(not a std::exception)";
  }
}

// RunGuarded runs a done callback or cancel handler: what it throws goes to
// the loop's exception handler (as for any callback), or to stderr without
// a loop. The completing call (SetValue, Cancel...) never throws.
void RunGuarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    if (EventLoop* loop = EventLoop::Current(); loop != nullptr) {
      loop->CallSoon([e] { std::rethrow_exception(e); });
    } else {
      std::fprintf(stderr,
                   "evergreen::runtime: a future's callback threw (no event "
                   "loop to report it to): %s\n",
                   Describe(e).c_str());
    }
  }
}

}  // namespace

absl::Status NoState(absl::string_view op) {
  return absl::FailedPreconditionError(
      absl::StrCat(op,
                   ": no state (a default-constructed or moved-from "
                   "future or promise)"));
}

absl::Status FutureStateBase::CheckSettable(absl::string_view op) const {
  if (outcome_ == Outcome::kPending) return absl::OkStatus();
  if (cancelled_) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": the future was cancelled"));
  }
  return absl::FailedPreconditionError(absl::StrCat(op, ": already set"));
}

void FutureStateBase::CompleteValue() {
  outcome_ = Outcome::kValue;
  Finish();
}

void FutureStateBase::CompleteException(std::exception_ptr e) {
  outcome_ = Outcome::kException;
  exception_ = std::move(e);
  Finish();
}

void FutureStateBase::CompleteError(absl::Status error) {
  outcome_ = Outcome::kError;
  cancelled_ = absl::IsCancelled(error);
  error_ = std::move(error);
  Finish();
}

bool FutureStateBase::Cancel() {
  if (outcome_ != Outcome::kPending) return cancelled_;
  outcome_ = Outcome::kError;
  cancelled_ = true;
  error_ = absl::CancelledError("future: cancelled");
  // The producer first, so that it stops the work before anyone reacts.
  std::function<void()> handler = std::move(cancel_handler_);
  cancel_handler_ = nullptr;
  if (handler) RunGuarded(handler);
  Finish();
  return true;
}

void FutureStateBase::SetCancelHandler(std::function<void()> handler) {
  if (outcome_ != Outcome::kPending) {
    if (cancelled_ && handler) RunGuarded(handler);
    return;
  }
  cancel_handler_ = std::move(handler);
}

uint64_t FutureStateBase::AddCallback(std::function<void()> fn) {
  if (outcome_ != Outcome::kPending) {
    RunGuarded(fn);
    return 0;
  }
  uint64_t id = next_callback_id_++;
  callbacks_.emplace_back(id, std::move(fn));
  return id;
}

bool FutureStateBase::RemoveCallback(uint64_t id) {
  auto it = std::find_if(callbacks_.begin(), callbacks_.end(),
                         [id](const auto& c) { return c.first == id; });
  if (it == callbacks_.end()) return false;
  callbacks_.erase(it);
  return true;
}

void FutureStateBase::Finish() {
  cancel_handler_ = nullptr;
  waiters_.NotifyAll();
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks;
  callbacks.swap(callbacks_);
  for (const auto& callback : callbacks) RunGuarded(callback.second);
}

absl::Status FutureStateBase::WaitDone(Deadline deadline,
                                       absl::string_view op) {
  if (done()) return absl::OkStatus();
  Task* me = nullptr;
  if (absl::Status s = CheckInTask(op, &me); !s.ok()) return s;
  while (!done()) {
    if (!Wait(me, waiters_, deadline) && !done()) {
      return absl::DeadlineExceededError(
          absl::StrCat(op, ": deadline exceeded"));
    }
  }
  return absl::OkStatus();
}

absl::Status WaitForStates(const std::vector<FutureStateBase*>& states,
                           Deadline deadline, WaitCondition condition,
                           absl::string_view op) {
  for (size_t i = 0; i < states.size(); ++i) {
    if (states[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": future #", i, " has no state"));
    }
  }
  auto satisfied = [&] {
    if (states.empty()) return true;
    size_t done = 0;
    for (const FutureStateBase* s : states) {
      if (!s->done()) continue;
      ++done;
      if (condition == WaitCondition::kAny) return true;
      if (condition == WaitCondition::kAnyFailed && s->failed()) return true;
    }
    return done == states.size();
  };
  if (satisfied()) return absl::OkStatus();
  Task* me = nullptr;
  if (absl::Status s = CheckInTask(op, &me); !s.ok()) return s;
  // One wakeup per completion; the callbacks leave with this frame.
  WaitQueue ready;
  struct Registration {
    FutureStateBase* state;
    uint64_t id;
  };
  std::vector<Registration> registrations;
  struct Unregister {
    std::vector<Registration>* registrations;
    ~Unregister() {
      for (const Registration& r : *registrations) {
        r.state->RemoveCallback(r.id);
      }
    }
  } unregister{&registrations};
  registrations.reserve(states.size());
  for (FutureStateBase* s : states) {
    if (s->done()) continue;
    registrations.push_back(
        {s, s->AddCallback([&ready] { ready.NotifyOne(); })});
  }
  while (!satisfied()) {
    if (!Wait(me, ready, deadline) && !satisfied()) break;  // deadline
  }
  return absl::OkStatus();
}

}  // namespace runtime_internal
}  // namespace runtime
}  // namespace evergreen
