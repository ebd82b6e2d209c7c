#include "loop/poll.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// Watchdog fails the test and stops the loop if it runs for more than 10 s;
// unreferenced, so it never keeps the loop alive by itself.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> t = Timer::Create(loop);
  EXPECT_TRUE(t->Start(10'000, 0, [&loop](Timer&) {
                 ADD_FAILURE() << "watchdog: the test hung";
                 loop.Stop();
               }).ok());
  t->Unref();
  return t;
}

struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~SocketPair() {
    for (int f : fd) {
      if (f >= 0) close(f);
    }
  }
  void CloseEnd(int i) {
    close(fd[i]);
    fd[i] = -1;
  }
  int fd[2] = {-1, -1};
};

TEST(PollTest, WritableThenReadable) {
  Loop loop;
  auto dog = Watchdog(loop);
  SocketPair sp;
  absl::StatusOr<HandlePtr<Poll>> poll = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(poll.ok()) << poll.status();
  EXPECT_EQ((*poll)->fd(), sp.fd[0]);
  absl::StatusOr<int> fileno = (*poll)->Fileno();
  ASSERT_TRUE(fileno.ok()) << fileno.status();
  EXPECT_EQ(*fileno, sp.fd[0]);
  EXPECT_EQ((*poll)->TypeName(), "poll");
  // Create made the fd non-blocking.
  EXPECT_NE(fcntl(sp.fd[0], F_GETFL) & O_NONBLOCK, 0);

  int writable = 0;
  int readable = 0;
  std::string got;
  ASSERT_TRUE(
      (*poll)
          ->Start(Poll::kWritable,
                  [&](Poll& p, absl::Status s, int events) {
                    ASSERT_TRUE(s.ok()) << s;
                    EXPECT_EQ(events, Poll::kWritable);
                    ++writable;
                    // Switch to reading, with a new callback, from inside
                    // the callback; then make the fd readable.
                    ASSERT_TRUE(
                        p.Start(Poll::kReadable, [&](Poll& p2, absl::Status s2,
                                                     int events2) {
                           ASSERT_TRUE(s2.ok()) << s2;
                           EXPECT_EQ(events2, Poll::kReadable);
                           ++readable;
                           char buf[16];
                           ssize_t n = read(p2.fd(), buf, sizeof(buf));
                           ASSERT_EQ(n, 5);
                           got.assign(buf, n);
                           ASSERT_TRUE(p2.Stop().ok());
                         }).ok());
                    ASSERT_EQ(write(sp.fd[1], "hello", 5), 5);
                  })
          .ok());
  EXPECT_TRUE((*poll)->IsActive());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(readable, 1);
  EXPECT_EQ(got, "hello");
  EXPECT_FALSE((*poll)->IsActive());
  poll->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, DisconnectWhenThePeerCloses) {
  Loop loop;
  auto dog = Watchdog(loop);
  SocketPair sp;
  auto poll = Poll::CreateSocket(loop, sp.fd[0]);
  ASSERT_TRUE(poll.ok()) << poll.status();
  int calls = 0;
  int seen = 0;
  ASSERT_TRUE((*poll)
                  ->Start(Poll::kReadable | Poll::kDisconnect,
                          [&](Poll& p, absl::Status s, int events) {
                            ASSERT_TRUE(s.ok()) << s;
                            ++calls;
                            seen = events;
                            ASSERT_TRUE(p.Stop().ok());
                          })
                  .ok());
  sp.CloseEnd(1);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  EXPECT_NE(seen & Poll::kDisconnect, 0);
  poll->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, SecondWatcherOnTheSameFdIsAnError) {
  Loop loop;
  SocketPair sp;
  auto first = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  // Not started yet: libuv itself would accept the second one, then abort.
  auto second = Poll::Create(loop, sp.fd[0]);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(second.status().message(),
            "poll init fd " + std::to_string(sp.fd[0]) +
                ": EEXIST (file already exists); another Poll watches it on "
                "this loop");
  // Started: the same, also through the socket variant.
  ASSERT_TRUE(
      (*first)->Start(Poll::kReadable, [](Poll&, absl::Status, int) {}).ok());
  auto third = Poll::CreateSocket(loop, sp.fd[0]);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kAlreadyExists);

  // Another loop may watch the same fd.
  {
    Loop other;
    auto elsewhere = Poll::Create(other, sp.fd[0]);
    ASSERT_TRUE(elsewhere.ok()) << elsewhere.status();
    elsewhere->reset();
    EXPECT_FALSE(other.Run());
    EXPECT_TRUE(other.Close().ok());
  }

  // Once the first one is closing, the fd is free again (the closing owner
  // may still be held).
  ASSERT_TRUE((*first)->Close().ok());
  auto fourth = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  int readable = 0;
  ASSERT_TRUE((*fourth)
                  ->Start(Poll::kReadable,
                          [&](Poll& p, absl::Status s, int events) {
                            ASSERT_TRUE(s.ok());
                            EXPECT_EQ(events, Poll::kReadable);
                            ++readable;
                            (void)p.Close();
                          })
                  .ok());
  ASSERT_EQ(write(sp.fd[1], "x", 1), 1);
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(readable, 1);
  // Dropping the old owner after the takeover leaves the new entry alone.
  first->reset();
  auto fifth = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(fifth.ok()) << fifth.status();
  auto sixth = Poll::Create(loop, sp.fd[0]);
  EXPECT_EQ(sixth.status().code(), absl::StatusCode::kAlreadyExists);
  fourth->reset();
  fifth->reset();
  // Destroyed owners free the fd too.
  auto seventh = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(seventh.ok()) << seventh.status();
  seventh->reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, BadFdsAreErrors) {
  Loop loop;
  auto negative = Poll::Create(loop, -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(negative.status().message(),
            "poll init fd -1: EBADF (bad file descriptor)");
  EXPECT_FALSE(Poll::CreateSocket(loop, -5).ok());

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  auto closed = Poll::Create(loop, fds[0]);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().message(), "poll init fd " +
                                           std::to_string(fds[0]) +
                                           ": EBADF (bad file descriptor)");

  // epoll cannot watch regular files.
  const char* tmp = getenv("TEST_TMPDIR");
  std::string path = std::string(tmp != nullptr ? tmp : "/tmp") +
                     "/poll_regular_" + std::to_string(getpid());
  int file = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(file, 0);
  auto regular = Poll::Create(loop, file);
  ASSERT_FALSE(regular.ok());
  EXPECT_EQ(regular.status().message(),
            "poll init fd " + std::to_string(file) +
                ": EPERM (operation not permitted)");
  close(file);
  unlink(path.c_str());
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, BadStartArgumentsAndClosedHandle) {
  Loop loop;
  SocketPair sp;
  auto poll = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(poll.ok()) << poll.status();
  auto noop = [](Poll&, absl::Status, int) {};
  EXPECT_EQ((*poll)->Start(Poll::kReadable, nullptr).message(),
            "poll start: EINVAL (invalid argument)");
  EXPECT_EQ((*poll)->Start(0, noop).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*poll)->Start(Poll::kReadable | 64, noop).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE((*poll)->IsActive());
  ASSERT_TRUE((*poll)->Stop().ok());  // stopping a stopped watcher is fine
  ASSERT_TRUE((*poll)->Close().ok());
  absl::Status s = (*poll)->Start(Poll::kReadable, noop);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "poll start: handle is closing");
  EXPECT_EQ((*poll)->Stop().message(), "poll stop: handle is closing");
  EXPECT_EQ((*poll)->Fileno().status().code(),
            absl::StatusCode::kFailedPrecondition);  // EBADF
  EXPECT_FALSE(loop.Run());
  poll->reset();
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, StopInsideTheCallback) {
  Loop loop;
  auto dog = Watchdog(loop);
  SocketPair sp;
  auto poll = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(poll.ok()) << poll.status();
  int calls = 0;
  // Always writable: without the Stop this would run forever.
  ASSERT_TRUE((*poll)
                  ->Start(Poll::kWritable,
                          [&](Poll& p, absl::Status s, int) {
                            ASSERT_TRUE(s.ok());
                            ++calls;
                            ASSERT_TRUE(p.Stop().ok());
                            EXPECT_FALSE(p.IsActive());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 1);
  poll->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, CloseOrDropInsideTheCallback) {
  Loop loop;
  auto dog = Watchdog(loop);
  SocketPair sp;
  auto a = Poll::Create(loop, sp.fd[0]);
  auto b = Poll::Create(loop, sp.fd[1]);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  HandlePtr<Poll> owned_b = std::move(*b);
  int a_calls = 0;
  int b_calls = 0;
  int a_closed = 0;
  ASSERT_TRUE((*a)->Start(Poll::kWritable,
                          [&](Poll& p, absl::Status, int) {
                            ++a_calls;
                            ASSERT_TRUE(
                                p.Close([&](Handle&) { ++a_closed; }).ok());
                          })
                  .ok());
  ASSERT_TRUE(owned_b
                  ->Start(Poll::kWritable,
                          [&](Poll& p, absl::Status, int) {
                            ++b_calls;
                            EXPECT_EQ(&p, owned_b.get());
                            owned_b.reset();  // frees after the close
                            EXPECT_TRUE(p.IsClosing());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
  EXPECT_EQ(a_closed, 1);
  EXPECT_EQ(owned_b, nullptr);
  a->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(PollTest, ExceptionFromTheCallbackReachesRun) {
  Loop loop;
  auto dog = Watchdog(loop);
  SocketPair sp;
  auto poll = Poll::Create(loop, sp.fd[0]);
  ASSERT_TRUE(poll.ok()) << poll.status();
  ASSERT_TRUE((*poll)
                  ->Start(Poll::kWritable,
                          [](Poll& p, absl::Status, int) {
                            (void)p.Stop();
                            throw std::runtime_error("boom");
                          })
                  .ok());
  EXPECT_THROW(loop.Run(), std::runtime_error);
  poll->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
