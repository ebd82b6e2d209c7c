#include "runtime/io/pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
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
#include "runtime/io/test_util.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

// A short directory under /tmp: socket paths must fit in 107 bytes, which
// $TEST_TMPDIR can exceed.
class SocketDir {
 public:
  SocketDir() {
    std::string tpl = "/tmp/io_pipe_XXXXXX";
    EXPECT_NE(::mkdtemp(tpl.data()), nullptr);
    path_ = tpl;
  }
  ~SocketDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 17 + seed * 13 + (i >> 9)) % 251);
  }
  return s;
}

TEST(PipeTest, EchoServerOverAUnixSocket) {
  auto el = NewLoop();
  SocketDir dir;
  std::string path = dir / "echo.sock";
  constexpr int kClients = 10;
  int clients_ok = 0;
  int handlers = 0;
  absl::Status served = absl::UnknownError("not run");
  bool file_removed = false;
  RunTask(*el, [&] {
    auto l = PipeListener::Listen(path);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_EQ((*l)->path(), path);
    auto server = Task::Spawn([&] {
      served = Serve(**l, [&handlers](PipeStream& conn) {
        ++handlers;
        while (true) {
          auto line = conn.ReadLine(1 << 20);
          if (!line.ok()) return;
          if (!conn.Write(*std::move(line)).ok()) return;
        }
      });
    });
    ASSERT_TRUE(server.ok());
    std::vector<std::shared_ptr<Task>> clients;
    for (int c = 0; c < kClients; ++c) {
      auto t = Task::Spawn([&, c] {
        auto conn =
            PipeStream::Connect(path, Deadline::After(absl::Seconds(5)));
        ASSERT_TRUE(conn.ok()) << conn.status();
        EXPECT_EQ((*conn)->peer(), path);
        for (int m = 0; m < 5; ++m) {
          std::string body = Pattern(1 + (c * 997 + m * 7919) % 30000, c);
          std::replace(body.begin(), body.end(), '\n', ' ');
          std::string line = body + "\n";
          ASSERT_TRUE((*conn)->Write(line).ok());
          auto back = (*conn)->ReadLine(1 << 20);
          ASSERT_TRUE(back.ok()) << back.status();
          ASSERT_TRUE(*back == line);
        }
        ASSERT_TRUE((*conn)->Shutdown().ok());
        EXPECT_EQ((*conn)->ReadSome().status().code(),
                  absl::StatusCode::kOutOfRange);
        ++clients_ok;
      });
      ASSERT_TRUE(t.ok());
      clients.push_back(*t);
    }
    for (auto& t : clients) ASSERT_TRUE(t->Join().ok());
    (*l)->Close();
    ASSERT_TRUE((*server)->Join().ok());
    file_removed = !std::filesystem::exists(path);
  });
  EXPECT_EQ(clients_ok, kClients);
  EXPECT_EQ(handlers, kClients);
  EXPECT_TRUE(served.ok()) << served;
  EXPECT_TRUE(file_removed);
  EXPECT_EQ(OpenHandles(*el, "pipe"), 0);
}

