// Child processes with piped stdio: real /bin/cat, /bin/sh, /bin/true,
// /bin/false.
#include "runtime/io/process.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/io/test_util.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

ProcessOptions Cat() {
  ProcessOptions o;
  o.file = "/bin/cat";
  o.stdin_mode = Stdio::kPipe;
  o.stdout_mode = Stdio::kPipe;
  return o;
}

ProcessOptions Sh(const std::string& script) {
  ProcessOptions o;
  o.file = "/bin/sh";
  o.args = {"sh", "-c", script};
  return o;
}

// ReadAll reads `s` until EOF.
absl::StatusOr<std::string> ReadAll(Stream& s) {
  std::string all;
  while (true) {
    absl::StatusOr<std::string> r = s.ReadSome();
    if (r.ok()) {
      all += *r;
      continue;
    }
    if (r.status().code() == absl::StatusCode::kOutOfRange) return all;
    return r.status();
  }
}

// Whether process `pid` exists (a zombie still does).
bool Exists(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

TEST(ProcessTest, EchoesOneMebibyteThroughCatByteForByte) {
  auto el = NewLoop();
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 7919 + i / 251) & 0xff);
  }
  std::string echoed;
  absl::StatusOr<ExitStatus> exit = absl::UnknownError("not run");
  size_t max_queued = 0;
  RunTask(*el, [&] {
    ProcessOptions o = Cat();
    o.stream_options.write_high_water = 16 * 1024;
    o.stream_options.read_buffer_limit = 16 * 1024;
    auto child = Process::Spawn(o);
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    ASSERT_NE(p.stdin_pipe(), nullptr);
    ASSERT_NE(p.stdout_pipe(), nullptr);
    EXPECT_EQ(p.stderr_pipe(), nullptr);
    auto writer = Task::Spawn([&] {
      for (size_t off = 0; off < payload.size(); off += 100000) {
        ASSERT_TRUE(p.stdin_pipe()->Write(payload.substr(off, 100000)).ok());
        max_queued = std::max(max_queued, p.stdin_pipe()->WriteQueueSize());
      }
      ASSERT_TRUE(p.stdin_pipe()->Shutdown().ok());
    });
    ASSERT_TRUE(writer.ok());
    auto all = ReadAll(*p.stdout_pipe());
    ASSERT_TRUE(all.ok()) << all.status();
    echoed = *std::move(all);
    exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE((*writer)->Join().ok());
  });
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->success()) << exit->ToString();
  ASSERT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload) << "the echoed bytes differ";
  // Backpressure: the writer never had much more than the high-water mark
  // plus one write queued.
  EXPECT_LE(max_queued, 16u * 1024 + 100000);
}

TEST(ProcessTest, ExitCodesAndTerminatingSignal) {
  auto el = NewLoop();
  RunTask(*el, [&] {
    struct Case {
      ProcessOptions options;
      int64_t code;
      int signal;
      std::string text;
    };
    ProcessOptions t;
    t.file = "/bin/true";
    ProcessOptions f;
    f.file = "/bin/false";
    Case cases[] = {
        {t, 0, 0, "exit code 0"},
        {f, 1, 0, "exit code 1"},
        {Sh("exit 7"), 7, 0, "exit code 7"},
        {Sh("kill -TERM $$"), 0, SIGTERM, "signal 15"},
        {Sh("kill -KILL $$"), 0, SIGKILL, "signal 9"},
    };
    for (const Case& c : cases) {
      auto child = Process::Spawn(c.options);
      ASSERT_TRUE(child.ok()) << child.status();
      EXPECT_GT((*child)->pid(), 0);
      auto exit = (*child)->Wait(Deadline::After(absl::Seconds(5)));
      ASSERT_TRUE(exit.ok()) << exit.status();
      EXPECT_EQ(exit->exit_code, c.code) << c.text;
      EXPECT_EQ(exit->term_signal, c.signal) << c.text;
      EXPECT_EQ(exit->success(), c.code == 0 && c.signal == 0);
      EXPECT_TRUE(absl::StartsWith(exit->ToString(), c.text))
          << exit->ToString();
      // Every later Wait returns the same; Kill is refused (no stale pid).
      auto again = (*child)->Wait();
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->exit_code, c.code);
      ASSERT_TRUE((*child)->exit_status().has_value());
      absl::Status k = (*child)->Kill(SIGTERM);
      EXPECT_EQ(k.code(), absl::StatusCode::kFailedPrecondition) << k;
      EXPECT_TRUE(absl::StrContains(k.message(), "process exited")) << k;
    }
  });
  EXPECT_EQ(OpenHandles(*el, "process"), 0);
}

