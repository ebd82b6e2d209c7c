#include "loop/idle.h"

#include <utility>

#include "absl/base/optimization.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Idle::Idle(Loop& loop) : Handle(loop, reinterpret_cast<uv_handle_t*>(&idle_)) {
  uv_idle_init(loop.raw(), &idle_);
  Register();
}

HandlePtr<Idle> Idle::Create(Loop& loop) {
  return HandlePtr<Idle>(new Idle(loop));
}

absl::Status Idle::Start(Callback cb) {
  if (absl::Status s = CheckOpen("idle start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "idle start");
  if (state_ == DispatchState::kRunning) {  // keep the running one alive
    current_ = Other();
    state_ = DispatchState::kReplaced;
  }
  *current_ = std::move(cb);
  return UvStatus(uv_idle_start(&idle_, &Idle::OnIdle), "idle start");
}

absl::Status Idle::Stop() {
  if (absl::Status s = CheckOpen("idle stop"); !s.ok()) return s;
  return UvStatus(uv_idle_stop(&idle_), "idle stop");
}

void Idle::OnIdle(uv_idle_t* raw) {
  auto* self = static_cast<Idle*>(static_cast<Handle*>(raw->data));
  // The callback may replace itself (Start) or close or drop the handle; the
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

void Idle::EndReplaced() {
  state_ = DispatchState::kIdle;
  *Other() = nullptr;  // the callback that just returned
}

Prepare::Prepare(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&prepare_)) {
  uv_prepare_init(loop.raw(), &prepare_);
  Register();
}

HandlePtr<Prepare> Prepare::Create(Loop& loop) {
  return HandlePtr<Prepare>(new Prepare(loop));
}

absl::Status Prepare::Start(Callback cb) {
  if (absl::Status s = CheckOpen("prepare start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "prepare start");
  if (state_ == DispatchState::kRunning) {  // keep the running one alive
    current_ = Other();
    state_ = DispatchState::kReplaced;
  }
  *current_ = std::move(cb);
  return UvStatus(uv_prepare_start(&prepare_, &Prepare::OnPrepare),
                  "prepare start");
}

absl::Status Prepare::Stop() {
  if (absl::Status s = CheckOpen("prepare stop"); !s.ok()) return s;
  return UvStatus(uv_prepare_stop(&prepare_), "prepare stop");
}

void Prepare::OnPrepare(uv_prepare_t* raw) {
  auto* self = static_cast<Prepare*>(static_cast<Handle*>(raw->data));
  Callback* cb = self->current_;
  self->state_ = DispatchState::kRunning;
  self->loop().Invoke([self, cb] { (*cb)(*self); });
  if (ABSL_PREDICT_FALSE(self->state_ == DispatchState::kReplaced)) {
    self->EndReplaced();
  } else {
    self->state_ = DispatchState::kIdle;
  }
}

void Prepare::EndReplaced() {
  state_ = DispatchState::kIdle;
  *Other() = nullptr;  // the callback that just returned
}

Check::Check(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&check_)) {
  uv_check_init(loop.raw(), &check_);
  Register();
}

HandlePtr<Check> Check::Create(Loop& loop) {
  return HandlePtr<Check>(new Check(loop));
}

absl::Status Check::Start(Callback cb) {
  if (absl::Status s = CheckOpen("check start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "check start");
  if (state_ == DispatchState::kRunning) {  // keep the running one alive
    current_ = Other();
    state_ = DispatchState::kReplaced;
  }
  *current_ = std::move(cb);
  return UvStatus(uv_check_start(&check_, &Check::OnCheck), "check start");
}

absl::Status Check::Stop() {
  if (absl::Status s = CheckOpen("check stop"); !s.ok()) return s;
  return UvStatus(uv_check_stop(&check_), "check stop");
}

void Check::OnCheck(uv_check_t* raw) {
  auto* self = static_cast<Check*>(static_cast<Handle*>(raw->data));
  Callback* cb = self->current_;
  self->state_ = DispatchState::kRunning;
  self->loop().Invoke([self, cb] { (*cb)(*self); });
  if (ABSL_PREDICT_FALSE(self->state_ == DispatchState::kReplaced)) {
    self->EndReplaced();
  } else {
    self->state_ = DispatchState::kIdle;
  }
}

void Check::EndReplaced() {
  state_ = DispatchState::kIdle;
  *Other() = nullptr;  // the callback that just returned
}

}  // namespace loop
}  // namespace evergreen
