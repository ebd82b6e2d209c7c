#include "runtime/io/stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/io/internal/op.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::Busy;
using io_internal::InTask;
using io_internal::RefWhileWaiting;
using io_internal::Renamed;

}  // namespace

// WriteState is what the write callbacks share with the stream: they may
// run after the stream was destroyed (with CANCELLED, once closed).
struct Stream::WriteState {
  absl::Status error;  // the first write failure, "write: EPIPE ..."
  bool closed = false;
  runtime_internal::WaitQueue waiters;  // tasks in Write, Drain
};

Stream::Stream(loop::HandlePtr<loop::Stream> handle, std::string peer,
               const StreamOptions& options)
    : Stream(std::make_unique<io_internal::LoopTransport>(std::move(handle)),
             std::move(peer), options) {}

Stream::Stream(std::unique_ptr<io_internal::Transport> transport,
               std::string peer, const StreamOptions& options)
    : t_(std::move(transport)),
      options_(options),
      peer_(std::move(peer)),
      ws_(std::make_shared<WriteState>()) {
  options_.read_buffer_limit = std::max<size_t>(options_.read_buffer_limit, 1);
  // The socket keeps the loop alive only while a task waits on it (reads
  // going on in the background do not; queued writes do, as requests).
  t_->socket().Unref();
}

Stream::~Stream() { Close(); }

absl::Status Stream::ClosedError(absl::string_view op) const {
  return absl::FailedPreconditionError(
      absl::StrCat(op, " ", peer_, ": stream closed", close_reason_));
}

absl::Status Stream::WriteError() const {
  return Renamed(ws_->error, "write " + peer_);
}

bool Stream::IsClosed() const { return closed_ || t_->IsClosing(); }

size_t Stream::WriteQueueSize() const {
  return IsClosed() ? 0 : t_->WriteQueueSize();
}

absl::StatusOr<loop::HandlePtr<loop::Stream>> Stream::ReleaseHandle(
    absl::string_view op) {
  auto* lt = dynamic_cast<io_internal::LoopTransport*>(t_.get());
  if (IsClosed()) return ClosedError(op);
  if (lt == nullptr || BufferedBytes() > 0 || reader_busy_ ||
      t_->PendingWrites() > 0 || shut_down_ || !read_error_.ok() || eof_) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, " ", peer_,
                     ": the stream is in use (read, written to or shut down)"));
  }
  t_->ReadStop();
  loop::HandlePtr<loop::Stream> h = lt->Release();
  h->Ref();  // as a fresh handle
  closed_ = true;
  close_reason_ = " (handed over)";
  ws_->closed = true;
  return h;
}

void Stream::MarkClosed(const char* reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = reason;
  ws_->closed = true;
  t_->Close();
  readers_.NotifyAll();
  ws_->waiters.NotifyAll();
}

void Stream::Close() {
  if (IsClosed()) return;
  MarkClosed("");
}

// Reading.

absl::Status Stream::StartRead(absl::string_view op, Task** me) {
  if (absl::Status s = InTask(op, peer_, me); !s.ok()) return s;
  if (IsClosed()) return ClosedError(op);
  if (reader_busy_) {
    return absl::FailedPreconditionError(absl::StrCat(
        op, " ", peer_, ": another task is already reading this stream"));
  }
  return absl::OkStatus();
}

void Stream::StopReading() {
  if (!IsClosed() && t_->IsReading()) t_->ReadStop();
}

void Stream::OnRead(absl::StatusOr<absl::string_view> r) {
  if (r.ok()) {
    if (rpos_ == rbuf_.size()) {
      rbuf_.clear();
      rpos_ = 0;
    }
    rbuf_.append(r->data(), r->size());
    // Consumer-driven: stop once the buffer holds what is allowed.
    if (BufferedBytes() >= std::max(options_.read_buffer_limit, want_)) {
      StopReading();
    }
    if (want_ != 0 && BufferedBytes() >= want_) readers_.NotifyOne();
    return;
  }
  if (r.status().code() == absl::StatusCode::kOutOfRange) {
    eof_ = true;  // libuv stopped reading
  } else {
    read_error_ = Renamed(r.status(), "read " + peer_);
    StopReading();
  }
  readers_.NotifyOne();
}

