#include "runtime/task_group.h"

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace {

// RunInTask runs `fn` in a task named "owner" and the loop until nothing is
// left; the loop must end cleanly (no deadlock, no exception reaching it).
void RunInTask(EventLoop& loop, std::function<void()> fn) {
  absl::StatusOr<std::shared_ptr<Task>> task =
      Task::SpawnWith(TaskOptions{"owner"}, std::move(fn));
  ASSERT_TRUE(task.ok()) << task.status();
  absl::Status s = loop.Run();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE((*task)->IsAlive());
  EXPECT_EQ(loop.TaskCount(), 0u);
}

struct Tracker {
  explicit Tracker(int* n) : n(n) {}
  ~Tracker() { ++*n; }
  int* n;
};

// SleepForever blocks until killed or cancelled; a return is a failure.
void SleepForever() {
  (void)Sleep(absl::Hours(1));
  ADD_FAILURE() << "slept an hour";
}

TEST(TaskGroupTest, RunReturnsOnlyAfterAllChildrenEnded) {
  auto loop = NewLoop();
  std::vector<std::string> order;
  absl::Status s = absl::UnknownError("not run");
  std::string first_child_name;
  // Child k ends when go[k] is set; a task outside the group sets them in
  // the order 1, 2, 3 once all three started (no timing involved).
  std::map<int, Event> go;
  RunInTask(*loop, [&] {
    auto releaser = Task::Spawn([&] {
      while (order.size() < 4) EXPECT_TRUE(Yield().ok());
      for (int k : {1, 2, 3}) {
        go[k].Set();
        EXPECT_TRUE(Yield().ok());  // child k runs (FIFO) before we go on
      }
    });
    ASSERT_TRUE(releaser.ok());
    s = TaskGroup::Run([&](TaskGroup& g) {
      for (int k : {3, 1, 2}) {
        EXPECT_TRUE(g.Spawn([&, k] {
                       order.push_back("start" + std::to_string(k));
                       if (first_child_name.empty()) {
                         first_child_name = Task::Current()->name();
                       }
                       EXPECT_TRUE(go[k].Wait().ok());
                       order.push_back("end" + std::to_string(k));
                     }).ok());
      }
      EXPECT_EQ(g.Size(), 3u);
      order.push_back("body returns");
    });
    order.push_back("run returned");
  });
  EXPECT_TRUE(s.ok()) << s;
  // Children start after the body's first blocking point, in spawn order.
  EXPECT_EQ(order, (std::vector<std::string>{"body returns", "start3", "start1",
                                             "start2", "end1", "end2", "end3",
                                             "run returned"}));
  EXPECT_EQ(first_child_name, "owner.1");
}

TEST(TaskGroupTest, AFailingChildCancelsItsSiblingsAndTheBody) {
  auto loop = NewLoop();
  int destroyed = 0, destroyed_at_catch = -1;
  bool body_went_on = false;
  std::string what;
  RunInTask(*loop, [&] {
    try {
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < 3; ++i) {
          EXPECT_TRUE(g.Spawn([&] {
                         Tracker t(&destroyed);
                         SleepForever();
                       }).ok());
        }
        EXPECT_TRUE(g.Spawn([&] {
                       Tracker t(&destroyed);
                       EXPECT_TRUE(Sleep(absl::Milliseconds(1)).ok());
                       throw std::runtime_error("child failed");
                     }).ok());
        SleepForever();  // interrupted
        body_went_on = true;
      });
      ADD_FAILURE() << "Run returned";
    } catch (const std::runtime_error& e) {
      what = e.what();
      destroyed_at_catch = destroyed;
    }
  });
  EXPECT_EQ(what, "child failed");
  EXPECT_EQ(destroyed_at_catch, 4);  // every child ended before the rethrow
  EXPECT_FALSE(body_went_on);
}

TEST(TaskGroupTest, TheBodyThrowingKillsTheChildren) {
  auto loop = NewLoop();
  int destroyed = 0, destroyed_at_catch = -1, started = 0;
  std::string what;
  RunInTask(*loop, [&] {
    try {
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < 2; ++i) {
          EXPECT_TRUE(g.Spawn([&] {
                         ++started;
                         Tracker t(&destroyed);
                         SleepForever();
                       }).ok());
        }
        EXPECT_TRUE(Yield().ok());  // the children start
        throw std::logic_error("body failed");
      });
      ADD_FAILURE() << "Run returned";
    } catch (const std::logic_error& e) {
      what = e.what();
      destroyed_at_catch = destroyed;
    }
  });
  EXPECT_EQ(what, "body failed");
  EXPECT_EQ(started, 2);
  EXPECT_EQ(destroyed_at_catch, 2);
}

