#include "runtime/io/file.h"

#include <unistd.h>

#include <cerrno>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"
#include "runtime/event_loop.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace io_file_internal {

// Core is a File's descriptor and its requests in flight, shared with their
// callbacks: the descriptor is closed only once no request uses it (a
// request abandoned while running still reads or writes it).
struct Core {
  int fd = -1;
  int running = 0;       // requests whose callback has not run
  bool closing = false;  // Close or the destructor was called
};

}  // namespace io_file_internal

namespace {

using io_file_internal::Core;
using RequestOr = absl::StatusOr<std::shared_ptr<loop::FsRequest>>;

// Release accounts for a finished request; the last one closes the
// descriptor of a File closed meanwhile.
void Release(Core& core) {
  if (--core.running == 0 && core.closing && core.fd >= 0) {
    ::close(core.fd);
    core.fd = -1;
  }
}

// RunPath runs a filesystem call that names its path(s) in its errors.
RequestOr RunPath(
    absl::string_view op,
    const std::function<RequestOr(loop::Loop&, loop::FsCallback)>& start,
    std::function<void(loop::FsRequest&)> on_late = nullptr) {
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": no EventLoop on this thread"));
  }
  loop::Loop& io = el->io();
  RequestOr req = io_internal::AwaitRequest<loop::FsRequest>(
      op, Deadline::Never(),
      [&](loop::FsCallback cb) { return start(io, std::move(cb)); },
      std::move(on_late));
  if (!req.ok()) return req;
  if (!(*req)->status().ok()) return (*req)->status();
  return req;
}

}  // namespace

File::File(std::string path, int fd)
    : path_(std::move(path)), core_(std::make_shared<Core>()) {
  core_->fd = fd;
}

File::~File() {
  if (core_->closing) return;
  core_->closing = true;
  if (core_->running == 0 && core_->fd >= 0) {
    ::close(core_->fd);
    core_->fd = -1;
  }
}

int File::fd() const { return core_->closing ? -1 : core_->fd; }

absl::StatusOr<std::unique_ptr<File>> File::Open(absl::string_view path,
                                                 int flags, int mode) {
  std::string p(path);
  RequestOr req = RunPath(
      absl::StrCat("open ", path),
      [&](loop::Loop& io, loop::FsCallback cb) {
        return loop::fs::Open(io, p, flags, mode, std::move(cb));
      },
      [](loop::FsRequest& r) {
        if (r.fd() >= 0) ::close(r.fd());  // opened for nobody
      });
  if (!req.ok()) return req.status();
  return std::unique_ptr<File>(new File(std::move(p), (*req)->fd()));
}

RequestOr File::Run(
    absl::string_view op,
    const std::function<RequestOr(loop::Loop&, int, loop::FsCallback)>& start) {
  std::string what = absl::StrCat(op, " ", path_);
  if (core_->closing) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": file closed"));
  }
  EventLoop* el = EventLoop::Current();
  if (el == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": no EventLoop on this thread"));
  }
  loop::Loop& io = el->io();
  std::shared_ptr<Core> core = core_;
  RequestOr req = io_internal::AwaitRequest<loop::FsRequest>(
      what, Deadline::Never(), [&](loop::FsCallback cb) {
        RequestOr r = start(io, core->fd,
                            [core, cb = std::move(cb)](loop::FsRequest& done) {
                              cb(done);
                              Release(*core);
                            });
        if (r.ok()) ++core->running;
        return r;
      });
  if (!req.ok()) return io_internal::Renamed(req.status(), what);
  if (!(*req)->status().ok()) {
    return io_internal::Renamed((*req)->status(), what);
  }
  return req;
}

absl::StatusOr<std::string> File::DoRead(size_t max, int64_t offset) {
  RequestOr req = Run("read", [&](loop::Loop& io, int fd, loop::FsCallback cb) {
    return loop::fs::Read(io, fd, max, offset, std::move(cb));
  });
  if (!req.ok()) return req.status();
  return (*req)->data();
}

absl::StatusOr<std::string> File::Read(size_t max) { return DoRead(max, -1); }

absl::StatusOr<std::string> File::ReadAt(size_t max, int64_t offset) {
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("read ", path_, ": negative offset"));
  }
  return DoRead(max, offset);
}