template <typename Done>
absl::Status Stream::Fill(Task* me, size_t need, Done done) {
  while (!done()) {
    if (IsClosed()) return ClosedError("read");
    if (!read_error_.ok()) return read_error_;
    if (eof_)
      return absl::OutOfRangeError(absl::StrCat("read ", peer_, ": EOF"));
    want_ = std::max(need, BufferedBytes() + 1);
    if (!t_->IsReading()) {
      absl::Status s =
          t_->ReadStart([this](absl::StatusOr<absl::string_view> r) {
            OnRead(std::move(r));
          });
      if (!s.ok()) {
        want_ = 0;
        return Renamed(s, "read " + peer_);
      }
    }
    t_->socket().Ref();
    RefWhileWaiting unref{&t_->socket(), &readers_};
    try {
      runtime_internal::Wait(me, readers_, Deadline::Never());
    } catch (...) {
      // Interrupted: stop reading the socket; what arrived stays buffered.
      want_ = 0;
      StopReading();
      throw;
    }
  }
  want_ = 0;
  return absl::OkStatus();
}

std::string Stream::Take(size_t n) {
  if (rpos_ == 0 && n == rbuf_.size()) {
    std::string out = std::move(rbuf_);
    rbuf_ = std::string();
    return out;
  }
  std::string out = rbuf_.substr(rpos_, n);
  rpos_ += n;
  if (rpos_ == rbuf_.size()) {
    rbuf_ = std::string();
    rpos_ = 0;
  } else if (rpos_ >= 16 * 1024 && rpos_ * 2 >= rbuf_.size()) {
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
  }
  return out;
}

absl::StatusOr<std::string> Stream::ReadSome(size_t max) {
  Task* me = nullptr;
  if (absl::Status s = StartRead("read", &me); !s.ok()) return s;
  if (max == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("read ", peer_, ": max must be at least 1"));
  }
  Busy busy(reader_busy_);
  if (absl::Status s = Fill(me, 1, [this] { return BufferedBytes() > 0; });
      !s.ok()) {
    return s;
  }
  return Take(std::min(max, BufferedBytes()));
}

absl::StatusOr<size_t> Stream::ReadSomeInto(std::string* out, size_t max) {
  Task* me = nullptr;
  if (absl::Status s = StartRead("read", &me); !s.ok()) return s;
  if (out == nullptr || max == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("read ", peer_, ": null destination or max 0"));
  }
  Busy busy(reader_busy_);
  if (absl::Status s = Fill(me, 1, [this] { return BufferedBytes() > 0; });
      !s.ok()) {
    return s;
  }
  const size_t n = std::min(max, BufferedBytes());
  out->append(rbuf_.data() + rpos_, n);
  rpos_ += n;
  if (rpos_ == rbuf_.size()) {
    // Keeps the capacity for the next reads (bounded by what the socket
    // delivered at once and read_buffer_limit).
    rbuf_.clear();
    rpos_ = 0;
  }
  return n;
}

absl::StatusOr<std::string> Stream::ReadExactly(size_t n) {
  Task* me = nullptr;
  if (absl::Status s = StartRead("read", &me); !s.ok()) return s;
  Busy busy(reader_busy_);
  absl::Status s = Fill(me, n, [this, n] { return BufferedBytes() >= n; });
  if (s.code() == absl::StatusCode::kOutOfRange) {
    return absl::OutOfRangeError(absl::StrCat(
        "read ", peer_, ": EOF after ", BufferedBytes(), " of ", n, " bytes"));
  }
  if (!s.ok()) return s;
  return Take(n);
}

absl::StatusOr<std::string> Stream::ReadUntil(absl::string_view delimiter,
                                              size_t limit) {
  Task* me = nullptr;
  if (absl::Status s = StartRead("read", &me); !s.ok()) return s;
  if (delimiter.empty() || limit < delimiter.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "read ", peer_, ": empty delimiter or limit shorter than it"));
  }
  Busy busy(reader_busy_);
  size_t scanned = 0;  // bytes known to hold no delimiter start
  size_t found = absl::string_view::npos;
  auto done = [&] {
    absl::string_view buf(rbuf_.data() + rpos_, BufferedBytes());
    size_t from = std::min(scanned, buf.size());
    found = buf.find(delimiter, from);
    if (found != absl::string_view::npos) return true;
    if (buf.size() >= delimiter.size()) {
      scanned = buf.size() - delimiter.size() + 1;
    }
    return buf.size() >= limit;
  };
  absl::Status s = Fill(me, 1, done);
  // The buffer's bound while waiting: the limit.
  std::string quoted = absl::StrCat("\"", absl::CHexEscape(delimiter), "\"");
  if (s.code() == absl::StatusCode::kOutOfRange) {
    return absl::OutOfRangeError(absl::StrCat("read ", peer_, ": EOF before ",
                                              quoted, " (", BufferedBytes(),
                                              " bytes buffered)"));
  }
  if (!s.ok()) return s;
  if (found == absl::string_view::npos || found + delimiter.size() > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "read ", peer_, ": no ", quoted, " within ", limit, " bytes"));
  }
  return Take(found + delimiter.size());
}

