// queue_handoff: one task hands N items (ints) to another through a bounded
// queue: evergreen's runtime::Queue<int> against Boost.Fiber's
// buffered_channel<int> (Debian's libboost-fiber-dev), same capacity, same
// process, alternating, R repetitions; prints the median, minimum and
// maximum nanoseconds per item of each and the ratio of the medians.
//
//   ./bazelw run -c opt //benchmarks:queue_handoff -- --items=1000000
//   (also --capacity=64 --repetitions=5)
//
// Both sides check that the consumer received every item, in order (the sum
// of 0..N-1), and exit non-zero otherwise.
#include <algorithm>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/event_loop.h"
#include "runtime/queue.h"
#include "runtime/task.h"

ABSL_FLAG(int64_t, items, 1000000, "items handed from producer to consumer");
ABSL_FLAG(int64_t, capacity, 64,
          "queue capacity (Boost's buffered_channel needs a power of 2)");
ABSL_FLAG(int, repetitions, 5, "runs of each side");

namespace {

using Clock = std::chrono::steady_clock;
namespace rt = evergreen::runtime;

// Returns elapsed nanoseconds, or -1 on a failure (reported on stderr).
double Evergreen(int64_t n, int64_t capacity) {
  auto loop = rt::EventLoop::Create();
  if (!loop.ok()) return -1;
  rt::Queue<int64_t> queue(static_cast<size_t>(capacity));
  int64_t sum = 0;
  bool ok = true;
  Clock::time_point start, end;
  auto consumer = rt::Task::Spawn([&] {
    for (int64_t i = 0; i < n; ++i) {
      absl::StatusOr<int64_t> v = queue.Get();
      if (!v.ok() || *v != i) {
        ok = false;
        return;
      }
      sum += *v;
    }
    end = Clock::now();
  });
  auto producer = rt::Task::Spawn([&] {
    start = Clock::now();
    for (int64_t i = 0; i < n; ++i) {
      if (!queue.Put(i).ok()) {
        ok = false;
        return;
      }
    }
  });
  if (!consumer.ok() || !producer.ok() || !(*loop)->Run().ok() || !ok ||
      sum != n * (n - 1) / 2) {
    std::fprintf(stderr, "evergreen run failed\n");
    return -1;
  }
  return std::chrono::duration<double, std::nano>(end - start).count();
}

double Boost(int64_t n, int64_t capacity) {
  boost::fibers::buffered_channel<int64_t> channel(
      static_cast<size_t>(capacity));
  int64_t sum = 0;
  bool ok = true;
  Clock::time_point start, end;
  boost::fibers::fiber consumer([&] {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = -1;
      if (channel.pop(v) != boost::fibers::channel_op_status::success ||
          v != i) {
        ok = false;
        return;
      }
      sum += v;
    }
    end = Clock::now();
  });
  boost::fibers::fiber producer([&] {
    start = Clock::now();
    for (int64_t i = 0; i < n; ++i) {
      if (channel.push(i) != boost::fibers::channel_op_status::success) {
        ok = false;
        return;
      }
    }
  });
  producer.join();
  consumer.join();
  if (!ok || sum != n * (n - 1) / 2) {
    std::fprintf(stderr, "boost run failed\n");
    return -1;
  }
  return std::chrono::duration<double, std::nano>(end - start).count();
}

struct Stats {
  double median, min, max;
};

Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Stats{v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_items);
  const int64_t capacity = absl::GetFlag(FLAGS_capacity);
  const int reps = absl::GetFlag(FLAGS_repetitions);
  if (n < 1 || capacity < 2 || (capacity & (capacity - 1)) != 0 || reps < 1) {
    std::fprintf(stderr,
                 "items >= 1, capacity a power of 2 >= 2, repetitions >= 1\n");
    return 2;
  }
  std::vector<double> e, b;
  for (int r = 0; r < reps; ++r) {
    double te = Evergreen(n, capacity);
    double tb = Boost(n, capacity);
    if (te < 0 || tb < 0) return 1;
    e.push_back(te / static_cast<double>(n));
    b.push_back(tb / static_cast<double>(n));
  }
  Stats se = Summarize(e), sb = Summarize(b);
  std::printf("items=%lld capacity=%lld repetitions=%d (ns per item)\n",
              static_cast<long long>(n), static_cast<long long>(capacity),
              reps);
  std::printf("%-28s median %7.1f  min %7.1f  max %7.1f\n",
              "evergreen Queue<int64>", se.median, se.min, se.max);
  std::printf("%-28s median %7.1f  min %7.1f  max %7.1f\n",
              "boost buffered_channel", sb.median, sb.min, sb.max);
  std::printf("boost / evergreen (medians): %.2fx\n", sb.median / se.median);
  return 0;
}
