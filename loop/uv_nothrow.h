// loop/uv_nothrow.h: the libuv functions //loop calls from inline code,
// declared nothrow for GCC. Implementation detail; not for users.
//
//   #include "loop/uv_nothrow.h"
//   // A callback whose body calls only nothrow functions, e.g. a timer
//   // restarting itself through Timer::Start, then needs no exception
//   // frame around it: its dispatch can tail-call uv_timer_start.
//
// libuv is C: its functions never throw. Without this the compiler must
// assume any call might, and keep a landing pad (and the frame that goes
// with it) around every callback that calls libuv. GCC merges the attribute
// into uv.h's declarations; clang refuses such redeclarations, so there it
// is left out (same behaviour, a few instructions more per callback).
#ifndef EVERGREEN_LOOP_UV_NOTHROW_H_
#define EVERGREEN_LOOP_UV_NOTHROW_H_

#include <uv.h>

#include <cstdint>

#if defined(__GNUC__) && !defined(__clang__)
extern "C" {
int uv_timer_start(uv_timer_t* handle, uv_timer_cb cb, uint64_t timeout,
                   uint64_t repeat) __attribute__((nothrow));
int uv_async_send(uv_async_t* async) __attribute__((nothrow));
}
#endif

#endif  // EVERGREEN_LOOP_UV_NOTHROW_H_
