#include "runtime/http/websocket.h"

#include <openssl/sha.h>

#include <cstdio>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "runtime/cancel.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

constexpr int kContinuation = 0x0;
constexpr int kText = 0x1;
constexpr int kBinary = 0x2;
constexpr int kClose = 0x8;
constexpr int kPing = 0x9;
constexpr int kPong = 0xA;

// HasToken returns true if the comma-separated header value `list` holds
// `token` (ASCII case-insensitive).
bool HasToken(const std::string* list, absl::string_view token) {
  if (list == nullptr) return false;
  for (absl::string_view t : absl::StrSplit(*list, ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(t), token)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;  // cut short
    for (int k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

namespace {

// ValidCloseCode: the codes a peer may send (RFC 6455 7.4).
bool ValidCloseCode(int code) {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 &&
         code != 1006;
}

}  // namespace

std::string WebSocket::AcceptKey(absl::string_view key) {
  std::string input = absl::StrCat(key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const uint8_t*>(input.data()), input.size(), digest);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

Response WebSocket::Accept(const Request& req,
                           std::function<void(WebSocket&)> session,
                           WebSocketOptions options) {
  auto refuse = [](int status, absl::string_view why) {
    Response r = Response::Text(status, absl::StrCat("websocket: ", why, "\n"));
    r.SetHeader("Connection", "close");
    return r;
  };
  if (req.method != "GET") return refuse(400, "the handshake must be a GET");
  if (req.version_major != 1 || req.version_minor < 1) {
    return refuse(400, "the handshake needs HTTP/1.1");
  }
  if (!HasToken(req.Header("Upgrade"), "websocket")) {
    return refuse(400, "no \"Upgrade: websocket\"");
  }
  if (!HasToken(req.Header("Connection"), "upgrade")) {
    return refuse(400, "no \"Connection: Upgrade\"");
  }
  const std::string* version = req.Header("Sec-WebSocket-Version");
  if (version == nullptr || *version != "13") {
    Response r = refuse(426, "only version 13 is supported");
    r.SetHeader("Sec-WebSocket-Version", "13");
    return r;
  }
  const std::string* key = req.Header("Sec-WebSocket-Key");
  std::string raw;
  if (key == nullptr || !absl::Base64Unescape(*key, &raw) || raw.size() != 16) {
    return refuse(400, "bad Sec-WebSocket-Key");
  }
  Response r;
  r.status = 101;
  r.SetHeader("Upgrade", "websocket");
  r.SetHeader("Sec-WebSocket-Accept", AcceptKey(*key));
  r.take_over = [session = std::move(session), options](io::Stream& stream,
                                                        std::string leftover) {
    WebSocket ws(stream, std::move(leftover), options);
    try {
      session(ws);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "websocket: session threw: %s\n", e.what());
      (void)ws.Close(1011, "internal error");
    }
    if (!ws.closed_) {
      // Close politely: our close frame, then (bounded) the peer's.
      (void)ws.Close(kNormal);
      (void)WithTimeout(absl::Seconds(1), [&] {
        while (ws.Receive().ok()) {
        }
      });
    }
  };
  return r;
}

WebSocket::WebSocket(io::Stream& stream, std::string leftover,
                     const WebSocketOptions& options)
    : stream_(stream), options_(options), in_(std::move(leftover)) {}

absl::Status WebSocket::Fill(size_t n) {
  while (in_.size() - pos_ < n) {
    absl::StatusOr<std::string> more = stream_.ReadSome(64 * 1024);
    if (!more.ok()) {
      closed_ = true;
      if (more.status().code() == absl::StatusCode::kOutOfRange) {
        return absl::OutOfRangeError(
            "websocket: the connection ended without a close frame (1006)");
      }
      return more.status();
    }
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    } else if (pos_ >= 64 * 1024) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    in_.append(*more);
  }
  return absl::OkStatus();
}

absl::Status WebSocket::Fail(int code, absl::string_view why) {
  (void)Close(code, why.substr(0, 123));
  closed_ = true;
  std::string message = absl::StrCat("websocket: ", why, " (", code, ")");
  if (code == kTooBig) return absl::ResourceExhaustedError(message);
  return absl::DataLossError(message);
}

absl::StatusOr<WebSocket::Frame> WebSocket::ReadFrame() {
  if (absl::Status s = Fill(2); !s.ok()) return s;
  const unsigned char b0 = static_cast<unsigned char>(in_[pos_]);
  const unsigned char b1 = static_cast<unsigned char>(in_[pos_ + 1]);
  Frame f;
  f.fin = (b0 & 0x80) != 0;
  f.opcode = b0 & 0x0F;
  if ((b0 & 0x70) != 0) return Fail(kProtocolError, "reserved bits set");
  if (f.opcode != kContinuation && f.opcode != kText && f.opcode != kBinary &&
      f.opcode != kClose && f.opcode != kPing && f.opcode != kPong) {
    return Fail(kProtocolError, absl::StrCat("unknown opcode ", f.opcode));
  }
  if ((b1 & 0x80) == 0) return Fail(kProtocolError, "unmasked client frame");
  uint64_t length = b1 & 0x7F;
  size_t header = 2;
  if (length == 126) {
    header = 4;
  } else if (length == 127) {
    header = 10;
  }
  if (absl::Status s = Fill(header + 4); !s.ok()) return s;
  if (header == 4) {
    length = (static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + 2]))
              << 8) |
             static_cast<unsigned char>(in_[pos_ + 3]);
  } else if (header == 10) {
    length = 0;
    for (int i = 0; i < 8; ++i) {
      length = (length << 8) | static_cast<unsigned char>(in_[pos_ + 2 + i]);
    }
    if (length >> 63) return Fail(kProtocolError, "bad frame length");
  }
  const bool control = (f.opcode & 0x8) != 0;
  if (control && (!f.fin || length > 125)) {
    return Fail(kProtocolError, "fragmented or oversized control frame");
  }
  if (length > options_.max_message_bytes) {
    return Fail(kTooBig, absl::StrCat("frame of ", length, " bytes over ",
                                      options_.max_message_bytes));
  }
  const size_t total = header + 4 + static_cast<size_t>(length);
  if (absl::Status s = Fill(total); !s.ok()) return s;
  const char* mask = in_.data() + pos_ + header;
  f.payload.assign(in_.data() + pos_ + header + 4, length);
  for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= mask[i & 3];
  pos_ += total;
  return f;
}

