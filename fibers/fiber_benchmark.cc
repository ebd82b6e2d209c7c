// Micro-benchmarks of evergreen fibers against their peers, all in one
// binary so that every ratio comes from the same run (see
// benchmarks/RESULTS.md and /work/shared/docs/PEERS.md):
//
//   - switch round trip (main -> fiber -> main, two switches): evergreen,
//     boost.context jump_fcontext and fiber, glibc swapcontext, Boost.Fiber
//     yield ping-pong, two threads ping-ponging through a futex;
//   - the MXCSR trap: a round trip after an inexact floating-point operation
//     on one side, against a clean one, for evergreen and boost.context;
//   - create + first switch + finish, evergreen's pooled guarded stacks
//     against boost.context's stack allocators;
//   - killing a suspended fiber (its stack unwinds, destructors run) against
//     destroying a suspended boost.context fiber (forced_unwind).
//
// Every round trip is timed with the sticky floating-point flags cleared on
// both sides after the timer started (the timer itself does floating-point
// arithmetic), unless a benchmark sets them on purpose.
//
//   ./bazelw run -c opt //fibers:fiber_benchmark --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/fiber/all.hpp>
#include <cfenv>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/optimization.h"
#include "benchmark/benchmark.h"
#include "fibers/fiber.h"
#include "fibers/internal/stack_pool.h"

