#include "examples/internal/server_main.h"

#include <stdio.h>

#include <utility>

#include "absl/time/time.h"

namespace evergreen {
namespace examples_internal {

int LoadServerTls(const char* program, bool tls, const std::string& cert_file,
                  const std::string& key_file,
                  std::shared_ptr<tls::ServerContext>* context) {
  context->reset();
  if (!tls) return 0;
  if (cert_file.empty() || key_file.empty()) {
    fprintf(stderr, "%s: --tls needs --cert and --key\n", program);
    return 2;
  }
  tls::ServerContextOptions options;
  options.identities.push_back(
      tls::Identity{tls::Pem::File(cert_file), tls::Pem::File(key_file), {}});
  absl::StatusOr<std::shared_ptr<tls::ServerContext>> made =
      tls::ServerContext::Create(options);
  if (!made.ok()) {
    fprintf(stderr, "%s: %s\n", program, made.status().ToString().c_str());
    return 1;
  }
  *context = *std::move(made);
  return 0;
}

absl::Status ServeUntilStopped(runtime::CancelScope& scope, double max_seconds,
                               absl::FunctionRef<void()> serve) {
  absl::Status limit;
  absl::Status s = scope.Run([&] {
    if (max_seconds > 0) {
      limit =
          runtime::WithTimeout(absl::Seconds(max_seconds), [&] { serve(); });
    } else {
      serve();
    }
  });
  if (!limit.ok() && limit.code() != absl::StatusCode::kDeadlineExceeded) {
    return limit;
  }
  if (!s.ok() && s.code() != absl::StatusCode::kCancelled) return s;
  return absl::OkStatus();
}

}  // namespace examples_internal
}  // namespace evergreen
