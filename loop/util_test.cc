#include "loop/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace evergreen {
namespace loop {
namespace util {
namespace {

// main's arguments, for SetupArgs (see main below).
int g_argc = 0;
char** g_argv = nullptr;

TEST(UtilTest, CpuInfosDescribeEveryCpu) {
  absl::StatusOr<std::vector<CpuInfo>> cpus = CpuInfos();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_GE(cpus->size(), 1u);
  EXPECT_EQ(cpus->size(), static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  uint64_t total = 0;
  for (const CpuInfo& cpu : *cpus) {
    EXPECT_FALSE(cpu.model.empty());
    EXPECT_GE(cpu.speed_mhz, 0);
    total += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.idle +
             cpu.times.irq;
  }
  EXPECT_GT(total, 0u);  // time has passed since boot
  EXPECT_GE(AvailableParallelism(), 1u);
  EXPECT_LE(AvailableParallelism(), cpus->size());
}

TEST(UtilTest, LoopbackIsAnInternalInterface) {
  absl::StatusOr<std::vector<InterfaceAddress>> ifs = InterfaceAddresses();
  ASSERT_TRUE(ifs.ok()) << ifs.status();
  bool found = false;
  for (const InterfaceAddress& i : *ifs) {
    EXPECT_FALSE(i.name.empty());
    EXPECT_TRUE(i.address.family() == AF_INET ||
                i.address.family() == AF_INET6);
    EXPECT_EQ(i.address.port(), 0);
    if (i.name == "lo" && i.address.Ip() == "127.0.0.1") {
      found = true;
      EXPECT_TRUE(i.internal);
      EXPECT_EQ(i.netmask.Ip(), "255.0.0.0");
      for (uint8_t b : i.physical_address) EXPECT_EQ(b, 0);
    }
  }
  EXPECT_TRUE(found) << "no lo 127.0.0.1 among " << ifs->size();
}

TEST(UtilTest, LoadUptimeAndMemory) {
  std::array<double, 3> load = LoadAverage();
  for (double l : load) EXPECT_GE(l, 0.0);
  absl::StatusOr<double> uptime = Uptime();
  ASSERT_TRUE(uptime.ok()) << uptime.status();
  EXPECT_GE(*uptime, 0.0);  // gVisor reports 0
  absl::StatusOr<size_t> rss = ResidentSetMemory();
  ASSERT_TRUE(rss.ok()) << rss.status();  // gVisor reports 0
  EXPECT_LT(*rss, TotalMemory());
  EXPECT_GT(TotalMemory(), 0u);
  EXPECT_GT(FreeMemory(), 0u);
  EXPECT_LE(FreeMemory(), TotalMemory());
  // 0 (no limit) or a limit; it cannot be checked against anything else.
  (void)ConstrainedMemory();
}

class GuessHandleTypeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr ? tmp : "/tmp") + "/util_test.XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    if (!file_.empty()) unlink(file_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  int Keep(int fd) {
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    return fd;
  }

  std::string dir_;
  std::string file_;
  std::vector<int> fds_;
};

TEST_F(GuessHandleTypeTest, SocketsPipesFilesAndBadFds) {
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
  Keep(sp[0]);
  Keep(sp[1]);
  EXPECT_EQ(GuessHandleType(sp[0]), HandleType::kPipe);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Keep(p[0]);
  Keep(p[1]);
  EXPECT_EQ(GuessHandleType(p[0]), HandleType::kPipe);
  EXPECT_EQ(GuessHandleType(p[1]), HandleType::kPipe);
  EXPECT_EQ(GuessHandleType(Keep(socket(AF_INET, SOCK_STREAM, 0))),
            HandleType::kTcp);
  EXPECT_EQ(GuessHandleType(Keep(socket(AF_INET, SOCK_DGRAM, 0))),
            HandleType::kUdp);

  // A bound and listening TCP socket on 127.0.0.1 too.
  int listener = Keep(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(listen(listener, 1), 0);
  EXPECT_EQ(GuessHandleType(listener), HandleType::kTcp);

  file_ = dir_ + "/file";
  int file = Keep(open(file_.c_str(), O_CREAT | O_RDWR, 0600));
  EXPECT_EQ(GuessHandleType(file), HandleType::kFile);
  EXPECT_EQ(GuessHandleType(Keep(open("/dev/null", O_RDONLY))),
            HandleType::kFile);
  EXPECT_EQ(GuessHandleType(Keep(open(dir_.c_str(), O_RDONLY))),
            HandleType::kUnknown);

  int pt = Keep(posix_openpt(O_RDWR | O_NOCTTY));
  EXPECT_EQ(GuessHandleType(pt), HandleType::kTty);

  EXPECT_EQ(GuessHandleType(-1), HandleType::kUnknown);
  int closed = dup(sp[0]);
  ASSERT_GE(closed, 0);
  ASSERT_EQ(close(closed), 0);
  EXPECT_EQ(GuessHandleType(closed), HandleType::kUnknown);
}

TEST(UtilTest, HandleTypeNames) {
  EXPECT_EQ(HandleTypeName(HandleType::kTcp), "tcp");
  EXPECT_EQ(HandleTypeName(HandleType::kUdp), "udp");
  EXPECT_EQ(HandleTypeName(HandleType::kPipe), "pipe");
  EXPECT_EQ(HandleTypeName(HandleType::kTty), "tty");
  EXPECT_EQ(HandleTypeName(HandleType::kFile), "file");
  EXPECT_EQ(HandleTypeName(HandleType::kUnknown), "unknown");
}

TEST(UtilTest, ProcessTitleNeedsSetupArgs) {
  static bool set_up = false;  // once, even with --gtest_repeat
  std::string argv0 = g_argv[0];
  if (!set_up) {
    absl::StatusOr<std::string> before = GetProcessTitle();
    EXPECT_EQ(before.status().message(),
              "get process title: ENOBUFS (no buffer space available)");
    EXPECT_EQ(SetProcessTitle("x").message(),
              "set process title: ENOBUFS (no buffer space available)");
    g_argv = SetupArgs(g_argc, g_argv);
    set_up = true;
    absl::StatusOr<std::string> title = GetProcessTitle();
    ASSERT_TRUE(title.ok()) << title.status();
    EXPECT_EQ(*title, argv0);
  }
  ASSERT_TRUE(SetProcessTitle("evg").ok());
  absl::StatusOr<std::string> title = GetProcessTitle();
  ASSERT_TRUE(title.ok()) << title.status();
  EXPECT_EQ(*title, "evg");

  // Longer than the arguments' memory: truncated.
  std::string huge(100000, 'x');
  ASSERT_TRUE(SetProcessTitle(huge).ok());
  title = GetProcessTitle();
  ASSERT_TRUE(title.ok()) << title.status();
  EXPECT_GE(title->size(), argv0.size());
  EXPECT_LT(title->size(), huge.size());
  EXPECT_EQ(*title, huge.substr(0, title->size()));

  absl::Status nul = SetProcessTitle(std::string("a\0b", 3));
  EXPECT_EQ(nul.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nul.message(), "set process title: EINVAL (invalid argument)");
  ASSERT_TRUE(SetProcessTitle(argv0).ok());
}

TEST(UtilTest, HostnamePidsAndUname) {
  char host[256] = {0};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  absl::StatusOr<std::string> name = Hostname();
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, host);

  EXPECT_EQ(GetPid(), getpid());
  EXPECT_EQ(GetPpid(), getppid());

  utsname u;
  ASSERT_EQ(uname(&u), 0);
  absl::StatusOr<Uname> got = GetUname();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->sysname, "Linux");
  EXPECT_EQ(got->release, u.release);
  EXPECT_EQ(got->machine, u.machine);
  EXPECT_FALSE(got->version.empty());
}

