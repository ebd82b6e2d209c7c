#include "tls/tls_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace evergreen {
namespace tls {
namespace {

// Prefixed returns `status` with `operation` before its message.
absl::Status Prefixed(absl::string_view operation, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(operation, ": ", status.message()));
}

bool EndedBadly(Outcome outcome) {
  return outcome != Outcome::kOpen && outcome != Outcome::kCleanClose;
}

// The TlsStream of a stream's callback; null once the TlsStream is gone.
TlsStream* Owner(loop::Handle& handle) {
  return static_cast<TlsStream*>(handle.user_data());
}

}  // namespace

void TlsStreamDeleter::operator()(TlsStream* stream) const {
  stream->ReleaseOwner();
}

TlsStream::TlsStream(loop::HandlePtr<loop::Stream> stream,
                     std::unique_ptr<Engine> engine,
                     const TlsStreamOptions& options,
                     HandshakeCallback on_handshake)
    : stream_(std::move(stream)),
      engine_(std::move(engine)),
      high_water_(options.high_water),
      is_client_(engine_->is_client()),
      handshake_timeout_ms_(options.handshake_timeout_ms),
      handshake_cb_(
          std::make_shared<HandshakeCallback>(std::move(on_handshake))) {}

TlsStream::~TlsStream() {
  // Callbacks of the stream that still arrive (writes cancelled by its
  // close) find no owner.
  stream_->set_user_data(nullptr);
  timer_.reset();
  engine_.reset();
  stream_.reset();
}

absl::StatusOr<TlsStreamPtr> TlsStream::CreateClient(
    loop::HandlePtr<loop::Stream> stream,
    std::shared_ptr<ClientContext> context, const TlsStreamOptions& options,
    HandshakeCallback on_handshake) {
  EngineOptions engine_options;
  engine_options.server_name = options.server_name;
  engine_options.port = options.port;
  engine_options.high_water = options.high_water;
  return Start(std::move(stream),
               Engine::CreateClient(std::move(context), engine_options),
               options, std::move(on_handshake), "tls client");
}

absl::StatusOr<TlsStreamPtr> TlsStream::CreateServer(
    loop::HandlePtr<loop::Stream> stream,
    std::shared_ptr<ServerContext> context, const TlsStreamOptions& options,
    HandshakeCallback on_handshake) {
  EngineOptions engine_options;
  engine_options.high_water = options.high_water;
  return Start(std::move(stream),
               Engine::CreateServer(std::move(context), engine_options),
               options, std::move(on_handshake), "tls server");
}

absl::StatusOr<TlsStreamPtr> TlsStream::Start(
    loop::HandlePtr<loop::Stream> stream,
    absl::StatusOr<std::unique_ptr<Engine>> engine,
    const TlsStreamOptions& options, HandshakeCallback on_handshake,
    const char* operation) {
  if (stream == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(operation, ": no stream"));
  }
  if (!on_handshake) {
    return absl::InvalidArgumentError(
        absl::StrCat(operation, ": empty handshake callback"));
  }
  if (stream->IsClosing()) {
    return absl::FailedPreconditionError(
        absl::StrCat(operation, ": the stream is closing"));
  }
  if (!engine.ok()) return engine.status();
  TlsStreamPtr tls(new TlsStream(std::move(stream), std::move(*engine), options,
                                 std::move(on_handshake)));
  tls->stream_->set_user_data(tls.get());
  absl::Status reading = tls->stream_->ReadStart(
      [](loop::Stream& s, absl::StatusOr<absl::string_view> result) {
        if (TlsStream* self = Owner(s)) self->OnSocketRead(std::move(result));
      });
  if (!reading.ok()) {
    tls->handshake_cb_.reset();  // never runs
    return Prefixed(operation, reading);
  }
  if (options.handshake_timeout_ms > 0) {
    tls->handshake_deadline_ = tls->loop().Now() + options.handshake_timeout_ms;
    tls->ArmTimer();
  }
  tls->Flush();  // the ClientHello
  return tls;
}

