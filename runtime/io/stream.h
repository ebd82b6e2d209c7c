// runtime/io/stream.h: Stream, the byte stream every connection type shares
// (TcpStream in runtime/io/tcp.h, PipeStream in runtime/io/pipe.h,
// TtyStream in runtime/io/tty.h, TlsStream in runtime/io/tls.h): reads and
// writes that block only the calling task.
//
//   // In a task, with any stream:
//   absl::StatusOr<std::string> line = stream.ReadLine(1024);
//   if (!line.ok()) return line.status();  // EOF, an error, too long
//   absl::Status s = stream.Write("echo: " + *line);
//   s = stream.Shutdown();  // the peer reads EOF
//
// Reading is driven by the consumer: a stream reads its socket into a
// buffer of its own only once a read call asked for data, and stops when
// the unread bytes reach StreamOptions::read_buffer_limit (or what the
// waiting call needs, if more); a task that stops reading stops the socket
// being read, and the kernel then makes the peer's writes wait. Writing
// applies backpressure the other way: Write returns once its bytes are
// queued and the queue is at most write_high_water bytes; above that it
// suspends the task until the peer has taken enough.
//
// Errors are values naming the operation and the peer: "read
// 127.0.0.1:4000: ECONNRESET (connection reset by peer)". End of stream is
// OutOfRange ("read 127.0.0.1:4000: EOF"). Nothing read is ever lost: a
// read that fails (EOF, error, limit, interruption) leaves the bytes it
// could not return in the buffer for the next read.
//
// Cancellation: a kill, cancel scope or timeout interrupting a read stops
// reading the socket; the stream stays usable and the buffered bytes stay.
// Interrupting a suspended Write, Drain or Shutdown closes the stream:
// libuv cannot take back one queued write, so the queued bytes are dropped
// and later calls fail with FailedPrecondition ("write <peer>: stream
// closed (a write was interrupted)").
//
// Liveness: a stream keeps EventLoop::Run going only while a task waits on
// it (or writes are queued): an idle connection nobody reads does not stop
// Run from returning.
//
// One task may read a stream at a time (a second concurrent reader gets
// FailedPrecondition); several tasks may write to it, each Write landing in
// one piece. Loop thread only; every call but Close, IsClosed and the
// accessors must be made from a task (FailedPrecondition "<op> <peer>: not
// in a task" otherwise).
#ifndef EVERGREEN_RUNTIME_IO_STREAM_H_
#define EVERGREEN_RUNTIME_IO_STREAM_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "loop/stream.h"
#include "runtime/internal/wait.h"
#include "runtime/io/internal/transport.h"

namespace evergreen {
namespace runtime {
namespace io {

// StreamOptions tune a stream's buffering.
struct StreamOptions {
  // The socket is not read while this many bytes (or what a waiting read
  // needs, if more) wait unread in the stream's buffer. Above the loop's
  // 64 KiB read size, so that a full read does not stop the socket and the
  // next ReadSome start it again (an epoll_ctl each).
  size_t read_buffer_limit = 256 * 1024;
  // Write returns once at most this many bytes are queued for the kernel.
  size_t write_high_water = 64 * 1024;
};

class TlsStream;

class Stream {
 public:
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // ~Stream closes the stream (see Close). No task may be blocked on it.
  virtual ~Stream();

  // ReadSome returns the bytes available, at most `max` (>= 1), waiting
  // until at least one arrives. OutOfRange "read <peer>: EOF" once the peer
  // shut its side down and everything before was returned; the read error
  // (ECONNRESET...), again on every later read; InvalidArgument for max 0;
  // FailedPrecondition when closed, outside a task or while another task
  // reads. Throws when the task is killed or cancelled (see above).
  absl::StatusOr<std::string> ReadSome(size_t max = 64 * 1024);
  // ReadSomeInto is ReadSome appending to `*out` (not null) instead of
  // returning a new string; returns the number of bytes appended. With a
  // buffer the caller reuses (out->clear() between reads), reading
  // allocates nothing once the buffers have grown:
  //   std::string buf;
  //   while (conn.ReadSomeInto(&buf).ok()) {
  //     if (!conn.Write(absl::string_view(buf)).ok()) break;
  //     buf.clear();
  //   }
  absl::StatusOr<size_t> ReadSomeInto(std::string* out, size_t max = 64 * 1024);
  // ReadExactly returns exactly `n` bytes, waiting for them. At EOF before
  // `n` bytes: OutOfRange "read <peer>: EOF after 3 of 10 bytes", and the 3
  // bytes stay buffered (ReadSome returns them). Other errors as ReadSome.
  absl::StatusOr<std::string> ReadExactly(size_t n);
  // ReadUntil returns the bytes up to and including the first `delimiter`
  // (not empty), waiting for it. ResourceExhausted "read <peer>: no "\n"
  // within 1024 bytes" when it does not end within `limit` bytes (counting
  // the delimiter): a peer sending a line longer than the limit. At EOF
  // without a delimiter: OutOfRange "read <peer>: EOF before "\n" (3
  // bytes buffered)". In both cases nothing is consumed: the bytes stay
  // buffered. InvalidArgument for an empty delimiter or a limit shorter
  // than it. Other errors as ReadSome.
  absl::StatusOr<std::string> ReadUntil(absl::string_view delimiter,
                                        size_t limit);
  // ReadLine is ReadUntil("\n", limit): the line with its "\n".
  absl::StatusOr<std::string> ReadLine(size_t limit = 64 * 1024);