TEST(UtilTest, EnvironmentSetGetUnset) {
  const std::string kName = "EVERGREEN_UTIL_TEST";
  ASSERT_TRUE(SetEnv(kName, "v1").ok());
  absl::StatusOr<std::string> v = GetEnv(kName);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "v1");
  EXPECT_STREQ(std::getenv(kName.c_str()), "v1");

  // Larger than the first buffer: read in a second round.
  std::string big(5000, 'z');
  ASSERT_TRUE(SetEnv(kName, big).ok());
  v = GetEnv(kName);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, big);
  ASSERT_TRUE(SetEnv(kName, "").ok());
  v = GetEnv(kName);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "");

  absl::StatusOr<std::map<std::string, std::string>> env = Environ();
  ASSERT_TRUE(env.ok()) << env.status();
  ASSERT_EQ(env->count(kName), 1u);
  EXPECT_EQ(env->at(kName), "");

  ASSERT_TRUE(UnsetEnv(kName).ok());
  EXPECT_EQ(std::getenv(kName.c_str()), nullptr);
  v = GetEnv(kName);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(),
            "os getenv EVERGREEN_UTIL_TEST: ENOENT (no such file or "
            "directory)");
  EXPECT_TRUE(UnsetEnv(kName).ok());  // unsetting an unset name is fine
  env = Environ();
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->count(kName), 0u);
}

TEST(UtilTest, EnvironmentBadNames) {
  const std::string nul("A\0B", 3);
  struct Case {
    absl::Status status;
    std::string message;
  };
  const Case cases[] = {
      {SetEnv("", "x"), "os setenv : EINVAL"},
      {SetEnv("a=b", "x"), "os setenv a=b: EINVAL"},
      {SetEnv(nul, "x"), "os setenv A\\000B: EINVAL"},
      {SetEnv("EVERGREEN_OK", nul), "os setenv EVERGREEN_OK: EINVAL"},
      {GetEnv("").status(), "os getenv : EINVAL"},
      {GetEnv(nul).status(), "os getenv A\\000B: EINVAL"},
      {UnsetEnv("a=b"), "os unsetenv a=b: EINVAL"},
      {UnsetEnv(""), "os unsetenv : EINVAL"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status.message(), c.message + " (invalid argument)");
  }
  EXPECT_EQ(std::getenv("EVERGREEN_OK"), nullptr);
}

// Restores an environment variable on scope exit.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* name) : name_(name) {
    const char* v = std::getenv(name);
    if (v != nullptr) old_ = v;
    had_ = v != nullptr;
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_;
};

TEST(UtilTest, HomeDirAndTmpDirFollowTheEnvironment) {
  ScopedEnv home("HOME");
  ScopedEnv tmpdir("TMPDIR");
  ASSERT_TRUE(SetEnv("HOME", "/evergreen/home").ok());
  absl::StatusOr<std::string> h = HomeDir();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, "/evergreen/home");
  ASSERT_TRUE(SetEnv("TMPDIR", "/evergreen/tmp/").ok());
  absl::StatusOr<std::string> t = TmpDir();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "/evergreen/tmp");  // trailing slash dropped
  // Without $HOME: the password database.
  ASSERT_TRUE(UnsetEnv("HOME").ok());
  h = HomeDir();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_FALSE(h->empty());
  EXPECT_EQ((*h)[0], '/');
}

}  // namespace
}  // namespace util
}  // namespace loop
}  // namespace evergreen

// A main of our own: SetupArgs needs main's arguments.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  evergreen::loop::util::g_argc = argc;
  evergreen::loop::util::g_argv = argv;
  return RUN_ALL_TESTS();
}