TEST(ProcessTest, SpawnErrorsNameTheFileAndLeaveNothingOpen) {
  {
    // No EventLoop on this thread.
    ProcessOptions o;
    o.file = "/bin/true";
    auto child = Process::Spawn(o);
    EXPECT_EQ(child.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(child.status().message(), "spawn /bin/true"))
        << child.status();
  }
  auto el = NewLoop();
  RunTask(*el, [&] {
    ProcessOptions o = Cat();
    o.file = "/nonexistent/prog";
    auto child = Process::Spawn(o);
    ASSERT_FALSE(child.ok());
    EXPECT_TRUE(absl::StartsWith(child.status().message(),
                                 "spawn /nonexistent/prog: ENOENT"))
        << child.status();
    o = Cat();
    o.cwd = "/nonexistent/dir";
    child = Process::Spawn(o);
    ASSERT_FALSE(child.ok());
    EXPECT_TRUE(absl::StrContains(child.status().message(), "ENOENT"))
        << child.status();
    o = Cat();
    o.file = "";
    child = Process::Spawn(o);
    EXPECT_EQ(child.status().code(), absl::StatusCode::kInvalidArgument)
        << child.status();
    o = Cat();
    o.env = std::vector<std::string>{"NOEQUALS"};
    child = Process::Spawn(o);
    EXPECT_EQ(child.status().code(), absl::StatusCode::kInvalidArgument)
        << child.status();
    EXPECT_EQ(OpenHandles(*el, "pipe"), 0);
    EXPECT_EQ(OpenHandles(*el, "process"), 0);
  });
}

TEST(ProcessTest, WaitOutsideATaskFails) {
  auto el = NewLoop();
  ProcessOptions o;
  o.file = "/bin/true";
  auto child = Process::Spawn(o);
  ASSERT_TRUE(child.ok()) << child.status();
  auto exit = (*child)->Wait();
  EXPECT_EQ(exit.status().code(), absl::StatusCode::kFailedPrecondition);
  RunTask(*el, [&] {
    auto e = (*child)->Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_TRUE(e->success());
  });
}

TEST(ProcessTest, WaitDeadlineLeavesTheProcessUsable) {
  auto el = NewLoop();
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    // cat waits for its stdin: it cannot exit before we shut it down.
    auto exit = p.Wait(Deadline::After(absl::Milliseconds(20)));
    EXPECT_EQ(exit.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(
        exit.status().message(),
        absl::StrCat("wait /bin/cat (pid ", p.pid(), "): deadline exceeded"));
    EXPECT_FALSE(p.exit_status().has_value());
    ASSERT_TRUE(p.stdin_pipe()->Write("still here\n").ok());
    auto line = p.stdout_pipe()->ReadLine();
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "still here\n");
    ASSERT_TRUE(p.stdin_pipe()->Shutdown().ok());
    exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->success());
    // cat closed its stdout: EOF, named after the child.
    auto eof = p.stdout_pipe()->ReadSome();
    EXPECT_EQ(eof.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_TRUE(absl::StrContains(eof.status().message(), "/bin/cat (pid "))
        << eof.status();
  });
}

TEST(ProcessTest, KillDuringWaitThenKillTheChild) {
  auto el = NewLoop();
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    bool returned = false;
    auto victim = Task::Spawn([&] {
      (void)p.Wait();
      returned = true;
    });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*victim)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*victim)->Kill().ok());
    EXPECT_FALSE(returned);
    EXPECT_FALSE(p.handle().HasRef()) << "nobody waits any more";
    absl::Status bad = p.Kill(100000);
    EXPECT_FALSE(bad.ok());
    EXPECT_TRUE(absl::StartsWith(
        bad.message(), absl::StrCat("kill /bin/cat (pid ", p.pid(), "): ")))
        << bad;
    // Two waiters at once, then the child is killed by a signal.
    absl::StatusOr<ExitStatus> other = absl::UnknownError("not run");
    auto waiter = Task::Spawn([&] { other = p.Wait(); });
    ASSERT_TRUE(waiter.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_TRUE(p.Kill(SIGTERM).ok());
    auto exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->term_signal, SIGTERM);
    ASSERT_TRUE((*waiter)->Join().ok());
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(other->term_signal, SIGTERM);
  });
}

