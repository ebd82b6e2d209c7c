#include "loop/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace evergreen {
namespace loop {
namespace {

// The cancel test saturates the thread pool with this many blocked reads;
// set before main, so before libuv sizes its pool on first use.
constexpr int kPoolSize = 4;
const bool kPoolSized = [] {
  return setenv("UV_THREADPOOL_SIZE", "4", /*overwrite=*/1) == 0;
}();

using absl::StatusCode;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// FdCloser closes a descriptor on scope exit unless released first.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kPoolSized);
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tpl =
        absl::StrCat(base != nullptr ? base : "/tmp", "/fs_test.XXXXXX");
    ASSERT_NE(::mkdtemp(&tpl[0]), nullptr);
    dir_ = tpl;
    watchdog_ = Timer::Create(loop_);
    ASSERT_TRUE(watchdog_
                    ->Start(10'000, 0,
                            [this](Timer&) {
                              ADD_FAILURE() << "watchdog: test took > 10 s";
                              loop_.Stop();
                            })
                    .ok());
    watchdog_->Unref();  // fires only while requests keep the loop running
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // CloseLoop ends a test: nothing left, the loop closes cleanly.
  void CloseLoop() {
    watchdog_.reset();
    EXPECT_FALSE(loop_.Run());
    EXPECT_TRUE(loop_.Close().ok());
  }

  std::string P(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // Await starts one request through `start`, runs the loop and returns the
  // finished request, checking that its callback ran exactly once.
  std::shared_ptr<FsRequest> Await(
      const std::function<fs::RequestOr(FsCallback)>& start) {
    int calls = 0;
    FsRequest* seen = nullptr;
    fs::RequestOr r = start([&](FsRequest& req) {
      ++calls;
      seen = &req;
      EXPECT_FALSE(req.status().ok() && req.result() < 0);
    });
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return nullptr;
    EXPECT_TRUE((*r)->InFlight());
    loop_.Run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seen, r->get());
    EXPECT_FALSE((*r)->InFlight());
    EXPECT_EQ((*r)->TypeName(), "fs");
    return *r;
  }

  Loop loop_;
  HandlePtr<Timer> watchdog_;
  std::string dir_;
};

#define EXPECT_OK(expr)                          \
  do {                                           \
    const absl::Status s_ = (expr);              \
    EXPECT_TRUE(s_.ok()) << #expr << ": " << s_; \
  } while (0)

TEST_F(FsTest, OpenWriteReadFstatCloseAsync) {
  const std::string path = P("file");
  auto open = Await([&](FsCallback cb) {
    return fs::Open(loop_, path, O_RDWR | O_CREAT | O_EXCL, 0644,
                    std::move(cb));
  });
  ASSERT_NE(open, nullptr);
  EXPECT_OK(open->status());
  EXPECT_EQ(open->path(), path);
  const int fd = open->fd();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(open->result(), fd);

  auto write = Await([&](FsCallback cb) {
    return fs::Write(loop_, fd, "hello world", 0, std::move(cb));
  });
  EXPECT_OK(write->status());
  EXPECT_EQ(write->result(), 11);
  EXPECT_EQ(write->data(), "hello world");
  EXPECT_EQ(Slurp(path), "hello world");

  auto pread = Await([&](FsCallback cb) {
    return fs::Read(loop_, fd, 100, 6, std::move(cb));
  });
  EXPECT_OK(pread->status());
  EXPECT_EQ(pread->data(), "world");
  EXPECT_EQ(pread->result(), 5);

  // pwrite and pread left the position at 0: -1 reads from there.
  auto read = Await(
      [&](FsCallback cb) { return fs::Read(loop_, fd, 5, -1, std::move(cb)); });
  EXPECT_EQ(read->data(), "hello");
  auto append = Await([&](FsCallback cb) {
    return fs::Write(loop_, fd, "HELLO", -1, std::move(cb));
  });
  EXPECT_EQ(append->result(), 5);
  EXPECT_EQ(Slurp(path), "helloHELLOd");

  auto eof = Await([&](FsCallback cb) {
    return fs::Read(loop_, fd, 10, 11, std::move(cb));
  });
  EXPECT_OK(eof->status());
  EXPECT_EQ(eof->result(), 0);
  EXPECT_EQ(eof->data(), "");

  auto fstat =
      Await([&](FsCallback cb) { return fs::Fstat(loop_, fd, std::move(cb)); });
  EXPECT_OK(fstat->status());
  EXPECT_EQ(fstat->stat().size, 11u);
  EXPECT_TRUE(S_ISREG(fstat->stat().mode));
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(fstat->stat().mode & 0777, 0644u & ~mask);

  auto close =
      Await([&](FsCallback cb) { return fs::Close(loop_, fd, std::move(cb)); });
  EXPECT_OK(close->status());
  EXPECT_EQ(close->fd(), -1);
  CloseLoop();
}

TEST_F(FsTest, OpenWriteReadFstatCloseSync) {
  const std::string path = P("file");
  absl::StatusOr<int> fd =
      fs::OpenSync(loop_, path, O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_TRUE(fd.ok()) << fd.status();
  absl::StatusOr<size_t> n = fs::WriteSync(loop_, *fd, "hello world", 0);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 11u);
  absl::StatusOr<std::string> data = fs::ReadSync(loop_, *fd, 100, 6);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "world");
  data = fs::ReadSync(loop_, *fd, 5, -1);
  EXPECT_EQ(*data, "hello");
  data = fs::ReadSync(loop_, *fd, 5, 11);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "");
  absl::StatusOr<fs::FileStat> st = fs::FstatSync(loop_, *fd);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 11u);
  EXPECT_EQ(st->mode & 0777, 0600u);
  EXPECT_OK(fs::CloseSync(loop_, *fd));
  EXPECT_EQ(Slurp(path), "hello world");
  CloseLoop();
}

