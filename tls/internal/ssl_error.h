// tls/internal/ssl_error.h: BoringSSL's thread-local error queue as text and
// absl::Status. Private to //tls.
#ifndef EVERGREEN_TLS_INTERNAL_SSL_ERROR_H_
#define EVERGREEN_TLS_INTERNAL_SSL_ERROR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace evergreen {
namespace tls {
namespace tls_internal {

// TakeSslError empties this thread's BoringSSL error queue and returns its
// earliest error (the most specific one) as ERR_error_string_n text, e.g.
// "error:1000009a:SSL routines:OPENSSL_internal:HTTP_REQUEST", or "" when
// the queue was empty. Stores the packed code in `*packed` if not null.
std::string TakeSslError(uint32_t* packed = nullptr);

// SslStatus returns a Status `code` with "<operation>: <detail>" followed by
// ": <TakeSslError()>" when the queue held an error (it is emptied).
absl::Status SslStatus(absl::StatusCode code, absl::string_view operation,
                       absl::string_view detail);

}  // namespace tls_internal
}  // namespace tls
}  // namespace evergreen

#endif  // EVERGREEN_TLS_INTERNAL_SSL_ERROR_H_
