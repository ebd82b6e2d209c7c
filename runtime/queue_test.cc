#include "runtime/queue.h"

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace {

::testing::AssertionResult RunOk(EventLoop& loop) {
  absl::Status s = loop.Run();
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s;
}

template <typename F>
std::shared_ptr<Task> Go(F&& f) {
  absl::StatusOr<std::shared_ptr<Task>> task = Task::Spawn(std::forward<F>(f));
  EXPECT_TRUE(task.ok()) << task.status();
  return *task;
}

// Drain returns every item left in `q` (non-blocking).
template <typename Q>
std::vector<typename Q::value_type> Drain(Q& q) {
  std::vector<typename Q::value_type> out;
  while (true) {
    auto item = q.TryGet();
    if (!item.ok()) break;
    out.push_back(std::move(*item));
  }
  return out;
}

TEST(QueueTest, FifoLifoAndPriorityOrder) {
  auto loop = NewLoop();  // not needed by non-blocking calls; realistic
  Queue<int> fifo;
  LifoQueue<int> lifo;
  PriorityQueue<int> lowest_first;
  PriorityQueue<int, std::greater<int>> highest_first;
  for (int v : {3, 1, 4, 1, 5}) {
    ASSERT_TRUE(fifo.Put(v).ok());
    ASSERT_TRUE(lifo.Put(v).ok());
    ASSERT_TRUE(lowest_first.Put(v).ok());
    ASSERT_TRUE(highest_first.Put(v).ok());
  }
  EXPECT_EQ(fifo.size(), 5u);
  EXPECT_FALSE(fifo.empty());
  EXPECT_FALSE(fifo.full());  // unbounded
  EXPECT_EQ(fifo.unfinished_tasks(), 5u);
  EXPECT_EQ(Drain(fifo), (std::vector<int>{3, 1, 4, 1, 5}));
  EXPECT_EQ(Drain(lifo), (std::vector<int>{5, 1, 4, 1, 3}));
  EXPECT_EQ(Drain(lowest_first), (std::vector<int>{1, 1, 3, 4, 5}));
  EXPECT_EQ(Drain(highest_first), (std::vector<int>{5, 4, 3, 1, 1}));
  EXPECT_TRUE(fifo.empty());
}

TEST(QueueTest, TryVariantsAndCallsThatWouldBlockOutsideATask) {
  auto loop = NewLoop();
  Queue<int> q(2);
  EXPECT_EQ(q.maxsize(), 2u);
  ASSERT_TRUE(q.TryPut(1).ok());
  ASSERT_TRUE(q.Put(2).ok());  // does not need to block
  EXPECT_TRUE(q.full());
  absl::Status full = q.TryPut(3);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(full.message(), "queue put: full");
  absl::Status outside = q.Put(3);
  EXPECT_EQ(outside.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(outside.message(), "queue put: not in a task");
  EXPECT_EQ(*q.TryGet(), 1);
  EXPECT_EQ(*q.Get(), 2);
  absl::StatusOr<int> empty = q.TryGet();
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(empty.status().message(), "queue get: empty");
  absl::StatusOr<int> would_block = q.Get();
  EXPECT_EQ(would_block.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(would_block.status().message(), "queue get: not in a task");
  // In a callback too.
  absl::Status in_callback;
  loop->CallSoon([&] { in_callback = q.Get().status(); });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(in_callback.message(), "queue get: not in a task");
}

TEST(QueueTest, PutBlocksWhileFull) {
  auto loop = NewLoop();
  Queue<int> q(2);
  std::vector<std::string> trace;
  std::vector<int> got;
  size_t putters_seen = 0;
  Go([&] {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(q.Put(i).ok());
      trace.push_back("put " + std::to_string(i));
    }
  });
  Go([&] {
    putters_seen = q.putters_waiting();
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<int> v = q.Get();
      ASSERT_TRUE(v.ok()) << v.status();
      got.push_back(*v);
      trace.push_back("get " + std::to_string(*v));
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(putters_seen, 1u);  // the producer blocked on its third put
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_EQ(trace.size(), 10u);
  EXPECT_EQ(trace[0], "put 0");
  EXPECT_EQ(trace[1], "put 1");
  EXPECT_EQ(trace[2], "get 0");  // "put 2" only once room was made
  EXPECT_EQ(q.unfinished_tasks(), 5u);
}

TEST(QueueTest, PerCallDeadlines) {
  auto loop = NewLoop();
  Queue<int> q(1);
  ASSERT_TRUE(q.Put(7).ok());
  absl::Status put;
  absl::StatusOr<int> first, second;
  Go([&] {
    put = q.Put(8, Deadline::After(absl::Milliseconds(5)));
    first = q.Get();
    second = q.Get(Deadline::After(absl::Milliseconds(5)));
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(put.code(), absl::StatusCode::kDeadlineExceeded) << put;
  EXPECT_EQ(put.message(), "queue put: deadline exceeded");
  EXPECT_EQ(*first, 7);  // 8 never got in
  EXPECT_EQ(second.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(second.status().message(), "queue get: deadline exceeded");
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.putters_waiting(), 0u);
  EXPECT_EQ(q.getters_waiting(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), 1u);  // only 7 was put
}

TEST(QueueTest, ScopeTimeoutInterruptsGetWithoutLosingLaterItems) {
  auto loop = NewLoop();
  Queue<int> q;
  absl::Status scope;
  bool returned = false;
  Go([&] {
    scope = WithTimeout(absl::Milliseconds(5), [&] {
      (void)q.Get();
      returned = true;
    });
    ASSERT_TRUE(q.Put(1).ok());
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded) << scope;
  EXPECT_FALSE(returned);
  EXPECT_EQ(q.getters_waiting(), 0u);
  EXPECT_EQ(Drain(q), std::vector<int>{1});
}

TEST(QueueTest, GettersAreServedInArrivalOrderAndNewcomersDoNotBarge) {
  auto loop = NewLoop();
  Queue<int> q;
  std::vector<int> got(4, -1);
  for (int i = 0; i < 4; ++i) {
    Go([&, i] {
      absl::StatusOr<int> v = q.Get();
      ASSERT_TRUE(v.ok()) << v.status();
      got[i] = *v;
    });
  }
  absl::Status barged;
  Go([&] {
    EXPECT_EQ(q.getters_waiting(), 4u);
    for (int v = 10; v < 14; ++v) ASSERT_TRUE(q.Put(v).ok());
    // Every item went to a waiting getter, none is up for grabs.
    barged = q.TryGet().status();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(got, (std::vector<int>{10, 11, 12, 13}));
  EXPECT_EQ(barged.code(), absl::StatusCode::kUnavailable) << barged;
}

TEST(QueueTest, PuttersAreServedInArrivalOrder) {
  auto loop = NewLoop();
  Queue<std::string> q(1);
  ASSERT_TRUE(q.Put("x").ok());
  for (const char* item : {"a", "b", "c"}) {
    Go([&q, item] { ASSERT_TRUE(q.Put(item).ok()); });
  }
  std::vector<std::string> got;
  absl::Status try_put;
  Go([&] {
    EXPECT_EQ(q.putters_waiting(), 3u);
    try_put = q.TryPut("newcomer");
    for (int i = 0; i < 4; ++i) got.push_back(*q.Get());
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(try_put.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(got, (std::vector<std::string>{"x", "a", "b", "c"}));
}

class QueueSizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(QueueSizeTest, ProducersAndConsumersSeeEveryItemOnce) {
  auto loop = NewLoop();
  Queue<int> q(GetParam());
  constexpr int kProducers = 4, kPerProducer = 250, kConsumers = 3;
  std::vector<int> seen(kProducers * kPerProducer, 0);
  std::vector<std::shared_ptr<Task>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(Go([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        ASSERT_TRUE(q.Put(p * kPerProducer + i).ok());
        if (i % 7 == 0) {
          ASSERT_TRUE(Yield().ok());
        }
      }
    }));
  }
  std::vector<int> per_consumer(kConsumers, 0);
  int processed = 0;
  for (int c = 0; c < kConsumers; ++c) {
    Go([&, c] {
      while (true) {
        absl::StatusOr<int> v = q.Get();
        if (!v.ok()) {
          EXPECT_EQ(v.status().message(), "queue get: closed");
          break;
        }
        ++seen[*v];
        ++per_consumer[c];
        ++processed;
        ASSERT_TRUE(q.TaskDone().ok());
        if (*v % 5 == 0) {
          ASSERT_TRUE(Yield().ok());
        }
      }
    });
  }
  int processed_at_join = -1;
  Go([&] {
    for (auto& p : producers) ASSERT_TRUE(p->Join().ok());
    ASSERT_TRUE(q.Join().ok());  // every item marked done
    processed_at_join = processed;
    q.Close();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(processed_at_join, kProducers * kPerProducer);
  for (size_t v = 0; v < seen.size(); ++v) {
    ASSERT_EQ(seen[v], 1) << "item " << v;
  }
  for (int c = 0; c < kConsumers; ++c) EXPECT_GT(per_consumer[c], 0) << c;
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

INSTANTIATE_TEST_SUITE_P(MaxSizes, QueueSizeTest, ::testing::Values(0, 1, 8));

TEST(QueueTest, CloseRefusesPutsAndGettersDrainFirst) {
  auto loop = NewLoop();
  Queue<int> q(2);
  Queue<int> empty;
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  absl::Status blocked_put;
  absl::StatusOr<int> blocked_get;
  Go([&] { blocked_put = q.Put(3); });
  Go([&] { blocked_get = empty.Get(); });
  std::vector<int> got;
  absl::Status after_drain, put_after, try_put_after, get_empty_after;
  Go([&] {
    EXPECT_EQ(q.putters_waiting(), 1u);
    EXPECT_EQ(empty.getters_waiting(), 1u);
    q.Close();
    q.Close();  // no effect
    empty.Close();
    put_after = q.Put(4);
    try_put_after = q.TryPut(4);
    while (true) {
      absl::StatusOr<int> v = q.Get();
      if (!v.ok()) {
        after_drain = v.status();
        break;
      }
      got.push_back(*v);
    }
    get_empty_after = q.TryGet().status();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_TRUE(q.closed());
  EXPECT_EQ(blocked_put.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(blocked_put.message(), "queue put: closed");
  EXPECT_EQ(blocked_get.status().message(), "queue get: closed");
  EXPECT_EQ(put_after.message(), "queue put: closed");
  EXPECT_EQ(try_put_after.message(), "queue put: closed");
  EXPECT_EQ(got, (std::vector<int>{1, 2}));  // 3 never got in
  EXPECT_EQ(after_drain.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(after_drain.message(), "queue get: closed");
  EXPECT_EQ(get_empty_after.message(), "queue get: closed");
}

TEST(QueueTest, TaskDoneAndJoin) {
  auto loop = NewLoop();
  Queue<int> q;
  absl::Status extra = q.TaskDone();
  EXPECT_EQ(extra.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(extra.message(),
            "queue task done: called more times than items were put");
  EXPECT_TRUE(q.Join().ok());  // nothing unfinished: no need to block
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  EXPECT_EQ(q.Join().message(), "queue join: not in a task");
  absl::Status timed_out, joined;
  std::vector<std::string> trace;
  Go([&] {
    timed_out = q.Join(Deadline::After(absl::Milliseconds(2)));
    joined = q.Join();
    trace.push_back("joined");
  });
  Go([&] {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(q.Get().ok());
      ASSERT_TRUE(Sleep(absl::Milliseconds(5)).ok());
      trace.push_back("done");
      ASSERT_TRUE(q.TaskDone().ok());
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timed_out.message(), "queue join: deadline exceeded");
  EXPECT_TRUE(joined.ok()) << joined;
  EXPECT_EQ(trace, (std::vector<std::string>{"done", "done", "joined"}));
  EXPECT_FALSE(q.TaskDone().ok());
}

TEST(QueueTest, MoveOnlyItems) {
  auto loop = NewLoop();
  Queue<std::unique_ptr<int>> q(1);
  struct ByValue {
    bool operator()(const std::unique_ptr<int>& a,
                    const std::unique_ptr<int>& b) const {
      return *a < *b;
    }
  };
  PriorityQueue<std::unique_ptr<int>, ByValue> pq;
  std::vector<int> got;
  Go([&] {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(q.Put(std::make_unique<int>(i)).ok());  // blocks when full
    }
  });
  Go([&] {
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<std::unique_ptr<int>> v = q.Get();
      ASSERT_TRUE(v.ok());
      got.push_back(**v);
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(q.TryPut(std::make_unique<int>(9)).ok());
  EXPECT_EQ(q.TryPut(std::make_unique<int>(10)).code(),
            absl::StatusCode::kResourceExhausted);  // 10 is destroyed
  EXPECT_EQ(**q.TryGet(), 9);
  for (int v : {5, 2, 8}) ASSERT_TRUE(pq.Put(std::make_unique<int>(v)).ok());
  EXPECT_EQ(**pq.TryGet(), 2);
  EXPECT_EQ(**pq.TryGet(), 5);
  EXPECT_EQ(**pq.TryGet(), 8);
}

// Interrupting a blocked call: kill the task, or cancel its scope. Both are
// done from a callback so they reach the task before it resumes.
enum class Interrupt { kKill, kCancel };

std::string InterruptName(const ::testing::TestParamInfo<Interrupt>& info) {
  return info.param == Interrupt::kKill ? "Kill" : "Cancel";
}

class QueueInterruptTest : public ::testing::TestWithParam<Interrupt> {
 protected:
  // Spawns a task running `call` inside a cancel scope.
  std::shared_ptr<Task> Victim(std::function<void()> call) {
    return Go([this, call] { scope_status_ = scope_.Run(call); });
  }
  void DoInterrupt(const std::shared_ptr<Task>& victim) {
    if (GetParam() == Interrupt::kKill) {
      EXPECT_TRUE(victim->Kill().ok());
    } else {
      scope_.Cancel();
    }
  }
  void ExpectInterrupted(const std::shared_ptr<Task>& victim) {
    if (GetParam() == Interrupt::kKill) {
      EXPECT_TRUE(victim->killed());
    } else {
      EXPECT_EQ(scope_status_.code(), absl::StatusCode::kCancelled)
          << scope_status_;
    }
  }

  CancelScope scope_;
  absl::Status scope_status_;
};

TEST_P(QueueInterruptTest, WaitingGetterTakesNothing) {
  auto loop = NewLoop();
  Queue<int> q;
  bool returned = false;
  auto victim = Victim([&] {
    (void)q.Get();
    returned = true;
  });
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(q.getters_waiting(), 1u);
    DoInterrupt(victim);
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(returned);
  EXPECT_EQ(q.getters_waiting(), 0u);
  ASSERT_TRUE(q.TryPut(5).ok());
  EXPECT_EQ(Drain(q), std::vector<int>{5});
}

TEST_P(QueueInterruptTest, GetterInterruptedAfterHandOffGivesTheItemBack) {
  auto loop = NewLoop();
  Queue<int> q;
  bool returned = false;
  auto victim = Victim([&] {
    (void)q.Get();
    returned = true;
  });
  absl::StatusOr<int> second;
  Go([&] { second = q.Get(); });  // waits behind the victim
  loop->CallLater(absl::Milliseconds(1), [&] {
    ASSERT_EQ(q.getters_waiting(), 2u);
    ASSERT_TRUE(q.TryPut(42).ok());  // handed to the victim...
    EXPECT_EQ(q.getters_waiting(), 1u);
    DoInterrupt(victim);  // ...which is interrupted before it resumed
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(returned);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 42);
  EXPECT_TRUE(q.empty());
}

TEST_P(QueueInterruptTest, GiveBackKeepsTheQueueOrder) {
  auto loop = NewLoop();
  Queue<int> fifo;
  LifoQueue<int> lifo;
  auto victim = Victim([&] {
    (void)fifo.Get();  // handed 1
  });
  std::shared_ptr<Task> lifo_victim;
  if (GetParam() == Interrupt::kKill) {
    lifo_victim = Go([&] { (void)lifo.Get(); });
  }
  loop->CallLater(absl::Milliseconds(1), [&] {
    ASSERT_TRUE(fifo.TryPut(1).ok());
    ASSERT_TRUE(fifo.TryPut(2).ok());
    if (lifo_victim != nullptr) {
      ASSERT_TRUE(lifo.TryPut(1).ok());  // handed to lifo_victim
      ASSERT_TRUE(lifo.TryPut(2).ok());
      EXPECT_TRUE(lifo_victim->Kill().ok());
    }
    DoInterrupt(victim);
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_EQ(Drain(fifo), (std::vector<int>{1, 2}));  // 1 back in front
  if (lifo_victim != nullptr) {
    EXPECT_EQ(Drain(lifo), (std::vector<int>{1, 2}));  // 1 back on top
  }
}

TEST_P(QueueInterruptTest, WaitingPutterAddsNothing) {
  auto loop = NewLoop();
  Queue<int> q(1);
  ASSERT_TRUE(q.Put(1).ok());
  absl::Status put = absl::UnknownError("not returned");
  auto victim = Victim([&] { put = q.Put(2); });
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(q.putters_waiting(), 1u);
    DoInterrupt(victim);
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_EQ(put.code(), absl::StatusCode::kUnknown);  // Put did not return
  EXPECT_EQ(q.putters_waiting(), 0u);
  EXPECT_EQ(Drain(q), std::vector<int>{1});
  EXPECT_EQ(q.unfinished_tasks(), 1u);
}

TEST_P(QueueInterruptTest, PutterInterruptedAfterItsItemGotInSucceeded) {
  auto loop = NewLoop();
  Queue<int> q(1);
  ASSERT_TRUE(q.Put(1).ok());
  absl::Status put = absl::UnknownError("not returned");
  bool slept = false;
  auto victim = Victim([&] {
    put = q.Put(2);
    // The scope is still cancelled: the next blocking call raises.
    (void)Sleep(absl::Hours(1));
    slept = true;
  });
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(*q.TryGet(), 1);  // makes room: 2 gets in
    EXPECT_EQ(q.size(), 1u);
    DoInterrupt(victim);
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(slept);
  if (GetParam() == Interrupt::kCancel) {
    EXPECT_TRUE(put.ok()) << put;  // the put happened
  }
  EXPECT_EQ(Drain(q), std::vector<int>{2});  // exactly once
}

INSTANTIATE_TEST_SUITE_P(Interrupts, QueueInterruptTest,
                         ::testing::Values(Interrupt::kKill,
                                           Interrupt::kCancel),
                         InterruptName);

TEST(QueueTest, RandomDeadlinesAndTimeoutsNeverLoseOrDuplicateItems) {
  auto loop = NewLoop();
  Queue<int> q(3);
  constexpr int kProducers = 3, kPerProducer = 120, kConsumers = 3;
  std::vector<int> put_ok(kProducers * kPerProducer, 0);
  std::vector<int> got(kProducers * kPerProducer, 0);
  std::vector<std::shared_ptr<Task>> producers;
  int timeouts = 0;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(Go([&, p] {
      std::mt19937 rng(p);
      for (int i = 0; i < kPerProducer; ++i) {
        const int item = p * kPerProducer + i;
        absl::Duration wait = absl::Microseconds(rng() % 400);
        if (rng() % 2 == 0) {
          absl::Status s = q.Put(item, Deadline::After(wait));
          if (s.ok()) ++put_ok[item];
          if (s.code() == absl::StatusCode::kDeadlineExceeded) ++timeouts;
        } else {
          absl::Status scope = WithTimeout(wait, [&] {
            if (q.Put(item).ok()) ++put_ok[item];
          });
          if (!scope.ok()) ++timeouts;
        }
      }
    }));
  }
  bool producers_done = false;
  for (int c = 0; c < kConsumers; ++c) {
    Go([&, c] {
      std::mt19937 rng(100 + c);
      while (!producers_done || !q.empty()) {
        absl::Duration wait = absl::Microseconds(rng() % 400);
        if (rng() % 2 == 0) {
          absl::StatusOr<int> v = q.Get(Deadline::After(wait));
          if (v.ok()) ++got[*v];
        } else {
          (void)WithTimeout(wait, [&] {
            absl::StatusOr<int> v = q.Get();
            if (v.ok()) ++got[*v];
          });
        }
        if (rng() % 3 == 0) (void)Sleep(absl::Microseconds(rng() % 300));
      }
    });
  }
  Go([&] {
    for (auto& p : producers) ASSERT_TRUE(p->Join().ok());
    producers_done = true;
  });
  ASSERT_TRUE(RunOk(*loop));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], put_ok[i]) << "item " << i;
  }
  EXPECT_GT(timeouts, 0);  // the interesting paths ran
}

TEST(QueueTest, DestroyingTheQueueFailsItsWaiters) {
  auto loop = NewLoop();
  auto q = std::make_unique<Queue<int>>();
  absl::StatusOr<int> got;
  Go([&] { got = q->Get(); });
  loop->CallLater(absl::Milliseconds(1), [&] { q.reset(); });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(), "queue get: destroyed");
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
