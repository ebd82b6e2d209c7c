#include "loop/work.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// The size of libuv's thread pool, computed as libuv 1.44 does.
int PoolSize() {
  const char* v = std::getenv("UV_THREADPOOL_SIZE");
  if (v == nullptr) return 4;
  int n = std::atoi(v);
  if (n == 0) return 1;
  if (n < 0 || n > 1024) return 1024;
  return n;
}

// Watchdog fails the test and stops the loop if it runs for 10 s. Unref'd:
// it does not keep the loop alive.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> timer = Timer::Create(loop);
  EXPECT_TRUE(timer
                  ->Start(10'000, 0,
                          [](Timer& t) {
                            ADD_FAILURE() << "watchdog: test took > 10 s";
                            t.loop().Stop();
                          })
                  .ok());
  timer->Unref();
  return timer;
}

// PoolBlocker occupies every thread of libuv's pool with a job that blocks
// until Release(), so that work queued afterwards deterministically waits
// in the queue. Released at the latest by its destructor.
class PoolBlocker {
 public:
  explicit PoolBlocker(Loop& loop) : state_(std::make_shared<State>()) {
    for (int i = 0; i < PoolSize(); ++i) {
      std::shared_ptr<State> state = state_;
      absl::StatusOr<std::shared_ptr<WorkRequest>> req = Work::Queue(
          loop,
          [state] {
            std::unique_lock<std::mutex> lock(state->mu);
            ++state->running;
            state->cv.notify_all();
            state->cv.wait(lock, [&] { return state->released; });
          },
          [state](WorkRequest& r) {
            EXPECT_TRUE(r.status().ok()) << r.status();
            ++state->done;  // loop thread only
          });
      EXPECT_TRUE(req.ok()) << req.status();
      if (req.ok()) requests_.push_back(*req);
    }
  }
  ~PoolBlocker() { Release(); }

  // WaitAllRunning waits (10 s at most) until a blocker runs on every pool
  // thread.
  bool WaitAllRunning() {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->cv.wait_for(lock, std::chrono::seconds(10),
                               [&] { return state_->running == PoolSize(); });
  }
  // Release lets the blockers return. Thread-safe.
  void Release() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->released = true;
    state_->cv.notify_all();
  }
  // done counts the blockers whose after callback ran with OK.
  int done() const { return state_->done; }
  const std::vector<std::shared_ptr<WorkRequest>>& requests() const {
    return requests_;
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int running = 0;
    bool released = false;
    int done = 0;
  };
  std::shared_ptr<State> state_;
  std::vector<std::shared_ptr<WorkRequest>> requests_;
};

