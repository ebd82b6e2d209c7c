#include "runtime/http/static_files.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/http/test_util.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

// A site in $TEST_TMPDIR: www/ (served) holding index.html, style.css,
// data.bin (1000 bytes), sub/index.html, inside -> style.css (a symlink
// that stays), outside -> ../secret.txt (one that leaves); secret.txt next
// to www/.
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string base =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/static.XXXXXX");
    ASSERT_NE(mkdtemp(base.data()), nullptr);
    dir_ = base;
    www_ = dir_ + "/www";
    ASSERT_EQ(mkdir(www_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((www_ + "/sub").c_str(), 0755), 0);
    WriteFile(www_ + "/index.html", "<h1>home</h1>");
    WriteFile(www_ + "/style.css", "body{color:green}");
    std::string bin;
    for (int i = 0; i < 1000; ++i)
      bin.push_back(static_cast<char>('a' + i % 26));
    bin_ = bin;
    WriteFile(www_ + "/data.bin", bin);
    WriteFile(www_ + "/sub/index.html", "sub home");
    WriteFile(dir_ + "/secret.txt", "SECRET");
    ASSERT_EQ(symlink("style.css", (www_ + "/inside").c_str()), 0);
    ASSERT_EQ(symlink("../secret.txt", (www_ + "/outside").c_str()), 0);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  // Get runs the file server under /static/ and sends `raw` requests.
  void Run(const std::function<void(uint16_t)>& client) {
    auto files = StaticFiles::Create(www_);
    ASSERT_TRUE(files.ok()) << files.status();
    WithServer({}, client, [files = *files](Request& req) {
      absl::string_view path = req.path;
      if (absl::ConsumePrefix(&path, "/static/")) return files.Serve(req, path);
      return Response::Text(404, "not routed\n");
    });
  }
  static std::string Get(uint16_t port, const std::string& target,
                         const std::string& headers = "") {
    return Exchange(
        port, absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: h\r\n", headers,
                           "Connection: close\r\n\r\n"));
  }
  std::string dir_, www_, bin_;
};

TEST_F(StaticFilesTest, FilesWithTypesFoldersAndRedirects) {
  Run([](uint16_t port) {
    std::string got = Get(port, "/static/style.css");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_TRUE(
        absl::StrContains(got, "Content-Type: text/css; charset=utf-8\r\n"));
    EXPECT_TRUE(absl::StrContains(got, "Last-Modified: ")) << got;
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\nbody{color:green}")) << got;
    got = Get(port, "/static/");
    EXPECT_TRUE(absl::EndsWith(got, "<h1>home</h1>")) << got;
    EXPECT_TRUE(absl::StrContains(got, "text/html")) << got;
    got = Get(port, "/static/sub");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 301 Moved Permanently\r\n"))
        << got;
    EXPECT_TRUE(absl::StrContains(got, "Location: /static/sub/\r\n")) << got;
    EXPECT_TRUE(absl::EndsWith(Get(port, "/static/sub/"), "sub home"));
    EXPECT_TRUE(
        absl::EndsWith(Get(port, "/static/inside"), "body{color:green}"));
    got = Get(port, "/static/nope.txt");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 404 Not Found\r\n")) << got;
    got = Exchange(port,
                   "POST /static/style.css HTTP/1.1\r\nContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 405 Method Not Allowed\r\n"))
        << got;
    got = Exchange(
        port, "HEAD /static/data.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StrContains(got, "Content-Length: 1000\r\n")) << got;
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n")) << got;
  });
}

TEST_F(StaticFilesTest, TraversalAndSymlinksOutOfTheRootAreRefused) {
  Run([](uint16_t port) {
    for (const char* target :
         {"/static/../secret.txt", "/static/%2e%2e/secret.txt",
          "/static/sub/%2E%2E/%2e%2e/secret.txt", "/static/..%2fsecret.txt",
          "/static/sub/..%2F..%2Fsecret.txt", "/static/outside"}) {
      std::string got = Get(port, target);
      EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 403 Forbidden\r\n") ||
                  absl::StartsWith(got, "HTTP/1.1 404 Not Found\r\n"))
          << target << ": " << got;
      EXPECT_FALSE(absl::StrContains(got, "SECRET")) << target;
    }
    std::string got = Get(port, "/static/a%00b");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 400 Bad Request\r\n")) << got;
    got = Get(port, "/static/%zz");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 400 Bad Request\r\n")) << got;
  });
}

TEST_F(StaticFilesTest, RangesAndConditionalRequests) {
  Run([this](uint16_t port) {
    std::string got = Get(port, "/static/data.bin", "Range: bytes=10-19\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 206 Partial Content\r\n"))
        << got;
    EXPECT_TRUE(absl::StrContains(got, "Content-Range: bytes 10-19/1000\r\n"));
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n" + bin_.substr(10, 10))) << got;
    got = Get(port, "/static/data.bin", "Range: bytes=-5\r\n");
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n" + bin_.substr(995))) << got;
    got = Get(port, "/static/data.bin", "Range: bytes=990-\r\n");
    EXPECT_TRUE(
        absl::StrContains(got, "Content-Range: bytes 990-999/1000\r\n"));
    got = Get(port, "/static/data.bin", "Range: bytes=1000-\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 416 Range Not Satisfiable\r\n"))
        << got;
    EXPECT_TRUE(absl::StrContains(got, "Content-Range: bytes */1000\r\n"));
    got = Get(port, "/static/data.bin", "Range: bytes=0-1,5-6\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
    // If-Modified-Since: a date after the file's mtime gives 304, an older
    // one the file.
    std::string later = HttpDate(absl::Now() + absl::Hours(1));
    got =
        Get(port, "/static/style.css", "If-Modified-Since: " + later + "\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 304 Not Modified\r\n")) << got;
    EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n")) << got;
    std::string earlier = HttpDate(absl::FromUnixSeconds(1000));
    got = Get(port, "/static/style.css",
              "If-Modified-Since: " + earlier + "\r\n");
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
  });
}

TEST(StaticFilesCreateTest, RootMustBeAFolder) {
  EXPECT_EQ(StaticFiles::Create("/no/such/folder").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(StaticFiles::Create("/etc/hostname").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpDateTest, RoundTrip) {
  absl::Time t;
  ASSERT_TRUE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", &t));
  EXPECT_EQ(absl::ToUnixSeconds(t), 784111777);
  EXPECT_EQ(HttpDate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_FALSE(ParseHttpDate("yesterday", &t));
}

}  // namespace
}  // namespace http
}  // namespace runtime
}  // namespace evergreen
