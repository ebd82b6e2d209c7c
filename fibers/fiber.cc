#include "fibers/fiber.h"

#include <cxxabi.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "fibers/internal/stack_pool.h"
#include "fibers/internal/switch.h"

#if defined(__SANITIZE_ADDRESS__)
#define EVERGREEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVERGREEN_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EVERGREEN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EVERGREEN_TSAN 1
#endif
#endif

#ifdef EVERGREEN_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef EVERGREEN_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace evergreen {
namespace fibers_internal {

// Just below a fiber object, at the top of its stack slot.
struct alignas(64) MemoryHeader {
  Stack slot;         // the whole stack as the pool handed it out
  bool leak = false;  // set when the stack must never be reused
};
static_assert(sizeof(MemoryHeader) == 64, "");

class MainFiber final : public Fiber {
 public:
  explicit MainFiber(ThreadState* thread) : Fiber(thread) {}

 private:
  std::any Run() override { return std::any(); }  // never called
  void ReleaseTarget() override {}
};

// Everything fibers keep per thread. Reached through one initial-exec TLS
// pointer; freed by a pthread key destructor when the thread exits.
struct ThreadState : SwitchState {
  ThreadState();
  ~ThreadState();

  static ThreadState* Get();
  static ThreadState* CreateForThisThread();

  uint64_t NextFiberId();

  uint64_t next_id = 0;
  uint64_t last_id = 0;
  void* altstack = nullptr;
  size_t altstack_size = 0;
  MainFiber main;
};

EVERGREEN_FIBERS_CONSTINIT thread_local SwitchState* tls_switch_state
    __attribute__((tls_model("initial-exec"))) = nullptr;
NoLocalStorage kNoLocalStorage = {};
EVERGREEN_FIBERS_CONSTINIT thread_local LocalStorageHeader* tls_local_storage
    __attribute__((tls_model("initial-exec"))) = &kNoLocalStorage;

namespace {

std::atomic<const LocalStorageHooks*> local_storage_hooks{nullptr};

void ReleaseLocalStorage(Fiber* fiber) {
  if (LocalStorageAccess::Get(*fiber) == nullptr) return;
  const LocalStorageHooks* hooks =
      local_storage_hooks.load(std::memory_order_acquire);
  if (hooks != nullptr && hooks->release != nullptr) hooks->release(fiber);
}

std::atomic<uint64_t> next_thread_id{1};

void InitSwitchState(SwitchState* s) {
  s->id = next_thread_id.fetch_add(1, std::memory_order_relaxed);
  s->eh_globals = reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
}

ThreadState* TlsState() { return static_cast<ThreadState*>(tls_switch_state); }

std::atomic<uint64_t> next_fiber_id_block{1};
constexpr uint64_t kFiberIdBlock = 1024;

pthread_key_t thread_state_key;

std::exception_ptr* KillSignal() {
  static std::exception_ptr marker;  // compared by address, never read
  return &marker;
}

// ---------------------------------------------------------------------------
// Stack overflow: a SIGSEGV on the current fiber's guard region prints the
// fiber's name and stack size, then aborts. Other faults go to the handler
// that was installed before ours.

struct sigaction previous_segv;
struct sigaction previous_bus;

void WriteAll(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}
void WriteString(const char* s) { WriteAll(s, strlen(s)); }
void WriteNumber(uint64_t v, int base) {
  char buf[32];
  int i = sizeof(buf);
  do {
    buf[--i] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  WriteAll(buf + i, sizeof(buf) - i);
}

void OnFault(int sig, siginfo_t* info, void* context) {
  ThreadState* ts = TlsState();
  char* addr = static_cast<char*>(info->si_addr);
  if (ts != nullptr && ts->current != nullptr && !ts->current->IsMain()) {
    Fiber* f = ts->current;
    const Stack& stack = *reinterpret_cast<const Stack*>(
        reinterpret_cast<const char*>(f) - sizeof(MemoryHeader));
    if (addr >= stack.base - stack.guard_size && addr < stack.base) {
      WriteString("evergreen: stack overflow in fiber ");
      if (!f->name().empty()) {
        WriteString("'");
        WriteString(f->name().c_str());
        WriteString("' ");
      }
      WriteString("(#");
      WriteNumber(f->id(), 10);
      WriteString("): its stack of ");
      WriteNumber(f->stack_size(), 10);
      WriteString(" bytes is exhausted (guard page hit at 0x");
      WriteNumber(reinterpret_cast<uintptr_t>(addr), 16);
      WriteString("); aborting\n");
      signal(SIGABRT, SIG_DFL);
      abort();
    }
  }
  const struct sigaction& prev = sig == SIGBUS ? previous_bus : previous_segv;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN &&
      prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: uninstall ourselves; the faulting instruction runs again.
  signal(sig, SIG_DFL);
}

void InstallFaultHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = &OnFault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous_segv);
    sigaction(SIGBUS, &action, &previous_bus);
  });
}

