// loop/work.h: run a function on libuv's thread pool (uv_queue_work), then a
// callback on the loop thread.
//
//   evergreen::loop::Loop loop;
//   int result = 0;
//   absl::StatusOr<std::shared_ptr<evergreen::loop::WorkRequest>> req =
//       evergreen::loop::Work::Queue(
//           loop, [&] { result = Fibonacci(30); },  // on a pool thread
//           [&](evergreen::loop::WorkRequest& r) {  // on the loop thread
//             if (r.status().ok()) Use(result);
//           });
//   loop.Run();
//
// The thread pool is libuv's: process-wide, shared by every loop and by the
// filesystem and DNS requests, UV_THREADPOOL_SIZE threads (4 by default).
// Work that blocks for long holds a pool thread the whole time.
//
// Requests follow loop/request.h: the loop keeps the request alive until the
// after callback ran, Cancel() works while the work still waits in the
// pool's queue, and destroying the Loop cancels what waits and waits for
// what runs (their after callbacks run).
#ifndef EVERGREEN_LOOP_WORK_H_
#define EVERGREEN_LOOP_WORK_H_

#include <uv.h>

#include <exception>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"
#include "loop/request.h"

namespace evergreen {
namespace loop {

// WorkRequest is one queued function. Made by Work::Queue.
class WorkRequest final : public Request {
 public:
  // WorkFn runs on a pool thread.
  using WorkFn = std::function<void()>;
  // AfterFn runs on the loop thread once the work ran or was cancelled.
  using AfterFn = std::function<void(WorkRequest&)>;

  // status is, in the after callback and later: OK when the work function
  // returned; Cancelled ("work: ECANCELED (operation canceled)") when it was
  // cancelled before it started (it never ran); Unknown ("work: exception:
  // <what()>") when it threw. OK before the after callback ran.
  const absl::Status& status() const { return status_; }

  // exception returns what the work function threw (nullptr if it did not
  // throw), to rethrow or inspect on the loop thread. Set once the after
  // callback runs.
  std::exception_ptr exception() const { return exception_; }

 private:
  friend class Work;
  WorkRequest(Loop& loop, WorkFn work, AfterFn after);
  static void OnWork(uv_work_t* raw);
  static void OnAfterWork(uv_work_t* raw, int status);

  // The pool thread finds the request through `owner`, not through
  // req.data: Request::Submitted writes data after uv_queue_work returned,
  // when the work may already run.
  struct Raw {
    uv_work_t req;
    WorkRequest* owner;
  };

  Raw raw_;
  WorkFn work_;
  AfterFn after_;
  // Written on the pool thread; read on the loop thread after libuv handed
  // the request back (libuv's queue mutex orders the two).
  std::exception_ptr exception_;
  absl::Status status_;
};

// Work queues functions on the thread pool.
class Work final {
 public:
  Work() = delete;

  // Queue runs `work` on a pool thread, then `after` on the loop thread
  // (inside Loop::Run), exactly once, with the request (see
  // WorkRequest::status). `work` must not touch the loop or its handles
  // (they are loop thread only); it may throw: the exception is caught on
  // the pool thread and carried to the loop thread (WorkRequest::exception).
  // `after` may be empty: an exception from `work` then goes to the loop's
  // exception handler. An exception thrown by `after` goes to the loop's
  // exception handler too (see loop/loop.h). Both functions are destroyed on
  // the loop thread, after `after` ran.
  //
  // Returns the request (the caller may drop it: the loop keeps it until
  // `after` ran), or InvalidArgument ("work: EINVAL (invalid argument)") for
  // an empty `work`. Loop thread only.
  static absl::StatusOr<std::shared_ptr<WorkRequest>> Queue(
      Loop& loop, WorkRequest::WorkFn work,
      WorkRequest::AfterFn after = nullptr);
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_WORK_H_
