// loop/poll.h: Poll, readiness of a file descriptor the caller owns
// (uv_poll_t).
//
// Poll watches an fd opened elsewhere (a socket from another library, a
// pipe, a device) and reports when it becomes readable or writable; the
// caller does the I/O itself.
//
//   int fds[2];
//   socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
//   auto poll = *evergreen::loop::Poll::Create(loop, fds[0]);
//   absl::Status s = poll->Start(
//       evergreen::loop::Poll::kReadable,
//       [](evergreen::loop::Poll& p, absl::Status status, int events) {
//         if (!status.ok()) { (void)p.Close(); return; }
//         if (events & evergreen::loop::Poll::kReadable) { /* read(2) */ }
//       });
//   loop.Run();
//   // Close the Poll (and let the loop run) before closing fds[0].
//
// One watcher per fd: libuv aborts the process when two of its poll handles
// watch the same fd on one loop, so a second Poll for an fd already watched
// on the same loop is refused (AlreadyExists, "poll init fd 7: EEXIST ...")
// until the first one is closed. Different loops may watch the same fd.
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_POLL_H_
#define EVERGREEN_LOOP_POLL_H_

#include <uv.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

// Poll watches one file descriptor for readiness. It does not own the fd:
// the caller closes the fd, and must close the Poll first (libuv's rule: a
// polled fd must not be closed while the watcher is active).
class Poll final : public Handle {
 public:
  // Event bits for Start and the callback.
  static constexpr int kReadable = UV_READABLE;
  static constexpr int kWritable = UV_WRITABLE;
  // kDisconnect: the peer closed its side (EPOLLRDHUP); sockets only.
  static constexpr int kDisconnect = UV_DISCONNECT;
  // kPrioritized: out-of-band or priority data (EPOLLPRI).
  static constexpr int kPrioritized = UV_PRIORITIZED;

  // Callback receives OK and the events that fired (a subset of those
  // started), or an error (events 0): "poll: EBADF ..." when the kernel
  // reported an error condition on the fd; the watcher is then stopped.
  using Callback = std::function<void(Poll&, absl::Status status, int events)>;

  // Create returns a stopped watcher for `fd` on `loop`, and sets `fd` to
  // non-blocking mode. Errors: "poll init fd -1: EBADF ..." for a negative
  // or closed fd; EPERM for fds epoll cannot watch (regular files);
  // AlreadyExists ("poll init fd 7: EEXIST ...") when a Poll, or another
  // active libuv handle, already watches `fd` on this loop.
  static absl::StatusOr<HandlePtr<Poll>> Create(Loop& loop, int fd);
  // CreateSocket is Create for a socket (uv_poll_init_socket; the same on
  // Unix).
  static absl::StatusOr<HandlePtr<Poll>> CreateSocket(Loop& loop, int socket);

  // Start (re)starts watching for `events` (an OR of the k* bits above);
  // `cb` runs each time one of them is ready, until Stop. Calling it again
  // replaces the events and the callback. InvalidArgument for an empty
  // callback, for no event or unknown bits; FailedPrecondition when closing.
  absl::Status Start(int events, Callback cb);
  // Stop stops watching; the callback no longer runs. FailedPrecondition
  // when closing.
  absl::Status Stop();

  // fd returns the watched file descriptor (also what Fileno returns while
  // open).
  int fd() const { return fd_; }

 private:
  Poll(Loop& loop, int fd);
  ~Poll() override;
  static absl::StatusOr<HandlePtr<Poll>> CreateImpl(Loop& loop, int fd,
                                                    bool socket);
  static void OnPoll(uv_poll_t* raw, int status, int events);

  uv_poll_t poll_;
  int fd_;
  bool registered_fd_ = false;
  std::shared_ptr<Callback> cb_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_POLL_H_