void TlsStream::ReleaseOwner() {
  owned_ = false;
  if (stream_closed_) {
    // Inside OnStreamClosed, which deletes once its callbacks returned.
    if (!dispatching_) delete this;
    return;
  }
  if (closing_) return;  // OnStreamClosed deletes
  if (!stream_->IsClosing()) {
    (void)Close();
    return;
  }
  // The stream was closed directly: our close callback never runs.
  closing_ = true;
  if (dispatching_) {
    delete_pending_ = true;
  } else {
    delete this;
  }
}

// Loop entry points.

void TlsStream::OnSocketRead(absl::StatusOr<absl::string_view> result) {
  if (IsClosing() || engine_ == nullptr) return;
  if (result.ok()) {
    // A failure shows in the engine's events.
    (void)engine_->FeedCiphertext(*result);
  } else if (result.status().code() == absl::StatusCode::kOutOfRange) {
    socket_read_done_ = true;
    engine_->FeedEof();  // clean close or truncation (pitfall 10)
  } else {
    socket_read_done_ = true;
    (void)stream_->ReadStop();
    if (!handshake_done_) {
      FailHandshake(Prefixed("tls handshake", result.status()));
    } else if (!read_end_.has_value()) {
      read_end_ = Prefixed("tls read", result.status());
    }
  }
  Dispatch();
}

void TlsStream::OnSocketWrite(uint64_t mark, absl::Status status) {
  if (IsClosing()) return;  // Close settles the writes
  if (status.ok()) {
    acked_ = std::max(acked_, mark);
  } else {
    socket_write_failed_ = true;
    absl::Status error = Prefixed("tls write", status);
    FailHandshake(Prefixed("tls handshake", status));
    FailWrites(error, acked_);
    if (shutdown_cb_ != nullptr && !shutdown_result_.has_value()) {
      shutdown_result_ = error;
    }
  }
  Dispatch();
}

void TlsStream::OnSocketShutdown(absl::Status status) {
  if (IsClosing()) return;
  if (shutdown_cb_ != nullptr && !shutdown_result_.has_value()) {
    shutdown_result_ =
        status.ok() ? absl::OkStatus() : Prefixed("tls shutdown", status);
  }
  Dispatch();
}

void TlsStream::OnTimer() {
  dispatch_scheduled_ = false;
  if (IsClosing()) return;
  if (handshake_deadline_ != 0 && HandshakePending() &&
      loop().Now() >= handshake_deadline_) {
    close_on_report_ = true;
    FailHandshake(absl::DeadlineExceededError(absl::StrCat(
        "tls handshake: not finished after ", handshake_timeout_ms_, " ms")));
  }
  ArmTimer();
  Dispatch();
}

void TlsStream::OnStreamClosed() {
  stream_closed_ = true;
  dispatching_ = true;  // ReleaseOwner from a callback must not delete
  if (!handshake_reported_) {
    handshake_reported_ = true;
    absl::Status s =
        handshake_result_.has_value()
            ? *handshake_result_
            : absl::CancelledError("tls handshake: closed before it finished");
    std::shared_ptr<HandshakeCallback> cb = std::move(handshake_cb_);
    if (cb != nullptr && *cb) loop().Invoke([&] { (*cb)(*this, s); });
  }
  while (!writes_.empty()) {
    PendingWrite w = std::move(writes_.front());
    writes_.pop_front();
    absl::Status s = w.end <= acked_
                         ? absl::OkStatus()
                         : absl::CancelledError(
                               "tls write: closed before the write completed");
    if (w.cb) loop().Invoke([&] { w.cb(*this, s); });
  }
  if (shutdown_cb_ != nullptr) {
    std::shared_ptr<ShutdownCallback> cb = std::move(shutdown_cb_);
    absl::Status s =
        shutdown_result_.has_value()
            ? *shutdown_result_
            : absl::CancelledError("tls shutdown: closed before it finished");
    if (*cb) loop().Invoke([&] { (*cb)(*this, s); });
  }
  CloseCallback cb = std::move(close_cb_);
  close_cb_ = nullptr;
  if (cb) loop().Invoke([&] { cb(*this); });
  // The stream is closed: nothing can reach the SSL any more (pitfall 12).
  if (engine_ != nullptr) {
    if (engine_->outcome() != Outcome::kOpen) {
      close_info_ = engine_->close_info();
    }
    engine_.reset();
  }
  read_cb_.reset();
  handshake_cb_.reset();
  dispatching_ = false;
  if (!owned_) delete this;
}