TEST(TaskGroupTest, NestedGroups) {
  auto loop = NewLoop();
  int destroyed = 0, destroyed_at_catch = -1, inner_done = 0;
  absl::Status ok_status = absl::UnknownError("not run");
  std::string what;
  RunInTask(*loop, [&] {
    // Nested groups that succeed.
    ok_status = TaskGroup::Run([&](TaskGroup& outer) {
      for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(outer
                        .Spawn([&] {
                          EXPECT_TRUE(TaskGroup::Run([&](TaskGroup& inner) {
                                        for (int j = 0; j < 3; ++j) {
                                          EXPECT_TRUE(inner
                                                          .Spawn([&] {
                                                            EXPECT_TRUE(
                                                                Yield().ok());
                                                            ++inner_done;
                                                          })
                                                          .ok());
                                        }
                                      }).ok());
                        })
                        .ok());
      }
    });
    // An inner failure fails the inner group, its owner, the outer group.
    try {
      (void)TaskGroup::Run([&](TaskGroup& outer) {
        EXPECT_TRUE(outer
                        .Spawn([&] {
                          Tracker t(&destroyed);
                          SleepForever();
                        })
                        .ok());
        EXPECT_TRUE(outer
                        .Spawn([&] {
                          Tracker t(&destroyed);
                          (void)TaskGroup::Run([&](TaskGroup& inner) {
                            EXPECT_TRUE(inner
                                            .Spawn([&] {
                                              Tracker t2(&destroyed);
                                              SleepForever();
                                            })
                                            .ok());
                            EXPECT_TRUE(
                                inner
                                    .Spawn([] {
                                      EXPECT_TRUE(
                                          Sleep(absl::Milliseconds(1)).ok());
                                      throw std::domain_error("deep");
                                    })
                                    .ok());
                          });
                          ADD_FAILURE() << "inner Run returned";
                        })
                        .ok());
      });
      ADD_FAILURE() << "outer Run returned";
    } catch (const std::domain_error& e) {
      what = e.what();
      destroyed_at_catch = destroyed;
    }
  });
  EXPECT_TRUE(ok_status.ok()) << ok_status;
  EXPECT_EQ(inner_done, 6);
  EXPECT_EQ(what, "deep");
  EXPECT_EQ(destroyed_at_catch, 3);
}

TEST(TaskGroupTest, ATimeoutAroundTheGroupKillsTheChildren) {
  auto loop = NewLoop();
  int destroyed = 0, started = 0, destroyed_at_return = -1;
  absl::Status s;
  RunInTask(*loop, [&] {
    s = WithTimeout(absl::Milliseconds(5), [&] {
      // The children use a frame of the body: Run must not unwind it before
      // they have.
      std::vector<int> body_frame(10, 0);
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < 10; ++i) {
          EXPECT_TRUE(g.Spawn([&, i] {
                         ++started;
                         Tracker t(&destroyed);
                         body_frame[i] = 1;
                         SleepForever();
                         body_frame[i] = 2;
                       }).ok());
        }
      });
      ADD_FAILURE() << "Run returned";
    });
    destroyed_at_return = destroyed;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(started, 10);
  EXPECT_EQ(destroyed_at_return, 10);
}

TEST(TaskGroupTest, CancellingAnEnclosingScopeFromAnotherTaskKillsTheChildren) {
  auto loop = NewLoop();
  int destroyed = 0, destroyed_at_return = -1;
  bool body_went_on = false;
  CancelScope scope;
  Event started;
  absl::Status s;
  ASSERT_TRUE(Task::Spawn([&] {
                EXPECT_TRUE(started.Wait().ok());
                scope.Cancel();
              }).ok());
  RunInTask(*loop, [&] {
    s = scope.Run([&] {
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < 3; ++i) {
          EXPECT_TRUE(g.Spawn([&] {
                         Tracker t(&destroyed);
                         started.Set();
                         SleepForever();
                       }).ok());
        }
        SleepForever();
        body_went_on = true;
      });
    });
    destroyed_at_return = destroyed;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(destroyed_at_return, 3);
  EXPECT_FALSE(body_went_on);
}

TEST(TaskGroupTest, KillingTheOwnerKillsTheChildrenFirst) {
  auto loop = NewLoop();
  int destroyed = 0, destroyed_when_killed = -1, started = 0;
  bool owner_went_on = false;
  Event all_started;
  auto owner = *Task::Spawn([&] {
    Tracker t(&destroyed);
    (void)TaskGroup::Run([&](TaskGroup& g) {
      for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(g.Spawn([&] {
                       Tracker child(&destroyed);
                       if (++started == 5) all_started.Set();
                       SleepForever();
                     }).ok());
      }
    });
    owner_went_on = true;
  });
  ASSERT_TRUE(Task::Spawn([&] {
                EXPECT_TRUE(all_started.Wait().ok());
                EXPECT_TRUE(owner->Kill().ok());
                destroyed_when_killed = destroyed;
              }).ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(owner->killed());
  EXPECT_FALSE(owner_went_on);
  // The owner unwound after its children: Kill returned after all six.
  EXPECT_EQ(destroyed_when_killed, 6);
  EXPECT_EQ(loop->TaskCount(), 0u);
}

