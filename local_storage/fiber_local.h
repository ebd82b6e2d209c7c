// fiber_local.h: FiberLocal<T>, one value per fiber.
//
// FiberLocal<T> is to fibers what `thread_local` is to threads: every fiber
// (each thread's implicit main fiber included) sees its own T, constructed
// on its first access in that fiber and destroyed when the fiber ends.
//
//   // A request id per fiber; each fiber starts at 0.
//   evergreen::FiberLocal<int> request_id;
//
//   auto worker = evergreen::Fiber::Create([&] {
//     request_id.Get() = 42;                  // this fiber's value
//     evergreen::Fiber::Current()->parent()->Switch();
//     assert(*request_id == 42);              // untouched by the main fiber
//   });
//   (*worker)->Switch();
//   request_id.Get() = 7;                     // the main fiber's own value
//   (*worker)->Switch();                      // worker ends: its int dies
//
//   // Inherited: a new fiber starts with a copy of its creator's value.
//   evergreen::FiberLocal<std::string> trace(
//       [] { return std::string("none"); }, {/*inherit=*/true});
//
// Lifetimes. A value is created on first access (Get, operator*, operator->)
// in a fiber: default-constructed, or from the initializer given to the
// constructor; with inheritance on, a new fiber starts with a copy of its
// creator's value instead. It is destroyed:
//   - when its fiber's target returns, throws or is killed, on that fiber,
//     still current;
//   - when a fiber that never ran finishes (Kill) or is destroyed, on the
//     caller (such a fiber may hold inherited values);
//   - for a thread's main fiber, when the thread exits (the process's main
//     thread never does: its values die with the FiberLocal);
//   - by Reset();
//   - for every fiber of every thread, when the FiberLocal is destroyed.
// A value's destructor may use other FiberLocals; values it creates in the
// dying fiber are destroyed in turn (a fiber that keeps re-creating values
// for 16 rounds is reported on stderr and its last values are abandoned). An
// exception escaping a value's destructor is reported on stderr and ignored;
// the other values are still destroyed. Destructors must not switch fibers.
//
// Threads. A FiberLocal may be shared by any number of threads, each with
// its own fibers; Get, HasValue and Reset are thread-safe and only touch the
// calling fiber's value. Access is O(1) and takes no lock once the value
// exists: for the first 15 FiberLocals alive at once (slots are reused), Get
// is a TLS load, two loads and a test, inline; later ones add a call and a
// bounds check; creating a value, copying inherited ones, releasing a fiber's
// values and destroying a FiberLocal take one process-wide mutex. Values are
// per fiber, not thread-safe: sharing a T across fibers is the user's
// business.
#ifndef EVERGREEN_LOCAL_STORAGE_FIBER_LOCAL_H_
#define EVERGREEN_LOCAL_STORAGE_FIBER_LOCAL_H_

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "fibers/fiber.h"
#include "local_storage/internal/storage.h"

namespace evergreen {

// Options for a FiberLocal.
struct FiberLocalOptions {
  // When true, a fiber created while its creator (the current fiber) holds a
  // value starts with a copy of that value, made on the creating thread when
  // the fiber is constructed; the copy is independent afterwards. A creator
  // without a value passes nothing on. T must be copy-constructible (the
  // constructor aborts otherwise). A copy constructor that throws is
  // reported on stderr and the new fiber starts without the value.
  // Default: off (every fiber starts without a value).
  bool inherit = false;
};

// FiberLocal<T>: one lazily constructed T per fiber. Neither copyable nor
// movable. See the file comment for lifetimes and threads.
template <typename T>
class FiberLocal {
 public:
  static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                "FiberLocal<T> needs a non-const object type");

  // Creates a FiberLocal whose values are default-constructed.
  // Thread-safe.
  FiberLocal() : FiberLocal(FiberLocalOptions()) {}

