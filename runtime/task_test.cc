#include "runtime/task.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "loop/idle.h"
#include "loop/timer.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace {

TEST(EventLoopTest, CallbacksRunFifoAndTimersInOrder) {
  auto loop = NewLoop();
  std::vector<std::string> order;
  loop->CallLater(absl::Milliseconds(20), [&] { order.push_back("t20"); });
  loop->CallLater(absl::Milliseconds(5), [&] { order.push_back("t5"); });
  TimerHandle cancelled =
      loop->CallLater(absl::Milliseconds(1), [&] { order.push_back("never"); });
  EXPECT_TRUE(cancelled.Cancel());
  EXPECT_FALSE(cancelled.Cancel());
  loop->CallSoon([&] {
    order.push_back("a");
    loop->CallSoon([&] { order.push_back("c"); });
  });
  loop->CallSoon([&] { order.push_back("b"); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "t5", "t20"}));
}

// A task woken by a libuv callback that runs before the poll (a due libuv
// timer, a prepare handle) runs in the same loop round. Before the
// fix, uv_run(ONCE) went on to block in the poll until the runtime's next
// timer: here the 30 s guard, which would then fire first.
TEST(EventLoopTest, WorkMadeReadyBeforeThePollDoesNotWaitForTheNextTimer) {
  auto loop = NewLoop();
  bool guard_fired = false;
  TimerHandle guard =
      loop->CallLater(absl::Seconds(30), [&] { guard_fired = true; });
  int woken = 0;
  auto task = Task::Spawn([&] {
    for (int round = 0; round < 3; ++round) {
      Event event;
      auto timer = loop::Timer::Create(loop->io());
      ASSERT_TRUE(timer->Start(0, 0, [&](loop::Timer&) { event.Set(); }).ok());
      ASSERT_TRUE(event.Wait().ok());
      ++woken;
    }
    // A prepare callback runs just before the poll, too.
    auto prepare = loop::Prepare::Create(loop->io());
    Event event;
    ASSERT_TRUE(prepare
                    ->Start([&](loop::Prepare& h) {
                      (void)h.Stop();
                      event.Set();
                    })
                    .ok());
    ASSERT_TRUE(event.Wait().ok());
    ++woken;
    EXPECT_FALSE(guard_fired);
    guard.Cancel();
  });
  ASSERT_TRUE(task.ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(woken, 4);
  EXPECT_FALSE(guard_fired);
}

TEST(EventLoopTest, OneLoopPerThread) {
  auto loop = NewLoop();
  EXPECT_EQ(EventLoop::Current(), loop.get());
  EXPECT_EQ(EventLoop::Create().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TaskTest, SpawnJoinAndSleep) {
  auto loop = NewLoop();
  std::vector<std::string> order;
  auto sleeper = Task::Spawn(
      [&](int ms) {
        order.push_back("sleeper start");
        ASSERT_TRUE(Sleep(absl::Milliseconds(ms)).ok());
        order.push_back("sleeper end");
      },
      5);
  ASSERT_TRUE(sleeper.ok());
  auto joiner = Task::Spawn([&] {
    order.push_back("joiner start");
    ASSERT_TRUE((*sleeper)->Join().ok());
    order.push_back("joined");
  });
  ASSERT_TRUE(joiner.ok());
  EXPECT_TRUE((*sleeper)->IsAlive());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"sleeper start", "joiner start",
                                             "sleeper end", "joined"}));
  EXPECT_FALSE((*sleeper)->IsAlive());
  EXPECT_EQ(loop->TaskCount(), 0u);
}

