#include "loop/status.h"

#include <uv.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace evergreen {
namespace loop {

absl::StatusCode UvStatusCode(int uv_code) {
  if (uv_code >= 0) return absl::StatusCode::kOk;
  switch (uv_code) {
    case UV_EOF:
      return absl::StatusCode::kOutOfRange;
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
      return absl::StatusCode::kNotFound;
    case UV_EAI_AGAIN:
      return absl::StatusCode::kUnavailable;
    case UV_EAI_CANCELED:
      return absl::StatusCode::kCancelled;
    default:
      break;
  }
  // On Unix libuv's other codes are negated errno values (UV__ERR); its own
  // codes (UV_EAI_*, UV_ECHARSET, UV_UNKNOWN...) sit below -3000.
  if (uv_code > -3000) return absl::ErrnoToStatusCode(-uv_code);
  return absl::StatusCode::kUnknown;
}

namespace uv_status_internal {

absl::Status UvErrorStatus(int uv_code, absl::string_view operation) {
  if (uv_code >= 0) return absl::OkStatus();
  // The _r variants: uv_err_name() leaks a string for unknown codes.
  char name[64];
  char text[256];
  uv_err_name_r(uv_code, name, sizeof(name));
  uv_strerror_r(uv_code, text, sizeof(text));
  return absl::Status(UvStatusCode(uv_code),
                      absl::StrCat(operation, ": ", name, " (", text, ")"));
}

}  // namespace uv_status_internal

}  // namespace loop
}  // namespace evergreen