TEST(ProcessTest, KillDuringReadOfStdoutKeepsTheStream) {
  auto el = NewLoop();
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    auto victim = Task::Spawn([&] { (void)p.stdout_pipe()->ReadSome(); });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*victim)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*victim)->Kill().ok());
    EXPECT_FALSE(p.stdout_pipe()->IsClosed());
    ASSERT_TRUE(p.stdin_pipe()->Write("after the kill\n").ok());
    auto line = p.stdout_pipe()->ReadLine();
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "after the kill\n");
    ASSERT_TRUE(p.stdin_pipe()->Shutdown().ok());
    auto exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->success());
  });
}

TEST(ProcessTest, CancelScopeAndTimeoutDuringWait) {
  auto el = NewLoop();
  absl::Status timeout, cancelled;
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    timeout = WithTimeout(absl::Milliseconds(20), [&] { (void)p.Wait(); });
    CancelScope scope;
    auto canceller = Task::Spawn([&] { scope.Cancel(); });
    ASSERT_TRUE(canceller.ok());
    cancelled = scope.Run([&] { (void)p.Wait(); });
    // Still usable.
    ASSERT_TRUE(p.Kill(SIGKILL).ok());
    auto exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->term_signal, SIGKILL);
  });
  EXPECT_EQ(timeout.code(), absl::StatusCode::kDeadlineExceeded) << timeout;
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled) << cancelled;
}

TEST(ProcessTest, ChildThatClosesStdoutButKeepsRunning) {
  auto el = NewLoop();
  RunTask(*el, [&] {
    ProcessOptions o = Sh("exec 1>&-; read x; exit 3");
    o.stdin_mode = Stdio::kPipe;
    o.stdout_mode = Stdio::kPipe;
    auto child = Process::Spawn(o);
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    auto eof = p.stdout_pipe()->ReadSome();
    EXPECT_EQ(eof.status().code(), absl::StatusCode::kOutOfRange)
        << eof.status();
    // EOF on stdout is not an exit.
    auto exit = p.Wait(Deadline::After(absl::Milliseconds(20)));
    EXPECT_EQ(exit.status().code(), absl::StatusCode::kDeadlineExceeded);
    ASSERT_TRUE(p.stdin_pipe()->Write("go\n").ok());
    exit = p.Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->exit_code, 3);
  });
}

TEST(ProcessTest, EnvCwdAndStderr) {
  auto el = NewLoop();
  const char* tmp = std::getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  char real[PATH_MAX];
  ASSERT_NE(realpath(tmp, real), nullptr);
  std::string out, err;
  absl::StatusOr<ExitStatus> exit = absl::UnknownError("not run");
  RunTask(*el, [&] {
    ProcessOptions o = Sh("echo \"$GREETING\"; pwd; echo oops >&2; exit 4");
    o.env =
        std::vector<std::string>{"GREETING=hello there", "PATH=/usr/bin:/bin"};
    o.cwd = real;
    o.stdin_mode = Stdio::kIgnore;
    o.stdout_mode = Stdio::kPipe;
    o.stderr_mode = Stdio::kPipe;
    auto child = Process::Spawn(o);
    ASSERT_TRUE(child.ok()) << child.status();
    Process& p = **child;
    EXPECT_EQ(p.stdin_pipe(), nullptr);
    auto errors = Task::Spawn([&] {
      auto e = ReadAll(*p.stderr_pipe());
      ASSERT_TRUE(e.ok()) << e.status();
      err = *e;
    });
    ASSERT_TRUE(errors.ok());
    auto o1 = ReadAll(*p.stdout_pipe());
    ASSERT_TRUE(o1.ok()) << o1.status();
    out = *o1;
    ASSERT_TRUE((*errors)->Join().ok());
    exit = p.Wait(Deadline::After(absl::Seconds(5)));
  });
  EXPECT_EQ(out, absl::StrCat("hello there\n", real, "\n"));
  EXPECT_EQ(err, "oops\n");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 4);
}

