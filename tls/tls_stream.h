// tls/tls_stream.h: TlsStream, a TLS connection over a //loop stream (a Tcp
// or a Pipe): a tls::Engine (tls/engine.h) pumped by the stream's callbacks,
// with the shape of the loop's stream handles (callbacks, loop thread only).
//
//   using namespace evergreen;
//   // A client, over a connecting (or connected) Tcp it takes over.
//   auto tcp = *loop::Tcp::Create(loop);
//   (void)tcp->Connect(address, [](loop::Tcp&, absl::Status) {});
//   tls::TlsStreamOptions options;
//   options.server_name = "localhost";  // SNI and the certificate name check
//   options.port = 443;                 // the session cache key
//   options.handshake_timeout_ms = 10000;
//   absl::StatusOr<tls::TlsStreamPtr> conn = tls::TlsStream::CreateClient(
//       std::move(tcp), client_context, options,
//       [](tls::TlsStream& t, absl::Status s) {  // once
//         if (!s.ok()) {  // verify failure, protocol error, timeout...
//           (void)t.Close();
//           return;
//         }
//         (void)t.Write("GET / HTTP/1.0\r\n\r\n");
//         (void)t.ReadStart([](tls::TlsStream& t,
//                              absl::StatusOr<absl::string_view> r) {
//           if (!r.ok()) {  // OutOfRange: close_notify; DataLoss: truncated
//             (void)t.Close();
//             return;
//           }
//           Consume(*r);
//         });
//       });
//   // A server, over an accepted Tcp:
//   //   TlsStream::CreateServer(std::move(accepted), server_context, {}, cb)
//
// Lifetime: a TlsStreamPtr owns the TlsStream, which owns the stream under
// it. Dropping the pointer closes the connection like Close() (pending
// callbacks still run, with CANCELLED); the memory, and the SSL, are freed
// once the stream's close callback ran. Both are safe from inside any of the
// TlsStream's callbacks.
//
// Callbacks never run inside the call that registered them: a write whose
// bytes the kernel took at once, or a ReadStart with data already
// decrypted, completes from the loop. Every user callback may call any
// method, Close included, and may drop the TlsStreamPtr.
//
// Memory: the stream reads into the loop's shared buffer (or the stream's
// own allocator, if one was set); an idle connection holds its SSL and no
// buffer.
//
// Loop thread only, like every handle.
#ifndef EVERGREEN_TLS_TLS_STREAM_H_
#define EVERGREEN_TLS_TLS_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/loop.h"
#include "loop/stream.h"
#include "loop/timer.h"
#include "tls/context.h"
#include "tls/engine.h"

namespace evergreen {
namespace tls {

class TlsStream;

// TlsStreamDeleter is TlsStreamPtr's deleter: it closes an open TlsStream
// and frees it once the stream under it closed.
struct TlsStreamDeleter {
  void operator()(TlsStream* stream) const;
};

// TlsStreamPtr owns a TlsStream made by CreateClient or CreateServer.
using TlsStreamPtr = std::unique_ptr<TlsStream, TlsStreamDeleter>;

// TlsStreamOptions configures one connection.
struct TlsStreamOptions {
  // Clients: the server's DNS name or IP literal (SNI and the name check;
  // required when the context verifies the peer). Servers: unused.
  std::string server_name;
  // Clients: the server's port, only a part of the session cache key.
  uint16_t port = 0;
  // Flow-control mark, bytes (> 0): the engine decrypts at most this much
  // ahead of the reader, the TlsStream keeps at most about this much
  // ciphertext queued on the stream, and writers should keep
  // WriteQueueSize() below it.
  size_t high_water = 64 * 1024;
  // Milliseconds the handshake may take from creation; 0 for no limit. A
  // handshake that does not finish in time fails with DEADLINE_EXCEEDED and
  // the connection is closed.
  uint64_t handshake_timeout_ms = 0;
};

class TlsStream {
 public:
  // HandshakeCallback runs exactly once: OK once the handshake completed,
  // or why it did not: UNAUTHENTICATED (our verification of the peer
  // failed, with the reason: "Hostname mismatch", "certificate has
  // expired", "peer did not return a certificate"...), UNAVAILABLE (a
  // protocol error, with BoringSSL's reason and the alert), DATA_LOSS (the
  // peer closed the connection during the handshake), DEADLINE_EXCEEDED
  // (handshake_timeout_ms), a socket error ("tls handshake: read:
  // ECONNRESET ..."), or CANCELLED if the TlsStream closed first. After a
  // failure, any alert is already on its way: close the TlsStream.
  using HandshakeCallback = std::function<void(TlsStream&, absl::Status)>;
  // ReadCallback receives decrypted bytes (never empty; valid until it
  // returns) or, once, how reading ended: OUT_OF_RANGE ("tls read: EOF
  // (close_notify received)") for a clean close, DATA_LOSS for a truncation
  // (the transport ended without close_notify), UNAVAILABLE for a protocol
  // error (BoringSSL's reason and alert), or the socket's read error
  // ("tls read: read: ECONNRESET ..."). Data decrypted before the end is
  // delivered first.
  using ReadCallback =
      std::function<void(TlsStream&, absl::StatusOr<absl::string_view>)>;
  // WriteCallback receives OK once the write's ciphertext reached the
  // socket (the kernel), CANCELLED if the TlsStream closed first, or the
  // error that ended the connection (socket write error, protocol error).
  using WriteCallback = std::function<void(TlsStream&, absl::Status)>;
  // ShutdownCallback receives the outcome of Shutdown.
  using ShutdownCallback = std::function<void(TlsStream&, absl::Status)>;
  // CloseCallback runs once the TlsStream is closed.
  using CloseCallback = std::function<void(TlsStream&)>;

