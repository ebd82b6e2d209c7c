// The web demo as its users meet it: the binary runs as a child process and
// plain blocking sockets (this file's HTTP and WebSocket client) talk to it
// on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "examples/test_util.h"
#include "gtest/gtest.h"

namespace {

using evergreen::examples_test::ServerProcess;

constexpr char kBinary[] = "examples/webapp/webapp";

// Client is one blocking connection; every read gives up after 10 s.
class Client {
 public:
  // receive_buffer > 0 sets SO_RCVBUF before connecting (a small one makes
  // a slow reader).
  explicit Client(uint16_t port, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                 sizeof receive_buffer);
    }
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ADD_FAILURE() << "connect: " << strerror(errno);
    }
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(fd_); }

  void Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send: " << strerror(errno);
        return;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Read returns exactly n bytes ("" with a failure if the connection ended
  // or 10 s passed first).
  std::string Read(size_t n) {
    while (buf_.size() < n) {
      if (!Fill()) {
        ADD_FAILURE() << "connection ended after " << buf_.size() << " of " << n
                      << " bytes";
        return "";
      }
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  // ReadHead returns a response head, up to and without "\r\n\r\n".
  std::string ReadHead() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) {
        ADD_FAILURE() << "no response head in: " << buf_;
        return "";
      }
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    return head;
  }

  // ReadToEnd returns everything until the server closes (true) or 10 s
  // pass (false).
  bool ReadToEnd(std::string* out) {
    while (true) {
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) break;
      if (n < 0) {
        if (errno == ECONNRESET) break;
        return false;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
    *out = std::move(buf_);
    buf_.clear();
    return true;
  }

  int fd() const { return fd_; }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

struct Response {
  int status = 0;
  std::string head;
  std::string body;

  std::string Header(absl::string_view name) const {
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, absl::StrCat(name, ": "))) {
        return std::string(line.substr(name.size() + 2));
      }
    }
    return "";
  }
};

// ReadResponse reads one response with a Content-Length body (none for
// HEAD and 304).
Response ReadResponse(Client& c, bool head_only = false) {
  Response r;
  r.head = c.ReadHead();
  if (r.head.size() < 12 ||
      !absl::SimpleAtoi(absl::string_view(r.head).substr(9, 3), &r.status)) {
    ADD_FAILURE() << "bad status line: " << r.head;
    return r;
  }
  size_t length = 0;
  std::string cl = r.Header("Content-Length");
  if (!cl.empty()) {
    EXPECT_TRUE(absl::SimpleAtoi(cl, &length)) << cl;
  }
  if (!head_only && r.status != 304 && length > 0) r.body = c.Read(length);
  return r;
}

Response Get(uint16_t port, absl::string_view target,
             absl::string_view extra_headers = "") {
  Client c(port);
  c.Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      extra_headers, "\r\n"));
  return ReadResponse(c);
}

// Exchange sends `raw` and returns all the server sent until it closed.
std::string Exchange(uint16_t port, absl::string_view raw) {
  Client c(port);
  c.Send(raw);
  std::string all;
  EXPECT_TRUE(c.ReadToEnd(&all)) << "the server did not close within 10 s";
  return all;
}

// A WebSocket client: masked frames out, unmasked frames in.
class WebSocketClient {
 public:
  WebSocketClient(uint16_t port, absl::string_view name, int receive_buffer = 0)
      : c_(port, receive_buffer) {
    c_.Send(absl::StrCat("GET /ws?name=", name,
                         " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n"));
    head_ = c_.ReadHead();
  }
  const std::string& head() const { return head_; }

  void SendFrame(int opcode, absl::string_view payload) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    if (payload.size() < 126) {
      f += static_cast<char>(0x80 | payload.size());
    } else {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(payload.size() >> 8);
      f += static_cast<char>(payload.size() & 0xff);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += payload[i] ^ mask[i % 4];
    c_.Send(f);
  }
  void SendText(absl::string_view text) { SendFrame(1, text); }

