#include "loop/tty.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Tty::Tty(Loop& loop) : Stream(loop, reinterpret_cast<uv_stream_t*>(&tty_)) {}

absl::StatusOr<HandlePtr<Tty>> Tty::Create(Loop& loop, int fd, bool readable) {
  std::string op = absl::StrCat("tty init fd ", fd);
  if (fd < 0) return UvStatus(UV_EBADF, op);
  if (fcntl(fd, F_GETFL) == -1) return UvStatus(-errno, op);
  // libuv 1.44 wraps pipes and sockets too; a Tty must be a terminal.
  if (!isatty(fd)) return UvStatus(errno == EBADF ? UV_EBADF : UV_ENOTTY, op);
  HandlePtr<Tty> tty(new Tty(loop));
  int rc = uv_tty_init(loop.raw(), &tty->tty_, fd, readable ? 1 : 0);
  if (rc < 0) return UvStatus(rc, op);
  tty->Register();
  // libuv reopened the terminal under a new descriptor and made `fd` a copy
  // of it: own exactly one descriptor, as for a terminal it did not reopen.
  int used = -1;
  if (uv_fileno(tty->raw_handle(), &used) == 0 && used != fd && fd > 2) {
    close(fd);
  }
  return tty;
}

absl::Status Tty::SetMode(TtyMode mode) {
  if (absl::Status s = CheckOpen("tty set mode"); !s.ok()) return s;
  return UvStatus(uv_tty_set_mode(&tty_, static_cast<uv_tty_mode_t>(mode)),
                  "tty set mode");
}

absl::StatusOr<WinSize> Tty::GetWinSize() {
  if (absl::Status s = CheckOpen("tty get winsize"); !s.ok()) return s;
  WinSize size;
  int rc = uv_tty_get_winsize(&tty_, &size.width, &size.height);
  if (rc < 0) return UvStatus(rc, "tty get winsize");
  return size;
}

absl::Status Tty::ResetMode() {
  return UvStatus(uv_tty_reset_mode(), "tty reset mode");
}

}  // namespace loop
}  // namespace evergreen
