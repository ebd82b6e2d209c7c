// loop/process.h: Process, a child process (uv_process_t) started with
// Process::Spawn; its exit is reported on the loop.
//
//   evergreen::loop::Loop loop;
//   auto out = *evergreen::loop::Pipe::Create(loop);
//   evergreen::loop::ProcessOptions options;
//   options.file = "/bin/echo";
//   options.args = {"echo", "hello"};
//   options.stdio = {evergreen::loop::StdioOption::Ignore(),
//                    evergreen::loop::StdioOption::CreatePipe(
//                        *out, /*child_reads=*/false, /*child_writes=*/true),
//                    evergreen::loop::StdioOption::InheritFd(2)};
//   auto child = evergreen::loop::Process::Spawn(
//       loop, options,
//       [](evergreen::loop::Process& p, int64_t exit_status, int signal) {
//         // exit_status == 0, signal == 0
//       });
//   if (child.ok()) (void)out->ReadStart(...);  // reads "hello\n", then EOF
//   loop.Run();
//
// Reaping: libuv reaps the child when its SIGCHLD arrives and then runs the
// exit callback. Closing the handle before that leaves the child running and,
// once it exits, a zombie until this process exits: wait for the exit
// callback (Kill first if needed) before dropping the handle.
//
// Loop thread only, like every handle (see loop/loop.h for lifetime), except
// the static Kill.
#ifndef EVERGREEN_LOOP_PROCESS_H_
#define EVERGREEN_LOOP_PROCESS_H_

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"
#include "loop/pipe.h"
#include "loop/stream.h"

namespace evergreen {
namespace loop {

// StdioOption says what the child gets as one file descriptor (index i of
// ProcessOptions::stdio is the child's fd i). Build it with the factories.
struct StdioOption {
  enum class Kind {
    kIgnore,         // fds 0-2: /dev/null; fds from 3 on: not set up
    kInheritFd,      // the child gets a copy of `fd`
    kCreatePipe,     // a new socket pair; `stream` (a Pipe) gets our end
    kInheritStream,  // the child gets a copy of `stream`'s descriptor
  };

  // Ignore gives the child /dev/null (fds 0-2) or no descriptor (fds from
  // 3 on).
  static StdioOption Ignore() { return StdioOption(); }
  // InheritFd gives the child a copy of our `fd` (which stays ours).
  static StdioOption InheritFd(int fd) {
    StdioOption o;
    o.kind = Kind::kInheritFd;
    o.fd = fd;
    return o;
  }
  // CreatePipe connects the child's fd to `pipe`, a Pipe of the same loop
  // that is not open yet (create it with ipc = true for an IPC channel to a
  // child that uses libuv). `child_reads` / `child_writes` give the
  // direction from the child's side (stdin: child_reads; stdout:
  // child_writes); our end gets the opposite. `pipe` must outlive Spawn.
  static StdioOption CreatePipe(Pipe& pipe, bool child_reads,
                                bool child_writes) {
    StdioOption o;
    o.kind = Kind::kCreatePipe;
    o.stream = &pipe;
    o.child_reads = child_reads;
    o.child_writes = child_writes;
    return o;
  }
  // InheritStream gives the child a copy of `stream`'s descriptor (a Tcp,
  // Pipe or Tty with an open descriptor).
  static StdioOption InheritStream(Stream& stream) {
    StdioOption o;
    o.kind = Kind::kInheritStream;
    o.stream = &stream;
    return o;
  }

  Kind kind = Kind::kIgnore;
  int fd = -1;
  Stream* stream = nullptr;
  bool child_reads = false;
  bool child_writes = false;
};

// ProcessOptions describe the child to start.
struct ProcessOptions {
  // The program: a path, or a name looked up in the child's PATH (of `env`
  // when given).
  std::string file;
  // The arguments, argv[0] first; empty means {file}.
  std::vector<std::string> args;
  // The environment as "NAME=value" entries; nullopt inherits ours.
  std::optional<std::vector<std::string>> env;
  // The working directory; empty inherits ours.
  std::string cwd;
  // The user and group ids to run as (setuid/setgid; needs privileges, else
  // the spawn fails with EPERM). Supplementary groups are dropped when
  // either is set and we may.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // detached makes the child a session and process group leader (setsid),
  // so it survives us; Unref the handle if the loop should not wait for it.
  bool detached = false;
  // stdio[i] is the child's fd i; missing entries among 0-2 are Ignore.
  std::vector<StdioOption> stdio;
};

class Process final : public Handle {
 public:
  // ExitCallback receives the exit status (0-255, 0 when signalled) and the
  // terminating signal (0 when it exited).
  using ExitCallback =
      std::function<void(Process&, int64_t exit_status, int term_signal)>;

  // Spawn starts the child described by `options`; `exit_cb` (may be empty)
  // runs on the loop when it ends. Returns an error naming the file, e.g.
  // "spawn /no/such: ENOENT (no such file or directory)" (missing file or
  // cwd), EACCES (not executable), EPERM (uid/gid not allowed); EINVAL for a
  // bad option (empty file, NUL inside a string, env entry without '=', a
  // pipe used twice or from another loop, no direction), EBADF for a bad
  // inherited fd or a stream without descriptor, EBUSY for a CreatePipe
  // pipe that is already open, FailedPrecondition for a closing stream.
  // A failed spawn starts nothing.
  static absl::StatusOr<HandlePtr<Process>> Spawn(Loop& loop,
                                                  const ProcessOptions& options,
                                                  ExitCallback exit_cb);

  // Pid returns the child's process id.
  int Pid() const;
  // Exited returns whether the exit callback ran (the child was reaped).
  bool Exited() const { return exited_; }

  // Kill sends `signum` to the child. ESRCH once it was reaped (the pid may
  // belong to another process by then), EINVAL for a bad signal,
  // FailedPrecondition when closing.
  absl::Status Kill(int signum);
  // Kill sends `signum` to process `pid`. EINVAL for pid <= 0 (process
  // groups and "every process" are refused) or a bad signal; ESRCH, EPERM
  // from kill(2). Thread-safe.
  static absl::Status Kill(int pid, int signum);

 private:
  explicit Process(Loop& loop);
  static void OnExit(uv_process_t* raw, int64_t exit_status, int term_signal);

  uv_process_t process_;
  std::shared_ptr<ExitCallback> exit_cb_;
  bool exited_ = false;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_PROCESS_H_