  // ReadFrame returns {opcode, payload} of the next frame.
  std::pair<int, std::string> ReadFrame() {
    std::string h = c_.Read(2);
    if (h.size() != 2) return {-1, ""};
    int opcode = h[0] & 0x0f;
    size_t length = h[1] & 0x7f;
    EXPECT_EQ(h[1] & 0x80, 0) << "a server frame must not be masked";
    if (length == 126) {
      std::string ext = c_.Read(2);
      length = (static_cast<unsigned char>(ext[0]) << 8) |
               static_cast<unsigned char>(ext[1]);
    } else if (length == 127) {
      std::string ext = c_.Read(8);
      length = 0;
      for (char b : ext) length = (length << 8) | static_cast<unsigned char>(b);
    }
    return {opcode, c_.Read(length)};
  }

  // NextMessage skips frames until a text message containing `needle`.
  std::string NextMessage(absl::string_view needle) {
    for (int i = 0; i < 100; ++i) {
      auto [opcode, payload] = ReadFrame();
      if (opcode < 0) break;
      if (opcode == 1 && absl::StrContains(payload, needle)) return payload;
    }
    ADD_FAILURE() << "no message containing " << needle;
    return "";
  }

  Client& client() { return c_; }

 private:
  Client c_;
  std::string head_;
};

int CloseCode(const std::string& payload) {
  if (payload.size() < 2) return -1;
  return (static_cast<unsigned char>(payload[0]) << 8) |
         static_cast<unsigned char>(payload[1]);
}

