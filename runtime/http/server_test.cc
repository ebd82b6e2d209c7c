#include "runtime/http/server.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/http/test_util.h"
#include "runtime/io/tcp.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

// An app for the tests: echoes what it parsed.
Response Echo(Request& req) {
  if (req.path == "/throw") throw std::runtime_error("boom");
  Response r = Response::Text(
      200, absl::StrCat(req.method, " path=", req.path, " query=", req.query,
                        " body=", req.body, " v=1.", req.version_minor));
  if (const std::string* h = req.Header("x-echo")) r.SetHeader("X-Echo", *h);
  return r;
}

void WithEcho(const ServerOptions& options,
              const std::function<void(uint16_t)>& client) {
  WithServer(options, client, Echo);
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(HttpServerTest, KeepAliveAndPipelinedRequestsAnsweredInOrder) {
  WithEcho({}, [](uint16_t port) {
    std::string got =
        Exchange(port,
                 "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                 "GET /b HTTP/1.1\r\nHost: h\r\nX-Echo: two\r\n\r\n"
                 "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                 "GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(
        Responses(got),
        (Pairs{{"HTTP/1.1 200 OK", "GET path=/a query=x=1 body= v=1.1"},
               {"HTTP/1.1 200 OK", "GET path=/b query= body= v=1.1"},
               {"HTTP/1.1 200 OK", "POST path=/c query= body=hello v=1.1"},
               {"HTTP/1.1 200 OK", "GET path=/d query= body= v=1.1"}}))
        << got;
    EXPECT_TRUE(absl::StrContains(got, "X-Echo: two\r\n")) << got;
    EXPECT_TRUE(absl::StrContains(got, "Connection: close\r\n")) << got;
  });
}

// More pipelined requests than one read holds, some split across reads:
// every request is answered, in order, with its own fields (the server
// reuses one Request's buffers: nothing may be left from the one before).
TEST(HttpServerTest, ManyPipelinedRequestsAcrossReads) {
  WithEcho({}, [](uint16_t port) {
    std::string all;
    Pairs expected;
    for (int i = 0; i < 3000; ++i) {
      if (i % 3 == 0) {
        absl::StrAppend(&all, "POST /p", i, " HTTP/1.1\r\nHost: h\r\n",
                        "Content-Length: ", absl::StrCat(i).size(), "\r\n\r\n",
                        i);
        expected.push_back(
            {"HTTP/1.1 200 OK",
             absl::StrCat("POST path=/p", i, " query= body=", i, " v=1.1")});
      } else {
        absl::StrAppend(&all, "GET /g", i, "?q=", i,
                        " HTTP/1.1\r\nHost: h\r\n\r\n");
        expected.push_back(
            {"HTTP/1.1 200 OK",
             absl::StrCat("GET path=/g", i, " query=q=", i, " body= v=1.1")});
      }
    }
    all += "GET /end HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    expected.push_back({"HTTP/1.1 200 OK", "GET path=/end query= body= v=1.1"});
    ASSERT_GT(all.size(), 100u * 1024);
    std::string got = Exchange(port, all);
    EXPECT_EQ(Responses(got), expected);
  });
}

TEST(HttpServerTest, ChunkedBodyIsJoined) {
  WithEcho({}, [](uint16_t port) {
    std::string got = Exchange(port,
                               "POST /up HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Connection: close\r\n\r\n"
                               "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    EXPECT_EQ(Responses(got),
              (Pairs{{"HTTP/1.1 200 OK",
                      "POST path=/up query= body=hello world v=1.1"}}))
        << got;
  });
}

TEST(HttpServerTest, HeadHasTheLengthButNoBody) {
  WithEcho({}, [](uint16_t port) {
    std::string got = Exchange(
        port, "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
    std::string length = absl::StrCat(
        "Content-Length: ",
        std::string("HEAD path=/x query= body= v=1.1").size(), "\r\n");
    EXPECT_TRUE(absl::StrContains(got, length)) << got;
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n")) << got;
  });
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveAsked) {
  WithEcho({}, [](uint16_t port) {
    std::string got = Exchange(port, "GET /old HTTP/1.0\r\n\r\n");
    EXPECT_EQ(Responses(got),
              (Pairs{{"HTTP/1.1 200 OK", "GET path=/old query= body= v=1.0"}}));
    got = Exchange(port,
                   "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                   "GET /2 HTTP/1.0\r\n\r\n");
    EXPECT_EQ(Responses(got).size(), 2u) << got;
    EXPECT_TRUE(absl::StrContains(got, "Connection: keep-alive\r\n")) << got;
  });
}

// Each bad request gets its status, the connection is closed, and the
// server keeps serving.
TEST(HttpServerTest, MalformedAndOversizedRequestsGetTheirStatus) {
  ServerOptions o;
  o.max_target_bytes = 100;
  o.max_header_bytes = 1000;
  o.max_body_bytes = 50;
  WithEcho(o, [](uint16_t port) {
    struct Case {
      std::string request;
      std::string status;
    };
    std::vector<Case> cases = {
        {"GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n",
         "HTTP/1.1 414 URI Too Long"},
        {"GET / HTTP/1.1\r\nX: " + std::string(2000, 'b') + "\r\n\r\n",
         "HTTP/1.1 431 Request Header Fields Too Large"},
        {"POST / HTTP/1.1\r\nContent-Length: 51\r\n\r\n" + std::string(51, 'c'),
         "HTTP/1.1 413 Content Too Large"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         "40\r\n" +
             std::string(64, 'd') + "\r\n0\r\n\r\n",
         "HTTP/1.1 413 Content Too Large"},
        {"GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
        {"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
         "HTTP/1.1 400 Bad Request"},
    };
    for (const Case& c : cases) {
      std::string got = Exchange(port, c.request);
      EXPECT_TRUE(absl::StartsWith(got, c.status + "\r\n"))
          << c.request.substr(0, 60) << " got: " << got.substr(0, 200);
      EXPECT_TRUE(absl::StrContains(got, "Connection: close\r\n")) << got;
    }
    std::string ok =
        Exchange(port, "GET /still HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.1 200 OK\r\n")) << ok;
  });
}

TEST(HttpServerTest, SlowClientsTimeOut) {
  ServerOptions o;
  o.header_timeout = absl::Milliseconds(100);
  o.body_timeout = absl::Milliseconds(100);
  o.idle_timeout = absl::Milliseconds(100);
  WithEcho(o, [](uint16_t port) {
    // Half a head, then nothing: 408.
    std::string got = Exchange(port, "GET / HTTP/1.1\r\nHost:");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 408 Request Timeout\r\n"))
        << got;
    // A body that never comes: 408.
    got = Exchange(port, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 408 Request Timeout\r\n"))
        << got;
    // Idle after one request: closed without a word.
    got = Exchange(port, "GET /one HTTP/1.1\r\n\r\n");
    EXPECT_EQ(Responses(got).size(), 1u) << got;
  });
}

TEST(HttpServerTest, AThrowingHandlerIs500AndOthersGoOn) {
  WithEcho({}, [](uint16_t port) {
    std::string got = Exchange(port, "GET /throw HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 500 Internal Server Error\r\n"))
        << got;
    got = Exchange(port, "GET /fine HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
  });
}

TEST(HttpServerTest, TakeOverGetsTheStreamAndTheBytesAfterTheRequest) {
  Handler upgrade = [](Request& req) {
    Response r;
    r.status = 101;
    r.SetHeader("Upgrade", "shout");
    std::string target = req.target;
    r.take_over = [target](io::Stream& s, std::string leftover) {
      // A toy protocol: upper-cases lines.
      std::string line = leftover;
      while (!absl::StrContains(line, "\n")) {
        auto more = s.ReadSome();
        if (!more.ok()) return;
        line += *more;
      }
      for (char& c : line) c = static_cast<char>(toupper(c));
      (void)s.Write(target + " " + line);
    };
    return r;
  };
  WithServer(
      {},
      [](uint16_t port) {
        std::string got = Exchange(
            port,
            "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n"
            "hello\n");
        EXPECT_TRUE(
            absl::StartsWith(got, "HTTP/1.1 101 Switching Protocols\r\n"))
            << got;
        EXPECT_TRUE(absl::StrContains(got, "Connection: Upgrade\r\n")) << got;
        EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n/ws HELLO\n")) << got;
      },
      upgrade);
}

// Shutdown: the listener closes, an idle keep-alive connection is closed at
// once (long before its idle timeout), and a request in flight is answered
// with "Connection: close"; Serve then returns.
TEST(HttpServerTest, ShutdownClosesIdleConnectionsAndFinishesRequests) {
  auto loop = NewLoop();
  auto listener = io::TcpListener::Listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  uint16_t port = (*listener)->LocalAddress()->port();
  Event release;
  Event slow_started;
  ServerOptions o;
  o.idle_timeout = absl::Seconds(60);
  Server server(
      [&](Request& req) {
        if (req.path == "/slow") {
          slow_started.Set();
          (void)release.Wait();
        }
        return Response::Text(200, "done " + req.path);
      },
      o);
  absl::Status served = absl::UnknownError("not run");
  std::string idle_got, slow_got;
  auto serve = Task::Spawn([&] { served = server.Serve(**listener); });
  auto idle = Task::Spawn([&] {
    auto c = io::TcpStream::Connect("127.0.0.1", port,
                                    Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Write("GET /a HTTP/1.1\r\n\r\n").ok());
    while (true) {
      auto r = (*c)->ReadSome();
      if (!r.ok()) break;
      idle_got += *r;
    }
  });
  auto slow = Task::Spawn(
      [&] { slow_got = Exchange(port, "GET /slow HTTP/1.1\r\n\r\n"); });
  auto driver = Task::Spawn([&] {
    absl::Status s = WithTimeout(absl::Seconds(10), [&] {
      ASSERT_TRUE(slow_started.Wait().ok());
      while (server.connections() < 2 || idle_got.empty()) {
        ASSERT_TRUE(Sleep(absl::Milliseconds(1)).ok());
      }
      server.Shutdown();
      EXPECT_TRUE(server.draining());
      // The idle one ends without the release; the slow one needs it.
      ASSERT_TRUE((*idle)->Join().ok());
      EXPECT_EQ(server.connections(), 1u);
      release.Set();
      ASSERT_TRUE((*slow)->Join().ok());
      ASSERT_TRUE((*serve)->Join().ok());
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  ASSERT_TRUE(serve.ok() && idle.ok() && slow.ok() && driver.ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(served.ok()) << served;
  EXPECT_EQ(Responses(idle_got), (Pairs{{"HTTP/1.1 200 OK", "done /a"}}));
  EXPECT_EQ(Responses(slow_got), (Pairs{{"HTTP/1.1 200 OK", "done /slow"}}));
  EXPECT_TRUE(absl::StrContains(slow_got, "Connection: close\r\n")) << slow_got;
  EXPECT_EQ(server.Serve(**listener).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace http
}  // namespace runtime
}  // namespace evergreen
