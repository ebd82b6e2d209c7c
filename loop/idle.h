// loop/idle.h: Idle, Prepare and Check, libuv's per-iteration watchers.
//
//   evergreen::loop::Loop loop;
//   auto idle = evergreen::loop::Idle::Create(loop);
//   int n = 0;
//   absl::Status s = idle->Start([&](evergreen::loop::Idle& h) {
//     if (++n == 10) (void)h.Stop();
//   });
//   loop.Run();  // n == 10
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_IDLE_H_
#define EVERGREEN_LOOP_IDLE_H_

#include <uv.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// Idle calls its callback once per loop iteration while started, and keeps the
// loop from blocking for I/O.
class Idle final : public Handle {
 public:
  using Callback = std::function<void(Idle&)>;

  // Create returns a new, stopped idle handle on `loop`. Never fails.
  static HandlePtr<Idle> Create(Loop& loop);

  // Start starts calling `cb`; a started handle only replaces the callback.
  // Returns FailedPrecondition when closing, InvalidArgument for an empty cb.
  absl::Status Start(Callback cb);
  // Stop stops calling the callback. Returns FailedPrecondition when
  // closing.
  absl::Status Stop();

 private:
  explicit Idle(Loop& loop);
  static void OnIdle(uv_idle_t* raw);

  uv_idle_t idle_;
  std::shared_ptr<Callback> cb_;
};

// Prepare calls its callback once per loop iteration, right before the loop
// blocks for I/O.
class Prepare final : public Handle {
 public:
  using Callback = std::function<void(Prepare&)>;

  // Create returns a new, stopped prepare handle on `loop`. Never fails.
  static HandlePtr<Prepare> Create(Loop& loop);

  // Start starts calling `cb`; a started handle only replaces the callback.
  // Returns FailedPrecondition when closing, InvalidArgument for an empty cb.
  absl::Status Start(Callback cb);
  // Stop stops calling the callback. Returns FailedPrecondition when
  // closing.
  absl::Status Stop();

 private:
  explicit Prepare(Loop& loop);
  static void OnPrepare(uv_prepare_t* raw);

  uv_prepare_t prepare_;
  std::shared_ptr<Callback> cb_;
};

// Check calls its callback once per loop iteration, right after the loop polled
// for I/O.
class Check final : public Handle {
 public:
  using Callback = std::function<void(Check&)>;

  // Create returns a new, stopped check handle on `loop`. Never fails.
  static HandlePtr<Check> Create(Loop& loop);

  // Start starts calling `cb`; a started handle only replaces the callback.
  // Returns FailedPrecondition when closing, InvalidArgument for an empty cb.
  absl::Status Start(Callback cb);
  // Stop stops calling the callback. Returns FailedPrecondition when
  // closing.
  absl::Status Stop();

 private:
  explicit Check(Loop& loop);
  static void OnCheck(uv_check_t* raw);

  uv_check_t check_;
  std::shared_ptr<Callback> cb_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_IDLE_H_