  // Write queues `data` (moved, not copied; what the kernel takes at once
  // is written first, without queueing) and returns once the write queue holds
  // at most write_high_water bytes: above that it suspends the task
  // (backpressure). OK means queued, not delivered: see Drain. Errors: the
  // write error
  // ("write <peer>: EPIPE (broken pipe)", ECONNRESET), again on every later
  // write, including the failure of a write queued earlier;
  // FailedPrecondition when closed, after Shutdown or outside a task.
  // Throws when the task is killed or cancelled while suspended, which
  // closes the stream.
  absl::Status Write(std::string&& data);
  // Write(view) is Write(std::string(view)) except that only the bytes the
  // kernel does not take at once are copied (none, usually).
  absl::Status Write(absl::string_view data);
  absl::Status Write(const char* data) {
    return Write(absl::string_view(data));
  }
  // Drain waits until every queued byte was handed to the kernel. OK, the
  // write error, or FailedPrecondition when closed or outside a task.
  // Interrupting it closes the stream.
  absl::Status Drain();
  // Shutdown shuts the write side down once the queued bytes are written
  // (the peer reads EOF) and waits for that. Reading goes on. OK (also
  // when already shut down), the error ("shutdown <peer>: ENOTCONN ..."),
  // FailedPrecondition when closed or outside a task. Interrupting it
  // closes the stream.
  absl::Status Shutdown();
  // Close closes the stream at once: bytes still queued are dropped (call
  // Drain or Shutdown first to deliver them), tasks blocked on the stream
  // get FailedPrecondition "<op> <peer>: stream closed". No effect when
  // already closed. Callable from callbacks too.
  void Close();
  // IsClosed returns whether the stream was closed (by Close, by an
  // interrupted write or by the loop's destruction).
  bool IsClosed() const;

  // BufferedBytes returns the bytes read from the socket and not yet
  // returned by a read call.
  size_t BufferedBytes() const { return rbuf_.size() - rpos_; }
  // peer names the other end in messages ("127.0.0.1:4000", a socket path).
  const std::string& peer() const { return peer_; }
  // WriteQueueSize returns the bytes written and not yet handed to the
  // kernel (for TLS: plaintext and ciphertext).
  size_t WriteQueueSize() const;
  // stream_handle returns the //loop stream (the socket, under TLS too), for
  // what this class does not wrap (buffer sizes...). Do not read from it,
  // write to it or close it. Not after the stream was handed over to TLS.
  loop::Stream& stream_handle() { return t_->socket(); }
  const loop::Stream& stream_handle() const { return t_->socket(); }

 protected:
  friend class TlsStream;  // takes a TcpStream's socket (ReleaseHandle)
  // Takes `handle`, a connected stream; `peer` names the other end.
  Stream(loop::HandlePtr<loop::Stream> handle, std::string peer,
         const StreamOptions& options);
  // Takes `transport` (a TLS connection...).
  Stream(std::unique_ptr<io_internal::Transport> transport, std::string peer,
         const StreamOptions& options);
  // ReleaseHandle hands the //loop stream over (to a TLS connection): the
  // Stream is closed from then on, without closing the socket.
  // FailedPrecondition "<op> <peer>: ..." when closed, when bytes were read
  // and not consumed, while a task reads or writes, or when the stream is
  // not over a //loop stream.
  absl::StatusOr<loop::HandlePtr<loop::Stream>> ReleaseHandle(
      absl::string_view op);
  // MarkClosed records that the stream is closed, closes the handle unless
  // it is closing already, and wakes the tasks blocked on the stream.
  void MarkClosed(const char* reason);
  absl::Status ClosedError(absl::string_view op) const;

 private:
  struct WriteState;
  absl::Status StartRead(absl::string_view op, Task** me);
  // Fill waits until `done()` holds, reading the socket meanwhile (waking
  // once `need` bytes are buffered). OK when done; otherwise the status
  // that ends the wait (EOF, read error, closed). A template (defined and
  // instantiated in stream.cc): `done` runs inline, not through a
  // std::function, on every read.
  template <typename Done>
  absl::Status Fill(Task* me, size_t need, Done done);
  void OnRead(absl::StatusOr<absl::string_view> r);
  void StopReading();
  std::string Take(size_t n);
  absl::Status WaitWrites(Task* me, bool drain);
  // Write and Write(view): `owned` (if not null) holds `data` and may be
  // moved from.
  absl::Status WriteImpl(absl::string_view data, std::string* owned);
  absl::Status WriteError() const;

  std::unique_ptr<io_internal::Transport> t_;
  StreamOptions options_;
  std::string peer_;
  // Unread bytes: rbuf_[rpos_, end).
  std::string rbuf_;
  size_t rpos_ = 0;
  size_t want_ = 0;  // the waiting reader's need, 0 when none waits
  bool reader_busy_ = false;
  bool shut_down_ = false;
  bool eof_ = false;
  absl::Status read_error_;
  bool closed_ = false;
  const char* close_reason_ = "";
  runtime_internal::WaitQueue readers_;
  std::shared_ptr<WriteState> ws_;  // shared with the write callbacks
};

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_STREAM_H_
