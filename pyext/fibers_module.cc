// fibers_module.cc: the `fibers` CPython extension (python-fibers' API) on
// //fibers.
//
//   import fibers
//   def gen(n):
//       main = fibers.current().parent
//       for i in range(n):
//           main.switch(i)
//   f = fibers.Fiber(gen, (3,))
//   f.switch()  # 0
//
// Each Python Fiber wraps one evergreen::Fiber, with its own C stack. Values
// and exceptions cross a switch through the thread's ThreadData (the switch
// itself carries nothing), so no C++ exception ever reaches CPython frames.
// On every switch the interpreter's per-stack thread state is saved and
// restored (internal/pystate.h). The GIL stays held across a switch: all
// fibers of a thread run on that thread.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <utility>

#include "fibers/fiber.h"
#include "pyext/internal/pystate.h"

namespace evergreen {
namespace pyext_internal {
namespace {

// Usable C stack per fiber. CPython 3.11 runs Python-to-Python calls without
// C recursion, but calls through C (slots, builtins, __getattr__ ...) use
// about 1 KiB of C stack per level; this leaves room for the default
// recursion limit through C. The memory is reserved, not committed.
constexpr size_t kFiberStackSize = 2 * 1024 * 1024;

struct FiberObject;

// Per-thread state: the thread's main fiber, the current fiber and the
// transfer slot of the switch in progress. Owned by the thread's Python
// thread-state dict (through a capsule) and by every fiber of the thread, so
// that a fiber outliving its thread can still tell that it belongs to
// another one. Touched only with the GIL held.
struct ThreadData {
  int refs = 1;
  bool alive = true;
  FiberObject* main = nullptr;     // strong
  FiberObject* current = nullptr;  // strong
  // The transfer of one switch: a value (strong) or an exception (strong,
  // normalized); read by the resumed fiber right away.
  PyObject* value = nullptr;
  PyObject* exc_type = nullptr;
  PyObject* exc_value = nullptr;
  PyObject* exc_tb = nullptr;
};

// Initial-exec: one instruction on the switch path; 8 bytes of the static TLS
// surplus a dlopen'ed module may use.
__attribute__((tls_model("initial-exec"))) thread_local ThreadData* tls_thread =
    nullptr;

void RefThread(ThreadData* td) { ++td->refs; }
void UnrefThread(ThreadData* td) {
  if (--td->refs == 0) delete td;
}

struct FiberObject {
  PyObject_HEAD
      // The C++ fiber: owned unless is_main (a main fiber belongs to //fibers'
      // thread state and dies with the thread).
      Fiber* fiber;
  ThreadData* thread;  // a reference (RefThread)
  PyObject* target;
  PyObject* args;
  PyObject* kwargs;
  PyObject* dict;
  PyObject* weakreflist;
  FiberObject* parent;
  bool initialized;
  bool is_main;
  FiberPyState state;
};

PyTypeObject FiberType{};         // filled by InitModule
PyObject* fiber_error = nullptr;  // fibers.error
PyObject* fiber_exit = nullptr;   // fibers.FiberExit
PyObject* run_name = nullptr;     // "run"

inline bool IsFiber(PyObject* o) { return PyObject_TypeCheck(o, &FiberType); }

// A fiber is alive until its target finished; a main fiber always (as in
// python-fibers; once its thread exited, nothing can switch to it anyway).
bool FiberIsAlive(const FiberObject* f) {
  if (f->is_main) return true;
  return f->fiber != nullptr && f->fiber->IsAlive();
}
bool FiberIsStarted(const FiberObject* f) {
  return f->is_main || (f->fiber != nullptr && f->fiber->IsStarted());
}

void DestroyThreadCapsule(PyObject* capsule);

// The calling thread's data; creates it and the thread's main fiber on the
// first call. Null with an exception set on failure.
ThreadData* GetThread() {
  ThreadData* td = tls_thread;
  if (td != nullptr) return td;
  PyObject* dict = PyThreadState_GetDict();
  if (dict == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "fibers: no thread state dict");
    return nullptr;
  }
  td = new ThreadData();
  PyObject* capsule = PyCapsule_New(td, "fibers.thread", DestroyThreadCapsule);
  if (capsule == nullptr) {
    delete td;
    return nullptr;
  }
  // From here the capsule owns td's first reference.
  FiberObject* main =
      reinterpret_cast<FiberObject*>(FiberType.tp_alloc(&FiberType, 0));
  if (main == nullptr) {
    Py_DECREF(capsule);
    return nullptr;
  }
  main->fiber = Fiber::Current();
  main->is_main = true;
  main->initialized = true;
  main->thread = td;
  RefThread(td);
  td->main = main;
  td->current = reinterpret_cast<FiberObject*>(
      Py_NewRef(reinterpret_cast<PyObject*>(main)));
  int rc = PyDict_SetItemString(dict, "__fibers_thread", capsule);
  Py_DECREF(capsule);
  if (rc < 0) return nullptr;
  tls_thread = td;
  return td;
}

// The thread's Python state is being cleared (the thread exits, or the
// interpreter finalizes): drop the main and current fibers.
void DestroyThreadCapsule(PyObject* capsule) {
  if (capsule == nullptr) return;
  ThreadData* td =
      static_cast<ThreadData*>(PyCapsule_GetPointer(capsule, "fibers.thread"));
  if (td == nullptr) return;
  td->alive = false;
  if (tls_thread == td) tls_thread = nullptr;
  FiberObject* current = td->current;
  FiberObject* main = td->main;
  td->current = nullptr;
  td->main = nullptr;
  Py_XDECREF(current);
  Py_XDECREF(main);
  UnrefThread(td);
}

void TakeTransfer(ThreadData* td, PyObject** value, PyObject** type,
                  PyObject** exc, PyObject** tb) {
  *value = td->value;
  *type = td->exc_type;
  *exc = td->exc_value;
  *tb = td->exc_tb;
  td->value = td->exc_type = td->exc_value = td->exc_tb = nullptr;
}

// Makes `self` the current fiber after it was resumed; `prev` (the fiber
// that switched here) loses the reference it held as current. Returns the
// transferred value, or null with the transferred exception set.
PyObject* FinishResume(ThreadData* td, FiberObject* self) {
  PyObject *value, *type, *exc, *tb;
  TakeTransfer(td, &value, &type, &exc, &tb);
  FiberObject* prev = td->current;
  Py_INCREF(self);
  td->current = self;
  // May run arbitrary code (the fiber that switched here may have finished
  // and be freed now), so nothing pending may be set.
  Py_XDECREF(prev);
  if (type != nullptr) {
    Py_XDECREF(value);
    PyErr_Restore(type, exc, tb);
    return nullptr;
  }
  if (value == nullptr) Py_RETURN_NONE;
  return value;
}

// Suspends `current` and resumes `to`, which must be checked resumable. The
// transfer slot is filled. Returns what comes back, as FinishResume.
PyObject* SwitchTo(ThreadData* td, FiberObject* current, FiberObject* to) {
  PyThreadState* ts = PyThreadState_Get();
  SaveState(ts, &current->state);
  try {
    to->fiber->Switch();
  } catch (const FiberError& e) {
    // Checked before; reaching this is a bug, but not a reason to crash.
    RestoreState(ts, &current->state);
    PyObject *value, *type, *exc, *tb;
    TakeTransfer(td, &value, &type, &exc, &tb);
    Py_XDECREF(value);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    PyErr_SetString(fiber_error, e.what());
    return nullptr;
  }
  RestoreState(ts, &current->state);
  return FinishResume(td, current);
}

// The first code of every Python fiber, on its own stack.
void RunFiber(FiberObject* self) {
  ThreadData* td = tls_thread;
  PyThreadState* ts = PyThreadState_Get();
  RootFrame root;
  EnterNewFiber(ts, &self->state, &root);
  PyObject* result = FinishResume(td, self);
  if (result != nullptr || !PyErr_Occurred()) {
    // Started by a switch (the value is None); not by a throw.
    Py_XDECREF(result);
    if (self->target != nullptr) {
      result = PyObject_Call(self->target, self->args, self->kwargs);
    } else {
      PyObject* run =
          PyObject_GetAttr(reinterpret_cast<PyObject*>(self), run_name);
      if (run != nullptr) {
        result = PyObject_CallNoArgs(run);
        Py_DECREF(run);
      } else if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        result = Py_NewRef(Py_None);
      }
    }
  }
  PyObject *type = nullptr, *exc = nullptr, *tb = nullptr;
  if (result == nullptr) PyErr_Fetch(&type, &exc, &tb);
  // Dropping them may run code, even switches: before the transfer is set.
  Py_CLEAR(self->target);
  Py_CLEAR(self->args);
  Py_CLEAR(self->kwargs);
  LeaveFinishedFiber(ts, &self->state);
  if (type != nullptr) PyErr_NormalizeException(&type, &exc, &tb);
  td->value = result;
  td->exc_type = type;
  td->exc_value = exc;
  td->exc_tb = tb;
  // Returning finishes the C++ fiber: it resumes the nearest started,
  // unfinished ancestor, which takes the transfer and the reference that
  // td->current holds to `self`.
}

// Checks that `self` can be switched to from the current fiber; sets the
// python-fibers error otherwise.
bool CheckResumable(ThreadData* td, FiberObject* self, bool is_throw) {
  if (!self->initialized) {
    PyErr_SetString(fiber_error, "Fiber.__init__ was not called");
    return false;
  }
  if (self == td->current) {
    PyErr_SetString(fiber_error, is_throw
                                     ? "cannot throw from a Fiber to itself"
                                     : "cannot switch from a Fiber to itself");
    return false;
  }
  if (!FiberIsAlive(self)) {
    PyErr_SetString(fiber_error, "Fiber has ended");
    return false;
  }
  if (self->thread != td) {
    PyErr_SetString(fiber_error,
                    "cannot switch to a Fiber on a different thread");
    return false;
  }
  return true;
}

PyObject* Fiber_switch(PyObject* op, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  PyObject* value = Py_None;
  Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  if (nargs + nkw > 1) {
    PyErr_Format(PyExc_TypeError,
                 "switch() takes at most 1 argument (%zd given)", nargs + nkw);
    return nullptr;
  }
  if (nargs == 1) {
    value = args[0];
  } else if (nkw == 1) {
    if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0),
                                         "value") != 0) {
      PyErr_Format(PyExc_TypeError,
                   "switch() got an unexpected keyword argument '%U'",
                   PyTuple_GET_ITEM(kwnames, 0));
      return nullptr;
    }
    value = args[0];
  }
  ThreadData* td = GetThread();
  if (td == nullptr || !CheckResumable(td, self, false)) return nullptr;
  if (value != Py_None && !FiberIsStarted(self)) {
    PyErr_SetString(PyExc_ValueError,
                    "cannot specify a value when the Fiber wasn't started");
    return nullptr;
  }
  td->value = Py_NewRef(value);
  return SwitchTo(td, td->current, self);
}

