// loop/stream.h: Stream, the base of TCP, pipe and TTY handles (uv_stream_t).
//
// Reading, writing, shutting down and listening are the same for every
// stream type; the derived classes (loop/tcp.h, loop/pipe.h, loop/tty.h) add
// how a stream is opened or connected.
//
//   // Echo what arrives, then close on EOF or error.
//   absl::Status s = stream.ReadStart(
//       [](evergreen::loop::Stream& st, absl::StatusOr<absl::string_view> r) {
//         if (!r.ok()) {  // OutOfRange at EOF, another code on error
//           (void)st.Close();
//           return;
//         }
//         (void)st.Write(std::string(*r));  // copies; completes later
//       });
//
// Read buffers: by default a stream reads into its loop's shared 64 KiB
// buffer (Loop::SharedReadBuffer), so an idle connection holds no buffer; the
// data handed to the read callback is valid only until the callback returns.
// SetAllocator supplies buffers of the caller's own instead.
//
// Writes: Write takes ownership of the bytes (a std::string is moved, not
// copied) and completes through its callback once libuv wrote them to the
// kernel; writes still queued when the handle closes complete with
// CANCELLED. TryWrite writes what the kernel takes now, without queueing.
//
// SIGPIPE: creating the first stream sets SIGPIPE to ignored if it still has
// its default disposition (libuv writes with write(2), and a peer that resets
// the connection would otherwise kill the process); a handler the program
// installed is left alone. A write to a reset peer then fails with EPIPE or
// ECONNRESET.
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_STREAM_H_
#define EVERGREEN_LOOP_STREAM_H_

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loop/loop.h"

namespace evergreen {
namespace loop {

class Stream : public Handle {
 public:
  // ReadCallback receives the bytes read (never empty), or an error: a status
  // with code kOutOfRange ("read: EOF (end of file)") when the peer closed
  // its side, another code on a read error. Reading goes on after an EOF or
  // error only if the callback does nothing; usually it closes the stream.
  using ReadCallback =
      std::function<void(Stream&, absl::StatusOr<absl::string_view>)>;
  // WriteCallback receives OK once the bytes were written, CANCELLED if the
  // handle closed first, or the write error (EPIPE, ECONNRESET...).
  using WriteCallback = std::function<void(Stream&, absl::Status)>;
  // ShutdownCallback receives the outcome of Shutdown.
  using ShutdownCallback = std::function<void(Stream&, absl::Status)>;
  // ConnectionCallback runs on a listening stream for each incoming
  // connection (call Accept from it), or with the listen error.
  using ConnectionCallback = std::function<void(Stream&, absl::Status)>;
  // Allocator returns a buffer for the next read (`suggested` is libuv's
  // hint, 64 KiB). The buffer must stay valid until the read callback
  // returned; an empty span makes the read fail with ENOBUFS.
  using Allocator = std::function<absl::Span<char>(Stream&, size_t suggested)>;

  // ReadStart starts reading; `cb` runs for every chunk. A reading stream
  // only replaces its callback. InvalidArgument for an empty callback,
  // FailedPrecondition when closing, ENOTCONN before connected.
  absl::Status ReadStart(ReadCallback cb);
  // ReadStop stops reading; a stream that does not read leaves the data in
  // the kernel (the peer's writes eventually block: backpressure).
  absl::Status ReadStop();
  // IsReading returns whether ReadStart is in effect.
  bool IsReading() const { return reading_; }

  // SetAllocator makes reads use `alloc`; nullptr restores the loop's shared
  // buffer.
  void SetAllocator(Allocator alloc);

  // Write queues `data` for writing; `cb` (may be empty) runs once written,
  // failed or cancelled. An error is returned at once (and `cb` never runs)
  // when the handle is closing, not writable, or libuv refuses the write.
  absl::Status Write(std::string data, WriteCallback cb = nullptr);
  // Write queues several buffers written in order with one writev.
  absl::Status Write(std::vector<std::string> buffers,
                     WriteCallback cb = nullptr);
  // TryWrite writes as much of `data` as the kernel accepts now, without
  // queueing: returns the number of bytes written, or kUnavailable
  // ("try write: EAGAIN ...") when nothing could be written; also EAGAIN
  // while earlier writes are still queued, which keeps bytes in order.
  absl::StatusOr<size_t> TryWrite(absl::string_view data);
  // TryWrite of several buffers, in order (vectored).
  absl::StatusOr<size_t> TryWrite(absl::Span<const absl::string_view> buffers);

  // Shutdown shuts the write side down once the queued writes are done (the
  // peer reads EOF); `cb` (may be empty) gets the outcome.
  absl::Status Shutdown(ShutdownCallback cb = nullptr);

  // Listen starts accepting connections, up to `backlog` pending.
  absl::Status Listen(int backlog, ConnectionCallback cb);
  // Accept accepts a pending connection into `client`, a new stream of a
  // matching type on the same loop (a Tcp for a Tcp server...). Call it from
  // the connection callback. EAGAIN when nothing is pending.
  absl::Status Accept(Stream& client);

  // IsReadable / IsWritable: libuv's view of the stream's direction.
  bool IsReadable() const;
  bool IsWritable() const;
  // WriteQueueSize returns the bytes queued and not yet written.
  size_t WriteQueueSize() const;
  // PendingWrites returns the number of Write calls not yet completed.
  size_t PendingWrites() const { return pending_writes_; }
  // SetBlocking makes writes blocking (uv_stream_set_blocking); for pipes
  // and TTYs that must not lose output at exit.
  absl::Status SetBlocking(bool blocking);

  uv_stream_t* raw_stream() { return stream_; }

 protected:
  Stream(Loop& loop, uv_stream_t* stream);

  // WriteImpl queues `buffers` (with `send_handle` for IPC pipes, else
  // nullptr).
  absl::Status WriteImpl(std::vector<std::string> buffers,
                         uv_stream_t* send_handle, WriteCallback cb);

 private:
  struct WriteOp;
  static void OnAlloc(uv_handle_t* raw, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* raw, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnConnection(uv_stream_t* raw, int status);

  uv_stream_t* stream_;
  bool reading_ = false;
  size_t pending_writes_ = 0;
  // The read callback runs without a copy; ReadStart from inside it parks
  // the new one in next_read_cb_ until it returned.
  ReadCallback read_cb_;
  ReadCallback next_read_cb_;
  bool in_read_cb_ = false;
  std::shared_ptr<ConnectionCallback> connection_cb_;
  Allocator alloc_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_STREAM_H_
