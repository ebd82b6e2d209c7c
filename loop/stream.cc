#include "loop/stream.h"

#include <signal.h>

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

// Ignores SIGPIPE unless the program chose a disposition of its own.
void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current;
    if (sigaction(SIGPIPE, nullptr, &current) == 0 &&
        !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) {
      struct sigaction ignore = {};
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      sigaction(SIGPIPE, &ignore, nullptr);
    }
  });
}

}  // namespace

struct Stream::WriteOp {
  uv_write_t req;
  Stream* stream;
  std::vector<std::string> data;
  WriteCallback cb;
};

Stream::Stream(Loop& loop, uv_stream_t* stream)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(stream)), stream_(stream) {
  IgnoreSigpipeOnce();
}

absl::Status Stream::ReadStart(ReadCallback cb) {
  if (absl::Status s = CheckOpen("read start"); !s.ok()) return s;
  if (!cb) return UvStatus(UV_EINVAL, "read start");
  if (!reading_) {
    int rc = uv_read_start(stream_, &Stream::OnAlloc, &Stream::OnRead);
    if (rc < 0) return UvStatus(rc, "read start");
    reading_ = true;
  }
  if (in_read_cb_) {
    next_read_cb_ = std::move(cb);  // installed once the running one returns
  } else {
    read_cb_ = std::move(cb);
  }
  return absl::OkStatus();
}

absl::Status Stream::ReadStop() {
  if (absl::Status s = CheckOpen("read stop"); !s.ok()) return s;
  reading_ = false;
  return UvStatus(uv_read_stop(stream_), "read stop");
}

void Stream::SetAllocator(Allocator alloc) { alloc_ = std::move(alloc); }

void Stream::OnAlloc(uv_handle_t* raw, size_t suggested, uv_buf_t* buf) {
  auto* self = static_cast<Stream*>(static_cast<Handle*>(raw->data));
  if (!self->alloc_) {
    *buf = uv_buf_init(self->loop().SharedReadBuffer(),
                       Loop::kSharedReadBufferSize);
    return;
  }
  absl::Span<char> span;
  self->loop().Invoke([&] { span = self->alloc_(*self, suggested); });
  *buf = uv_buf_init(span.data(), static_cast<unsigned int>(span.size()));
}

void Stream::OnRead(uv_stream_t* raw, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Stream*>(static_cast<Handle*>(raw->data));
  if (nread == 0) return;  // EAGAIN: nothing this time
  if (nread == UV_EOF) self->reading_ = false;
  // The handle's memory outlives this call even if the callback drops its
  // owner (it is freed after the close callback), so read_cb_ stays valid.
  self->in_read_cb_ = true;
  if (nread > 0) {
    absl::string_view data(buf->base, static_cast<size_t>(nread));
    self->loop().Invoke([&] { self->read_cb_(*self, data); });
  } else {
    absl::Status error = UvStatus(static_cast<int>(nread), "read");
    self->loop().Invoke([&] { self->read_cb_(*self, std::move(error)); });
  }
  self->in_read_cb_ = false;
  if (self->next_read_cb_) self->read_cb_ = std::move(self->next_read_cb_);
  self->next_read_cb_ = nullptr;
}

absl::Status Stream::Write(std::string data, WriteCallback cb) {
  std::vector<std::string> buffers;
  buffers.push_back(std::move(data));
  return WriteImpl(std::move(buffers), nullptr, std::move(cb));
}

absl::Status Stream::Write(std::vector<std::string> buffers, WriteCallback cb) {
  return WriteImpl(std::move(buffers), nullptr, std::move(cb));
}

absl::Status Stream::WriteImpl(std::vector<std::string> buffers,
                               uv_stream_t* send_handle, WriteCallback cb) {
  if (absl::Status s = CheckOpen("write"); !s.ok()) return s;
  auto op = std::make_unique<WriteOp>();
  op->stream = this;
  op->data = std::move(buffers);
  op->cb = std::move(cb);
  op->req.data = op.get();
  std::vector<uv_buf_t> bufs;
  bufs.reserve(op->data.size());
  for (std::string& b : op->data) {
    bufs.push_back(uv_buf_init(b.data(), static_cast<unsigned int>(b.size())));
  }
  // libuv copies the uv_buf_t array; the bytes stay in `op`.
  int rc =
      send_handle == nullptr
          ? uv_write(&op->req, stream_, bufs.data(),
                     static_cast<unsigned int>(bufs.size()), &Stream::OnWrite)
          : uv_write2(&op->req, stream_, bufs.data(),
                      static_cast<unsigned int>(bufs.size()), send_handle,
                      &Stream::OnWrite);
  if (rc < 0) return UvStatus(rc, "write");
  op.release();
  ++pending_writes_;
  return absl::OkStatus();
}

void Stream::OnWrite(uv_write_t* req, int status) {
  std::unique_ptr<WriteOp> op(static_cast<WriteOp*>(req->data));
  Stream* self = op->stream;
  --self->pending_writes_;
  if (!op->cb) return;
  absl::Status s = UvStatus(status, "write");
  self->loop().Invoke([&] { op->cb(*self, std::move(s)); });
}

