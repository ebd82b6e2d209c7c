// runtime/io/internal/serve.h: the accept loop behind io::Serve for every
// listener type. Not a public API.
#ifndef EVERGREEN_RUNTIME_IO_INTERNAL_SERVE_H_
#define EVERGREEN_RUNTIME_IO_INTERNAL_SERVE_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/internal/wait.h"
#include "runtime/task.h"
#include "runtime/task_group.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

// ServeLoop accepts connections on `listener` (Accept() ->
// StatusOr<std::unique_ptr<S>>, IsClosed()) and runs handler(stream) for
// each in a task of a TaskGroup; see io::Serve for the contract.
template <typename Listener, typename S>
absl::Status ServeLoop(Listener& listener, std::function<void(S&)> handler) {
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("serve", &me); !s.ok()) {
    return s;
  }
  if (!handler) return absl::InvalidArgumentError("serve: empty handler");
  // Children own their copy; they never refer to this frame.
  auto shared =
      std::make_shared<const std::function<void(S&)>>(std::move(handler));
  absl::Status result;
  absl::Status group = TaskGroup::Run([&](TaskGroup& g) {
    while (true) {
      absl::StatusOr<std::unique_ptr<S>> conn = listener.Accept();
      if (!conn.ok()) {
        if (listener.IsClosed()) return;
        absl::StatusCode code = conn.status().code();
        if (code == absl::StatusCode::kResourceExhausted) {
          (void)Sleep(absl::Milliseconds(100));  // EMFILE...: let fds free
          continue;
        }
        if (code == absl::StatusCode::kUnavailable) continue;  // ECONNABORTED
        result = conn.status();
        return;
      }
      absl::Status s = g.Spawn(
          [shared](std::unique_ptr<S> stream) {
            (*shared)(*stream);
            if (!stream->IsClosed()) (void)stream->Drain();
          },
          std::move(*conn));
      if (s.code() == absl::StatusCode::kResourceExhausted) {
        (void)Sleep(absl::Milliseconds(100));  // no stack: drop it, go on
        continue;
      }
      if (!s.ok()) {
        result = s;
        return;
      }
    }
  });
  if (!group.ok()) return group;
  return result;
}

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_INTERNAL_SERVE_H_
