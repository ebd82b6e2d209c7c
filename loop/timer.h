// loop/timer.h: Timer, a libuv timer handle (uv_timer_t).
//
//   evergreen::loop::Loop loop;
//   auto timer = evergreen::loop::Timer::Create(loop);
//   int fired = 0;
//   absl::Status s = timer->Start(/*timeout_ms=*/5, /*repeat_ms=*/5,
//                                 [&](evergreen::loop::Timer& t) {
//                                   if (++fired == 3) (void)t.Stop();
//                                 });
//   loop.Run();  // fired == 3
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_TIMER_H_
#define EVERGREEN_LOOP_TIMER_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "loop/callback_slots.h"
#include "loop/loop.h"
#include "loop/status.h"
#include "loop/uv_nothrow.h"

namespace evergreen {
namespace loop {

// Timer calls a callback after a timeout, then every `repeat` milliseconds
// if repeat is non-zero.
class Timer final : public Handle {
 public:
  using Callback = std::function<void(Timer&)>;

  // Create returns a new, stopped timer on `loop`. Never fails.
  static HandlePtr<Timer> Create(Loop& loop);

  // Start (re)starts the timer: `cb` runs after `timeout_ms`, then every
  // `repeat_ms` if non-zero. `cb` replaces the previous callback, also from
  // inside it (the running one is released once it returned). Returns
  // FailedPrecondition when closing, InvalidArgument for an empty `cb`.
  absl::Status Start(uint64_t timeout_ms, uint64_t repeat_ms, Callback cb);
  // The same for any callable as void(Timer&) (a lambda, a function): it is
  // stored in the timer as it is, without a std::function around it, and
  // without allocating when it fits in 32 bytes. Inline: restarting a timer
  // from its callback costs little more than uv_timer_start.
  template <typename F, typename = std::enable_if_t<
                            !std::is_same_v<std::decay_t<F>, Callback> &&
                            std::is_invocable_v<std::decay_t<F>&, Timer&>>>
  absl::Status Start(uint64_t timeout_ms, uint64_t repeat_ms, F&& cb) {
    if (ABSL_PREDICT_FALSE(IsClosing() || loop_internal::IsNullCallable(cb) ||
                           !slots_.CanSetFast<F>())) {
      return StartSlow<F>(timeout_ms, repeat_ms, std::forward<F>(cb));
    }
    slots_.SetFast(std::forward<F>(cb));
    // libuv 1.44's uv_timer_start fails (EINVAL) only for a closing handle
    // or a null callback, both excluded above.
    (void)uv_timer_start(&timer_, &Timer::OnTimer<std::decay_t<F>>, timeout_ms,
                         repeat_ms);
    return absl::OkStatus();
  }

  // Stop stops the timer; the callback no longer runs. Returns
  // FailedPrecondition when closing.
  absl::Status Stop();
  // Again restarts a repeating timer with its repeat value as the timeout.
  // Returns InvalidArgument ("timer again: EINVAL ...") if never started.
  absl::Status Again();
  // SetRepeat sets the repeat interval used from the next expiry on.
  void SetRepeat(uint64_t repeat_ms);
  // Repeat returns the repeat interval in milliseconds.
  uint64_t Repeat() const;
  // DueIn returns the milliseconds until expiry, 0 if expired or stopped.
  uint64_t DueIn() const;

 private:
  explicit Timer(Loop& loop);
  // OnTimer<D> is libuv's callback while the callback is a D.
  template <typename D>
  static void OnTimer(uv_timer_t* raw) {
    auto* self = static_cast<Timer*>(static_cast<Handle*>(raw->data));
    // The callback may replace itself (Start) or close or drop the timer;
    // the memory stays valid until the close callback, which runs later.
    loop_internal::CallbackSlots<Timer>::Run<D>(self->slots_, *self);
  }
  // StartSlow is Start when its inline part cannot store the callback.
  // noexcept when storing it cannot throw: a callback restarting its timer
  // then calls nothing that throws, and needs no exception frame. A copied
  // callable comes by value, so that Start's fast path keeps it in
  // registers.
  template <typename F>
  using SlowArg = std::conditional_t<
      loop_internal::CallbackSlots<Timer>::kCopied<std::decay_t<F>>,
      std::decay_t<F>, F&&>;
  template <typename F>
  ABSL_ATTRIBUTE_NOINLINE absl::Status
  StartSlow(uint64_t timeout_ms, uint64_t repeat_ms, SlowArg<F> cb) noexcept(
      loop_internal::CallbackSlots<Timer>::kNothrowSet<SlowArg<F>>) {
    if (IsClosing() || loop_internal::IsNullCallable(cb)) {
      return StartRefused();
    }
    slots_.Set(std::forward<SlowArg<F>>(cb));
    // As in Start: cannot fail once the checks above passed.
    (void)uv_timer_start(&timer_, &Timer::OnTimer<std::decay_t<F>>, timeout_ms,
                         repeat_ms);
    return absl::OkStatus();
  }
  // StartRefused returns Start's error for a closing timer or an empty
  // callback. Out of line: Start's fast path stays small. Out of memory for
  // the message, the Status has the same code and no message.
  absl::Status StartRefused() const noexcept;

  uv_timer_t timer_;
  // The callback; Start can replace it from inside itself (see
  // loop/callback_slots.h).
  loop_internal::CallbackSlots<Timer> slots_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_TIMER_H_