void DestroyThreadState(void* p) {
  ThreadState* ts = static_cast<ThreadState*>(p);
  // The main fiber's local values die while it is still the current fiber,
  // so that their destructors see a live thread state.
  ReleaseLocalStorage(&ts->main);
  tls_switch_state = nullptr;
  tls_local_storage = &kNoLocalStorage;
  delete ts;
}

[[noreturn]] void Fatal(const std::string& message) {
  std::string line = absl::StrCat("evergreen: fatal: ", message, "\n");
  WriteAll(line.data(), line.size());
  abort();
}

void Report(const std::string& message) {
  std::string line = absl::StrCat("evergreen: ", message, "\n");
  WriteAll(line.data(), line.size());
}

}  // namespace

ThreadState::ThreadState() : main((InitSwitchState(this), this)) {
  current = &main;
  tls_local_storage = main.local_storage_;
  // An alternate signal stack, so that a stack overflow can be reported.
  stack_t existing;
  if (sigaltstack(nullptr, &existing) == 0 &&
      (existing.ss_flags & SS_DISABLE) != 0) {
    size_t size = std::max<size_t>(64 * 1024, SIGSTKSZ);
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) {
      stack_t ss;
      ss.ss_sp = mem;
      ss.ss_size = size;
      ss.ss_flags = 0;
      if (sigaltstack(&ss, nullptr) == 0) {
        altstack = mem;
        altstack_size = size;
      } else {
        munmap(mem, size);
      }
    }
  }
  InstallFaultHandler();
}

ThreadState::~ThreadState() {
  if (current != &main) {
    Report(absl::StrCat("thread exits while ", current->DebugName(),
                        " runs; its fibers are abandoned"));
  }
  if (altstack != nullptr) {
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    munmap(altstack, altstack_size);
  }
}

ThreadState* ThreadState::CreateForThisThread() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (pthread_key_create(&thread_state_key, &DestroyThreadState) != 0) {
      Fatal("pthread_key_create failed");
    }
  });
  ThreadState* ts = new ThreadState();
  tls_switch_state = ts;
  pthread_setspecific(thread_state_key, ts);
  return ts;
}

inline ThreadState* ThreadState::Get() {
  ThreadState* ts = TlsState();
  if (ABSL_PREDICT_TRUE(ts != nullptr)) return ts;
  return CreateForThisThread();
}

uint64_t ThreadState::NextFiberId() {
  if (ABSL_PREDICT_FALSE(next_id == last_id)) {
    next_id =
        next_fiber_id_block.fetch_add(kFiberIdBlock, std::memory_order_relaxed);
    last_id = next_id + kFiberIdBlock;
  }
  return next_id++;
}

absl::StatusOr<FiberMemory> AllocateFiberMemory(size_t stack_size,
                                                size_t object_size) {
  const size_t object_region =
      (object_size + sizeof(MemoryHeader) + 63) / 64 * 64;
  // The pool rounds up to whole pages.
  absl::StatusOr<Stack> slot = AllocateStack(stack_size + object_region);
  if (!slot.ok()) return slot.status();
#ifdef EVERGREEN_ASAN
  // A pooled stack keeps the shadow of its previous fiber's frames (a fiber
  // that finishes never returns through them): clear it.
  ASAN_UNPOISON_MEMORY_REGION(slot->base, slot->size);
#endif
  char* object = slot->top() - (object_region - sizeof(MemoryHeader));
  MemoryHeader* header =
      ::new (object - sizeof(MemoryHeader)) MemoryHeader{*slot, false};
  FiberMemory memory;
  memory.object = object;
  memory.stack = *slot;
  memory.stack.size = reinterpret_cast<char*>(header) - slot->base;
  return memory;
}

void ReleaseFiberMemory(void* object) noexcept {
  MemoryHeader* header = reinterpret_cast<MemoryHeader*>(
      static_cast<char*>(object) - sizeof(MemoryHeader));
  if (!header->leak) ReleaseStack(header->slot);
}

