// runtime/io/internal/transport.h: what a Stream (runtime/io/stream.h)
// reads from and writes to: a //loop stream (TCP, pipe, TTY) or a TLS
// connection (tls/tls_stream.h). Not a public API.
//
// Callbacks may run after the Stream is gone only for writes and shutdowns
// (they capture shared state); the read callback never runs once Close was
// called. Loop thread only.
#ifndef EVERGREEN_RUNTIME_IO_INTERNAL_TRANSPORT_H_
#define EVERGREEN_RUNTIME_IO_INTERNAL_TRANSPORT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "loop/stream.h"

namespace evergreen {
namespace runtime {
namespace io_internal {

class Transport {
 public:
  // Data (never empty) or how reading ended: OutOfRange at EOF, the error.
  using ReadCallback = std::function<void(absl::StatusOr<absl::string_view>)>;
  using DoneCallback = std::function<void(absl::Status)>;

  virtual ~Transport() = default;
  // socket returns the //loop stream under the transport (addresses,
  // socket options, Ref/Unref).
  virtual loop::Stream& socket() = 0;
  virtual const loop::Stream& socket() const = 0;
  virtual absl::Status ReadStart(ReadCallback cb) = 0;
  virtual void ReadStop() = 0;
  virtual bool IsReading() const = 0;
  // TryWrite writes what can be written now without queueing; Unavailable
  // when nothing can (or the transport cannot write without queueing).
  virtual absl::StatusOr<size_t> TryWrite(absl::string_view data) = 0;
  // Write queues `data`; `cb` runs once it reached the kernel, or with the
  // error (CANCELLED once closed).
  virtual absl::Status Write(std::string data, DoneCallback cb) = 0;
  virtual size_t WriteQueueSize() const = 0;
  virtual size_t PendingWrites() const = 0;
  virtual absl::Status Shutdown(DoneCallback cb) = 0;
  virtual void Close() = 0;
  virtual bool IsClosing() const = 0;
};

// LoopTransport is a Transport over a //loop stream.
class LoopTransport final : public Transport {
 public:
  explicit LoopTransport(loop::HandlePtr<loop::Stream> s) : s_(std::move(s)) {}
  loop::Stream& socket() override { return *s_; }
  const loop::Stream& socket() const override { return *s_; }
  // The callback stays here; the loop stream's callback only captures
  // `this` (no allocation, one indirect call less per read). The transport
  // must outlive the run of its read callback.
  absl::Status ReadStart(ReadCallback cb) override {
    if (in_read_cb_) {
      next_read_cb_ = std::move(cb);  // installed once the running one returns
    } else {
      read_cb_ = std::move(cb);
    }
    return s_->ReadStart(
        [this](loop::Stream&, absl::StatusOr<absl::string_view> r) {
          in_read_cb_ = true;
          read_cb_(std::move(r));
          in_read_cb_ = false;
          if (next_read_cb_) {
            read_cb_ = std::move(next_read_cb_);
            next_read_cb_ = nullptr;
          }
        });
  }
  void ReadStop() override { (void)s_->ReadStop(); }
  bool IsReading() const override { return s_->IsReading(); }
  absl::StatusOr<size_t> TryWrite(absl::string_view data) override {
    return s_->TryWrite(data);
  }
  absl::Status Write(std::string data, DoneCallback cb) override {
    return s_->Write(std::move(data),
                     [cb = std::move(cb)](loop::Stream&, absl::Status st) {
                       cb(std::move(st));
                     });
  }
  size_t WriteQueueSize() const override { return s_->WriteQueueSize(); }
  size_t PendingWrites() const override { return s_->PendingWrites(); }
  absl::Status Shutdown(DoneCallback cb) override {
    return s_->Shutdown([cb = std::move(cb)](loop::Stream&, absl::Status st) {
      cb(std::move(st));
    });
  }
  void Close() override {
    if (s_ != nullptr && !s_->IsClosing()) (void)s_->Close();
  }
  bool IsClosing() const override { return s_ == nullptr || s_->IsClosing(); }
  // Release hands the stream over (to a TLS connection); the transport is
  // then unusable.
  loop::HandlePtr<loop::Stream> Release() { return std::move(s_); }
  bool released() const { return s_ == nullptr; }

 private:
  loop::HandlePtr<loop::Stream> s_;
  ReadCallback read_cb_;
  ReadCallback next_read_cb_;
  bool in_read_cb_ = false;
};

}  // namespace io_internal
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_INTERNAL_TRANSPORT_H_
