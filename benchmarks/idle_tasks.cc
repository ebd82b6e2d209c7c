// idle_tasks: memory per idle task. Starts N tasks that each block on one
// shared Event (evergreen) or on one shared condition_variable and flag
// (Boost.Fiber, the same way), measures while all N are blocked, then wakes
// and joins them all. One side per process (the RSS baseline is the
// process's); run both with the same --tasks and --stack_size.
//
//   ./bazelw run -c opt //benchmarks:idle_tasks -- --impl=evergreen
//   ./bazelw run -c opt //benchmarks:idle_tasks -- --impl=boost
//
// Prints, per task: the RSS delta (VmRSS after the tasks blocked minus
// before any was created), and the stack bytes committed: each task notes
// the address of a local variable of its body before it blocks; the pages
// resident (mincore) in a window of (stack_size - 4 KiB) ending one page
// above that address's page (or at its end, where the mapping ends there),
// summed over all tasks. The window lies
// inside the task's own stack (the body's frame is within a page or two of
// the top on both sides), and covers every frame of the blocked call.
#include <sys/mman.h>
#include <unistd.h>

#include <boost/fiber/all.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"

ABSL_FLAG(std::string, impl, "evergreen", "evergreen or boost");
ABSL_FLAG(int64_t, tasks, 100000, "idle tasks alive at once");
ABSL_FLAG(uint64_t, stack_size, 256 * 1024,
          "stack bytes per task (evergreen TaskOptions::stack_size; Boost "
          "fixedsize_stack size)");

namespace {

namespace rt = evergreen::runtime;

// VmRSS of /proc/self/status, in bytes; -1 if missing.
int64_t RssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) {
      return std::stoll(line.substr(6)) * 1024;
    }
  }
  return -1;
}

// Resident bytes of the stack windows around `marks` (see above); -1 if
// mincore fails.
int64_t StackResident(const std::vector<uintptr_t>& marks, uint64_t stack) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(stack / page + 2);
  int64_t total = 0;
  for (uintptr_t mark : marks) {
    // The window ends one page above the mark's page, or at the end of the
    // mark's page when the stack's mapping ends there (mincore: ENOMEM).
    bool done = false;
    for (uintptr_t above = 2; above >= 1 && !done; --above) {
      uintptr_t hi = (mark & ~(page - 1)) + above * page;
      uintptr_t lo = hi - (stack - page);
      if (mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()) != 0) {
        continue;
      }
      for (size_t i = 0; i < (hi - lo) / page; ++i) {
        total += (vec[i] & 1) ? static_cast<int64_t>(page) : 0;
      }
      done = true;
    }
    if (!done) return -1;
  }
  return total;
}

void Report(const char* impl, int64_t n, uint64_t stack, int64_t rss_before,
            int64_t rss_blocked, int64_t stack_bytes) {
  std::printf(
      "%s tasks=%lld stack_size=%llu: rss/task %.0f B, stack committed/task "
      "%.0f B\n",
      impl, static_cast<long long>(n), static_cast<unsigned long long>(stack),
      static_cast<double>(rss_blocked - rss_before) / n,
      static_cast<double>(stack_bytes) / n);
}

int Evergreen(int64_t n, uint64_t stack) {
  auto loop = rt::EventLoop::Create();
  if (!loop.ok()) return 1;
  int64_t before = RssBytes(), blocked = 0, stack_bytes = 0;
  std::vector<uintptr_t> marks(static_cast<size_t>(n));
  int64_t waiting = 0, woke = 0;
  bool ok = true;
  auto main_task = rt::Task::Spawn([&] {
    rt::Event event;
    std::vector<std::shared_ptr<rt::Task>> tasks;
    tasks.reserve(static_cast<size_t>(n));
    rt::TaskOptions options;
    options.stack_size = stack;
    for (int64_t i = 0; i < n; ++i) {
      auto t = rt::Task::SpawnWith(options, [&, i] {
        volatile char mark = 0;
        marks[static_cast<size_t>(i)] = reinterpret_cast<uintptr_t>(&mark);
        ++waiting;
        if (event.Wait().ok()) ++woke;
      });
      if (!t.ok()) {
        std::fprintf(stderr, "spawn %lld: %s\n", static_cast<long long>(i),
                     t.status().ToString().c_str());
        ok = false;
        break;
      }
      tasks.push_back(std::move(*t));
    }
    while (ok && waiting < n) (void)rt::Yield();
    blocked = RssBytes();
    stack_bytes = StackResident(marks, stack);
    event.Set();
    for (auto& t : tasks) (void)t->Join();
  });
  if (!main_task.ok() || !(*loop)->Run().ok() || !ok || woke != n ||
      stack_bytes < 0) {
    std::fprintf(stderr, "evergreen run failed (woke %lld of %lld)\n",
                 static_cast<long long>(woke), static_cast<long long>(n));
    return 1;
  }
  Report("evergreen", n, stack, before, blocked, stack_bytes);
  return 0;
}

int Boost(int64_t n, uint64_t stack) {
  int64_t before = RssBytes(), blocked = 0, stack_bytes = 0;
  std::vector<uintptr_t> marks(static_cast<size_t>(n));
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  bool set = false;
  int64_t waiting = 0, woke = 0;
  {
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      fibers.emplace_back(
          std::allocator_arg, boost::fibers::fixedsize_stack(stack), [&, i] {
            volatile char mark = 0;
            marks[static_cast<size_t>(i)] = reinterpret_cast<uintptr_t>(&mark);
            std::unique_lock<boost::fibers::mutex> lock(mu);
            ++waiting;
            cv.wait(lock, [&] { return set; });
            ++woke;
          });
    }
    while (waiting < n) boost::this_fiber::yield();
    blocked = RssBytes();
    stack_bytes = StackResident(marks, stack);
    {
      std::unique_lock<boost::fibers::mutex> lock(mu);
      set = true;
    }
    cv.notify_all();
    for (auto& f : fibers) f.join();
  }
  if (woke != n || stack_bytes < 0) {
    std::fprintf(stderr, "boost run failed\n");
    return 1;
  }
  Report("boost", n, stack, before, blocked, stack_bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string impl = absl::GetFlag(FLAGS_impl);
  const int64_t n = absl::GetFlag(FLAGS_tasks);
  const uint64_t stack = absl::GetFlag(FLAGS_stack_size);
  if (n < 1 || stack < 16384) {
    std::fprintf(stderr, "tasks >= 1, stack_size >= 16384\n");
    return 2;
  }
  if (impl == "evergreen") return Evergreen(n, stack);
  if (impl == "boost") return Boost(n, stack);
  std::fprintf(stderr, "--impl: evergreen or boost\n");
  return 2;
}
