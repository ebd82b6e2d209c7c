// runtime/http/test_util.h: a server to talk to and raw HTTP exchanges,
// for the tests of //runtime/http (testonly).
#ifndef EVERGREEN_RUNTIME_HTTP_TEST_UTIL_H_
#define EVERGREEN_RUNTIME_HTTP_TEST_UTIL_H_

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"
#include "runtime/http/server.h"
#include "runtime/io/tcp.h"
#include "runtime/task.h"
#include "runtime/test_util.h"

namespace evergreen {
namespace runtime {
namespace http {

// WithServer runs `client(port)` in a task while a server with `options`
// answers; a 10 s watchdog bounds the test.
inline void WithServer(const ServerOptions& options,
                       const std::function<void(uint16_t)>& client,
                       Handler handler) {
  auto loop = NewLoop();
  auto listener = io::TcpListener::Listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.status();
  io::TcpListener* l = listener->get();
  uint16_t port = l->LocalAddress()->port();
  absl::Status served = absl::UnknownError("not run");
  auto server =
      Task::Spawn([&] { served = Serve(*l, std::move(handler), options); });
  ASSERT_TRUE(server.ok());
  auto driver = Task::Spawn([&] {
    absl::Status s = WithTimeout(absl::Seconds(10), [&] { client(port); });
    EXPECT_TRUE(s.ok()) << s;
    l->Close();
  });
  ASSERT_TRUE(driver.ok());
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(served.ok()) << served;
}

// Exchange sends `raw` on a new connection and returns everything the
// server sent until it closed the connection.
inline std::string Exchange(uint16_t port, const std::string& raw) {
  auto conn = io::TcpStream::Connect("127.0.0.1", port,
                                     Deadline::After(absl::Seconds(5)));
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status();
    return "";
  }
  EXPECT_TRUE((*conn)->Write(raw).ok());
  std::string got;
  while (true) {
    auto r = (*conn)->ReadSome();
    if (!r.ok()) break;
    got += *r;
  }
  return got;
}

// Responses splits what Exchange returned into responses (status line +
// body), using Content-Length.
inline std::vector<std::pair<std::string, std::string>> Responses(
    absl::string_view all) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!all.empty()) {
    size_t end = all.find("\r\n\r\n");
    if (end == absl::string_view::npos) break;
    absl::string_view head = all.substr(0, end);
    size_t length = 0;
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, "content-length: ")) {
        EXPECT_TRUE(absl::SimpleAtoi(line.substr(16), &length)) << line;
      }
    }
    out.emplace_back(std::string(head.substr(0, head.find("\r\n"))),
                     std::string(all.substr(end + 4, length)));
    all.remove_prefix(std::min(all.size(), end + 4 + length));
  }
  return out;
}

}  // namespace http
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_HTTP_TEST_UTIL_H_
