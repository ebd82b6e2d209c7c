// pystate_311.h: CPython 3.11's per-stack thread state, saved and restored
// on every fiber switch. Include through pystate.h.
//
// 3.11 keeps these per PyThreadState, but they describe one stack of Python
// calls, so each fiber needs its own copy:
//   - cframe: the _PyCFrame chain, threaded through the C stack, and with it
//     cframe->current_frame (the innermost Python frame);
//   - recursion_remaining (saved as a depth, so that a recursion limit set
//     while the fiber was suspended applies to it) and recursion_headroom;
//   - tracing (the depth inside a trace function) and trash_delete_nesting
//     (the depth of nested deallocations), both counters of this stack;
//   - exc_info, the stack of exceptions being handled (sys.exc_info()); the
//     bottom entry of a fiber's stack lives in its FiberPyState, as a
//     thread's lives in tstate->exc_state;
//   - datastack_chunk/top/limit: the chunks the interpreter frames live in.
//     A new fiber starts with none; the interpreter then allocates a root
//     chunk that it never pops, which LeaveFinishedFiber frees.
// Not switched (thread-wide, as in python-fibers): the trace and profile
// functions, the contextvars context, the async generator hooks, the
// pending exception (always empty at a switch) and tstate->dict.
#ifndef EVERGREEN_PYEXT_INTERNAL_PYSTATE_311_H_
#define EVERGREEN_PYEXT_INTERNAL_PYSTATE_311_H_

#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "pystate_311.h is for CPython 3.11 only"
#endif

namespace evergreen {
namespace pyext_internal {

// The bottom of a new fiber's _PyCFrame chain; lives on the fiber's stack.
using RootFrame = _PyCFrame;

// A fiber's interpreter state while it is suspended. Zero-initialized memory
// is a valid empty state.
struct FiberPyState {
  _PyCFrame* cframe;
  int recursion_depth;
  int recursion_headroom;
  int tracing;
  int trash_delete_nesting;
  _PyErr_StackItem* exc_info;
  _PyStackChunk* datastack_chunk;
  PyObject** datastack_top;
  PyObject** datastack_limit;
  // The bottom entry of the fiber's exception stack (unused by main fibers,
  // whose bottom entry is tstate->exc_state).
  _PyErr_StackItem exc_state;
};

// Recomputes cframe->use_tracing as the interpreter does, from the
// thread-wide trace and profile functions.
inline void UpdateTracing(PyThreadState* ts) {
  const bool use_tracing = ts->tracing == 0 && (ts->c_tracefunc != nullptr ||
                                                ts->c_profilefunc != nullptr);
  ts->cframe->use_tracing = use_tracing ? 255 : 0;
}

inline void SaveState(PyThreadState* ts, FiberPyState* s) {
  s->cframe = ts->cframe;
  s->recursion_depth = ts->recursion_limit - ts->recursion_remaining;
  s->recursion_headroom = ts->recursion_headroom;
  s->tracing = ts->tracing;
  s->trash_delete_nesting = ts->trash_delete_nesting;
  s->exc_info = ts->exc_info;
  s->datastack_chunk = ts->datastack_chunk;
  s->datastack_top = ts->datastack_top;
  s->datastack_limit = ts->datastack_limit;
}

inline void RestoreState(PyThreadState* ts, const FiberPyState* s) {
  ts->cframe = s->cframe;
  ts->recursion_remaining = ts->recursion_limit - s->recursion_depth;
  ts->recursion_headroom = s->recursion_headroom;
  ts->tracing = s->tracing;
  ts->trash_delete_nesting = s->trash_delete_nesting;
  ts->exc_info = s->exc_info;
  ts->datastack_chunk = s->datastack_chunk;
  ts->datastack_top = s->datastack_top;
  ts->datastack_limit = s->datastack_limit;
  UpdateTracing(ts);
}

// Installs an empty Python stack for a fiber that starts: no frame, no
// recursion, no exception being handled, no frame chunks.
inline void EnterNewFiber(PyThreadState* ts, FiberPyState* s, RootFrame* root) {
  root->use_tracing = 0;
  root->current_frame = nullptr;
  root->previous = nullptr;
  ts->cframe = root;
  ts->recursion_remaining = ts->recursion_limit;
  ts->recursion_headroom = 0;
  ts->tracing = 0;
  ts->trash_delete_nesting = 0;
  s->exc_state.exc_value = nullptr;
  s->exc_state.previous_item = nullptr;
  ts->exc_info = &s->exc_state;
  ts->datastack_chunk = nullptr;
  ts->datastack_top = nullptr;
  ts->datastack_limit = nullptr;
  UpdateTracing(ts);
}

// Releases what a fiber whose target returned still holds: its frame chunks
// (all frames are popped, only the root chunk is left) and its exception
// entry. Runs Python code only if the entry still held an exception.
inline void LeaveFinishedFiber(PyThreadState* ts, FiberPyState* s) {
  // First, as it may run code, which may push frames.
  Py_CLEAR(s->exc_state.exc_value);
  PyObjectArenaAllocator arena;
  PyObject_GetArenaAllocator(&arena);
  _PyStackChunk* chunk = ts->datastack_chunk;
  while (chunk != nullptr) {
    _PyStackChunk* previous = chunk->previous;
    arena.free(arena.ctx, chunk, chunk->size);
    chunk = previous;
  }
  ts->datastack_chunk = nullptr;
  ts->datastack_top = nullptr;
  ts->datastack_limit = nullptr;
}

inline int TraverseState(const FiberPyState* s, visitproc visit, void* arg) {
  Py_VISIT(s->exc_state.exc_value);
  return 0;
}

inline void ClearState(FiberPyState* s) { Py_CLEAR(s->exc_state.exc_value); }

}  // namespace pyext_internal
}  // namespace evergreen

#endif  // EVERGREEN_PYEXT_INTERNAL_PYSTATE_311_H_
