// loop_dispatch: exactly K timer, idle or async callbacks, through //loop
// (evergreen) or through raw libuv, for counting instructions per callback
// under valgrind --tool=callgrind (callgrind_loop_dispatch.sh).
//
//   loop_dispatch <mode> <evergreen|raw> <K>
//   modes: timer, idle, async, timer_dispatch, async_dispatch
//
// Prints "<mode> <impl> K=<K> ns_per_callback=<t>" (wall clock of the Run
// call that makes the K callbacks) and exits 1 unless exactly K callbacks
// ran. Both implementations use the same scheme, callback for callback:
//
//   timer: one timer started with timeout 0; each callback restarts it with
//          timeout 0 (Timer::Start / uv_timer_start) until the K-th. libuv
//          1.44 runs a timer restarted from its callback with timeout 0 again
//          in the same uv__run_timers pass, so the K callbacks are K
//          dispatches back to back, with no loop iteration in between (the
//          restart is part of every callback's cost).
//   idle:  one idle handle; the callback counts and stops it at the K-th, so
//          one callback per loop iteration (each pays a non-blocking poll).
//   async: one async handle, sent once before Run; each callback sends again
//          from the loop thread (Async::Send / uv_async_send) until the K-th,
//          which closes the handle. One callback per loop iteration, woken
//          through libuv's eventfd.
//   timer_dispatch, async_dispatch: the same, but the evergreen callback too
//          re-arms through libuv (uv_timer_start with the handle's own
//          libuv callback, uv_async_send) on the uv_*_t inside the wrapper,
//          found with uv_walk. Both sides then run the same code apart from
//          the wrapper's dispatch, which the difference isolates; not an
//          API users have (the wrapper does not expose its uv_*_t).
//
// Everything but the K callbacks is the same for every K, so
// (Ir(K2) - Ir(K1)) / (K2 - K1) is the exact instruction count of one
// callback.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loop/async.h"
#include "loop/idle.h"
#include "loop/loop.h"
#include "loop/timer.h"

namespace {

namespace el = evergreen::loop;

struct Counter {
  long k;
  long n = 0;
};

bool Check(int rc, const char* what) {
  if (rc < 0) std::fprintf(stderr, "%s: %s\n", what, uv_strerror(rc));
  return rc >= 0;
}

bool Check(const absl::Status& s) {
  if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return s.ok();
}

// Each Evergreen*/Raw* function below makes c.k callbacks on a loop of its
// own and returns the wall-clock nanoseconds of the Run call that made them,
// or 0 on failure (after printing why).

// FindRaw returns the one handle of `type` on `loop` (the wrapper's uv_*_t).
uv_handle_t* FindRaw(el::Loop& loop, uv_handle_type type) {
  struct Search {
    uv_handle_type type;
    uv_handle_t* found;
  } search{type, nullptr};
  uv_walk(
      loop.raw(),
      [](uv_handle_t* h, void* arg) {
        auto* s = static_cast<Search*>(arg);
        if (h->type == s->type) s->found = h;
      },
      &search);
  return search.found;
}

// --- timer ---

struct EvergreenTimerCb {
  Counter* c;
  void operator()(el::Timer& t) const {
    if (++c->n < c->k) (void)t.Start(0, 0, EvergreenTimerCb{c});
  }
};

// Re-arms through libuv on the wrapper's uv_timer_t, keeping its callback.
struct EvergreenTimerDispatchCb {
  Counter* c;
  uv_timer_t* raw;
  void operator()(el::Timer&) const {
    if (++c->n < c->k) uv_timer_start(raw, raw->timer_cb, 0, 0);
  }
};

uint64_t EvergreenTimer(Counter& c, bool dispatch_only) {
  el::Loop loop;
  el::HandlePtr<el::Timer> timer = el::Timer::Create(loop);
  if (dispatch_only) {
    auto* raw = reinterpret_cast<uv_timer_t*>(FindRaw(loop, UV_TIMER));
    if (raw == nullptr ||
        !Check(timer->Start(0, 0, EvergreenTimerDispatchCb{&c, raw}))) {
      return 0;
    }
  } else if (!Check(timer->Start(0, 0, EvergreenTimerCb{&c}))) {
    return 0;
  }
  uint64_t start = el::Loop::HrTime();
  loop.Run();
  uint64_t ns = el::Loop::HrTime() - start;
  timer.reset();
  loop.Run();
  return Check(loop.Close()) ? ns : 0;
}

void RawTimerCb(uv_timer_t* t) {
  auto* c = static_cast<Counter*>(t->data);
  if (++c->n < c->k) uv_timer_start(t, &RawTimerCb, 0, 0);
}

uint64_t RawTimer(Counter& c) {
  uv_loop_t loop;
  if (!Check(uv_loop_init(&loop), "loop init")) return 0;
  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  timer.data = &c;
  if (!Check(uv_timer_start(&timer, &RawTimerCb, 0, 0), "timer start")) {
    return 0;
  }
  uint64_t start = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);
  uint64_t ns = uv_hrtime() - start;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  return Check(uv_loop_close(&loop), "loop close") ? ns : 0;
}

// --- idle ---

struct EvergreenIdleCb {
  Counter* c;
  void operator()(el::Idle& h) const {
    if (++c->n == c->k) (void)h.Stop();
  }
};