// Reparents `self` to `parent` in Python and in C++ (checked by the caller).
bool SetParent(FiberObject* self, FiberObject* parent) {
  if (!self->is_main) {
    absl::Status status = self->fiber->SetParent(parent->fiber);
    if (!status.ok()) {
      PyErr_SetString(PyExc_ValueError, std::string(status.message()).c_str());
      return false;
    }
  }
  FiberObject* old = self->parent;
  Py_INCREF(parent);
  self->parent = parent;
  Py_XDECREF(old);
  return true;
}

// Raises the exception (type, exc, tb: strong references, normalized) in
// `self`. Steals the references.
PyObject* ThrowInto(ThreadData* td, FiberObject* self, PyObject* type,
                    PyObject* exc, PyObject* tb) {
  td->exc_type = type;
  td->exc_value = exc;
  td->exc_tb = tb;
  // An unstarted fiber starts, sees the exception and finishes at once
  // without running its target: the exception goes to its nearest started,
  // unfinished ancestor, as in python-fibers.
  return SwitchTo(td, td->current, self);
}

PyObject* Fiber_throw(PyObject* op, PyObject* args, PyObject* kwargs) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  static const char* kwlist[] = {"typ", "val", "tb", nullptr};
  PyObject* type;
  PyObject* val = nullptr;
  PyObject* tb = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:throw",
                                   const_cast<char**>(kwlist), &type, &val,
                                   &tb)) {
    return nullptr;
  }
  if (tb == Py_None) {
    tb = nullptr;
  } else if (tb != nullptr && !PyTraceBack_Check(tb)) {
    PyErr_SetString(PyExc_TypeError,
                    "throw() third argument must be a traceback object");
    return nullptr;
  }
  Py_INCREF(type);
  Py_XINCREF(val);
  Py_XINCREF(tb);
  if (PyExceptionClass_Check(type)) {
    PyErr_NormalizeException(&type, &val, &tb);
    if (val != nullptr && tb != nullptr) PyException_SetTraceback(val, tb);
  } else if (PyExceptionInstance_Check(type)) {
    if (val != nullptr && val != Py_None) {
      PyErr_SetString(PyExc_TypeError,
                      "instance exceptions cannot have a separate value");
      goto error;
    }
    Py_XDECREF(val);
    val = type;
    type =
        Py_NewRef(reinterpret_cast<PyObject*>(PyExceptionInstance_Class(val)));
    if (tb != nullptr) PyException_SetTraceback(val, tb);
  } else {
    PyErr_Format(PyExc_TypeError,
                 "exceptions must be classes, or instances, not %s",
                 Py_TYPE(type)->tp_name);
    goto error;
  }
  {
    ThreadData* td = GetThread();
    if (td == nullptr || !CheckResumable(td, self, true)) goto error;
    return ThrowInto(td, self, type, val, tb);
  }
