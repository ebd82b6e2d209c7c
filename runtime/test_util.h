// runtime/test_util.h: helpers shared by the runtime's tests (testonly).
#ifndef EVERGREEN_RUNTIME_TEST_UTIL_H_
#define EVERGREEN_RUNTIME_TEST_UTIL_H_

#include <memory>
#include <stdexcept>
#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/event_loop.h"

namespace evergreen {
namespace runtime {

// NewLoop creates the thread's event loop. If that fails the test fails and
// its body is left (gtest reports the exception): no test runs on a null
// loop.
inline std::unique_ptr<EventLoop> NewLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) {
    ADD_FAILURE() << loop.status();
    throw std::runtime_error("test set-up: " + loop.status().ToString());
  }
  return *std::move(loop);
}

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_TEST_UTIL_H_