  // Creates a FiberLocal with `options`, values default-constructed.
  explicit FiberLocal(FiberLocalOptions options)
      : index_(local_storage_internal::AllocateSlot(&kOps, options.inherit)) {
    static_assert(std::is_default_constructible_v<T>,
                  "FiberLocal<T> without an initializer needs a "
                  "default-constructible T");
  }

  // Creates a FiberLocal whose values are made by `initializer`, called on
  // the fiber that first accesses its value (once per fiber, unless its
  // value is reset); it may use other FiberLocals. If `initializer` is
  // empty, values are default-constructed, or Get() throws
  // std::bad_function_call when T has no default constructor.
  explicit FiberLocal(std::function<T()> initializer,
                      FiberLocalOptions options = FiberLocalOptions())
      : initializer_(std::move(initializer)),
        index_(local_storage_internal::AllocateSlot(&kOps, options.inherit)) {}

  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  // Destroys the values of every fiber of every thread, on the calling
  // thread, and waits for values of this FiberLocal that fiber ends on other
  // threads are destroying at that moment. When it returns, no value is
  // left. No fiber may use this FiberLocal concurrently with or after its
  // destruction (that aborts, when detected), and a value's destructor must
  // not destroy its own FiberLocal. The slot is then reused by later
  // FiberLocals, which never see these values.
  ~FiberLocal() { local_storage_internal::FreeSlot(index_); }

  // Get returns the current fiber's value, creating it first if the fiber
  // has none. Rethrows what the constructor or initializer throws (then the
  // fiber still has no value). The reference stays valid until the value is
  // destroyed (see the file comment). Any thread, any fiber.
  T& Get() {
    void* value = local_storage_internal::FindFast(fast_offset_);
    if (ABSL_PREDICT_TRUE(value != nullptr)) return *static_cast<T*>(value);
    return GetSlow();
  }

  // operator* is Get().
  T& operator*() { return Get(); }

  // operator-> is &Get().
  T* operator->() { return &Get(); }

  // HasValue returns true if the current fiber holds a value; never creates
  // one (nor the thread's fiber state). Any thread, any fiber.
  bool HasValue() const {
    return local_storage_internal::Find(index_) != nullptr;
  }

  // Reset destroys the current fiber's value, if it has one; the next access
  // creates a new one. An exception from its destructor is reported on
  // stderr and ignored. Any thread, any fiber.
  void Reset() { local_storage_internal::Reset(index_); }

 private:
  // Get() when the fast read found nothing: the fiber has no value yet, or
  // this FiberLocal is beyond the fast slots (storage.h). Out of line, so
  // that the inline fast path stays a few instructions with no call.
  ABSL_ATTRIBUTE_NOINLINE T& GetSlow() {
    void* value = local_storage_internal::Find(index_);
    if (value == nullptr) {
      value = local_storage_internal::GetOrCreate(index_, this);
    }
    return *static_cast<T*>(value);
  }

  static void* Create(const void* local) {
    const FiberLocal* self = static_cast<const FiberLocal*>(local);
    if constexpr (std::is_default_constructible_v<T>) {
      if (!self->initializer_) return new T();
    }
    // An empty initializer throws std::bad_function_call here.
    return new T(self->initializer_());
  }

  static void* Copy(const void* value) {
    if constexpr (std::is_copy_constructible_v<T>) {
      return new T(*static_cast<const T*>(value));
    } else {
      return nullptr;  // unreachable: ops.copy is null for such a T
    }
  }

  static void Destroy(void* value) { delete static_cast<T*>(value); }

  static constexpr local_storage_internal::ValueOps kOps = {
      &Create, std::is_copy_constructible_v<T> ? &Copy : nullptr, &Destroy};

  std::function<T()> initializer_;
  const uint32_t index_;
  // Where Get's inline read looks (local_storage_internal::FastOffset).
  const uint32_t fast_offset_ = local_storage_internal::FastOffset(index_);
};

}  // namespace evergreen

#endif  // EVERGREEN_LOCAL_STORAGE_FIBER_LOCAL_H_
