// loop/util.h: system and process information from libuv (CPUs, network
// interfaces, memory, load, process title, environment, host names...).
//
//   namespace util = evergreen::loop::util;
//   absl::StatusOr<std::vector<util::CpuInfo>> cpus = util::CpuInfos();
//   absl::StatusOr<std::vector<util::InterfaceAddress>> ifs =
//       util::InterfaceAddresses();
//   for (const util::InterfaceAddress& i : *ifs) {
//     // "lo 127.0.0.1 internal", "eth0 192.0.2.2"...
//   }
//   if (util::GuessHandleType(0) == util::HandleType::kTty) { ... }
//
// Failures are absl::Status values naming the operation, from UvStatus (see
// loop/status.h), e.g. "os getenv NOPE: ENOENT (no such file or directory)".
// Functions libuv defines as unable to fail return plain values. Thread-safety
// is noted per function; the environment functions are as thread-safe as
// getenv/setenv (not at all while another thread changes the environment).
// High-resolution time is Loop::HrTime (loop/loop.h).
#ifndef EVERGREEN_LOOP_UTIL_H_
#define EVERGREEN_LOOP_UTIL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/address.h"

namespace evergreen {
namespace loop {
namespace util {

// CpuTimes are the milliseconds a CPU spent in each mode since boot.
struct CpuTimes {
  uint64_t user = 0;
  uint64_t nice = 0;
  uint64_t sys = 0;
  uint64_t idle = 0;
  uint64_t irq = 0;
};

// CpuInfo describes one logical CPU.
struct CpuInfo {
  std::string model;  // "AMD EPYC", as /proc/cpuinfo names it
  int speed_mhz = 0;  // current clock, 0 when unknown
  CpuTimes times;
};

// CpuInfos returns one entry per logical CPU (uv_cpu_info), or the error
// ("cpu info: ..."). Thread-safe.
absl::StatusOr<std::vector<CpuInfo>> CpuInfos();

// AvailableParallelism returns how many threads the process may run at once
// (its CPU affinity; uv_available_parallelism), at least 1. Thread-safe.
unsigned int AvailableParallelism();

// InterfaceAddress is one address of a network interface.
struct InterfaceAddress {
  std::string name;                         // "lo", "eth0"
  std::array<uint8_t, 6> physical_address;  // MAC; zeros for loopback
  bool internal = false;                    // loopback
  SocketAddress address;                    // port 0
  SocketAddress netmask;                    // port 0
};

// InterfaceAddresses returns the addresses of the interfaces that are up
// (uv_interface_addresses): IPv4 and IPv6, one entry per address, or the
// error ("interface addresses: ..."). Thread-safe.
absl::StatusOr<std::vector<InterfaceAddress>> InterfaceAddresses();

// LoadAverage returns the 1, 5 and 15 minute load averages (uv_loadavg).
// Thread-safe.
std::array<double, 3> LoadAverage();

// Uptime returns the system uptime in seconds (uv_uptime), or the error
// ("uptime: ..."). Some sandboxes (gVisor) report 0. Thread-safe.
absl::StatusOr<double> Uptime();

// ResidentSetMemory returns this process's resident set size in bytes
// (uv_resident_set_memory), or the error ("resident set memory: ...").
// Some sandboxes (gVisor) report 0. Thread-safe.
absl::StatusOr<size_t> ResidentSetMemory();

// TotalMemory and FreeMemory return the system's memory in bytes
// (uv_get_total_memory, uv_get_free_memory); 0 when unknown. Thread-safe.
uint64_t TotalMemory();
uint64_t FreeMemory();
// ConstrainedMemory returns the memory limit imposed on the process (by a
// cgroup) in bytes, 0 when there is none or it is unknown; a very large
// value when the cgroup says "max" (uv_get_constrained_memory). Thread-safe.
uint64_t ConstrainedMemory();

// HandleType is what a file descriptor looks like to libuv, i.e. which
// handle type could wrap it.
enum class HandleType {
  kTcp,      // an IPv4 or IPv6 stream socket
  kUdp,      // an IPv4 or IPv6 datagram socket
  kPipe,     // a pipe, FIFO or Unix stream socket
  kTty,      // a terminal
  kFile,     // a regular file or character device (/dev/null)
  kUnknown,  // a bad or closed fd, a directory, a Unix datagram socket...
};

// GuessHandleType guesses the type of `fd` (uv_guess_handle); kUnknown for
// anything libuv has no handle for, including invalid fds. Thread-safe.
HandleType GuessHandleType(int fd);

// HandleTypeName returns "tcp", "udp", "pipe", "tty", "file" or "unknown".
absl::string_view HandleTypeName(HandleType type);

// SetupArgs must be called from main with main's arguments before
// GetProcessTitle / SetProcessTitle can work (uv_setup_args): it copies the
// arguments and returns the copy, which the program must use instead of
// `argv` (the original memory becomes the process title's storage). Call it
// at most once, before any other thread starts. Returns `argv` unchanged if
// libuv could not allocate the copy.
char** SetupArgs(int argc, char** argv);

// GetProcessTitle returns the process title (initially argv[0] joined with
// the other arguments' memory), or an error: ENOBUFS ("get process title:
// ENOBUFS ...") when SetupArgs was not called. Thread-safe.
absl::StatusOr<std::string> GetProcessTitle();

// SetProcessTitle sets the title shown by ps; it is truncated to the
// memory of the original arguments (their total length). Also sets the
// thread name (/proc/self/comm, 15 bytes). Errors: ENOBUFS when SetupArgs
// was not called, EINVAL for a title with a NUL byte. Thread-safe.
absl::Status SetProcessTitle(absl::string_view title);

// Hostname returns the host name (uv_os_gethostname), or the error.
// Thread-safe.
absl::StatusOr<std::string> Hostname();

// GetPid and GetPpid return the process id and its parent's
// (uv_os_getpid, uv_os_getppid). Thread-safe.
int GetPid();
int GetPpid();

// GetEnv returns the value of environment variable `name`, or NotFound
// ("os getenv NAME: ENOENT ...") when unset, InvalidArgument for an empty
// name or one with a NUL byte.
absl::StatusOr<std::string> GetEnv(absl::string_view name);
// SetEnv sets `name` to `value`. InvalidArgument ("os setenv a=b: EINVAL
// ...") for an empty name, a name with '=' or a NUL byte in either.
absl::Status SetEnv(absl::string_view name, absl::string_view value);
// UnsetEnv removes `name` (OK if it was not set). InvalidArgument as SetEnv.
absl::Status UnsetEnv(absl::string_view name);
// Environ returns the whole environment, name to value (uv_os_environ).
absl::StatusOr<std::map<std::string, std::string>> Environ();

// HomeDir returns the home directory: $HOME if set, else the password
// database's (uv_os_homedir). Reads the environment, as GetEnv.
absl::StatusOr<std::string> HomeDir();
// TmpDir returns the temporary directory: $TMPDIR, $TMP, $TEMP, $TEMPDIR or
// "/tmp", without a trailing slash (uv_os_tmpdir). Reads the environment,
// as GetEnv.
absl::StatusOr<std::string> TmpDir();

// Uname is the system's identity (uv_os_uname).
struct Uname {
  std::string sysname;  // "Linux"
  std::string release;  // "6.1.0-18-amd64"
  std::string version;  // "#1 SMP PREEMPT_DYNAMIC Debian ..."
  std::string machine;  // "x86_64"
};
// GetUname returns the system's identity, or the error ("os uname: ...").
// Thread-safe.
absl::StatusOr<Uname> GetUname();

}  // namespace util
}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_UTIL_H_
