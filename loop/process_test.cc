#include "loop/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "loop/loop.h"
#include "loop/pipe.h"
#include "loop/tcp.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// Fails the test and stops the loop if it runs longer than 10 s.
class Watchdog {
 public:
  explicit Watchdog(Loop& loop) : timer_(Timer::Create(loop)) {
    EXPECT_TRUE(timer_
                    ->Start(10000, 0,
                            [](Timer& t) {
                              std::string open;
                              t.loop().Walk([&](Handle& h) {
                                open += std::string(h.TypeName()) +
                                        (h.IsActive() ? "(active) " : " ");
                              });
                              ADD_FAILURE()
                                  << "watchdog: test took > 10 s; " << open;
                              t.loop().Stop();
                            })
                    .ok());
    timer_->Unref();
  }

 private:
  HandlePtr<Timer> timer_;
};

// Closes everything and checks that the loop closes cleanly.
void Finish(Loop& loop) {
  loop.Walk([](Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

bool Contains(const absl::Status& s, absl::string_view part) {
  return s.message().find(part) != absl::string_view::npos;
}

// The path of testdata/child_helper.cc's binary: in the runfiles under
// `bazel test`, else next to this test binary (run by hand or by valgrind).
std::string Helper() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    std::string path =
        absl::StrCat(srcdir, "/", workspace, "/loop/child_helper");
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  EXPECT_GT(n, 0);
  std::string dir(self, n > 0 ? static_cast<size_t>(n) : 0);
  return dir.substr(0, dir.rfind('/')) + "/child_helper";
}

ProcessOptions HelperOptions(std::vector<std::string> args) {
  ProcessOptions o;
  o.file = Helper();
  o.args = {"child_helper"};
  o.args.insert(o.args.end(), args.begin(), args.end());
  return o;
}

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base ? base : "/tmp", "/procXXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// Reads a Pipe to EOF into `out`, then closes it.
void Collect(Pipe& pipe, std::string* out, int* eofs) {
  ASSERT_TRUE(
      pipe.ReadStart([out, eofs](Stream& s, auto r) {
            if (!r.ok()) {
              EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange)
                  << r.status();
              ++*eofs;
              (void)s.Close();
              return;
            }
            out->append(r->data(), r->size());
          })
          .ok());
}

// What an exit callback saw.
struct Exit {
  int calls = 0;
  int64_t status = -1;
  int signal = -1;
  Process::ExitCallback Callback() {
    return [this](Process& p, int64_t st, int sig) {
      ++calls;
      status = st;
      signal = sig;
      EXPECT_TRUE(p.Exited());
    };
  }
};

TEST(ProcessTest, ExitStatusAndStdoutPipe) {
  Loop loop;
  Watchdog dog(loop);
  auto out = *Pipe::Create(loop);
  ProcessOptions options = HelperOptions({"args", "one", "two words", ""});
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*out, false, true),
                   StdioOption::InheritFd(2)};
  Exit exit;
  auto child = Process::Spawn(loop, options, exit.Callback());
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GT((*child)->Pid(), 0);
  EXPECT_FALSE((*child)->Exited());
  EXPECT_TRUE(out->IsReadable());
  EXPECT_FALSE(out->IsWritable());
  std::string printed;
  int eofs = 0;
  Collect(*out, &printed, &eofs);
  loop.Run();
  EXPECT_EQ(printed, "one|two words|");
  EXPECT_EQ(eofs, 1);
  EXPECT_EQ(exit.calls, 1);
  EXPECT_EQ(exit.status, 0);
  EXPECT_EQ(exit.signal, 0);

  // A non-zero status, with no stdio at all and no exit callback for a
  // second child.
  Exit seven;
  auto second =
      Process::Spawn(loop, HelperOptions({"exit", "7"}), seven.Callback());
  ASSERT_TRUE(second.ok()) << second.status();
  auto third = Process::Spawn(loop, HelperOptions({"exit", "0"}), nullptr);
  ASSERT_TRUE(third.ok()) << third.status();
  loop.Run();
  EXPECT_EQ(seven.calls, 1);
  EXPECT_EQ(seven.status, 7);
  EXPECT_EQ(seven.signal, 0);
  EXPECT_TRUE((*third)->Exited());
  // Reaped: Kill refuses rather than signal a recycled pid.
  absl::Status late = (*second)->Kill(SIGTERM);
  EXPECT_TRUE(Contains(late, "ESRCH")) << late;
  child->reset();
  second->reset();
  third->reset();
  out.reset();
  Finish(loop);
}