TEST_F(FsTest, StatAndLstat) {
  const std::string file = P("file");
  const std::string link = P("link");
  Spit(file, "12345");
  ASSERT_EQ(::symlink(file.c_str(), link.c_str()), 0);
  auto stat = Await(
      [&](FsCallback cb) { return fs::Stat(loop_, link, std::move(cb)); });
  EXPECT_OK(stat->status());
  EXPECT_EQ(stat->result(), 0);
  EXPECT_EQ(stat->path(), link);
  EXPECT_TRUE(S_ISREG(stat->stat().mode));
  EXPECT_EQ(stat->stat().size, 5u);
  EXPECT_EQ(stat->stat().uid, ::getuid());
  EXPECT_EQ(stat->stat().nlink, 1u);
  EXPECT_GT(stat->stat().mtime, absl::UnixEpoch());
  auto lstat = Await(
      [&](FsCallback cb) { return fs::Lstat(loop_, link, std::move(cb)); });
  EXPECT_OK(lstat->status());
  EXPECT_TRUE(S_ISLNK(lstat->stat().mode));
  EXPECT_NE(lstat->stat().ino, stat->stat().ino);

  absl::StatusOr<fs::FileStat> s = fs::StatSync(loop_, link);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ino, stat->stat().ino);
  EXPECT_EQ(s->size, 5u);
  absl::StatusOr<fs::FileStat> l = fs::LstatSync(loop_, link);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(S_ISLNK(l->mode));
  CloseLoop();
}

TEST_F(FsTest, UnlinkMkdirRmdirRename) {
  Spit(P("a"), "x");
  Spit(P("b"), "y");
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Unlink(loop_, P("a"), std::move(cb));
            })->status());
  EXPECT_FALSE(Exists(P("a")));
  EXPECT_OK(fs::UnlinkSync(loop_, P("b")));
  EXPECT_FALSE(Exists(P("b")));

  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Mkdir(loop_, P("d1"), 0755, std::move(cb));
            })->status());
  EXPECT_OK(fs::MkdirSync(loop_, P("d2"), 0700));
  struct stat st;
  ASSERT_EQ(::stat(P("d2").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto rename = Await([&](FsCallback cb) {
    return fs::Rename(loop_, P("d1"), P("d3"), std::move(cb));
  });
  EXPECT_OK(rename->status());
  EXPECT_EQ(rename->path(), P("d1"));
  EXPECT_EQ(rename->new_path(), P("d3"));
  EXPECT_TRUE(Exists(P("d3")));
  EXPECT_OK(fs::RenameSync(loop_, P("d3"), P("d4")));
  EXPECT_TRUE(Exists(P("d4")));

  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Rmdir(loop_, P("d4"), std::move(cb));
            })->status());
  EXPECT_OK(fs::RmdirSync(loop_, P("d2")));
  EXPECT_FALSE(Exists(P("d2")));
  EXPECT_FALSE(Exists(P("d4")));
  CloseLoop();
}

TEST_F(FsTest, MkdtempAndMkstemp) {
  const std::string tpl = P("tmpXXXXXX");
  auto dt = Await(
      [&](FsCallback cb) { return fs::Mkdtemp(loop_, tpl, std::move(cb)); });
  EXPECT_OK(dt->status());
  EXPECT_EQ(dt->path(), tpl);
  EXPECT_TRUE(absl::StartsWith(dt->created_path(), P("tmp")));
  EXPECT_NE(dt->created_path(), tpl);
  EXPECT_TRUE(std::filesystem::is_directory(dt->created_path()));

  absl::StatusOr<std::string> sdt = fs::MkdtempSync(loop_, tpl);
  ASSERT_TRUE(sdt.ok());
  EXPECT_NE(*sdt, dt->created_path());
  EXPECT_TRUE(std::filesystem::is_directory(*sdt));

  auto st = Await(
      [&](FsCallback cb) { return fs::Mkstemp(loop_, tpl, std::move(cb)); });
  EXPECT_OK(st->status());
  ASSERT_GE(st->fd(), 0);
  FdCloser c1{st->fd()};
  EXPECT_TRUE(std::filesystem::is_regular_file(st->created_path()));
  ASSERT_EQ(::write(st->fd(), "abc", 3), 3);
  EXPECT_EQ(Slurp(st->created_path()), "abc");

  absl::StatusOr<fs::TempFile> sst = fs::MkstempSync(loop_, tpl);
  ASSERT_TRUE(sst.ok());
  FdCloser c2{sst->fd};
  EXPECT_GE(sst->fd, 0);
  EXPECT_TRUE(std::filesystem::is_regular_file(sst->path));

  // The template must end in XXXXXX.
  auto bad = Await([&](FsCallback cb) {
    return fs::Mkstemp(loop_, P("nope"), std::move(cb));
  });
  EXPECT_EQ(bad->status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad->fd(), -1);
  EXPECT_EQ(bad->created_path(), "");
  EXPECT_EQ(fs::MkdtempSync(loop_, P("nope")).status().code(),
            StatusCode::kInvalidArgument);
  CloseLoop();
}

TEST_F(FsTest, Scandir) {
  Spit(P("a"), "");
  ASSERT_EQ(::mkdir(P("b").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("a", P("c").c_str()), 0);
  const std::vector<std::pair<std::string, fs::EntryType>> want = {
      {"a", fs::EntryType::kFile},
      {"b", fs::EntryType::kDir},
      {"c", fs::EntryType::kLink}};
  auto r = Await(
      [&](FsCallback cb) { return fs::Scandir(loop_, dir_, std::move(cb)); });
  EXPECT_OK(r->status());
  EXPECT_EQ(r->result(), 3);
  ASSERT_EQ(r->entries().size(), 3u);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r->entries()[i].name, want[i].first);
    EXPECT_EQ(r->entries()[i].type, want[i].second);
  }
  absl::StatusOr<std::vector<fs::DirEntry>> s = fs::ScandirSync(loop_, dir_);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*s)[i].name, want[i].first);
    EXPECT_EQ((*s)[i].type, want[i].second);
  }
  // An empty directory: no entries, no error.
  auto empty = Await(
      [&](FsCallback cb) { return fs::Scandir(loop_, P("b"), std::move(cb)); });
  EXPECT_OK(empty->status());
  EXPECT_TRUE(empty->entries().empty());
  CloseLoop();
}

