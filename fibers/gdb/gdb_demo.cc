// A program for gdb_test.sh: fibers suspended in known functions, then a
// function to stop in.
#include <cstdio>

#include "fibers/fiber.h"

namespace {

evergreen::Fiber* main_fiber = nullptr;

__attribute__((noinline)) void WaitingInsideParser() {
  main_fiber->Switch();
  std::puts("parser resumed");
}

}  // namespace

extern "C" __attribute__((noinline)) void evergreen_gdb_break_here() {
  asm volatile("" ::: "memory");
}

int main() {
  main_fiber = evergreen::Fiber::Current();
  evergreen::FiberOptions options;
  options.name = "parser";
  auto parser =
      evergreen::Fiber::Create(options, [] { WaitingInsideParser(); });
  options.name = "idle";
  auto idle = evergreen::Fiber::Create(options, [] {});
  if (!parser.ok() || !idle.ok()) return 1;
  (*parser)->Switch();  // suspends inside WaitingInsideParser
  evergreen_gdb_break_here();
  (*parser)->Switch();
  return 0;
}