error:
  Py_DECREF(type);
  Py_XDECREF(val);
  Py_XDECREF(tb);
  return nullptr;
}

PyObject* Fiber_is_alive(PyObject* op, PyObject*) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (!self->initialized) Py_RETURN_FALSE;
  return PyBool_FromLong(FiberIsAlive(self));
}

PyObject* Fiber_getstate(PyObject* op, PyObject*) {
  PyErr_Format(PyExc_TypeError, "cannot serialize '%s' object",
               Py_TYPE(op)->tp_name);
  return nullptr;
}

PyObject* fibers_current(PyObject*, PyObject*) {
  ThreadData* td = GetThread();
  if (td == nullptr) return nullptr;
  return Py_NewRef(reinterpret_cast<PyObject*>(td->current));
}

PyObject* Fiber_new(PyTypeObject* type, PyObject*, PyObject*) {
  // tp_alloc zero-fills: every field starts null/false, the state empty.
  return type->tp_alloc(type, 0);
}

int Fiber_init(PyObject* op, PyObject* args, PyObject* kwargs) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  static const char* kwlist[] = {"target", "args", "kwargs", "parent", nullptr};
  PyObject* target = nullptr;
  PyObject* t_args = nullptr;
  PyObject* t_kwargs = nullptr;
  FiberObject* parent = nullptr;
  if (self->initialized) {
    PyErr_SetString(PyExc_RuntimeError, "object was already initialized");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOO!:__init__",
                                   const_cast<char**>(kwlist), &target, &t_args,
                                   &t_kwargs, &FiberType, &parent)) {
    return -1;
  }
  ThreadData* td = GetThread();
  if (td == nullptr) return -1;
  if (target == Py_None) target = nullptr;
  if (parent != nullptr) {
    if (!parent->initialized) {
      PyErr_SetString(fiber_error, "Fiber.__init__ was not called");
      return -1;
    }
    if (parent->thread != td) {
      PyErr_SetString(fiber_error, "parent cannot be on a different thread");
      return -1;
    }
    if (!FiberIsAlive(parent)) {
      PyErr_SetString(PyExc_ValueError, "parent must not have ended");
      return -1;
    }
  } else {
    parent = td->current;
  }
  if (target != nullptr) {
    if (!PyCallable_Check(target)) {
      PyErr_SetString(PyExc_TypeError,
                      "if specified, target must be a callable");
      return -1;
    }
    if (t_args != nullptr && !PyTuple_Check(t_args)) {
      PyErr_SetString(PyExc_TypeError, "args must be a tuple");
      return -1;
    }
    if (t_kwargs != nullptr && !PyDict_Check(t_kwargs)) {
      PyErr_SetString(PyExc_TypeError, "kwargs must be a dict");
      return -1;
    }
  }
  FiberOptions options;
  options.stack_size = kFiberStackSize;
  options.parent = parent->fiber;
  absl::StatusOr<std::unique_ptr<Fiber>> fiber =
      Fiber::Create(std::move(options), [self] { RunFiber(self); });
  if (!fiber.ok()) {
    PyErr_SetString(
        fiber.status().code() == absl::StatusCode::kResourceExhausted
            ? PyExc_MemoryError
            : PyExc_ValueError,
        std::string(fiber.status().message()).c_str());
    return -1;
  }
  self->fiber = fiber->release();
  if (target != nullptr) {
    self->target = Py_NewRef(target);
    self->args = t_args != nullptr ? Py_NewRef(t_args) : PyTuple_New(0);
    self->kwargs = Py_XNewRef(t_kwargs);
  }
  self->parent = reinterpret_cast<FiberObject*>(
      Py_NewRef(reinterpret_cast<PyObject*>(parent)));
  self->thread = td;
  RefThread(td);
  self->initialized = true;
  return 0;
}