TEST_F(FsTest, OpendirReaddirClosedirAsync) {
  for (const char* n : {"a", "b", "c"}) Spit(P(n), n);
  auto open = Await(
      [&](FsCallback cb) { return fs::Opendir(loop_, dir_, std::move(cb)); });
  EXPECT_OK(open->status());
  std::shared_ptr<fs::Dir> dir = open->dir();
  ASSERT_NE(dir, nullptr);
  EXPECT_TRUE(dir->IsOpen());
  EXPECT_EQ(dir->path(), dir_);

  std::set<std::string> names;
  int rounds = 0;
  for (;;) {
    ASSERT_LT(++rounds, 10);
    int calls = 0;
    fs::RequestOr r = fs::Readdir(loop_, dir, 2, [&](FsRequest& req) {
      ++calls;
      EXPECT_EQ(req.dir(), dir);
      EXPECT_FALSE(dir->Busy());
    });
    ASSERT_TRUE(r.ok()) << r.status();
    // One request at a time per Dir.
    EXPECT_TRUE(dir->Busy());
    EXPECT_EQ(fs::Readdir(loop_, dir, 2, [](FsRequest&) {}).status().code(),
              StatusCode::kFailedPrecondition);
    EXPECT_EQ(fs::Closedir(loop_, dir, [](FsRequest&) {}).status().code(),
              StatusCode::kFailedPrecondition);
    EXPECT_EQ(fs::ReaddirSync(loop_, dir, 2).status().code(),
              StatusCode::kFailedPrecondition);
    loop_.Run();
    EXPECT_EQ(calls, 1);
    EXPECT_OK((*r)->status());
    EXPECT_LE((*r)->entries().size(), 2u);
    EXPECT_EQ((*r)->result(), static_cast<ssize_t>((*r)->entries().size()));
    if ((*r)->entries().empty()) break;
    for (const fs::DirEntry& e : (*r)->entries()) {
      EXPECT_EQ(e.type, fs::EntryType::kFile);
      EXPECT_TRUE(names.insert(e.name).second) << e.name;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "c"}));

  auto close = Await(
      [&](FsCallback cb) { return fs::Closedir(loop_, dir, std::move(cb)); });
  EXPECT_OK(close->status());
  EXPECT_FALSE(dir->IsOpen());
  absl::Status s = fs::Readdir(loop_, dir, 2, [](FsRequest&) {}).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            absl::StrCat("readdir ", dir_, ": directory is closed"));
  EXPECT_EQ(fs::ClosedirSync(loop_, dir).code(),
            StatusCode::kFailedPrecondition);
  CloseLoop();
}

TEST_F(FsTest, OpendirReaddirClosedirSync) {
  for (const char* n : {"a", "b", "c"}) Spit(P(n), n);
  absl::StatusOr<std::shared_ptr<fs::Dir>> dir = fs::OpendirSync(loop_, dir_);
  ASSERT_TRUE(dir.ok()) << dir.status();
  std::set<std::string> names;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::vector<fs::DirEntry>> batch =
        fs::ReaddirSync(loop_, *dir, 1);
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    ASSERT_EQ(batch->size(), 1u);
    names.insert((*batch)[0].name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "c"}));
  EXPECT_OK(fs::ClosedirSync(loop_, *dir));
  EXPECT_FALSE((*dir)->IsOpen());

  // Dropping an open Dir closes it (valgrind/LSan see no leaked DIR).
  absl::StatusOr<std::shared_ptr<fs::Dir>> dropped =
      fs::OpendirSync(loop_, dir_);
  ASSERT_TRUE(dropped.ok());
  ASSERT_TRUE(fs::ReaddirSync(loop_, *dropped, 1).ok());
  dropped->reset();

  EXPECT_EQ(fs::OpendirSync(loop_, P("nope")).status().code(),
            StatusCode::kNotFound);
  CloseLoop();
}

TEST_F(FsTest, ReaddirBadArguments) {
  auto dir = fs::OpendirSync(loop_, dir_);
  ASSERT_TRUE(dir.ok());
  absl::Status s = fs::Readdir(loop_, nullptr, 1, [](FsRequest&) {}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "readdir: null dir");
  s = fs::Readdir(loop_, *dir, 0, [](FsRequest&) {}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), absl::StrCat("readdir ", dir_, ": max_entries is 0"));
  EXPECT_EQ(fs::ReaddirSync(loop_, *dir, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::ReaddirSync(loop_, nullptr, 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::Closedir(loop_, nullptr, [](FsRequest&) {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::ClosedirSync(loop_, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE((*dir)->Busy());  // none of these started anything
  EXPECT_OK(fs::ClosedirSync(loop_, *dir));
  CloseLoop();
}

TEST_F(FsTest, Sendfile) {
  Spit(P("in"), "hello world");
  int in = ::open(P("in").c_str(), O_RDONLY);
  int out = ::open(P("out").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  FdCloser ci{in}, co{out};
  auto r = Await([&](FsCallback cb) {
    return fs::Sendfile(loop_, out, in, 6, 5, std::move(cb));
  });
  EXPECT_OK(r->status());
  EXPECT_EQ(r->result(), 5);
  EXPECT_EQ(Slurp(P("out")), "world");
  absl::StatusOr<size_t> n = fs::SendfileSync(loop_, out, in, 0, 100);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 11u);
  EXPECT_EQ(Slurp(P("out")), "worldhello world");
  CloseLoop();
}

TEST_F(FsTest, FsyncFdatasyncFtruncate) {
  Spit(P("f"), "0123456789");
  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Fsync(loop_, fd, std::move(cb));
            })->status());
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Fdatasync(loop_, fd, std::move(cb));
            })->status());
  EXPECT_OK(fs::FsyncSync(loop_, fd));
  EXPECT_OK(fs::FdatasyncSync(loop_, fd));
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Ftruncate(loop_, fd, 4, std::move(cb));
            })->status());
  EXPECT_EQ(Slurp(P("f")), "0123");
  EXPECT_OK(fs::FtruncateSync(loop_, fd, 2));
  EXPECT_EQ(Slurp(P("f")), "01");
  CloseLoop();
}

TEST_F(FsTest, UtimeFutimeLutime) {
  Spit(P("f"), "x");
  ASSERT_EQ(::symlink(P("f").c_str(), P("l").c_str()), 0);
  const absl::Time a1 = absl::FromUnixSeconds(1'000'000'000);
  const absl::Time m1 =
      absl::FromUnixSeconds(1'100'000'000) + absl::Milliseconds(500);
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Utime(loop_, P("l"), a1, m1, std::move(cb));
            })->status());
  auto st = fs::StatSync(loop_, P("f"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->atime, a1);
  EXPECT_EQ(st->mtime, m1);

  const absl::Time a2 = absl::FromUnixSeconds(1'200'000'000);
  const absl::Time m2 = absl::FromUnixSeconds(1'300'000'000);
  EXPECT_OK(fs::UtimeSync(loop_, P("f"), a2, m2));
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->mtime, m2);

  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Futime(loop_, fd, a1, m1, std::move(cb));
            })->status());
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->mtime, m1);
  EXPECT_OK(fs::FutimeSync(loop_, fd, a2, m2));
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->mtime, m2);

  // Lutime changes the link, not its target.
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Lutime(loop_, P("l"), a1, m1, std::move(cb));
            })->status());
  EXPECT_EQ(fs::LstatSync(loop_, P("l"))->mtime, m1);
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->mtime, m2);
  EXPECT_OK(fs::LutimeSync(loop_, P("l"), a2, a2));
  EXPECT_EQ(fs::LstatSync(loop_, P("l"))->mtime, a2);
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->mtime, m2);

  // Infinite times cannot be given to libuv.
  absl::Status s =
      fs::Utime(loop_, P("f"), absl::InfiniteFuture(), m1, [](FsRequest&) {
      }).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), absl::StrCat("utime ", P("f"), ": infinite time"));
  EXPECT_EQ(fs::FutimeSync(loop_, fd, a1, absl::InfinitePast()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::LutimeSync(loop_, P("l"), absl::InfinitePast(), a1).code(),
            StatusCode::kInvalidArgument);
  CloseLoop();
}

