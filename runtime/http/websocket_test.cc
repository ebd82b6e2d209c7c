#include "runtime/http/websocket.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/http/server.h"
#include "runtime/io/tcp.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

constexpr int kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10;

// ClientFrame builds a client frame (masked unless told otherwise).
std::string ClientFrame(int opcode, absl::string_view payload, bool fin = true,
                        bool masked = true) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const char m = masked ? static_cast<char>(0x80) : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) {
      out.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
    }
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) out.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ key[i & 3])
                         : payload[i]);
  }
  return out;
}

std::string CloseFrame(int code, absl::string_view reason = "") {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason.data(), reason.size());
  return ClientFrame(kClose, p);
}

struct ServerFrame {
  int opcode;
  std::string payload;
};

// Client is a raw WebSocket client over a TcpStream.
class Client {
 public:
  explicit Client(uint16_t port) {
    auto c = io::TcpStream::Connect("127.0.0.1", port,
                                    Deadline::After(absl::Seconds(5)));
    if (!c.ok()) throw std::runtime_error(c.status().ToString());
    conn_ = *std::move(c);
  }
  // Handshake sends an upgrade request with `extra` headers and returns the
  // response head.
  std::string Handshake(std::string extra =
                            "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") {
    EXPECT_TRUE(conn_
                    ->Write("GET /ws HTTP/1.1\r\nHost: h\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: keep-alive, Upgrade\r\n" +
                            extra + "\r\n")
                    .ok());
    auto head = conn_->ReadUntil("\r\n\r\n", 4096);
    return head.ok() ? *head : head.status().ToString();
  }
  void Send(const std::string& raw) { EXPECT_TRUE(conn_->Write(raw).ok()); }
  // Next reads one server frame; opcode -1 at EOF.
  ServerFrame Next() {
    auto h = conn_->ReadExactly(2);
    if (!h.ok()) return {-1, ""};
    unsigned char b0 = (*h)[0], b1 = (*h)[1];
    EXPECT_EQ(b1 & 0x80, 0) << "server frames are not masked";
    uint64_t n = b1 & 0x7F;
    if (n == 126 || n == 127) {
      auto ext = conn_->ReadExactly(n == 126 ? 2 : 8);
      if (!ext.ok()) return {-1, ""};
      n = 0;
      for (char c : *ext) n = (n << 8) | static_cast<unsigned char>(c);
    }
    std::string payload;
    if (n > 0) {
      auto p = conn_->ReadExactly(n);
      if (!p.ok()) return {-1, ""};
      payload = *p;
    }
    EXPECT_TRUE(b0 & 0x80);
    return {b0 & 0x0F, payload};
  }
  static int Code(const ServerFrame& f) {
    if (f.payload.size() < 2) return -1;
    return (static_cast<unsigned char>(f.payload[0]) << 8) |
           static_cast<unsigned char>(f.payload[1]);
  }

 private:
  std::unique_ptr<io::TcpStream> conn_;
};

// WithEchoServer runs `client(port)` against a server whose /ws is a
// WebSocket echo (max message 100000 bytes) recording how sessions ended.
void WithEchoServer(const std::function<void(uint16_t)>& client,
                    std::vector<std::string>* endings) {
  auto loop = NewLoop();
  auto listener = io::TcpListener::Listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  io::TcpListener* l = listener->get();
  uint16_t port = l->LocalAddress()->port();
  WebSocketOptions wo;
  wo.max_message_bytes = 100000;
  auto server = Task::Spawn([&] {
    (void)Serve(*l, [endings, wo](Request& req) {
      return WebSocket::Accept(
          req,
          [endings](WebSocket& ws) {
            while (true) {
              auto m = ws.Receive();
              if (!m.ok()) {
                endings->push_back(m.status().ToString());
                return;
              }
              (void)ws.Send(m->data, m->binary);
            }
          },
          wo);
    });
  });
  ASSERT_TRUE(server.ok());
  auto driver = Task::Spawn([&] {
    absl::Status s = WithTimeout(absl::Seconds(10), [&] { client(port); });
    EXPECT_TRUE(s.ok()) << s;
    l->Close();
  });
  ASSERT_TRUE(driver.ok());
  ASSERT_TRUE(loop->Run().ok());
}

