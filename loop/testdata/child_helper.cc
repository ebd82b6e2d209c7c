// child_helper: the child process that loop/process_test.cc spawns.
//
//   child_helper exit N          exits with status N
//   child_helper wait            prints "pid=P sid=S\n", then waits for a
//                                signal
//   child_helper echo            copies stdin to stdout until EOF
//   child_helper env NAME...     prints "NAME=value" or "NAME unset" lines
//   child_helper cwd             prints the working directory
//   child_helper args A...       prints its arguments joined by '|'
//   child_helper write-fd N TEXT writes TEXT to fd N
//   child_helper devnull         reports on fd 3 which of fds 0-2 are
//                                /dev/null ("0:null 1:null 2:null")
//   child_helper ipc             reads fd 3 as a libuv IPC pipe, accepts
//                                the TCP connection sent through it and
//                                writes "hello from child\n" on it
//
// It uses libuv's C API directly (not //loop), so that a bug in the code
// under test cannot hide on both sides.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int Echo() {
  char buf[4096];
  for (;;) {
    ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 2;
    if (n == 0) return 0;
    if (!WriteAll(1, std::string(buf, static_cast<size_t>(n)))) return 3;
  }
}

int DevNull() {
  struct stat null_st;
  if (stat("/dev/null", &null_st) != 0) return 2;
  std::string report;
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    bool is_null = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
                   st.st_rdev == null_st.st_rdev;
    if (fd > 0) report += " ";
    report += std::to_string(fd) + (is_null ? ":null" : ":other");
  }
  return WriteAll(3, report) ? 0 : 3;
}

// IPC: everything below runs on one libuv loop.
struct Ipc {
  uv_loop_t loop;
  uv_pipe_t channel;
  uv_tcp_t conn;
  uv_write_t write_req;
  bool accepted = false;
  int result = 1;
};
Ipc ipc;

void OnAlloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = static_cast<char*>(std::malloc(suggested));
  buf->len = buf->base == nullptr ? 0 : suggested;
}

void OnWritten(uv_write_t*, int status) {
  ipc.result = status == 0 ? 0 : 4;
  uv_close(reinterpret_cast<uv_handle_t*>(&ipc.conn), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ipc.channel), nullptr);
}

void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  std::free(buf->base);
  if (nread < 0) {  // EOF before a handle arrived
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) {
      uv_close(reinterpret_cast<uv_handle_t*>(stream), nullptr);
    }
    return;
  }
  auto* channel = reinterpret_cast<uv_pipe_t*>(stream);
  if (ipc.accepted || uv_pipe_pending_count(channel) == 0) return;
  if (uv_pipe_pending_type(channel) != UV_TCP) {
    ipc.result = 5;
    uv_close(reinterpret_cast<uv_handle_t*>(stream), nullptr);
    return;
  }
  uv_tcp_init(&ipc.loop, &ipc.conn);
  if (uv_accept(stream, reinterpret_cast<uv_stream_t*>(&ipc.conn)) != 0) {
    ipc.result = 6;
    uv_close(reinterpret_cast<uv_handle_t*>(&ipc.conn), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(stream), nullptr);
    return;
  }
  ipc.accepted = true;
  uv_read_stop(stream);
  static char line[] = "hello from child\n";
  uv_buf_t out = uv_buf_init(line, sizeof(line) - 1);
  uv_write(&ipc.write_req, reinterpret_cast<uv_stream_t*>(&ipc.conn), &out, 1,
           &OnWritten);
}

int RunIpc() {
  if (uv_loop_init(&ipc.loop) != 0) return 10;
  uv_pipe_init(&ipc.loop, &ipc.channel, 1);
  if (uv_pipe_open(&ipc.channel, 3) != 0) return 11;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&ipc.channel), &OnAlloc,
                &OnRead);
  uv_run(&ipc.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&ipc.loop) != 0) return 12;
  return ipc.result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  std::string mode = argv[1];
  if (mode == "exit" && argc == 3) return std::atoi(argv[2]);
  if (mode == "wait") {
    std::string line = "pid=" + std::to_string(getpid()) +
                       " sid=" + std::to_string(getsid(0)) + "\n";
    WriteAll(1, line);
    for (;;) pause();
  }
  if (mode == "echo") return Echo();
  if (mode == "env") {
    std::string out;
    for (int i = 2; i < argc; ++i) {
      const char* v = getenv(argv[i]);
      out +=
          std::string(argv[i]) + (v ? std::string("=") + v : " unset") + "\n";
    }
    return WriteAll(1, out) ? 0 : 3;
  }
  if (mode == "cwd") {
    char buf[4096];
    if (getcwd(buf, sizeof(buf)) == nullptr) return 2;
    return WriteAll(1, std::string(buf) + "\n") ? 0 : 3;
  }
  if (mode == "args") {
    std::string out;
    for (int i = 2; i < argc; ++i) {
      if (i > 2) out += "|";
      out += argv[i];
    }
    return WriteAll(1, out) ? 0 : 3;
  }
  if (mode == "write-fd" && argc == 4) {
    return WriteAll(std::atoi(argv[2]), argv[3]) ? 0 : 3;
  }
  if (mode == "devnull") return DevNull();
  if (mode == "ipc") return RunIpc();
  return 100;
}
