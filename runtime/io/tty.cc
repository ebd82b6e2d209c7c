#include "runtime/io/tty.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/io/internal/op.h"

namespace evergreen {
namespace runtime {
namespace io {

TtyStream::TtyStream(loop::HandlePtr<loop::Tty> tty, int fd,
                     const StreamOptions& options)
    : Stream(std::move(tty), absl::StrCat("tty ", fd), options) {}

absl::StatusOr<std::unique_ptr<TtyStream>> TtyStream::Open(
    int fd, StreamOptions options) {
  std::string op = absl::StrCat("tty open fd ", fd);
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  absl::StatusOr<loop::HandlePtr<loop::Tty>> tty =
      loop::Tty::Create(el->io(), fd, /*readable=*/true);
  if (!tty.ok()) return io_internal::Renamed(tty.status(), op);
  return std::unique_ptr<TtyStream>(
      new TtyStream(std::move(*tty), fd, options));
}

absl::Status TtyStream::SetMode(loop::TtyMode mode) {
  if (IsClosed()) return ClosedError("tty set mode");
  return io_internal::Renamed(handle().SetMode(mode),
                              absl::StrCat("tty set mode ", peer()));
}

absl::StatusOr<loop::WinSize> TtyStream::WinSize() {
  if (IsClosed()) return ClosedError("tty window size");
  absl::StatusOr<loop::WinSize> size = handle().GetWinSize();
  if (!size.ok()) {
    return io_internal::Renamed(size.status(),
                                absl::StrCat("tty window size ", peer()));
  }
  return size;
}

absl::Status TtyStream::ResetMode() { return loop::Tty::ResetMode(); }

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
