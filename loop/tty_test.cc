#include "loop/tty.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// Fails the test and stops the loop if it runs longer than 10 s.
class Watchdog {
 public:
  explicit Watchdog(Loop& loop) : timer_(Timer::Create(loop)) {
    EXPECT_TRUE(timer_
                    ->Start(10000, 0,
                            [](Timer& t) {
                              ADD_FAILURE() << "watchdog: test took > 10 s";
                              t.loop().Stop();
                            })
                    .ok());
    timer_->Unref();
  }

 private:
  HandlePtr<Timer> timer_;
};

// Closes everything and checks that the loop closes cleanly.
void Finish(Loop& loop) {
  loop.Walk([](Handle& h) {
    if (!h.IsClosing()) (void)h.Close();
  });
  loop.Run();
  EXPECT_TRUE(loop.Close().ok());
}

bool Contains(const absl::Status& s, absl::string_view part) {
  return s.message().find(part) != absl::string_view::npos;
}

// A pseudo-terminal pair, so that the tests need no real terminal.
struct Pty {
  Pty() {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(master, 0);
    EXPECT_EQ(grantpt(master), 0);
    EXPECT_EQ(unlockpt(master), 0);
    const char* name = ptsname(master);
    EXPECT_NE(name, nullptr);
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(slave, 0);
  }
  ~Pty() {
    if (master >= 0) close(master);
  }
  // Reads from the master until `want` bytes arrived (bounded: 5 s).
  std::string ReadMaster(size_t want) const {
    std::string got;
    while (got.size() < want) {
      pollfd p = {master, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) break;
      char buf[256];
      ssize_t n = read(master, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  int master = -1;
  int slave = -1;  // owned by the Tty once created
};

termios Attributes(Tty& tty) {
  termios t = {};
  EXPECT_EQ(tcgetattr(*tty.Fileno(), &t), 0);
  return t;
}

// Writes `text` and runs the loop until the write completed.
void WriteAndWait(Loop& loop, Tty& tty, std::string text) {
  int done = 0;
  ASSERT_TRUE(tty.Write(std::move(text),
                        [&](Stream&, absl::Status st) {
                          EXPECT_TRUE(st.ok()) << st;
                          ++done;
                        })
                  .ok());
  while (done == 0 && loop.Run(RunMode::kOnce)) {
  }
  EXPECT_EQ(done, 1);
}

// One test switches modes: libuv records the first terminal put in raw mode
// once per process (see Tty::ResetMode).
TEST(TtyTest, WritesReadsModesAndReset) {
  Loop loop;
  Watchdog dog(loop);
  Pty pty;
  auto created = Tty::Create(loop, pty.slave, /*readable=*/true);
  ASSERT_TRUE(created.ok()) << created.status();
  HandlePtr<Tty> tty = std::move(*created);
  EXPECT_TRUE(tty->IsReadable());
  EXPECT_TRUE(tty->IsWritable());
  // libuv reopened the slave under a new descriptor; ours was closed.
  int used = *tty->Fileno();
  EXPECT_NE(used, pty.slave);
  EXPECT_EQ(fcntl(pty.slave, F_GETFD), -1);
  EXPECT_EQ(tty->TypeName(), "tty");

  // Normal mode: the line discipline turns "\n" into "\r\n".
  WriteAndWait(loop, *tty, "hello\n");
  EXPECT_EQ(pty.ReadMaster(7), "hello\r\n");
  EXPECT_TRUE(Attributes(*tty).c_lflag & ICANON);

  // Raw: no line editing (input arrives without a newline), no echo; output
  // still maps "\n".
  ASSERT_TRUE(tty->SetMode(TtyMode::kRaw).ok());
  termios raw = Attributes(*tty);
  EXPECT_FALSE(raw.c_lflag & ICANON);
  EXPECT_FALSE(raw.c_lflag & ECHO);
  EXPECT_FALSE(raw.c_lflag & ISIG);
  std::string typed;
  ASSERT_TRUE(tty->ReadStart([&](Stream& s, auto r) {
                   ASSERT_TRUE(r.ok()) << r.status();
                   typed.append(r->data(), r->size());
                   if (typed.size() >= 3) {
                     ASSERT_TRUE(s.ReadStop().ok());
                   }
                 })
                  .ok());
  ASSERT_EQ(write(pty.master, "xyz", 3), 3);
  loop.Run();
  EXPECT_EQ(typed, "xyz");
  WriteAndWait(loop, *tty, "raw\n");
  EXPECT_EQ(pty.ReadMaster(5), "raw\r\n");

  // IO: binary-safe, no output processing.
  ASSERT_TRUE(tty->SetMode(TtyMode::kIo).ok());
  EXPECT_FALSE(Attributes(*tty).c_oflag & OPOST);
  WriteAndWait(loop, *tty, "io\n");
  EXPECT_EQ(pty.ReadMaster(3), "io\n");

  // Back to normal, then raw again and ResetMode.
  ASSERT_TRUE(tty->SetMode(TtyMode::kNormal).ok());
  EXPECT_TRUE(Attributes(*tty).c_lflag & ICANON);
  EXPECT_TRUE(Attributes(*tty).c_oflag & OPOST);
  ASSERT_TRUE(tty->SetMode(TtyMode::kRaw).ok());
  EXPECT_FALSE(Attributes(*tty).c_lflag & ICANON);
  ASSERT_TRUE(Tty::ResetMode().ok());
  EXPECT_TRUE(Attributes(*tty).c_lflag & ICANON);
  EXPECT_TRUE(Attributes(*tty).c_lflag & ECHO);

  // The handle owns the fd it uses.
  tty.reset();
  loop.Run();
  EXPECT_EQ(fcntl(used, F_GETFD), -1);
  Finish(loop);
}

TEST(TtyTest, WindowSizeSetOnTheMaster) {
  Loop loop;
  Pty pty;
  winsize ws = {};
  ws.ws_col = 80;
  ws.ws_row = 24;
  ASSERT_EQ(ioctl(pty.master, TIOCSWINSZ, &ws), 0);
  auto tty = *Tty::Create(loop, pty.slave, /*readable=*/false);
  absl::StatusOr<WinSize> size = tty->GetWinSize();
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(size->width, 80);
  EXPECT_EQ(size->height, 24);
  ws.ws_col = 132;
  ws.ws_row = 50;
  ASSERT_EQ(ioctl(pty.master, TIOCSWINSZ, &ws), 0);
  size = tty->GetWinSize();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(size->width, 132);
  EXPECT_EQ(size->height, 50);
  tty.reset();
  Finish(loop);
}

TEST(TtyTest, NonTerminalsAndBadFdsAreClearErrors) {
  Loop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  absl::StatusOr<HandlePtr<Tty>> not_tty = Tty::Create(loop, fds[0], true);
  EXPECT_FALSE(not_tty.ok());
  EXPECT_TRUE(Contains(not_tty.status(), "ENOTTY")) << not_tty.status();
  EXPECT_TRUE(Contains(not_tty.status(), "tty init fd")) << not_tty.status();
  // The fd is left alone.
  EXPECT_NE(fcntl(fds[0], F_GETFD), -1);
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(Contains(Tty::Create(loop, -1, true).status(), "EBADF"));
  EXPECT_TRUE(Contains(Tty::Create(loop, fds[0], true).status(), "EBADF"));
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  ASSERT_GE(null_fd, 0);
  EXPECT_TRUE(Contains(Tty::Create(loop, null_fd, true).status(), "ENOTTY"));
  close(null_fd);
  Finish(loop);
}

TEST(TtyTest, ClosedTtyRefusesOperations) {
  Loop loop;
  Pty pty;
  auto tty = *Tty::Create(loop, pty.slave, true);
  ASSERT_TRUE(tty->Close().ok());
  EXPECT_EQ(tty->SetMode(TtyMode::kRaw).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tty->GetWinSize().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tty->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  loop.Run();
  tty.reset();
  Finish(loop);
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