TEST_F(FsTest, ChmodFchmodChownFchownLchown) {
  Spit(P("f"), "x");
  ASSERT_EQ(::symlink("f", P("l").c_str()), 0);
  auto mode = [&] { return fs::StatSync(loop_, P("f"))->mode & 0777; };
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Chmod(loop_, P("f"), 0600, std::move(cb));
            })->status());
  EXPECT_EQ(mode(), 0600u);
  EXPECT_OK(fs::ChmodSync(loop_, P("f"), 0640));
  EXPECT_EQ(mode(), 0640u);
  int fd = ::open(P("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Fchmod(loop_, fd, 0604, std::move(cb));
            })->status());
  EXPECT_EQ(mode(), 0604u);
  EXPECT_OK(fs::FchmodSync(loop_, fd, 0644));
  EXPECT_EQ(mode(), 0644u);

  // Owner changes to ourselves are allowed without privileges.
  const uv_uid_t uid = ::getuid();
  const uv_gid_t gid = ::getgid();
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Chown(loop_, P("f"), uid, gid, std::move(cb));
            })->status());
  EXPECT_OK(fs::ChownSync(loop_, P("f"), uid, gid));
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Fchown(loop_, fd, uid, gid, std::move(cb));
            })->status());
  EXPECT_OK(fs::FchownSync(loop_, fd, uid, gid));
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Lchown(loop_, P("l"), uid, gid, std::move(cb));
            })->status());
  EXPECT_OK(fs::LchownSync(loop_, P("l"), uid, gid));
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->uid, uid);
  EXPECT_EQ(fs::ChownSync(loop_, P("nope"), uid, gid).code(),
            StatusCode::kNotFound);
  CloseLoop();
}

TEST_F(FsTest, LinkSymlinkReadlinkRealpath) {
  Spit(P("f"), "x");
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Link(loop_, P("f"), P("h1"), std::move(cb));
            })->status());
  EXPECT_OK(fs::LinkSync(loop_, P("f"), P("h2")));
  EXPECT_EQ(fs::StatSync(loop_, P("f"))->nlink, 3u);
  EXPECT_EQ(Slurp(P("h2")), "x");

  auto sym = Await([&](FsCallback cb) {
    return fs::Symlink(loop_, "f", P("s1"), 0, std::move(cb));
  });
  EXPECT_OK(sym->status());
  EXPECT_EQ(sym->new_path(), P("s1"));
  EXPECT_OK(fs::SymlinkSync(loop_, P("f"), P("s2"), 0));

  auto rl = Await([&](FsCallback cb) {
    return fs::Readlink(loop_, P("s1"), std::move(cb));
  });
  EXPECT_OK(rl->status());
  EXPECT_EQ(rl->link_target(), "f");
  absl::StatusOr<std::string> target = fs::ReadlinkSync(loop_, P("s2"));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, P("f"));
  EXPECT_EQ(fs::ReadlinkSync(loop_, P("f")).status().code(),
            StatusCode::kInvalidArgument);  // EINVAL: not a symlink

  char* resolved = ::realpath(P("f").c_str(), nullptr);
  ASSERT_NE(resolved, nullptr);
  const std::string want = resolved;
  std::free(resolved);
  auto rp = Await([&](FsCallback cb) {
    return fs::Realpath(loop_, P("s1"), std::move(cb));
  });
  EXPECT_OK(rp->status());
  EXPECT_EQ(rp->real_path(), want);
  absl::StatusOr<std::string> real = fs::RealpathSync(loop_, P("s2"));
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(*real, want);
  CloseLoop();
}

TEST_F(FsTest, CopyfileAccessStatfs) {
  Spit(P("f"), "contents");
  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Copyfile(loop_, P("f"), P("g"), 0, std::move(cb));
            })->status());
  EXPECT_EQ(Slurp(P("g")), "contents");
  EXPECT_OK(fs::CopyfileSync(loop_, P("f"), P("h"), 0));
  EXPECT_EQ(Slurp(P("h")), "contents");
  auto excl = Await([&](FsCallback cb) {
    return fs::Copyfile(loop_, P("f"), P("g"), UV_FS_COPYFILE_EXCL,
                        std::move(cb));
  });
  EXPECT_EQ(excl->status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(excl->status().message(),
            absl::StrCat("copyfile ", P("f"), " -> ", P("g"),
                         ": EEXIST (file already exists)"));
  EXPECT_EQ(fs::CopyfileSync(loop_, P("f"), P("h"), UV_FS_COPYFILE_EXCL).code(),
            StatusCode::kAlreadyExists);

  EXPECT_OK(Await([&](FsCallback cb) {
              return fs::Access(loop_, P("f"), R_OK | W_OK, std::move(cb));
            })->status());
  EXPECT_OK(fs::AccessSync(loop_, P("f"), F_OK));
  auto missing = Await([&](FsCallback cb) {
    return fs::Access(loop_, P("nope"), F_OK, std::move(cb));
  });
  EXPECT_EQ(missing->status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs::AccessSync(loop_, P("f"), X_OK).code(),
            StatusCode::kPermissionDenied);

  auto sfs = Await(
      [&](FsCallback cb) { return fs::Statfs(loop_, dir_, std::move(cb)); });
  EXPECT_OK(sfs->status());
  EXPECT_GT(sfs->statfs().bsize, 0u);
  EXPECT_GT(sfs->statfs().blocks, 0u);
  absl::StatusOr<fs::StatFs> s = fs::StatfsSync(loop_, dir_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->bsize, sfs->statfs().bsize);
  EXPECT_EQ(s->type, sfs->statfs().type);
  EXPECT_EQ(fs::StatfsSync(loop_, P("nope")).status().code(),
            StatusCode::kNotFound);
  CloseLoop();
}

