#include "runtime/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

using testing::CountersDelta;
using testing::NewLoop;
using testing::PoolBlocker;
using testing::RunTask;

// TempDir is a fresh directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tpl =
        absl::StrCat(base != nullptr ? base : "/tmp", "/io_file_XXXXXX");
    char* made = ::mkdtemp(tpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool FdOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// ThreadInRead returns whether a thread of this process is blocked in
// read(2) on `fd` (Linux: /proc/self/task/<tid>/syscall).
bool ThreadInRead(int fd) {
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "syscall");
    long nr = -1;
    std::string arg0;
    if (in >> nr >> arg0 && nr == SYS_read &&
        std::strtoul(arg0.c_str(), nullptr, 16) ==
            static_cast<unsigned long>(fd)) {
      return true;
    }
  }
  return false;
}

TEST(FileTest, WriteReadStatClose) {
  auto el = NewLoop();
  TempDir dir;
  std::string path = dir / "a.txt";
  std::string all, at, past_end;
  uint64_t size = 0;
  absl::Status after_close, close_twice;
  RunTask(*el, [&] {
    auto f = File::Open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->path(), path);
    EXPECT_GE((*f)->fd(), 0);
    ASSERT_TRUE((*f)->Write("hello ").ok());
    ASSERT_TRUE((*f)->Write("world").ok());
    ASSERT_TRUE((*f)->WriteAt("W", 6).ok());  // no seek
    ASSERT_TRUE((*f)->Sync().ok());
    auto st = (*f)->Stat();
    ASSERT_TRUE(st.ok()) << st.status();
    size = st->size;
    auto a = (*f)->ReadAt(5, 6);
    ASSERT_TRUE(a.ok()) << a.status();
    at = *a;
    auto e = (*f)->ReadAt(10, 100);
    ASSERT_TRUE(e.ok()) << e.status();
    past_end = *e;
    // Sequential reads from the start, through a second descriptor.
    auto g = File::Open(path, O_RDONLY);
    ASSERT_TRUE(g.ok()) << g.status();
    while (true) {
      auto r = (*g)->Read(4);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->empty()) break;  // end of file
      all += *r;
    }
    ASSERT_TRUE((*f)->Close().ok());
    EXPECT_EQ((*f)->fd(), -1);
    close_twice = (*f)->Close();
    after_close = (*f)->Read(1).status();
  });
  EXPECT_EQ(size, 11u);
  EXPECT_EQ(all, "hello World");
  EXPECT_EQ(at, "World");
  EXPECT_EQ(past_end, "");
  EXPECT_TRUE(close_twice.ok());
  EXPECT_EQ(after_close.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(after_close.message(), "read " + path + ": file closed");
}

TEST(FileTest, LargeWriteAndReadBack) {
  auto el = NewLoop();
  TempDir dir;
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 131) % 253);
  }
  std::string back;
  RunTask(*el, [&] {
    auto f = File::Open(dir / "big", O_RDWR | O_CREAT, 0600);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->WriteAt(data, 0).ok());
    int64_t off = 0;
    while (true) {
      auto r = (*f)->ReadAt(1 << 20, off);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->empty()) break;
      off += static_cast<int64_t>(r->size());
      back += *r;
    }
  });
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
}

