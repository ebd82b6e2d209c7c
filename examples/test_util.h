// examples/test_util.h: running an example server as a child process, for
// the examples' tests (testonly).
//
//   ServerProcess server("examples/echo_server", {"--port=0"});
//   ASSERT_NE(server.port(), 0) << server.first_line();
//   ... talk to 127.0.0.1:server.port() ...
//   EXPECT_EQ(server.Terminate(SIGTERM), 0);  // its exit status
#ifndef EVERGREEN_EXAMPLES_TEST_UTIL_H_
#define EVERGREEN_EXAMPLES_TEST_UTIL_H_

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace evergreen {
namespace examples_test {

// Runfile returns the path of `path` (relative to the workspace) in the
// test's runfiles.
inline std::string Runfile(const std::string& path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" +
         (workspace != nullptr ? workspace : "evergreen") + "/" + path;
}

// ServerProcess runs an example server whose first output line is
// "listening on 127.0.0.1:PORT"; the destructor kills (SIGKILL) and reaps
// it if it is still running. Every wait is bounded by 10 s.
class ServerProcess {
 public:
  static constexpr int kTimeoutMs = 10000;

  // Spawns the runfile `binary` with `flags`; its stdout (and stderr, with
  // merge_stderr) goes to a pipe whose first line gives the port.
  ServerProcess(const std::string& binary, std::vector<std::string> flags,
                bool merge_stderr = false) {
    std::string path = Runfile(binary);
    flags.insert(flags.begin(), path);
    std::vector<char*> argv;
    for (std::string& f : flags) argv.push_back(f.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) {
      ADD_FAILURE() << "pipe: " << strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    int rc = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(),
                         environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      ADD_FAILURE() << "spawn " << path << ": " << strerror(rc);
      pid_ = -1;
      close(out[0]);
      return;
    }
    out_ = out[0];
    first_line_ = ReadLine();
    unsigned port = 0;
    if (sscanf(first_line_.c_str(), "listening on 127.0.0.1:%u", &port) == 1) {
      port_ = static_cast<uint16_t>(port);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  // port returns the port of the first line, 0 if it was not "listening on
  // 127.0.0.1:PORT" (first_line then says why, with merge_stderr).
  uint16_t port() const { return port_; }
  const std::string& first_line() const { return first_line_; }
  pid_t pid() const { return pid_; }

  // Wait returns the exit status (or -signal) once the process ended, or
  // fails the test after 10 s.
  int Wait() {
    for (int waited = 0; waited < kTimeoutMs; waited += 10) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      usleep(10000);  // polling a child's exit, not synchronisation
    }
    ADD_FAILURE() << "the server did not exit within 10 s";
    return -1000;
  }

  // Terminate sends `signum` and returns Wait().
  int Terminate(int signum = SIGTERM) {
    EXPECT_EQ(kill(pid_, signum), 0);
    return Wait();
  }

  // Rest returns what the process printed after its first line, up to the
  // end of its output (its exit), or what came within 10 s.
  std::string Rest() {
    std::string rest;
    char buf[4096];
    while (true) {
      pollfd p = {out_, POLLIN, 0};
      if (poll(&p, 1, kTimeoutMs) != 1) break;
      ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) break;
      rest.append(buf, static_cast<size_t>(n));
    }
    return rest;
  }

  // State returns the process state letter from /proc/PID/stat ('S'
  // sleeping, 'R' running), '?' if unknown.
  char State() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)),
                     std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size()
               ? '?'
               : stat[paren + 2];
  }

 private:
  std::string ReadLine() {
    std::string line;
    char c;
    while (true) {
      pollfd p = {out_, POLLIN, 0};
      if (poll(&p, 1, kTimeoutMs) != 1) return line;
      if (read(out_, &c, 1) != 1 || c == '\n') return line;
      line.push_back(c);
    }
  }

  pid_t pid_ = -1;
  int out_ = -1;
  uint16_t port_ = 0;
  std::string first_line_;
};

}  // namespace examples_test
}  // namespace evergreen

#endif  // EVERGREEN_EXAMPLES_TEST_UTIL_H_