absl::StatusOr<std::string> Stream::ReadLine(size_t limit) {
  return ReadUntil("\n", limit);
}

// Writing.

absl::Status Stream::Write(std::string&& data) {
  return WriteImpl(data, &data);
}

absl::Status Stream::Write(absl::string_view data) {
  return WriteImpl(data, nullptr);
}

absl::Status Stream::WriteImpl(absl::string_view data, std::string* owned) {
  Task* me = nullptr;
  if (absl::Status s = InTask("write", peer_, &me); !s.ok()) return s;
  if (IsClosed()) return ClosedError("write");
  if (!ws_->error.ok()) return WriteError();
  if (shut_down_) {
    return absl::FailedPreconditionError(
        absl::StrCat("write ", peer_, ": the write side was shut down"));
  }
  if (data.empty()) return absl::OkStatus();
  size_t written = 0;
  if (t_->PendingWrites() == 0) {
    absl::StatusOr<size_t> n = t_->TryWrite(data);
    if (n.ok()) {
      if (*n == data.size()) return absl::OkStatus();
      written = *n;
    } else if (n.status().code() != absl::StatusCode::kUnavailable) {
      ws_->error = n.status();
      return WriteError();
    }
    // EAGAIN: queue it all.
  }
  std::string rest;
  if (owned != nullptr) {
    owned->erase(0, written);
    rest = std::move(*owned);
  } else {
    rest.assign(data.data() + written, data.size() - written);
  }
  std::shared_ptr<WriteState> ws = ws_;
  absl::Status s = t_->Write(std::move(rest), [ws](absl::Status st) {
    if (!st.ok() && ws->error.ok() && !ws->closed) ws->error = st;
    ws->waiters.NotifyAll();
  });
  if (!s.ok()) {
    ws_->error = s;
    return WriteError();
  }
  return WaitWrites(me, /*drain=*/false);
}

absl::Status Stream::WaitWrites(Task* me, bool drain) {
  std::shared_ptr<WriteState> ws = ws_;
  auto pending = [&] {
    return drain ? t_->PendingWrites() > 0
                 : t_->WriteQueueSize() > options_.write_high_water;
  };
  while (!IsClosed() && ws->error.ok() && pending()) {
    try {
      runtime_internal::Wait(me, ws->waiters, Deadline::Never());
    } catch (...) {
      // libuv cannot take one write back: give the stream up.
      MarkClosed(" (a write was interrupted)");
      throw;
    }
  }
  if (!ws->error.ok()) return WriteError();
  if (IsClosed()) return ClosedError("write");
  return absl::OkStatus();
}

absl::Status Stream::Drain() {
  Task* me = nullptr;
  if (absl::Status s = InTask("drain", peer_, &me); !s.ok()) return s;
  if (IsClosed()) return ClosedError("drain");
  return WaitWrites(me, /*drain=*/true);
}

absl::Status Stream::Shutdown() {
  Task* me = nullptr;
  if (absl::Status s = InTask("shutdown", peer_, &me); !s.ok()) return s;
  if (IsClosed()) return ClosedError("shutdown");
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  auto c = std::make_shared<io_internal::Completion>();
  absl::Status s = t_->Shutdown([c](absl::Status st) {
    if (!c->abandoned) c->Complete(std::move(st));
  });
  if (!s.ok()) return Renamed(s, "shutdown " + peer_);
  try {
    io_internal::Await(me, *c, Deadline::Never());
  } catch (...) {
    c->abandoned = true;
    MarkClosed(" (a shutdown was interrupted)");
    throw;
  }
  return Renamed(c->status, "shutdown " + peer_);
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
