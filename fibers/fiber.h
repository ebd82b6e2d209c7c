// fiber.h: stack-switching coroutines with python-fibers' semantics.
//
// A Fiber runs a callable on its own stack. It is created with its target
// and arguments bound, and does not run until something switches into it.
// Switching is explicit and symmetric: `f->Switch(v)` suspends the current
// fiber and resumes `f`; the value `v` comes out of the Switch() call that
// `f` is suspended in (or, for a fiber's first switch, starts its target).
//
//   // A generator: the fiber yields values by switching to its parent.
//   auto gen = evergreen::Fiber::Create([] {
//     evergreen::Fiber* main = evergreen::Fiber::Current()->parent();
//     for (int i = 0; i < 3; ++i) main->Switch(i);
//     return -1;
//   });
//   std::any v = (*gen)->Switch();          // 0
//   v = (*gen)->Switch();                   // 1
//
// Fibers form a tree per thread, rooted at the thread's implicit main fiber.
// When a fiber's target returns, its result goes to the nearest started,
// unfinished ancestor, coming out of that ancestor's pending Switch(); an
// exception escaping the target is rethrown there instead.
//
// Threads: a fiber belongs to the thread it was created on, for good. All of
// its methods must be called on that thread (they report a FiberError when
// they can tell otherwise), and a started, unfinished fiber must be
// destroyed there too. Fibers of different threads run in parallel freely.
//
// Exceptions never cross a stack switch physically: they are captured as
// std::exception_ptr and rethrown on the other side. Each fiber has its own
// C++ exception state (std::current_exception(), std::uncaught_exceptions()),
// saved and restored on every switch.
//
// Floating point: the FP control state (rounding mode, flush-to-zero,
// exception masks: x86_64 MXCSR and x87 control word, aarch64 FPCR) is NOT
// switched; it belongs to the thread. A fiber that changes it must restore it
// before switching away. The sticky exception flags are not switched either,
// so an inexact result in one fiber never slows later switches.
#ifndef EVERGREEN_FIBERS_FIBER_H_
#define EVERGREEN_FIBERS_FIBER_H_

#include <any>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fibers/internal/stack_pool.h"
#include "fibers/internal/switch.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EVERGREEN_FIBERS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EVERGREEN_FIBERS_SANITIZED 1
#endif
#endif

namespace evergreen {

class Fiber;

// FiberError is thrown by Switch() and Throw() when they are misused: a
// switch to the current fiber, to a finished fiber, to a fiber of another
// thread, or a value passed to a fiber that has not started.
class FiberError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// FiberKilled is the exception that unwinds a killed fiber (Kill(), or the
// destruction of a started, unfinished fiber). It deliberately does not
// derive from std::exception, so `catch (const std::exception&)` lets it
// pass. Code that catches it, or catches `...`, must rethrow it; a fiber that
// swallows it is reported (see Fiber::Kill).
class FiberKilled final {
 public:
  FiberKilled(const FiberKilled&) = default;
  ~FiberKilled();
  const char* what() const noexcept { return "evergreen::FiberKilled"; }