int Fiber_traverse(PyObject* op, visitproc visit, void* arg) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  Py_VISIT(self->target);
  Py_VISIT(self->args);
  Py_VISIT(self->kwargs);
  Py_VISIT(self->dict);
  Py_VISIT(reinterpret_cast<PyObject*>(self->parent));
  return TraverseState(&self->state, visit, arg);
}

int Fiber_clear(PyObject* op) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  Py_CLEAR(self->target);
  Py_CLEAR(self->args);
  Py_CLEAR(self->kwargs);
  Py_CLEAR(self->dict);
  Py_CLEAR(self->parent);
  ClearState(&self->state);
  return 0;
}

// A suspended fiber that becomes garbage is unwound before it is freed: a
// FiberExit is thrown into it (its finally blocks and context managers run)
// after it was reparented to the current fiber, so that it ends here. This
// releases everything its frames hold, and lets //fibers free its stack.
// Not possible on another thread or while the interpreter finalizes: the
// fiber is then left as it is (its stack and frames are leaked, never
// reused).
void Fiber_finalize(PyObject* op) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (!self->initialized || self->is_main || !FiberIsStarted(self) ||
      !FiberIsAlive(self) || _Py_IsFinalizing()) {
    return;
  }
  ThreadData* td = tls_thread;
  if (td == nullptr || self->thread != td || td->current == self) return;
  PyObject *save_type, *save_value, *save_tb;
  PyErr_Fetch(&save_type, &save_value, &save_tb);
  if (SetParent(self, td->current)) {
    PyObject* exc = PyObject_CallNoArgs(fiber_exit);
    PyObject* result = nullptr;
    if (exc != nullptr) {
      result = ThrowInto(td, self, Py_NewRef(fiber_exit), exc, nullptr);
    }
    if (result != nullptr) {
      Py_DECREF(result);
    } else if (PyErr_ExceptionMatches(fiber_exit)) {
      PyErr_Clear();
    } else {
      PyErr_WriteUnraisable(op);
    }
  } else {
    PyErr_WriteUnraisable(op);
  }
  PyErr_Restore(save_type, save_value, save_tb);
}

