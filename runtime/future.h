// runtime/future.h: Future and Promise, a one-shot result that tasks can
// wait for, and helpers over several futures: Wait, AsCompleted, Map.
//
//   evergreen::runtime::Promise<int> promise;
//   evergreen::runtime::Future<int> future = promise.GetFuture();
//   // task A:
//   absl::StatusOr<int> v = future.Get();  // blocks A until a result is set
//   // task B or a callback:
//   (void)promise.SetValue(42);            // wakes A (FIFO with others)
//
// Executors (runtime/executor.h) hand out futures for work they run:
//
//   TaskPoolExecutor pool(4);
//   std::vector<Future<int>> fs;
//   for (int i = 0; i < 10; ++i) fs.push_back(pool.Submit(Square, i));
//   for (Future<int> f : AsCompleted<int>(fs)) Use(*f.Get());  // as done
//
// A future completes once, with one of: a value (Get returns it), an
// exception (Get rethrows it, like std::future::get), or an error Status
// (Get returns it): CANCELLED after Cancel, ABORTED for a broken promise (a
// Promise destroyed without a result), or what the producer set with
// SetError. Future is a cheap, copyable handle (all copies share the
// result); Promise is move-only.
//
// Cancellation: Future::Cancel completes a pending future with CANCELLED and
// tells the producer (Promise::OnCancel) so it can stop the work (an
// executor's queued job is dropped, a running task-pool job is killed; see
// runtime/executor.h). A task blocked in Get that is interrupted (its cancel
// scope or timeout fires, or it is killed) cancels the future it waited for,
// as asyncio does: the waiting task no longer needs the result. To observe a
// future shared by several tasks without that, use Future::Wait. A per-call
// deadline passing is a value (DEADLINE_EXCEEDED) and cancels nothing.
//
// Threads: loop thread only (one EventLoop's tasks and callbacks). To
// complete a future from another thread, go through
// EventLoop::CallFromThread; ThreadPoolExecutor does that for you.
#ifndef EVERGREEN_RUNTIME_FUTURE_H_
#define EVERGREEN_RUNTIME_FUTURE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {

class EventLoop;
template <typename T>
class Future;
template <typename T>
class Promise;

namespace runtime_internal {

// FutureStateBase: the part of a future's shared state that does not depend
// on the value type. Loop thread only.
class FutureStateBase {
 public:
  enum class Outcome : uint8_t { kPending, kValue, kException, kError };

  FutureStateBase() = default;
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;
  virtual ~FutureStateBase() = default;

  bool done() const { return outcome_ != Outcome::kPending; }
  Outcome outcome() const { return outcome_; }
  bool cancelled() const { return cancelled_; }
  // failed: an exception, or an error other than a cancellation.
  bool failed() const {
    return outcome_ == Outcome::kException ||
           (outcome_ == Outcome::kError && !cancelled_);
  }
  const absl::Status& error() const { return error_; }
  std::exception_ptr exception() const { return exception_; }

  // CheckSettable: OK while pending; FailedPrecondition "<op>: already
  // set" / "<op>: the future was cancelled" otherwise.
  absl::Status CheckSettable(absl::string_view op) const;
  // Complete*: the caller checked CheckSettable (and stored the value).
  void CompleteValue();
  void CompleteException(std::exception_ptr e);
  void CompleteError(absl::Status error);
  // Cancel completes a pending future with CANCELLED and runs the cancel
  // handler; false if it was already done (true if that was a cancel).
  bool Cancel();
  void SetCancelHandler(std::function<void()> handler);

  // AddCallback runs `fn` once the future is done; at once (returning 0)
  // if it already is. Returns an id for RemoveCallback.
  uint64_t AddCallback(std::function<void()> fn);
  bool RemoveCallback(uint64_t id);

  // WaitDone blocks the current task until the future is done: OK, or
  // DEADLINE_EXCEEDED "<op>: deadline exceeded"; FailedPrecondition "<op>:
  // not in a task" if it would have to block outside a task. Throws when
  // the task is killed or its scope cancelled (the future is untouched).
  absl::Status WaitDone(Deadline deadline, absl::string_view op);

 private:
  void Finish();