TEST_F(FsTest, NotFoundAndAlreadyExists) {
  const std::string nope = P("nope");
  auto stat = Await(
      [&](FsCallback cb) { return fs::Stat(loop_, nope, std::move(cb)); });
  EXPECT_EQ(stat->status().code(), StatusCode::kNotFound);
  EXPECT_EQ(
      stat->status().message(),
      absl::StrCat("stat ", nope, ": ENOENT (no such file or directory)"));
  EXPECT_EQ(stat->result(), UV_ENOENT);
  EXPECT_EQ(stat->stat().size, 0u);
  absl::Status s = fs::StatSync(loop_, nope).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), stat->status().message());
  auto open = Await([&](FsCallback cb) {
    return fs::Open(loop_, nope, O_RDONLY, 0, std::move(cb));
  });
  EXPECT_EQ(open->status().code(), StatusCode::kNotFound);
  EXPECT_EQ(open->fd(), -1);
  EXPECT_EQ(fs::RenameSync(loop_, nope, P("x")).message(),
            absl::StrCat("rename ", nope, " -> ", P("x"),
                         ": ENOENT (no such file or directory)"));
  EXPECT_EQ(fs::ScandirSync(loop_, nope).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(fs::UnlinkSync(loop_, nope).code(), StatusCode::kNotFound);
  EXPECT_EQ(fs::RealpathSync(loop_, nope).status().code(),
            StatusCode::kNotFound);

  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  auto mkdir = Await([&](FsCallback cb) {
    return fs::Mkdir(loop_, P("d"), 0755, std::move(cb));
  });
  EXPECT_EQ(mkdir->status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(mkdir->status().message(),
            absl::StrCat("mkdir ", P("d"), ": EEXIST (file already exists)"));
  EXPECT_EQ(fs::MkdirSync(loop_, P("d"), 0755).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(fs::OpenSync(loop_, P("d"), O_CREAT | O_EXCL | O_RDWR, 0644)
                .status()
                .code(),
            StatusCode::kAlreadyExists);
  Spit(P("e"), "x");
  EXPECT_EQ(fs::LinkSync(loop_, P("e"), P("e")).code(),
            StatusCode::kAlreadyExists);
  Spit(P("d/f"), "x");
  EXPECT_EQ(fs::RmdirSync(loop_, P("d")).code(),
            StatusCode::kFailedPrecondition);  // ENOTEMPTY
  CloseLoop();
}

TEST_F(FsTest, BadFileDescriptor) {
  int fd = ::open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(fs::CloseSync(loop_, fd).ok());
  const std::string ebadf = ": EBADF (bad file descriptor)";
  auto read = Await([&](FsCallback cb) {
    return fs::Read(loop_, fd, 10, -1, std::move(cb));
  });
  EXPECT_EQ(read->status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(read->status().message(), absl::StrCat("read fd ", fd, ebadf));
  EXPECT_EQ(read->result(), UV_EBADF);
  EXPECT_EQ(read->data(), "");
  auto write = Await([&](FsCallback cb) {
    return fs::Write(loop_, fd, "x", 0, std::move(cb));
  });
  EXPECT_EQ(write->status().message(), absl::StrCat("write fd ", fd, ebadf));
  auto close =
      Await([&](FsCallback cb) { return fs::Close(loop_, fd, std::move(cb)); });
  EXPECT_EQ(close->status().message(), absl::StrCat("close fd ", fd, ebadf));
  auto fstat =
      Await([&](FsCallback cb) { return fs::Fstat(loop_, fd, std::move(cb)); });
  EXPECT_EQ(fstat->status().message(), absl::StrCat("fstat fd ", fd, ebadf));
  auto sendfile = Await([&](FsCallback cb) {
    return fs::Sendfile(loop_, fd, fd, 0, 1, std::move(cb));
  });
  EXPECT_EQ(sendfile->status().message(),
            absl::StrCat("sendfile fd ", fd, " -> fd ", fd, ebadf));

  const absl::Time t = absl::FromUnixSeconds(1);
  for (const absl::Status& s :
       {fs::ReadSync(loop_, fd, 1, 0).status(),
        fs::WriteSync(loop_, fd, "x", 0).status(), fs::CloseSync(loop_, fd),
        fs::FstatSync(loop_, fd).status(), fs::FsyncSync(loop_, fd),
        fs::FdatasyncSync(loop_, fd), fs::FtruncateSync(loop_, fd, 0),
        fs::FutimeSync(loop_, fd, t, t), fs::FchmodSync(loop_, fd, 0600),
        fs::FchownSync(loop_, fd, ::getuid(), ::getgid()),
        fs::SendfileSync(loop_, fd, fd, 0, 1).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::EndsWith(s.message(), absl::StrCat(fd, ebadf))) << s;
  }
  EXPECT_EQ(fs::ReadSync(loop_, -1, 1, 0).status().message(),
            "read fd -1: EBADF (bad file descriptor)");
  CloseLoop();
}

TEST_F(FsTest, BadLengthAndOffset) {
  int fd = ::open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  int calls = 0;
  auto cb = [&](FsRequest&) { ++calls; };
  absl::Status s = fs::Read(loop_, fd, 1, -2, cb).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            absl::StrCat("read fd ", fd, ": offset -2 (want >= 0, or -1)"));
  s = fs::Read(loop_, fd, size_t{1} << 40, 0, cb).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      absl::StrCat("read fd ", fd, ": length 1099511627776 above ", INT32_MAX));
  EXPECT_EQ(fs::Write(loop_, fd, "x", -7, cb).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::ReadSync(loop_, fd, 1, INT64_MIN).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::ReadSync(loop_, fd, SIZE_MAX, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fs::WriteSync(loop_, fd, "x", -2).status().code(),
            StatusCode::kInvalidArgument);
  loop_.Run();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(Slurp(P("f")), "");
  CloseLoop();
}

using AsyncPathOp = std::function<absl::Status(Loop&, const std::string&,
                                               const std::string&, FsCallback)>;
using SyncPathOp =
    std::function<absl::Status(Loop&, const std::string&, const std::string&)>;

// Every path-taking asynchronous operation, given `p` and `q` as its paths
// (both orders for two-path operations): returns the start function's status.
std::vector<std::pair<std::string, AsyncPathOp>> AsyncPathOperations() {
  const absl::Time t = absl::FromUnixSeconds(1);
  return {
      {"stat", [](Loop& l, auto& p, auto&,
                  FsCallback cb) { return fs::Stat(l, p, cb).status(); }},
      {"lstat", [](Loop& l, auto& p, auto&,
                   FsCallback cb) { return fs::Lstat(l, p, cb).status(); }},
      {"open",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Open(l, p, O_RDWR | O_CREAT, 0644, cb).status();
       }},
      {"unlink", [](Loop& l, auto& p, auto&,
                    FsCallback cb) { return fs::Unlink(l, p, cb).status(); }},
      {"mkdir",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Mkdir(l, p, 0755, cb).status();
       }},
      {"mkdtemp",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Mkdtemp(l, p + "XXXXXX", cb).status();
       }},
      {"mkstemp",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Mkstemp(l, p + "XXXXXX", cb).status();
       }},
      {"rmdir", [](Loop& l, auto& p, auto&,
                   FsCallback cb) { return fs::Rmdir(l, p, cb).status(); }},
      {"rename",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Rename(l, p, q, cb).status();
       }},
      {"rename",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Rename(l, q, p, cb).status();
       }},
      {"scandir", [](Loop& l, auto& p, auto&,
                     FsCallback cb) { return fs::Scandir(l, p, cb).status(); }},
      {"opendir", [](Loop& l, auto& p, auto&,
                     FsCallback cb) { return fs::Opendir(l, p, cb).status(); }},
      {"utime",
       [t](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Utime(l, p, t, t, cb).status();
       }},
      {"lutime",
       [t](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Lutime(l, p, t, t, cb).status();
       }},
      {"chmod",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Chmod(l, p, 0644, cb).status();
       }},
      {"chown",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Chown(l, p, ::getuid(), ::getgid(), cb).status();
       }},
      {"lchown",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Lchown(l, p, ::getuid(), ::getgid(), cb).status();
       }},
      {"link", [](Loop& l, auto& p, auto& q,
                  FsCallback cb) { return fs::Link(l, p, q, cb).status(); }},
      {"link", [](Loop& l, auto& p, auto& q,
                  FsCallback cb) { return fs::Link(l, q, p, cb).status(); }},
      {"symlink",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Symlink(l, p, q, 0, cb).status();
       }},
      {"symlink",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Symlink(l, q, p, 0, cb).status();
       }},
      {"readlink",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Readlink(l, p, cb).status();
       }},
      {"realpath",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Realpath(l, p, cb).status();
       }},
      {"copyfile",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Copyfile(l, p, q, 0, cb).status();
       }},
      {"copyfile",
       [](Loop& l, auto& p, auto& q, FsCallback cb) {
         return fs::Copyfile(l, q, p, 0, cb).status();
       }},
      {"access",
       [](Loop& l, auto& p, auto&, FsCallback cb) {
         return fs::Access(l, p, F_OK, cb).status();
       }},
      {"statfs", [](Loop& l, auto& p, auto&,
                    FsCallback cb) { return fs::Statfs(l, p, cb).status(); }},
  };
}