TEST(ProcessTest, KillGivesTheTermSignal) {
  Loop loop;
  Watchdog dog(loop);
  auto out = *Pipe::Create(loop);
  ProcessOptions options = HelperOptions({"wait"});
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*out, false, true)};
  Exit exit;
  auto child = *Process::Spawn(loop, options, exit.Callback());
  std::string printed;
  // Kill once the child said it is waiting.
  ASSERT_TRUE(out->ReadStart([&](Stream& s, auto r) {
                   if (!r.ok()) {
                     (void)s.Close();
                     return;
                   }
                   printed.append(r->data(), r->size());
                   if (printed.find('\n') != std::string::npos) {
                     EXPECT_TRUE(Process::Kill(child->Pid(), 0).ok());
                     EXPECT_TRUE(child->Kill(SIGTERM).ok());
                   }
                 })
                  .ok());
  loop.Run();
  EXPECT_EQ(printed,
            absl::StrCat("pid=", child->Pid(), " sid=", getsid(0), "\n"));
  EXPECT_EQ(exit.calls, 1);
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_EQ(exit.status, 0);
  child.reset();
  out.reset();
  Finish(loop);
}

TEST(ProcessTest, StdinPipeEchoesThroughTheChild) {
  Loop loop;
  Watchdog dog(loop);
  auto in = *Pipe::Create(loop);
  auto out = *Pipe::Create(loop);
  ProcessOptions options = HelperOptions({"echo"});
  options.stdio = {StdioOption::CreatePipe(*in, true, false),
                   StdioOption::CreatePipe(*out, false, true),
                   StdioOption::InheritFd(2)};
  Exit exit;
  auto child = *Process::Spawn(loop, options, exit.Callback());
  EXPECT_TRUE(in->IsWritable());
  EXPECT_FALSE(in->IsReadable());
  std::string echoed;
  int eofs = 0;
  Collect(*out, &echoed, &eofs);
  ASSERT_TRUE(in->Write("ping\n").ok());
  ASSERT_TRUE(in->Write(std::string(100000, 'q')).ok());
  // The child sees EOF on stdin, finishes and exits.
  ASSERT_TRUE(in->Shutdown([](Stream& s, absl::Status st) {
                  EXPECT_TRUE(st.ok()) << st;
                  (void)s.Close();
                }).ok());
  loop.Run();
  EXPECT_EQ(echoed, "ping\n" + std::string(100000, 'q'));
  EXPECT_EQ(eofs, 1);
  EXPECT_EQ(exit.calls, 1);
  EXPECT_EQ(exit.status, 0);
  child.reset();
  in.reset();
  out.reset();
  Finish(loop);
}

TEST(ProcessTest, EnvironmentGivenOrInherited) {
  Loop loop;
  Watchdog dog(loop);
  ASSERT_EQ(setenv("EVERGREEN_INHERITED", "from parent", 1), 0);
  std::vector<std::string> outputs(2);
  std::vector<HandlePtr<Pipe>> pipes;
  std::vector<HandlePtr<Process>> children;
  int eofs = 0;
  Exit exits[2];
  for (int i = 0; i < 2; ++i) {
    pipes.push_back(*Pipe::Create(loop));
    ProcessOptions options =
        HelperOptions({"env", "EVERGREEN_GIVEN", "EVERGREEN_INHERITED"});
    if (i == 0) {
      options.env =
          std::vector<std::string>{"EVERGREEN_GIVEN=a b=c", "PATH=/bin"};
    }
    options.stdio = {StdioOption::Ignore(),
                     StdioOption::CreatePipe(*pipes.back(), false, true)};
    auto child = Process::Spawn(loop, options, exits[i].Callback());
    ASSERT_TRUE(child.ok()) << child.status();
    children.push_back(std::move(*child));
    Collect(*pipes.back(), &outputs[i], &eofs);
  }
  loop.Run();
  EXPECT_EQ(outputs[0], "EVERGREEN_GIVEN=a b=c\nEVERGREEN_INHERITED unset\n");
  EXPECT_EQ(outputs[1],
            "EVERGREEN_GIVEN unset\nEVERGREEN_INHERITED=from parent\n");
  EXPECT_EQ(eofs, 2);
  EXPECT_EQ(exits[0].calls + exits[1].calls, 2);
  unsetenv("EVERGREEN_INHERITED");
  children.clear();
  pipes.clear();
  Finish(loop);
}