TEST(FileTest, ErrorsNameTheOperationAndPath) {
  auto el = NewLoop();
  TempDir dir;
  std::string missing = dir / "missing";
  absl::Status open_missing, read_dir, negative, outside;
  RunTask(*el, [&] {
    open_missing = File::Open(missing, O_RDONLY).status();
    auto d = File::Open(dir.path(), O_RDONLY);
    ASSERT_TRUE(d.ok()) << d.status();
    read_dir = (*d)->Read(10).status();
    negative = (*d)->ReadAt(10, -5).status();
  });
  outside = File::Open(missing, O_RDONLY).status();
  EXPECT_EQ(open_missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(open_missing.message(),
            "open " + missing + ": ENOENT (no such file or directory)");
  EXPECT_EQ(read_dir.message(), "read " + dir.path() +
                                    ": EISDIR (illegal operation on a "
                                    "directory)");
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(outside.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(outside.message(), "open " + missing + ": not in a task");
}

TEST(FileTest, FilesystemCalls) {
  auto el = NewLoop();
  TempDir dir;
  std::string sub = dir / "sub";
  std::vector<DirEntry> entries;
  absl::Status mkdir_again, unlink_missing, stat_gone, rmdir_full;
  bool is_dir = false;
  RunTask(*el, [&] {
    ASSERT_TRUE(Mkdir(sub, 0755).ok());
    mkdir_again = Mkdir(sub);
    auto st = Stat(sub);
    ASSERT_TRUE(st.ok()) << st.status();
    is_dir = S_ISDIR(st->mode);
    for (const char* name : {"b", "a", "c"}) {
      auto f = File::Open(sub + "/" + name, O_WRONLY | O_CREAT, 0600);
      ASSERT_TRUE(f.ok()) << f.status();
      ASSERT_TRUE((*f)->Close().ok());
    }
    ASSERT_TRUE(Mkdir(sub + "/d").ok());
    ASSERT_TRUE(Rename(sub + "/c", sub + "/renamed").ok());
    auto e = Scandir(sub);
    ASSERT_TRUE(e.ok()) << e.status();
    entries = *e;
    rmdir_full = Rmdir(sub);
    ASSERT_TRUE(Unlink(sub + "/a").ok());
    unlink_missing = Unlink(sub + "/a");
    stat_gone = Stat(sub + "/a").status();
  });
  EXPECT_TRUE(is_dir);
  EXPECT_EQ(mkdir_again.message(),
            "mkdir " + sub + ": EEXIST (file already exists)");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[1].name, "b");
  EXPECT_EQ(entries[2].name, "d");
  EXPECT_EQ(entries[2].type, loop::fs::EntryType::kDir);
  EXPECT_EQ(entries[3].name, "renamed");
  EXPECT_EQ(entries[3].type, loop::fs::EntryType::kFile);
  EXPECT_EQ(rmdir_full.code(), absl::StatusCode::kFailedPrecondition)
      << rmdir_full;  // ENOTEMPTY
  EXPECT_EQ(unlink_missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stat_gone.code(), absl::StatusCode::kNotFound);
}

// Cancellation: a request still queued is cancelled (nothing done).

TEST(FileCancelTest, KillDuringQueuedReadCancelsItFileStaysUsable) {
  auto el = NewLoop();
  TempDir dir;
  CountersDelta counters;
  std::string later;
  bool returned = false;
  RunTask(*el, [&] {
    auto f = File::Open(dir / "x", O_RDWR | O_CREAT, 0600);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Write("content").ok());
    PoolBlocker blocker(el->io());
    ASSERT_TRUE(blocker.WaitAllRunning());
    auto reader = Task::Spawn([&] {
      (void)(*f)->ReadAt(100, 0);
      returned = true;
    });
    ASSERT_TRUE(reader.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*reader)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*reader)->Kill().ok());
    EXPECT_EQ(counters.abandoned(), 1u);
    blocker.Release();
    auto r = (*f)->ReadAt(100, 0);
    ASSERT_TRUE(r.ok()) << r.status();
    later = *r;
    EXPECT_EQ(counters.late_callbacks(), 1u);
    EXPECT_EQ(counters.cancelled(), 1u);
    ASSERT_TRUE((*f)->Close().ok());
  });
  EXPECT_FALSE(returned);
  EXPECT_EQ(later, "content");
  EXPECT_EQ(counters.cancelled(), 1u);
}

TEST(FileCancelTest, TimeoutDuringQueuedMkdirAndOpenDoesNothing) {
  auto el = NewLoop();
  TempDir dir;
  CountersDelta counters;
  absl::Status mkdir_scope, open_scope, stat_dir, stat_file;
  RunTask(*el, [&] {
    PoolBlocker blocker(el->io());
    ASSERT_TRUE(blocker.WaitAllRunning());
    mkdir_scope = WithTimeout(absl::Milliseconds(10),
                              [&] { (void)Mkdir(dir / "never"); });
    open_scope = WithTimeout(absl::Milliseconds(10), [&] {
      (void)File::Open(dir / "never.txt", O_WRONLY | O_CREAT, 0600);
    });
    blocker.Release();
    stat_dir = Stat(dir / "never").status();
    stat_file = Stat(dir / "never.txt").status();
  });
  EXPECT_EQ(mkdir_scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(open_scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(stat_dir.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stat_file.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(counters.abandoned(), 2u);
  EXPECT_EQ(counters.cancelled(), 2u);
}

// A request already running cannot be cancelled: reading an empty FIFO
// blocks a pool thread. The killed task unwinds at once; the descriptor is
// closed only after the read finished.
TEST(FileCancelTest, KillDuringRunningReadDefersTheClose) {
  auto el = NewLoop();
  TempDir dir;
  std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (bool use_close : {true, false}) {
    SCOPED_TRACE(use_close ? "Close" : "destructor");
    CountersDelta counters;
    int fd = -1;
    bool open_while_running = false;
    bool returned = false;
    RunTask(*el, [&] {
      auto f = File::Open(fifo, O_RDWR);
      ASSERT_TRUE(f.ok()) << f.status();
      fd = (*f)->fd();
      int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      ASSERT_GE(writer, 0);
      auto reader = Task::Spawn([&] {
        (void)(*f)->Read(10);
        returned = true;
      });
      ASSERT_TRUE(reader.ok());
      // Wait until a pool thread runs the read (blocked on the empty FIFO).
      bool running = false;
      for (int i = 0; i < 5000 && !running; ++i) {
        ASSERT_TRUE(Sleep(absl::Milliseconds(1)).ok());
        running = ThreadInRead(fd);
      }
      ASSERT_TRUE(running);
      ASSERT_TRUE((*reader)->Kill().ok());
      EXPECT_EQ(counters.abandoned(), 1u);
      if (use_close) {
        EXPECT_TRUE((*f)->Close().ok());
      } else {
        f->reset();
      }
      open_while_running = FdOpen(fd);
      // Unblock the read; its callback closes the descriptor.
      ASSERT_EQ(::write(writer, "x", 1), 1);
      ::close(writer);
    });
    EXPECT_FALSE(returned);
    EXPECT_TRUE(open_while_running);
    EXPECT_EQ(counters.late_callbacks(), 1u);
    EXPECT_EQ(counters.cancelled(), 0u);
    EXPECT_FALSE(FdOpen(fd));
  }
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