// Moving bytes.

void TlsStream::Flush() {
  if (closing_ || socket_write_failed_ || engine_ == nullptr) return;
  while (engine_->PendingCiphertext() > 0 &&
         stream_->WriteQueueSize() < high_water_) {
    std::string out = engine_->TakeCiphertext();
    const uint64_t mark = engine_->plaintext_bytes_taken();
    if (out.empty()) break;
    size_t written = 0;
    if (stream_->PendingWrites() == 0) {
      // Straight to the kernel when nothing is queued (pitfall 7); a
      // failure other than EAGAIN shows again through Write.
      absl::StatusOr<size_t> n = stream_->TryWrite(out);
      if (n.ok()) written = *n;
    }
    if (written == out.size()) {
      acked_ = std::max(acked_, mark);
      continue;
    }
    if (written > 0) out.erase(0, written);
    // The stream owns the bytes until its callback (pitfall 4).
    absl::Status s = stream_->Write(
        std::move(out), [mark](loop::Stream& st, absl::Status ws) {
          if (TlsStream* self = Owner(st)) {
            self->OnSocketWrite(mark, std::move(ws));
          }
        });
    if (!s.ok()) {
      socket_write_failed_ = true;
      absl::Status error = Prefixed("tls write", s);
      FailHandshake(Prefixed("tls handshake", s));
      FailWrites(error, acked_);
      if (shutdown_cb_ != nullptr && !shutdown_result_.has_value()) {
        shutdown_result_ = error;
      }
      Wake();
      return;
    }
  }
  if (!writes_.empty() && writes_.front().end <= acked_) Wake();
  // Shutdown: close_notify is out of the engine; the stream's shutdown
  // waits for the queued writes (pitfall 11).
  if (shutdown_requested_ && !socket_shutdown_started_ &&
      engine_->close_notify_sent() && engine_->PendingCiphertext() == 0) {
    socket_shutdown_started_ = true;
    absl::Status s =
        stream_->Shutdown([](loop::Stream& st, absl::Status status) {
          if (TlsStream* self = Owner(st)) {
            self->OnSocketShutdown(std::move(status));
          }
        });
    if (!s.ok()) {
      shutdown_result_ = Prefixed("tls shutdown", s);
      Wake();
    }
  }
}

void TlsStream::PollEngine() {
  if (engine_ == nullptr) return;
  Engine::Events events = engine_->TakeEvents();
  if (events.handshake_done) {
    handshake_done_ = true;
    info_ = engine_->info();
    if (HandshakePending()) handshake_result_ = absl::OkStatus();
  }
  if (events.closed) {
    close_info_ = engine_->close_info();
    absl::Status s = engine_->status();
    if (!handshake_done_) {
      FailHandshake(s.ok() ? absl::UnavailableError(
                                 "tls handshake: the peer sent close_notify "
                                 "before the handshake finished")
                           : s);
    } else if (!read_end_.has_value()) {
      read_end_ =
          s.ok()
              ? absl::OutOfRangeError("tls read: EOF (close_notify received)")
              : s;
    }
  }
  if (!write_error_.has_value() && EndedBadly(engine_->outcome())) {
    // Data not yet encrypted never will be; what is on its way may still
    // reach the socket.
    close_info_ = engine_->close_info();
    FailWrites(engine_->status(), engine_->plaintext_bytes_taken());
  }
}

void TlsStream::FailHandshake(absl::Status status) {
  if (HandshakePending()) handshake_result_ = status;
  if (!handshake_done_) FailWrites(std::move(status), acked_);
}