void Fiber_dealloc(PyObject* op) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  PyObject_GC_UnTrack(op);
  if (PyObject_CallFinalizerFromDealloc(op) < 0) return;  // resurrected
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(op);
  Fiber_clear(op);
  if (self->fiber != nullptr && !self->is_main) {
    if (self->fiber->IsStarted() && self->fiber->IsAlive()) {
      // Could not be unwound (see Fiber_finalize): leaked, frames and all.
    } else {
      delete self->fiber;
    }
  }
  self->fiber = nullptr;
  if (self->thread != nullptr) UnrefThread(self->thread);
  self->thread = nullptr;
  Py_TYPE(op)->tp_free(op);
}

PyObject* Fiber_get_dict(PyObject* op, void*) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (self->dict == nullptr) {
    self->dict = PyDict_New();
    if (self->dict == nullptr) return nullptr;
  }
  return Py_NewRef(self->dict);
}

int Fiber_set_dict(PyObject* op, PyObject* value, void*) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "__dict__ may not be deleted");
    return -1;
  }
  if (!PyDict_Check(value)) {
    PyErr_SetString(PyExc_TypeError, "__dict__ must be a dictionary");
    return -1;
  }
  Py_XSETREF(self->dict, Py_NewRef(value));
  return 0;
}

PyObject* Fiber_get_parent(PyObject* op, void*) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (self->parent == nullptr) Py_RETURN_NONE;
  return Py_NewRef(reinterpret_cast<PyObject*>(self->parent));
}

int Fiber_set_parent(PyObject* op, PyObject* value, void*) {
  FiberObject* self = reinterpret_cast<FiberObject*>(op);
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
    return -1;
  }
  if (!IsFiber(value)) {
    PyErr_SetString(PyExc_TypeError, "parent must be a Fiber");
    return -1;
  }
  FiberObject* parent = reinterpret_cast<FiberObject*>(value);
  if (!self->initialized || !parent->initialized) {
    PyErr_SetString(fiber_error, "Fiber.__init__ was not called");
    return -1;
  }
  for (FiberObject* p = parent; p != nullptr; p = p->parent) {
    if (p == self) {
      PyErr_SetString(PyExc_ValueError, "cyclic parent chain");
      return -1;
    }
  }
  if (!FiberIsAlive(parent)) {
    PyErr_SetString(PyExc_ValueError, "parent must not have ended");
    return -1;
  }
  if (parent->thread != self->thread || self->thread != tls_thread) {
    PyErr_SetString(PyExc_ValueError, "parent cannot be on a different thread");
    return -1;
  }
  return SetParent(self, parent) ? 0 : -1;
}

