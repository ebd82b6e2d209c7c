// Runs examples/chat_server as a child process and chats with it through
// //runtime/io clients: alice sends 1000 lines, bob receives every one in
// order while carol never reads: carol is disconnected for being too slow
// and alice and bob are not held up. The server then stops by itself
// (--max_connections) with status 0.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/test_util.h"
#include "gtest/gtest.h"
#include "runtime/cancel.h"
#include "runtime/event_loop.h"
#include "runtime/io/tcp.h"
#include "runtime/task.h"

extern char** environ;

namespace {

using evergreen::examples_test::Runfile;
using evergreen::examples_test::ServerProcess;

namespace io = evergreen::runtime::io;
using evergreen::runtime::Deadline;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;

// Join connects, answers the name prompt, and returns the stream.
std::unique_ptr<io::TcpStream> Join(uint16_t port, const std::string& name) {
  auto conn = io::TcpStream::Connect("127.0.0.1", port,
                                     Deadline::After(absl::Seconds(5)));
  EXPECT_TRUE(conn.ok()) << conn.status();
  if (!conn.ok()) return nullptr;
  auto prompt = (*conn)->ReadLine();
  EXPECT_TRUE(prompt.ok() && *prompt == "name?\n") << prompt.status();
  EXPECT_TRUE((*conn)->Write(name + "\n").ok());
  return std::move(*conn);
}

// ReadUntilLine reads lines until `want`; false at an error.
bool ReadUntilLine(io::TcpStream& conn, const std::string& want) {
  while (true) {
    auto line = conn.ReadLine();
    if (!line.ok()) return false;
    if (*line == want) return true;
  }
}

TEST(ChatServerTest, SlowUserIsDroppedOthersGetEveryLine) {
  constexpr int kLines = 1000;
  ServerProcess server("examples/chat_server",
                       {"--port=0", "--max_connections=3", "--max_outbox=32768",
                        "--send_buffer=16384"});
  ASSERT_NE(server.port(), 0);
  int bob_got = 0;
  bool bob_in_order = true;
  size_t carol_bytes = 0;
  bool carol_left_first = false;
  absl::Status carol_end;
  bool alice_done = false;
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto main = Task::Spawn([&] {
    absl::Status s = evergreen::runtime::WithTimeout(absl::Seconds(9), [&] {
      auto alice = Join(server.port(), "alice");
      ASSERT_NE(alice, nullptr);
      auto bob = Join(server.port(), "bob");
      ASSERT_NE(bob, nullptr);
      ASSERT_TRUE(ReadUntilLine(*alice, "* bob joined\n"));
      // carol's small receive buffer fills fast; she never reads.
      auto carol = Join(server.port(), "carol");
      ASSERT_NE(carol, nullptr);
      ASSERT_TRUE(carol->handle().SetRecvBufferSize(4096).ok());
      ASSERT_TRUE(ReadUntilLine(*alice, "* carol joined\n"));
      ASSERT_TRUE(ReadUntilLine(*bob, "* carol joined\n"));
      std::string pad(400, 'x');
      // alice sends in batches of 10 lines, each read by bob before the
      // next: bob keeps up, carol does not.
      for (int batch = 0; batch < kLines / 10; ++batch) {
        for (int i = batch * 10; i < batch * 10 + 10; ++i) {
          ASSERT_TRUE(
              alice->Write(absl::StrCat("line ", i, " ", pad, "\n")).ok());
        }
        while (bob_got < batch * 10 + 10) {
          auto line = bob->ReadLine();
          ASSERT_TRUE(line.ok()) << line.status();
          if (*line == "* carol left\n") carol_left_first = true;
          if (absl::StartsWith(*line, "* ")) continue;
          if (*line != absl::StrCat("alice: line ", bob_got, " ", pad, "\n")) {
            bob_in_order = false;
          }
          ++bob_got;
        }
      }
      alice_done = true;
      // carol was dropped while she was not reading: bob hears she left
      // before she reads a byte.
      if (!carol_left_first) {
        absl::Status waited = evergreen::runtime::WithTimeout(
            absl::Seconds(5),
            [&] { carol_left_first = ReadUntilLine(*bob, "* carol left\n"); });
        EXPECT_TRUE(waited.ok()) << "carol was not dropped: " << waited;
      }
      // carol now reads what reached her before she was dropped, then the
      // end of the connection.
      while (true) {
        auto r = carol->ReadSome();
        if (!r.ok()) {
          carol_end = r.status();
          break;
        }
        carol_bytes += r->size();
      }
      // alice and bob leave: the server closes their connections.
      for (io::TcpStream* c : {alice.get(), bob.get()}) {
        ASSERT_TRUE(c->Shutdown().ok());
        while (c->ReadSome().ok()) {
        }
      }
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  ASSERT_TRUE(main.ok());
  EXPECT_TRUE((*loop)->Run().ok());
  EXPECT_TRUE(alice_done);
  EXPECT_EQ(bob_got, kLines);
  EXPECT_TRUE(bob_in_order);
  EXPECT_TRUE(carol_left_first);
  // Dropped: carol's connection ended (EOF or reset) and she got far less
  // than everything.
  EXPECT_FALSE(carol_end.ok());
  EXPECT_LT(carol_bytes, static_cast<size_t>(kLines) * 400);
  EXPECT_EQ(server.Wait(), 0);
}

// SIGTERM with a user still connected: the listener closes at once (the
// user stays); a second SIGTERM cancels the connection and the server
// exits 0. --grace_seconds=60 keeps the grace timer out of it.
TEST(ChatServerTest, SecondSignalEndsConnectionsStillOpen) {
  ServerProcess server("examples/chat_server",
                       {"--port=0", "--grace_seconds=60"});
  ASSERT_NE(server.port(), 0) << server.first_line();
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  bool ended = false;
  auto main = Task::Spawn([&] {
    auto dave = Join(server.port(), "dave");
    ASSERT_NE(dave, nullptr);
    auto erin = Join(server.port(), "erin");
    ASSERT_NE(erin, nullptr);
    ASSERT_TRUE(ReadUntilLine(*dave, "* erin joined\n"));
    ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
    // A new connection is refused once the listener is closed.
    bool refused = false;
    for (int i = 0; i < 500 && !refused; ++i) {
      auto c = io::TcpStream::Connect("127.0.0.1", server.port(),
                                      Deadline::After(absl::Seconds(5)));
      refused = !c.ok();
      if (!refused) (void)evergreen::runtime::Sleep(absl::Milliseconds(10));
    }
    EXPECT_TRUE(refused);
    // dave and erin are still served: erin gets dave's line.
    ASSERT_TRUE(dave->Write("still here\n").ok());
    EXPECT_TRUE(ReadUntilLine(*erin, "dave: still here\n"));
    ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
    absl::Status s = evergreen::runtime::WithTimeout(absl::Seconds(10), [&] {
      while (dave->ReadSome().ok()) {
      }
    });
    EXPECT_TRUE(s.ok()) << "the connection was not ended: " << s;
    s = evergreen::runtime::WithTimeout(absl::Seconds(10), [&] {
      while (erin->ReadSome().ok()) {
      }
    });
    EXPECT_TRUE(s.ok()) << "erin's connection was not ended: " << s;
    ended = true;
  });
  ASSERT_TRUE(main.ok());
  EXPECT_TRUE((*loop)->Run().ok());
  EXPECT_TRUE(ended);
  EXPECT_EQ(server.Wait(), 0);
}

}  // namespace