TEST(ProcessTest, WorkingDirectoryIsRespected) {
  Loop loop;
  Watchdog dog(loop);
  std::string dir = TempDir();
  char real[PATH_MAX];
  ASSERT_NE(realpath(dir.c_str(), real), nullptr);
  auto out = *Pipe::Create(loop);
  ProcessOptions options = HelperOptions({"cwd"});
  options.cwd = dir;
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*out, false, true)};
  Exit exit;
  auto child = *Process::Spawn(loop, options, exit.Callback());
  std::string printed;
  int eofs = 0;
  Collect(*out, &printed, &eofs);
  loop.Run();
  EXPECT_EQ(printed, std::string(real) + "\n");
  EXPECT_EQ(exit.status, 0);

  // A missing cwd fails the spawn, naming file and directory.
  auto never = *Pipe::Create(loop);
  options.cwd = dir + "/missing";
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*never, false, true)};
  int calls = 0;
  auto failed =
      Process::Spawn(loop, options, [&](Process&, int64_t, int) { ++calls; });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(failed.status(), "child_helper in ")) << failed.status();
  EXPECT_TRUE(Contains(failed.status(), "/missing: ENOENT")) << failed.status();
  loop.Run();
  EXPECT_EQ(calls, 0);
  child.reset();
  out.reset();
  never.reset();
  Finish(loop);
}

TEST(ProcessTest, InheritedFdsAndStreamsAndIgnoredStdio) {
  Loop loop;
  Watchdog dog(loop);
  // An fd of ours, inherited as the child's fd 3.
  int raw[2];
  ASSERT_EQ(pipe2(raw, O_CLOEXEC), 0);
  ProcessOptions options = HelperOptions({"write-fd", "3", "to fd 3"});
  options.stdio = {StdioOption::Ignore(), StdioOption::Ignore(),
                   StdioOption::Ignore(), StdioOption::InheritFd(raw[1])};
  Exit first;
  auto a = *Process::Spawn(loop, options, first.Callback());
  close(raw[1]);  // the child has its copy
  loop.Run();
  EXPECT_EQ(first.status, 0);
  char buf[64];
  ssize_t n = read(raw[0], buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "to fd 3");
  close(raw[0]);

  // A stream of ours (one end of a socket pair) as the child's stdout; we
  // read the other end.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto given = *Pipe::Create(loop);
  auto reader = *Pipe::Create(loop);
  ASSERT_TRUE(given->Open(pair[0]).ok());
  ASSERT_TRUE(reader->Open(pair[1]).ok());
  options = HelperOptions({"args", "via", "stream"});
  options.stdio = {StdioOption::Ignore(), StdioOption::InheritStream(*given)};
  Exit second;
  auto b = *Process::Spawn(loop, options, second.Callback());
  ASSERT_TRUE(given->Close().ok());  // the child has its copy
  std::string via_stream;
  int eofs = 0;
  Collect(*reader, &via_stream, &eofs);
  loop.Run();
  EXPECT_EQ(via_stream, "via|stream");
  EXPECT_EQ(second.status, 0);

  // Ignored stdio: fds 0-2 are /dev/null in the child.
  auto report = *Pipe::Create(loop);
  options = HelperOptions({"devnull"});
  options.stdio = {StdioOption::Ignore(), StdioOption::Ignore(),
                   StdioOption::Ignore(),
                   StdioOption::CreatePipe(*report, false, true)};
  Exit third;
  auto c = *Process::Spawn(loop, options, third.Callback());
  std::string nulls;
  Collect(*report, &nulls, &eofs);
  loop.Run();
  EXPECT_EQ(nulls, "0:null 1:null 2:null");
  EXPECT_EQ(third.status, 0);
  EXPECT_EQ(eofs, 2);
  a.reset();
  b.reset();
  c.reset();
  given.reset();
  reader.reset();
  report.reset();
  Finish(loop);
}

TEST(ProcessTest, DetachedUnrefdChildDoesNotHoldTheLoop) {
  Loop loop;
  Watchdog dog(loop);
  auto out = *Pipe::Create(loop);
  ProcessOptions options = HelperOptions({"wait"});
  options.detached = true;
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*out, false, true)};
  Exit exit;
  auto child = *Process::Spawn(loop, options, exit.Callback());
  child->Unref();
  EXPECT_FALSE(child->HasRef());
  std::string printed;
  ASSERT_TRUE(out->ReadStart([&](Stream& s, auto r) {
                   ASSERT_TRUE(r.ok()) << r.status();
                   printed.append(r->data(), r->size());
                   if (printed.find('\n') != std::string::npos) {
                     (void)s.Close();
                   }
                 })
                  .ok());
  // Returns with the child still running: nothing referenced is left.
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(exit.calls, 0);
  EXPECT_TRUE(child->IsActive());
  // Its own session: sid == pid.
  EXPECT_EQ(printed,
            absl::StrCat("pid=", child->Pid(), " sid=", child->Pid(), "\n"));
  ASSERT_TRUE(child->Kill(SIGTERM).ok());
  child->Ref();
  loop.Run();
  EXPECT_EQ(exit.calls, 1);
  EXPECT_EQ(exit.signal, SIGTERM);
  child.reset();
  out.reset();
  Finish(loop);
}

