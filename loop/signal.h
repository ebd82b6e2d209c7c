// loop/signal.h: Signal, POSIX signals delivered on the loop (uv_signal_t).
//
//   evergreen::loop::Loop loop;
//   auto sig = *evergreen::loop::Signal::Create(loop);
//   absl::Status s = sig->StartOneshot(SIGUSR1, [](evergreen::loop::Signal&,
//                                                  int signum) { ... });
//   kill(getpid(), SIGUSR1);
//   loop.Run();  // the callback ran once, on the loop thread
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_SIGNAL_H_
#define EVERGREEN_LOOP_SIGNAL_H_

#include <uv.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// Signal watches one signal number. Several Signal handles (on one loop or
// several) may watch the same signal: each one's callback runs.
class Signal final : public Handle {
 public:
  using Callback = std::function<void(Signal&, int signum)>;

  // Create returns a new, stopped signal handle on `loop`, or the libuv
  // error ("signal init: ...").
  static absl::StatusOr<HandlePtr<Signal>> Create(Loop& loop);

  // Start calls `cb` each time `signum` is delivered, until Stop. Returns
  // InvalidArgument for a bad signal number, FailedPrecondition when
  // closing.
  absl::Status Start(int signum, Callback cb);
  // StartOneshot is Start, stopping after the first delivery.
  absl::Status StartOneshot(int signum, Callback cb);
  // Stop stops watching. Returns FailedPrecondition when closing.
  absl::Status Stop();
  // signum returns the watched signal number, 0 if never started.
  int signum() const { return signal_.signum; }

 private:
  explicit Signal(Loop& loop);
  absl::Status StartImpl(int signum, Callback cb, bool oneshot);
  static void OnSignal(uv_signal_t* raw, int signum);

  uv_signal_t signal_;
  std::shared_ptr<Callback> cb_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_SIGNAL_H_
