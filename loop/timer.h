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

#include "absl/status/status.h"
#include "loop/loop.h"

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
  // `repeat_ms` if non-zero. Returns FailedPrecondition when closing.
  absl::Status Start(uint64_t timeout_ms, uint64_t repeat_ms, Callback cb);
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
  static void OnTimer(uv_timer_t* raw);

  uv_timer_t timer_;
  // The callback lives in one of two slots, so that Start can replace it
  // from inside itself without moving or destroying the running one, and
  // dispatch needs no copy: *current_ is the current callback. While it
  // runs, the first Start switches current_ to the other slot (kReplaced);
  // OnTimer releases the replaced callback once it returned.
  enum class DispatchState : uint8_t { kIdle, kRunning, kReplaced };
  Callback* Other() { return current_ == &cb_[0] ? &cb_[1] : &cb_[0]; }
  void EndReplaced();

  Callback cb_[2];
  Callback* current_ = &cb_[0];
  DispatchState state_ = DispatchState::kIdle;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_TIMER_H_