void InstallLocalStorageHooks(const LocalStorageHooks* hooks) {
  local_storage_hooks.store(hooks, std::memory_order_release);
}

const Stack& FiberStackSlot(const Fiber& fiber) {
  return reinterpret_cast<const MemoryHeader*>(
             reinterpret_cast<const char*>(&fiber) - sizeof(MemoryHeader))
      ->slot;
}

absl::Status CheckNewParent(const FiberOptions& options) {
  if (options.parent == nullptr) return absl::OkStatus();
  ThreadState* ts = ThreadState::Get();
  if (options.parent->thread_id_ != ts->id) {
    return absl::InvalidArgumentError(
        "create fiber: parent cannot be on a different thread");
  }
  if (!options.parent->IsAlive()) {
    return absl::InvalidArgumentError(
        "create fiber: parent must not have ended");
  }
  return absl::OkStatus();
}

// The first code of every fiber, on its own stack.
void FiberEntry(void* p) {
  Fiber* self = static_cast<Fiber*>(p);
  ThreadState* ts = TlsState();
#ifdef EVERGREEN_FIBERS_SANITIZED
  AfterSwitch(ts, self);  // the first arrival on this stack
#endif
  bool killed = false;
  try {
    self->result_ = self->Run();
  } catch (const FiberKilled&) {
    self->kill_reached_entry_ = true;
    killed = true;
  } catch (...) {
    self->error_ = std::current_exception();
  }
  self->Finish(ts, killed);
}

}  // namespace fibers_internal

using fibers_internal::EhGlobals;
using fibers_internal::ThreadState;

FiberKilled::~FiberKilled() {
  // Destroyed in its own fiber, outside any unwinding, before the fiber's
  // entry caught it: a catch block swallowed it.
  ThreadState* ts = fibers_internal::TlsState();
  if (ts == nullptr) return;
  Fiber* f = ts->current;
  if (f->id_ == fiber_id_ && f->kill_requested_ && !f->kill_reached_entry_ &&
      std::uncaught_exceptions() == 0) {
    ts->swallowed_kill = f;
  }
}

Fiber::Fiber(Options& options, const fibers_internal::Stack& stack)
    : stack_(stack) {
  ThreadState* ts = ThreadState::Get();
  thread_id_ = ts->id;
  id_ = ts->NextFiberId();
  name_ = std::move(options.name);
  LinkToParent(options.parent != nullptr ? options.parent : ts->current);
  const fibers_internal::LocalStorageHooks* hooks =
      fibers_internal::local_storage_hooks.load(std::memory_order_acquire);
  if (hooks != nullptr && hooks->created != nullptr) {
    hooks->created(this, ts->current);
  }
  saved_sp_ = fibers_internal::PrepareStack(stack_.top(),
                                            &fibers_internal::FiberEntry, this);
  asan_stack_bottom_ = stack_.base;
  asan_stack_size_ = stack_.size;
#ifdef EVERGREEN_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

Fiber::Fiber(ThreadState* thread) : thread_id_(thread->id) {
  is_main_ = true;
  state_ = State::kRunning;
  id_ = thread->NextFiberId();
#ifdef EVERGREEN_TSAN
  tsan_fiber_ = __tsan_get_current_fiber();
#endif
}

Fiber::~Fiber() {
  // A bound fiber was killed by ~BoundFiber already (its storage went with
  // its end); one that never ran may still hold inherited values.
  if (!is_main_) fibers_internal::ReleaseLocalStorage(this);
  if (is_main_) {
    while (first_child_ != nullptr) first_child_->UnlinkFromParent();
    return;
  }
  while (first_child_ != nullptr) {
    Fiber* child = first_child_;
    child->UnlinkFromParent();
    if (parent_ != nullptr) child->LinkToParent(parent_);
  }
  UnlinkFromParent();
#ifdef EVERGREEN_TSAN
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
#endif
}

void Fiber::operator delete(void* p) noexcept {
  fibers_internal::ReleaseFiberMemory(p);
}

void Fiber::KillForDestruction() noexcept {
  if (state_ == State::kUnstarted || state_ == State::kFinished) return;
  ThreadState* ts = fibers_internal::TlsState();
  if (ts == nullptr || ts->id != thread_id_) {
    fibers_internal::Fatal(
        absl::StrCat("destroying ", DebugName(),
                     ", started and unfinished, on another thread: it can "
                     "only be unwound on its own thread"));
  }
  if (state_ == State::kRunning) {
    fibers_internal::Fatal(
        absl::StrCat(DebugName(), " destroyed from inside itself"));
  }
  absl::Status status;
  try {
    status = Kill();
  } catch (...) {
    status = absl::InternalError(
        "an exception was switched into the "
        "destructor of the fiber's owner");
  }
  if (IsAlive()) {
    // Its frames are still live; nothing may reuse the stack they are on.
    fibers_internal::Report(
        absl::StrCat("destroying ", DebugName(), ": it could not be unwound (",
                     status.message(),
                     "); its stack is leaked so that nothing pointing "
                     "into it dangles"));
    reinterpret_cast<fibers_internal::MemoryHeader*>(
        reinterpret_cast<char*>(this) - sizeof(fibers_internal::MemoryHeader))
        ->leak = true;
    state_ = State::kFinished;
  }
}

Fiber* Fiber::Current() { return ThreadState::Get()->current; }

std::string Fiber::DebugName() const {
  if (name_.empty()) return absl::StrCat("fiber #", id_);
  return absl::StrCat("fiber '", name_, "' (#", id_, ")");
}

absl::Status Fiber::CheckSameThread(ThreadState* ts,
                                    const char* operation) const {
  if (thread_id_ == ts->id) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      operation, " ", DebugName(), ": it belongs to another thread"));
}

