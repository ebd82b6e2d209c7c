#include "runtime/io/process.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/internal/wait.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {

using io_internal::InTask;
using io_internal::Renamed;

// State is what the Process shares with the exit callback and with the
// tasks blocked in Wait (which may outlive the Process).
struct Process::State {
  bool exited = false;
  ExitStatus status;
  bool destroyed = false;
  runtime_internal::WaitQueue waiters;
  // The handle of a destroyed Process whose child had not exited yet, kept
  // until the exit callback reaps it.
  loop::HandlePtr<loop::Process> orphan;
};

std::string ExitStatus::ToString() const {
  if (term_signal != 0) {
    const char* what = strsignal(term_signal);
    return absl::StrCat("signal ", term_signal, " (",
                        what == nullptr ? "unknown" : what, ")");
  }
  return absl::StrCat("exit code ", exit_code);
}

Process::Process(loop::HandlePtr<loop::Process> handle,
                 std::shared_ptr<State> state, std::string name)
    : handle_(std::move(handle)),
      state_(std::move(state)),
      name_(std::move(name)),
      pid_(handle_->Pid()) {}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(
    const ProcessOptions& options) {
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("spawn ", options.file, ": no EventLoop on this thread"));
  }
  const std::array<Stdio, 3> modes = {options.stdin_mode, options.stdout_mode,
                                      options.stderr_mode};
  std::array<loop::HandlePtr<loop::Pipe>, 3> pipes;
  loop::ProcessOptions lo;
  lo.file = options.file;
  lo.args = options.args;
  lo.env = options.env;
  lo.cwd = options.cwd;
  for (int fd = 0; fd < 3; ++fd) {
    switch (modes[fd]) {
      case Stdio::kInherit:
        lo.stdio.push_back(loop::StdioOption::InheritFd(fd));
        break;
      case Stdio::kIgnore:
        lo.stdio.push_back(loop::StdioOption::Ignore());
        break;
      case Stdio::kPipe: {
        absl::StatusOr<loop::HandlePtr<loop::Pipe>> p =
            loop::Pipe::Create(el->io());
        if (!p.ok()) return Renamed(p.status(), "spawn " + options.file);
        pipes[fd] = std::move(*p);
        lo.stdio.push_back(loop::StdioOption::CreatePipe(
            *pipes[fd], /*child_reads=*/fd == 0, /*child_writes=*/fd != 0));
        break;
      }
    }
  }
  auto state = std::make_shared<State>();
  absl::StatusOr<loop::HandlePtr<loop::Process>> handle = loop::Process::Spawn(
      el->io(), lo, [state](loop::Process&, int64_t code, int signal) {
        state->exited = true;
        state->status.exit_code = code;
        state->status.term_signal = signal;
        state->waiters.NotifyAll();
        // A destroyed Process's handle: reaped now, close it (from its own
        // callback, which //loop allows). This also ends the cycle
        // state -> handle -> callback -> state.
        state->orphan.reset();
      });
  // On failure the pipes close with `pipes`.
  if (!handle.ok()) return handle.status();
  // Referenced only while a task waits (Wait).
  (*handle)->Unref();
  std::string name =
      absl::StrCat(options.file, " (pid ", (*handle)->Pid(), ")");
  std::unique_ptr<Process> process(
      new Process(std::move(*handle), std::move(state), name));
  const char* const suffixes[3] = {" stdin", " stdout", " stderr"};
  std::unique_ptr<PipeStream>* streams[3] = {
      &process->stdin_, &process->stdout_, &process->stderr_};
  for (int fd = 0; fd < 3; ++fd) {
    if (pipes[fd] == nullptr) continue;
    streams[fd]->reset(new PipeStream(std::move(pipes[fd]),
                                      absl::StrCat(name, suffixes[fd]),
                                      options.stream_options));
  }
  return process;
}

Process::~Process() {
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  State& st = *state_;
  st.destroyed = true;
  st.waiters.NotifyAll();
  if (st.exited) return;  // handle_ closes
  // The child still runs (or exited and was not reaped yet).
  (void)kill(pid_, SIGKILL);
  EventLoop* el = EventLoop::Current();
  if (el != nullptr && el->IsRunning() && !handle_->IsClosing()) {
    // Keep the handle until the exit callback reaps the child. Referenced,
    // so that Run does not return before (the exit follows SIGKILL at once).
    handle_->Ref();
    st.orphan = std::move(handle_);
    return;
  }
  // Outside Run (between runs, while ~EventLoop unwinds the tasks, after the
  // loop was destroyed) no exit callback may come any more: close the
  // handle (libuv forgets the child) and reap the killed child here.
  handle_.reset();
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

std::optional<ExitStatus> Process::exit_status() const {
  if (!state_->exited) return std::nullopt;
  return state_->status;
}

absl::StatusOr<ExitStatus> Process::Wait(Deadline deadline) {
  Task* me = nullptr;
  if (absl::Status s = InTask("wait", name_, &me); !s.ok()) return s;
  // Only `st` and copies are used once the task blocked: the Process may be
  // destroyed meanwhile.
  std::shared_ptr<State> st = state_;
  if (st->exited) return st->status;
  loop::Process* h = handle_.get();
  if (h->IsClosing()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wait ", name_, ": process handle closed"));
  }
  std::string name = name_;
  h->Ref();
  // Unreferences the handle once no task waits any more, unless the Process
  // was destroyed (its handle, now the orphan, stays referenced until the
  // child is reaped).
  struct Unref {
    State* st;
    loop::Process* h;
    ~Unref() {
      if (!st->destroyed && st->waiters.empty() && !h->IsClosing()) {
        h->Unref();
      }
    }
  } unref{st.get(), h};
  while (!st->exited) {
    if (st->destroyed) {
      return absl::FailedPreconditionError(
          absl::StrCat("wait ", name, ": process destroyed"));
    }
    if (!runtime_internal::Wait(me, st->waiters, deadline) && !st->exited &&
        !st->destroyed) {
      return absl::DeadlineExceededError(
          absl::StrCat("wait ", name, ": deadline exceeded"));
    }
  }
  return st->status;
}

absl::Status Process::Kill(int signum) {
  if (state_->exited) {
    return absl::FailedPreconditionError(
        absl::StrCat("kill ", name_, ": process exited"));
  }
  return Renamed(handle_->Kill(signum), "kill " + name_);
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
