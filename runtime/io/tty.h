// runtime/io/tty.h: terminal streams whose calls block only the calling
// task.
//
//   namespace io = evergreen::runtime::io;
//   // In a task:
//   auto out = io::TtyStream::Open(STDOUT_FILENO);
//   if (out.ok()) {
//     absl::StatusOr<evergreen::loop::WinSize> size = (*out)->WinSize();
//     (void)(*out)->Write("hello\n");
//   }
//   auto in = io::TtyStream::Open(STDIN_FILENO);
//   if (in.ok() && (*in)->SetMode(evergreen::loop::TtyMode::kRaw).ok()) {
//     absl::StatusOr<std::string> key = (*in)->ReadSome(16);
//     (void)io::TtyStream::ResetMode();  // before the process exits
//   }
//
// TtyStream is a Stream (runtime/io/stream.h: reading, writing,
// backpressure, errors, cancellation) over a terminal (loop/tty.h: libuv
// reopens a pseudo-terminal so that making it non-blocking does not affect
// other processes sharing it). Loop thread only; reads and writes must be
// made from a task.
#ifndef EVERGREEN_RUNTIME_IO_TTY_H_
#define EVERGREEN_RUNTIME_IO_TTY_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/tty.h"
#include "runtime/io/stream.h"

namespace evergreen {
namespace runtime {
namespace io {

class TtyStream final : public Stream {
 public:
  // Open adopts the terminal `fd` (the stream owns it, except fds 0, 1 and
  // 2, which stay open). Its direction follows the descriptor. Errors:
  // "tty open fd 5: ENOTTY (...)" for a descriptor that is not a terminal,
  // EBADF; FailedPrecondition without an EventLoop on this thread. Needs
  // no task.
  static absl::StatusOr<std::unique_ptr<TtyStream>> Open(
      int fd, StreamOptions options = {});

  // SetMode switches the terminal mode (loop::TtyMode: kNormal, kRaw,
  // kIo). The tcsetattr error, FailedPrecondition when closed. Does not
  // block.
  absl::Status SetMode(loop::TtyMode mode);
  // WinSize returns the terminal's size; the ioctl error or
  // FailedPrecondition when closed.
  absl::StatusOr<loop::WinSize> WinSize();
  // ResetMode restores the mode the terminal had before the process first
  // changed one (see loop::Tty::ResetMode). Thread-safe.
  static absl::Status ResetMode();

  // handle returns the //loop terminal. Do not read from it, write to it
  // or close it.
  loop::Tty& handle() { return static_cast<loop::Tty&>(stream_handle()); }

 private:
  TtyStream(loop::HandlePtr<loop::Tty> tty, int fd,
            const StreamOptions& options);
};

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_TTY_H_
