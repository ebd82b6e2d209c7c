#include "loop/util.h"

#include <uv.h>

#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace util {
namespace {

// ReadString calls a libuv function of the (char* buffer, size_t* size)
// family: on UV_ENOBUFS it sets *size to the room needed, on success to the
// string's length. Retried a few times: the value may grow in between.
template <typename F>
absl::StatusOr<std::string> ReadString(F read, absl::string_view operation) {
  std::string buf(256, '\0');
  for (int attempt = 0; attempt < 8; ++attempt) {
    size_t size = buf.size();
    int rc = read(&buf[0], &size);
    if (rc == UV_ENOBUFS && size > buf.size()) {
      buf.assign(size, '\0');
      continue;
    }
    if (rc < 0) return UvStatus(rc, operation);
    buf.resize(size);
    return buf;
  }
  return UvStatus(UV_ENOBUFS, operation);
}

bool HasNul(absl::string_view s) {
  return s.find('\0') != absl::string_view::npos;
}

// EnvOperation names an environment operation: "os setenv NAME".
std::string EnvOperation(absl::string_view verb, absl::string_view name) {
  return absl::StrCat("os ", verb, " ", absl::CEscape(name));
}

// CheckEnvName rejects names libc would misread or reject.
absl::Status CheckEnvName(absl::string_view name, const std::string& op) {
  if (name.empty() || HasNul(name) ||
      name.find('=') != absl::string_view::npos) {
    return UvStatus(UV_EINVAL, op);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<CpuInfo>> CpuInfos() {
  uv_cpu_info_t* infos = nullptr;
  int count = 0;
  int rc = uv_cpu_info(&infos, &count);
  if (rc < 0) return UvStatus(rc, "cpu info");
  std::vector<CpuInfo> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) {
    CpuInfo info;
    if (infos[i].model != nullptr) info.model = infos[i].model;
    info.speed_mhz = infos[i].speed;
    info.times.user = infos[i].cpu_times.user;
    info.times.nice = infos[i].cpu_times.nice;
    info.times.sys = infos[i].cpu_times.sys;
    info.times.idle = infos[i].cpu_times.idle;
    info.times.irq = infos[i].cpu_times.irq;
    out.push_back(std::move(info));
  }
  uv_free_cpu_info(infos, count);
  return out;
}

unsigned int AvailableParallelism() { return uv_available_parallelism(); }

absl::StatusOr<std::vector<InterfaceAddress>> InterfaceAddresses() {
  uv_interface_address_t* addresses = nullptr;
  int count = 0;
  int rc = uv_interface_addresses(&addresses, &count);
  if (rc < 0) return UvStatus(rc, "interface addresses");
  std::vector<InterfaceAddress> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) {
    const uv_interface_address_t& a = addresses[i];
    // The unions are as large as a sockaddr_in6; FromSockaddr copies what
    // the family needs.
    absl::StatusOr<SocketAddress> address = SocketAddress::FromSockaddr(
        reinterpret_cast<const sockaddr*>(&a.address), sizeof(a.address));
    if (!address.ok()) continue;
    InterfaceAddress entry;
    entry.name = a.name != nullptr ? a.name : "";
    std::memcpy(entry.physical_address.data(), a.phys_addr,
                entry.physical_address.size());
    entry.internal = a.is_internal != 0;
    entry.address = *address;
    absl::StatusOr<SocketAddress> netmask = SocketAddress::FromSockaddr(
        reinterpret_cast<const sockaddr*>(&a.netmask), sizeof(a.netmask));
    if (netmask.ok()) entry.netmask = *netmask;
    out.push_back(std::move(entry));
  }
  uv_free_interface_addresses(addresses, count);
  return out;
}

std::array<double, 3> LoadAverage() {
  double avg[3] = {0, 0, 0};
  uv_loadavg(avg);
  return {avg[0], avg[1], avg[2]};
}

absl::StatusOr<double> Uptime() {
  double uptime = 0;
  int rc = uv_uptime(&uptime);
  if (rc < 0) return UvStatus(rc, "uptime");
  return uptime;
}

absl::StatusOr<size_t> ResidentSetMemory() {
  size_t rss = 0;
  int rc = uv_resident_set_memory(&rss);
  if (rc < 0) return UvStatus(rc, "resident set memory");
  return rss;
}

uint64_t TotalMemory() { return uv_get_total_memory(); }

uint64_t FreeMemory() { return uv_get_free_memory(); }

uint64_t ConstrainedMemory() { return uv_get_constrained_memory(); }

HandleType GuessHandleType(int fd) {
  switch (uv_guess_handle(fd)) {
    case UV_TCP:
      return HandleType::kTcp;
    case UV_UDP:
      return HandleType::kUdp;
    case UV_NAMED_PIPE:
      return HandleType::kPipe;
    case UV_TTY:
      return HandleType::kTty;
    case UV_FILE:
      return HandleType::kFile;
    default:
      return HandleType::kUnknown;
  }
}

absl::string_view HandleTypeName(HandleType type) {
  switch (type) {
    case HandleType::kTcp:
      return "tcp";
    case HandleType::kUdp:
      return "udp";
    case HandleType::kPipe:
      return "pipe";
    case HandleType::kTty:
      return "tty";
    case HandleType::kFile:
      return "file";
    case HandleType::kUnknown:
      break;
  }
  return "unknown";
}

char** SetupArgs(int argc, char** argv) { return uv_setup_args(argc, argv); }

absl::StatusOr<std::string> GetProcessTitle() {
  // libuv reports neither the title's length nor whether SetupArgs ran
  // (both give ENOBUFS): grow the buffer up to the largest argument memory
  // Linux allows.
  for (size_t size = 4096; size <= (size_t{4} << 20); size *= 2) {
    std::string buf(size, '\0');
    int rc = uv_get_process_title(&buf[0], buf.size());
    if (rc == UV_ENOBUFS) continue;
    if (rc < 0) return UvStatus(rc, "get process title");
    buf.resize(std::strlen(buf.c_str()));
    return buf;
  }
  return UvStatus(UV_ENOBUFS, "get process title");
}

absl::Status SetProcessTitle(absl::string_view title) {
  if (HasNul(title)) return UvStatus(UV_EINVAL, "set process title");
  std::string copy(title);
  return UvStatus(uv_set_process_title(copy.c_str()), "set process title");
}

absl::StatusOr<std::string> Hostname() {
  return ReadString(
      [](char* buf, size_t* size) { return uv_os_gethostname(buf, size); },
      "os gethostname");
}

int GetPid() { return uv_os_getpid(); }

int GetPpid() { return uv_os_getppid(); }

absl::StatusOr<std::string> GetEnv(absl::string_view name) {
  std::string op = EnvOperation("getenv", name);
  if (absl::Status s = CheckEnvName(name, op); !s.ok()) return s;
  std::string key(name);
  return ReadString(
      [&key](char* buf, size_t* size) {
        return uv_os_getenv(key.c_str(), buf, size);
      },
      op);
}

absl::Status SetEnv(absl::string_view name, absl::string_view value) {
  std::string op = EnvOperation("setenv", name);
  if (absl::Status s = CheckEnvName(name, op); !s.ok()) return s;
  if (HasNul(value)) return UvStatus(UV_EINVAL, op);
  std::string key(name);
  std::string val(value);
  return UvStatus(uv_os_setenv(key.c_str(), val.c_str()), op);
}

absl::Status UnsetEnv(absl::string_view name) {
  std::string op = EnvOperation("unsetenv", name);
  if (absl::Status s = CheckEnvName(name, op); !s.ok()) return s;
  std::string key(name);
  return UvStatus(uv_os_unsetenv(key.c_str()), op);
}

absl::StatusOr<std::map<std::string, std::string>> Environ() {
  uv_env_item_t* items = nullptr;
  int count = 0;
  int rc = uv_os_environ(&items, &count);
  if (rc < 0) return UvStatus(rc, "os environ");
  std::map<std::string, std::string> out;
  for (int i = 0; i < count; ++i) {
    out.emplace(items[i].name, items[i].value);
  }
  uv_os_free_environ(items, count);
  return out;
}

absl::StatusOr<std::string> HomeDir() {
  return ReadString(
      [](char* buf, size_t* size) { return uv_os_homedir(buf, size); },
      "os homedir");
}

absl::StatusOr<std::string> TmpDir() {
  return ReadString(
      [](char* buf, size_t* size) { return uv_os_tmpdir(buf, size); },
      "os tmpdir");
}

absl::StatusOr<Uname> GetUname() {
  uv_utsname_t u;
  int rc = uv_os_uname(&u);
  if (rc < 0) return UvStatus(rc, "os uname");
  Uname out;
  out.sysname = u.sysname;
  out.release = u.release;
  out.version = u.version;
  out.machine = u.machine;
  return out;
}

}  // namespace util
}  // namespace loop
}  // namespace evergreen