 private:
  friend class Fiber;
  explicit FiberKilled(uint64_t fiber_id) : fiber_id_(fiber_id) {}
  uint64_t fiber_id_;
};

// Options for Fiber::Create.
struct FiberOptions {
  // Shown in diagnostics (stack overflow, swallowed kills). Default: empty,
  // and diagnostics say "fiber #<id>".
  std::string name;
  // Usable stack bytes: at least this many (at least 16 KiB). The fiber
  // object itself lives above the stack, in the same page-rounded slot. A
  // 64 KiB guard region lies below every stack; touching it prints the
  // fiber's name and stack size and aborts the process.
  size_t stack_size = 256 * 1024;
  // The parent, which receives the result. Default: the current fiber. It
  // must belong to the calling thread and must not have finished.
  Fiber* parent = nullptr;
};

namespace fibers_internal {
struct ThreadState;
struct EhGlobals {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};
// The part of the per-thread state that the inline switch touches.
struct SwitchState {
  Fiber* current = nullptr;
  uint64_t id = 0;  // the thread's id, from 1
  EhGlobals* eh_globals = nullptr;
  // The transfer of one switch: what the resumed fiber receives. `value`
  // may be null (nothing passed); `error` is null for a plain value.
  std::any* value = nullptr;
  std::exception_ptr* error = nullptr;
  // Set when the current fiber swallowed FiberKilled (see ~FiberKilled).
  Fiber* swallowed_kill = nullptr;
  // The fiber that switched to the current one (for ASan stack bounds).
  Fiber* switched_from = nullptr;
};
// Null until the thread first uses fibers. Initial-exec: one instruction to
// reach, and small enough for a dlopen'ed extension module. Constant-
// initialized, so that (with GCC, through __constinit) no TLS init check is
// emitted at each inline use.
#if defined(__GNUC__) && !defined(__clang__)
#define EVERGREEN_FIBERS_CONSTINIT __constinit
#else
#define EVERGREEN_FIBERS_CONSTINIT
#endif
extern EVERGREEN_FIBERS_CONSTINIT thread_local SwitchState* tls_switch_state
    __attribute__((tls_model("initial-exec")));
// Hooks for //local_storage, one set per process (installing again replaces
// them). `created(fiber, creator)` runs when a fiber is constructed, on the
// creating thread; it must not throw (the fiber is already linked to its
// parent). `release(fiber)` runs once for every fiber whose storage
// slot is set: on the fiber itself when its target finishes (returns, throws
// or is killed), still as the current fiber; when a fiber that never ran
// finishes or is destroyed; for a thread's main fiber, when the thread exits.
struct LocalStorageHooks {
  void (*created)(Fiber* fiber, Fiber* creator);
  void (*release)(Fiber* fiber);
};
void InstallLocalStorageHooks(const LocalStorageHooks* hooks);
// The header of a fiber's local storage: //local_storage's per-fiber value
// array starts with it. A fiber without local storage points at
// kNoLocalStorage (size 0), never at null, so that a lookup needs no null
// test.
struct LocalStorageHeader {
  size_t size;  // entries in the array that follows the full header
};
// kNoLocalStorage: size 0, followed by kNoLocalStorageZeroWords null
// pointers that are never written, so that a reader may load any pointer in
// that range without checking the size first (//local_storage's fast path
// reads its first slots that way).
inline constexpr size_t kNoLocalStorageZeroWords = 32;
struct NoLocalStorage : LocalStorageHeader {
  void* zero_words[kNoLocalStorageZeroWords];
};
extern NoLocalStorage kNoLocalStorage;
// The current fiber's local storage (kNoLocalStorage when it has none, and
// before the thread first uses fibers): the mirror of
// `tls_switch_state->current`'s storage pointer, kept in step by every
// switch and by LocalStorageAccess::Set, so that a FiberLocal lookup is one
// initial-exec TLS load. Never null.
extern EVERGREEN_FIBERS_CONSTINIT thread_local LocalStorageHeader*
    tls_local_storage __attribute__((tls_model("initial-exec")));
// The per-fiber pointer //local_storage keeps its values in.
struct LocalStorageAccess;
#ifdef EVERGREEN_FIBERS_SANITIZED
void BeforeSwitch(SwitchState* ts, Fiber* from, Fiber* to);
void AfterSwitch(SwitchState* ts, Fiber* self);
#endif
template <typename F, typename... Args>
class BoundFiber;
class MainFiber;
void FiberEntry(void* fiber);
// Validates options.parent before anything is allocated.
absl::Status CheckNewParent(const FiberOptions& options);
}  // namespace fibers_internal

class Fiber {
 public:
  using Options = FiberOptions;
  static constexpr size_t kDefaultStackSize = 256 * 1024;

