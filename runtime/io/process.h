// runtime/io/process.h: child processes whose piped stdin, stdout and
// stderr are streams, and whose exit a task can wait for without blocking
// the thread.
//
//   namespace io = evergreen::runtime::io;
//   // In a task:
//   io::ProcessOptions options;
//   options.file = "/bin/cat";
//   options.stdin_mode = io::Stdio::kPipe;
//   options.stdout_mode = io::Stdio::kPipe;
//   auto child = io::Process::Spawn(options);
//   if (!child.ok()) return child.status();  // "spawn /bin/cat: ENOENT ..."
//   absl::Status s = (*child)->stdin_pipe()->Write("hello\n");
//   s = (*child)->stdin_pipe()->Shutdown();  // cat reads EOF
//   auto line = (*child)->stdout_pipe()->ReadLine();  // "hello\n"
//   absl::StatusOr<io::ExitStatus> exit = (*child)->Wait(
//       evergreen::runtime::Deadline::After(absl::Seconds(5)));
//   // exit->exit_code == 0, exit->term_signal == 0
//
// The piped stdio are PipeStreams (runtime/io/pipe.h, runtime/io/stream.h):
// consumer-driven reads, backpressure on writes, Shutdown of stdin gives the
// child EOF. They are named "<file> (pid N) stdout" in errors.
//
// Liveness: like a stream, a child keeps EventLoop::Run going only while a
// task waits for it in Wait: a child nobody waits for does not stop Run from
// returning (it keeps running; a later Wait still sees its exit).
//
// Destruction: destroying a Process whose child still runs sends it SIGKILL
// and closes the pipes, and the child is reaped: no zombie, no handle left
// behind. Inside EventLoop::Run (from a task or callback) the loop reaps it
// in the background when its exit arrives, and keeps Run going until then
// (at once after SIGKILL). Outside Run (between runs, or when ~EventLoop
// kills the tasks that own Processes) no exit callback may come any more,
// so the destructor reaps it itself with waitpid: that blocks the thread
// until the killed child is gone (normally microseconds; longer only for a
// child stuck in uninterruptible sleep); so does a Process that outlives its
// EventLoop. Tasks blocked in Wait on a destroyed Process get
// FailedPrecondition.
//
// Loop thread only; Wait must be called from a task.
#ifndef EVERGREEN_RUNTIME_IO_PROCESS_H_
#define EVERGREEN_RUNTIME_IO_PROCESS_H_

#include <signal.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/loop.h"
#include "loop/process.h"
#include "runtime/deadline.h"
#include "runtime/io/pipe.h"
#include "runtime/io/stream.h"

namespace evergreen {
namespace runtime {
namespace io {

// Stdio says what one of the child's stdin, stdout and stderr is.
enum class Stdio {
  kInherit,  // our own descriptor (0, 1 or 2)
  kIgnore,   // /dev/null
  kPipe,     // a pipe to us: a PipeStream of the Process
};

// ProcessOptions describe the child to start.
struct ProcessOptions {
  // The program: a path, or a name looked up in PATH (of `env` if given).
  std::string file;
  // The arguments, argv[0] first; empty means {file}.
  std::vector<std::string> args;
  // The environment as "NAME=value" entries; nullopt inherits ours.
  std::optional<std::vector<std::string>> env;
  // The working directory; empty inherits ours.
  std::string cwd;
  Stdio stdin_mode = Stdio::kInherit;
  Stdio stdout_mode = Stdio::kInherit;
  Stdio stderr_mode = Stdio::kInherit;
  // Options of the piped streams.
  StreamOptions stream_options;
};

// ExitStatus is how a child ended.
struct ExitStatus {
  // The exit code (0-255); 0 when a signal ended the child.
  int64_t exit_code = 0;
  // The signal that ended the child; 0 when it exited.
  int term_signal = 0;

  // success: exited with code 0.
  bool success() const { return exit_code == 0 && term_signal == 0; }
  // ToString: "exit code 1", "signal 9 (Killed)".
  std::string ToString() const;
};

class Process {
 public:
  // Spawn starts the child described by `options`. Errors name the file:
  // "spawn /no/such: ENOENT (no such file or directory)" (also for a
  // missing cwd), EACCES (not executable); InvalidArgument for an empty
  // file, a NUL inside a string or an env entry without '=';
  // FailedPrecondition "spawn <file>: no EventLoop on this thread". A failed
  // spawn starts nothing and leaves no handle open. Needs the thread's
  // EventLoop, not a task.
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(
      const ProcessOptions& options);

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // ~Process closes the pipes and, if the child still runs, kills it with
  // SIGKILL and reaps it (in the background inside Run, else at once: see
  // above).
  ~Process();

  // The piped stdio, nullptr for those not kPipe. Owned by the Process.
  PipeStream* stdin_pipe() { return stdin_.get(); }
  PipeStream* stdout_pipe() { return stdout_.get(); }
  PipeStream* stderr_pipe() { return stderr_.get(); }

  // Wait blocks the calling task until the child exits and returns how it
  // ended (at once if it already did; every later call returns the same).
  // Several tasks may wait. Errors: DeadlineExceeded "wait <name>:
  // deadline exceeded"; FailedPrecondition outside a task, or "wait
  // <name>: process destroyed" for a task blocked here when the Process is
  // destroyed. Throws when the task is killed or cancelled; the Process
  // stays usable (wait again, kill).
  absl::StatusOr<ExitStatus> Wait(Deadline deadline = Deadline::Never());
  // Kill sends `signum` to the child (it may ignore it: Wait to see it
  // end). FailedPrecondition "kill <name>: process exited" once its exit
  // arrived (the pid may be another process's by then); InvalidArgument
  // for a bad signal number ("kill <name>: EINVAL ..."). Callable outside
  // tasks.
  absl::Status Kill(int signum = SIGTERM);

  // pid returns the child's process id.
  int pid() const { return pid_; }
  // exit_status returns how the child ended, nullopt while it runs (its exit
  // not yet seen by the loop).
  std::optional<ExitStatus> exit_status() const;
  // name names the child in messages: "/bin/cat (pid 42)".
  const std::string& name() const { return name_; }
  // handle returns the //loop process handle. Do not close it.
  loop::Process& handle() { return *handle_; }

 private:
  struct State;
  Process(loop::HandlePtr<loop::Process> handle, std::shared_ptr<State> state,
          std::string name);

  loop::HandlePtr<loop::Process> handle_;
  std::shared_ptr<State> state_;  // shared with the exit callback
  std::string name_;
  int pid_;
  std::unique_ptr<PipeStream> stdin_;
  std::unique_ptr<PipeStream> stdout_;
  std::unique_ptr<PipeStream> stderr_;
};

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_PROCESS_H_