TEST(TaskGroupTest, KillingTheOwnerFromACallback) {
  auto loop = NewLoop();
  int destroyed = 0;
  auto owner = *Task::Spawn([&] {
    (void)TaskGroup::Run([&](TaskGroup& g) {
      for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(g.Spawn([&] {
                       Tracker t(&destroyed);
                       SleepForever();
                     }).ok());
      }
    });
    ADD_FAILURE() << "owner went on";
  });
  // The kill status is not checked: the owner blocks while it unwinds (it
  // waits for its children), which Task::Kill from a callback reports.
  loop->CallLater(absl::Milliseconds(2), [&] { (void)owner->Kill(); });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(owner->killed());
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(loop->TaskCount(), 0u);
}

TEST(TaskGroupTest, CancelEndsTheGroupWithCancelled) {
  auto loop = NewLoop();
  int destroyed = 0;
  bool body_went_on = false;
  absl::Status s, spawn_after_cancel, empty_cancel;
  RunInTask(*loop, [&] {
    s = TaskGroup::Run([&](TaskGroup& g) {
      for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(g.Spawn([&] {
                       Tracker t(&destroyed);
                       SleepForever();
                     }).ok());
      }
      EXPECT_TRUE(g.Spawn([&] {
                     EXPECT_TRUE(Sleep(absl::Milliseconds(1)).ok());
                     g.Cancel();
                     spawn_after_cancel = g.Spawn([] {});
                   }).ok());
      SleepForever();
      body_went_on = true;
    });
    empty_cancel = TaskGroup::Run([](TaskGroup& g) { g.Cancel(); });
  });
  EXPECT_EQ(s, absl::CancelledError("task group: cancelled"));
  EXPECT_EQ(destroyed, 3);
  EXPECT_FALSE(body_went_on);
  EXPECT_EQ(spawn_after_cancel.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty_cancel.code(), absl::StatusCode::kCancelled);
}

TEST(TaskGroupTest, ChildrenCanSpawnSiblingsAndOthersCanSpawnToo) {
  auto loop = NewLoop();
  std::vector<std::string> ended;
  absl::Status s;
  TaskGroup* group = nullptr;
  Event group_running;
  ASSERT_TRUE(Task::Spawn([&] {  // not part of the group
                EXPECT_TRUE(group_running.Wait().ok());
                EXPECT_TRUE(
                    group->Spawn([&] { ended.push_back("outsider"); }).ok());
              })
                  .ok());
  RunInTask(*loop, [&] {
    s = TaskGroup::Run([&](TaskGroup& g) {
      group = &g;
      EXPECT_TRUE(g.Spawn([&] {
                     EXPECT_TRUE(g.Spawn([&] {
                                    EXPECT_TRUE(Yield().ok());
                                    ended.push_back("sibling");
                                  }).ok());
                     ended.push_back("first");
                   }).ok());
      EXPECT_TRUE(g.Spawn([&] {
                     EXPECT_TRUE(Sleep(absl::Milliseconds(2)).ok());
                   }).ok());
      group_running.Set();
    });
    ended.push_back("run returned");
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(ended, (std::vector<std::string>{"first", "outsider", "sibling",
                                             "run returned"}));
}

TEST(TaskGroupTest, BadCalls) {
  auto loop = NewLoop();
  EXPECT_EQ(TaskGroup::Run([](TaskGroup&) {}).code(),
            absl::StatusCode::kFailedPrecondition);  // not in a task
  absl::Status empty;
  RunInTask(*loop, [&] { empty = TaskGroup::Run(nullptr); });
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
}

TEST(TaskGroupTest, AThousandChildren) {
  auto loop = NewLoop();
  constexpr int kChildren = 1000;
  TaskOptions small;
  small.stack_size = 32 * 1024;
  int done = 0, destroyed = 0, destroyed_at_catch = -1;
  size_t size_in_body = 0;
  absl::Status s;
  std::string what;
  RunInTask(*loop, [&] {
    s = TaskGroup::Run([&](TaskGroup& g) {
      for (int i = 0; i < kChildren; ++i) {
        EXPECT_TRUE(g.SpawnWith(small, [&] {
                       EXPECT_TRUE(Yield().ok());
                       ++done;
                     }).ok());
      }
      size_in_body = g.Size();
    });
    try {
      (void)TaskGroup::Run([&](TaskGroup& g) {
        for (int i = 0; i < kChildren; ++i) {
          EXPECT_TRUE(g.SpawnWith(small, [&] {
                         Tracker t(&destroyed);
                         SleepForever();
                       }).ok());
        }
        EXPECT_TRUE(g.SpawnWith(small, [] {
                       EXPECT_TRUE(Yield().ok());
                       throw std::runtime_error("one of many");
                     }).ok());
      });
    } catch (const std::runtime_error& e) {
      what = e.what();
      destroyed_at_catch = destroyed;
    }
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(size_in_body, static_cast<size_t>(kChildren));
  EXPECT_EQ(done, kChildren);
  EXPECT_EQ(what, "one of many");
  EXPECT_EQ(destroyed_at_catch, kChildren);
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
