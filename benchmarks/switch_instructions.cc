// switch_instructions: exactly K switch round trips (main -> fiber -> main),
// or K create + start + kill cycles, for counting instructions under
// valgrind --tool=callgrind.
//
//   switch_instructions <mode> <K>
//   modes: evergreen, jump_fcontext, boost_fiber (round trips);
//          evergreen_create, boost_fiber_create (create, switch, finish);
//          evergreen_kill, boost_fiber_destroy (create, start, kill)
//
// Everything but the K repetitions is the same for every K, so
// (Ir(K2) - Ir(K1)) / (K2 - K1) is the exact instruction count of one
// repetition (see callgrind_switch.sh).
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "fibers/fiber.h"

namespace {

namespace ctx = boost::context;
namespace fctx = boost::context::detail;

constexpr size_t kStackSize = evergreen::Fiber::kDefaultStackSize;

int RunEvergreen(long k) {
  evergreen::Fiber* main = evergreen::Fiber::Current();
  auto fiber = evergreen::Fiber::Create([main] {
    for (;;) main->Switch();
  });
  if (!fiber.ok()) {
    std::fprintf(stderr, "%s\n", fiber.status().ToString().c_str());
    return 1;
  }
  evergreen::Fiber* f = fiber->get();
  f->Switch();  // start it: it suspends in its first main->Switch()
  for (long i = 0; i < k; ++i) f->Switch();
  return 0;  // destroying `fiber` kills it
}

void JumpFcontextEntry(fctx::transfer_t t) {
  for (;;) t = fctx::jump_fcontext(t.fctx, nullptr);
}

int RunJumpFcontext(long k) {
  ctx::fixedsize_stack alloc(kStackSize);
  ctx::stack_context stack = alloc.allocate();
  fctx::fcontext_t fiber =
      fctx::make_fcontext(stack.sp, stack.size, &JumpFcontextEntry);
  fiber = fctx::jump_fcontext(fiber, nullptr).fctx;
  for (long i = 0; i < k; ++i) fiber = fctx::jump_fcontext(fiber, nullptr).fctx;
  alloc.deallocate(stack);
  return 0;
}

int RunBoostFiber(long k) {
  ctx::fiber fiber{[](ctx::fiber&& main) {
    for (;;) main = std::move(main).resume();
    return std::move(main);
  }};
  fiber = std::move(fiber).resume();
  for (long i = 0; i < k; ++i) fiber = std::move(fiber).resume();
  return 0;
}

// K times: create a fiber whose target returns at once, switch in, destroy.
int RunEvergreenCreate(long k) {
  for (long i = 0; i < k; ++i) {
    auto fiber = evergreen::Fiber::Create([] {});
    if (!fiber.ok()) return 1;
    (*fiber)->Switch();
  }
  return 0;
}

// The same with a boost.context fiber on a pooled (unguarded) stack.
int RunBoostFiberCreate(long k) {
  ctx::pooled_fixedsize_stack alloc(kStackSize);
  for (long i = 0; i < k; ++i) {
    ctx::fiber fiber{std::allocator_arg, alloc,
                     [](ctx::fiber&& main) { return std::move(main); }};
    fiber = std::move(fiber).resume();
  }
  return 0;
}

struct Raii {
  long* count;
  ~Raii() { ++*count; }
};

// K times: create a fiber, switch in so that it suspends with an RAII object
// on its stack, kill it.
int RunEvergreenKill(long k) {
  evergreen::Fiber* main = evergreen::Fiber::Current();
  long destroyed = 0;
  for (long i = 0; i < k; ++i) {
    auto fiber = evergreen::Fiber::Create([main, &destroyed] {
      Raii raii{&destroyed};
      main->Switch();
    });
    if (!fiber.ok()) return 1;
    (*fiber)->Switch();
    if (!(*fiber)->Kill().ok()) return 1;
  }
  return destroyed == k ? 0 : 1;
}

// K times: create a boost.context fiber on a pooled stack, resume it so that
// it suspends with an RAII object on its stack, destroy it (forced_unwind).
int RunBoostFiberDestroy(long k) {
  ctx::pooled_fixedsize_stack alloc(kStackSize);
  long destroyed = 0;
  for (long i = 0; i < k; ++i) {
    ctx::fiber fiber{std::allocator_arg, alloc,
                     [&destroyed](ctx::fiber&& main) {
                       Raii raii{&destroyed};
                       main = std::move(main).resume();
                       return std::move(main);
                     }};
    fiber = std::move(fiber).resume();
  }
  return destroyed == k ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(
        stderr,
        "usage: %s <evergreen|jump_fcontext|boost_fiber|evergreen_create|"
        "boost_fiber_create|evergreen_kill|boost_fiber_destroy> <K>\n",
        argv[0]);
    return 2;
  }
  const long k = std::strtol(argv[2], nullptr, 10);
  if (std::strcmp(argv[1], "evergreen") == 0) return RunEvergreen(k);
  if (std::strcmp(argv[1], "jump_fcontext") == 0) return RunJumpFcontext(k);
  if (std::strcmp(argv[1], "boost_fiber") == 0) return RunBoostFiber(k);
  if (std::strcmp(argv[1], "evergreen_create") == 0) {
    return RunEvergreenCreate(k);
  }
  if (std::strcmp(argv[1], "boost_fiber_create") == 0) {
    return RunBoostFiberCreate(k);
  }
  if (std::strcmp(argv[1], "evergreen_kill") == 0) return RunEvergreenKill(k);
  if (std::strcmp(argv[1], "boost_fiber_destroy") == 0) {
    return RunBoostFiberDestroy(k);
  }
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
