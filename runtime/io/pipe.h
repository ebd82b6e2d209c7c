// runtime/io/pipe.h: Unix domain socket and pipe streams whose calls block
// only the calling task.
//
//   namespace io = evergreen::runtime::io;
//   // A server on a socket path, a task per connection:
//   auto listener = *io::PipeListener::Listen("/tmp/app.sock");
//   evergreen::runtime::Task::Spawn([&] {
//     absl::Status s = io::Serve(*listener, [](io::PipeStream& conn) {
//       auto line = conn.ReadLine();
//       if (line.ok()) (void)conn.Write(*line);
//     });
//   });
//   // A client, in another task:
//   auto conn = io::PipeStream::Connect("/tmp/app.sock");
//   // Or an existing descriptor (a pipe(2) end, a FIFO, a socket):
//   auto in = io::PipeStream::Open(STDIN_FILENO);
//
// PipeStream is a Stream (runtime/io/stream.h: reading, writing,
// backpressure, errors, cancellation). Interrupting Connect (deadline,
// kill, cancel scope) closes the socket being connected. A listener keeps
// EventLoop::Run going only while a task waits in Accept; its socket file
// is removed when it closes. Paths follow loop/pipe.h: at most 107 bytes; a
// leading '\0' makes a Linux abstract name. Loop thread only; every
// blocking call must be made from a task.
#ifndef EVERGREEN_RUNTIME_IO_PIPE_H_
#define EVERGREEN_RUNTIME_IO_PIPE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "loop/pipe.h"
#include "runtime/deadline.h"
#include "runtime/io/internal/accept.h"
#include "runtime/io/stream.h"

namespace evergreen {
namespace runtime {
namespace io {

class PipeStream final : public Stream {
 public:
  // Connect connects to the socket at `path`. Errors: "pipe connect
  // /tmp/x.sock: ENOENT (no such file or directory)", ECONNREFUSED (nobody
  // listens), ENAMETOOLONG; DeadlineExceeded "pipe connect <path>: deadline
  // exceeded"; FailedPrecondition outside a task. Throws when the task is
  // killed or cancelled (the socket being connected is closed).
  static absl::StatusOr<std::unique_ptr<PipeStream>> Connect(
      absl::string_view path, Deadline deadline = Deadline::Never(),
      StreamOptions options = {});
  // Open adopts `fd` (a pipe end, a FIFO or a Unix stream socket); the
  // stream owns it from then on. Its direction follows the descriptor (the
  // read end of a pipe cannot be written). Errors: EBADF for a bad fd,
  // EINVAL for another kind of file. Needs the thread's EventLoop, not a
  // task.
  static absl::StatusOr<std::unique_ptr<PipeStream>> Open(
      int fd, StreamOptions options = {});

  // handle returns the //loop pipe. Do not read from it, write to it or
  // close it.
  loop::Pipe& handle() { return static_cast<loop::Pipe&>(stream_handle()); }

 private:
  friend class PipeListener;
  friend class Process;  // the piped stdio of a child (runtime/io/process.h)
  PipeStream(loop::HandlePtr<loop::Pipe> pipe, std::string peer,
             const StreamOptions& options);
};

// PipeListenOptions tune PipeListener::Listen.
struct PipeListenOptions {
  // Pending connections the kernel queues before refusing more.
  int backlog = 511;
  // Options of the accepted streams.
  StreamOptions stream_options;
};

class PipeListener {
 public:
  // Listen binds a socket to `path` and listens. Errors: "listen
  // /tmp/x.sock: EADDRINUSE (address already in use)" when the file
  // exists, EACCES, ENAMETOOLONG; FailedPrecondition without an EventLoop.
  static absl::StatusOr<std::unique_ptr<PipeListener>> Listen(
      absl::string_view path, PipeListenOptions options = {});

  PipeListener(const PipeListener&) = delete;
  PipeListener& operator=(const PipeListener&) = delete;
  // ~PipeListener closes the listener. No task may be blocked on it.
  ~PipeListener();

  // Accept waits for a connection and returns it as a stream. Errors:
  // DeadlineExceeded "accept <path>: deadline exceeded"; the accept error;
  // FailedPrecondition "accept <path>: listener closed" when closed (also
  // for the tasks blocked here when Close is called) or outside a task.
  // Throws when the task is killed or cancelled; a pending connection
  // stays for the next Accept.
  absl::StatusOr<std::unique_ptr<PipeStream>> Accept(
      Deadline deadline = Deadline::Never());
  // path returns the path listened on.
  const std::string& path() const { return path_; }
  // Close stops listening and removes the socket file. No effect when
  // already closed. Callable from callbacks too.
  void Close();
  bool IsClosed() const { return accept_.closed(); }
  // handle returns the //loop pipe.
  loop::Pipe& handle() { return *pipe_; }

 private:
  PipeListener(loop::HandlePtr<loop::Pipe> pipe, std::string path,
               PipeListenOptions options);

  loop::HandlePtr<loop::Pipe> pipe_;
  std::string path_;
  PipeListenOptions options_;
  io_internal::AcceptQueue accept_;
};

// Serve runs handler(stream) in a task of its own for each connection
// accepted on `listener`, as Serve does for TCP (runtime/io/tcp.h): until
// the listener is closed (OK once the connections ended) or a lasting
// accept error; a kill or cancellation around it kills the connections;
// an exception from a handler kills the others and is rethrown.
absl::Status Serve(PipeListener& listener,
                   std::function<void(PipeStream&)> handler);

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_PIPE_H_