TEST(PipeTest, ConnectErrorsAndBusyPath) {
  auto el = NewLoop();
  SocketDir dir;
  std::string missing = dir / "missing.sock";
  std::string path = dir / "busy.sock";
  absl::Status connect_missing, listen_busy, accept_deadline;
  RunTask(*el, [&] {
    connect_missing = PipeStream::Connect(missing).status();
    auto l = PipeListener::Listen(path);
    ASSERT_TRUE(l.ok()) << l.status();
    listen_busy = PipeListener::Listen(path).status();
    accept_deadline =
        (*l)->Accept(Deadline::After(absl::Milliseconds(10))).status();
  });
  EXPECT_EQ(connect_missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(connect_missing.message(),
            "pipe connect " + missing + ": ENOENT (no such file or directory)");
  EXPECT_EQ(listen_busy.message(),
            "listen " + path + ": EADDRINUSE (address already in use)");
  EXPECT_EQ(accept_deadline.message(),
            "accept " + path + ": deadline exceeded");
}

// Open wraps pipe(2) ends: the reader sees the writer's bytes, then EOF
// when the writer closes; the read end cannot be written.
TEST(PipeTest, OpenAdoptsPipeEnds) {
  auto el = NewLoop();
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::string got;
  absl::Status eof, write_to_read_end;
  RunTask(*el, [&] {
    auto r = PipeStream::Open(fds[0]);
    ASSERT_TRUE(r.ok()) << r.status();
    auto w = PipeStream::Open(fds[1]);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ((*w)->peer(), absl::StrCat("fd ", fds[1]));
    auto writer = Task::Spawn([&] {
      ASSERT_TRUE((*w)->Write(Pattern(100000, 1)).ok());
      ASSERT_TRUE((*w)->Drain().ok());  // then closing loses nothing
      (*w)->Close();
    });
    ASSERT_TRUE(writer.ok());
    while (true) {
      auto d = (*r)->ReadSome();
      if (!d.ok()) {
        eof = d.status();
        break;
      }
      got += *d;
    }
    write_to_read_end = (*r)->Write("x");
  });
  EXPECT_TRUE(got == Pattern(100000, 1));
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(write_to_read_end.ok());
  auto bad = PipeStream::Open(-1);
  EXPECT_FALSE(bad.ok());
}

TEST(PipeCancelTest, KillDuringConnectAcceptAndReadReleasesThem) {
  auto el = NewLoop();
  SocketDir dir;
  std::string path = dir / "k.sock";
  absl::Status read_scope;
  bool accepted_after = false;
  std::string after;
  RunTask(*el, [&] {
    auto l = PipeListener::Listen(path);
    ASSERT_TRUE(l.ok());
    // Accept: killed while waiting, the listener still accepts.
    auto acceptor = Task::Spawn([&] { (void)(*l)->Accept(); });
    ASSERT_TRUE(acceptor.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*acceptor)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*acceptor)->Kill().ok());
    auto c = PipeStream::Connect(path);
    ASSERT_TRUE(c.ok()) << c.status();
    auto s = (*l)->Accept(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(s.ok()) << s.status();
    accepted_after = true;
    // Connect: killed before its callback ran (the killer starts in the
    // same round, before the loop polls), the socket is released.
    int pipes = OpenHandles(*el, "pipe");
    bool connected = false;
    auto connector = Task::Spawn([&] {
      (void)PipeStream::Connect(path);
      connected = true;
    });
    ASSERT_TRUE(connector.ok());
    auto killer = Task::Spawn([&] {
      ASSERT_EQ((*connector)->state(), Task::State::kBlocked);
      EXPECT_EQ(OpenHandles(*el, "pipe"), pipes + 1);
      ASSERT_TRUE((*connector)->Kill().ok());
      EXPECT_EQ(OpenHandles(*el, "pipe"), pipes);
    });
    ASSERT_TRUE(killer.ok());
    ASSERT_TRUE((*killer)->Join().ok());
    EXPECT_TRUE((*connector)->killed());
    EXPECT_FALSE(connected);
    // Read: a timeout stops reading; the stream stays usable.
    read_scope =
        WithTimeout(absl::Milliseconds(10), [&] { (void)(*s)->ReadSome(); });
    EXPECT_FALSE((*s)->handle().IsReading());
    ASSERT_TRUE((*c)->Write("after").ok());
    auto d = (*s)->ReadExactly(5);
    ASSERT_TRUE(d.ok()) << d.status();
    after = *d;
  });
  EXPECT_TRUE(accepted_after);
  EXPECT_EQ(read_scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(after, "after");
}

TEST(PipeTest, SlowReaderSuspendsTheWriter) {
  auto el = NewLoop();
  StreamOptions options;
  options.write_high_water = 32 * 1024;
  constexpr size_t kChunk = 16 * 1024;
  constexpr size_t kChunks = 64;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  size_t max_queue = 0;
  bool stalled = false;
  std::string got, sent;
  RunTask(*el, [&] {
    auto r = PipeStream::Open(fds[0], options);
    auto w = PipeStream::Open(fds[1], options);
    ASSERT_TRUE(r.ok() && w.ok());
    bool in_write = false;
    auto writer = Task::Spawn([&] {
      for (size_t i = 0; i < kChunks; ++i) {
        std::string chunk = Pattern(kChunk, static_cast<uint32_t>(i));
        sent += chunk;
        in_write = true;
        ASSERT_TRUE((*w)->Write(std::move(chunk)).ok());
        in_write = false;
        max_queue = std::max(max_queue, (*w)->stream_handle().WriteQueueSize());
      }
      ASSERT_TRUE((*w)->Drain().ok());
      (*w)->Close();
    });
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 5000 && !stalled; ++i) {
      ASSERT_TRUE(Sleep(absl::Milliseconds(1)).ok());
      stalled = in_write && (*writer)->state() == Task::State::kBlocked;
    }
    while (true) {
      auto d = (*r)->ReadSome(4096);
      if (!d.ok()) break;
      got += *d;
      max_queue = std::max(
          max_queue, (*w)->IsClosed() ? size_t{0}
                                      : (*w)->stream_handle().WriteQueueSize());
    }
    ASSERT_TRUE((*writer)->Join().ok());
  });
  EXPECT_TRUE(stalled);
  EXPECT_LE(max_queue, options.write_high_water + kChunk);
  EXPECT_EQ(got.size(), kChunk * kChunks);
  EXPECT_TRUE(got == sent);
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
