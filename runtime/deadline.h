// runtime/deadline.h: Deadline, a point on the monotonic clock (or never)
// by which a blocking call must complete.
//
//   absl::Status s = event.Wait(evergreen::runtime::Deadline::After(
//       absl::Milliseconds(50)));   // DeadlineExceeded if not set in time
//
// A value type; thread-compatible.
#ifndef EVERGREEN_RUNTIME_DEADLINE_H_
#define EVERGREEN_RUNTIME_DEADLINE_H_

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace evergreen {
namespace runtime {

class Deadline {
 public:
  // Never: a call without a deadline (the default).
  constexpr Deadline() = default;
  static constexpr Deadline Never() { return Deadline(); }
  // After: `timeout` from now on the monotonic clock; zero or negative means
  // already expired (the call only succeeds if it needs no waiting).
  static Deadline After(absl::Duration timeout) {
    if (timeout >= absl::Hours(24 * 365 * 100)) return Never();
    int64_t ns =
        absl::ToInt64Nanoseconds(std::max(timeout, absl::ZeroDuration()));
    return Deadline(NowNanos() + ns);
  }
  // At: an absolute monotonic time in nanoseconds (see NowNanos).
  static constexpr Deadline At(int64_t monotonic_ns) {
    return Deadline(monotonic_ns);
  }
  // NowNanos: the monotonic clock the deadlines use (uv_hrtime).
  static int64_t NowNanos() { return static_cast<int64_t>(uv_hrtime()); }

  bool is_never() const { return ns_ == kNever; }
  int64_t nanos() const { return ns_; }
  bool Expired() const { return !is_never() && NowNanos() >= ns_; }
  // Remaining time, zero when expired, InfiniteDuration for Never.
  absl::Duration Remaining() const {
    if (is_never()) return absl::InfiniteDuration();
    return absl::Nanoseconds(std::max<int64_t>(0, ns_ - NowNanos()));
  }
  // The earlier of two deadlines.
  static Deadline Earliest(Deadline a, Deadline b) {
    return a.ns_ <= b.ns_ ? a : b;
  }

  friend bool operator==(Deadline a, Deadline b) { return a.ns_ == b.ns_; }
  friend bool operator<(Deadline a, Deadline b) { return a.ns_ < b.ns_; }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  constexpr explicit Deadline(int64_t ns) : ns_(ns) {}
  int64_t ns_ = kNever;
};

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_DEADLINE_H_