absl::Status File::DoWrite(std::string data, int64_t offset) {
  while (!data.empty()) {
    size_t size = data.size();
    RequestOr req = Run("write", [&](loop::Loop& io, int fd,
                                     loop::FsCallback cb) {
      return loop::fs::Write(io, fd, std::move(data), offset, std::move(cb));
    });
    if (!req.ok()) return req.status();
    size_t n = static_cast<size_t>((*req)->result());
    if (n >= size) return absl::OkStatus();
    if (n == 0) {
      return absl::UnknownError(
          absl::StrCat("write ", path_, ": nothing written"));
    }
    data = (*req)->data().substr(n);  // a short write: the rest
    if (offset >= 0) offset += static_cast<int64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status File::Write(std::string data) {
  return DoWrite(std::move(data), -1);
}

absl::Status File::WriteAt(std::string data, int64_t offset) {
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("write ", path_, ": negative offset"));
  }
  return DoWrite(std::move(data), offset);
}

absl::StatusOr<FileStat> File::Stat() {
  RequestOr req = Run("stat", [&](loop::Loop& io, int fd, loop::FsCallback cb) {
    return loop::fs::Fstat(io, fd, std::move(cb));
  });
  if (!req.ok()) return req.status();
  return (*req)->stat();
}

absl::Status File::Sync() {
  return Run("sync",
             [&](loop::Loop& io, int fd, loop::FsCallback cb) {
               return loop::fs::Fsync(io, fd, std::move(cb));
             })
      .status();
}

absl::Status File::Close() {
  if (core_->closing) return absl::OkStatus();
  core_->closing = true;
  if (core_->running > 0) return absl::OkStatus();  // the last one closes
  int fd = core_->fd;
  core_->fd = -1;  // the close request owns it now
  std::string what = absl::StrCat("close ", path_);
  if (Task::Current() == nullptr) {
    // Outside a task (like the destructor): close here.
    if (::close(fd) != 0) {
      return io_internal::Renamed(loop::UvStatus(-errno, "close"), what);
    }
    return absl::OkStatus();
  }
  RequestOr req = RunPath(
      what,
      [&](loop::Loop& io, loop::FsCallback cb) {
        return loop::fs::Close(io, fd, std::move(cb));
      },
      [fd](loop::FsRequest& r) {
        if (r.status().code() == absl::StatusCode::kCancelled) ::close(fd);
      });
  return io_internal::Renamed(req.status(), what);
}

absl::StatusOr<FileStat> Stat(absl::string_view path) {
  std::string p(path);
  RequestOr req = RunPath(absl::StrCat("stat ", path),
                          [&](loop::Loop& io, loop::FsCallback cb) {
                            return loop::fs::Stat(io, p, std::move(cb));
                          });
  if (!req.ok()) return req.status();
  return (*req)->stat();
}

absl::Status Unlink(absl::string_view path) {
  std::string p(path);
  return RunPath(absl::StrCat("unlink ", path),
                 [&](loop::Loop& io, loop::FsCallback cb) {
                   return loop::fs::Unlink(io, p, std::move(cb));
                 })
      .status();
}

absl::Status Mkdir(absl::string_view path, int mode) {
  std::string p(path);
  return RunPath(absl::StrCat("mkdir ", path),
                 [&](loop::Loop& io, loop::FsCallback cb) {
                   return loop::fs::Mkdir(io, p, mode, std::move(cb));
                 })
      .status();
}

absl::Status Rmdir(absl::string_view path) {
  std::string p(path);
  return RunPath(absl::StrCat("rmdir ", path),
                 [&](loop::Loop& io, loop::FsCallback cb) {
                   return loop::fs::Rmdir(io, p, std::move(cb));
                 })
      .status();
}

absl::Status Rename(absl::string_view from, absl::string_view to) {
  std::string f(from);
  std::string t(to);
  return RunPath(absl::StrCat("rename ", from, " -> ", to),
                 [&](loop::Loop& io, loop::FsCallback cb) {
                   return loop::fs::Rename(io, f, t, std::move(cb));
                 })
      .status();
}

absl::StatusOr<std::vector<DirEntry>> Scandir(absl::string_view path) {
  std::string p(path);
  RequestOr req = RunPath(absl::StrCat("scandir ", path),
                          [&](loop::Loop& io, loop::FsCallback cb) {
                            return loop::fs::Scandir(io, p, std::move(cb));
                          });
  if (!req.ok()) return req.status();
  return (*req)->entries();
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
