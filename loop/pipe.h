// loop/pipe.h: Pipe, a Unix domain stream socket or a pipe (uv_pipe_t):
// server, client, adopted file descriptor, or an IPC channel that carries
// TCP and pipe handles between processes. Reading and writing come from
// Stream (loop/stream.h).
//
//   evergreen::loop::Loop loop;
//   auto server = *evergreen::loop::Pipe::Create(loop);
//   absl::Status s = server->Bind("/tmp/app.sock");  // or "\0name" (Linux)
//   s = server->Listen(16, [](evergreen::loop::Stream& srv, absl::Status st) {
//     if (!st.ok()) return;
//     auto conn = static_cast<evergreen::loop::Pipe&>(srv).Accept();
//     if (conn.ok()) { /* keep *conn (a HandlePtr<Pipe>) and read from it */ }
//   });
//   auto client = *evergreen::loop::Pipe::Create(loop);
//   s = client->Connect("/tmp/app.sock",
//                       [](evergreen::loop::Pipe& c, absl::Status st) {
//                         if (st.ok()) (void)c.Write("hello");
//                       });
//
// IPC: a Pipe created with ipc = true (over a socketpair, or the pipe given
// to a child process, see loop/process.h) sends a handle with Write2; the
// receiver reads, then, from its read callback, accepts what arrived:
//
//   // sender
//   (void)ipc->Write2("conn", *tcp_connection);
//   // receiver, inside the read callback of its ipc Pipe
//   while (ipc.PendingCount() > 0) {
//     auto handle = ipc.AcceptPending();  // a Tcp or a Pipe, as sent
//   }
//
// libuv 1.44 can lose data on an IPC pipe whose peer closes right after
// sending several handles: the kernel ends a read at each message carrying a
// descriptor, and libuv takes a short read seen together with POLLHUP for
// EOF (fixed upstream in libuv PR #4997). Close the sending side only once
// the receiver acknowledged, or closed its end.
//
// Paths: a path is limited to 107 bytes (sun_path less its terminating NUL);
// longer ones fail with ENAMETOOLONG instead of libuv 1.44's silent
// truncation. A path that starts with '\0' is a Linux abstract socket name
// (up to 107 bytes after the '\0', no file created); a NUL elsewhere in a
// path is rejected. Error messages show an abstract name as "@name".
//
// Loop thread only, like every handle (see loop/loop.h for lifetime).
#ifndef EVERGREEN_LOOP_PIPE_H_
#define EVERGREEN_LOOP_PIPE_H_

#include <uv.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "loop/stream.h"

namespace evergreen {
namespace loop {

// PendingHandleType is the type of the next handle received on an IPC pipe.
enum class PendingHandleType {
  kNone,   // nothing received (or not an IPC pipe)
  kTcp,    // a TCP socket: accept it into a Tcp
  kPipe,   // a Unix socket or pipe: accept it into a Pipe
  kUdp,    // a UDP socket (no Stream can accept it)
  kOther,  // another kind of descriptor (a file...): cannot be accepted
};

class Pipe final : public Stream {
 public:
  using ConnectCallback = std::function<void(Pipe&, absl::Status)>;

  // Create returns a new pipe handle; with `ipc` it can send and receive
  // handles (Write2, PendingCount, AcceptPending). Returns the libuv error
  // ("pipe init: ...") if libuv refuses (it never does on Unix).
  static absl::StatusOr<HandlePtr<Pipe>> Create(Loop& loop, bool ipc = false);

  // ipc returns whether the pipe was created for IPC.
  bool ipc() const { return pipe_.ipc != 0; }

  // Open adopts `fd`, a pipe, FIFO or Unix stream socket (a Unix socket
  // only for an IPC pipe); the handle owns it from then on and makes it
  // non-blocking. The direction follows the fd's access mode (the read end
  // of a pipe is readable only). EBADF for a bad fd, EINVAL for another kind
  // of file, EEXIST if the loop already watches this fd.
  absl::Status Open(int fd);

  // Bind binds to `path` (a file path or a "\0name" abstract name; see the
  // header comment for the limits). The socket file is removed when the
  // handle closes. EADDRINUSE if the file exists, EACCES if a directory on
  // the way is missing or not writable, ENAMETOOLONG / EINVAL for a bad
  // path, EINVAL if the handle is already bound or open.
  absl::Status Bind(absl::string_view path);

  // Connect connects to `path`; `cb` runs on the loop with OK or the error
  // ("pipe connect /tmp/x.sock: ENOENT (no such file or directory)"), with
  // CANCELLED if the handle closes first. A bad path or an empty callback
  // fails at once and `cb` never runs; EALREADY while a connect is pending
  // (libuv 1.44 would drop the first). For an abstract name, libuv 1.44 has
  // no call: the connection is made at once and `cb` still runs from the
  // loop; a Write queued before `cb` ran is then cancelled, so write from
  // `cb`.
  absl::Status Connect(absl::string_view path, ConnectCallback cb);

  // Accept accepts a pending connection into a new Pipe (with `ipc` as
  // given) on the same loop. Call it from the connection callback (see
  // Stream::Listen). On an IPC pipe it accepts a received pipe handle;
  // EINVAL if the next received handle is not a pipe (use AcceptPending).
  absl::StatusOr<HandlePtr<Pipe>> Accept(bool ipc = false);
  using Stream::Accept;

  // AcceptPending accepts the next handle received on this IPC pipe into a
  // new handle of the matching type (a Tcp or a non-IPC Pipe; cast it back
  // with static_cast after checking PendingType). Call it from the read
  // callback while PendingCount() > 0. EAGAIN when nothing is pending,
  // EINVAL on a non-IPC pipe or for a type no Stream can hold (kUdp,
  // kOther).
  absl::StatusOr<HandlePtr<Stream>> AcceptPending();

  // PendingCount returns the number of received handles not yet accepted
  // (always 0 on a non-IPC pipe).
  int PendingCount();
  // PendingType returns the type of the next handle to accept.
  PendingHandleType PendingType();

  // Write2 writes `data` (not empty: the handle travels with the bytes)
  // together with `send_handle`, a Tcp or Pipe with an open descriptor, to
  // the peer of this IPC pipe. `send_handle` must stay open until `cb` ran;
  // the peer gets its own descriptor, so closing `send_handle` afterwards is
  // the usual move. EINVAL on a non-IPC pipe, for empty data or another
  // handle type, EBADF if `send_handle` has no descriptor,
  // FailedPrecondition if either handle is closing.
  absl::Status Write2(std::string data, Stream& send_handle,
                      WriteCallback cb = nullptr);

  // Chmod makes the bound socket file readable and/or writable by everyone
  // (adds the bits, never removes them; uv_pipe_chmod). EINVAL when both
  // are false or for an abstract name, EBADF before Bind.
  absl::Status Chmod(bool readable, bool writable);

  // SockName / PeerName return the local and remote names: a path, an
  // abstract name starting with '\0', or "" for an unnamed socket. EBADF
  // when closing or not open; ENOTCONN from PeerName when not connected.
  absl::StatusOr<std::string> SockName() const;
  absl::StatusOr<std::string> PeerName() const;

 private:
  explicit Pipe(Loop& loop);
  static void OnConnect(uv_connect_t* req, int status);
  absl::Status ConnectAbstract(const std::string& path, const std::string& op,
                               ConnectCallback cb);

  uv_pipe_t pipe_;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_PIPE_H_
