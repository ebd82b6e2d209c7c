#include "runtime/io/tty.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
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
using testing::RunTask;

// Pty is a pseudo-terminal: the master end stays with the test (plain
// POSIX calls), the slave end is given to a TtyStream.
class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(master_, 0);
    EXPECT_EQ(::grantpt(master_), 0);
    EXPECT_EQ(::unlockpt(master_), 0);
  }
  ~Pty() {
    if (master_ >= 0) ::close(master_);
  }
  int OpenSlave() const {
    const char* name = ::ptsname(master_);
    EXPECT_NE(name, nullptr);
    return name == nullptr ? -1 : ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  int master() const { return master_; }
  // ReadMaster reads what the slave side wrote, waiting 5 s at most.
  std::string ReadMaster(size_t n) const {
    std::string out;
    while (out.size() < n) {
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) break;
      char buf[256];
      ssize_t r = ::read(master_, buf, sizeof(buf));
      if (r <= 0) break;
      out.append(buf, static_cast<size_t>(r));
    }
    return out;
  }
  bool WriteMaster(const std::string& s) const {
    return ::write(master_, s.data(), s.size()) ==
           static_cast<ssize_t>(s.size());
  }

 private:
  int master_ = -1;
};

TEST(TtyTest, NotATerminalAndBadFdAreErrors) {
  auto el = NewLoop();
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto s = TtyStream::Open(fds[0]);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "tty open fd"))
      << s.status();
  ::close(fds[0]);
  ::close(fds[1]);
  auto bad = TtyStream::Open(-1);
  EXPECT_FALSE(bad.ok());
}

TEST(TtyTest, ReadLineWriteAndWindowSize) {
  auto el = NewLoop();
  Pty pty;
  winsize ws = {};
  ws.ws_col = 100;
  ws.ws_row = 30;
  ASSERT_EQ(::ioctl(pty.master(), TIOCSWINSZ, &ws), 0);
  std::string line;
  std::string echoed;
  loop::WinSize size;
  RunTask(*el, [&] {
    auto tty = TtyStream::Open(pty.OpenSlave());
    ASSERT_TRUE(tty.ok()) << tty.status();
    // Binary-safe raw mode: no echo, no line editing, no "\r\n".
    ASSERT_TRUE((*tty)->SetMode(loop::TtyMode::kIo).ok());
    auto sz = (*tty)->WinSize();
    ASSERT_TRUE(sz.ok()) << sz.status();
    size = *sz;
    ASSERT_TRUE(pty.WriteMaster("typed line\nrest"));
    auto l = (*tty)->ReadLine(64);
    ASSERT_TRUE(l.ok()) << l.status();
    line = *l;
    ASSERT_TRUE((*tty)->Write("shown\n").ok());
    ASSERT_TRUE((*tty)->Drain().ok());
    echoed = pty.ReadMaster(6);
    EXPECT_TRUE(TtyStream::ResetMode().ok());
  });
  EXPECT_EQ(size.width, 100);
  EXPECT_EQ(size.height, 30);
  EXPECT_EQ(line, "typed line\n");
  EXPECT_EQ(echoed, "shown\n");
}

TEST(TtyCancelTest, TimeoutAndKillDuringReadStopReadingKeepTheStream) {
  auto el = NewLoop();
  Pty pty;
  absl::Status scope;
  bool killed = false;
  std::string after;
  RunTask(*el, [&] {
    auto tty = TtyStream::Open(pty.OpenSlave());
    ASSERT_TRUE(tty.ok()) << tty.status();
    ASSERT_TRUE((*tty)->SetMode(loop::TtyMode::kIo).ok());
    scope =
        WithTimeout(absl::Milliseconds(10), [&] { (void)(*tty)->ReadSome(); });
    EXPECT_FALSE((*tty)->handle().IsReading());
    auto reader = Task::Spawn([&] { (void)(*tty)->ReadSome(); });
    ASSERT_TRUE(reader.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*reader)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*reader)->Kill().ok());
    killed = (*reader)->killed();
    EXPECT_FALSE((*tty)->handle().IsReading());
    ASSERT_TRUE(pty.WriteMaster("abc"));
    auto r = (*tty)->ReadExactly(3);
    ASSERT_TRUE(r.ok()) << r.status();
    after = *r;
    EXPECT_TRUE(TtyStream::ResetMode().ok());
  });
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(killed);
  EXPECT_EQ(after, "abc");
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