TEST(WorkTest, RunsOnAPoolThreadThenAfterOnTheLoopThread) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  std::thread::id work_thread;
  std::thread::id after_thread;
  int works = 0;
  int afters = 0;
  absl::StatusOr<std::shared_ptr<WorkRequest>> req = Work::Queue(
      loop,
      [&] {
        work_thread = std::this_thread::get_id();
        ++works;
      },
      [&](WorkRequest& r) {
        after_thread = std::this_thread::get_id();
        ++afters;
        EXPECT_TRUE(r.status().ok()) << r.status();
        EXPECT_EQ(r.exception(), nullptr);
        EXPECT_TRUE(r.InFlight());
      });
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_TRUE((*req)->InFlight());
  EXPECT_EQ((*req)->TypeName(), "work");
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(works, 1);
  EXPECT_EQ(afters, 1);
  EXPECT_NE(work_thread, std::this_thread::get_id());
  EXPECT_EQ(after_thread, std::this_thread::get_id());
  EXPECT_FALSE((*req)->InFlight());
  // Done: too late to cancel.
  absl::Status cancel = (*req)->Cancel();
  EXPECT_FALSE(cancel.ok());
  EXPECT_EQ(cancel.message(), "work cancel: EBUSY (resource busy or locked)");
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, DroppedRequestStillRunsAndIsFreed) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  int works = 0;
  int afters = 0;
  std::weak_ptr<WorkRequest> weak;
  {
    absl::StatusOr<std::shared_ptr<WorkRequest>> req = Work::Queue(
        loop, [&] { ++works; }, [&](WorkRequest&) { ++afters; });
    ASSERT_TRUE(req.ok()) << req.status();
    weak = *req;
  }
  EXPECT_FALSE(weak.expired());  // the loop holds it
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(works, 1);
  EXPECT_EQ(afters, 1);
  EXPECT_TRUE(weak.expired());
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, CancelWhileQueued) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  PoolBlocker blocker(loop);
  ASSERT_TRUE(blocker.WaitAllRunning());
  // Running jobs cannot be cancelled.
  EXPECT_EQ(blocker.requests()[0]->Cancel().message(),
            "work cancel: EBUSY (resource busy or locked)");

  constexpr int kQueued = 3;
  int works = 0;  // must stay 0: cancelled work never runs
  int cancelled = 0;
  std::vector<std::shared_ptr<WorkRequest>> queued;
  for (int i = 0; i < kQueued; ++i) {
    absl::StatusOr<std::shared_ptr<WorkRequest>> req = Work::Queue(
        loop, [&] { ++works; },
        [&](WorkRequest& r) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
          EXPECT_EQ(r.status().message(),
                    "work: ECANCELED (operation canceled)");
          EXPECT_EQ(r.exception(), nullptr);
          if (++cancelled == kQueued) blocker.Release();
        });
    ASSERT_TRUE(req.ok()) << req.status();
    queued.push_back(*req);
  }
  for (const auto& req : queued) {
    absl::Status s = req->Cancel();
    EXPECT_TRUE(s.ok()) << s;
  }
  // In flight: the loop cannot close yet.
  absl::Status close = loop.Close();
  EXPECT_FALSE(close.ok());
  EXPECT_NE(close.message().find(
                absl::StrCat(PoolSize() + kQueued, " request(s) in flight")),
            absl::string_view::npos)
      << close;
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(cancelled, kQueued);
  EXPECT_EQ(works, 0);
  EXPECT_EQ(blocker.done(), PoolSize());
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, ExceptionInWorkIsCarriedToAfter) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  int afters = 0;
  auto req = Work::Queue(
      loop, [] { throw std::runtime_error("boom"); },
      [&](WorkRequest& r) {
        ++afters;
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
        EXPECT_EQ(r.status().message(), "work: exception: boom");
        ASSERT_NE(r.exception(), nullptr);
        EXPECT_THROW(std::rethrow_exception(r.exception()), std::runtime_error);
      });
  ASSERT_TRUE(req.ok()) << req.status();
  auto other = Work::Queue(
      loop, [] { throw 42; },
      [&](WorkRequest& r) {
        ++afters;
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
        EXPECT_EQ(r.status().message(),
                  "work: exception: (non-std::exception)");
        EXPECT_THROW(std::rethrow_exception(r.exception()), int);
      });
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(afters, 2);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, ExceptionInWorkWithoutAfterGoesToTheLoopHandler) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  std::vector<std::exception_ptr> caught;
  loop.SetExceptionHandler([&](std::exception_ptr e) { caught.push_back(e); });
  int works = 0;
  ASSERT_TRUE(Work::Queue(loop, [&] { ++works; }).ok());  // no after: fine
  ASSERT_TRUE(
      Work::Queue(loop, [] { throw std::runtime_error("lost?"); }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(works, 1);
  ASSERT_EQ(caught.size(), 1u);
  try {
    std::rethrow_exception(caught[0]);
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "lost?");
  }
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, ExceptionInAfterGoesToTheLoopHandler) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  int afters = 0;
  ASSERT_TRUE(Work::Queue(
                  loop, [] {},
                  [&](WorkRequest&) {
                    ++afters;
                    throw std::runtime_error("after");
                  })
                  .ok());
  // The default handler stops the loop and Run rethrows.
  EXPECT_THROW(loop.Run(), std::runtime_error);
  EXPECT_EQ(afters, 1);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, AfterMayQueueMoreWork) {
  Loop loop;
  auto watchdog = Watchdog(loop);
  int works = 0;
  int afters = 0;
  std::function<void(WorkRequest&)> after = [&](WorkRequest& r) {
    EXPECT_TRUE(r.status().ok());
    if (++afters < 3) {
      EXPECT_TRUE(Work::Queue(
                      r.loop(), [&] { ++works; }, after)
                      .ok());
    }
  };
  ASSERT_TRUE(Work::Queue(
                  loop, [&] { ++works; }, after)
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(works, 3);
  EXPECT_EQ(afters, 3);
  watchdog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(WorkTest, LoopDestroyedWhileWorkRunsWaitsAndRunsAfter) {
  absl::StatusOr<std::unique_ptr<Loop>> loop = Loop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool destroying = false;
  bool finished = false;  // set by the work; read after ~Loop
  int afters = 0;
  ASSERT_TRUE(Work::Queue(
                  **loop,
                  [&] {
                    std::unique_lock<std::mutex> lock(mu);
                    started = true;
                    cv.notify_all();
                    // Still running when the destructor starts.
                    cv.wait(lock, [&] { return destroying; });
                    finished = true;
                  },
                  [&](WorkRequest& r) {
                    ++afters;
                    EXPECT_TRUE(r.status().ok()) << r.status();
                  })
                  .ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(10), [&] { return started; }));
    destroying = true;
    cv.notify_all();
  }
  EXPECT_EQ(afters, 0);
  loop->reset();  // waits for the work, then runs `after`
  EXPECT_EQ(afters, 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(finished);
}

TEST(WorkTest, LoopDestroyedCancelsQueuedWork) {
  absl::StatusOr<std::unique_ptr<Loop>> loop = Loop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  auto blocker = std::make_unique<PoolBlocker>(**loop);
  ASSERT_TRUE(blocker->WaitAllRunning());
  int works = 0;
  int cancelled = 0;
  PoolBlocker* b = blocker.get();
  ASSERT_TRUE(Work::Queue(
                  **loop, [&] { ++works; },
                  [&](WorkRequest& r) {
                    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
                    ++cancelled;
                    // Only now may the running blockers end: the
                    // destructor cancelled this one while they ran.
                    b->Release();
                  })
                  .ok());
  loop->reset();
  EXPECT_EQ(works, 0);
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(blocker->done(), PoolSize());
}

TEST(WorkTest, EmptyWorkIsAnError) {
  Loop loop;
  int afters = 0;
  absl::StatusOr<std::shared_ptr<WorkRequest>> req =
      Work::Queue(loop, nullptr, [&](WorkRequest&) { ++afters; });
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(req.status().message(), "work: EINVAL (invalid argument)");
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(afters, 0);
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