TEST(TaskTest, JoinTimesOut) {
  auto loop = NewLoop();
  Event never;
  auto blocked = *Task::Spawn([&] { (void)never.Wait(); });
  absl::Status join;
  auto joiner = *Task::Spawn([&] {
    join = blocked->Join(Deadline::After(absl::Milliseconds(5)));
    never.Set();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(join.code(), absl::StatusCode::kDeadlineExceeded) << join;
  EXPECT_FALSE(blocked->IsAlive());
}

TEST(TaskTest, BlockingOutsideATaskIsAnError) {
  auto loop = NewLoop();
  EXPECT_EQ(Sleep(absl::Milliseconds(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Yield().code(), absl::StatusCode::kFailedPrecondition);
  Event e;
  EXPECT_EQ(e.Wait().code(), absl::StatusCode::kFailedPrecondition);
  absl::Status in_callback;
  loop->CallSoon([&] { in_callback = Sleep(absl::Milliseconds(1)); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(in_callback.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TaskTest, YieldInterleavesFifo) {
  auto loop = NewLoop();
  std::string trace;
  for (char name : {'a', 'b', 'c'}) {
    ASSERT_TRUE(Task::Spawn([&trace, name] {
                  for (int i = 0; i < 3; ++i) {
                    trace += name;
                    ASSERT_TRUE(Yield().ok());
                  }
                }).ok());
  }
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(trace, "abcabcabc");
}

struct Tracker {
  explicit Tracker(int* n) : n(n) {}
  ~Tracker() { ++*n; }
  int* n;
};

TEST(TaskTest, KillUnwindsABlockedTaskFromAnotherTask) {
  auto loop = NewLoop();
  int destroyed = 0;
  bool after_wait = false;
  Event never;
  auto victim = *Task::Spawn([&] {
    Tracker t(&destroyed);
    (void)never.Wait();
    after_wait = true;
  });
  auto killer = *Task::Spawn([&] {
    EXPECT_EQ(never.Waiters(), 1u);
    ASSERT_TRUE(victim->Kill().ok());
    EXPECT_FALSE(victim->IsAlive());
    EXPECT_EQ(destroyed, 1);
    EXPECT_EQ(never.Waiters(), 0u);  // the waiter left the queue
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(victim->killed());
  EXPECT_FALSE(after_wait);
  EXPECT_EQ(destroyed, 1);
}

TEST(TaskTest, KillFromACallbackDuringSleepAndSelfKill) {
  auto loop = NewLoop();
  int destroyed = 0;
  auto sleeper = *Task::Spawn([&] {
    Tracker t(&destroyed);
    (void)Sleep(absl::Hours(1));
  });
  loop->CallLater(absl::Milliseconds(2),
                  [&] { EXPECT_TRUE(sleeper->Kill().ok()); });
  auto self = *Task::Spawn([&] {
    Tracker t(&destroyed);
    (void)Task::Current()->Kill();
    ADD_FAILURE() << "Kill on itself returned";
  });
  ASSERT_TRUE(loop->Run().ok());  // the hour-long timer is gone
  EXPECT_EQ(destroyed, 2);
  EXPECT_TRUE(sleeper->killed());
  EXPECT_TRUE(self->killed());
}

TEST(TaskTest, UncaughtExceptionStopsTheLoopAndRethrows) {
  auto loop = NewLoop();
  ASSERT_TRUE(Task::Spawn([] { throw std::runtime_error("boom"); }).ok());
  EXPECT_THROW(
      {
        try {
          (void)loop->Run();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "boom");
          throw;
        }
      },
      std::runtime_error);
}

TEST(TaskTest, CustomExceptionHandlerSeesTheTask) {
  auto loop = NewLoop();
  std::vector<std::string> seen;
  loop->SetExceptionHandler([&](Task* t, std::exception_ptr) {
    seen.push_back(t == nullptr ? "callback" : t->name());
  });
  ASSERT_TRUE(Task::SpawnWith(TaskOptions{"thrower"}, [] {
                throw std::logic_error("x");
              }).ok());
  loop->CallSoon([] { throw 42; });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"thrower", "callback"}));
}

TEST(TaskTest, DeadlockIsReported) {
  auto loop = NewLoop();
  Event never;
  ASSERT_TRUE(
      Task::SpawnWith(TaskOptions{"stuck"}, [&] { (void)never.Wait(); }).ok());
  absl::Status s = loop->Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("stuck"), std::string::npos) << s;
}

TEST(CancelScopeTest, TimeoutInterruptsAnyBlockingCall) {
  auto loop = NewLoop();
  int destroyed = 0;
  absl::Status s;
  bool after = false;
  Event never;
  ASSERT_TRUE(Task::Spawn([&] {
                s = WithTimeout(absl::Milliseconds(5), [&] {
                  Tracker t(&destroyed);
                  (void)never.Wait();
                  after = true;
                });
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_FALSE(after);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(never.Waiters(), 0u);
}

TEST(CancelScopeTest, NestedScopesOuterDeadlineWins) {
  auto loop = NewLoop();
  absl::Status inner, outer;
  ASSERT_TRUE(Task::Spawn([&] {
                outer = WithTimeout(absl::Milliseconds(5), [&] {
                  inner = WithTimeout(absl::Hours(1),
                                      [&] { (void)Sleep(absl::Hours(2)); });
                  ADD_FAILURE() << "outer scope body went on";
                });
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(outer.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(inner.ok());  // never returned: the exception passed through
}

TEST(CancelScopeTest, CancelFromAnotherTaskAndCancelledScopeFailsFast) {
  auto loop = NewLoop();
  CancelScope scope;
  absl::Status s;
  int blocking_calls_after_cancel = 0;
  Event never;
  ASSERT_TRUE(Task::Spawn([&] {
                s = scope.Run([&] {
                  try {
                    (void)never.Wait();
                  } catch (const Cancelled&) {
                    // A cancelled scope: every later blocking call throws.
                    try {
                      (void)Sleep(absl::Milliseconds(1));
                    } catch (const Cancelled&) {
                      ++blocking_calls_after_cancel;
                    }
                    throw;
                  }
                });
              }).ok());
  ASSERT_TRUE(Task::Spawn([&] { scope.Cancel(); }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(blocking_calls_after_cancel, 1);
}

TEST(CancelScopeTest, PerCallDeadlineIsAValueNotAnException) {
  auto loop = NewLoop();
  Event e;
  absl::Status first, second;
  ASSERT_TRUE(Task::Spawn([&] {
                first = e.Wait(Deadline::After(absl::Milliseconds(2)));
                loop->CallLater(absl::Milliseconds(1), [&] { e.Set(); });
                second = e.Wait(Deadline::After(absl::Seconds(10)));
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(first.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(second.ok());
}

TEST(CancelScopeTest, ShieldKeepsAnExpiredOuterTimeoutOut) {
  auto loop = NewLoop();
  absl::Status outer, shielded_sleep = absl::UnknownError("not run"),
                      shield = absl::UnknownError("not run");
  bool went_on_after_shield = false;
  ASSERT_TRUE(Task::Spawn([&] {
                outer = WithTimeout(absl::Milliseconds(2), [&] {
                  shield = Shielded([&] {
                    // Outlives the outer timeout, undisturbed.
                    shielded_sleep = Sleep(absl::Milliseconds(20));
                  });
                  // Out of the shield: the expired timeout strikes here.
                  (void)Sleep(absl::Milliseconds(1));
                  went_on_after_shield = true;
                });
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(shielded_sleep.ok()) << shielded_sleep;
  EXPECT_TRUE(shield.ok()) << shield;
  EXPECT_FALSE(went_on_after_shield);
  EXPECT_EQ(outer.code(), absl::StatusCode::kDeadlineExceeded) << outer;
}

TEST(CancelScopeTest, ShieldKeepsAnOuterCancelOutUntilItEnds) {
  auto loop = NewLoop();
  CancelScope scope;
  Event cancelled, release;
  absl::Status s, wait_in_shield = absl::UnknownError("not run");
  int blocking_after = 0;
  ASSERT_TRUE(Task::Spawn([&] {
                s = scope.Run([&] {
                  (void)Shielded([&] {
                    wait_in_shield = release.Wait();
                    // Cancelled meanwhile, and still free to block here.
                    EXPECT_TRUE(Yield().ok());
                  });
                  ++blocking_after;
                  (void)Sleep(absl::Milliseconds(1));
                  ++blocking_after;  // never reached
                });
              }).ok());
  ASSERT_TRUE(Task::Spawn([&] {
                scope.Cancel();
                EXPECT_TRUE(Yield().ok());
                release.Set();
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(wait_in_shield.ok()) << wait_in_shield;
  EXPECT_EQ(blocking_after, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

TEST(CancelScopeTest, AShieldedScopeKeepsItsOwnDeadlineAndInnerScopes) {
  auto loop = NewLoop();
  absl::Status own, inner;
  CancelScope inner_scope;
  ASSERT_TRUE(Task::Spawn([&] {
                EXPECT_TRUE(WithTimeout(absl::Hours(1), [&] {
                              CancelScope shielded(
                                  Deadline::After(absl::Milliseconds(2)));
                              shielded.SetShield(true);
                              EXPECT_TRUE(shielded.shield());
                              own = shielded.Run([&] {
                                // A scope inside the shield is still
                                // cancellable.
                                inner = inner_scope.Run(
                                    [&] { (void)Sleep(absl::Hours(1)); });
                                (void)Sleep(absl::Hours(1));
                              });
                            }).ok());
              }).ok());
  ASSERT_TRUE(Task::Spawn([&] { inner_scope.Cancel(); }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(inner.code(), absl::StatusCode::kCancelled) << inner;
  EXPECT_EQ(own.code(), absl::StatusCode::kDeadlineExceeded) << own;
}

TEST(CancelScopeTest, AKillGoesThroughAShield) {
  auto loop = NewLoop();
  int destroyed = 0;
  struct Tracker {
    int* n;
    ~Tracker() { ++*n; }
  };
  absl::StatusOr<std::shared_ptr<Task>> victim = Task::Spawn([&] {
    (void)Shielded([&] {
      Tracker t{&destroyed};
      (void)Sleep(absl::Hours(1));
      ADD_FAILURE() << "slept an hour";
    });
    ADD_FAILURE() << "the kill was stopped by the shield";
  });
  ASSERT_TRUE(victim.ok());
  absl::Status kill = absl::UnknownError("not run");
  ASSERT_TRUE(Task::Spawn([&] { kill = (*victim)->Kill(); }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(kill.ok()) << kill;
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE((*victim)->IsAlive());
}

TEST(CancelScopeTest, ShieldedOutsideATaskIsAnError) {
  auto loop = NewLoop();
  bool ran = false;
  absl::Status s = Shielded([&] { ran = true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_FALSE(ran);
}

TEST(EventLoopTest, CallFromThreadFromManyThreads) {
  auto loop = NewLoop();
  constexpr int kThreads = 8, kEach = 1000;
  int received = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(loop->CallFromThread([&] {
                          if (++received == kThreads * kEach) loop->Stop();
                        })
                        .ok());
      }
    });
  }
  ASSERT_TRUE(loop->RunForever().ok());
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(received, kThreads * kEach);
}

TEST(EventLoopTest, DestroyingTheLoopKillsLiveTasks) {
  int destroyed = 0;
  std::shared_ptr<Task> task;
  {
    auto loop = NewLoop();
    Event never;
    task = *Task::Spawn([&] {
      Tracker t(&destroyed);
      (void)never.Wait();
    });
    EXPECT_FALSE(loop->Run().ok());  // deadlock reported
  }
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(task->IsAlive());
}

TEST(TaskTest, ChildFinishingWhileItsCreatorIsBlockedReturnsToTheLoop) {
  auto loop = NewLoop();
  std::vector<std::string> order;
  std::weak_ptr<Task> parent_weak;
  {
    auto parent = *Task::Spawn([&] {
      auto child = *Task::Spawn([&] { order.push_back("child"); });
      order.push_back("parent spawned");
      ASSERT_TRUE(Yield().ok());
      order.push_back("parent after yield 1");
      ASSERT_TRUE(Yield().ok());
      order.push_back("parent after yield 2");
    });
    parent_weak = parent;
  }
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"parent spawned", "child",
                                             "parent after yield 1",
                                             "parent after yield 2"}));
  EXPECT_TRUE(parent_weak.expired());  // nothing leaked
}

TEST(TaskTest, HundredThousandTasksAlive) {
  auto loop = NewLoop();
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kTasks = 4000;
#else
  constexpr int kTasks = 100000;
#endif
  Event go;
  int done = 0;
  TaskOptions options;
  options.stack_size = 16 * 1024;
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(Task::SpawnWith(options, [&] {
                  (void)go.Wait();
                  ++done;
                }).ok());
  }
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(go.Waiters(), static_cast<size_t>(kTasks));
    EXPECT_EQ(loop->TaskCount(), static_cast<size_t>(kTasks));
    go.Set();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(done, kTasks);
}

// Two tasks waking each other hand the CPU over directly (no trip through
// the loop); a timer must still fire and a callback queued meanwhile must
// still run, in bounded time.
TEST(TaskTest, HandOffsDoNotStarveTimersOrCallbacks) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  Event ping, pong;
  bool timer_fired = false, callback_ran = false, stop = false;
  long round_trips = 0;
  constexpr long kMaxRoundTrips = 5000000;  // bounds the test if starved
  (*loop)->CallLater(absl::Milliseconds(1), [&] { timer_fired = true; });
  auto peer = Task::Spawn([&] {
    for (;;) {
      ASSERT_TRUE(ping.Wait().ok());
      ping.Clear();
      if (stop) return;
      pong.Set();
    }
  });
  ASSERT_TRUE(peer.ok());
  auto main_task = Task::Spawn([&] {
    (*loop)->CallSoon([&] { callback_ran = true; });
    while (round_trips < kMaxRoundTrips && !(timer_fired && callback_ran)) {
      ++round_trips;
      ping.Set();
      ASSERT_TRUE(pong.Wait().ok());
      pong.Clear();
    }
    stop = true;
    ping.Set();
  });
  ASSERT_TRUE(main_task.ok());
  ASSERT_TRUE((*loop)->Run().ok());
  EXPECT_TRUE(timer_fired);
  EXPECT_TRUE(callback_ran);
  EXPECT_LT(round_trips, kMaxRoundTrips);
  EXPECT_FALSE((*peer)->IsAlive());
}

// Hand-offs keep FIFO order: tasks woken in order A, B, C run in that order
// even though the waker blocks right after waking them.
TEST(TaskTest, HandOffsKeepFifoOrder) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  Event go;
  std::vector<int> order;
  std::vector<std::shared_ptr<Task>> tasks;
  for (int i = 0; i < 3; ++i) {
    auto t = Task::Spawn([&, i] {
      ASSERT_TRUE(go.Wait().ok());
      order.push_back(i);
    });
    ASSERT_TRUE(t.ok());
    tasks.push_back(*t);
  }
  auto waker = Task::Spawn([&] {
    go.Set();
    for (auto& t : tasks) ASSERT_TRUE(t->Join().ok());
    order.push_back(99);
  });
  ASSERT_TRUE(waker.ok());
  ASSERT_TRUE((*loop)->Run().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 99}));
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
