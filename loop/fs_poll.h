// loop/fs_poll.h: FsPoll, changes to a path found by polling stat(2)
// (uv_fs_poll_t).
//
// Unlike FsEvent, FsPoll works on every file system (network mounts
// included) and notices a file that does not exist yet, at the cost of one
// stat per interval, run in libuv's thread pool.
//
//   auto poll = *evergreen::loop::FsPoll::Create(loop);
//   absl::Status s = poll->Start(
//       "/var/log/app.log", /*interval_ms=*/1000,
//       [](evergreen::loop::FsPoll& p, absl::Status status,
//          const evergreen::loop::PolledStat& prev,
//          const evergreen::loop::PolledStat& curr) {
//         if (status.ok() && curr.size > prev.size) { /* read the tail */ }
//       });
//   loop.Run();
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_FS_POLL_H_
#define EVERGREEN_LOOP_FS_POLL_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// PolledStat is the part of a stat(2) result FsPoll reports; all zero when
// the path could not be stat'ed.
struct PolledStat {
  uint64_t size = 0;
  // mode holds the file type and permission bits (st_mode).
  uint64_t mode = 0;
  uint64_t ino = 0;
  // mtime_sec / mtime_nsec: the last modification time since the epoch.
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
};

// FsPoll stats a path at an interval and reports each change. Closing
// completes once a stat running in the thread pool has finished.
class FsPoll final : public Handle {
 public:
  // Callback receives, for a change, OK with the previous and the current
  // stat. When the stat fails it receives the error ("fs poll /x: ENOENT
  // (no such file or directory)"), the last good stat (zeros if none) as
  // `prev` and zeros as `curr`, once per distinct error; when the path
  // comes back, OK with the last good stat as `prev`. The first successful
  // stat only sets the baseline: no callback.
  using Callback =
      std::function<void(FsPoll&, absl::Status status, const PolledStat& prev,
                         const PolledStat& curr)>;

  // Create returns a new, stopped poller, or the libuv error ("fs poll
  // init: ...").
  static absl::StatusOr<HandlePtr<FsPoll>> Create(Loop& loop);

  // Start stats `path` now and then every `interval_ms` milliseconds (0
  // counts as 1); `cb` runs on each change until Stop. A missing
  // path is not an error here: it is reported through `cb`.
  // InvalidArgument for an empty callback or a path with a NUL byte;
  // FailedPrecondition ("fs poll start /x: EBUSY ...") when already started
  // (Stop first), when closing, and after a Stop until the loop has run
  // long enough for the stopped poll to wind down (its internal timer to
  // close, or a stat still running in the thread pool to finish): libuv
  // would abort on an overlapping restart. Retry from a later iteration.
  absl::Status Start(absl::string_view path, unsigned interval_ms, Callback cb);
  // Stop stops polling; a stat in flight is discarded. FailedPrecondition
  // when closing.
  absl::Status Stop();

  // Path returns the polled path as given to Start. InvalidArgument ("fs
  // poll path: EINVAL ...") when not started.
  absl::StatusOr<std::string> Path() const;

 private:
  explicit FsPoll(Loop& loop);
  static void OnChange(uv_fs_poll_t* raw, int status, const uv_stat_t* prev,
                       const uv_stat_t* curr);

  uv_fs_poll_t poll_;
  std::string path_;
  std::shared_ptr<Callback> cb_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_FS_POLL_H_
