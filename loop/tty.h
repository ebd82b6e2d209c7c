// loop/tty.h: Tty, a terminal stream (uv_tty_t). Reading and writing come
// from Stream (loop/stream.h).
//
//   evergreen::loop::Loop loop;
//   auto out = evergreen::loop::Tty::Create(loop, 1, /*readable=*/false);
//   if (out.ok()) {
//     absl::StatusOr<evergreen::loop::WinSize> size = (*out)->GetWinSize();
//     (void)(*out)->Write("hello\n");
//   }
//   // Put stdin in raw mode; restore it before the process exits:
//   auto in = evergreen::loop::Tty::Create(loop, 0, /*readable=*/true);
//   if (in.ok()) (void)(*in)->SetMode(evergreen::loop::TtyMode::kRaw);
//   ...
//   (void)evergreen::loop::Tty::ResetMode();
//
// The handle owns the descriptor: closing it closes the fd unless it is 0, 1
// or 2. libuv reopens a pseudo-terminal slave (/dev/pts/N), so that making
// it non-blocking does not affect other processes sharing the terminal; the
// handle then uses a new descriptor (Fileno tells which) and Create closes
// the one given (fds 0-2 are kept, pointing to the reopened terminal). For
// other terminals writes stay blocking.
//
// Loop thread only, like every handle (see loop/loop.h for lifetime), except
// ResetMode.
#ifndef EVERGREEN_LOOP_TTY_H_
#define EVERGREEN_LOOP_TTY_H_

#include <uv.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"
#include "loop/stream.h"

namespace evergreen {
namespace loop {

// TtyMode is a terminal mode (uv_tty_mode_t).
enum class TtyMode {
  // The mode the terminal had (canonical input, echo...).
  kNormal = UV_TTY_MODE_NORMAL,
  // Raw input (no line editing, no echo, no signals from ^C); output still
  // turns "\n" into "\r\n".
  kRaw = UV_TTY_MODE_RAW,
  // Binary-safe raw mode (cfmakeraw: no output processing either).
  kIo = UV_TTY_MODE_IO,
};

// WinSize is a terminal's size in character cells.
struct WinSize {
  int width = 0;
  int height = 0;
};

class Tty final : public Stream {
 public:
  // Create wraps the terminal `fd`. `readable` is kept for libuv's API and
  // ignored on Unix: the direction follows the fd's access mode. EBADF for
  // a bad fd, ENOTTY for an fd that is not a terminal (libuv 1.44 would
  // accept a pipe or socket), or the libuv error ("tty init fd 5: ...").
  static absl::StatusOr<HandlePtr<Tty>> Create(Loop& loop, int fd,
                                               bool readable);

  // SetMode switches the terminal mode. The first switch away from kNormal
  // (of any Tty in the process) records the terminal's settings for
  // ResetMode. Returns the tcsetattr error, FailedPrecondition when closing.
  absl::Status SetMode(TtyMode mode);

  // GetWinSize returns the terminal's size (TIOCGWINSZ).
  absl::StatusOr<WinSize> GetWinSize();

  // ResetMode restores the settings recorded by the first SetMode away from
  // kNormal; OK if none was recorded. libuv 1.44 records that terminal's fd
  // number once per process and never forgets it: after that Tty closed,
  // ResetMode acts on whatever now has that number (EBADF or ENOTTY if it is
  // not a terminal). EBUSY if another thread is changing a mode.
  // Thread-safe. From a signal handler call uv_tty_reset_mode() itself: an
  // error Status may allocate.
  static absl::Status ResetMode();

 private:
  explicit Tty(Loop& loop);

  uv_tty_t tty_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_TTY_H_
