// loop/status.h: libuv error codes as absl::Status.
//
// Every libuv failure in //loop goes through UvStatus, so a Status always
// names the operation, libuv's error name and its text:
//
//   int rc = uv_timer_start(&timer, cb, 10, 0);
//   absl::Status s = evergreen::loop::UvStatus(rc, "timer start");
//   // s.ToString() == "INVALID_ARGUMENT: timer start: EINVAL (invalid
//   // argument)" when rc == UV_EINVAL; s.ok() when rc >= 0.
#ifndef EVERGREEN_LOOP_STATUS_H_
#define EVERGREEN_LOOP_STATUS_H_

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace evergreen {
namespace loop {

// UvStatusCode maps a negative libuv error code to a status code: errno-based
// codes follow absl::ErrnoToStatusCode (UV_EINVAL -> kInvalidArgument,
// UV_ECONNREFUSED -> kUnavailable, UV_ENOENT -> kNotFound, UV_ETIMEDOUT ->
// kDeadlineExceeded, UV_ECANCELED -> kCancelled); UV_EOF -> kOutOfRange;
// getaddrinfo codes: UV_EAI_NONAME/UV_EAI_NODATA -> kNotFound, UV_EAI_AGAIN
// -> kUnavailable, UV_EAI_CANCELED -> kCancelled; anything else -> kUnknown.
// Returns kOk for codes >= 0. Thread-safe.
absl::StatusCode UvStatusCode(int uv_code);

namespace uv_status_internal {
// UvErrorStatus is UvStatus's out-of-line part (for uv_code < 0).
absl::Status UvErrorStatus(int uv_code, absl::string_view operation);
}  // namespace uv_status_internal

// UvStatus returns OkStatus() when uv_code >= 0, otherwise a Status with
// UvStatusCode(uv_code) and the message
// "<operation>: <UV_ERR_NAME> (<strerror>)", e.g.
// "connect 127.0.0.1:9: ECONNREFUSED (connection refused)". Thread-safe.
// Inline: on success it costs a test; the message is built out of line.
inline absl::Status UvStatus(int uv_code, absl::string_view operation) {
  if (ABSL_PREDICT_TRUE(uv_code >= 0)) return absl::OkStatus();
  return uv_status_internal::UvErrorStatus(uv_code, operation);
}

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_STATUS_H_