  Outcome outcome_ = Outcome::kPending;
  bool cancelled_ = false;
  absl::Status error_;
  std::exception_ptr exception_;
  WaitQueue waiters_;
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_;
  uint64_t next_callback_id_ = 1;
  std::function<void()> cancel_handler_;
};

template <typename T>
class FutureState final : public FutureStateBase {
 public:
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  std::optional<Stored> value;
};

// WaitForStates blocks until `mode`'s condition holds over `states` or the
// deadline passes (not an error). `op` names the operation in errors.
enum class WaitCondition : uint8_t { kAny, kAnyFailed, kAll };
absl::Status WaitForStates(const std::vector<FutureStateBase*>& states,
                           Deadline deadline, WaitCondition condition,
                           absl::string_view op);

absl::Status NoState(absl::string_view op);

}  // namespace runtime_internal

// GetResult<T>: what Future<T>::Get returns: absl::StatusOr<T>, or
// absl::Status for Future<void>.
template <typename T>
using GetResult =
    std::conditional_t<std::is_void_v<T>, absl::Status, absl::StatusOr<T>>;

template <typename T>
class Future {
 public:
  using value_type = T;

  // An invalid future (no state): Get and Wait return FailedPrecondition,
  // Done is false, Cancel does nothing.
  Future() = default;

  // valid: the future has a state (made by a Promise or an executor).
  bool valid() const { return state_ != nullptr; }
  // Done: completed (value, exception, error or cancelled).
  bool Done() const { return state_ != nullptr && state_->done(); }
  // IsCancelled: completed by Cancel (or by the producer with CANCELLED).
  bool IsCancelled() const { return state_ != nullptr && state_->cancelled(); }
  // exception returns the exception the future completed with, or nullptr.
  std::exception_ptr exception() const {
    return state_ != nullptr ? state_->exception() : nullptr;
  }

  // Get blocks the current task until the future completes, then returns
  // its value (a copy; Future<void>: OK), rethrows its exception, or
  // returns its error status (CANCELLED "future: cancelled" after Cancel).
  // DEADLINE_EXCEEDED "future get: deadline exceeded" if `deadline` passes
  // first (the future goes on). FailedPrecondition without a state, or
  // outside a task while pending (a completed future can be read anywhere).
  // If the task is killed or its cancel scope fires while it waits, the
  // future is cancelled and the exception propagates (see the top comment).
  GetResult<T> Get(Deadline deadline = Deadline::Never()) const {
    if (state_ == nullptr) return runtime_internal::NoState("future get");
    if (!state_->done()) {
      try {
        absl::Status s = state_->WaitDone(deadline, "future get");
        if (!s.ok()) return s;
      } catch (...) {
        // Cancelled or FiberKilled: the waiter gives the future up.
        state_->Cancel();
        throw;
      }
    }
    switch (state_->outcome()) {
      case runtime_internal::FutureStateBase::Outcome::kException:
        std::rethrow_exception(state_->exception());
      case runtime_internal::FutureStateBase::Outcome::kError:
        return state_->error();
      default:
        break;
    }
    if constexpr (std::is_void_v<T>) {
      return absl::OkStatus();
    } else {
      return *state_->value;
    }
  }

  // Wait blocks the current task until the future completes, without
  // reading or cancelling it: OK once done (whatever the outcome),
  // DEADLINE_EXCEEDED "future wait: deadline exceeded", FailedPrecondition
  // without a state or outside a task while pending. An interruption
  // (kill, cancel scope) propagates and leaves the future alone.
  absl::Status Wait(Deadline deadline = Deadline::Never()) const {
    if (state_ == nullptr) return runtime_internal::NoState("future wait");
    return state_->WaitDone(deadline, "future wait");
  }

  // Cancel completes a pending future with CANCELLED, wakes its waiters,
  // runs its done callbacks and tells the producer (Promise::OnCancel).
  // Returns true if the future is cancelled now (or already was), false if
  // it had completed otherwise or has no state. Never blocks.
  bool Cancel() {
    if (state_ == nullptr) return false;
    return state_->Cancel();
  }

  // AddDoneCallback runs `fn(future)` once the future completes, on the
  // loop thread, inside the call that completes it (SetValue, Cancel...),
  // in the order the callbacks were added; at once if already done
  // (returning 0). `fn` must not block; an exception it throws goes to the
  // loop's exception handler. Returns an id for RemoveDoneCallback, or 0
  // when it ran at once or the future has no state (then fn is not run).
  uint64_t AddDoneCallback(std::function<void(const Future<T>&)> fn) const {
    if (state_ == nullptr || !fn) return 0;
    std::weak_ptr<runtime_internal::FutureState<T>> weak = state_;
    return state_->AddCallback([weak, fn = std::move(fn)] {
      if (std::shared_ptr<runtime_internal::FutureState<T>> s = weak.lock()) {
        fn(Future<T>(std::move(s)));
      }
    });
  }
  // RemoveDoneCallback unregisters a callback that has not run; false if
  // unknown or already run.
  bool RemoveDoneCallback(uint64_t id) const {
    return state_ != nullptr && state_->RemoveCallback(id);
  }