void Fiber::CheckResumable(ThreadState* ts, const char* operation,
                           bool has_value) {
  if (thread_id_ != ts->id) {
    throw FiberError(absl::StrCat(
        operation, ": cannot switch to a fiber on a different thread (",
        DebugName(), ")"));
  }
  switch (state_) {
    case State::kRunning:
      throw FiberError(absl::StrCat(operation,
                                    ": cannot switch from a fiber to itself (",
                                    DebugName(), ")"));
    case State::kFinished:
      throw FiberError(
          absl::StrCat(operation, ": ", DebugName(), " has ended"));
    case State::kUnstarted:
      if (has_value) {
        throw FiberError(absl::StrCat(
            operation,
            ": cannot specify a value when the fiber wasn't started (",
            DebugName(), ")"));
      }
      return;
    case State::kSuspended:
      return;
  }
}

ABSL_ATTRIBUTE_NOINLINE std::any Fiber::SwitchSlow(std::any* value) {
  ThreadState* ts = ThreadState::Get();
  CheckResumable(ts, "switch", value != nullptr && value->has_value());
  Fiber* to = this;
  if (ts->swallowed_kill != nullptr) {
    to = DivertSwallowedKill(ts, to);
    if (value != nullptr) value->reset();
  }
  ts->value = value;
  ts->error = nullptr;
  return ts->current->SuspendAndResume(ts, to);
}

void Fiber::RethrowReceived(fibers_internal::SwitchState* ts) {
  std::exception_ptr* error = ts->error;
  ts->error = nullptr;
  if (error == fibers_internal::KillSignal()) {
    throw FiberKilled(ts->current->id_);
  }
  std::exception_ptr e = std::move(*error);
  std::rethrow_exception(std::move(e));
}

std::any Fiber::Throw(std::exception_ptr exception) {
  ThreadState* ts = ThreadState::Get();
  if (exception == nullptr) {
    throw FiberError(absl::StrCat("throw: null exception (", DebugName(), ")"));
  }
  CheckResumable(ts, "throw", false);
  std::any none;
  Fiber* to = this;
  if (state_ == State::kUnstarted) {
    // Ends without running; the exception goes to the nearest started,
    // unfinished ancestor, possibly the caller itself.
    FinishUnstarted();
    to = NearestLiveAncestor();
    if (to == ts->current) std::rethrow_exception(exception);
  }
  if (ABSL_PREDICT_FALSE(ts->swallowed_kill != nullptr)) {
    to = DivertSwallowedKill(ts, to);
    ts->value = &none;
    ts->error = nullptr;
    return ts->current->SuspendAndResume(ts, to);
  }
  ts->value = &none;
  ts->error = &exception;
  return ts->current->SuspendAndResume(ts, to);
}

