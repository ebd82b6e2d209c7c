#include "loop/timer.h"

#include <new>
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
  return StartSlow<Callback>(timeout_ms, repeat_ms, std::move(cb));
}

absl::Status Timer::StartRefused() const noexcept {
  try {
    if (absl::Status s = CheckOpen("timer start"); !s.ok()) return s;
    return UvStatus(UV_EINVAL, "timer start");
  } catch (const std::bad_alloc&) {
    return absl::Status(IsClosing() ? absl::StatusCode::kFailedPrecondition
                                    : absl::StatusCode::kInvalidArgument,
                        "");
  }
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

}  // namespace loop
}  // namespace evergreen