absl::StatusOr<size_t> Stream::TryWrite(absl::string_view data) {
  if (absl::Status s = CheckOpen("try write"); !s.ok()) return s;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()),
                             static_cast<unsigned int>(data.size()));
  int rc = uv_try_write(stream_, &buf, 1);
  if (rc < 0) return UvStatus(rc, "try write");
  return static_cast<size_t>(rc);
}

absl::StatusOr<size_t> Stream::TryWrite(
    absl::Span<const absl::string_view> buffers) {
  if (absl::Status s = CheckOpen("try write"); !s.ok()) return s;
  uv_buf_t stack_bufs[8];
  std::vector<uv_buf_t> heap_bufs;
  uv_buf_t* bufs = stack_bufs;
  if (buffers.size() > 8) {
    heap_bufs.resize(buffers.size());
    bufs = heap_bufs.data();
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    bufs[i] = uv_buf_init(const_cast<char*>(buffers[i].data()),
                          static_cast<unsigned int>(buffers[i].size()));
  }
  int rc =
      uv_try_write(stream_, bufs, static_cast<unsigned int>(buffers.size()));
  if (rc < 0) return UvStatus(rc, "try write");
  return static_cast<size_t>(rc);
}

absl::Status Stream::Shutdown(ShutdownCallback cb) {
  if (absl::Status s = CheckOpen("shutdown"); !s.ok()) return s;
  struct ShutdownOp {
    uv_shutdown_t req;
    Stream* stream;
    ShutdownCallback cb;
  };
  auto op = std::make_unique<ShutdownOp>();
  op->stream = this;
  op->cb = std::move(cb);
  op->req.data = op.get();
  int rc = uv_shutdown(&op->req, stream_, [](uv_shutdown_t* req, int status) {
    std::unique_ptr<ShutdownOp> done(static_cast<ShutdownOp*>(req->data));
    if (!done->cb) return;
    Stream* self = done->stream;
    absl::Status s = UvStatus(status, "shutdown");
    self->loop().Invoke([&] { done->cb(*self, std::move(s)); });
  });
  if (rc < 0) return UvStatus(rc, "shutdown");
  op.release();
  return absl::OkStatus();
}

absl::Status Stream::Listen(int backlog, ConnectionCallback cb) {
  if (absl::Status s = CheckOpen("listen"); !s.ok()) return s;
  if (!cb || backlog <= 0) return UvStatus(UV_EINVAL, "listen");
  int rc = uv_listen(stream_, backlog, &Stream::OnConnection);
  if (rc < 0) return UvStatus(rc, "listen");
  connection_cb_ = std::make_shared<ConnectionCallback>(std::move(cb));
  return absl::OkStatus();
}

void Stream::OnConnection(uv_stream_t* raw, int status) {
  auto* self = static_cast<Stream*>(static_cast<Handle*>(raw->data));
  std::shared_ptr<ConnectionCallback> cb = self->connection_cb_;
  absl::Status s = UvStatus(status, "accept");
  self->loop().Invoke([&] { (*cb)(*self, std::move(s)); });
}

absl::Status Stream::Accept(Stream& client) {
  if (absl::Status s = CheckOpen("accept"); !s.ok()) return s;
  if (absl::Status s = client.CheckOpen("accept"); !s.ok()) return s;
  if (&client.loop() != &loop()) return UvStatus(UV_EINVAL, "accept");
  // A server accepts its own type; an IPC pipe also accepts the handle type
  // its peer sent (uv_pipe_pending_type).
  uv_handle_type server_type = uv_handle_get_type(raw_handle());
  bool ipc = server_type == UV_NAMED_PIPE &&
             reinterpret_cast<uv_pipe_t*>(stream_)->ipc != 0;
  uv_handle_type expected =
      ipc ? uv_pipe_pending_type(reinterpret_cast<uv_pipe_t*>(stream_))
          : server_type;
  if (ipc && expected == UV_UNKNOWN_HANDLE)
    return UvStatus(UV_EAGAIN, "accept");
  if (uv_handle_get_type(client.raw_handle()) != expected) {
    return UvStatus(UV_EINVAL, "accept");
  }
  return UvStatus(uv_accept(stream_, client.stream_), "accept");
}

bool Stream::IsReadable() const {
  return !IsClosing() && uv_is_readable(stream_) != 0;
}

bool Stream::IsWritable() const {
  return !IsClosing() && uv_is_writable(stream_) != 0;
}

size_t Stream::WriteQueueSize() const {
  return uv_stream_get_write_queue_size(stream_);
}

absl::Status Stream::SetBlocking(bool blocking) {
  if (absl::Status s = CheckOpen("set blocking"); !s.ok()) return s;
  return UvStatus(uv_stream_set_blocking(stream_, blocking ? 1 : 0),
                  "set blocking");
}

}  // namespace loop
}  // namespace evergreen