void TlsStream::FailWrites(absl::Status status, uint64_t from) {
  if (!write_error_.has_value()) {
    write_error_ = std::move(status);
    failed_from_ = from;
  } else {
    failed_from_ = std::min(failed_from_, from);
  }
}

void TlsStream::UpdateSocketReading() {
  if (closing_ || socket_read_done_ || engine_ == nullptr) return;
  // Read while the engine wants input: below high_water of plaintext and
  // buffered ciphertext (pitfall 6).
  bool want = engine_->WantsCiphertext();
  if (want == stream_->IsReading()) return;
  if (!want) {
    (void)stream_->ReadStop();
    return;
  }
  absl::Status s = stream_->ReadStart(
      [](loop::Stream& st, absl::StatusOr<absl::string_view> result) {
        if (TlsStream* self = Owner(st)) self->OnSocketRead(std::move(result));
      });
  if (!s.ok()) {
    socket_read_done_ = true;
    if (!handshake_done_) {
      FailHandshake(Prefixed("tls handshake", s));
    } else if (!read_end_.has_value()) {
      read_end_ = Prefixed("tls read", s);
    }
    Wake();
  }
}

// Callbacks.

void TlsStream::Wake() {
  if (dispatching_) {
    again_ = true;
    return;
  }
  if (IsClosing() || dispatch_scheduled_) return;
  if (timer_ == nullptr) timer_ = loop::Timer::Create(loop());
  dispatch_scheduled_ = true;
  (void)timer_->Start(0, 0, [this](loop::Timer&) { OnTimer(); });
}

void TlsStream::ArmTimer() {
  if (IsClosing() || dispatch_scheduled_) return;
  if (handshake_deadline_ != 0 && HandshakePending()) {
    if (timer_ == nullptr) timer_ = loop::Timer::Create(loop());
    uint64_t now = loop().Now();
    (void)timer_->Start(
        handshake_deadline_ > now ? handshake_deadline_ - now : 0, 0,
        [this](loop::Timer&) { OnTimer(); });
  } else if (timer_ != nullptr) {
    (void)timer_->Stop();
  }
}

void TlsStream::Dispatch() {
  if (dispatching_) {
    again_ = true;
    return;
  }
  dispatching_ = true;
  do {
    again_ = false;
    DispatchOnce();
  } while (again_ && !IsClosing());
  dispatching_ = false;
  if (delete_pending_) delete this;
}

void TlsStream::DispatchOnce() {
  Flush();
  PollEngine();
  if (handshake_result_.has_value() && !handshake_reported_) {
    handshake_reported_ = true;
    absl::Status s = std::move(*handshake_result_);
    handshake_result_.reset();
    ArmTimer();  // stops the deadline
    std::shared_ptr<HandshakeCallback> cb = std::move(handshake_cb_);
    again_ = true;
    if (cb != nullptr && *cb) loop().Invoke([&] { (*cb)(*this, s); });
    if (!s.ok() && close_on_report_ && !IsClosing()) (void)Close();
    if (IsClosing()) return;
  }
  if (!handshake_reported_) {
    UpdateSocketReading();
    return;
  }
  // Data, handed over from the engine's queue: no copy, no buffer kept.
  while (reading_ && !IsClosing() && engine_->PendingPlaintext() > 0) {
    std::string data = engine_->ReadPlaintext();  // resumes decryption
    Flush();
    PollEngine();
    std::shared_ptr<ReadCallback> cb = read_cb_;
    again_ = true;
    loop().Invoke([&] { (*cb)(*this, absl::string_view(data)); });
  }
  if (IsClosing()) return;
  // Writes whose ciphertext reached the socket (pitfall 5), in order.
  while (!writes_.empty()) {
    PendingWrite& front = writes_.front();
    absl::Status s;
    if (front.end > acked_) {
      if (!write_error_.has_value() || front.end <= failed_from_) break;
      s = *write_error_;
    }
    WriteCallback cb = std::move(front.cb);
    writes_.pop_front();
    if (!cb) continue;
    again_ = true;
    loop().Invoke([&] { cb(*this, s); });
    if (IsClosing()) return;
  }
  // The end of reading, once the data before it was delivered.
  if (read_end_.has_value() && !read_end_delivered_ && reading_ &&
      engine_->PendingPlaintext() == 0) {
    read_end_delivered_ = true;
    absl::Status s = *read_end_;
    std::shared_ptr<ReadCallback> cb = read_cb_;
    again_ = true;
    loop().Invoke([&] { (*cb)(*this, s); });
    if (IsClosing()) return;
  }
  if (shutdown_result_.has_value() && shutdown_cb_ != nullptr) {
    std::shared_ptr<ShutdownCallback> cb = std::move(shutdown_cb_);
    absl::Status s = *shutdown_result_;
    again_ = true;
    if (*cb) loop().Invoke([&] { (*cb)(*this, s); });
    if (IsClosing()) return;
  }
  UpdateSocketReading();
}

