// Access cost of FiberLocal<int> against thread_local int and Boost.Fiber's
// fiber_specific_ptr<int>: a read-modify-write of the current fiber's int per
// iteration, from a thread's main fiber (main context) and from inside a
// fiber. Creation and release costs are measured separately.
//
//   ./bazelw run -c opt //local_storage:fiber_local_benchmark --
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
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

// Runs `body` inside a new evergreen fiber and returns when it finished.
template <typename F>
void InFiber(benchmark::State& state, F body) {
  absl::StatusOr<std::unique_ptr<Fiber>> fiber =
      Fiber::Create([&state, &body] { body(state); });
  if (!fiber.ok()) {
    state.SkipWithError("Fiber::Create failed");
    return;
  }
  (*fiber)->Switch();
}

// Runs `body` inside a new Boost fiber and joins it.
template <typename F>
void InBoostFiber(benchmark::State& state, F body) {
  boost::fibers::fiber fiber([&state, &body] { body(state); });
  fiber.join();
}

void ThreadLocalLoop(benchmark::State& state) {
  for (auto _ : state) {
    int& v = tls_counter;
    ++v;
    benchmark::DoNotOptimize(v);
  }
}

void FiberLocalLoop(benchmark::State& state) {
  FiberLocal<int>& local = Counter();
  local.Get() = 0;  // created outside the timed loop
  for (auto _ : state) {
    int& v = local.Get();
    ++v;
    benchmark::DoNotOptimize(v);
  }
}

void FiberSpecificPtrLoop(benchmark::State& state) {
  boost::fibers::fiber_specific_ptr<int>& ptr = BoostCounter();
  if (ptr.get() == nullptr) ptr.reset(new int(0));
  for (auto _ : state) {
    int& v = *ptr;
    ++v;
    benchmark::DoNotOptimize(v);
  }
}

// The floor for any storage that is not at a link-time address: the same
// read-modify-write through a pointer to a heap int, reloaded every time.
int* heap_counter = new int(0);
void BM_HeapIntThroughPointer(benchmark::State& state) {
  for (auto _ : state) {
    int& v = *heap_counter;
    ++v;
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_HeapIntThroughPointer);

void BM_ThreadLocal_Main(benchmark::State& state) { ThreadLocalLoop(state); }
BENCHMARK(BM_ThreadLocal_Main);

void BM_ThreadLocal_InFiber(benchmark::State& state) {
  InFiber(state, ThreadLocalLoop);
}
BENCHMARK(BM_ThreadLocal_InFiber);

void BM_FiberLocal_Main(benchmark::State& state) { FiberLocalLoop(state); }
BENCHMARK(BM_FiberLocal_Main);

void BM_FiberLocal_InFiber(benchmark::State& state) {
  InFiber(state, FiberLocalLoop);
}
BENCHMARK(BM_FiberLocal_InFiber);

void BM_BoostFiberSpecificPtr_Main(benchmark::State& state) {
  FiberSpecificPtrLoop(state);
}
BENCHMARK(BM_BoostFiberSpecificPtr_Main);

void BM_BoostFiberSpecificPtr_InFiber(benchmark::State& state) {
  InBoostFiber(state, FiberSpecificPtrLoop);
}
BENCHMARK(BM_BoostFiberSpecificPtr_InFiber);

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
