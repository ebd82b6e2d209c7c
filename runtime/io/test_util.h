// runtime/io/test_util.h: helpers for the //runtime/io tests.
#ifndef EVERGREEN_RUNTIME_IO_TEST_UTIL_H_
#define EVERGREEN_RUNTIME_IO_TEST_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"
#include "loop/work.h"
#include "runtime/event_loop.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace testing {

inline std::unique_ptr<EventLoop> NewLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return std::move(*loop);
}

// Watchdog fails the test and stops the loop if it runs `seconds`; it does
// not keep the loop alive.
inline loop::HandlePtr<loop::Timer> Watchdog(EventLoop& el, int seconds = 8) {
  loop::HandlePtr<loop::Timer> timer = loop::Timer::Create(el.io());
  EventLoop* raw = &el;
  EXPECT_TRUE(timer
                  ->Start(static_cast<uint64_t>(seconds) * 1000, 0,
                          [raw, seconds](loop::Timer&) {
                            ADD_FAILURE()
                                << "watchdog: test took > " << seconds << " s";
                            raw->Stop();
                          })
                  .ok());
  timer->Unref();
  return timer;
}

// RunTask runs `fn` in a task on `el` until the loop has nothing left to
// do, and fails the test if the loop does not end cleanly.
inline void RunTask(EventLoop& el, std::function<void()> fn) {
  auto watchdog = Watchdog(el);
  auto task = Task::SpawnWith(TaskOptions{"main", 256 * 1024}, std::move(fn));
  ASSERT_TRUE(task.ok()) << task.status();
  absl::Status s = el.Run();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE((*task)->IsAlive());
  EXPECT_EQ(task->use_count(), 1) << "the loop still references the task";
}

// OpenHandles counts the loop's handles of libuv type `type` ("tcp") that
// are open and not closing.
inline int OpenHandles(EventLoop& el, absl::string_view type) {
  int n = 0;
  el.io().Walk([&](loop::Handle& h) {
    if (!h.IsClosing() && h.TypeName() == type) ++n;
  });
  return n;
}

// The size of libuv's thread pool, computed as libuv 1.44 does.
inline int PoolSize() {
  const char* v = std::getenv("UV_THREADPOOL_SIZE");
  if (v == nullptr) return 4;
  int n = std::atoi(v);
  if (n == 0) return 1;
  if (n < 0 || n > 1024) return 1024;
  return n;
}

// PoolBlocker occupies every thread of libuv's pool until Release(), so
// that requests started meanwhile deterministically wait in the queue.
class PoolBlocker {
 public:
  explicit PoolBlocker(loop::Loop& loop) : state_(std::make_shared<State>()) {
    for (int i = 0; i < PoolSize(); ++i) {
      std::shared_ptr<State> state = state_;
      auto req = loop::Work::Queue(loop, [state] {
        std::unique_lock<std::mutex> lock(state->mu);
        ++state->running;
        state->cv.notify_all();
        state->cv.wait(lock, [&] { return state->released; });
      });
      EXPECT_TRUE(req.ok()) << req.status();
    }
  }
  ~PoolBlocker() { Release(); }
  // WaitAllRunning waits (10 s at most) until every pool thread is blocked.
  bool WaitAllRunning() {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->cv.wait_for(lock, std::chrono::seconds(10),
                               [&] { return state_->running == PoolSize(); });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->released = true;
    state_->cv.notify_all();
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int running = 0;
    bool released = false;
  };
  std::shared_ptr<State> state_;
};

// CountersDelta reports how the thread's request counters moved since it
// was made.
class CountersDelta {
 public:
  CountersDelta() : start_(io_internal::ThreadCounters()) {}
  uint64_t abandoned() const {
    return io_internal::ThreadCounters().abandoned - start_.abandoned;
  }
  uint64_t late_callbacks() const {
    return io_internal::ThreadCounters().late_callbacks - start_.late_callbacks;
  }
  uint64_t cancelled() const {
    return io_internal::ThreadCounters().cancelled - start_.cancelled;
  }

 private:
  io_internal::Counters start_;
};

}  // namespace testing
}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_TEST_UTIL_H_
