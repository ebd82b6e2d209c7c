#include "tls/internal/ssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace evergreen {
namespace tls {
namespace tls_internal {

std::string TakeSslError(uint32_t* packed) {
  uint32_t first = ERR_get_error();
  ERR_clear_error();
  if (packed != nullptr) *packed = first;
  if (first == 0) return "";
  char buf[256];
  ERR_error_string_n(first, buf, sizeof(buf));
  return buf;
}

absl::Status SslStatus(absl::StatusCode code, absl::string_view operation,
                       absl::string_view detail) {
  std::string error = TakeSslError();
  std::string message = absl::StrCat(operation, ": ", detail);
  if (!error.empty()) absl::StrAppend(&message, ": ", error);
  return absl::Status(code, message);
}

}  // namespace tls_internal
}  // namespace tls
}  // namespace evergreen
