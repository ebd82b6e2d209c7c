// Access cost of FiberLocal<int> against thread_local int and Boost.Fiber's
// fiber_specific_ptr<int>, from a thread's main fiber (main context) and
// from inside a fiber. Every access kind runs the same loop template with
// the same benchmark::DoNotOptimize:
//   - Rmw: a read-modify-write of the current fiber's int per iteration;
//   - Read: the int added into a running sum (no store to the value).
// Creation and release costs are measured separately. Instruction counts of
// the same loops: benchmarks/callgrind_fiber_local.sh.
//
//   ./bazelw run -c opt //local_storage:fiber_local_benchmark --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// (one command line)
#include <benchmark/benchmark.h>

#include <boost/fiber/all.hpp>
#include <memory>
#include <utility>

#include "fibers/fiber.h"
#include "local_storage/fiber_local.h"

namespace evergreen {
namespace {

thread_local int tls_counter = 0;

// Leaked, so that no benchmark pays for (or races with) its destruction.
FiberLocal<int>& Counter() {
  static FiberLocal<int>* local = new FiberLocal<int>();
  return *local;
}

boost::fibers::fiber_specific_ptr<int>& BoostCounter() {
  static auto* ptr = new boost::fibers::fiber_specific_ptr<int>();
  return *ptr;
}

// The floor for any storage that is not at a link-time address: an int
// through a pointer to the heap, reloaded every time.
int* heap_counter = new int(0);

// The accessors: each returns a reference to the calling fiber's int.
struct ThreadLocalAccess {
  int& operator()() const { return tls_counter; }
};
struct HeapAccess {
  int& operator()() const { return *heap_counter; }
};
struct FiberLocalAccess {
  FiberLocal<int>* local;
  int& operator()() const { return local->Get(); }
};
struct FiberSpecificPtrAccess {
  boost::fibers::fiber_specific_ptr<int>* ptr;
  int& operator()() const { return **ptr; }
};

// The accessor of `Kind` for the calling fiber, its value created (and set
// to a value the compiler cannot know) outside the timed loop.
template <typename Kind>
Kind Prepare(benchmark::State& state) {
  int start = static_cast<int>(state.max_iterations & 1);
  if constexpr (std::is_same_v<Kind, FiberLocalAccess>) {
    Kind access{&Counter()};
    access() = start;
    return access;
  } else if constexpr (std::is_same_v<Kind, FiberSpecificPtrAccess>) {
    Kind access{&BoostCounter()};
    if (access.ptr->get() == nullptr) access.ptr->reset(new int(0));
    access() = start;
    return access;
  } else {
    Kind access;
    access() = start;
    return access;
  }
}

template <typename Kind>
void RmwLoop(benchmark::State& state) {
  const Kind access = Prepare<Kind>(state);
  for (auto _ : state) {
    int& v = access();
    ++v;
    benchmark::DoNotOptimize(v);
  }
}

template <typename Kind>
void ReadLoop(benchmark::State& state) {
  const Kind access = Prepare<Kind>(state);
  int sum = 0;
  for (auto _ : state) {
    sum += access();
    benchmark::DoNotOptimize(sum);
  }
}

// Runs `body` inside a new evergreen fiber and returns when it finished.
void InFiber(benchmark::State& state, void (*body)(benchmark::State&)) {
  absl::StatusOr<std::unique_ptr<Fiber>> fiber =
      Fiber::Create([&state, body] { body(state); });
  if (!fiber.ok()) {
    state.SkipWithError("Fiber::Create failed");
    return;
  }
  (*fiber)->Switch();
}

// Runs `body` inside a new Boost fiber and joins it.
void InBoostFiber(benchmark::State& state, void (*body)(benchmark::State&)) {
  boost::fibers::fiber fiber([&state, body] { body(state); });
  fiber.join();
}

void Main(benchmark::State& state, void (*body)(benchmark::State&)) {
  body(state);
}

// Name/where/loop: e.g. BM_FiberLocal/main/rmw.
#define EVERGREEN_ACCESS_BENCHMARKS(name, Kind, in_fiber)          \
  BENCHMARK_CAPTURE(Main, name##_Main_Rmw, &RmwLoop<Kind>);        \
  BENCHMARK_CAPTURE(in_fiber, name##_InFiber_Rmw, &RmwLoop<Kind>); \
  BENCHMARK_CAPTURE(Main, name##_Main_Read, &ReadLoop<Kind>);      \
  BENCHMARK_CAPTURE(in_fiber, name##_InFiber_Read, &ReadLoop<Kind>)

BENCHMARK_CAPTURE(Main, HeapInt_Main_Rmw, &RmwLoop<HeapAccess>);
BENCHMARK_CAPTURE(Main, HeapInt_Main_Read, &ReadLoop<HeapAccess>);
EVERGREEN_ACCESS_BENCHMARKS(ThreadLocal, ThreadLocalAccess, InFiber);
EVERGREEN_ACCESS_BENCHMARKS(FiberLocal, FiberLocalAccess, InFiber);
EVERGREEN_ACCESS_BENCHMARKS(BoostFiberSpecificPtr, FiberSpecificPtrAccess,
                            InBoostFiber);

// The slow path: create the current fiber's value, then destroy it (Reset).
void BM_FiberLocal_CreateAndReset(benchmark::State& state) {
  FiberLocal<int>& local = Counter();
  for (auto _ : state) {
    benchmark::DoNotOptimize(local.Get());
    local.Reset();
  }
}
BENCHMARK(BM_FiberLocal_CreateAndReset);

// What a value costs a fiber's life: create a fiber that makes one value,
// run it to the end (its values are released there), destroy it. Against
// the same fiber without a value.
void FiberLife(benchmark::State& state, bool with_value) {
  FiberLocal<int>& local = Counter();
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Fiber>> fiber =
        Fiber::Create([&local, with_value] {
          if (with_value) benchmark::DoNotOptimize(local.Get());
        });
    if (!fiber.ok()) {
      state.SkipWithError("Fiber::Create failed");
      return;
    }
    (*fiber)->Switch();
  }
}
BENCHMARK_CAPTURE(FiberLife, no_value, false);
BENCHMARK_CAPTURE(FiberLife, one_value, true);

}  // namespace
}  // namespace evergreen
