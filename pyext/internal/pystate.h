// pystate.h: the per-thread interpreter state each Python fiber owns, chosen
// by CPython version.
//
// Every version header defines, in evergreen::pyext_internal:
//
//   struct FiberPyState;  // a suspended fiber's interpreter state
//   void SaveState(PyThreadState*, FiberPyState*);
//   void RestoreState(PyThreadState*, const FiberPyState*);
//   void EnterNewFiber(PyThreadState*, FiberPyState*, RootFrame*);
//   void LeaveFinishedFiber(PyThreadState*, FiberPyState*);
//   int TraverseState(const FiberPyState*, visitproc, void*);
//   void ClearState(FiberPyState*);
//
// Adding a version means adding a header next to pystate_311.h (3.12 keeps
// the C recursion budget per thread; 3.14 also needs the stack protection
// bounds re-anchored on every switch) and a branch below.
#ifndef EVERGREEN_PYEXT_INTERNAL_PYSTATE_H_
#define EVERGREEN_PYEXT_INTERNAL_PYSTATE_H_

#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include "pyext/internal/pystate_311.h"
#else
#error \
    "fibers: unsupported CPython version (supported: 3.11); see pyext/README.md"
#endif

#endif  // EVERGREEN_PYEXT_INTERNAL_PYSTATE_H_
