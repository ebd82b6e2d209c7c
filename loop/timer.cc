#include "loop/timer.h"

#include <utility>

#include "absl/base/optimization.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Timer::Timer(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&timer_)) {
  uv_timer_init(loop.raw(), &timer_);
  Register();
}

HandlePtr<Timer> Timer::Create(Loop& loop) {
  return HandlePtr<Timer>(new Timer(loop));
}

absl::Status Timer::Start(uint64_t timeout_ms, uint64_t repeat_ms,
                          Callback cb) {
  if (absl::Status s = CheckOpen("timer start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "timer start");
  if (state_ == DispatchState::kRunning) {  // keep the running one alive
    current_ = Other();
    state_ = DispatchState::kReplaced;
  }
  *current_ = std::move(cb);
  return UvStatus(
      uv_timer_start(&timer_, &Timer::OnTimer, timeout_ms, repeat_ms),
      "timer start");
}

absl::Status Timer::Stop() {
  if (absl::Status s = CheckOpen("timer stop"); !s.ok()) return s;
  return UvStatus(uv_timer_stop(&timer_), "timer stop");
}

absl::Status Timer::Again() {
  if (absl::Status s = CheckOpen("timer again"); !s.ok()) return s;
  return UvStatus(uv_timer_again(&timer_), "timer again");
}

void Timer::SetRepeat(uint64_t repeat_ms) {
  uv_timer_set_repeat(&timer_, repeat_ms);
}

uint64_t Timer::Repeat() const { return uv_timer_get_repeat(&timer_); }

uint64_t Timer::DueIn() const { return uv_timer_get_due_in(&timer_); }

void Timer::OnTimer(uv_timer_t* raw) {
  auto* self = static_cast<Timer*>(static_cast<Handle*>(raw->data));
  // The callback may replace itself (Start) or close or drop the timer; the
  // memory stays valid until the close callback, which runs later.
  Callback* cb = self->current_;
  self->state_ = DispatchState::kRunning;
  self->loop().Invoke([self, cb] { (*cb)(*self); });
  if (ABSL_PREDICT_FALSE(self->state_ == DispatchState::kReplaced)) {
    self->EndReplaced();
  } else {
    self->state_ = DispatchState::kIdle;
  }
}

void Timer::EndReplaced() {
  state_ = DispatchState::kIdle;
  *Other() = nullptr;  // the callback that just returned
}

}  // namespace loop
}  // namespace evergreen