  // Same state.
  friend bool operator==(const Future& a, const Future& b) {
    return a.state_ == b.state_;
  }
  friend bool operator!=(const Future& a, const Future& b) { return !(a == b); }

 private:
  friend class Promise<T>;
  template <typename U>
  friend runtime_internal::FutureStateBase* StateOf(const Future<U>& f);
  explicit Future(std::shared_ptr<runtime_internal::FutureState<T>> state)
      : state_(std::move(state)) {}

  std::shared_ptr<runtime_internal::FutureState<T>> state_;
};

template <typename T>
runtime_internal::FutureStateBase* StateOf(const Future<T>& f) {
  return f.state_.get();
}

template <typename T>
class Promise {
 public:
  // Promise makes a new pending future.
  Promise() : state_(std::make_shared<runtime_internal::FutureState<T>>()) {}
  Promise(Promise&& other) noexcept = default;
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      Break();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  // ~Promise completes a still-pending future with ABORTED "future: broken
  // promise (destroyed without a result)", so its waiters do not hang.
  ~Promise() { Break(); }

  // GetFuture returns a handle to the result (as many as wanted); an
  // invalid Future for a moved-from promise.
  Future<T> GetFuture() const { return Future<T>(state_); }

  // SetValue completes the future with `value` and wakes its waiters.
  // FailedPrecondition "promise set value: already set" (or "...: the
  // future was cancelled") if it was already completed; then `value` is
  // dropped.
  template <typename U = T, typename = std::enable_if_t<!std::is_void_v<U>>>
  absl::Status SetValue(U value) {
    if (state_ == nullptr) {
      return runtime_internal::NoState("promise set value");
    }
    if (absl::Status s = state_->CheckSettable("promise set value"); !s.ok()) {
      return s;
    }
    state_->value.emplace(std::move(value));
    state_->CompleteValue();
    return absl::OkStatus();
  }
  // SetValue for Promise<void>.
  template <typename U = T, typename = std::enable_if_t<std::is_void_v<U>>>
  absl::Status SetValue() {
    if (state_ == nullptr) {
      return runtime_internal::NoState("promise set value");
    }
    if (absl::Status s = state_->CheckSettable("promise set value"); !s.ok()) {
      return s;
    }
    state_->value.emplace();
    state_->CompleteValue();
    return absl::OkStatus();
  }
  // SetException completes the future with an exception that Get
  // rethrows. InvalidArgument for a null `e`; FailedPrecondition as
  // SetValue.
  absl::Status SetException(std::exception_ptr e) {
    if (state_ == nullptr) {
      return runtime_internal::NoState("promise set exception");
    }
    if (e == nullptr) {
      return absl::InvalidArgumentError(
          "promise set exception: null exception");
    }
    if (absl::Status s = state_->CheckSettable("promise set exception");
        !s.ok()) {
      return s;
    }
    state_->CompleteException(std::move(e));
    return absl::OkStatus();
  }
  // SetError completes the future with an error status that Get returns.
  // InvalidArgument for an OK `error`; FailedPrecondition as SetValue.
  absl::Status SetError(absl::Status error) {
    if (state_ == nullptr) {
      return runtime_internal::NoState("promise set error");
    }
    if (error.ok()) {
      return absl::InvalidArgumentError("promise set error: OK is no error");
    }
    if (absl::Status s = state_->CheckSettable("promise set error"); !s.ok()) {
      return s;
    }
    state_->CompleteError(std::move(error));
    return absl::OkStatus();
  }

  // IsCancelled: the future was cancelled (the producer may stop working).
  bool IsCancelled() const { return state_ != nullptr && state_->cancelled(); }
  // OnCancel sets the function called once, inside Future::Cancel, when the
  // pending future is cancelled (replacing any previous one); at once if it
  // already is. It must not block. Dropped once the future completes.
  void OnCancel(std::function<void()> fn) {
    if (state_ != nullptr) state_->SetCancelHandler(std::move(fn));
  }

 private:
  void Break() {
    if (state_ != nullptr && !state_->done()) {
      state_->CompleteError(absl::AbortedError(
          "future: broken promise (destroyed without a result)"));
    }
  }

  std::shared_ptr<runtime_internal::FutureState<T>> state_;
};

