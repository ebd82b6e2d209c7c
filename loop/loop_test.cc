#include "loop/loop.h"

#include <uv.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loop/idle.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

TEST(LoopTest, EmptyLoopRunsAndCloses) {
  Loop loop;
  EXPECT_FALSE(loop.Alive());
  EXPECT_FALSE(loop.Run(RunMode::kDefault));
  EXPECT_FALSE(loop.Run(RunMode::kOnce));
  EXPECT_FALSE(loop.Run(RunMode::kNoWait));
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, DefaultLoopIsASingleton) {
  Loop& a = Loop::Default();
  Loop& b = Loop::Default();
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.raw(), uv_default_loop());
  int fired = 0;
  auto timer = Timer::Create(a);
  ASSERT_TRUE(timer->Start(1, 0, [&](Timer&) { ++fired; }).ok());
  EXPECT_FALSE(a.Run());
  EXPECT_EQ(fired, 1);
  timer.reset();
  a.Run(RunMode::kNoWait);  // runs the close callback
  int seen = 0;
  a.Walk([&](Handle&) { ++seen; });
  EXPECT_EQ(seen, 0);
}

TEST(LoopTest, RunModesReportRemainingHandles) {
  Loop loop;
  auto timer = Timer::Create(loop);
  int fired = 0;
  ASSERT_TRUE(timer
                  ->Start(0, 1,
                          [&](Timer& t) {
                            if (++fired == 3) {
                              ASSERT_TRUE(t.Stop().ok());
                            }
                          })
                  .ok());
  EXPECT_TRUE(loop.Alive());
  EXPECT_TRUE(loop.Run(RunMode::kNoWait));  // repeating: still active
  EXPECT_GE(fired, 0);
  while (loop.Run(RunMode::kOnce)) {
  }
  EXPECT_EQ(fired, 3);
  EXPECT_FALSE(loop.Alive());
  timer.reset();
  EXPECT_FALSE(loop.Run(RunMode::kDefault));
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, StopEndsRunAfterTheIteration) {
  Loop loop;
  auto idle = Idle::Create(loop);
  int calls = 0;
  ASSERT_TRUE(idle->Start([&](Idle&) {
                    ++calls;
                    loop.Stop();
                  })
                  .ok());
  EXPECT_TRUE(loop.Run());  // stopped with the idle handle still active
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(loop.Run());
  EXPECT_EQ(calls, 2);
  ASSERT_TRUE(idle->Close().ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, TimeAndBackend) {
  Loop loop;
  uint64_t before = loop.Now();
  uint64_t hr = Loop::HrTime();
  uv_sleep(5);
  EXPECT_EQ(loop.Now(), before);  // cached
  loop.UpdateTime();
  EXPECT_GE(loop.Now(), before + 4);
  EXPECT_GE(Loop::HrTime(), hr + 4'000'000);
  EXPECT_GE(loop.BackendFd(), 0);
  EXPECT_EQ(loop.BackendTimeout(), 0);  // nothing active: no wait
  auto timer = Timer::Create(loop);
  ASSERT_TRUE(timer->Start(10'000, 0, [](Timer&) {}).ok());
  EXPECT_TRUE(loop.Run(RunMode::kNoWait));
  EXPECT_GT(loop.BackendTimeout(), 9'000);
  EXPECT_LE(loop.BackendTimeout(), 10'000);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, WalkSeesOpenHandles) {
  Loop loop;
  auto timer = Timer::Create(loop);
  auto idle = Idle::Create(loop);
  std::vector<std::string> types;
  loop.Walk([&](Handle& h) { types.emplace_back(h.TypeName()); });
  std::sort(types.begin(), types.end());
  EXPECT_EQ(types, (std::vector<std::string>{"idle", "timer"}));
  int closed = 0;
  loop.Walk([&](Handle& h) {
    ASSERT_TRUE(h.Close([&](Handle&) { ++closed; }).ok());
  });
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(closed, 2);
  int seen = 0;
  loop.Walk([&](Handle&) { ++seen; });
  EXPECT_EQ(seen, 0);
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, CloseListsOpenHandlesAndKeepsTheLoopUsable) {
  Loop loop;
  auto timer = Timer::Create(loop);
  ASSERT_TRUE(timer->Start(10'000, 0, [](Timer&) {}).ok());
  auto idle = Idle::Create(loop);
  absl::Status s = loop.Close();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);  // EBUSY
  EXPECT_NE(s.message().find("loop close: EBUSY"), std::string::npos) << s;
  EXPECT_NE(s.message().find("2 handle(s) still open"), std::string::npos);
  EXPECT_NE(s.message().find("timer (active)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("idle"), std::string::npos) << s;
  timer.reset();
  idle.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
  EXPECT_EQ(loop.Close().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LoopTest, DestroyingTheLoopWithOpenHandlesClosesThem) {
  int closed = 0;
  HandlePtr<Timer> timer;
  HandlePtr<Idle> idle;
  {
    Loop loop;
    timer = Timer::Create(loop);
    ASSERT_TRUE(timer->Start(10'000, 0, [](Timer&) {}).ok());
    idle = Idle::Create(loop);
    ASSERT_TRUE(idle->Close([&](Handle&) { ++closed; }).ok());
    auto dropped = Timer::Create(loop);  // owner gone, close pending
    dropped.reset();
  }
  EXPECT_EQ(closed, 1);
  EXPECT_TRUE(timer->IsClosing());
  EXPECT_FALSE(timer->IsActive());
  EXPECT_EQ(timer->Start(1, 0, [](Timer&) {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(timer->Close().code(), absl::StatusCode::kFailedPrecondition);
  timer.reset();  // freed now, without touching the destroyed loop
  idle.reset();
}

TEST(LoopTest, DefaultExceptionHandlerRethrowsFromRun) {
  Loop loop;
  auto a = Timer::Create(loop);
  auto b = Timer::Create(loop);
  int fired = 0;
  ASSERT_TRUE(a->Start(0, 0, [&](Timer&) {
                 ++fired;
                 throw std::runtime_error("first");
               }).ok());
  ASSERT_TRUE(b->Start(0, 0, [&](Timer&) {
                 ++fired;
                 throw std::runtime_error("second");  // printed to stderr
               }).ok());
  try {
    loop.Run();
    FAIL() << "Run did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_EQ(fired, 2);       // the iteration finished
  EXPECT_FALSE(loop.Run());  // nothing pending any more
  a.reset();
  b.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(LoopTest, CustomExceptionHandlerReceivesEveryException) {
  Loop loop;
  std::vector<std::string> seen;
  loop.SetExceptionHandler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen.emplace_back(ex.what());
    }
  });
  auto timer = Timer::Create(loop);
  int fired = 0;
  ASSERT_TRUE(timer
                  ->Start(0, 1,
                          [&](Timer& t) {
                            if (++fired == 3) {
                              ASSERT_TRUE(t.Stop().ok());
                            }
                            throw std::runtime_error("tick " +
                                                     std::to_string(fired));
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());  // keeps running: no stop, no rethrow
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"tick 1", "tick 2", "tick 3"}));
  // A handler that throws: both are printed, the loop goes on.
  loop.SetExceptionHandler(
      [](std::exception_ptr) { throw std::logic_error("handler"); });
  ASSERT_TRUE(timer
                  ->Start(0, 0,
                          [&](Timer&) {
                            ++fired;
                            throw 42;
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired, 4);
  loop.SetExceptionHandler(nullptr);  // back to the default
  ASSERT_TRUE(timer->Start(0, 0, [&](Timer&) { throw 7; }).ok());
  EXPECT_THROW(loop.Run(), int);
  timer.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(HandleTest, BaseBehaviour) {
  Loop loop;
  auto timer = Timer::Create(loop);
  EXPECT_TRUE(timer->HasRef());
  EXPECT_FALSE(timer->IsActive());
  EXPECT_FALSE(timer->IsClosing());
  EXPECT_EQ(&timer->loop(), &loop);
  EXPECT_EQ(timer->TypeName(), "timer");

  ASSERT_TRUE(timer->Start(10'000, 0, [](Timer&) {}).ok());
  EXPECT_TRUE(timer->IsActive());
  EXPECT_TRUE(loop.Alive());
  timer->Unref();
  EXPECT_FALSE(timer->HasRef());
  EXPECT_FALSE(loop.Alive());
  EXPECT_FALSE(loop.Run());  // an unref'd timer does not keep it running
  timer->Ref();
  EXPECT_TRUE(timer->HasRef());
  EXPECT_TRUE(loop.Alive());

  absl::StatusOr<int> fd = timer->Fileno();
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fd.status().message(), "fileno: EINVAL (invalid argument)");

  int data = 5;
  EXPECT_EQ(timer->user_data(), nullptr);
  timer->set_user_data(&data);
  EXPECT_EQ(timer->user_data(), &data);

  int closed = 0;
  ASSERT_TRUE(timer
                  ->Close([&](Handle& h) {
                    ++closed;
                    EXPECT_EQ(h.user_data(), &data);
                    EXPECT_TRUE(h.IsClosing());
                  })
                  .ok());
  EXPECT_TRUE(timer->IsClosing());
  EXPECT_EQ(timer->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(closed, 0);  // only from the loop
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(closed, 1);
  EXPECT_TRUE(timer->IsClosing());
  EXPECT_EQ(timer->Fileno().status().code(),
            absl::StatusCode::kFailedPrecondition);  // EBADF
  timer.reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(HandleTest, DestroyingTheOwnerInsideItsOwnCallback) {
  Loop loop;
  HandlePtr<Timer> timer = Timer::Create(loop);
  int fired = 0;
  ASSERT_TRUE(
      timer
          ->Start(
              0, 1,
              [&](Timer&) {
                ++fired;
                timer.reset();  // closes; memory freed after the close callback
              })
          .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(timer, nullptr);
  EXPECT_TRUE(loop.Close().ok());
}

TEST(HandleTest, DestroyingTheOwnerInsideTheCloseCallback) {
  Loop loop;
  HandlePtr<Idle> idle = Idle::Create(loop);
  int closed = 0;
  ASSERT_TRUE(idle->Close([&](Handle&) {
                    ++closed;
                    idle.reset();
                  })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(closed, 1);
  EXPECT_TRUE(loop.Close().ok());
}

TEST(HandleTest, ExceptionInCloseCallbackGoesToTheHandler) {
  Loop loop;
  auto idle = Idle::Create(loop);
  ASSERT_TRUE(idle->Close([](Handle&) { throw std::runtime_error("c"); }).ok());
  EXPECT_THROW(loop.Run(), std::runtime_error);
  idle.reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