// The same for the synchronous forms.
std::vector<std::pair<std::string, SyncPathOp>> SyncPathOperations() {
  const absl::Time t = absl::FromUnixSeconds(1);
  return {
      {"stat",
       [](Loop& l, auto& p, auto&) { return fs::StatSync(l, p).status(); }},
      {"lstat",
       [](Loop& l, auto& p, auto&) { return fs::LstatSync(l, p).status(); }},
      {"open",
       [](Loop& l, auto& p, auto&) {
         return fs::OpenSync(l, p, O_RDWR | O_CREAT, 0644).status();
       }},
      {"unlink", [](Loop& l, auto& p, auto&) { return fs::UnlinkSync(l, p); }},
      {"mkdir",
       [](Loop& l, auto& p, auto&) { return fs::MkdirSync(l, p, 0755); }},
      {"mkdtemp",
       [](Loop& l, auto& p, auto&) {
         return fs::MkdtempSync(l, p + "XXXXXX").status();
       }},
      {"mkstemp",
       [](Loop& l, auto& p, auto&) {
         return fs::MkstempSync(l, p + "XXXXXX").status();
       }},
      {"rmdir", [](Loop& l, auto& p, auto&) { return fs::RmdirSync(l, p); }},
      {"rename",
       [](Loop& l, auto& p, auto& q) { return fs::RenameSync(l, p, q); }},
      {"rename",
       [](Loop& l, auto& p, auto& q) { return fs::RenameSync(l, q, p); }},
      {"scandir",
       [](Loop& l, auto& p, auto&) { return fs::ScandirSync(l, p).status(); }},
      {"opendir",
       [](Loop& l, auto& p, auto&) { return fs::OpendirSync(l, p).status(); }},
      {"utime",
       [t](Loop& l, auto& p, auto&) { return fs::UtimeSync(l, p, t, t); }},
      {"lutime",
       [t](Loop& l, auto& p, auto&) { return fs::LutimeSync(l, p, t, t); }},
      {"chmod",
       [](Loop& l, auto& p, auto&) { return fs::ChmodSync(l, p, 0644); }},
      {"chown",
       [](Loop& l, auto& p, auto&) {
         return fs::ChownSync(l, p, ::getuid(), ::getgid());
       }},
      {"lchown",
       [](Loop& l, auto& p, auto&) {
         return fs::LchownSync(l, p, ::getuid(), ::getgid());
       }},
      {"link", [](Loop& l, auto& p, auto& q) { return fs::LinkSync(l, p, q); }},
      {"link", [](Loop& l, auto& p, auto& q) { return fs::LinkSync(l, q, p); }},
      {"symlink",
       [](Loop& l, auto& p, auto& q) { return fs::SymlinkSync(l, p, q, 0); }},
      {"symlink",
       [](Loop& l, auto& p, auto& q) { return fs::SymlinkSync(l, q, p, 0); }},
      {"readlink",
       [](Loop& l, auto& p, auto&) { return fs::ReadlinkSync(l, p).status(); }},
      {"realpath",
       [](Loop& l, auto& p, auto&) { return fs::RealpathSync(l, p).status(); }},
      {"copyfile",
       [](Loop& l, auto& p, auto& q) { return fs::CopyfileSync(l, p, q, 0); }},
      {"copyfile",
       [](Loop& l, auto& p, auto& q) { return fs::CopyfileSync(l, q, p, 0); }},
      {"access",
       [](Loop& l, auto& p, auto&) { return fs::AccessSync(l, p, F_OK); }},
      {"statfs",
       [](Loop& l, auto& p, auto&) { return fs::StatfsSync(l, p).status(); }},
  };
}

