#include <cstdio>
#include <cstring>
#include <stdexcept>
#include "fibers/fiber.h"
using evergreen::Fiber;
int main(int argc, char** argv) {
  Fiber::Options o;
  o.stack_size = 64 * 1024;
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "kill")) {
    Fiber* main = Fiber::Current();
    auto a = Fiber::Create(o, [main] { volatile char buf[4000]; buf[0] = 1; for (;;) main->Switch(); });
    (*a)->Switch();
    (*a)->Switch();
    a->reset();
  } else if (!strcmp(mode, "suspend")) {
    Fiber* main = Fiber::Current();
    auto a = Fiber::Create(o, [main] { volatile char buf[4000]; buf[0] = 1; main->Switch(); });
    (*a)->Switch();
    (*a)->Switch();
  }
  auto b = Fiber::Create(o, []() -> int { throw std::runtime_error("x"); });
  try { (*b)->Switch(); } catch (const std::exception& e) { std::printf("caught %s\n", e.what()); }
  return 0;
}