  // CreateClient starts a TLS client over `stream`, a connected or
  // connecting Tcp or Pipe, which the TlsStream takes over (its read
  // callback and user_data are the TlsStream's from now on). The
  // ClientHello is sent and reading starts at once; `on_handshake` runs from
  // the loop. Returns InvalidArgument for a null stream or context, an empty
  // callback, high_water == 0 or a bad server name (or none when the
  // context verifies the peer); FailedPrecondition for a closing stream;
  // the stream's error if it cannot read ("read start: ENOTCONN ..." for a
  // Tcp that is neither connected nor connecting). On error `stream` is
  // closed and `on_handshake` never runs.
  static absl::StatusOr<TlsStreamPtr> CreateClient(
      loop::HandlePtr<loop::Stream> stream,
      std::shared_ptr<ClientContext> context, const TlsStreamOptions& options,
      HandshakeCallback on_handshake);
  // CreateServer starts a TLS server over `stream`, an accepted connection,
  // waiting for a ClientHello. Errors as CreateClient (the server name and
  // port are not used).
  static absl::StatusOr<TlsStreamPtr> CreateServer(
      loop::HandlePtr<loop::Stream> stream,
      std::shared_ptr<ServerContext> context, const TlsStreamOptions& options,
      HandshakeCallback on_handshake);

  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // ReadStart delivers decrypted data to `cb` (replacing the callback if
  // already reading); data arriving before the handshake callback ran waits
  // for it. InvalidArgument for an empty callback, FailedPrecondition when
  // closing.
  absl::Status ReadStart(ReadCallback cb);
  // ReadStop stops delivering data. The socket is still read (tickets, key
  // updates, close_notify) until high_water bytes of plaintext wait, then
  // no longer: the peer's writes then block (backpressure).
  // FailedPrecondition when closing.
  absl::Status ReadStop();
  // IsReading returns whether ReadStart is in effect.
  bool IsReading() const { return reading_; }

  // Write queues a copy of `data` for encryption; `cb` (may be empty) runs
  // once its ciphertext reached the socket, or with the error. Before the
  // handshake the data waits for it. The queue is not bounded: keep
  // WriteQueueSize() below high_water() and write more from the callbacks.
  // FailedPrecondition when closing, after Shutdown or after the
  // connection failed (with the failure); `cb` then never runs.
  absl::Status Write(absl::string_view data, WriteCallback cb = nullptr);
  // WriteQueueSize returns the bytes written and not yet on the socket:
  // plaintext waiting for encryption plus ciphertext queued on the stream.
  size_t WriteQueueSize() const;
  // PendingWrites returns the number of Write calls whose callback has not
  // run.
  size_t PendingWrites() const { return writes_.size(); }
  // ReadQueueSize returns the bytes received and not yet delivered:
  // decrypted plaintext plus ciphertext not yet decrypted. Bounded by about
  // high_water() plus one socket read.
  size_t ReadQueueSize() const;
  // high_water returns the flow-control mark (TlsStreamOptions).
  size_t high_water() const { return high_water_; }

  // Shutdown sends close_notify after the queued writes, waits until it
  // reached the socket, then shuts the socket's write side down; `cb` (may
  // be empty) gets OK, the socket error, or CANCELLED if the TlsStream
  // closed first. Reading goes on (the peer's close_notify then ends it
  // with OUT_OF_RANGE). FailedPrecondition when closing, before the
  // handshake completed (just Close), after a failure, or if already
  // called.
  absl::Status Shutdown(ShutdownCallback cb = nullptr);
  // KeyUpdate (TLS 1.3) sends a KeyUpdate asking the peer to update its
  // keys too. FailedPrecondition when closing, before the handshake, after
  // Shutdown or a failure, and on TLS 1.2.
  absl::Status KeyUpdate();

  // Close closes the connection without close_notify (the peer sees a
  // truncation unless Shutdown ran first) and the stream under it. From the
  // loop, in this order: writes whose ciphertext reached the socket
  // complete OK, the others CANCELLED; a pending Shutdown callback and a
  // handshake callback that has not run get CANCELLED; then `cb` (may be
  // empty). FailedPrecondition if already closing (also when the stream was
  // closed directly, e.g. by the loop's destruction).
  absl::Status Close(CloseCallback cb = nullptr);
  // IsClosing returns whether Close was called (or the connection closed
  // itself after a handshake timeout, or its stream was closed directly).
  bool IsClosing() const { return closing_ || stream_->IsClosing(); }