// MakeReadyFuture returns a future already completed with `value`.
template <typename T>
Future<T> MakeReadyFuture(T value) {
  Promise<T> p;
  (void)p.SetValue(std::move(value));
  return p.GetFuture();
}
// MakeErrorFuture returns a future already completed with `error` (an OK
// status becomes UNKNOWN "future: OK given as an error").
template <typename T>
Future<T> MakeErrorFuture(absl::Status error) {
  Promise<T> p;
  if (error.ok()) error = absl::UnknownError("future: OK given as an error");
  (void)p.SetError(std::move(error));
  return p.GetFuture();
}

// WaitMode: when Wait returns (Python's concurrent.futures.wait).
enum class WaitMode {
  kFirstCompleted,  // as soon as any future completes
  // as soon as any future fails (an exception or an error other than
  // CANCELLED), or else when all completed
  kFirstException,
  kAllCompleted,  // when all completed
};

template <typename T>
struct WaitResult {
  std::vector<Future<T>> done;     // completed, in input order
  std::vector<Future<T>> pending;  // not completed, in input order
};

// Wait blocks the current task until `mode` is satisfied over `futures` or
// `deadline` passes, and returns which futures are done and which are
// still pending. The deadline passing is no error: look at `pending`
// (Python's semantics). Nothing is cancelled, whatever happens.
// InvalidArgument "future wait: future #i has no state" for an invalid
// future; FailedPrecondition outside a task if it would have to block.
// Throws when the task is killed or its cancel scope fires.
template <typename T>
absl::StatusOr<WaitResult<T>> Wait(const std::vector<Future<T>>& futures,
                                   Deadline deadline = Deadline::Never(),
                                   WaitMode mode = WaitMode::kAllCompleted) {
  std::vector<runtime_internal::FutureStateBase*> states;
  states.reserve(futures.size());
  for (const Future<T>& f : futures) states.push_back(StateOf(f));
  runtime_internal::WaitCondition condition =
      mode == WaitMode::kFirstCompleted
          ? runtime_internal::WaitCondition::kAny
          : (mode == WaitMode::kFirstException
                 ? runtime_internal::WaitCondition::kAnyFailed
                 : runtime_internal::WaitCondition::kAll);
  if (absl::Status s = runtime_internal::WaitForStates(
          states, deadline, condition, "future wait");
      !s.ok()) {
    return s;
  }
  WaitResult<T> result;
  for (const Future<T>& f : futures) {
    (f.Done() ? result.done : result.pending).push_back(f);
  }
  return result;
}

// AsCompleted yields futures in the order they complete (those already
// done first, in input order). Lives on the stack of the task that iterates
// (neither copyable nor movable):
//
//   AsCompleted<int> completed(futures);
//   while (true) {
//     absl::StatusOr<Future<int>> f = completed.Next(deadline);
//     if (!f.ok()) break;  // OUT_OF_RANGE at the end, or DEADLINE_EXCEEDED
//     Use(f->Get());       // done: Get does not block
//   }
//   // or: for (Future<int> f : AsCompleted<int>(futures)) { ... }
template <typename T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<Future<T>> futures)
      : futures_(std::move(futures)) {
    for (size_t i = 0; i < futures_.size(); ++i) {
      if (!futures_[i].valid()) {
        status_ =
            absl::InvalidArgumentError("as completed: a future has no state");
        return;
      }
    }
    for (size_t i = 0; i < futures_.size(); ++i) {
      if (futures_[i].Done()) completed_.push_back(i);
    }
    for (size_t i = 0; i < futures_.size(); ++i) {
      if (futures_[i].Done()) continue;
      ids_.push_back({i, StateOf(futures_[i])->AddCallback([this, i] {
                        completed_.push_back(i);
                        ready_.NotifyOne();
                      })});
    }
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  ~AsCompleted() {
    for (const auto& [i, id] : ids_) {
      StateOf(futures_[i])->RemoveCallback(id);
    }
  }

  // Next returns the next future to complete, blocking the current task
  // until one does: OUT_OF_RANGE "as completed: no more futures" once all
  // were returned; DEADLINE_EXCEEDED "as completed: deadline exceeded";
  // FailedPrecondition outside a task if it would have to block;
  // InvalidArgument if an input future had no state. Throws when the task
  // is killed or its cancel scope fires (nothing is cancelled).
  absl::StatusOr<Future<T>> Next(Deadline deadline = Deadline::Never()) {
    if (!status_.ok()) return status_;
    if (returned_ == futures_.size()) {
      return absl::OutOfRangeError("as completed: no more futures");
    }
    if (completed_.empty()) {
      Task* me = nullptr;
      if (absl::Status s = runtime_internal::CheckInTask("as completed", &me);
          !s.ok()) {
        return s;
      }
      while (completed_.empty()) {
        if (!runtime_internal::Wait(me, ready_, deadline) &&
            completed_.empty()) {
          return absl::DeadlineExceededError("as completed: deadline exceeded");
        }
      }
    }
    size_t i = completed_.front();
    completed_.pop_front();
    ++returned_;
    return futures_[i];
  }
  // Remaining: futures not returned yet.
  size_t Remaining() const { return futures_.size() - returned_; }
  // status: why a range-for iteration stopped early (OK if it did not).
  const absl::Status& status() const { return iteration_status_; }

  // Input iteration for range-for; ++ blocks like Next(Deadline::Never()).
  class iterator {
   public:
    Future<T>& operator*() { return current_; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    bool operator!=(const iterator& o) const { return owner_ != o.owner_; }
    bool operator==(const iterator& o) const { return owner_ == o.owner_; }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* owner) : owner_(owner) {
      if (owner_ != nullptr) Advance();
    }
    void Advance() {
      absl::StatusOr<Future<T>> next = owner_->Next();
      if (next.ok()) {
        current_ = *std::move(next);
        return;
      }
      if (!absl::IsOutOfRange(next.status())) {
        owner_->iteration_status_ = next.status();
      }
      owner_ = nullptr;
    }
    AsCompleted* owner_;
    Future<T> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(nullptr); }

 private:
  std::vector<Future<T>> futures_;
  std::deque<size_t> completed_;
  std::vector<std::pair<size_t, uint64_t>> ids_;
  runtime_internal::WaitQueue ready_;
  size_t returned_ = 0;
  absl::Status status_;
  absl::Status iteration_status_;
};