absl::Status Fiber::Kill() {
  ThreadState* ts = ThreadState::Get();
  absl::Status same_thread = CheckSameThread(ts, "kill");
  if (!same_thread.ok()) return same_thread;
  if (is_main_) {
    return absl::FailedPreconditionError(
        absl::StrCat("kill ", DebugName(),
                     ": a thread's main fiber cannot "
                     "be killed"));
  }
  switch (state_) {
    case State::kFinished:
      return absl::OkStatus();
    case State::kUnstarted:
      FinishUnstarted();
      return absl::OkStatus();
    case State::kRunning:
      kill_requested_ = true;
      kill_reached_entry_ = false;
      killer_ = nullptr;
      throw FiberKilled(id_);
    case State::kSuspended:
      break;
  }
  if (kill_requested_) {
    return absl::FailedPreconditionError(
        absl::StrCat("kill ", DebugName(),
                     ": it is already being killed (suspended "
                     "while unwinding)"));
  }
  Fiber* self = ts->current;
  if (ABSL_PREDICT_FALSE(ts->swallowed_kill != nullptr)) {
    Fiber* to = DivertSwallowedKill(ts, this);
    std::any none;
    ts->value = &none;
    ts->error = nullptr;
    self->SuspendAndResume(ts, to);
    return absl::AbortedError(
        absl::StrCat("kill ", DebugName(),
                     ": the killing fiber had swallowed a kill of "
                     "its own and was diverted to its killer"));
  }
  kill_requested_ = true;
  kill_reached_entry_ = false;
  kill_swallowed_ = false;
  killer_ = self;
  std::any none;
  ts->value = &none;
  ts->error = fibers_internal::KillSignal();
  self->SuspendAndResume(ts, this);
  // Back in the killer: the fiber finished, swallowed the kill, or something
  // else resumed the killer first.
  if (kill_swallowed_) {
    kill_swallowed_ = false;
    return absl::AbortedError(absl::StrCat(
        "kill ", DebugName(),
        ": the fiber caught FiberKilled without "
        "rethrowing it and ",
        IsAlive() ? "switched away; it is left suspended in that switch"
                  : "returned; it has finished"));
  }
  if (IsAlive()) {
    killer_ = nullptr;
    return absl::FailedPreconditionError(
        absl::StrCat("kill ", DebugName(),
                     ": the killer was resumed before the fiber "
                     "finished unwinding"));
  }
  return absl::OkStatus();
}

Fiber* Fiber::DivertSwallowedKill(fibers_internal::SwitchState* ts, Fiber* to) {
  Fiber* f = ts->swallowed_kill;
  ts->swallowed_kill = nullptr;
  f->kill_requested_ = false;
  f->kill_swallowed_ = true;
  Fiber* killer = f->killer_;
  f->killer_ = nullptr;
  fibers_internal::Report(absl::StrCat(
      f->DebugName(),
      " caught FiberKilled without rethrowing it (a catch "
      "(...) must rethrow) and switched away; the kill is abandoned and the "
      "fiber left suspended"));
  if (killer != nullptr && killer->state_ == State::kSuspended && killer != f) {
    return killer;
  }
  return to;
}

absl::Status Fiber::SetParent(Fiber* parent) {
  if (parent == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("set parent of ", DebugName(), ": parent is null"));
  }
  ThreadState* ts = ThreadState::Get();
  if (thread_id_ != ts->id || parent->thread_id_ != thread_id_) {
    return absl::InvalidArgumentError(
        absl::StrCat("set parent of ", DebugName(),
                     ": parent cannot be on a different thread"));
  }
  for (Fiber* a = parent; a != nullptr; a = a->parent_) {
    if (a == this) {
      return absl::InvalidArgumentError(
          absl::StrCat("set parent of ", DebugName(), ": cyclic parent chain"));
    }
  }
  if (!parent->IsAlive()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "set parent of ", DebugName(), ": parent must not have ended"));
  }
  UnlinkFromParent();
  LinkToParent(parent);
  return absl::OkStatus();
}

void Fiber::LinkToParent(Fiber* parent) {
  parent_ = parent;
  prev_sibling_ = nullptr;
  next_sibling_ = parent->first_child_;
  if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = this;
  parent->first_child_ = this;
}

void Fiber::UnlinkFromParent() {
  if (parent_ == nullptr) return;
  if (prev_sibling_ != nullptr) {
    prev_sibling_->next_sibling_ = next_sibling_;
  } else {
    parent_->first_child_ = next_sibling_;
  }
  if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = prev_sibling_;
  parent_ = prev_sibling_ = next_sibling_ = nullptr;
}