TEST(ProcessTest, DestroyingARunningProcessKillsAndReapsIt) {
  auto el = NewLoop();
  int pid = 0;
  absl::StatusOr<ExitStatus> blocked = absl::UnknownError("not run");
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    pid = (*child)->pid();
    ASSERT_TRUE(Exists(pid));
    auto waiter = Task::Spawn([&] { blocked = (*child)->Wait(); });
    ASSERT_TRUE(waiter.ok());
    ASSERT_TRUE(Yield().ok());
    child->reset();  // cat still runs (its stdin is open)
    ASSERT_TRUE((*waiter)->Join().ok());
  });
  // Run returned only once the child was reaped: no zombie, no handle.
  EXPECT_FALSE(Exists(pid)) << "pid " << pid << " still exists (zombie?)";
  EXPECT_EQ(OpenHandles(*el, "process"), 0);
  EXPECT_EQ(OpenHandles(*el, "pipe"), 0);
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kFailedPrecondition)
      << blocked.status();
  EXPECT_TRUE(
      absl::StrContains(blocked.status().message(), "process destroyed"))
      << blocked.status();
}

TEST(ProcessTest, AChildNobodyWaitsForDoesNotKeepRunGoing) {
  auto el = NewLoop();
  std::unique_ptr<Process> kept;
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    kept = *std::move(child);
  });  // returns although cat runs on
  ASSERT_NE(kept, nullptr);
  EXPECT_FALSE(kept->exit_status().has_value());
  // A later Wait still sees the exit.
  RunTask(*el, [&] {
    ASSERT_TRUE(kept->stdin_pipe()->Shutdown().ok());
    auto exit = kept->Wait(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->success());
  });
}

// Outside Run no exit callback can come: the destructor reaps the child.
TEST(ProcessTest, DestroyingARunningProcessOutsideRunReapsIt) {
  auto el = NewLoop();
  std::unique_ptr<Process> kept;
  RunTask(*el, [&] {
    auto child = Process::Spawn(Cat());
    ASSERT_TRUE(child.ok()) << child.status();
    kept = *std::move(child);
  });
  ASSERT_NE(kept, nullptr);
  int pid = kept->pid();
  ASSERT_TRUE(Exists(pid));
  kept.reset();
  EXPECT_FALSE(Exists(pid)) << "pid " << pid << " still exists (zombie?)";
  EXPECT_EQ(OpenHandles(*el, "process"), 0);
  // The loop is still usable and has nothing left to do.
  EXPECT_TRUE(el->Run().ok());
}

// ~EventLoop kills a task that owns a running child; a Process may also
// outlive its EventLoop. Either way the child is reaped.
TEST(ProcessTest, ChildrenOwnedAtEventLoopDestructionAreReaped) {
  int owned_pid = 0, outliving_pid = 0;
  std::unique_ptr<Process> outliving;
  {
    auto el = NewLoop();
    auto watchdog = testing::Watchdog(*el);
    Event never;
    auto owner = Task::Spawn([&] {
      auto child = Process::Spawn(Cat());
      ASSERT_TRUE(child.ok()) << child.status();
      owned_pid = (*child)->pid();
      auto other = Process::Spawn(Cat());
      ASSERT_TRUE(other.ok()) << other.status();
      outliving_pid = (*other)->pid();
      outliving = *std::move(other);
      (void)never.Wait();  // blocks forever: Run reports a deadlock
    });
    ASSERT_TRUE(owner.ok());
    absl::Status run = el->Run();
    EXPECT_EQ(run.code(), absl::StatusCode::kFailedPrecondition) << run;
    ASSERT_GT(owned_pid, 0);
    EXPECT_TRUE(Exists(owned_pid));
  }  // ~EventLoop kills `owner`, whose Process goes
  EXPECT_FALSE(Exists(owned_pid)) << "pid " << owned_pid << " remains";
  ASSERT_NE(outliving, nullptr);
  EXPECT_TRUE(Exists(outliving_pid));
  outliving.reset();
  EXPECT_FALSE(Exists(outliving_pid)) << "pid " << outliving_pid << " remains";
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
