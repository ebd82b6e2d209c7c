#include "runtime/channel.h"

#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EVERGREEN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EVERGREEN_SANITIZED 1
#endif
#endif

namespace evergreen {
namespace runtime {
namespace {

#ifdef EVERGREEN_SANITIZED
constexpr int kRoundTrips = 10000;
#else
constexpr int kRoundTrips = 100000;
#endif

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

TEST(ChannelTest, SendBlocksUntilAReceiverTookTheValue) {
  auto loop = NewLoop();
  Channel<int> ch;
  std::vector<std::string> trace;
  int64_t balance_seen = 0;
  Go([&] {
    trace.push_back("send");
    ASSERT_TRUE(ch.Send(1).ok());
    trace.push_back("sent");
  });
  Go([&] {
    balance_seen = ch.balance();
    trace.push_back("receive");
    absl::StatusOr<int> v = ch.Receive();
    ASSERT_TRUE(v.ok()) << v.status();
    trace.push_back("received " + std::to_string(*v));
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(balance_seen, 1);  // one sender waiting
  EXPECT_EQ(trace, (std::vector<std::string>{"send", "receive", "received 1",
                                             "sent"}));
  EXPECT_EQ(ch.balance(), 0);
}

TEST(ChannelTest, ReceiverFirstAndTheSenderWaitsForItToResume) {
  auto loop = NewLoop();
  Channel<std::string> ch;
  std::vector<std::string> trace;
  int64_t balance_before = 0, balance_after = 0;
  Go([&] {
    trace.push_back("receive");
    absl::StatusOr<std::string> v = ch.Receive();
    ASSERT_TRUE(v.ok()) << v.status();
    trace.push_back("received " + *v);
  });
  Go([&] {
    balance_before = ch.balance();
    trace.push_back("send");
    ASSERT_TRUE(ch.Send("hi").ok());
    trace.push_back("sent");
    balance_after = ch.balance();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(balance_before, -1);  // one receiver waiting
  EXPECT_EQ(balance_after, 0);
  EXPECT_EQ(trace, (std::vector<std::string>{"receive", "send", "received hi",
                                             "sent"}));
}

TEST(ChannelTest, SendExceptionIsRethrownByReceive) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::Status sent;
  std::string caught;
  Go([&] {
    sent =
        ch.SendException(std::make_exception_ptr(std::runtime_error("boom")));
  });
  Go([&] {
    try {
      (void)ch.Receive();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(caught, "boom");
  absl::Status null = ch.SendException(nullptr);
  EXPECT_EQ(null.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(null.message(), "channel send exception: null exception");
}

TEST(ChannelTest, IterationReceivesUntilClosed) {
  auto loop = NewLoop();
  Channel<int> ch;
  std::vector<int> got;
  Go([&] {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(ch.Send(i).ok());
    ch.Close();
  });
  Go([&] {
    for (int& v : ch) got.push_back(v);
    EXPECT_TRUE(ch.closed());
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(ChannelTest, CloseWakesWaitersAndLeavesNoValueBehind) {
  auto loop = NewLoop();
  Channel<int> receivers_ch, senders_ch;
  std::vector<absl::Status> received, sent;
  for (int i = 0; i < 2; ++i) {
    Go([&] { received.push_back(receivers_ch.Receive().status()); });
    Go([&, i] { sent.push_back(senders_ch.Send(i)); });
  }
  absl::Status send_after, receive_after, try_receive_after;
  Go([&] {
    EXPECT_EQ(receivers_ch.balance(), -2);
    EXPECT_EQ(senders_ch.balance(), 2);
    receivers_ch.Close();
    senders_ch.Close();
    senders_ch.Close();  // no effect
    send_after = senders_ch.Send(5);
    receive_after = senders_ch.Receive().status();
    try_receive_after = senders_ch.TryReceive().status();
  });
  ASSERT_TRUE(RunOk(*loop));
  ASSERT_EQ(received.size(), 2u);
  ASSERT_EQ(sent.size(), 2u);
  for (const absl::Status& s : received) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.message(), "channel receive: closed");
  }
  for (const absl::Status& s : sent) {
    EXPECT_EQ(s.message(), "channel send: closed");
  }
  EXPECT_EQ(send_after.message(), "channel send: closed");
  EXPECT_EQ(receive_after.message(), "channel receive: closed");
  EXPECT_EQ(try_receive_after.message(), "channel receive: closed");
  EXPECT_EQ(senders_ch.balance(), 0);
  EXPECT_EQ(receivers_ch.balance(), 0);
}

TEST(ChannelTest, BufferedSendBlocksOnlyWhenFull) {
  auto loop = NewLoop();
  Channel<int> ch(2);
  EXPECT_EQ(ch.capacity(), 2u);
  // Outside a task: fine while there is room.
  ASSERT_TRUE(ch.Send(0).ok());
  std::vector<std::string> trace;
  Go([&] {
    for (int i = 1; i < 5; ++i) {
      ASSERT_TRUE(ch.Send(i).ok());
      trace.push_back("sent " + std::to_string(i));
    }
    ch.Close();
  });
  std::vector<int> got;
  size_t buffered_seen = 0;
  Go([&] {
    buffered_seen = ch.size();
    for (int v : ch) {
      got.push_back(v);
      trace.push_back("got " + std::to_string(v));
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(buffered_seen, 2u);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_GE(trace.size(), 2u);
  EXPECT_EQ(trace[0], "sent 1");  // room for 1, not for 2
  EXPECT_EQ(trace[1], "got 0");
}

TEST(ChannelTest, BufferedCloseLetsReceiversDrain) {
  auto loop = NewLoop();
  Channel<int> ch(4);
  ASSERT_TRUE(ch.Send(1).ok());
  ASSERT_TRUE(ch.Send(2).ok());
  ch.Close();
  EXPECT_EQ(ch.Send(3).message(), "channel send: closed");
  EXPECT_EQ(*ch.TryReceive(), 1);
  EXPECT_EQ(*ch.Receive(), 2);
  EXPECT_EQ(ch.Receive().status().message(), "channel receive: closed");
  Channel<int> full(1);
  ASSERT_TRUE(full.Send(1).ok());
  EXPECT_EQ(full.Send(2).message(), "channel send: not in a task");
  Channel<int> rendezvous;
  EXPECT_EQ(rendezvous.Send(1).message(), "channel send: not in a task");
  EXPECT_EQ(rendezvous.TryReceive().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ChannelTest, PerCallDeadlinesLeaveNoGhosts) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::Status sent;
  absl::StatusOr<int> received;
  absl::Status later;
  Go([&] {
    sent = ch.Send(1, Deadline::After(absl::Milliseconds(3)));
    EXPECT_EQ(ch.balance(), 0);
    received = ch.Receive(Deadline::After(absl::Milliseconds(3)));
    later = ch.TryReceive().status();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(sent.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sent.message(), "channel send: deadline exceeded");
  EXPECT_EQ(received.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(received.status().message(), "channel receive: deadline exceeded");
  EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable);
}

TEST(ChannelTest, PingPong) {
  auto loop = NewLoop();
  Channel<int> ping, pong;
  int last = -1;
  Go([&] {
    for (int i = 0; i < kRoundTrips; ++i) {
      ASSERT_TRUE(ping.Send(i).ok());
      absl::StatusOr<int> v = pong.Receive();
      ASSERT_TRUE(v.ok());
      ASSERT_EQ(*v, i + 1);
      last = *v;
    }
    ping.Close();
  });
  int echoed = 0;
  Go([&] {
    for (int v : ping) {
      ASSERT_TRUE(pong.Send(v + 1).ok());
      ++echoed;
    }
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(echoed, kRoundTrips);
  EXPECT_EQ(last, kRoundTrips);
}

class ChannelCapacityTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ChannelCapacityTest, ProducersAndConsumersSeeEveryValueOnce) {
  auto loop = NewLoop();
  Channel<int> ch(GetParam());
  constexpr int kProducers = 4, kPerProducer = 250, kConsumers = 3;
  std::vector<int> seen(kProducers * kPerProducer, 0);
  std::vector<std::shared_ptr<Task>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(Go([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        ASSERT_TRUE(ch.Send(p * kPerProducer + i).ok());
      }
    }));
  }
  std::vector<int> per_consumer(kConsumers, 0);
  std::vector<int> last_of_producer(kConsumers * kProducers, -1);
  bool in_order = true;
  for (int c = 0; c < kConsumers; ++c) {
    Go([&, c] {
      for (int v : ch) {
        ++seen[v];
        ++per_consumer[c];
        // Each producer's values reach a given consumer in send order.
        int& last = last_of_producer[c * kProducers + v / kPerProducer];
        if (v <= last) in_order = false;
        last = v;
        if (v % 3 == 0) {
          ASSERT_TRUE(Yield().ok());
        }
      }
    });
  }
  Go([&] {
    for (auto& p : producers) ASSERT_TRUE(p->Join().ok());
    ch.Close();
  });
  ASSERT_TRUE(RunOk(*loop));
  for (size_t v = 0; v < seen.size(); ++v) ASSERT_EQ(seen[v], 1) << v;
  for (int c = 0; c < kConsumers; ++c) EXPECT_GT(per_consumer[c], 0) << c;
  EXPECT_TRUE(in_order);
}

INSTANTIATE_TEST_SUITE_P(Capacities, ChannelCapacityTest,
                         ::testing::Values(0, 1, 16));

TEST(ChannelTest, MoveOnlyValues) {
  auto loop = NewLoop();
  Channel<std::unique_ptr<int>> rendezvous;
  Channel<std::unique_ptr<int>> buffered(3);
  std::vector<int> got;
  Go([&] {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(rendezvous.Send(std::make_unique<int>(i)).ok());
      ASSERT_TRUE(buffered.Send(std::make_unique<int>(10 + i)).ok());
    }
    rendezvous.Close();
    buffered.Close();
  });
  Go([&] {
    for (std::unique_ptr<int>& p : rendezvous) got.push_back(*p);
    for (std::unique_ptr<int>& p : buffered) got.push_back(*p);
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 10, 11, 12}));
}

// Interrupting a blocked call: kill the task or cancel its scope, from a
// callback (so before the task resumes).
enum class Interrupt { kKill, kCancel };

std::string InterruptName(const ::testing::TestParamInfo<Interrupt>& info) {
  return info.param == Interrupt::kKill ? "Kill" : "Cancel";
}

class ChannelInterruptTest : public ::testing::TestWithParam<Interrupt> {
 protected:
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

TEST_P(ChannelInterruptTest, WaitingSenderLeavesNoGhost) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::Status sent = absl::UnknownError("not returned");
  auto victim = Victim([&] { sent = ch.Send(1); });
  absl::StatusOr<int> later;
  loop->CallLater(absl::Milliseconds(1), [&] {
    EXPECT_EQ(ch.balance(), 1);
    DoInterrupt(victim);
    EXPECT_EQ(ch.balance(), GetParam() == Interrupt::kKill ? 0 : 1);
    Go([&] { later = ch.Receive(Deadline::After(absl::Milliseconds(3))); });
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_EQ(sent.code(), absl::StatusCode::kUnknown);  // Send never returned
  EXPECT_EQ(later.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ch.balance(), 0);
}

TEST_P(ChannelInterruptTest, WaitingReceiverTakesNothing) {
  auto loop = NewLoop();
  Channel<int> ch;
  bool returned = false;
  auto victim = Victim([&] {
    (void)ch.Receive();
    returned = true;
  });
  absl::Status sent;
  absl::StatusOr<int> got;
  loop->CallLater(absl::Milliseconds(1), [&] {
    DoInterrupt(victim);
    Go([&] { sent = ch.Send(7); });
    Go([&] { got = ch.Receive(); });
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(returned);
  EXPECT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(*got, 7);
}

TEST_P(ChannelInterruptTest, ReceiverInterruptedAfterHandOffGivesItBack) {
  auto loop = NewLoop();
  Channel<int> ch;
  bool returned = false;
  auto victim = Victim([&] {
    (void)ch.Receive();
    returned = true;
  });
  absl::StatusOr<int> second;
  Go([&] { second = ch.Receive(); });  // waits behind the victim
  absl::Status sent;
  Go([&] {
    EXPECT_EQ(ch.balance(), -2);
    // Runs before the victim resumes with the value handed to it.
    EventLoop::Current()->CallSoon([&] { DoInterrupt(victim); });
    sent = ch.Send(42);
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(returned);
  EXPECT_TRUE(sent.ok()) << sent;  // delivered to the second receiver
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 42);
}

TEST_P(ChannelInterruptTest, BufferedReceiverInterruptedAfterHandOff) {
  auto loop = NewLoop();
  Channel<int> ch(1);
  bool returned = false;
  auto victim = Victim([&] {
    (void)ch.Receive();
    returned = true;
  });
  absl::Status sent;
  Go([&] {
    EventLoop::Current()->CallSoon([&] { DoInterrupt(victim); });
    sent = ch.Send(42);  // buffered: returns at once
    ASSERT_TRUE(ch.Send(43).ok());
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(returned);
  EXPECT_TRUE(sent.ok());
  // 42 went back to the front of the buffer: the buffer is over capacity
  // by one for a moment, in send order.
  EXPECT_EQ(*ch.TryReceive(), 42);
  EXPECT_EQ(*ch.TryReceive(), 43);
}

TEST_P(ChannelInterruptTest, DeliveredSendSucceedsEvenIfInterruptedRightAfter) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::Status sent = absl::UnknownError("not returned");
  bool slept = false;
  auto victim = Victim([&] {
    sent = ch.Send(5);
    (void)Sleep(absl::Hours(1));  // the cancelled scope raises here
    slept = true;
  });
  absl::StatusOr<int> got;
  loop->CallLater(absl::Milliseconds(1), [&] {
    got = ch.TryReceive();  // takes the value: the send is done
    DoInterrupt(victim);    // before the sender resumed
  });
  ASSERT_TRUE(RunOk(*loop));
  ExpectInterrupted(victim);
  EXPECT_FALSE(slept);
  EXPECT_EQ(*got, 5);
  if (GetParam() == Interrupt::kCancel) {
    EXPECT_TRUE(sent.ok()) << sent;
  }
  EXPECT_EQ(ch.TryReceive().status().code(), absl::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Interrupts, ChannelInterruptTest,
                         ::testing::Values(Interrupt::kKill,
                                           Interrupt::kCancel),
                         InterruptName);

TEST(ChannelTest, SenderKilledWhileItsValueIsInFlightTakesItBack) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::StatusOr<int> got;
  Go([&] { got = ch.Receive(); });
  std::shared_ptr<Task> sender;
  sender = Go([&] {
    // Runs after the Send handed 1 to the receiver, before it resumed.
    EventLoop::Current()->CallSoon([&] { EXPECT_TRUE(sender->Kill().ok()); });
    (void)ch.Send(1);
    ADD_FAILURE() << "Send returned";
  });
  Go([&] { ASSERT_TRUE(ch.Send(2).ok()); });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_TRUE(sender->killed());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 2);  // 1 was never delivered
}

TEST(ChannelTest, SenderCancelledWhileItsValueIsInFlightTakesItBack) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::StatusOr<int> first_got;
  bool first_returned = false;
  CancelScope first_scope;
  auto first = Go([&] {
    (void)first_scope.Run([&] {
      first_got = ch.Receive();
      first_returned = true;
    });
  });
  absl::StatusOr<int> second_got;
  Go([&] { second_got = ch.Receive(); });
  CancelScope sender_scope;
  absl::Status sender_status;
  absl::Status sent = absl::UnknownError("not returned");
  Go([&] {
    EventLoop::Current()->CallSoon([&] {
      // The sender (paired with `first`) is cancelled first, then `first` is
      // killed: its value goes back to the sender, which pairs with
      // `second`; the sender resumes before `second` and takes it back.
      sender_scope.Cancel();
      EXPECT_TRUE(first->Kill().ok());
    });
    sender_status = sender_scope.Run([&] { sent = ch.Send(1); });
  });
  Go([&] {
    ASSERT_TRUE(Sleep(absl::Milliseconds(2)).ok());
    ASSERT_TRUE(ch.Send(2).ok());
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_FALSE(first_returned);
  EXPECT_EQ(sender_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sent.code(), absl::StatusCode::kUnknown);  // Send did not return
  ASSERT_TRUE(second_got.ok()) << second_got.status();
  EXPECT_EQ(*second_got, 2);
}

class ChannelStressTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ChannelStressTest, RandomDeadlinesAndTimeoutsNeverLoseOrDuplicate) {
  auto loop = NewLoop();
  Channel<int> ch(GetParam());
  constexpr int kSenders = 3, kPerSender = 150, kReceivers = 3;
  std::vector<int> sent_ok(kSenders * kPerSender, 0);
  std::vector<int> got(kSenders * kPerSender, 0);
  std::vector<std::shared_ptr<Task>> senders;
  int timeouts = 0;
  for (int p = 0; p < kSenders; ++p) {
    senders.push_back(Go([&, p] {
      std::mt19937 rng(p);
      for (int i = 0; i < kPerSender; ++i) {
        const int value = p * kPerSender + i;
        absl::Duration wait = absl::Microseconds(rng() % 300);
        if (rng() % 2 == 0) {
          absl::Status s = ch.Send(value, Deadline::After(wait));
          if (s.ok()) ++sent_ok[value];
          if (s.code() == absl::StatusCode::kDeadlineExceeded) ++timeouts;
        } else {
          absl::Status scope = WithTimeout(wait, [&] {
            if (ch.Send(value).ok()) ++sent_ok[value];
          });
          if (!scope.ok()) ++timeouts;
        }
      }
    }));
  }
  bool senders_done = false;
  for (int c = 0; c < kReceivers; ++c) {
    Go([&, c] {
      std::mt19937 rng(100 + c);
      while (!senders_done || ch.size() > 0) {
        absl::Duration wait = absl::Microseconds(rng() % 300);
        switch (rng() % 3) {
          case 0: {
            absl::StatusOr<int> v = ch.Receive(Deadline::After(wait));
            if (v.ok()) ++got[*v];
            break;
          }
          case 1:
            (void)WithTimeout(wait, [&] {
              absl::StatusOr<int> v = ch.Receive();
              if (v.ok()) ++got[*v];
            });
            break;
          default: {
            Channel<int> never;
            auto r = SelectReceive<int>({&never, &ch}, Deadline::After(wait));
            if (r.ok()) {
              EXPECT_EQ(r->first, 1u);
              ++got[r->second];
            }
          }
        }
        if (rng() % 3 == 0) (void)Sleep(absl::Microseconds(rng() % 200));
      }
    });
  }
  Go([&] {
    for (auto& s : senders) ASSERT_TRUE(s->Join().ok());
    senders_done = true;
  });
  ASSERT_TRUE(RunOk(*loop));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], sent_ok[i]) << "value " << i;
  }
  EXPECT_GT(timeouts, 0);
}

INSTANTIATE_TEST_SUITE_P(Capacities, ChannelStressTest,
                         ::testing::Values(0, 2));

TEST(SelectTest, ReceivesFromWhicheverChannelHasAValue) {
  auto loop = NewLoop();
  Channel<int> a, b, c;
  absl::StatusOr<std::pair<size_t, int>> got;
  Go([&] { got = SelectReceive<int>({&a, &b, &c}); });
  int64_t balance_while_waiting = 0;
  Go([&] {
    balance_while_waiting = a.balance() + b.balance() + c.balance();
    ASSERT_TRUE(c.Send(30).ok());
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(balance_while_waiting, -3);  // waiting on all three
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->first, 2u);
  EXPECT_EQ(got->second, 30);
  // The select left the other channels.
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
}

TEST(SelectTest, ReadyChannelsTakeTurns) {
  auto loop = NewLoop();
  Channel<int> a(100), b(100), c(100);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(a.Send(i).ok());
    ASSERT_TRUE(b.Send(i).ok());
    ASSERT_TRUE(c.Send(i).ok());
  }
  std::vector<int> count(3, 0);
  for (int i = 0; i < 30; ++i) {
    auto got = SelectReceive<int>({&a, &b, &c});  // ready: no task needed
    ASSERT_TRUE(got.ok()) << got.status();
    ++count[got->first];
  }
  for (int i = 0; i < 3; ++i) EXPECT_GE(count[i], 5) << "channel " << i;
}

TEST(SelectTest, DeadlineClosedChannelsAndBadInput) {
  auto loop = NewLoop();
  Channel<int> a, b;
  absl::StatusOr<std::pair<size_t, int>> timed_out, skip_closed, all_closed;
  Go([&] {
    timed_out =
        SelectReceive<int>({&a, &b}, Deadline::After(absl::Milliseconds(2)));
    a.Close();
    skip_closed = SelectReceive<int>({&a, &b});  // waits on b only
    all_closed = SelectReceive<int>({&a, &b});   // b closes meanwhile
  });
  Go([&] {
    ASSERT_TRUE(Sleep(absl::Milliseconds(5)).ok());
    ASSERT_TRUE(b.Send(7).ok());
    ASSERT_TRUE(Yield().ok());
    b.Close();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(timed_out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timed_out.status().message(), "select: deadline exceeded");
  ASSERT_TRUE(skip_closed.ok()) << skip_closed.status();
  EXPECT_EQ(skip_closed->first, 1u);
  EXPECT_EQ(skip_closed->second, 7);
  EXPECT_EQ(all_closed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(all_closed.status().message(), "select: all channels closed");
  EXPECT_EQ(SelectReceive<int>({&a, &b}).status().message(),
            "select: all channels closed");
  EXPECT_EQ(SelectReceive<int>({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SelectReceive<int>({&a, nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
  Channel<int> open;
  EXPECT_EQ(SelectReceive<int>({&open}).status().message(),
            "select: not in a task");
  SelectCase reused = open.OnReceive();
  EXPECT_EQ(Select({reused, reused}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SelectTest, MixedCasesOfDifferentTypes) {
  auto loop = NewLoop();
  Channel<int> numbers;
  Channel<std::string> names;
  absl::StatusOr<std::string> name;
  Go([&] { name = names.Receive(); });
  absl::StatusOr<size_t> which;
  std::vector<std::string> callbacks;
  Go([&] {
    which = Select({numbers.OnReceive([&](int v) {
                      callbacks.push_back("number " + std::to_string(v));
                    }),
                    names.OnSend("ada", [&] { callbacks.push_back("sent"); })});
  });
  ASSERT_TRUE(RunOk(*loop));
  ASSERT_TRUE(which.ok()) << which.status();
  EXPECT_EQ(*which, 1u);
  EXPECT_EQ(callbacks, std::vector<std::string>{"sent"});
  EXPECT_EQ(*name, "ada");
  EXPECT_EQ(numbers.balance(), 0);
}

TEST(SelectTest, SendAndReceiveOnOneChannelDoNotMatchEachOther) {
  auto loop = NewLoop();
  Channel<int> ch;
  absl::StatusOr<size_t> which;
  Go([&] {
    which = Select({ch.OnSend(1), ch.OnReceive()},
                   Deadline::After(absl::Milliseconds(2)));
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(which.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.TryReceive().status().code(), absl::StatusCode::kUnavailable);
}

TEST(SelectTest, SelectKilledAfterHandOffGivesTheValueBack) {
  auto loop = NewLoop();
  Channel<int> a, b;
  bool returned = false;
  auto victim = Go([&] {
    (void)SelectReceive<int>({&a, &b});
    returned = true;
  });
  absl::Status sent;
  Go([&] {
    EventLoop::Current()->CallSoon([&] { EXPECT_TRUE(victim->Kill().ok()); });
    sent = a.Send(1);  // handed to the select, then back: waits on
  });
  absl::StatusOr<int> got;
  Go([&] {
    ASSERT_TRUE(Sleep(absl::Milliseconds(2)).ok());
    EXPECT_EQ(a.balance(), 1);  // the sender is waiting again
    EXPECT_EQ(b.balance(), 0);  // the select left b
    got = a.Receive();
  });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_TRUE(victim->killed());
  EXPECT_FALSE(returned);
  EXPECT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(*got, 1);
}

TEST(SelectTest, SendCaseThatLosesLeavesNoGhost) {
  auto loop = NewLoop();
  Channel<int> in, out;
  absl::StatusOr<size_t> which;
  int received = -1;
  Go([&] {
    which =
        Select({in.OnReceive([&](int v) { received = v; }), out.OnSend(99)});
  });
  Go([&] { ASSERT_TRUE(in.Send(5).ok()); });
  ASSERT_TRUE(RunOk(*loop));
  ASSERT_TRUE(which.ok()) << which.status();
  EXPECT_EQ(*which, 0u);
  EXPECT_EQ(received, 5);
  EXPECT_EQ(out.balance(), 0);
  EXPECT_EQ(out.TryReceive().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ChannelTest, DestroyingTheChannelFailsItsWaiters) {
  auto loop = NewLoop();
  auto ch = std::make_unique<Channel<int>>();
  absl::Status sent;
  Go([&] { sent = ch->Send(1); });
  loop->CallLater(absl::Milliseconds(1), [&] { ch.reset(); });
  ASSERT_TRUE(RunOk(*loop));
  EXPECT_EQ(sent.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sent.message(), "channel send: destroyed");
}

}  // namespace
}  // namespace runtime
}  // namespace evergreen