  // Creates a fiber that will run `f(args...)` on the first switch into it.
  // `f` and `args` are copied or moved in now and destroyed as soon as the
  // target finishes. The target's return value (converted to std::any; a
  // void target yields an empty std::any) is delivered to the nearest live
  // ancestor. Fails with RESOURCE_EXHAUSTED when no guarded stack can be had,
  // and with INVALID_ARGUMENT for a parent that has finished or belongs to
  // another thread.
  template <typename F, typename... Args,
            typename = std::enable_if_t<
                !std::is_same_v<std::decay_t<F>, FiberOptions>>>
  static absl::StatusOr<std::unique_ptr<Fiber>> Create(F&& f, Args&&... args) {
    return Create(FiberOptions(), std::forward<F>(f),
                  std::forward<Args>(args)...);
  }
  template <typename F, typename... Args>
  static absl::StatusOr<std::unique_ptr<Fiber>> Create(Options options, F&& f,
                                                       Args&&... args);

  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Destroys the fiber. A started, unfinished fiber is killed first (its
  // stack unwinds, see Kill); that must happen on the fiber's own thread and
  // not from inside the fiber itself, or the process aborts with a message
  // (like std::thread's destructor, there is no sound way to go on).
  virtual ~Fiber();

  // The fiber running now on the calling thread: the thread's main fiber
  // when no other fiber runs. Never null.
  static Fiber* Current();

  // Suspends the current fiber and resumes this one, passing `value`. Returns
  // the value passed when something switches back to the caller, or the
  // result of a descendant that finished; rethrows an exception thrown into
  // the caller (Throw) or escaping a descendant's target.
  //
  // Throws FiberError, without switching, if this fiber is the current one,
  // has finished, belongs to another thread, or has not started and `value`
  // is not empty.
  inline std::any Switch(std::any value);
  inline std::any Switch();

  // Suspends the current fiber and resumes this one with `exception` raised
  // at its suspension point. A fiber that has not started finishes without
  // running, and the exception goes to its nearest started, unfinished
  // ancestor instead (which may be the caller: then Throw rethrows it).
  // Returns like Switch(); throws FiberError in the same cases (a null
  // `exception` is one).
  std::any Throw(std::exception_ptr exception);
  template <typename E, typename = std::enable_if_t<!std::is_same_v<
                            std::decay_t<E>, std::exception_ptr>>>
  std::any Throw(E&& exception) {
    return Throw(std::make_exception_ptr(std::forward<E>(exception)));
  }

  // Kills the fiber: resumes it with FiberKilled raised at its suspension
  // point so that its stack unwinds (destructors run in every frame), and
  // returns when the unwinding reached the fiber's entry. A fiber that has
  // not started finishes without running; a finished fiber is left as it
  // is. Called by the current fiber on itself, Kill throws FiberKilled right
  // there and does not return; the fiber then finishes and control goes to
  // its nearest live ancestor, as on a normal return.
  //
  // Errors: FAILED_PRECONDITION for a thread's main fiber or a fiber of
  // another thread; ABORTED if the fiber swallowed FiberKilled (caught it
  // without rethrowing) and then switched away (it is left suspended in
  // that switch) or returned normally (it is finished). Both are reported on
  // stderr too.
  absl::Status Kill();

  // False once the target returned, threw, or the fiber was killed; true
  // before it starts and while it runs or is suspended.
  bool IsAlive() const { return state_ != State::kFinished; }
  // True once the fiber has been switched into (or is a main fiber).
  bool IsStarted() const { return state_ != State::kUnstarted; }
  // True for a thread's implicit main fiber.
  bool IsMain() const { return is_main_; }

  // The parent: where the result goes when the target finishes (skipping
  // ancestors that have not started or have finished). Null only for a
  // thread's main fiber. A parent that is destroyed hands its children to
  // its own parent.
  Fiber* parent() const { return parent_; }

  // Changes the parent. INVALID_ARGUMENT if `parent` is null, has finished,
  // belongs to another thread, or would make the parent chain a cycle
  // (this fiber would be its own ancestor). Call on the fiber's thread.
  absl::Status SetParent(Fiber* parent);

  // A process-wide unique id (from 1; main fibers get ids too).
  uint64_t id() const { return id_; }
  // The name given in Options (possibly empty).
  const std::string& name() const { return name_; }
  // "name (#id)" or "fiber #id": for messages.
  std::string DebugName() const;
  // Usable stack bytes (0 for a main fiber, which runs on the thread stack).
  size_t stack_size() const { return stack_.size; }

  // A fiber object lives at the top of its own stack: deleting it returns
  // that stack, and so the object's memory, to the pool.
  static void operator delete(void* p) noexcept;

 private:
  template <typename F, typename... Args>
  friend class fibers_internal::BoundFiber;
  friend class fibers_internal::MainFiber;
  friend struct fibers_internal::ThreadState;
  friend void fibers_internal::FiberEntry(void* fiber);
  friend class FiberKilled;
  friend struct fibers_internal::LocalStorageAccess;
  friend absl::Status fibers_internal::CheckNewParent(
      const FiberOptions& options);
#ifdef EVERGREEN_FIBERS_SANITIZED
  friend void fibers_internal::BeforeSwitch(fibers_internal::SwitchState*,
                                            Fiber*, Fiber*);
  friend void fibers_internal::AfterSwitch(fibers_internal::SwitchState*,
                                           Fiber*);
#endif

  // Ordered so that "can be switched into without a value" is one compare.
  enum class State : uint8_t { kSuspended, kUnstarted, kRunning, kFinished };

  // A fiber on its own stack (see Create).
  Fiber(Options& options, const fibers_internal::Stack& stack);
  // The main fiber of `thread`.
  explicit Fiber(fibers_internal::ThreadState* thread);

  // Runs the bound target; destroys the target before returning or throwing.
  virtual std::any Run() = 0;
  // Destroys the bound target if it is still held.
  virtual void ReleaseTarget() = 0;

  // Kills a started, unfinished fiber on destruction (see ~Fiber).
  void KillForDestruction() noexcept;

  absl::Status CheckSameThread(fibers_internal::ThreadState* ts,
                               const char* operation) const;
  void CheckResumable(fibers_internal::ThreadState* ts, const char* operation,
                      bool has_value);
  // Suspends `this` (the current fiber) and resumes `to`. Returns the value
  // passed back, or rethrows the exception passed back.
  std::any SuspendAndResume(fibers_internal::SwitchState* ts, Fiber* to);
  // Switch() past its fast-path checks: errors, first switches, diversions.
  std::any SwitchSlow(std::any* value);
  // What a resumed fiber received: the value, or the exception rethrown.
  // `ts` is the calling thread's state (a fiber resumes on its own thread,
  // so the pointer held across the switch is still right).
  static inline std::any Received(fibers_internal::SwitchState* ts);
  [[noreturn]] static void RethrowReceived(fibers_internal::SwitchState* ts);
  // The raw switch, with exception-state and sanitizer bookkeeping. The
  // switching fiber (the current one) is left in `self_state`: kSuspended,
  // or kFinished when it finishes.
  inline void SwitchContext(fibers_internal::SwitchState* ts, Fiber* to,
                            State self_state = State::kSuspended);
  // Where a finishing fiber's result goes.
  Fiber* NearestLiveAncestor() const;
  // Finishes an unstarted fiber without running it.
  void FinishUnstarted();
  // Called on the fiber's own stack when its target is done; never returns.
  [[noreturn]] void Finish(fibers_internal::ThreadState* ts, bool killed);
  // The current fiber swallowed FiberKilled and now switches away: reports
  // it and returns the fiber to switch to instead (the killer).
  static Fiber* DivertSwallowedKill(fibers_internal::SwitchState* ts,
                                    Fiber* to);

  void LinkToParent(Fiber* parent);
  void UnlinkFromParent();

  // Hot fields first.
  void* saved_sp_ = nullptr;
  uint64_t thread_id_;
  State state_ = State::kUnstarted;
  bool is_main_ = false;
  bool kill_requested_ = false;
  bool kill_reached_entry_ = false;
  bool kill_swallowed_ = false;
  fibers_internal::EhGlobals eh_;
  Fiber* parent_ = nullptr;
  Fiber* first_child_ = nullptr;
  Fiber* prev_sibling_ = nullptr;
  Fiber* next_sibling_ = nullptr;
  Fiber* killer_ = nullptr;
  // The outcome of a finished target, read by the fiber it goes to.
  std::any result_;
  std::exception_ptr error_;
  fibers_internal::Stack stack_;
  uint64_t id_;
  std::string name_;
  // Owned by //local_storage through LocalStorageHooks; never null (see
  // fibers_internal::kNoLocalStorage).
  fibers_internal::LocalStorageHeader* local_storage_ =
      &fibers_internal::kNoLocalStorage;
  // Sanitizer bookkeeping (unused in other builds).
  void* asan_fake_stack_ = nullptr;
  const void* asan_stack_bottom_ = nullptr;
  size_t asan_stack_size_ = 0;
  void* tsan_fiber_ = nullptr;
};

namespace fibers_internal {

// Reserves `object_size` bytes at the top of a new stack for the fiber
// object; see Fiber::operator delete.
struct FiberMemory {
  void* object;
  Stack stack;  // the usable stack, below the object
};
absl::StatusOr<FiberMemory> AllocateFiberMemory(size_t stack_size,
                                                size_t object_size);
void ReleaseFiberMemory(void* object) noexcept;
// The whole stack slot a (non-main) fiber and its object live in: for tests
// and benchmarks that check guards and reuse.
const Stack& FiberStackSlot(const Fiber& fiber);

template <typename T>
std::any ToAny(T&& value) {
  static_assert(std::is_copy_constructible_v<std::decay_t<T>>,
                "a fiber target's return value must be copy-constructible "
                "(it travels as std::any)");
  return std::any(std::forward<T>(value));
}

template <typename F, typename... Args>
class BoundFiber final : public Fiber {
 public:
  template <typename G, typename... A>
  BoundFiber(Options& options, const Stack& stack, G&& f, A&&... args)
      : Fiber(options, stack),
        target_(std::in_place, std::forward<G>(f), std::forward<A>(args)...) {}