// MapResult<R>: what Map returns: absl::StatusOr<std::vector<R>>, or
// absl::Status when fn returns void.
template <typename R>
using MapResult = std::conditional_t<std::is_void_v<R>, absl::Status,
                                     absl::StatusOr<std::vector<R>>>;

// Map submits fn(input) for every input to `executor` (anything with
// Submit(fn, arg) -> Future<R>: TaskPoolExecutor, ThreadPoolExecutor), then
// collects the results in input order. The first failure ends it: an
// exception is rethrown, an error status returned; DEADLINE_EXCEEDED "map:
// deadline exceeded" if `deadline` passes first. Whenever Map does not
// return all results (failure, deadline, the task killed or its scope
// cancelled), the futures not collected yet are cancelled. Blocks the
// current task: FailedPrecondition outside a task.
template <typename Executor, typename F, typename In,
          typename R = typename decltype(std::declval<Executor&>().Submit(
              std::declval<F&>(), std::declval<const In&>()))::value_type>
MapResult<R> Map(Executor& executor, F fn, const std::vector<In>& inputs,
                 Deadline deadline = Deadline::Never()) {
  if (!inputs.empty()) {
    Task* me = nullptr;
    if (absl::Status s = runtime_internal::CheckInTask("map", &me); !s.ok()) {
      return s;
    }
  }
  std::vector<Future<R>> futures;
  futures.reserve(inputs.size());
  struct CancelRest {
    std::vector<Future<R>>* futures;
    ~CancelRest() {
      for (Future<R>& f : *futures) f.Cancel();  // no effect once done
    }
  } cancel_rest{&futures};
  for (const In& input : inputs) futures.push_back(executor.Submit(fn, input));
  // Future::Wait fails only when the deadline passes (or has no state).
  auto deadline_error = [](absl::Status s) {
    return absl::IsDeadlineExceeded(s)
               ? absl::DeadlineExceededError("map: deadline exceeded")
               : s;
  };
  if constexpr (std::is_void_v<R>) {
    for (Future<R>& f : futures) {
      // Wait, then Get: a deadline passing in Wait is Map's, not a result.
      if (absl::Status s = f.Wait(deadline); !s.ok()) return deadline_error(s);
      if (absl::Status s = f.Get(); !s.ok()) return s;
    }
    return absl::OkStatus();
  } else {
    std::vector<R> results;
    results.reserve(futures.size());
    for (Future<R>& f : futures) {
      if (absl::Status s = f.Wait(deadline); !s.ok()) return deadline_error(s);
      absl::StatusOr<R> r = f.Get();
      if (!r.ok()) return r.status();
      results.push_back(*std::move(r));
    }
    return results;
  }
}

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_FUTURE_H_