  // handshake_done returns whether the handshake completed.
  bool handshake_done() const { return handshake_done_; }
  // info describes the connection once the handshake completed (version,
  // cipher, ALPN protocol, server name, peer certificates, resumption);
  // empty before.
  const HandshakeInfo& info() const { return info_; }
  // outcome returns how the TLS connection stands (kOpen until it ended).
  Outcome outcome() const { return close_info_.outcome; }
  // close_info says why the TLS connection left kOpen.
  const CloseInfo& close_info() const { return close_info_; }
  // is_client returns whether this is the client side.
  bool is_client() const { return is_client_; }

  // stream returns the stream under the TLS, for its addresses and socket
  // options only (static_cast to loop::Tcp& or loop::Pipe&): reading,
  // writing, closing it or changing its user_data breaks the TlsStream.
  loop::Stream& stream() const { return *stream_; }
  // loop returns the stream's loop.
  loop::Loop& loop() const { return stream_->loop(); }

 private:
  friend struct TlsStreamDeleter;
  struct PendingWrite {
    uint64_t end;  // plaintext offset just past this write
    WriteCallback cb;
  };

  TlsStream(loop::HandlePtr<loop::Stream> stream,
            std::unique_ptr<Engine> engine, const TlsStreamOptions& options,
            HandshakeCallback on_handshake);
  ~TlsStream();
  static absl::StatusOr<TlsStreamPtr> Start(
      loop::HandlePtr<loop::Stream> stream,
      absl::StatusOr<std::unique_ptr<Engine>> engine,
      const TlsStreamOptions& options, HandshakeCallback on_handshake,
      const char* operation);

  void ReleaseOwner();

  // Loop entry points: each ends with Dispatch() and touches nothing after.
  void OnSocketRead(absl::StatusOr<absl::string_view> result);
  void OnSocketWrite(uint64_t mark, absl::Status status);
  void OnSocketShutdown(absl::Status status);
  void OnStreamClosed();
  void OnTimer();

  // Flush moves ciphertext from the engine to the socket (TryWrite, then
  // Write for the rest) while the stream's queue is below high_water, and
  // shuts the socket down once close_notify is out. Runs no user callback.
  void Flush();
  // PollEngine turns the engine's events into pending results.
  void PollEngine();
  // Dispatch runs the pending user callbacks (handshake, data, write
  // completions, end of reading, shutdown) with a re-entrancy guard, then
  // adjusts socket reading. May free `this` (see ReleaseOwner).
  void Dispatch();
  void DispatchOnce();
  // Wake makes pending results reach their callbacks: at the end of the
  // current dispatch, or from the loop soon.
  void Wake();
  void ArmTimer();
  void UpdateSocketReading();
  void FailHandshake(absl::Status status);
  void FailWrites(absl::Status status, uint64_t from);

  bool HandshakePending() const {
    return !handshake_reported_ && !handshake_result_.has_value();
  }

  loop::HandlePtr<loop::Stream> stream_;
  std::unique_ptr<Engine> engine_;      // freed once the stream closed
  loop::HandlePtr<loop::Timer> timer_;  // made on first need
  const size_t high_water_;
  const bool is_client_;
  const uint64_t handshake_timeout_ms_;
  uint64_t handshake_deadline_ = 0;  // loop time; 0: none

  std::shared_ptr<HandshakeCallback> handshake_cb_;
  std::shared_ptr<ReadCallback> read_cb_;
  CloseCallback close_cb_;
  std::shared_ptr<ShutdownCallback> shutdown_cb_;

  // Writes: user write i ends at plaintext offset writes_[i].end; acked_ is
  // the offset whose ciphertext fully reached the socket.
  std::deque<PendingWrite> writes_;
  uint64_t written_ = 0;
  uint64_t acked_ = 0;
  // After a failure, writes ending past failed_from_ complete with
  // write_error_.
  std::optional<absl::Status> write_error_;
  uint64_t failed_from_ = 0;

  std::optional<absl::Status> handshake_result_;  // to report
  std::optional<absl::Status> read_end_;          // to deliver, once
  std::optional<absl::Status> shutdown_result_;   // to deliver
  HandshakeInfo info_;
  CloseInfo close_info_;

  bool handshake_done_ = false;
  bool handshake_reported_ = false;
  bool close_on_report_ = false;  // handshake timeout: close after reporting
  bool reading_ = false;          // the user's ReadStart
  bool read_end_delivered_ = false;
  bool socket_read_done_ = false;  // EOF or read error seen
  bool socket_write_failed_ = false;
  bool shutdown_requested_ = false;
  bool socket_shutdown_started_ = false;
  bool closing_ = false;
  bool stream_closed_ = false;  // our close callback ran
  bool owned_ = true;
  bool dispatching_ = false;
  bool again_ = false;
  bool delete_pending_ = false;
  bool dispatch_scheduled_ = false;
};

}  // namespace tls
}  // namespace evergreen

#endif  // EVERGREEN_TLS_TLS_STREAM_H_
