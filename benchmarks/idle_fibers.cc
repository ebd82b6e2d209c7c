// idle_fibers: keeps N fibers alive at once, each started and suspended in a
// Switch(), and reports what they cost: RSS and page-table memory per fiber,
// memory mappings against vm.max_map_count, whether every stack has its
// guard, and how long creating and killing them all takes.
//
//   ./bazelw run -c opt //benchmarks:idle_fibers -- --fibers=1000000
//   ./bazelw run -c opt //benchmarks:idle_fibers -- --stack_size=16384
//
// Run one configuration per process: the RSS baseline is the process's.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "fibers/fiber.h"
#include "fibers/internal/stack_pool.h"

ABSL_FLAG(int64_t, fibers, 1000000, "how many idle fibers to keep alive");
ABSL_FLAG(uint64_t, stack_size, evergreen::Fiber::kDefaultStackSize,
          "usable stack bytes per fiber (FiberOptions::stack_size)");
ABSL_FLAG(bool, check_guards, true, "probe every stack's guard region");

namespace {

using evergreen::Fiber;
namespace fi = evergreen::fibers_internal;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// A "Name:   123 kB" field of /proc/self/status, in KiB; -1 if missing.
int64_t StatusKiB(const char* name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(name);
  while (std::getline(in, line)) {
    if (line.compare(0, len, name) == 0 && line.size() > len &&
        line[len] == ':') {
      return std::stoll(line.substr(len + 1));
    }
  }
  return -1;
}

int64_t CountLines(const char* path) {
  std::ifstream in(path);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

int64_t ReadInt(const char* path) {
  std::ifstream in(path);
  int64_t v = -1;
  in >> v;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_fibers);
  evergreen::FiberOptions options;
  options.stack_size = absl::GetFlag(FLAGS_stack_size);

  // Set up everything that is not per fiber before the baseline: the
  // thread's fiber state and the (touched) table of fibers.
  Fiber* main = Fiber::Current();
  std::vector<std::unique_ptr<Fiber>> fibers(n);
  const int64_t rss_before = StatusKiB("VmRSS");
  const int64_t pte_before = StatusKiB("VmPTE");
  const int64_t maps_before = CountLines("/proc/self/maps");

  const Clock::time_point t0 = Clock::now();
  int64_t created = 0;
  absl::Status failure;
  for (; created < n; ++created) {
    auto fiber = Fiber::Create(options, [main] { main->Switch(); });
    if (!fiber.ok()) {
      failure = fiber.status();
      break;
    }
    (*fiber)->Switch();  // starts it; it suspends in main->Switch()
    fibers[created] = *std::move(fiber);
  }
  const Clock::time_point t1 = Clock::now();

  const int64_t rss_after = StatusKiB("VmRSS");
  const int64_t pte_after = StatusKiB("VmPTE");
  const int64_t maps_after = CountLines("/proc/self/maps");
  const int64_t max_map_count = ReadInt("/proc/sys/vm/max_map_count");

  int64_t guarded = 0;
  int64_t checked = 0;
  const Clock::time_point t2 = Clock::now();
  if (absl::GetFlag(FLAGS_check_guards)) {
    for (int64_t i = 0; i < created; ++i) {
      ++checked;
      if (fi::StackGuardIsIntact(fi::FiberStackSlot(*fibers[i]))) ++guarded;
    }
  }
  const Clock::time_point t3 = Clock::now();

  const size_t stack_size = created > 0 ? fibers[0]->stack_size() : 0;
  int64_t kill_failures = 0;
  for (int64_t i = 0; i < created; ++i) {
    if (!fibers[i]->Kill().ok() || fibers[i]->IsAlive()) ++kill_failures;
    fibers[i].reset();
  }
  const Clock::time_point t4 = Clock::now();
  const int64_t rss_end = StatusKiB("VmRSS");

  const double per = created > 0 ? static_cast<double>(created) : 1.0;
  const char* mode = fi::CurrentGuardMode() == fi::GuardMode::kMadviseGuard
                         ? "MADV_GUARD_INSTALL"
                         : "mprotect";
  std::printf("fibers requested            %lld\n", static_cast<long long>(n));
  std::printf("fibers alive at once        %lld\n",
              static_cast<long long>(created));
  if (!failure.ok()) {
    std::printf("creation failed             %s\n", failure.ToString().c_str());
  }
  std::printf("stack size requested        %llu bytes\n",
              static_cast<unsigned long long>(options.stack_size));
  std::printf(
      "usable stack per fiber       %zu bytes (plus the fiber object)\n",
      stack_size);
  std::printf("guard size                  %zu bytes\n", fi::GuardSize());
  std::printf("guard mode                  %s\n", mode);
  std::printf("RSS growth per fiber        %.3f KiB (%lld -> %lld KiB)\n",
              static_cast<double>(rss_after - rss_before) / per,
              static_cast<long long>(rss_before),
              static_cast<long long>(rss_after));
  std::printf("page tables per fiber       %.3f KiB (VmPTE %lld -> %lld KiB)\n",
              static_cast<double>(pte_after - pte_before) / per,
              static_cast<long long>(pte_before),
              static_cast<long long>(pte_after));
  std::printf(
      "mappings                    %lld (before: %lld), "
      "vm.max_map_count %lld\n",
      static_cast<long long>(maps_after), static_cast<long long>(maps_before),
      static_cast<long long>(max_map_count));
  if (absl::GetFlag(FLAGS_check_guards)) {
    std::printf("stacks with intact guard    %lld of %lld%s\n",
                static_cast<long long>(guarded),
                static_cast<long long>(checked),
                guarded == checked ? " (every stack)" : " (SOME UNGUARDED)");
  }
  std::printf("create + start, total       %.3f s (%.0f ns per fiber)\n",
              Seconds(t0, t1), Seconds(t0, t1) * 1e9 / per);
  std::printf("guard check, total          %.3f s\n", Seconds(t2, t3));
  std::printf("kill + destroy, total       %.3f s (%.0f ns per fiber)\n",
              Seconds(t3, t4), Seconds(t3, t4) * 1e9 / per);
  std::printf("kill failures               %lld\n",
              static_cast<long long>(kill_failures));
  std::printf("RSS after destroying all    %lld KiB\n",
              static_cast<long long>(rss_end));
  const bool ok = failure.ok() && kill_failures == 0 &&
                  (!absl::GetFlag(FLAGS_check_guards) || guarded == checked);
  return ok ? 0 : 1;
}
