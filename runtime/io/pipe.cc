#include "runtime/io/pipe.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/event_loop.h"
#include "runtime/io/internal/op.h"
#include "runtime/io/internal/serve.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::InTask;
using io_internal::Renamed;

// Printable names an abstract socket ("\0name") "@name", as loop/pipe.h does.
std::string Printable(absl::string_view path) {
  if (!path.empty() && path[0] == '\0') {
    return absl::StrCat("@", path.substr(1));
  }
  return std::string(path);
}

loop::Loop* IoLoop() {
  EventLoop* el = EventLoop::Current();
  return el == nullptr ? nullptr : &el->io();
}

}  // namespace

PipeStream::PipeStream(loop::HandlePtr<loop::Pipe> pipe, std::string peer,
                       const StreamOptions& options)
    : Stream(std::move(pipe), std::move(peer), options) {}

absl::StatusOr<std::unique_ptr<PipeStream>> PipeStream::Connect(
    absl::string_view path, Deadline deadline, StreamOptions options) {
  std::string name = Printable(path);
  Task* me = nullptr;
  if (absl::Status s = InTask("pipe connect", name, &me); !s.ok()) return s;
  absl::StatusOr<loop::HandlePtr<loop::Pipe>> pipe =
      loop::Pipe::Create(me->loop().io());
  if (!pipe.ok()) return pipe.status();
  auto c = std::make_shared<io_internal::Completion>();
  absl::Status s = (*pipe)->Connect(path, [c](loop::Pipe&, absl::Status st) {
    if (!c->abandoned) c->Complete(std::move(st));
  });
  if (!s.ok()) return s;
  try {
    if (!io_internal::Await(me, *c, deadline)) {
      c->abandoned = true;
      pipe->reset();
      return absl::DeadlineExceededError(
          absl::StrCat("pipe connect ", name, ": deadline exceeded"));
    }
  } catch (...) {
    c->abandoned = true;
    pipe->reset();
    throw;
  }
  if (!c->status.ok()) return c->status;
  return std::unique_ptr<PipeStream>(
      new PipeStream(std::move(*pipe), std::move(name), options));
}

absl::StatusOr<std::unique_ptr<PipeStream>> PipeStream::Open(
    int fd, StreamOptions options) {
  std::string name = absl::StrCat("fd ", fd);
  loop::Loop* io = IoLoop();
  if (io == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("pipe open ", name, ": no EventLoop on this thread"));
  }
  absl::StatusOr<loop::HandlePtr<loop::Pipe>> pipe = loop::Pipe::Create(*io);
  if (!pipe.ok()) return pipe.status();
  if (absl::Status s = (*pipe)->Open(fd); !s.ok()) {
    return Renamed(s, "pipe open " + name);
  }
  return std::unique_ptr<PipeStream>(
      new PipeStream(std::move(*pipe), std::move(name), options));
}

PipeListener::PipeListener(loop::HandlePtr<loop::Pipe> pipe, std::string path,
                           PipeListenOptions options)
    : pipe_(std::move(pipe)),
      path_(std::move(path)),
      options_(std::move(options)) {}

PipeListener::~PipeListener() { Close(); }

absl::StatusOr<std::unique_ptr<PipeListener>> PipeListener::Listen(
    absl::string_view path, PipeListenOptions options) {
  std::string op = absl::StrCat("listen ", Printable(path));
  loop::Loop* io = IoLoop();
  if (io == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  absl::StatusOr<loop::HandlePtr<loop::Pipe>> pipe = loop::Pipe::Create(*io);
  if (!pipe.ok()) return pipe.status();
  if (absl::Status s = (*pipe)->Bind(path); !s.ok()) return Renamed(s, op);
  int backlog = options.backlog;
  std::unique_ptr<PipeListener> listener(new PipeListener(
      std::move(*pipe), std::string(path), std::move(options)));
  PipeListener* raw = listener.get();
  absl::Status s =
      raw->pipe_->Listen(backlog, [raw](loop::Stream&, absl::Status st) {
        raw->accept_.OnConnection(std::move(st));
      });
  if (!s.ok()) return Renamed(s, op);
  raw->pipe_->Unref();  // referenced while a task waits in Accept
  return listener;
}

absl::StatusOr<std::unique_ptr<PipeStream>> PipeListener::Accept(
    Deadline deadline) {
  std::string name = Printable(path_);
  Task* me = nullptr;
  if (absl::Status s = InTask("accept", name, &me); !s.ok()) return s;
  while (true) {
    if (absl::Status s = accept_.Next(me, *pipe_, name, deadline); !s.ok()) {
      return s;
    }
    accept_.Taken();
    absl::StatusOr<loop::HandlePtr<loop::Pipe>> conn = pipe_->Accept();
    if (conn.ok()) {
      return std::unique_ptr<PipeStream>(
          new PipeStream(std::move(*conn), absl::StrCat(name, " (accepted)"),
                         options_.stream_options));
    }
    if (conn.status().code() != absl::StatusCode::kUnavailable) {
      return Renamed(conn.status(), "accept " + name);
    }
  }
}

void PipeListener::Close() {
  if (accept_.closed()) return;
  if (!pipe_->IsClosing()) (void)pipe_->Close();
  accept_.Close();
}

absl::Status Serve(PipeListener& listener,
                   std::function<void(PipeStream&)> handler) {
  return io_internal::ServeLoop(listener, std::move(handler));
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