TEST_F(FsTest, PathWithNulByteIsRejectedBeforeLibuv) {
  Spit(P("f"), "x");
  // With the NUL, libuv would see P("x"): it must never be touched.
  const std::string nul = P("x") + std::string(1, '\0') + "y";
  const std::string other = P("f");
  auto check = [](const std::string& name, const absl::Status& s) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_TRUE(absl::StartsWith(s.message(), name + " \"")) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "x\\x00y")) << s;
    EXPECT_TRUE(absl::EndsWith(s.message(), ": path contains a NUL byte")) << s;
  };
  int calls = 0;
  size_t checked = 0;
  for (const auto& [name, op] : AsyncPathOperations()) {
    check(name, op(loop_, nul, other, [&calls](FsRequest&) { ++calls; }));
    ++checked;
  }
  for (const auto& [name, op] : SyncPathOperations()) {
    check(name, op(loop_, nul, other));
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 27u);
  EXPECT_EQ(
      fs::StatSync(loop_, nul).status().message(),
      absl::StrCat("stat \"", P("x"), "\\x00y\": path contains a NUL byte"));
  loop_.Run();
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(Exists(P("x")));
  EXPECT_EQ(Slurp(P("f")), "x");
  absl::StatusOr<std::vector<fs::DirEntry>> left = fs::ScandirSync(loop_, dir_);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->size(), 1u);  // only "f"
  CloseLoop();
}

TEST_F(FsTest, EmptyCallbackIsRejected) {
  Spit(P("f"), "x");
  auto dir = fs::OpendirSync(loop_, dir_);
  ASSERT_TRUE(dir.ok());
  const absl::Time t = absl::FromUnixSeconds(1);
  std::vector<std::pair<std::string, std::function<absl::Status()>>> ops = {
      {"fstat", [&] { return fs::Fstat(loop_, 0, nullptr).status(); }},
      {"read", [&] { return fs::Read(loop_, 0, 1, -1, nullptr).status(); }},
      {"write", [&] { return fs::Write(loop_, 1, "x", -1, nullptr).status(); }},
      {"close", [&] { return fs::Close(loop_, 0, nullptr).status(); }},
      {"readdir",
       [&] { return fs::Readdir(loop_, *dir, 1, nullptr).status(); }},
      {"closedir", [&] { return fs::Closedir(loop_, *dir, nullptr).status(); }},
      {"sendfile",
       [&] { return fs::Sendfile(loop_, 1, 0, 0, 1, nullptr).status(); }},
      {"fsync", [&] { return fs::Fsync(loop_, 0, nullptr).status(); }},
      {"fdatasync", [&] { return fs::Fdatasync(loop_, 0, nullptr).status(); }},
      {"ftruncate",
       [&] { return fs::Ftruncate(loop_, 0, 0, nullptr).status(); }},
      {"futime", [&] { return fs::Futime(loop_, 0, t, t, nullptr).status(); }},
      {"fchmod", [&] { return fs::Fchmod(loop_, 0, 0644, nullptr).status(); }},
      {"fchown", [&] { return fs::Fchown(loop_, 0, 0, 0, nullptr).status(); }},
  };
  for (const auto& [name, op] : AsyncPathOperations()) {
    ops.push_back(
        {name, [&, op = op] { return op(loop_, P("f"), P("g"), nullptr); }});
  }
  for (const auto& [name, op] : ops) {
    absl::Status s = op();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_TRUE(absl::StartsWith(s.message(), name + " ")) << s;
    EXPECT_TRUE(absl::EndsWith(s.message(), ": empty callback")) << s;
  }
  EXPECT_EQ(ops.size(), 13u + 27u);
  EXPECT_EQ(fs::Stat(loop_, P("f"), FsCallback()).status().message(),
            absl::StrCat("stat ", P("f"), ": empty callback"));
  // Nothing started: no callback pending, nothing touched.
  EXPECT_FALSE(loop_.Alive());
  EXPECT_FALSE((*dir)->Busy());
  EXPECT_EQ(Slurp(P("f")), "x");
  EXPECT_FALSE(Exists(P("g")));
  CloseLoop();
}

TEST_F(FsTest, CancelQueuedRequestsWhileThePoolIsBusy) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FdCloser reader{fds[0]};
  FdCloser writer{fds[1]};  // closing it releases the blocked reads
  Spit(P("exists"), "keep");
  int fd = ::open(P("exists").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  FdCloser file{fd};
  auto dir1 = fs::OpendirSync(loop_, dir_);
  auto dir2 = fs::OpendirSync(loop_, dir_);
  ASSERT_TRUE(dir1.ok() && dir2.ok());

  int ok = 0;
  int cancelled = 0;
  auto count = [&](FsRequest& r) {
    if (r.status().ok()) {
      ++ok;
    } else if (r.status().code() == StatusCode::kCancelled) {
      ++cancelled;
      EXPECT_EQ(r.result(), UV_ECANCELED);
      EXPECT_TRUE(absl::EndsWith(r.status().message(),
                                 ": ECANCELED (operation canceled)"))
          << r.status();
    } else {
      ADD_FAILURE() << r.status();
    }
  };
  // Every worker thread blocks in read(2) on the empty pipe...
  std::vector<std::shared_ptr<FsRequest>> blockers;
  for (int i = 0; i < kPoolSize; ++i) {
    fs::RequestOr r = fs::Read(loop_, fds[0], 16, -1, count);
    EXPECT_TRUE(r.ok());
    if (r.ok()) blockers.push_back(*r);
  }
  // ... so these wait in the queue, and cancelling them always works.
  std::vector<fs::RequestOr> queued;
  queued.push_back(
      fs::Open(loop_, P("created"), O_CREAT | O_RDWR, 0644, count));
  queued.push_back(fs::Mkdir(loop_, P("made"), 0755, count));
  queued.push_back(fs::Unlink(loop_, P("exists"), count));
  queued.push_back(fs::Write(loop_, fd, "overwritten", 0, count));
  queued.push_back(fs::Readdir(loop_, *dir1, 8, count));
  queued.push_back(fs::Closedir(loop_, *dir2, count));
  while (queued.size() < 64 - kPoolSize) {
    queued.push_back(fs::Stat(loop_, dir_, count));
  }
  int cancel_ok = 0;
  for (fs::RequestOr& r : queued) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok() && (*r)->Cancel().ok()) ++cancel_ok;
  }
  ::close(writer.fd);
  writer.fd = -1;
  loop_.Run();

  EXPECT_EQ(cancel_ok, 64 - kPoolSize);
  EXPECT_EQ(cancelled, 64 - kPoolSize);
  EXPECT_EQ(ok, kPoolSize);
  EXPECT_EQ(ok + cancelled, 64);
  for (const auto& b : blockers) {
    EXPECT_OK(b->status());
    EXPECT_EQ(b->data(), "");  // EOF
    // Done: too late to cancel.
    EXPECT_EQ(b->Cancel().code(), StatusCode::kFailedPrecondition);
  }
  // Cancelled means not done.
  EXPECT_FALSE(Exists(P("created")));
  EXPECT_FALSE(Exists(P("made")));
  EXPECT_EQ(Slurp(P("exists")), "keep");
  EXPECT_TRUE((*dir1)->IsOpen());
  EXPECT_FALSE((*dir1)->Busy());
  EXPECT_TRUE((*dir2)->IsOpen());
  EXPECT_FALSE((*dir2)->Busy());
  EXPECT_TRUE((*queued[4])->entries().empty());
  // The Dirs still work after their requests were cancelled.
  auto entries = fs::ReaddirSync(loop_, *dir1, 8);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ(entries->size(), 1u);  // "exists"
  EXPECT_OK(fs::ClosedirSync(loop_, *dir2));
  CloseLoop();
}