absl::StatusOr<WebSocket::Message> WebSocket::Receive() {
  if (closed_) {
    return absl::FailedPreconditionError("websocket receive: closed");
  }
  if (receiving_) {
    return absl::FailedPreconditionError(
        "websocket receive: another task is receiving");
  }
  receiving_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{receiving_};
  Message m;
  int started = 0;  // opcode of the message being assembled, 0 if none
  while (true) {
    absl::StatusOr<Frame> f = ReadFrame();
    if (!f.ok()) return f.status();
    switch (f->opcode) {
      case kPing:
        if (!close_sent_) (void)SendFrame(kPong, f->payload);
        continue;
      case kPong:
        continue;
      case kClose: {
        int code = 1005;
        absl::string_view reason;
        if (f->payload.size() == 1) {
          return Fail(kProtocolError, "close frame of 1 byte");
        }
        if (f->payload.size() >= 2) {
          code = (static_cast<unsigned char>(f->payload[0]) << 8) |
                 static_cast<unsigned char>(f->payload[1]);
          reason = absl::string_view(f->payload).substr(2);
          if (!ValidCloseCode(code)) {
            return Fail(kProtocolError, absl::StrCat("close code ", code));
          }
          if (!ValidUtf8(reason)) {
            return Fail(kInvalidData, "close reason not UTF-8");
          }
        }
        peer_code_ = code;
        if (!close_sent_) {
          (void)Close(code == 1005 ? kNormal : code);
        }
        closed_ = true;
        return absl::OutOfRangeError(
            absl::StrCat("websocket: closed by the peer (", code,
                         reason.empty() ? "" : " ", reason, ")"));
      }
      case kContinuation:
        if (started == 0) {
          return Fail(kProtocolError, "continuation frame without a start");
        }
        if (m.data.size() + f->payload.size() > options_.max_message_bytes) {
          return Fail(kTooBig,
                      absl::StrCat("message over ", options_.max_message_bytes,
                                   " bytes"));
        }
        m.data += f->payload;
        break;
      default:  // text or binary
        if (started != 0) {
          return Fail(kProtocolError, "a new message inside a fragmented one");
        }
        started = f->opcode;
        m.binary = f->opcode == kBinary;
        m.data = std::move(f->payload);
        break;
    }
    if (!f->fin) continue;
    if (!m.binary && !ValidUtf8(m.data)) {
      return Fail(kInvalidData, "text message not UTF-8");
    }
    return m;
  }
}

absl::Status WebSocket::SendFrame(int opcode, absl::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  out.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(126);
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(127);
    uint64_t n = payload.size();
    for (int i = 7; i >= 0; --i) {
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
  }
  out.append(payload.data(), payload.size());
  return stream_.Write(std::move(out));
}

absl::Status WebSocket::Send(absl::string_view data, bool binary) {
  if (close_sent_) {
    return absl::FailedPreconditionError("websocket send: closing");
  }
  if (!binary && !ValidUtf8(data)) {
    return absl::InvalidArgumentError("websocket send: text not UTF-8");
  }
  return SendFrame(binary ? kBinary : kText, data);
}

absl::Status WebSocket::Ping(absl::string_view payload) {
  if (close_sent_) {
    return absl::FailedPreconditionError("websocket ping: closing");
  }
  if (payload.size() > 125) {
    return absl::InvalidArgumentError("websocket ping: over 125 bytes");
  }
  return SendFrame(kPing, payload);
}

absl::Status WebSocket::Close(int code, absl::string_view reason) {
  if (close_sent_) return absl::OkStatus();
  if (reason.size() > 123) {
    return absl::InvalidArgumentError("websocket close: reason over 123 bytes");
  }
  close_sent_ = true;
  std::string payload;
  payload.push_back(static_cast<char>((code >> 8) & 0xFF));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.data(), reason.size());
  return SendFrame(kClose, payload);
}

}  // namespace http
}  // namespace runtime
}  // namespace evergreen
