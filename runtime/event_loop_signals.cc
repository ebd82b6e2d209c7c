// EventLoop's signal handlers (declared in event_loop.h): one loop::Signal
// handle per signal, whose callback queues the user's handler on the loop.

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/signal.h"
#include "runtime/event_loop.h"

namespace evergreen {
namespace runtime {

absl::Status EventLoop::AddSignalHandler(int signum, std::function<void()> fn) {
  if (!fn) {
    return absl::InvalidArgumentError("add signal handler: empty handler");
  }
  absl::StatusOr<loop::HandlePtr<loop::Signal>> handle =
      loop::Signal::Create(*io_);
  if (!handle.ok()) return handle.status();
  // Shared with the handle's callback, which copies it per delivery: the
  // handler may remove or replace itself.
  auto handler = std::make_shared<std::function<void()>>(std::move(fn));
  absl::Status s = (*handle)->Start(
      signum, [this, handler](loop::Signal&, int) { CallSoon(*handler); });
  if (!s.ok()) return s;
  signal_handlers_[signum] = std::move(*handle);  // closes a replaced one
  UpdateSignalRefs();
  return absl::OkStatus();
}

bool EventLoop::RemoveSignalHandler(int signum) {
  return signal_handlers_.erase(signum) != 0;
}

void EventLoop::UpdateSignalRefs() {
  bool keep_alive = live_head_ != nullptr;
  for (auto& [signum, handle] : signal_handlers_) {
    if (handle->HasRef() == keep_alive) continue;
    if (keep_alive) {
      handle->Ref();
    } else {
      handle->Unref();
    }
  }
}

}  // namespace runtime
}  // namespace evergreen
