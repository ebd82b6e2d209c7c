#include "loop/loop.h"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "loop/request.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

std::string Describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "(non-std::exception)";
  }
}

}  // namespace

Loop::Loop() : loop_(&own_) {
  int rc = uv_loop_init(&own_);
  ABSL_RAW_CHECK(rc == 0, "uv_loop_init failed");
}

Loop::Loop(OwnTag, int* init_rc) : loop_(&own_) {
  *init_rc = uv_loop_init(&own_);
  if (*init_rc != 0) closed_ = true;  // nothing to close in the destructor
}

absl::StatusOr<std::unique_ptr<Loop>> Loop::Create() {
  int rc = 0;
  std::unique_ptr<Loop> loop(new Loop(OwnTag{}, &rc));
  if (rc != 0) return UvStatus(rc, "loop init");
  return loop;
}

Loop::Loop(uv_loop_t* default_loop) : loop_(default_loop) {}

Loop::~Loop() {
  if (closed_) return;
  // Close what is still open, then let the close callbacks run. A close
  // callback may not open new handles, so a few NOWAIT rounds suffice; the
  // bound keeps a misbehaving callback from hanging the destructor.
  for (int round = 0; round < 16 && !handles_.empty(); ++round) {
    std::vector<Handle*> open(handles_.begin(), handles_.end());
    for (Handle* h : open) {
      if (!h->closing_) h->StartClose();
    }
    uv_run(loop_, UV_RUN_NOWAIT);
  }
  // Requests: cancel what still waits in the thread pool, then wait for the
  // rest (a job already running cannot be interrupted). Their callbacks run.
  while (!requests_.empty()) {
    std::vector<Request*> pending;
    for (const auto& entry : requests_) pending.push_back(entry.first);
    for (Request* r : pending) {
      if (requests_.count(r) != 0) uv_cancel(r->raw_);
    }
    uv_run(loop_, UV_RUN_ONCE);
    // A request callback may have opened handles: close them too.
    for (Handle* h : std::vector<Handle*>(handles_.begin(), handles_.end())) {
      if (!h->closing_) h->StartClose();
    }
  }
  // Some closes wait for the thread pool (an FsPoll's running stat): block
  // until they are done. Closing handles keep the loop alive meanwhile.
  for (int round = 0; round < 1000 && !handles_.empty(); ++round) {
    uv_run(loop_, UV_RUN_ONCE);
  }
  if (pending_) {
    std::fprintf(stderr,
                 "evergreen::loop: exception from a callback while the loop "
                 "was destroyed: %s\n",
                 Describe(pending_).c_str());
    pending_ = nullptr;
  }
  int rc = uv_loop_close(loop_);
  if (rc != 0) {
    ABSL_RAW_LOG(ERROR, "evergreen::loop: ~Loop: %s",
                 UvStatus(rc, "loop close").ToString().c_str());
  }
}

Loop& Loop::Default() {
  static Loop* const loop = new Loop(uv_default_loop());
  return *loop;
}

bool Loop::Run(RunMode mode) {
  int rc = uv_run(loop_, static_cast<uv_run_mode>(mode));
  if (pending_) {
    std::exception_ptr e = pending_;
    pending_ = nullptr;
    std::rethrow_exception(e);
  }
  return rc != 0;
}

void Loop::Stop() { uv_stop(loop_); }

uint64_t Loop::Now() const { return uv_now(loop_); }

void Loop::UpdateTime() { uv_update_time(loop_); }

uint64_t Loop::HrTime() { return uv_hrtime(); }

int Loop::BackendFd() const { return uv_backend_fd(loop_); }

int Loop::BackendTimeout() const { return uv_backend_timeout(loop_); }

bool Loop::Alive() const { return uv_loop_alive(loop_) != 0; }

void Loop::Walk(const std::function<void(Handle&)>& fn) {
  struct Ctx {
    Loop* loop;
    std::vector<Handle*> found;
  } ctx{this, {}};
  // Collect first, call afterwards: `fn` runs outside libuv's frames, so it
  // may close handles and its exceptions propagate to the caller.
  uv_walk(
      loop_,
      [](uv_handle_t* raw, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        auto* h = static_cast<Handle*>(raw->data);
        // Only handles we created: the default loop may hold others.
        if (c->loop->handles_.count(h) != 0) c->found.push_back(h);
      },
      &ctx);
  for (Handle* h : ctx.found) fn(*h);
}

absl::Status Loop::Close() {
  if (closed_) {
    return absl::FailedPreconditionError("loop close: already closed");
  }
  int rc = uv_loop_close(loop_);
  if (rc == 0) {
    closed_ = true;
    return absl::OkStatus();
  }
  absl::Status s = UvStatus(rc, "loop close");
  std::vector<std::string> names;
  Walk([&names](Handle& h) {
    std::string name(h.TypeName());
    if (h.IsClosing()) {
      absl::StrAppend(&name, " (closing)");
    } else if (h.IsActive()) {
      absl::StrAppend(&name, " (active)");
    }
    names.push_back(std::move(name));
  });
  return absl::Status(
      s.code(),
      absl::StrCat(s.message(), "; ", names.size(), " handle(s) still open",
                   names.empty() ? "" : ": ", absl::StrJoin(names, ", "), "; ",
                   requests_.size(), " request(s) in flight"));
}