// User entry points.

absl::Status TlsStream::ReadStart(ReadCallback cb) {
  if (IsClosing()) {
    return absl::FailedPreconditionError("tls read start: closing");
  }
  if (!cb) {
    return absl::InvalidArgumentError("tls read start: empty callback");
  }
  read_cb_ = std::make_shared<ReadCallback>(std::move(cb));
  reading_ = true;
  if (handshake_reported_ && engine_ != nullptr &&
      (engine_->PendingPlaintext() > 0 ||
       (read_end_.has_value() && !read_end_delivered_))) {
    Wake();
  }
  return absl::OkStatus();
}

absl::Status TlsStream::ReadStop() {
  if (IsClosing()) {
    return absl::FailedPreconditionError("tls read stop: closing");
  }
  reading_ = false;
  return absl::OkStatus();
}

absl::Status TlsStream::Write(absl::string_view data, WriteCallback cb) {
  if (IsClosing()) return absl::FailedPreconditionError("tls write: closing");
  if (write_error_.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls write: the connection failed: ", write_error_->message()));
  }
  if (absl::Status s = engine_->WritePlaintext(data); !s.ok()) return s;
  written_ += data.size();
  writes_.push_back(PendingWrite{written_, std::move(cb)});
  Flush();
  return absl::OkStatus();
}

size_t TlsStream::WriteQueueSize() const {
  if (engine_ == nullptr || IsClosing()) return 0;
  return engine_->write_queue_size() + stream_->WriteQueueSize();
}

size_t TlsStream::ReadQueueSize() const {
  if (engine_ == nullptr) return 0;
  return engine_->PendingPlaintext() + engine_->BufferedCiphertext();
}

absl::Status TlsStream::Shutdown(ShutdownCallback cb) {
  if (IsClosing()) {
    return absl::FailedPreconditionError("tls shutdown: closing");
  }
  if (shutdown_requested_) {
    return absl::FailedPreconditionError("tls shutdown: already called");
  }
  if (socket_write_failed_ && write_error_.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls shutdown: the connection failed: ", write_error_->message()));
  }
  if (absl::Status s = engine_->Shutdown(); !s.ok()) return s;
  shutdown_requested_ = true;
  shutdown_cb_ = std::make_shared<ShutdownCallback>(std::move(cb));
  Flush();
  return absl::OkStatus();
}

absl::Status TlsStream::KeyUpdate() {
  if (IsClosing()) {
    return absl::FailedPreconditionError("tls key update: closing");
  }
  absl::Status s = engine_->KeyUpdate();
  Flush();
  Wake();  // a failure may end the connection
  return s;
}

absl::Status TlsStream::Close(CloseCallback cb) {
  if (closing_) {
    return absl::FailedPreconditionError("tls close: already closing");
  }
  if (stream_->IsClosing()) {
    return absl::FailedPreconditionError(
        "tls close: the stream under the TlsStream was closed directly");
  }
  closing_ = true;
  close_cb_ = std::move(cb);
  reading_ = false;
  timer_.reset();  // safe inside its own callback
  (void)stream_->Close([](loop::Handle& h) {
    if (TlsStream* self = Owner(h)) self->OnStreamClosed();
  });
  return absl::OkStatus();
}

}  // namespace tls
}  // namespace evergreen
