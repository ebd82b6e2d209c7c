#include "loop/fs_event.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
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

// TempDir is a fresh folder under $TEST_TMPDIR, removed with its files.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl =
        std::string(base != nullptr ? base : "/tmp") + "/fs_event_XXXXXX";
    EXPECT_NE(mkdtemp(&tmpl[0]), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    for (const std::string& f : files_) unlink(Join(f).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  // Write creates or appends to `name`.
  void Write(const std::string& name, const std::string& data) {
    files_.insert(name);
    int fd = open(Join(name).c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, data.data(), data.size()),
              static_cast<ssize_t>(data.size()));
    close(fd);
  }
  void Rename(const std::string& from, const std::string& to) {
    files_.insert(to);
    ASSERT_EQ(rename(Join(from).c_str(), Join(to).c_str()), 0);
  }

 private:
  std::string path_;
  std::set<std::string> files_;
};

struct Event {
  std::string name;
  int events;
};

TEST(FsEventTest, CreateModifyRenameInAFolder) {
  Loop loop;
  auto dog = Watchdog(loop);
  TempDir dir;
  auto watcher = FsEvent::Create(loop);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ((*watcher)->TypeName(), "fs_event");
  std::vector<Event> seen;
  bool wrote = false;
  bool renamed = false;
  bool created_b = false;
  ASSERT_TRUE(
      (*watcher)
          ->Start(dir.path(), 0,
                  [&](FsEvent& w, absl::string_view name, int events,
                      absl::Status s) {
                    ASSERT_TRUE(s.ok()) << s;
                    seen.push_back({std::string(name), events});
                    // Each step once the previous one was seen.
                    if (name == "a.txt" && (events & FsEvent::kRename) &&
                        !wrote) {
                      wrote = true;
                      dir.Write("a.txt", "more");
                    } else if (name == "a.txt" && (events & FsEvent::kChange) &&
                               wrote && !renamed) {
                      renamed = true;
                      dir.Rename("a.txt", "b.txt");
                    } else if (name == "b.txt" && (events & FsEvent::kRename)) {
                      created_b = true;
                      (void)w.Close();
                    }
                  })
          .ok());
  absl::StatusOr<std::string> path = (*watcher)->Path();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir.path());
  dir.Write("a.txt", "");  // created after Start: reported
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(wrote);
  EXPECT_TRUE(renamed);
  EXPECT_TRUE(created_b);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0].name, "a.txt");
  EXPECT_EQ(seen[0].events, FsEvent::kRename);
  watcher->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsEventTest, WatchAFileStopAndRestart) {
  Loop loop;
  auto dog = Watchdog(loop);
  TempDir dir;
  dir.Write("f", "x");
  dir.Write("g", "x");
  auto watcher = FsEvent::Create(loop);
  ASSERT_TRUE(watcher.ok());
  std::vector<Event> seen;
  auto record_and_stop = [&](FsEvent& w, absl::string_view name, int events,
                             absl::Status s) {
    ASSERT_TRUE(s.ok()) << s;
    seen.push_back({std::string(name), events});
    ASSERT_TRUE(w.Stop().ok());
  };
  ASSERT_TRUE((*watcher)->Start(dir.Join("f"), 0, record_and_stop).ok());
  dir.Write("f", "y");
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "f");  // a watched file reports its base name
  EXPECT_EQ(seen[0].events, FsEvent::kChange);
  EXPECT_FALSE((*watcher)->IsActive());
  EXPECT_EQ((*watcher)->Path().status().message(),
            "fs event path: EINVAL (invalid argument)");

  // Restart on another path; kRecursive is accepted (ignored on Linux).
  ASSERT_TRUE((*watcher)
                  ->Start(dir.Join("g"), FsEvent::kRecursive, record_and_stop)
                  .ok());
  EXPECT_EQ(*(*watcher)->Path(), dir.Join("g"));
  dir.Write("f", "z");  // no longer watched
  dir.Write("g", "z");
  EXPECT_FALSE(loop.Run());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].name, "g");
  watcher->reset();
  dog.reset();
  EXPECT_FALSE(loop.Run());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsEventTest, LongPath) {
  Loop loop;
  TempDir dir;
  // Longer than Path()'s first guess of 256 bytes.
  std::string name(200, 'n');
  std::string long_path = dir.path() + "/" + name + "/../" + name;
  ASSERT_EQ(mkdir(dir.Join(name).c_str(), 0700), 0);
  auto watcher = FsEvent::Create(loop);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE((*watcher)
                  ->Start(long_path, 0,
                          [](FsEvent&, absl::string_view, int, absl::Status) {})
                  .ok());
  absl::StatusOr<std::string> path = (*watcher)->Path();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, long_path);
  watcher->reset();
  EXPECT_FALSE(loop.Run());
  rmdir(dir.Join(name).c_str());
  EXPECT_TRUE(loop.Close().ok());
}

TEST(FsEventTest, BadArgumentsAreErrors) {
  Loop loop;
  TempDir dir;
  auto watcher = FsEvent::Create(loop);
  ASSERT_TRUE(watcher.ok());
  auto noop = [](FsEvent&, absl::string_view, int, absl::Status) {};
  std::string missing = dir.Join("missing");
  absl::Status s = (*watcher)->Start(missing, 0, noop);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "fs event start " + missing +
                             ": ENOENT (no such file or directory)");
  EXPECT_FALSE((*watcher)->IsActive());
  EXPECT_EQ((*watcher)->Start("", 0, noop).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*watcher)->Start(dir.path(), 0, nullptr).message(),
            "fs event start " + dir.path() + ": EINVAL (invalid argument)");
  EXPECT_EQ((*watcher)->Start(dir.path(), 64, noop).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      (*watcher)->Start(absl::string_view("/tmp\0x", 6), 0, noop).message(),
      "fs event start /tmp\\000x: EINVAL (invalid argument)");
  ASSERT_TRUE((*watcher)->Start(dir.path(), 0, noop).ok());
  s = (*watcher)->Start(dir.path(), 0, noop);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "fs event start " + dir.path() +
                             ": EBUSY (resource busy or locked)");
  ASSERT_TRUE((*watcher)->Stop().ok());
  ASSERT_TRUE((*watcher)->Stop().ok());  // stopping twice is fine
  ASSERT_TRUE((*watcher)->Close().ok());
  EXPECT_EQ((*watcher)->Start(dir.path(), 0, noop).message(),
            "fs event start " + dir.path() + ": handle is closing");
  EXPECT_EQ((*watcher)->Stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*watcher)->Path().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(loop.Run());
  watcher->reset();
  EXPECT_TRUE(loop.Close().ok());
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
