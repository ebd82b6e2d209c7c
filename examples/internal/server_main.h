// server_main.h: what the //examples servers' main() functions share (the
// TLS flags turned into a context, and a serve loop bounded by
// --max_seconds). Private to //examples.
//
//   std::shared_ptr<tls::ServerContext> context;  // stays null without --tls
//   if (int status = LoadServerTls("echo_server", absl::GetFlag(FLAGS_tls),
//                                  absl::GetFlag(FLAGS_cert),
//                                  absl::GetFlag(FLAGS_key), &context);
//       status != 0) {
//     return status;
//   }
//   ...
//   CancelScope scope;  // cancelled by a forced shutdown
//   absl::Status s = ServeUntilStopped(scope, absl::GetFlag(FLAGS_max_seconds),
//                                      [&] { result = io::Serve(...); });
#ifndef EVERGREEN_EXAMPLES_INTERNAL_SERVER_MAIN_H_
#define EVERGREEN_EXAMPLES_INTERNAL_SERVER_MAIN_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "runtime/cancel.h"
#include "tls/context.h"

namespace evergreen {
namespace examples_internal {

// Makes the server TLS context that --tls, --cert and --key ask for. Returns
// 0 with *context set (left null when `tls` is false); or prints
// "<program>: <why>" on stderr and returns main()'s exit status: 2 when
// `tls` is set without both files (a usage error), 1 when the context
// cannot be made (a file missing or unusable).
int LoadServerTls(const char* program, bool tls, const std::string& cert_file,
                  const std::string& key_file,
                  std::shared_ptr<tls::ServerContext>* context);

// Runs `serve` inside `scope`, for at most `max_seconds` when it is above 0
// (then the time limit cancels `serve`). The time limit (DEADLINE_EXCEEDED)
// and a cancellation of `scope` (CANCELLED: a forced shutdown) are normal
// ends and return OK; any other error of the scope is returned. Call it from
// a task.
absl::Status ServeUntilStopped(runtime::CancelScope& scope, double max_seconds,
                               absl::FunctionRef<void()> serve);

}  // namespace examples_internal
}  // namespace evergreen

#endif  // EVERGREEN_EXAMPLES_INTERNAL_SERVER_MAIN_H_