PyMethodDef fiber_methods[] = {
    {"current", fibers_current, METH_CLASS | METH_NOARGS,
     "current() -> the Fiber running now on this thread"},
    {"is_alive", Fiber_is_alive, METH_NOARGS,
     "is_alive() -> True until the Fiber's target has finished"},
    {"switch",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Fiber_switch)),
     METH_FASTCALL | METH_KEYWORDS,
     "switch(value=None): suspend the current Fiber and resume this one"},
    {"throw",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Fiber_throw)),
     METH_VARARGS | METH_KEYWORDS,
     "throw(typ, val=None, tb=None): switch, raising an exception there"},
    {"__getstate__", Fiber_getstate, METH_NOARGS, "Fibers cannot be pickled"},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef fiber_getsets[] = {
    {"__dict__", Fiber_get_dict, Fiber_set_dict, "instance dictionary",
     nullptr},
    {"parent", Fiber_get_parent, Fiber_set_parent,
     "the parent Fiber, or None for a thread's main Fiber", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMethodDef module_methods[] = {
    {"current", fibers_current, METH_NOARGS,
     "current() -> the Fiber running now on this thread"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef fibers_module = {
    PyModuleDef_HEAD_INIT,
    "fibers",
    "Lightweight cooperative microthreads (python-fibers' API) on //fibers.",
    -1,
    module_methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

PyObject* InitModule() {
  // Built against one minor version's thread-state layout: refuse others.
  if ((Py_Version >> 16) != (PY_VERSION_HEX >> 16)) {
    PyErr_Format(PyExc_ImportError,
                 "fibers was built for CPython %d.%d and cannot run on %d.%d",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION, (Py_Version >> 24) & 0xff,
                 (Py_Version >> 16) & 0xff);
    return nullptr;
  }
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&FiberType), 1);
  FiberType.tp_name = "fibers.Fiber";
  FiberType.tp_basicsize = sizeof(FiberObject);
  FiberType.tp_dealloc = Fiber_dealloc;
  FiberType.tp_flags =
      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
  FiberType.tp_doc =
      "Fiber(target=None, args=(), kwargs={}, parent=None)\n\n"
      "A function running on its own stack, started by the first switch().";
  FiberType.tp_traverse = Fiber_traverse;
  FiberType.tp_clear = Fiber_clear;
  FiberType.tp_weaklistoffset = offsetof(FiberObject, weakreflist);
  FiberType.tp_methods = fiber_methods;
  FiberType.tp_getset = fiber_getsets;
  FiberType.tp_dictoffset = offsetof(FiberObject, dict);
  FiberType.tp_init = Fiber_init;
  FiberType.tp_new = Fiber_new;
  FiberType.tp_finalize = Fiber_finalize;
  if (PyType_Ready(&FiberType) < 0) return nullptr;
  run_name = PyUnicode_InternFromString("run");
  if (run_name == nullptr) return nullptr;
  PyObject* module = PyModule_Create(&fibers_module);
  if (module == nullptr) return nullptr;
  fiber_error = PyErr_NewException("fibers.error", nullptr, nullptr);
  fiber_exit = PyErr_NewExceptionWithDoc(
      "fibers.FiberExit",
      "Thrown into a suspended Fiber that is garbage collected, to unwind it.",
      PyExc_BaseException, nullptr);
  if (fiber_error == nullptr || fiber_exit == nullptr ||
      PyModule_AddObjectRef(module, "error", fiber_error) < 0 ||
      PyModule_AddObjectRef(module, "FiberExit", fiber_exit) < 0 ||
      PyModule_AddObjectRef(module, "Fiber",
                            reinterpret_cast<PyObject*>(&FiberType)) < 0 ||
      PyModule_AddStringConstant(module, "__version__", "1.2.0") < 0) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}

}  // namespace
}  // namespace pyext_internal
}  // namespace evergreen

PyMODINIT_FUNC PyInit_fibers() {
  return evergreen::pyext_internal::InitModule();
}