TEST(WebSocketTest, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(WebSocket::AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, EchoFragmentsPingsAndTheCloseHandshake) {
  std::vector<std::string> endings;
  WithEchoServer(
      [](uint16_t port) {
        Client c(port);
        std::string head = c.Handshake();
        EXPECT_TRUE(
            absl::StartsWith(head, "HTTP/1.1 101 Switching Protocols\r\n"))
            << head;
        EXPECT_TRUE(absl::StrContains(
            head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
            << head;
        c.Send(ClientFrame(kText, "h\xC3\xA9llo"));
        ServerFrame f = c.Next();
        EXPECT_EQ(f.opcode, kText);
        EXPECT_EQ(f.payload, "h\xC3\xA9llo");
        // Fragmented binary with a ping in the middle.
        c.Send(ClientFrame(kBinary, std::string("\0\1", 2), false) +
               ClientFrame(kPing, "are you there") +
               ClientFrame(0, std::string("\2\3", 2), false) +
               ClientFrame(0, "", true));
        f = c.Next();
        EXPECT_EQ(f.opcode, kPong);
        EXPECT_EQ(f.payload, "are you there");
        f = c.Next();
        EXPECT_EQ(f.opcode, kBinary);
        EXPECT_EQ(f.payload, std::string("\0\1\2\3", 4));
        // 16-bit and 64-bit lengths.
        for (size_t n : {300u, 70000u}) {
          std::string big(n, 'x');
          c.Send(ClientFrame(kText, big));
          f = c.Next();
          EXPECT_EQ(f.payload, big);
        }
        c.Send(CloseFrame(1000, "bye"));
        f = c.Next();
        EXPECT_EQ(f.opcode, kClose);
        EXPECT_EQ(Client::Code(f), 1000);
        EXPECT_EQ(c.Next().opcode, -1);  // then the server closes
      },
      &endings);
  EXPECT_EQ(endings, (std::vector<std::string>{
                         "OUT_OF_RANGE: websocket: closed by the peer (1000 "
                         "bye)"}));
}

TEST(WebSocketTest, ProtocolViolationsCloseWithTheirCode) {
  struct Case {
    std::string frames;
    int code;
    std::string ending;
  };
  std::vector<Case> cases = {
      {ClientFrame(kText, "hi", true, /*masked=*/false), 1002,
       "DATA_LOSS: websocket: unmasked client frame (1002)"},
      {ClientFrame(kText, "\xC0\xAF"), 1007,
       "DATA_LOSS: websocket: text message not UTF-8 (1007)"},
      {ClientFrame(kBinary, std::string(100001, 'z')), 1009,
       "RESOURCE_EXHAUSTED: websocket: frame of 100001 bytes over 100000 "
       "(1009)"},
      {ClientFrame(0, "orphan"), 1002,
       "DATA_LOSS: websocket: continuation frame without a start (1002)"},
      {ClientFrame(kPing, std::string(126, 'p')), 1002,
       "DATA_LOSS: websocket: fragmented or oversized control frame (1002)"},
      {ClientFrame(3, "x"), 1002,
       "DATA_LOSS: websocket: unknown opcode 3 (1002)"},
      {CloseFrame(999), 1002, "DATA_LOSS: websocket: close code 999 (1002)"},
  };
  std::vector<std::string> endings;
  WithEchoServer(
      [&](uint16_t port) {
        for (const Case& k : cases) {
          Client c(port);
          std::string head = c.Handshake();
          ASSERT_TRUE(absl::StartsWith(head, "HTTP/1.1 101")) << head;
          c.Send(k.frames);
          ServerFrame f = c.Next();
          EXPECT_EQ(f.opcode, kClose) << k.ending;
          EXPECT_EQ(Client::Code(f), k.code) << k.ending;
        }
      },
      &endings);
  ASSERT_EQ(endings.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(endings[i], cases[i].ending);
  }
}

TEST(WebSocketTest, BadHandshakesAreRefused) {
  std::vector<std::string> endings;
  WithEchoServer(
      [](uint16_t port) {
        std::string head =
            Client(port).Handshake("Sec-WebSocket-Version: 13\r\n");
        EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 400 Bad Request\r\n"))
            << head;
        head = Client(port).Handshake(
            "Sec-WebSocket-Version: 8\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
        EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 426 Upgrade Required\r\n"))
            << head;
        EXPECT_TRUE(absl::StrContains(head, "Sec-WebSocket-Version: 13\r\n"));
        head = Client(port).Handshake(
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n");
        EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 400 Bad Request\r\n"))
            << head;
      },
      &endings);
  EXPECT_TRUE(endings.empty());
}

}  // namespace
}  // namespace http
}  // namespace runtime
}  // namespace evergreen