TEST(ProcessTest, SpawnFailuresNameTheFile) {
  Loop loop;
  Watchdog dog(loop);
  std::string dir = TempDir();
  int calls = 0;
  auto count = [&](Process&, int64_t, int) { ++calls; };
  ProcessOptions options;
  options.file = dir + "/no-such-program";
  auto missing = Process::Spawn(loop, options, count);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status(),
                       absl::StrCat("spawn ", dir, "/no-such-program: ENOENT")))
      << missing.status();

  // Not executable (even root needs an x bit).
  std::string plain = dir + "/not-executable";
  int fd = open(plain.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
  close(fd);
  options.file = plain;
  auto denied = Process::Spawn(loop, options, count);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(Contains(denied.status(), "EACCES")) << denied.status();
  EXPECT_TRUE(Contains(denied.status(), "not-executable")) << denied.status();
  loop.Run();
  EXPECT_EQ(calls, 0);
  Finish(loop);
}

TEST(ProcessTest, BadOptionsAreRejectedBeforeSpawning) {
  Loop loop;
  Loop other_loop;
  auto never = [](Process&, int64_t, int) { ADD_FAILURE() << "spawned"; };
  auto spawn = [&](const ProcessOptions& o) {
    return Process::Spawn(loop, o, never).status();
  };
  ProcessOptions empty;
  EXPECT_TRUE(Contains(spawn(empty), "empty file"));

  ProcessOptions o = HelperOptions({"exit", "0"});
  o.args.push_back(std::string("a\0b", 3));
  EXPECT_TRUE(Contains(spawn(o), "NUL inside an argument"));
  o = HelperOptions({"exit", "0"});
  o.file += std::string(1, '\0');
  EXPECT_EQ(spawn(o).code(), absl::StatusCode::kInvalidArgument);
  o = HelperOptions({"exit", "0"});
  o.env = std::vector<std::string>{"NO_EQUALS_SIGN"};
  EXPECT_TRUE(Contains(spawn(o), "not NAME=value"));
  o.env = std::vector<std::string>{"=value"};
  EXPECT_EQ(spawn(o).code(), absl::StatusCode::kInvalidArgument);

  o = HelperOptions({"exit", "0"});
  o.stdio = {StdioOption::InheritFd(-1)};
  EXPECT_TRUE(Contains(spawn(o), "EBADF"));
  int closed_fd = dup(0);
  close(closed_fd);
  o.stdio = {StdioOption::InheritFd(closed_fd)};
  EXPECT_TRUE(Contains(spawn(o), "EBADF"));

  auto pipe = *Pipe::Create(loop);
  o.stdio = {StdioOption::CreatePipe(*pipe, false, false)};
  EXPECT_TRUE(Contains(spawn(o), "needs a direction"));
  o.stdio = {StdioOption::CreatePipe(*pipe, true, false),
             StdioOption::CreatePipe(*pipe, false, true)};
  EXPECT_TRUE(Contains(spawn(o), "used twice"));
  auto foreign = *Pipe::Create(other_loop);
  o.stdio = {StdioOption::CreatePipe(*foreign, true, false)};
  EXPECT_TRUE(Contains(spawn(o), "another loop"));
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto open_pipe = *Pipe::Create(loop);
  ASSERT_TRUE(open_pipe->Open(pair[0]).ok());
  close(pair[1]);
  o.stdio = {StdioOption::CreatePipe(*open_pipe, true, false)};
  EXPECT_TRUE(Contains(spawn(o), "EBUSY"));
  auto no_fd = *Tcp::Create(loop);
  o.stdio = {StdioOption::InheritStream(*no_fd)};
  EXPECT_TRUE(Contains(spawn(o), "EBADF"));
  ASSERT_TRUE(pipe->Close().ok());
  o.stdio = {StdioOption::CreatePipe(*pipe, true, false)};
  EXPECT_EQ(spawn(o).code(), absl::StatusCode::kFailedPrecondition);
  o.stdio = {StdioOption::InheritStream(*pipe)};
  EXPECT_EQ(spawn(o).code(), absl::StatusCode::kFailedPrecondition);
  // Nothing was touched: the unused pipes are still not open.
  EXPECT_FALSE(foreign->Fileno().ok());

  EXPECT_EQ(Process::Kill(0, SIGTERM).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Process::Kill(-1, SIGTERM).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(Process::Kill(getpid(), 12345), "EINVAL"));
  loop.Run();
  pipe.reset();
  open_pipe.reset();
  no_fd.reset();
  Finish(loop);
  foreign.reset();
  Finish(other_loop);
}

