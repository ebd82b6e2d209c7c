// loop/async.h: Async, wake a loop from any thread (uv_async_t).
//
//   evergreen::loop::Loop loop;
//   auto async = *evergreen::loop::Async::Create(
//       loop, [](evergreen::loop::Async& a) { (void)a.Close(); });
//   std::thread t([&] { (void)async->Send(); });
//   loop.Run();  // the callback ran on the loop thread
//   t.join();
//
// Send is thread-safe; everything else is loop thread only.
#ifndef EVERGREEN_LOOP_ASYNC_H_
#define EVERGREEN_LOOP_ASYNC_H_

#include <uv.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"
#include "loop/status.h"
#include "loop/uv_nothrow.h"

namespace evergreen {
namespace loop {

// Async runs its callback on the loop thread after Send was called from any
// thread. Several Sends before the callback runs coalesce into one call.
// An active Async keeps the loop alive until closed or Unref()'d.
class Async final : public Handle {
 public:
  using Callback = std::function<void(Async&)>;

  // Create returns a new async handle on `loop` calling `cb` (not empty), or
  // the libuv error ("async init: ..."). Loop thread only.
  static absl::StatusOr<HandlePtr<Async>> Create(Loop& loop, Callback cb);

  // Send wakes the loop to run the callback. Thread-safe. The caller must
  // make sure the handle is not closed (its owner not destroyed) while a
  // Send may still be running on another thread: join senders first.
  // Inline: a send from the loop thread costs uv_async_send and a test.
  absl::Status Send() { return UvStatus(uv_async_send(&async_), "async send"); }

 private:
  Async(Loop& loop, Callback cb);
  static void OnAsync(uv_async_t* raw);

  uv_async_t async_;
  const Callback cb_;  // never changes: no race with Send
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_ASYNC_H_