namespace evergreen {
namespace {

namespace ctx = boost::context;
namespace fctx = boost::context::detail;

// One stack size for every create/kill comparison: evergreen's default.
constexpr size_t kStackSize = Fiber::kDefaultStackSize;

// Clears the sticky floating-point exception flags (x86_64: MXCSR and the
// x87 status word; aarch64: FPSR). The control bits are left alone.
void ClearFpFlags() { std::feclearexcept(FE_ALL_EXCEPT); }

// An inexact division: sets the "precision" sticky flag (MXCSR.PE).
__attribute__((noinline)) void InexactFpOp() {
  volatile double x = 1.0;
  x = x / 3.0;
  benchmark::DoNotOptimize(x);
}

// Which side of a round trip does an inexact floating-point operation once
// before the timed loop.
enum class FpDirt { kClean, kFiber, kMain };

// Starts the timer, clears the FP flags (the timer start does floating-point
// arithmetic), runs `prologue` once and `body` once per iteration. The
// prologue is one resume of the fiber, which clears its own flags there (a
// switch that restores MXCSR would otherwise bring back flags saved earlier).
template <typename Prologue, typename Body>
void TimedLoop(benchmark::State& state, Prologue prologue, Body body) {
  auto it = state.begin();
  auto end = state.end();
  ClearFpFlags();
  prologue();
  for (; it != end; ++it) body();
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------
// Switch round trip

void EvergreenRoundTrip(benchmark::State& state, FpDirt dirt) {
  Fiber* main = Fiber::Current();
  auto fiber = Fiber::Create([main, dirt] {
    main->Switch();
    ClearFpFlags();
    if (dirt == FpDirt::kFiber) InexactFpOp();
    for (;;) main->Switch();
  });
  if (!fiber.ok()) {
    state.SkipWithError(std::string(fiber.status().message()).c_str());
    return;
  }
  Fiber* f = fiber->get();
  f->Switch();  // to its first main->Switch()
  TimedLoop(
      state,
      [&] {
        f->Switch();
        if (dirt == FpDirt::kMain) InexactFpOp();
      },
      [&] { benchmark::DoNotOptimize(f->Switch()); });
  // Destroying `fiber` kills it.
}

void BM_Evergreen_SwitchRoundTrip(benchmark::State& state) {
  EvergreenRoundTrip(state, FpDirt::kClean);
}
BENCHMARK(BM_Evergreen_SwitchRoundTrip);

void JumpFcontextEntry(fctx::transfer_t t) {
  t = fctx::jump_fcontext(t.fctx, nullptr);
  ClearFpFlags();
  for (;;) t = fctx::jump_fcontext(t.fctx, nullptr);
}

void BM_BoostJumpFcontext_RoundTrip(benchmark::State& state) {
  ctx::fixedsize_stack alloc(kStackSize);
  ctx::stack_context stack = alloc.allocate();
  fctx::fcontext_t fiber =
      fctx::make_fcontext(stack.sp, stack.size, &JumpFcontextEntry);
  fiber = fctx::jump_fcontext(fiber, nullptr).fctx;
  TimedLoop(
      state, [&] { fiber = fctx::jump_fcontext(fiber, nullptr).fctx; },
      [&] {
        fiber = fctx::jump_fcontext(fiber, nullptr).fctx;
        benchmark::DoNotOptimize(fiber);
      });
  // The fiber's frames own nothing: dropping its stack is enough.
  alloc.deallocate(stack);
}
BENCHMARK(BM_BoostJumpFcontext_RoundTrip);

void BoostFiberRoundTrip(benchmark::State& state, FpDirt dirt) {
  ctx::fiber fiber{[dirt](ctx::fiber&& main) {
    main = std::move(main).resume();
    ClearFpFlags();
    if (dirt == FpDirt::kFiber) InexactFpOp();
    for (;;) main = std::move(main).resume();
    return std::move(main);
  }};
  fiber = std::move(fiber).resume();
  TimedLoop(
      state,
      [&] {
        fiber = std::move(fiber).resume();
        if (dirt == FpDirt::kMain) InexactFpOp();
      },
      [&] {
        fiber = std::move(fiber).resume();
        benchmark::DoNotOptimize(fiber);
      });
  // Destroying `fiber` unwinds it with forced_unwind.
}

void BM_BoostContextFiber_RoundTrip(benchmark::State& state) {
  BoostFiberRoundTrip(state, FpDirt::kClean);
}
BENCHMARK(BM_BoostContextFiber_RoundTrip);

ucontext_t swap_main;
ucontext_t swap_fiber;

void SwapcontextEntry() {
  swapcontext(&swap_fiber, &swap_main);
  ClearFpFlags();
  for (;;) swapcontext(&swap_fiber, &swap_main);
}

void BM_Swapcontext_RoundTrip(benchmark::State& state) {
  std::unique_ptr<char[]> stack(new char[kStackSize]);
  getcontext(&swap_fiber);
  swap_fiber.uc_stack.ss_sp = stack.get();
  swap_fiber.uc_stack.ss_size = kStackSize;
  swap_fiber.uc_link = nullptr;
  makecontext(&swap_fiber, &SwapcontextEntry, 0);
  swapcontext(&swap_main, &swap_fiber);
  TimedLoop(
      state, [&] { swapcontext(&swap_main, &swap_fiber); },
      [&] { swapcontext(&swap_main, &swap_fiber); });
}
BENCHMARK(BM_Swapcontext_RoundTrip);

// Two Boost.Fiber fibers yielding to each other under the default
// round-robin scheduler; one iteration is one yield by each (two switches).
void BM_BoostFiber_YieldRoundTrip(benchmark::State& state) {
  bool started = false;
  bool done = false;
  boost::fibers::fiber partner([&] {
    while (!started) boost::this_fiber::yield();
    ClearFpFlags();
    while (!done) boost::this_fiber::yield();
  });
  boost::fibers::fiber runner([&] {
    TimedLoop(
        state,
        [&] {
          started = true;
          boost::this_fiber::yield();
        },
        [] { boost::this_fiber::yield(); });
    done = true;
  });
  runner.join();
  partner.join();
}
BENCHMARK(BM_BoostFiber_YieldRoundTrip);

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value,
                 nullptr, nullptr, 0);
}

void PinToCpu(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(thread, sizeof(set), &set);
}

// Two threads handing a turn back and forth through a futex word (1: the
// partner's turn, 0: the main thread's). The partner does exactly as many
// turns as the timed loop, so it stops by itself. Arg: 1 pins both threads
// to CPU 0, 0 lets the scheduler place them.
void BM_TwoThreadsFutex_RoundTrip(benchmark::State& state) {
  const bool same_cpu = state.range(0) != 0;
  cpu_set_t saved;
  pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
  if (same_cpu) PinToCpu(pthread_self(), 0);
  std::atomic<uint32_t> turn{0};
  const benchmark::IterationCount n = state.max_iterations;
  std::thread partner([&] {
    for (benchmark::IterationCount i = 0; i < n; ++i) {
      while (turn.load(std::memory_order_acquire) != 1) {
        Futex(&turn, FUTEX_WAIT_PRIVATE, 0);
      }
      turn.store(0, std::memory_order_release);
      Futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    }
  });
  if (same_cpu) PinToCpu(partner.native_handle(), 0);
  TimedLoop(
      state, [] {},
      [&] {
        turn.store(1, std::memory_order_release);
        Futex(&turn, FUTEX_WAKE_PRIVATE, 1);
        while (turn.load(std::memory_order_acquire) != 0) {
          Futex(&turn, FUTEX_WAIT_PRIVATE, 1);
        }
      });
  partner.join();
  pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
}
BENCHMARK(BM_TwoThreadsFutex_RoundTrip)
    ->ArgName("same_cpu")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime();

// ---------------------------------------------------------------------------
// The MXCSR trap: a round trip after one side did an inexact operation.

BENCHMARK_CAPTURE(EvergreenRoundTrip, clean, FpDirt::kClean)
    ->Name("BM_Evergreen_FpRoundTrip/clean");
BENCHMARK_CAPTURE(EvergreenRoundTrip, fiber_inexact, FpDirt::kFiber)
    ->Name("BM_Evergreen_FpRoundTrip/fiber_inexact");
BENCHMARK_CAPTURE(EvergreenRoundTrip, main_inexact, FpDirt::kMain)
    ->Name("BM_Evergreen_FpRoundTrip/main_inexact");
BENCHMARK_CAPTURE(BoostFiberRoundTrip, clean, FpDirt::kClean)
    ->Name("BM_BoostContextFiber_FpRoundTrip/clean");
BENCHMARK_CAPTURE(BoostFiberRoundTrip, fiber_inexact, FpDirt::kFiber)
    ->Name("BM_BoostContextFiber_FpRoundTrip/fiber_inexact");
BENCHMARK_CAPTURE(BoostFiberRoundTrip, main_inexact, FpDirt::kMain)
    ->Name("BM_BoostContextFiber_FpRoundTrip/main_inexact");

// ---------------------------------------------------------------------------
// Create + first switch + finish (the target returns at once).

void BM_Evergreen_CreateSwitchFinish(benchmark::State& state) {
  int64_t guarded = 0;
  int64_t checked = 0;
  TimedLoop(
      state, [] {},
      [&] {
        auto fiber = Fiber::Create([] {});
        if (ABSL_PREDICT_FALSE(!fiber.ok())) std::abort();
        benchmark::DoNotOptimize((*fiber)->Switch());
      });
  // Untimed: sample stacks from the pool for their guard.
  for (int i = 0; i < 64; ++i) {
    auto fiber = Fiber::Create([] {});
    if (!fiber.ok()) break;
    ++checked;
    guarded += fibers_internal::StackGuardIsIntact(
                   fibers_internal::FiberStackSlot(**fiber))
                   ? 1
                   : 0;
  }
  state.counters["guarded_of_64"] = static_cast<double>(guarded);
  if (guarded != checked || checked == 0) {
    state.SkipWithError("a pooled stack has no guard");
  }
}
BENCHMARK(BM_Evergreen_CreateSwitchFinish);

template <typename Alloc>
void BoostCreateSwitchFinish(benchmark::State& state, Alloc alloc) {
  TimedLoop(
      state, [] {},
      [&] {
        ctx::fiber fiber{std::allocator_arg, alloc,
                         [](ctx::fiber&& main) { return std::move(main); }};
        fiber = std::move(fiber).resume();
        benchmark::DoNotOptimize(fiber);
      });
}

void BM_BoostContextFiber_CreateSwitchFinish_Protected(
    benchmark::State& state) {
  BoostCreateSwitchFinish(state, ctx::protected_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_BoostContextFiber_CreateSwitchFinish_Protected);

void BM_BoostContextFiber_CreateSwitchFinish_Pooled(benchmark::State& state) {
  BoostCreateSwitchFinish(state, ctx::pooled_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_BoostContextFiber_CreateSwitchFinish_Pooled);

void BM_BoostContextFiber_CreateSwitchFinish_Fixedsize(
    benchmark::State& state) {
  BoostCreateSwitchFinish(state, ctx::fixedsize_stack(kStackSize));
}
BENCHMARK(BM_BoostContextFiber_CreateSwitchFinish_Fixedsize);

// ---------------------------------------------------------------------------
// Killing a suspended fiber. The fiber suspends with an RAII object on its
// stack; the benchmark checks that every destructor ran.

struct CountOnDestroy {
  int64_t* count;
  ~CountOnDestroy() { ++*count; }
};

void CheckDestroyed(benchmark::State& state, int64_t destroyed) {
  if (destroyed != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a suspended fiber's stack was not unwound");
  }
}

// Arg 1: Kill() the suspended fiber. Arg 0: resume it so that it finishes.
void BM_Evergreen_CreateStartKill(benchmark::State& state) {
  const bool kill = state.range(0) != 0;
  Fiber* main = Fiber::Current();
  int64_t destroyed = 0;
  TimedLoop(
      state, [] {},
      [&] {
        auto fiber = Fiber::Create([main, &destroyed] {
          CountOnDestroy raii{&destroyed};
          main->Switch();
          benchmark::DoNotOptimize(raii);
        });
        if (ABSL_PREDICT_FALSE(!fiber.ok())) std::abort();
        (*fiber)->Switch();
        if (kill) {
          if (ABSL_PREDICT_FALSE(!(*fiber)->Kill().ok())) std::abort();
        } else {
          (*fiber)->Switch();
        }
      });
  CheckDestroyed(state, destroyed);
}
BENCHMARK(BM_Evergreen_CreateStartKill)->ArgName("kill")->Arg(1)->Arg(0);

// Arg 1: destroy the suspended fiber (forced_unwind). Arg 0: resume it so
// that it finishes. Pooled stacks, the closest to evergreen's pool.
void BM_BoostContextFiber_CreateStartDestroy(benchmark::State& state) {
  const bool destroy = state.range(0) != 0;
  ctx::pooled_fixedsize_stack alloc(kStackSize);
  int64_t destroyed = 0;
  TimedLoop(
      state, [] {},
      [&] {
        ctx::fiber fiber{std::allocator_arg, alloc,
                         [&destroyed](ctx::fiber&& main) {
                           CountOnDestroy raii{&destroyed};
                           main = std::move(main).resume();
                           benchmark::DoNotOptimize(raii);
                           return std::move(main);
                         }};
        fiber = std::move(fiber).resume();
        if (!destroy) fiber = std::move(fiber).resume();
      });
  CheckDestroyed(state, destroyed);
}
BENCHMARK(BM_BoostContextFiber_CreateStartDestroy)
    ->ArgName("destroy")
    ->Arg(1)
    ->Arg(0);

}  // namespace
}  // namespace evergreen
