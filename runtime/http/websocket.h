// runtime/http/websocket.h: WebSocket (RFC 6455) server connections on
// //runtime/http, blocking-style for tasks.
//
//   http::Response Route(http::Request& req) {
//     if (req.path == "/ws") {
//       return http::WebSocket::Accept(req, [](http::WebSocket& ws) {
//         while (true) {
//           absl::StatusOr<http::WebSocket::Message> m = ws.Receive();
//           if (!m.ok()) return;  // closed (OutOfRange) or a protocol error
//           (void)ws.Send(m->data, m->binary);  // echo
//         }
//       });
//     }
//     ...
//   }
//
// Accept checks the handshake (GET, HTTP/1.1, "Upgrade: websocket",
// "Connection: Upgrade", "Sec-WebSocket-Version: 13", a 16-byte base64
// Sec-WebSocket-Key) and answers 101 with Sec-WebSocket-Accept, or 400
// (426 for another version) with the reason. The session then runs in the
// connection's task.
//
// Receive returns whole messages: fragments are joined (control frames in
// between are handled), pings are answered with pongs, pongs dropped. The
// peer's close frame is answered and Receive returns OutOfRange
// "websocket: closed by the peer (1000 ...)". Protocol violations close
// the connection with their code and return an error naming it: an
// unmasked client frame, reserved bits, an unknown opcode, a fragmented or
// oversized control frame, a continuation without a start (1002); invalid
// UTF-8 in a text message (1007); a message over max_message_bytes
// (1009). Send and Close may be called from other tasks while one task is
// in Receive; frames never interleave. Loop thread only.
#ifndef EVERGREEN_RUNTIME_HTTP_WEBSOCKET_H_
#define EVERGREEN_RUNTIME_HTTP_WEBSOCKET_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/http/server.h"
#include "runtime/io/stream.h"

namespace evergreen {
namespace runtime {
namespace http {

// ValidUtf8 checks that `s` is well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF): what a text message must be.
bool ValidUtf8(absl::string_view s);

struct WebSocketOptions {
  size_t max_message_bytes = 1024 * 1024;  // 1009 above
};

class WebSocket {
 public:
  struct Message {
    bool binary = false;
    std::string data;
  };
  // Close codes of RFC 6455 section 7.4.1 that this code sends.
  static constexpr int kNormal = 1000;
  static constexpr int kGoingAway = 1001;
  static constexpr int kProtocolError = 1002;
  static constexpr int kInvalidData = 1007;
  static constexpr int kTooBig = 1009;

  // Accept answers the upgrade request `req`: a 101 response whose
  // take-over runs session(ws), or an error response when the handshake is
  // not a valid WebSocket one.
  static Response Accept(const Request& req,
                         std::function<void(WebSocket&)> session,
                         WebSocketOptions options = {});

  // AcceptKey returns Sec-WebSocket-Accept for a Sec-WebSocket-Key.
  static std::string AcceptKey(absl::string_view key);

  WebSocket(io::Stream& stream, std::string leftover,
            const WebSocketOptions& options);
  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

  // Receive blocks the task until a whole message arrived. Errors: see the
  // file comment; FailedPrecondition once closed or while another task is
  // receiving.
  absl::StatusOr<Message> Receive();
  // Send sends one message (text unless binary; text must be UTF-8, else
  // InvalidArgument). Blocks while the connection's write queue is above
  // its high-water mark. FailedPrecondition after Close.
  absl::Status Send(absl::string_view data, bool binary = false);
  // Ping sends a ping with `payload` (at most 125 bytes).
  absl::Status Ping(absl::string_view payload = "");
  // Close sends a close frame with `code` and `reason` (at most 123 bytes)
  // and shuts the write side down; Receive then returns OutOfRange once the
  // peer's close frame arrives. No effect when already closing.
  absl::Status Close(int code = kNormal, absl::string_view reason = "");
  bool closing() const { return close_sent_; }
  // The code of the peer's close frame (1005 when it had none), or 0.
  int peer_close_code() const { return peer_code_; }

 private:
  struct Frame {
    bool fin = false;
    int opcode = 0;
    std::string payload;
  };
  absl::Status Fill(size_t n);
  absl::StatusOr<Frame> ReadFrame();
  absl::Status SendFrame(int opcode, absl::string_view payload);
  absl::Status Fail(int code, absl::string_view why);

  io::Stream& stream_;
  WebSocketOptions options_;
  std::string in_;
  size_t pos_ = 0;
  bool receiving_ = false;
  bool close_sent_ = false;
  bool closed_ = false;  // the peer's close arrived or a failure ended it
  int peer_code_ = 0;
};

}  // namespace http
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_HTTP_WEBSOCKET_H_