TEST_F(FsTest, FireAndForgetRequestsOwnTheirBuffers) {
  const std::string path = P("f");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  int calls = 0;
  std::string read_back;
  {
    std::string data(1 << 20, 'a');
    for (size_t i = 0; i < data.size(); i += 4096) data[i] = 'b';
    // The caller's string and the returned pointer die at once; the request
    // keeps its own copy.
    ASSERT_TRUE(fs::Write(loop_, fd, data, 0, [&](FsRequest& r) {
                  ++calls;
                  EXPECT_EQ(r.result(), 1 << 20);
                }).ok());
    data.assign(data.size(), 'z');
  }
  loop_.Run();
  ASSERT_TRUE(fs::Read(loop_, fd, 2 << 20, 0, [&](FsRequest& r) {
                ++calls;
                read_back = r.data();
              }).ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(fs::Stat(loop_, path, [&](FsRequest& r) {
                  ++calls;
                  EXPECT_EQ(r.stat().size, 1u << 20);
                }).ok());
  }
  loop_.Run();
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(read_back.size(), 1u << 20);
  EXPECT_EQ(read_back[0], 'b');
  EXPECT_EQ(read_back[1], 'a');
  EXPECT_EQ(read_back[4096], 'b');
  EXPECT_EQ(read_back.find('z'), std::string::npos);
  CloseLoop();
}

TEST_F(FsTest, CallbackMayKeepOrDropTheRequest) {
  // The callback captures the request's own pointer: the capture is released
  // after the callback ran, so nothing leaks.
  auto holder = std::make_shared<std::shared_ptr<FsRequest>>();
  fs::RequestOr r = fs::Stat(loop_, dir_, [holder](FsRequest& req) {
    EXPECT_EQ(holder->get(), &req);
  });
  ASSERT_TRUE(r.ok());
  *holder = *r;
  r = absl::UnknownError("dropped");
  std::weak_ptr<FsRequest> weak = *holder;
  holder.reset();
  loop_.Run();
  EXPECT_TRUE(weak.expired());
  CloseLoop();
}

TEST_F(FsTest, DestroyingTheLoopRunsPendingCallbacks) {
  Spit(P("f"), "data");
  absl::StatusOr<std::unique_ptr<Loop>> other = Loop::Create();
  ASSERT_TRUE(other.ok());
  int ok = 0;
  int cancelled = 0;
  auto count = [&](FsRequest& r) {
    if (r.status().ok()) {
      ++ok;
    } else if (r.status().code() == StatusCode::kCancelled) {
      ++cancelled;
    } else {
      ADD_FAILURE() << r.status();
    }
  };
  std::vector<std::shared_ptr<FsRequest>> kept;
  int fd = ::open(P("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  FdCloser c{fd};
  for (int i = 0; i < 16; ++i) {
    fs::RequestOr a = fs::Stat(**other, P("f"), count);
    fs::RequestOr b = fs::Read(**other, fd, 4, 0, count);
    fs::RequestOr d = fs::Opendir(**other, dir_, count);  // Dir dropped too
    ASSERT_TRUE(a.ok() && b.ok() && d.ok());
    if (i % 2 == 0) kept.push_back(*b);
  }
  other->reset();  // never ran: ~Loop cancels or waits, callbacks run
  EXPECT_EQ(ok + cancelled, 48);
  for (const auto& r : kept) {
    EXPECT_FALSE(r->InFlight());
    if (r->status().ok()) {
      EXPECT_EQ(r->data(), "data");
    } else {
      EXPECT_EQ(r->status().code(), StatusCode::kCancelled);
      EXPECT_EQ(r->data(), "");
    }
  }
  CloseLoop();
}

TEST_F(FsTest, ExceptionFromCallbackReachesTheLoop) {
  fs::RequestOr r = fs::Stat(
      loop_, dir_, [](FsRequest&) { throw std::runtime_error("boom"); });
  ASSERT_TRUE(r.ok());
  EXPECT_THROW(
      {
        try {
          loop_.Run();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "boom");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_FALSE((*r)->InFlight());
  EXPECT_OK((*r)->status());

  std::vector<std::string> seen;
  loop_.SetExceptionHandler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      seen.push_back(ex.what());
    }
  });
  int sync_calls = 0;
  for (const char* what : {"one", "two"}) {
    ASSERT_TRUE(fs::Stat(loop_, P("nope"), [what, &sync_calls](FsRequest& q) {
                  ++sync_calls;
                  EXPECT_EQ(q.status().code(), StatusCode::kNotFound);
                  throw std::runtime_error(what);
                }).ok());
  }
  EXPECT_NO_THROW(loop_.Run());
  EXPECT_EQ(sync_calls, 2);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
  loop_.SetExceptionHandler(nullptr);
  CloseLoop();
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
