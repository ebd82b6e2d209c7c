#include "loop/timer.h"

#include <utility>

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
  cb_ = std::make_shared<Callback>(std::move(cb));
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
  // A copy: the callback may restart the timer with another callback.
  std::shared_ptr<Callback> cb = self->cb_;
  self->loop().Invoke([&] { (*cb)(*self); });
}

}  // namespace loop
}  // namespace evergreen
