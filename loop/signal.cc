#include "loop/signal.h"

#include <utility>

#include "loop/status.h"

namespace evergreen {
namespace loop {

Signal::Signal(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&signal_)) {}

absl::StatusOr<HandlePtr<Signal>> Signal::Create(Loop& loop) {
  HandlePtr<Signal> signal(new Signal(loop));
  int rc = uv_signal_init(loop.raw(), &signal->signal_);
  if (rc < 0) return UvStatus(rc, "signal init");  // not registered: freed now
  signal->Register();
  return signal;
}

absl::Status Signal::Start(int signum, Callback cb) {
  return StartImpl(signum, std::move(cb), false);
}

absl::Status Signal::StartOneshot(int signum, Callback cb) {
  return StartImpl(signum, std::move(cb), true);
}

absl::Status Signal::StartImpl(int signum, Callback cb, bool oneshot) {
  if (absl::Status s = CheckOpen("signal start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "signal start");
  cb_ = std::make_shared<Callback>(std::move(cb));
  int rc = oneshot
               ? uv_signal_start_oneshot(&signal_, &Signal::OnSignal, signum)
               : uv_signal_start(&signal_, &Signal::OnSignal, signum);
  return UvStatus(rc, "signal start");
}

absl::Status Signal::Stop() {
  if (absl::Status s = CheckOpen("signal stop"); !s.ok()) return s;
  return UvStatus(uv_signal_stop(&signal_), "signal stop");
}

void Signal::OnSignal(uv_signal_t* raw, int signum) {
  auto* self = static_cast<Signal*>(static_cast<Handle*>(raw->data));
  std::shared_ptr<Callback> cb = self->cb_;
  self->loop().Invoke([&] { (*cb)(*self, signum); });
}

}  // namespace loop
}  // namespace evergreen
