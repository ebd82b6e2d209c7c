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

#include <cstdint>
#include <functional>

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
  // The callback lives in one of two slots, so that Start can replace it
  // from inside itself without moving or destroying the running one, and
  // dispatch needs no copy: *current_ is the current callback. While it
  // runs, the first Start switches current_ to the other slot (kReplaced);
  // OnIdle releases the replaced callback once it returned.
  enum class DispatchState : uint8_t { kIdle, kRunning, kReplaced };
  Callback* Other() { return current_ == &cb_[0] ? &cb_[1] : &cb_[0]; }
  void EndReplaced();

  Callback cb_[2];
  Callback* current_ = &cb_[0];
  DispatchState state_ = DispatchState::kIdle;
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
  // Two callback slots, as in Idle.
  enum class DispatchState : uint8_t { kIdle, kRunning, kReplaced };
  Callback* Other() { return current_ == &cb_[0] ? &cb_[1] : &cb_[0]; }
  void EndReplaced();

  Callback cb_[2];
  Callback* current_ = &cb_[0];
  DispatchState state_ = DispatchState::kIdle;
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
  // Two callback slots, as in Idle.
  enum class DispatchState : uint8_t { kIdle, kRunning, kReplaced };
  Callback* Other() { return current_ == &cb_[0] ? &cb_[1] : &cb_[0]; }
  void EndReplaced();

  Callback cb_[2];
  Callback* current_ = &cb_[0];
  DispatchState state_ = DispatchState::kIdle;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_IDLE_H_