char* Loop::SharedReadBuffer() {
  if (!read_buffer_) read_buffer_.reset(new char[kSharedReadBufferSize]);
  return read_buffer_.get();
}

void Loop::SetExceptionHandler(ExceptionHandler handler) {
  handler_ = std::move(handler);
}

void Loop::HandleException(std::exception_ptr e) noexcept {
  if (!handler_) {
    if (!pending_) {
      pending_ = e;
      uv_stop(loop_);
    } else {
      std::fprintf(stderr,
                   "evergreen::loop: exception from a callback while another "
                   "is pending (printed, not rethrown): %s\n",
                   Describe(e).c_str());
    }
    return;
  }
  try {
    handler_(e);
  } catch (...) {
    std::fprintf(stderr,
                 "evergreen::loop: exception from a callback: %s\n"
                 "evergreen::loop: and the exception handler threw: %s\n",
                 Describe(e).c_str(),
                 Describe(std::current_exception()).c_str());
  }
}

Handle::Handle(Loop& loop, uv_handle_t* raw) : loop_(&loop), raw_(raw) {}

Handle::~Handle() = default;

void Handle::Register() {
  raw_->data = this;
  registered_ = true;
  loop_->handles_.insert(this);
}

void Handle::ReleaseOwner() {
  owned_ = false;
  if (!registered_ || closed_) {
    delete this;
  } else if (!closing_) {
    StartClose();
  }
  // Otherwise closing: OnClose frees the memory.
}

void Handle::OnClose(uv_handle_t* raw) {
  auto* h = static_cast<Handle*>(raw->data);
  h->loop_->handles_.erase(h);
  CloseCallback cb = std::move(h->close_cb_);
  h->close_cb_ = nullptr;
  // closed_ stays false while `cb` runs, so dropping the owner inside it
  // does not free the memory under our feet.
  if (cb) h->loop_->Invoke([&] { cb(*h); });
  h->closed_ = true;
  if (!h->owned_) delete h;
}

void Handle::Ref() {
  if (!closed_) uv_ref(raw_);
}

void Handle::Unref() {
  if (!closed_) uv_unref(raw_);
}

bool Handle::HasRef() const { return uv_has_ref(raw_) != 0; }

bool Handle::IsActive() const { return uv_is_active(raw_) != 0; }

void Handle::StartClose() {
  closing_ = true;
  uv_close(raw_, &Handle::OnClose);
}

absl::Status Handle::Close(CloseCallback cb) {
  if (IsClosing()) {
    return absl::FailedPreconditionError(
        absl::StrCat(TypeName(), " close: handle is already closing"));
  }
  close_cb_ = std::move(cb);
  StartClose();
  return absl::OkStatus();
}

absl::StatusOr<int> Handle::Fileno() const {
  if (IsClosing()) return UvStatus(UV_EBADF, "fileno");
  uv_os_fd_t fd;
  int rc = uv_fileno(raw_, &fd);
  if (rc < 0) return UvStatus(rc, "fileno");
  return static_cast<int>(fd);
}

namespace {

absl::StatusOr<int> BufferSize(uv_handle_t* raw, bool closing, bool send,
                               int value) {
  const char* op = send ? "send buffer size" : "recv buffer size";
  if (closing) return UvStatus(UV_EBADF, op);
  int rc = send ? uv_send_buffer_size(raw, &value)
                : uv_recv_buffer_size(raw, &value);
  if (rc < 0) return UvStatus(rc, op);
  return value;
}

}  // namespace

absl::StatusOr<int> Handle::SendBufferSize() const {
  return BufferSize(raw_, IsClosing(), true, 0);
}

absl::StatusOr<int> Handle::RecvBufferSize() const {
  return BufferSize(raw_, IsClosing(), false, 0);
}

absl::Status Handle::SetSendBufferSize(int bytes) {
  if (bytes <= 0) return UvStatus(UV_EINVAL, "send buffer size");
  return BufferSize(raw_, IsClosing(), true, bytes).status();
}

absl::Status Handle::SetRecvBufferSize(int bytes) {
  if (bytes <= 0) return UvStatus(UV_EINVAL, "recv buffer size");
  return BufferSize(raw_, IsClosing(), false, bytes).status();
}

absl::string_view Handle::TypeName() const {
  const char* name = uv_handle_type_name(uv_handle_get_type(raw_));
  return name == nullptr ? "unknown" : name;
}

absl::Status Handle::ClosingError(absl::string_view operation) {
  return absl::FailedPreconditionError(
      absl::StrCat(operation, ": handle is closing"));
}

}  // namespace loop
}  // namespace evergreen
