// fiber_local_instructions: exactly K accesses of one int, through
// thread_local, a heap pointer, FiberLocal<int> or Boost.Fiber's
// fiber_specific_ptr<int>, for counting instructions under
// valgrind --tool=callgrind (benchmarks/callgrind_fiber_local.sh).
//
//   fiber_local_instructions <mode> <K>
//   modes: thread_local, heap, fiber_local, fiber_local_in_fiber,
//          fiber_specific_ptr, fiber_specific_ptr_in_fiber
//
// Each access is the read-modify-write loop of fiber_local_benchmark.cc
// (same shape, same benchmark::DoNotOptimize). Everything but the K
// iterations is the same for every K, so (Ir(K2) - Ir(K1)) / (K2 - K1) is
// the exact instruction count of one access plus the loop's own 2
// (decrement and branch).
#include <benchmark/benchmark.h>

#include <boost/fiber/all.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/base/attributes.h"
#include "fibers/fiber.h"
#include "local_storage/fiber_local.h"

namespace {

thread_local int tls_counter = 0;
int* heap_counter = new int(0);

template <typename Access>
ABSL_ATTRIBUTE_NOINLINE void Loop(long k, Access access) {
  for (long i = 0; i < k; ++i) {
    int& v = access();
    ++v;
    benchmark::DoNotOptimize(v);
  }
}

void RunFiberLocal(long k) {
  static auto* local = new evergreen::FiberLocal<int>();
  local->Get() = static_cast<int>(k & 1);  // created outside the loop
  Loop(k, []() -> int& { return local->Get(); });
}

void RunFiberSpecificPtr(long k) {
  static auto* ptr = new boost::fibers::fiber_specific_ptr<int>();
  ptr->reset(new int(static_cast<int>(k & 1)));
  Loop(k, []() -> int& { return **ptr; });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <mode> <K>\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  long k = std::strtol(argv[2], nullptr, 10);
  if (k <= 0) {
    std::fprintf(stderr, "K must be a positive number\n");
    return 2;
  }
  if (std::strcmp(mode, "thread_local") == 0) {
    tls_counter = static_cast<int>(k & 1);
    Loop(k, []() -> int& { return tls_counter; });
  } else if (std::strcmp(mode, "heap") == 0) {
    *heap_counter = static_cast<int>(k & 1);
    Loop(k, []() -> int& { return *heap_counter; });
  } else if (std::strcmp(mode, "fiber_local") == 0) {
    RunFiberLocal(k);
  } else if (std::strcmp(mode, "fiber_local_in_fiber") == 0) {
    auto fiber = evergreen::Fiber::Create([k] { RunFiberLocal(k); });
    if (!fiber.ok()) {
      std::fprintf(stderr, "%s\n", fiber.status().ToString().c_str());
      return 1;
    }
    (*fiber)->Switch();
  } else if (std::strcmp(mode, "fiber_specific_ptr") == 0) {
    RunFiberSpecificPtr(k);
  } else if (std::strcmp(mode, "fiber_specific_ptr_in_fiber") == 0) {
    boost::fibers::fiber fiber([k] { RunFiberSpecificPtr(k); });
    fiber.join();
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