Fiber* Fiber::NearestLiveAncestor() const {
  Fiber* p = parent_;
  if (ABSL_PREDICT_TRUE(p != nullptr && (p->state_ == State::kSuspended ||
                                         p->state_ == State::kRunning))) {
    return p;
  }
  while (p != nullptr &&
         (p->state_ == State::kUnstarted || p->state_ == State::kFinished)) {
    p = p->parent_;
  }
  if (p == nullptr) {
    fibers_internal::Fatal(absl::StrCat(
        DebugName(), " finished with no live ancestor to return to"));
  }
  return p;
}

void Fiber::FinishUnstarted() {
  state_ = State::kFinished;
  ReleaseTarget();
  fibers_internal::ReleaseLocalStorage(this);
}

#ifdef EVERGREEN_FIBERS_SANITIZED
namespace fibers_internal {

void BeforeSwitch(SwitchState* ts, Fiber* from, Fiber* to) {
#ifdef EVERGREEN_ASAN
  ts->switched_from = from;
  __sanitizer_start_switch_fiber(from->state_ == Fiber::State::kFinished
                                     ? nullptr
                                     : &from->asan_fake_stack_,
                                 to->asan_stack_bottom_, to->asan_stack_size_);
#endif
#ifdef EVERGREEN_TSAN
  (void)ts;
  (void)from;
  __tsan_switch_to_fiber(to->tsan_fiber_, 0);
#endif
}

void AfterSwitch(SwitchState* ts, Fiber* self) {
#ifdef EVERGREEN_ASAN
  const void* from_bottom;
  size_t from_size;
  __sanitizer_finish_switch_fiber(self->asan_fake_stack_, &from_bottom,
                                  &from_size);
  Fiber* from = ts->switched_from;
  if (from->asan_stack_size_ == 0) {
    from->asan_stack_bottom_ = from_bottom;
    from->asan_stack_size_ = from_size;
  }
#else
  (void)ts;
  (void)self;
#endif
}

}  // namespace fibers_internal
#endif  // EVERGREEN_FIBERS_SANITIZED

std::any Fiber::SuspendAndResume(fibers_internal::SwitchState* ts, Fiber* to) {
  SwitchContext(ts, to);
  return Received(ts);
}

void Fiber::Finish(ThreadState* ts, bool killed) {
  // Fiber-local values die on the fiber, while it is still the current one.
  fibers_internal::ReleaseLocalStorage(this);
  state_ = State::kFinished;
  ReleaseTarget();
  Fiber* to = nullptr;
  if (kill_requested_) {
    kill_requested_ = false;
    if (!killed) {
      // The target returned although it was being killed: it swallowed
      // FiberKilled.
      kill_swallowed_ = true;
      if (ts->swallowed_kill == this) ts->swallowed_kill = nullptr;
      fibers_internal::Report(
          absl::StrCat(DebugName(),
                       " caught FiberKilled without rethrowing it (a catch "
                       "(...) must rethrow) and returned"));
    }
    if (killer_ != nullptr && killer_->state_ == State::kSuspended) {
      to = killer_;
    }
    killer_ = nullptr;
    result_.reset();
    error_ = nullptr;
  }
  if (to == nullptr) to = NearestLiveAncestor();
  ts->value = &result_;
  ts->error = error_ != nullptr ? &error_ : nullptr;
  SwitchContext(ts, to, State::kFinished);
  fibers_internal::Fatal(
      absl::StrCat(DebugName(), " was resumed after it finished"));
}

namespace fibers_internal {

void* PrepareStack(void* stack_top, void (*entry)(void*), void* arg) {
  uintptr_t top = reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t{15};
  SwitchFrame* frame =
      reinterpret_cast<SwitchFrame*>(top - sizeof(SwitchFrame));
  memset(frame, 0, sizeof(*frame));
#if defined(__x86_64__)
  frame->rbx = reinterpret_cast<uint64_t>(arg);
  frame->r12 = reinterpret_cast<uint64_t>(entry);
#elif defined(__aarch64__)
  frame->x19 = reinterpret_cast<uint64_t>(arg);
  frame->x20 = reinterpret_cast<uint64_t>(entry);
#endif
  frame->pc = reinterpret_cast<uint64_t>(&evergreen_fibers_trampoline);
  return frame;
}

}  // namespace fibers_internal
}  // namespace evergreen