  // Kill before the target (which the fiber's frames may use) is destroyed.
  ~BoundFiber() override {
    if (IsStarted() && IsAlive()) KillForDestruction();
  }

 private:
  // No cleanup in this frame: an exception or a kill unwinding through it
  // would stop here and resume, doubling the unwinder's work. Finish()
  // destroys the target right after.
  std::any Run() override {
    auto& bound = *target_;
    using Result = decltype(std::apply(std::move(std::get<0>(bound)),
                                       PopFront(std::move(bound))));
    if constexpr (std::is_void_v<Result>) {
      std::apply(std::move(std::get<0>(bound)), PopFront(std::move(bound)));
      return std::any();
    } else {
      return ToAny(std::apply(std::move(std::get<0>(bound)),
                              PopFront(std::move(bound))));
    }
  }

  void ReleaseTarget() override { target_.reset(); }

  template <typename Tuple, size_t... I>
  static auto PopFrontImpl(Tuple&& t, std::index_sequence<I...>) {
    return std::forward_as_tuple(std::get<I + 1>(std::forward<Tuple>(t))...);
  }
  template <typename Tuple>
  static auto PopFront(Tuple&& t) {
    return PopFrontImpl(
        std::forward<Tuple>(t),
        std::make_index_sequence<std::tuple_size_v<std::decay_t<Tuple>> - 1>());
  }

