#include "loop/fs_poll.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// Watchdog fails the test and stops the loop if it runs for more than 10 s;
// unreferenced, so it never keeps the loop alive by itself.
HandlePtr<Timer> Watchdog(Loop& loop) {
  HandlePtr<Timer> t = Timer::Create(loop);
  EXPECT_TRUE(t->Start(10'000, 0, [&loop](Timer&) {
                 ADD_FAILURE() << "watchdog: the test hung";
                 loop.Stop();
               }).ok());
  t->Unref();
  return t;
}

// TempDir is a fresh folder under $TEST_TMPDIR, removed with `file` in it.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl =
        std::string(base != nullptr ? base : "/tmp") + "/fs_poll_XXXXXX";
    EXPECT_NE(mkdtemp(&tmpl[0]), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    unlink(file().c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file() const { return path_ + "/file"; }
  void Append(const std::string& data) {
    int fd = open(file().c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, data.data(), data.size()),
              static_cast<ssize_t>(data.size()));
    close(fd);
  }

 private:
  std::string path_;
};

TEST(FsPollTest, ReportsASizeChange) {
  Loop loop;
  auto dog = Watchdog(loop);
  TempDir dir;
  dir.Append("a");
  struct stat st;
  ASSERT_EQ(stat(dir.file().c_str(), &st), 0);
  auto poll = FsPoll::Create(loop);
  ASSERT_TRUE(poll.ok()) << poll.status();
  EXPECT_EQ((*poll)->TypeName(), "fs_poll");
  auto grower = Timer::Create(loop);
  int changes = 0;
  PolledStat before;
  PolledStat after;
  ASSERT_TRUE((*poll)
                  ->Start(dir.file(), 5,
                          [&](FsPoll& p, absl::Status s, const PolledStat& prev,
                              const PolledStat& curr) {
                            ASSERT_TRUE(s.ok()) << s;
                            ++changes;
                            before = prev;
                            after = curr;
                            ASSERT_TRUE(p.Stop().ok());
                            ASSERT_TRUE(grower->Stop().ok());
                          })
                  .ok());
  absl::StatusOr<std::string> path = (*poll)->Path();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir.file());
  // Grow the file until the poll noticed (the first stat is only the
  // baseline, so a change before it would go unseen).
  ASSERT_TRUE(grower->Start(10, 10, [&](Timer&) { dir.Append("b"); }).ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(changes, 1);
  EXPECT_GE(before.size, 1u);
  EXPECT_GT(after.size, before.size);
  EXPECT_EQ(before.ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_EQ(after.ino, before.ino);
  EXPECT_TRUE(S_ISREG(after.mode));
  EXPECT_EQ(after.mode & 0777, 0600u);
  EXPECT_GE(after.mtime_sec, before.mtime_sec);
  EXPECT_GT(after.mtime_sec, 0);
  poll->reset();
  grower.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsPollTest, MissingThenCreatedThenRemoved) {
  Loop loop;
  auto dog = Watchdog(loop);
  TempDir dir;
  auto poll = FsPoll::Create(loop);
  ASSERT_TRUE(poll.ok());
  int calls = 0;
  int closed = 0;
  ASSERT_TRUE(
      (*poll)
          ->Start(dir.file(), 5,
                  [&](FsPoll& p, absl::Status s, const PolledStat& prev,
                      const PolledStat& curr) {
                    ++calls;
                    if (calls == 1) {  // missing from the start
                      EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
                      EXPECT_EQ(s.message(),
                                "fs poll " + dir.file() +
                                    ": ENOENT (no such file or directory)");
                      EXPECT_EQ(prev.size, 0u);
                      EXPECT_EQ(prev.ino, 0u);
                      EXPECT_EQ(curr.ino, 0u);
                      dir.Append("abc");
                    } else if (calls == 2) {  // created
                      ASSERT_TRUE(s.ok()) << s;
                      EXPECT_EQ(prev.ino, 0u);
                      EXPECT_EQ(curr.size, 3u);
                      EXPECT_NE(curr.ino, 0u);
                      EXPECT_TRUE(S_ISREG(curr.mode));
                      ASSERT_EQ(unlink(dir.file().c_str()), 0);
                    } else {  // removed: the last good stat as prev
                      EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
                      EXPECT_EQ(prev.size, 3u);
                      EXPECT_EQ(curr.size, 0u);
                      EXPECT_EQ(curr.ino, 0u);
                      ASSERT_TRUE(p.Close([&](Handle&) { ++closed; }).ok());
                    }
                  })
          .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(closed, 1);
  poll->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsPollTest, RestartWaitsForTheStoppedPoll) {
  Loop loop;
  auto dog = Watchdog(loop);
  TempDir dir;
  dir.Append("x");
  auto poll = FsPoll::Create(loop);
  ASSERT_TRUE(poll.ok());
  auto noop = [](FsPoll&, absl::Status, const PolledStat&, const PolledStat&) {
  };
  ASSERT_TRUE((*poll)->Start(dir.file(), 1000, noop).ok());
  // Its first stat is in flight: restarting now would make libuv abort.
  ASSERT_TRUE((*poll)->Stop().ok());
  EXPECT_FALSE((*poll)->Path().ok());
  absl::Status s = (*poll)->Start(dir.path(), 1000, noop);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "fs poll start " + dir.path() +
                             ": EBUSY (resource busy or locked); the previous "
                             "poll is still stopping, retry once the loop ran");
  // Retry from a timer until the stopped poll wound down.
  auto retry = Timer::Create(loop);
  int attempts = 0;
  bool restarted = false;
  ASSERT_TRUE(retry
                  ->Start(0, 1,
                          [&](Timer& t) {
                            ++attempts;
                            absl::Status again =
                                (*poll)->Start(dir.path(), 1000, noop);
                            if (!again.ok()) {
                              EXPECT_EQ(again.code(),
                                        absl::StatusCode::kFailedPrecondition);
                              return;
                            }
                            restarted = true;
                            ASSERT_TRUE(t.Stop().ok());
                            EXPECT_EQ(*(*poll)->Path(), dir.path());
                            ASSERT_TRUE((*poll)->Close().ok());
                          })
                  .ok());
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(restarted);
  EXPECT_GE(attempts, 1);
  poll->reset();
  retry.reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsPollTest, BadArgumentsAndClosedHandle) {
  Loop loop;
  TempDir dir;
  auto poll = FsPoll::Create(loop);
  ASSERT_TRUE(poll.ok());
  auto noop = [](FsPoll&, absl::Status, const PolledStat&, const PolledStat&) {
  };
  EXPECT_EQ((*poll)->Path().status().message(),
            "fs poll path: EINVAL (invalid argument)");
  EXPECT_EQ((*poll)->Start(dir.file(), 10, nullptr).message(),
            "fs poll start " + dir.file() + ": EINVAL (invalid argument)");
  EXPECT_EQ((*poll)->Start(absl::string_view("a\0b", 3), 10, noop).message(),
            "fs poll start a\\000b: EINVAL (invalid argument)");
  EXPECT_FALSE((*poll)->IsActive());
  ASSERT_TRUE((*poll)->Start(dir.file(), 10, noop).ok());
  EXPECT_TRUE((*poll)->IsActive());
  absl::Status s = (*poll)->Start(dir.path(), 10, noop);
  EXPECT_EQ(s.message(), "fs poll start " + dir.path() +
                             ": EBUSY (resource busy or locked)");
  EXPECT_EQ(*(*poll)->Path(), dir.file());  // unchanged
  ASSERT_TRUE((*poll)->Close().ok());
  EXPECT_EQ((*poll)->Start(dir.file(), 10, noop).message(),
            "fs poll start " + dir.file() + ": handle is closing");
  EXPECT_EQ((*poll)->Stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*poll)->Path().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(loop.Run());  // the close waits for the stat in flight
  poll->reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
