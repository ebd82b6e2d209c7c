#include "runtime/io/internal/op.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

bool Await(Task* me, Completion& c, Deadline deadline) {
  while (!c.done) {
    if (!runtime_internal::Wait(me, c.waiters, deadline) && !c.done) {
      return false;
    }
  }
  return true;
}

absl::Status Renamed(const absl::Status& s, absl::string_view operation) {
  if (s.ok()) return s;
  absl::string_view msg = s.message();
  size_t colon = msg.find(": ");
  absl::string_view rest =
      colon == absl::string_view::npos ? msg : msg.substr(colon + 2);
  return absl::Status(s.code(), absl::StrCat(operation, ": ", rest));
}

Counters& ThreadCounters() {
  thread_local Counters counters;
  return counters;
}

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen
