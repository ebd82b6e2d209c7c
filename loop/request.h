// loop/request.h: the base of one-shot libuv requests started through //loop
// (filesystem operations, DNS lookups, thread-pool work).
//
// A request is started by a function that returns a std::shared_ptr to it;
// the loop holds its own reference until the request's callback has run, so
// the caller may drop the pointer at once (fire and forget) or keep it to
// cancel the request or read its result later:
//
//   absl::StatusOr<std::shared_ptr<evergreen::loop::FsRequest>> req =
//       evergreen::loop::fs::Stat(loop, "/tmp", [](FsRequest& r) { ... });
//   if (req.ok()) (void)(*req)->Cancel();  // the callback sees Cancelled
//
// Lifetime: the callback runs exactly once, on the loop thread, with
// CANCELLED if Cancel() won the race with the thread pool. Destroying the
// Loop cancels every request still pending and waits for those already
// running in the thread pool; their callbacks run (with CANCELLED when the
// cancel took), so nothing is lost silently. Loop thread only.
#ifndef EVERGREEN_LOOP_REQUEST_H_
#define EVERGREEN_LOOP_REQUEST_H_

#include <uv.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

class Request {
 public:
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  virtual ~Request();

  // Cancel cancels a request still waiting in libuv's thread pool queue; its
  // callback then runs with a CANCELLED status. Returns FailedPrecondition
  // ("<type> cancel: EBUSY ...") once the request is executing or done.
  absl::Status Cancel();

  // InFlight returns whether the callback has not run yet.
  bool InFlight() const { return in_flight_; }

  // set_user_data / user_data: an opaque pointer for the caller, not owned.
  void set_user_data(void* data) { user_data_ = data; }
  void* user_data() const { return user_data_; }

  // TypeName returns libuv's name for the request type ("fs", "getaddrinfo",
  // "work"...).
  absl::string_view TypeName() const;

  // loop returns the owning loop.
  Loop& loop() const { return *loop_; }

  // Submitted records that libuv accepted the request: the loop keeps `self`
  // alive until Completed(). For the functions that start requests (fs, dns,
  // work), right after a successful uv_* call.
  static void Submitted(std::shared_ptr<Request> self);

 protected:
  // `raw` points into the derived object.
  Request(Loop& loop, uv_req_t* raw);

  // Completed drops the loop's reference; call it last in the libuv
  // callback, after the user callback ran. May free the request.
  void Completed();

 private:
  friend class Loop;
  Loop* loop_;
  uv_req_t* raw_;
  bool in_flight_ = false;
  void* user_data_ = nullptr;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_REQUEST_H_