uint64_t EvergreenIdle(Counter& c) {
  el::Loop loop;
  el::HandlePtr<el::Idle> idle = el::Idle::Create(loop);
  if (!Check(idle->Start(EvergreenIdleCb{&c}))) return 0;
  uint64_t start = el::Loop::HrTime();
  loop.Run();
  uint64_t ns = el::Loop::HrTime() - start;
  idle.reset();
  loop.Run();
  return Check(loop.Close()) ? ns : 0;
}

void RawIdleCb(uv_idle_t* h) {
  auto* c = static_cast<Counter*>(h->data);
  if (++c->n == c->k) uv_idle_stop(h);
}

uint64_t RawIdle(Counter& c) {
  uv_loop_t loop;
  if (!Check(uv_loop_init(&loop), "loop init")) return 0;
  uv_idle_t idle;
  uv_idle_init(&loop, &idle);
  idle.data = &c;
  if (!Check(uv_idle_start(&idle, &RawIdleCb), "idle start")) return 0;
  uint64_t start = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);
  uint64_t ns = uv_hrtime() - start;
  uv_close(reinterpret_cast<uv_handle_t*>(&idle), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  return Check(uv_loop_close(&loop), "loop close") ? ns : 0;
}

// --- async ---

// The last callback's Close, out of line: inlined, its std::function
// argument would give every callback a stack-protected frame (raw libuv's
// callback tail-calls uv_close).
[[gnu::noinline, gnu::cold]] void CloseAsync(el::Async& a) { (void)a.Close(); }

struct EvergreenAsyncCb {
  Counter* c;
  void operator()(el::Async& a) const {
    if (++c->n < c->k) {
      (void)a.Send();
    } else {
      CloseAsync(a);
    }
  }
};

// Sends through libuv on the wrapper's uv_async_t.
struct EvergreenAsyncDispatchCb {
  Counter* c;
  uv_async_t** raw;
  void operator()(el::Async& a) const {
    if (++c->n < c->k) {
      uv_async_send(*raw);
    } else {
      CloseAsync(a);
    }
  }
};

uint64_t EvergreenAsync(Counter& c, bool dispatch_only) {
  el::Loop loop;
  uv_async_t* raw = nullptr;
  absl::StatusOr<el::HandlePtr<el::Async>> async =
      dispatch_only
          ? el::Async::Create(loop, EvergreenAsyncDispatchCb{&c, &raw})
          : el::Async::Create(loop, EvergreenAsyncCb{&c});
  if (!Check(async.status())) return 0;
  raw = reinterpret_cast<uv_async_t*>(FindRaw(loop, UV_ASYNC));
  if (raw == nullptr || !Check((*async)->Send())) return 0;
  uint64_t start = el::Loop::HrTime();
  loop.Run();  // the K-th callback closed the handle: its close ran too
  uint64_t ns = el::Loop::HrTime() - start;
  async->reset();
  return Check(loop.Close()) ? ns : 0;
}

void RawAsyncCb(uv_async_t* a) {
  auto* c = static_cast<Counter*>(a->data);
  if (++c->n < c->k) {
    uv_async_send(a);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
  }
}

uint64_t RawAsync(Counter& c) {
  uv_loop_t loop;
  if (!Check(uv_loop_init(&loop), "loop init")) return 0;
  uv_async_t async;
  if (!Check(uv_async_init(&loop, &async, &RawAsyncCb), "async init")) {
    return 0;
  }
  async.data = &c;
  if (!Check(uv_async_send(&async), "async send")) return 0;
  uint64_t start = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);  // the K-th callback closed the handle
  uint64_t ns = uv_hrtime() - start;
  return Check(uv_loop_close(&loop), "loop close") ? ns : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: loop_dispatch "
               "<timer|idle|async|timer_dispatch|async_dispatch> "
               "<evergreen|raw> <K>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return Usage();
  const char* mode = argv[1];
  const char* impl = argv[2];
  char* end = nullptr;
  long k = std::strtol(argv[3], &end, 10);
  if (*end != '\0' || k < 1) return Usage();
  bool evergreen = std::strcmp(impl, "evergreen") == 0;
  if (!evergreen && std::strcmp(impl, "raw") != 0) return Usage();

  Counter c{k};
  uint64_t ns;
  auto is = [mode](const char* m) { return std::strcmp(mode, m) == 0; };
  // Raw libuv re-arms through libuv in every mode.
  if (is("timer") || is("timer_dispatch")) {
    ns = evergreen ? EvergreenTimer(c, is("timer_dispatch")) : RawTimer(c);
  } else if (is("idle")) {
    ns = evergreen ? EvergreenIdle(c) : RawIdle(c);
  } else if (is("async") || is("async_dispatch")) {
    ns = evergreen ? EvergreenAsync(c, is("async_dispatch")) : RawAsync(c);
  } else {
    return Usage();
  }
  if (ns == 0) return 1;
  if (c.n != k) {
    std::fprintf(stderr, "%s %s: %ld callbacks, expected %ld\n", mode, impl,
                 c.n, k);
    return 1;
  }
  std::printf("%s %s K=%ld ns_per_callback=%.1f\n", mode, impl, k,
              static_cast<double>(ns) / static_cast<double>(k));
  return 0;
}