TEST(WebAppTest, PageJsonHelloAndStaticFiles) {
  ServerProcess server(kBinary, {"--port=0"}, /*merge_stderr=*/true);
  ASSERT_NE(server.port(), 0) << server.first_line();

  Response hello = Get(server.port(), "/hello");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "Hello, World!\n");
  EXPECT_EQ(hello.Header("Content-Type"), "text/plain");

  Response page = Get(server.port(), "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(page.body, "<h1>evergreen</h1>"));
  EXPECT_TRUE(absl::StrContains(page.body, "/static/style.css"));
  // Live data: two requests were served before this one.
  EXPECT_TRUE(absl::StrContains(page.body, "<dd id=\"requests\">2</dd>"))
      << page.body;

  Response stats = Get(server.port(), "/api/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_EQ(stats.Header("Content-Type"), "application/json");
  EXPECT_TRUE(absl::StartsWith(stats.body, "{\"uptime_seconds\":"))
      << stats.body;
  EXPECT_TRUE(absl::StrContains(stats.body, "\"requests\":3,")) << stats.body;
  EXPECT_TRUE(absl::StrContains(stats.body, "\"chat_users\":0,")) << stats.body;

  Response css = Get(server.port(), "/static/style.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.Header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(css.body, "h1 {")) << css.body;
  std::string modified = css.Header("Last-Modified");
  ASSERT_FALSE(modified.empty());
  Response not_modified =
      Get(server.port(), "/static/style.css",
          absl::StrCat("If-Modified-Since: ", modified, "\r\n"));
  EXPECT_EQ(not_modified.status, 304);
  Response range =
      Get(server.port(), "/static/style.css", "Range: bytes=3-12\r\n");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, css.body.substr(3, 10));
  EXPECT_EQ(range.Header("Content-Range"),
            absl::StrCat("bytes 3-12/", css.body.size()));
  EXPECT_EQ(Get(server.port(), "/static/chat.js").Header("Content-Type"),
            "text/javascript; charset=utf-8");

  EXPECT_EQ(Get(server.port(), "/nope").status, 404);
  Client post(server.port());
  post.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  Response refused = ReadResponse(post);
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(refused.Header("Allow"), "GET, HEAD");

  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

TEST(WebAppTest, KeepAliveAndPipelining) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  Client c(server.port());
  // Three requests in one write: answered in order on one connection.
  c.Send(
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ReadResponse(c).body, "Hello, World!\n");
  Response stats = ReadResponse(c);
  EXPECT_EQ(stats.status, 200);
  EXPECT_TRUE(absl::StrContains(stats.body, "\"connections\":1,"))
      << stats.body;
  EXPECT_EQ(ReadResponse(c).status, 404);
  // Still open: a fourth request later on the same connection.
  c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ReadResponse(c).status, 200);
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

TEST(WebAppTest, MalformedRequestsGetTheirStatusAndTheServerStaysUp) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  uint16_t port = server.port();
  auto status_of = [&](const std::string& raw) {
    std::string all = Exchange(port, raw);
    return all.substr(0, all.find("\r\n"));
  };
  EXPECT_EQ(status_of("this is not http\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost x\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of("POST /api/stats HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 99999999\r\n\r\n"),
            "HTTP/1.1 413 Content Too Large");
  EXPECT_EQ(status_of(absl::StrCat("GET /", std::string(9000, 'a'),
                                   " HTTP/1.1\r\nHost: x\r\n\r\n")),
            "HTTP/1.1 414 URI Too Long");
  EXPECT_EQ(status_of(absl::StrCat("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ",
                                   std::string(20000, 'b'), "\r\n\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 505 HTTP Version Not Supported");
  EXPECT_EQ(status_of("POST /api/stats HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
            "HTTP/1.1 400 Bad Request");
  // A chunked body is accepted (and the route refuses the method).
  EXPECT_EQ(status_of("POST /api/stats HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      "2\r\nhi\r\n0\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed");
  // A WebSocket chat name that is too long.
  EXPECT_EQ(status_of(absl::StrCat(
                "GET /ws?name=", std::string(40, 'n'),
                " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  // Not a WebSocket handshake.
  EXPECT_EQ(status_of("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(Get(port, "/hello").status, 200);  // still up
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

TEST(WebAppTest, PathTraversalIsRefused) {
  // A static folder of the test's own, with a symlink leading out of it.
  std::string root = absl::StrCat(getenv("TEST_TMPDIR"), "/static");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0) << strerror(errno);
  std::ofstream(root + "/style.css") << "h1 { color: red; }\n";
  std::string secret = absl::StrCat(getenv("TEST_TMPDIR"), "/secret.txt");
  std::ofstream(secret) << "the secret\n";
  ASSERT_EQ(symlink(secret.c_str(), (root + "/leak.txt").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (root + "/etc").c_str()), 0);
  ServerProcess server(kBinary, {"--port=0", "--static_dir=" + root}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  uint16_t port = server.port();
  EXPECT_EQ(Get(port, "/static/style.css").body, "h1 { color: red; }\n");
  for (const char* target :
       {"/static/../secret.txt", "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt", "/static/%2E%2E%2Fsecret.txt",
        "/static/a/../../secret.txt", "/static/leak.txt", "/static/etc/passwd",
        "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd",
        "/static/..\\secret.txt", "/static/style.css%00.js"}) {
    Response r = Get(port, target);
    EXPECT_TRUE(r.status == 403 || r.status == 404 || r.status == 400)
        << target << ": " << r.status;
    EXPECT_FALSE(absl::StrContains(r.body, "the secret")) << target;
    EXPECT_FALSE(absl::StrContains(r.body, "root:")) << target;
  }
  EXPECT_EQ(Get(port, "/hello").status, 200);  // still up
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

TEST(WebAppTest, ChatBroadcastsToEveryUser) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  WebSocketClient alice(server.port(), "alice");
  ASSERT_TRUE(absl::StartsWith(alice.head(), "HTTP/1.1 101")) << alice.head();
  EXPECT_TRUE(absl::StrContains(alice.head(),
                                "Sec-WebSocket-Accept: "
                                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  alice.NextMessage("{\"type\":\"join\",\"from\":\"alice\"}");
  WebSocketClient bob(server.port(), "b%C3%B6b");  // "böb", UTF-8
  ASSERT_TRUE(absl::StartsWith(bob.head(), "HTTP/1.1 101")) << bob.head();
  alice.NextMessage(
      "\"from\":\"b\xc3\xb6"
      "b\"");

  alice.SendText("hello \"bob\" <b>");
  std::string expected =
      "\"from\":\"alice\",\"text\":\"hello \\\"bob\\\" \\u003cb>\"";
  EXPECT_TRUE(
      absl::StrContains(bob.NextMessage("\"type\":\"message\""), expected));
  EXPECT_TRUE(
      absl::StrContains(alice.NextMessage("\"type\":\"message\""), expected));
  // A ping is answered with a pong carrying the same payload.
  bob.SendFrame(9, "are you there");
  auto [opcode, payload] = bob.ReadFrame();
  EXPECT_EQ(opcode, 10);
  EXPECT_EQ(payload, "are you there");

  // The page shows the message, escaped.
  Response page = Get(server.port(), "/");
  EXPECT_TRUE(absl::StrContains(page.body,
                                "<b>alice</b> hello &quot;bob&quot; &lt;b&gt;"))
      << page.body;
  EXPECT_TRUE(absl::StrContains(page.body, "<dd id=\"chat_users\">2</dd>"));

  // Bob leaves with a close handshake; alice hears of it.
  bob.SendFrame(8, std::string("\x03\xe8", 2));
  auto [close_op, close_payload] = bob.ReadFrame();
  EXPECT_EQ(close_op, 8);
  EXPECT_EQ(CloseCode(close_payload), 1000);
  alice.NextMessage(
      "{\"type\":\"leave\",\"from\":\"b\xc3\xb6"
      "b\"}");

  // A binary message is refused with 1003.
  alice.SendFrame(2, "\x01\x02");
  std::pair<int, std::string> frame;
  do {
    frame = alice.ReadFrame();
  } while (frame.first == 1);
  EXPECT_EQ(frame.first, 8);
  EXPECT_EQ(CloseCode(frame.second), 1003);
  alice.SendFrame(8, frame.second.substr(0, 2));  // the close handshake
  std::string rest;
  EXPECT_TRUE(alice.client().ReadToEnd(&rest));  // then the server closes
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

TEST(WebAppTest, ShutdownClosesChatsWith1001AndIdleConnections) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  WebSocketClient carol(server.port(), "carol");
  ASSERT_TRUE(absl::StartsWith(carol.head(), "HTTP/1.1 101")) << carol.head();
  carol.NextMessage("\"join\"");
  Client idle(server.port());
  idle.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ReadResponse(idle).status, 200);
  // A request in flight: its head is not complete when the signal comes.
  // It follows a whole request in the same write, so once the first answer
  // is here the server has parsed the start of the second (it does so
  // before its task waits again, and signals are seen only then).
  Client in_flight(server.port());
  in_flight.Send(
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /hello HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(ReadResponse(in_flight).status, 200);

  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  // Once new connections are refused, the shutdown has begun.
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    refused = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
    close(fd);
    if (!refused) usleep(10000);  // polling the listener's state, bounded
  }
  ASSERT_TRUE(refused) << "the listener was not closed";
  // The request in flight is finished and answered, then its connection
  // closed.
  in_flight.Send("\r\n");
  Response last = ReadResponse(in_flight);
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.body, "Hello, World!\n");
  EXPECT_EQ(last.Header("Connection"), "close");

  // The chat gets a close frame with 1001 and answers it.
  auto [opcode, payload] = carol.ReadFrame();
  EXPECT_EQ(opcode, 8);
  EXPECT_EQ(CloseCode(payload), 1001);
  EXPECT_EQ(payload.substr(2), "server shutting down");
  carol.SendFrame(8, payload.substr(0, 2));
  // The idle keep-alive connection is closed.
  std::string rest;
  EXPECT_TRUE(idle.ReadToEnd(&rest));
  EXPECT_EQ(rest, "");
  EXPECT_EQ(server.Wait(), 0);
}

// Chats that do not answer the close: the grace period ends and the
// shutdown is forced (their sessions are cancelled and unwind); exit 0.
TEST(WebAppTest, ForcedShutdownEndsChatsThatDoNotAnswer) {
  ServerProcess server(kBinary, {"--port=0", "--grace_seconds=0.2"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  WebSocketClient a(server.port(), "a");
  WebSocketClient b(server.port(), "b");
  ASSERT_TRUE(absl::StartsWith(a.head(), "HTTP/1.1 101"));
  ASSERT_TRUE(absl::StartsWith(b.head(), "HTTP/1.1 101"));
  b.NextMessage("{\"type\":\"join\",\"from\":\"b\"}");
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  auto [opcode, payload] = b.ReadFrame();
  EXPECT_EQ(opcode, 8);
  EXPECT_EQ(CloseCode(payload), 1001);
  // Neither answers; the connections end when the shutdown is forced.
  std::string rest;
  EXPECT_TRUE(b.client().ReadToEnd(&rest));
  EXPECT_TRUE(a.client().ReadToEnd(&rest));
  EXPECT_EQ(server.Wait(), 0);
  std::string output = server.Rest();
  EXPECT_TRUE(absl::StrContains(output, "shutting down (SIGTERM)\n")) << output;
  EXPECT_TRUE(
      absl::StrContains(output, "shutdown forced (grace period over)\n"))
      << output;
  EXPECT_TRUE(absl::EndsWith(output, "stopped\n")) << output;
}

TEST(WebAppTest, ASlowChatUserIsDroppedAndDoesNotSlowTheOthers) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  // Never reads after the handshake, through a small receive buffer.
  WebSocketClient slow(server.port(), "slow", 4096);
  ASSERT_TRUE(absl::StartsWith(slow.head(), "HTTP/1.1 101"));
  WebSocketClient talker(server.port(), "talker");
  ASSERT_TRUE(absl::StartsWith(talker.head(), "HTTP/1.1 101"));
  // 3000 messages of 3 KB (9 MB for each reader): more than the slow user's
  // socket buffers (at most 4 MiB to send, 8 KiB to receive) and its
  // 256-message outbox hold.
  std::string text(3000, 'x');
  int seen = 0;
  for (int i = 0; i < 3000; ++i) {
    talker.SendText(absl::StrCat(i, ":", text));
    // The talker reads its own copies as it goes (it is not slow).
    while (seen <= i) {
      auto [opcode, payload] = talker.ReadFrame();
      ASSERT_GE(opcode, 0) << "talker disconnected after " << seen;
      if (opcode == 1 && absl::StrContains(payload, "\"type\":\"message\"")) {
        ASSERT_TRUE(absl::StrContains(payload, absl::StrCat("\"", seen, ":")))
            << "message " << seen << " lost or out of order";
        ++seen;
      }
    }
  }
  EXPECT_EQ(seen, 3000);
  // The slow user was dropped: the chat has one user left.
  Response stats = Get(server.port(), "/api/stats");
  EXPECT_TRUE(absl::StrContains(stats.body, "\"chat_users\":1,")) << stats.body;
  EXPECT_EQ(server.Terminate(SIGTERM), 0);
}

// Ctrl-C is a graceful shutdown too (the demo's way out under bazel run).
TEST(WebAppTest, SigintShutsDownGracefully) {
  ServerProcess server(kBinary, {"--port=0"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  EXPECT_EQ(Get(server.port(), "/hello").status, 200);
  EXPECT_EQ(server.Terminate(SIGINT), 0);
  std::string output = server.Rest();
  EXPECT_EQ(output, "shutting down (SIGINT)\nstopped\n");
}

// --max_seconds shuts down like a signal, grace period included: a chat
// that does not answer the close is ended by the forced shutdown.
TEST(WebAppTest, MaxSecondsBoundsTheRun) {
  ServerProcess server(
      kBinary, {"--port=0", "--max_seconds=0.5", "--grace_seconds=0.1"}, true);
  ASSERT_NE(server.port(), 0) << server.first_line();
  WebSocketClient quiet(server.port(), "quiet");
  ASSERT_TRUE(absl::StartsWith(quiet.head(), "HTTP/1.1 101"));
  std::string rest;
  EXPECT_TRUE(quiet.client().ReadToEnd(&rest));  // 1001, then the end
  EXPECT_EQ(server.Wait(), 0);
  std::string output = server.Rest();
  EXPECT_TRUE(absl::StrContains(output, "shutting down (--max_seconds)\n"))
      << output;
  EXPECT_TRUE(
      absl::StrContains(output, "shutdown forced (grace period over)\n"))
      << output;
}

TEST(WebAppTest, BadFlagsAreRefused) {
  ServerProcess no_key(kBinary, {"--port=0", "--tls"}, true);
  EXPECT_EQ(no_key.first_line(), "webapp: --tls needs --cert and --key");
  EXPECT_EQ(no_key.Wait(), 2);
  ServerProcess no_dir(kBinary, {"--port=0", "--static_dir=/nonexistent"},
                       true);
  EXPECT_TRUE(absl::StartsWith(no_dir.first_line(), "webapp: "))
      << no_dir.first_line();
  EXPECT_EQ(no_dir.Wait(), 1);
}

}  // namespace