  std::optional<std::tuple<F, Args...>> target_;
};

}  // namespace fibers_internal

template <typename F, typename... Args>
absl::StatusOr<std::unique_ptr<Fiber>> Fiber::Create(Options options, F&& f,
                                                     Args&&... args) {
  using Impl =
      fibers_internal::BoundFiber<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "Fiber::Create: the target cannot be called with these "
                "arguments");
  absl::Status parent_ok = fibers_internal::CheckNewParent(options);
  if (!parent_ok.ok()) return parent_ok;
  absl::StatusOr<fibers_internal::FiberMemory> memory =
      fibers_internal::AllocateFiberMemory(options.stack_size, sizeof(Impl));
  if (!memory.ok()) return memory.status();
  Fiber* fiber;
  try {
    fiber =
        ::new (memory->object) Impl(options, memory->stack, std::forward<F>(f),
                                    std::forward<Args>(args)...);
  } catch (...) {
    fibers_internal::ReleaseFiberMemory(memory->object);
    throw;
  }
  return std::unique_ptr<Fiber>(fiber);
}

namespace fibers_internal {
struct LocalStorageAccess {
  // The fiber's local storage, or null if it has none. Any thread (the
  // caller synchronizes with writers).
  static LocalStorageHeader* Get(const Fiber& fiber) {
    LocalStorageHeader* storage = fiber.local_storage_;
    return storage == &kNoLocalStorage ? nullptr : storage;
  }
  // Sets the fiber's local storage (null: none), and the thread's mirror
  // (tls_local_storage) when `fiber` is the calling thread's current fiber.
  static void Set(Fiber& fiber, LocalStorageHeader* storage) {
    if (storage == nullptr) storage = &kNoLocalStorage;
    fiber.local_storage_ = storage;
    SwitchState* ts = tls_switch_state;
    if (ts != nullptr && ts->current == &fiber) tls_local_storage = storage;
  }
  // The current fiber of this thread, or null before the thread's first use
  // of fibers (then Fiber::Current() creates its main fiber).
  static Fiber* CurrentOrNull() {
    SwitchState* ts = tls_switch_state;
    return ts != nullptr ? ts->current : nullptr;
  }
};
}  // namespace fibers_internal

// The hot path, inline so that a switch costs one call (into the assembly):
// a switch into a suspended fiber of this thread. Everything else (first
// switches, errors, a swallowed kill) goes through SwitchSlow.
inline std::any Fiber::Switch(std::any value) {
  fibers_internal::SwitchState* ts = fibers_internal::tls_switch_state;
  if (ABSL_PREDICT_FALSE(ts == nullptr || state_ != State::kSuspended ||
                         thread_id_ != ts->id ||
                         ts->swallowed_kill != nullptr)) {
    return SwitchSlow(&value);
  }
  ts->value = &value;
  ts->error = nullptr;
  ts->current->SwitchContext(ts, this);
  return Received(ts);
}

inline std::any Fiber::Switch() {
  fibers_internal::SwitchState* ts = fibers_internal::tls_switch_state;
  if (ABSL_PREDICT_FALSE(ts == nullptr || state_ > State::kUnstarted ||
                         thread_id_ != ts->id ||
                         ts->swallowed_kill != nullptr)) {
    return SwitchSlow(nullptr);
  }
  ts->value = nullptr;
  ts->error = nullptr;
  ts->current->SwitchContext(ts, this);
  return Received(ts);
}

inline void Fiber::SwitchContext(fibers_internal::SwitchState* ts, Fiber* to,
                                 State self_state) {
  // Per-fiber C++ exception state (caught-exception stack, uncaught count).
  fibers_internal::EhGlobals* globals = ts->eh_globals;
  eh_ = *globals;
  *globals = to->eh_;
  state_ = self_state;
  to->state_ = State::kRunning;
  ts->current = to;
  fibers_internal::tls_local_storage = to->local_storage_;
#ifdef EVERGREEN_FIBERS_SANITIZED
  fibers_internal::BeforeSwitch(ts, this, to);
#endif
  evergreen_fibers_switch(&saved_sp_, to->saved_sp_);
#ifdef EVERGREEN_FIBERS_SANITIZED
  fibers_internal::AfterSwitch(fibers_internal::tls_switch_state, this);
#endif
}

inline std::any Fiber::Received(fibers_internal::SwitchState* ts) {
  if (ABSL_PREDICT_FALSE(ts->error != nullptr)) RethrowReceived(ts);
  if (ts->value == nullptr) return std::any();
  return std::move(*ts->value);
}

}  // namespace evergreen

#endif  // EVERGREEN_FIBERS_FIBER_H_
