#include "loop/process.h"

#include <fcntl.h>

#include <cerrno>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// Null-terminated char* array over `strings` (which must outlive it).
std::vector<char*> CArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

Process::Process(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&process_)) {}

absl::StatusOr<HandlePtr<Process>> Process::Spawn(Loop& loop,
                                                  const ProcessOptions& options,
                                                  ExitCallback exit_cb) {
  std::string op = absl::StrCat("spawn ", absl::CEscape(options.file));
  if (!options.cwd.empty()) {
    absl::StrAppend(&op, " in ", absl::CEscape(options.cwd));
  }
  auto invalid = [&op](absl::string_view why) {
    return UvStatus(UV_EINVAL, absl::StrCat(op, " (", why, ")"));
  };
  if (options.file.empty()) return invalid("empty file");
  if (HasNul(options.file) || HasNul(options.cwd)) {
    return invalid("NUL inside the file or cwd");
  }
  std::vector<std::string> args = options.args;
  if (args.empty()) args.push_back(options.file);
  for (const std::string& a : args) {
    if (HasNul(a)) return invalid("NUL inside an argument");
  }
  std::vector<std::string> env;
  if (options.env.has_value()) {
    env = *options.env;
    for (const std::string& e : env) {
      if (HasNul(e)) return invalid("NUL inside an env entry");
      size_t eq = e.find('=');
      if (eq == std::string::npos || eq == 0) {
        return invalid(absl::StrCat("env entry \"", absl::CEscape(e),
                                    "\" is not NAME=value"));
      }
    }
  }

  std::vector<uv_stdio_container_t> stdio(options.stdio.size());
  std::set<const Stream*> pipes;
  for (size_t i = 0; i < options.stdio.size(); ++i) {
    const StdioOption& o = options.stdio[i];
    std::string which = absl::StrCat("stdio ", i);
    uv_stdio_container_t& c = stdio[i];
    switch (o.kind) {
      case StdioOption::Kind::kIgnore:
        c.flags = UV_IGNORE;
        break;
      case StdioOption::Kind::kInheritFd:
        if (o.fd < 0 || fcntl(o.fd, F_GETFD) == -1) {
          return UvStatus(UV_EBADF,
                          absl::StrCat(op, " (", which, ": fd ", o.fd, ")"));
        }
        c.flags = UV_INHERIT_FD;
        c.data.fd = o.fd;
        break;
      case StdioOption::Kind::kCreatePipe: {
        if (o.stream == nullptr) return invalid(which + ": no pipe");
        if (o.stream->IsClosing()) {
          return absl::FailedPreconditionError(
              absl::StrCat(op, ": ", which, ": the pipe is closing"));
        }
        if (&o.stream->loop() != &loop) {
          return invalid(which + ": the pipe belongs to another loop");
        }
        if (uv_handle_get_type(reinterpret_cast<const uv_handle_t*>(
                o.stream->raw_stream())) != UV_NAMED_PIPE) {
          return invalid(which + ": not a Pipe");
        }
        if (!pipes.insert(o.stream).second) {
          return invalid(which + ": the pipe is used twice");
        }
        if (o.stream->Fileno().ok()) {
          return UvStatus(
              UV_EBUSY,
              absl::StrCat(op, " (", which, ": the pipe is already open)"));
        }
        if (!o.child_reads && !o.child_writes) {
          return invalid(which + ": a pipe needs a direction");
        }
        int flags = UV_CREATE_PIPE;
        if (o.child_reads) flags |= UV_READABLE_PIPE;
        if (o.child_writes) flags |= UV_WRITABLE_PIPE;
        c.flags = static_cast<uv_stdio_flags>(flags);
        c.data.stream = o.stream->raw_stream();
        break;
      }
      case StdioOption::Kind::kInheritStream:
        if (o.stream == nullptr) return invalid(which + ": no stream");
        if (o.stream->IsClosing()) {
          return absl::FailedPreconditionError(
              absl::StrCat(op, ": ", which, ": the stream is closing"));
        }
        if (!o.stream->Fileno().ok()) {
          return UvStatus(
              UV_EBADF,
              absl::StrCat(op, " (", which, ": the stream has no descriptor)"));
        }
        c.flags = UV_INHERIT_STREAM;
        c.data.stream = o.stream->raw_stream();
        break;
    }
  }

  std::vector<char*> argv = CArray(args);
  std::vector<char*> envp;
  if (options.env.has_value()) envp = CArray(env);
  uv_process_options_t uv_options = {};
  uv_options.exit_cb = &Process::OnExit;
  uv_options.file = options.file.c_str();
  uv_options.args = argv.data();
  uv_options.env = options.env.has_value() ? envp.data() : nullptr;
  uv_options.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  uv_options.stdio_count = static_cast<int>(stdio.size());
  uv_options.stdio = stdio.empty() ? nullptr : stdio.data();
  if (options.uid.has_value()) {
    uv_options.flags |= UV_PROCESS_SETUID;
    uv_options.uid = *options.uid;
  }
  if (options.gid.has_value()) {
    uv_options.flags |= UV_PROCESS_SETGID;
    uv_options.gid = *options.gid;
  }
  if (options.detached) uv_options.flags |= UV_PROCESS_DETACHED;

  HandlePtr<Process> process(new Process(loop));
  if (exit_cb) {
    process->exit_cb_ = std::make_shared<ExitCallback>(std::move(exit_cb));
  }
  int rc = uv_spawn(loop.raw(), &process->process_, &uv_options);
  // uv_spawn initialises the handle even when it fails; the HandlePtr then
  // closes it.
  process->Register();
  if (rc < 0) return UvStatus(rc, op);
  return process;
}

void Process::OnExit(uv_process_t* raw, int64_t exit_status, int term_signal) {
  auto* self = static_cast<Process*>(static_cast<Handle*>(raw->data));
  self->exited_ = true;
  std::shared_ptr<ExitCallback> cb = self->exit_cb_;
  if (!cb) return;
  self->loop().Invoke([&] { (*cb)(*self, exit_status, term_signal); });
}

int Process::Pid() const { return uv_process_get_pid(&process_); }

absl::Status Process::Kill(int signum) {
  std::string op = absl::StrCat("process kill ", Pid(), " signal ", signum);
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (exited_) return UvStatus(UV_ESRCH, absl::StrCat(op, " (reaped)"));
  return UvStatus(uv_process_kill(&process_, signum), op);
}

absl::Status Process::Kill(int pid, int signum) {
  std::string op = absl::StrCat("kill ", pid, " signal ", signum);
  if (pid <= 0) return UvStatus(UV_EINVAL, op);
  return UvStatus(uv_kill(pid, signum), op);
}

}  // namespace loop
}  // namespace evergreen