TEST(ProcessTest, UidAndGidChange) {
  Loop loop;
  Watchdog dog(loop);
  auto out = *Pipe::Create(loop);
  // /usr/bin/id rather than the helper: the helper lives under a directory
  // that user 65534 may not enter.
  ProcessOptions options;
  options.file = "/usr/bin/id";
  options.cwd = "/";
  options.uid = 65534;
  options.gid = 65534;
  options.stdio = {StdioOption::Ignore(),
                   StdioOption::CreatePipe(*out, false, true)};
  Exit exit;
  auto child = Process::Spawn(loop, options, exit.Callback());
  if (geteuid() != 0) {
    ASSERT_FALSE(child.ok());
    EXPECT_TRUE(Contains(child.status(), "EPERM")) << child.status();
    loop.Run();
    out.reset();
    Finish(loop);
    return;
  }
  ASSERT_TRUE(child.ok()) << child.status();
  std::string printed;
  int eofs = 0;
  Collect(*out, &printed, &eofs);
  loop.Run();
  EXPECT_EQ(exit.status, 0);
  EXPECT_EQ(printed.rfind("uid=65534(", 0), 0u) << printed;
  EXPECT_TRUE(printed.find(" gid=65534(") != std::string::npos) << printed;
  // Supplementary groups (root's) were dropped.
  EXPECT_TRUE(printed.find("groups=65534(") != std::string::npos) << printed;
  child->reset();
  out.reset();
  Finish(loop);
}

TEST(ProcessTest, IpcPipePassesATcpConnectionToTheChild) {
  Loop loop;
  Watchdog dog(loop);
  // A TCP server whose accepted connection reads what the child writes.
  auto server = *Tcp::Create(loop);
  ASSERT_TRUE(server->Bind(*SocketAddress::Parse("127.0.0.1", 0)).ok());
  uint16_t port = server->SockName()->port();
  HandlePtr<Tcp> conn;
  std::string from_child;
  int eofs = 0;
  ASSERT_TRUE(server
                  ->Listen(4,
                           [&](Stream& s, absl::Status st) {
                             ASSERT_TRUE(st.ok()) << st;
                             auto c = static_cast<Tcp&>(s).Accept();
                             ASSERT_TRUE(c.ok()) << c.status();
                             conn = std::move(*c);
                             (void)s.Close();
                             ASSERT_TRUE(
                                 conn->ReadStart([&](Stream& r, auto data) {
                                       if (!data.ok()) {
                                         ++eofs;
                                         (void)r.Close();
                                         return;
                                       }
                                       from_child.append(data->data(),
                                                         data->size());
                                     })
                                     .ok());
                           })
                  .ok());

  auto ipc = *Pipe::Create(loop, /*ipc=*/true);
  ProcessOptions options = HelperOptions({"ipc"});
  options.stdio = {StdioOption::Ignore(), StdioOption::InheritFd(1),
                   StdioOption::InheritFd(2),
                   StdioOption::CreatePipe(*ipc, true, true)};
  Exit exit;
  auto child = *Process::Spawn(loop, options, exit.Callback());
  EXPECT_TRUE(ipc->IsReadable());
  EXPECT_TRUE(ipc->IsWritable());
  // Notice when the child closes its end.
  ASSERT_TRUE(ipc->ReadStart([](Stream& s, auto r) {
                   if (!r.ok()) (void)s.Close();
                 })
                  .ok());

  auto client = *Tcp::Create(loop);
  int sent = 0;
  ASSERT_TRUE(client
                  ->Connect(*SocketAddress::Parse("127.0.0.1", port),
                            [&](Tcp& c, absl::Status st) {
                              ASSERT_TRUE(st.ok()) << st;
                              ASSERT_TRUE(
                                  ipc->Write2("take this", c,
                                              [&](Stream&, absl::Status ws) {
                                                EXPECT_TRUE(ws.ok()) << ws;
                                                ++sent;
                                                // The child has its own copy.
                                                (void)c.Close();
                                              })
                                      .ok());
                            })
                  .ok());
  loop.Run();
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(from_child, "hello from child\n");
  EXPECT_EQ(eofs, 1);
  EXPECT_EQ(exit.calls, 1);
  EXPECT_EQ(exit.status, 0);
  EXPECT_EQ(exit.signal, 0);
  child.reset();
  ipc.reset();
  client.reset();
  conn.reset();
  server.reset();
  Finish(loop);
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
