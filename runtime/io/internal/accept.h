// runtime/io/internal/accept.h: the accepting side shared by the
// listeners (TcpListener, PipeListener). Not a public API.
#ifndef EVERGREEN_RUNTIME_IO_INTERNAL_ACCEPT_H_
#define EVERGREEN_RUNTIME_IO_INTERNAL_ACCEPT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "runtime/deadline.h"
#include "runtime/internal/wait.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

// AcceptQueue tracks the connection libuv holds for a listening handle:
// libuv accepts one connection, calls the listen callback and watches for
// no other until it is taken (uv_accept), so connections nobody accepts
// wait in the kernel's backlog.
class AcceptQueue {
 public:
  // OnConnection is what the listen callback does with its status.
  void OnConnection(absl::Status status);
  // Next waits until a connection is pending; OK then: take it with the
  // handle's Accept and call Taken. Otherwise the accept error (once, named
  // "accept <name>: ..."), FailedPrecondition "accept <name>: listener
  // closed", or DeadlineExceeded "accept <name>: deadline exceeded".
  // `handle` keeps the loop alive while a task waits. Throws when the task
  // is killed or cancelled; a pending connection stays for the next call.
  absl::Status Next(Task* me, loop::Handle& handle, absl::string_view name,
                    Deadline deadline);
  void Taken() { pending_ = false; }
  // Close marks the listener closed and wakes the tasks in Next.
  void Close();
  bool closed() const { return closed_; }

 private:
  bool pending_ = false;
  absl::Status error_;
  bool closed_ = false;
  runtime_internal::WaitQueue waiters_;
};

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_INTERNAL_ACCEPT_H_
