// loop/fs_event.h: FsEvent, file system change notifications (uv_fs_event_t,
// inotify on Linux).
//
//   auto watcher = *evergreen::loop::FsEvent::Create(loop);
//   absl::Status s = watcher->Start(
//       "/tmp/dir", /*flags=*/0,
//       [](evergreen::loop::FsEvent& w, absl::string_view filename,
//          int events, absl::Status status) {
//         if (!status.ok()) return;
//         if (events & evergreen::loop::FsEvent::kRename) {
//           // `filename` (in /tmp/dir) appeared, disappeared or was renamed
//         }
//       });
//   loop.Run();
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_FS_EVENT_H_
#define EVERGREEN_LOOP_FS_EVENT_H_

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// FsEvent watches a file or a folder (its direct entries) for changes.
class FsEvent final : public Handle {
 public:
  // Event bits of the callback. kRename: an entry was created, deleted,
  // moved or renamed; kChange: its content or attributes changed. Events
  // may be coalesced or repeated (one write can report several changes).
  static constexpr int kRename = UV_RENAME;
  static constexpr int kChange = UV_CHANGE;
  // Start flag kRecursive: also watch subfolders. Accepted but ignored on
  // Linux, where libuv watches the named folder only.
  static constexpr unsigned kRecursive = UV_FS_EVENT_RECURSIVE;

  // Callback receives the name of the entry that changed, relative to the
  // watched folder (for a watched file: its own base name; may be empty
  // when the kernel gives none), the events, and OK or an error.
  using Callback = std::function<void(FsEvent&, absl::string_view filename,
                                      int events, absl::Status status)>;

  // Create returns a new, stopped watcher, or the libuv error
  // ("fs event init: ...").
  static absl::StatusOr<HandlePtr<FsEvent>> Create(Loop& loop);

  // Start watches `path` with `flags` (0 or kRecursive); `cb` runs for each
  // change until Stop. Errors name the path: "fs event start /x: ENOENT (no
  // such file or directory)"; InvalidArgument for an empty callback,
  // unknown flags or a path with a NUL byte; FailedPrecondition ("...: EBUSY
  // ...") when already started (Stop first); EMFILE/ENOSPC when the inotify
  // limits are reached; FailedPrecondition when closing.
  absl::Status Start(absl::string_view path, unsigned flags, Callback cb);
  // Stop stops watching; Start may then watch another path.
  // FailedPrecondition when closing.
  absl::Status Stop();

  // Path returns the watched path as given to Start. InvalidArgument ("fs
  // event path: EINVAL ...") when not started.
  absl::StatusOr<std::string> Path() const;

 private:
  explicit FsEvent(Loop& loop);
  static void OnEvent(uv_fs_event_t* raw, const char* filename, int events,
                      int status);

  uv_fs_event_t event_;
  std::shared_ptr<Callback> cb_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_FS_EVENT_H_
