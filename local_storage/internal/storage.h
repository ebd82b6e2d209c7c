// storage.h: the type-erased core of FiberLocal<T> (see fiber_local.h).
//
// Every FiberLocal owns a slot index. Each fiber that holds at least one
// value owns a FiberStorage, hung off the fiber's local-storage pointer
// (LocalStorageAccess): a small array of value pointers indexed by slot. A
// process-wide registry (one std::mutex) hands out slot indices, lists every
// FiberStorage so that a dying FiberLocal can reach the values of all fibers of
// all threads, and runs the //fibers hooks that copy inherited values and
// release a fiber's values when it ends.
//
// Fast slots: slot 0 is reserved and never holds a value, every
// FiberStorage has at least kFastSlots entries, and kNoLocalStorage's zero
// words cover as many: so a slot below kFastSlots is read at a fixed byte
// offset from the storage with no bounds check (FastOffset, FindFast). A
// slot at or above kFastSlots reads entry 0 there (always null) and falls
// back to the bounds-checked Find.
//
// Locking: the owning thread reads its fibers' storage without the lock
// (the fast path). Every write to a storage (a value stored or taken out, the
// array replaced when it grows, the storage freed) happens under the lock.
// A storage's array is only ever replaced by its own thread, and another
// thread writes only the entries of a FiberLocal that is being destroyed,
// which no fiber may use concurrently; so unlocked reads never race.
#ifndef EVERGREEN_LOCAL_STORAGE_INTERNAL_STORAGE_H_
#define EVERGREEN_LOCAL_STORAGE_INTERNAL_STORAGE_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/optimization.h"
#include "fibers/fiber.h"

namespace evergreen {
namespace local_storage_internal {

// How the registry makes, copies and destroys the values of one FiberLocal.
struct ValueOps {
  // Returns a new heap value for `local` (the FiberLocal<T>); may throw.
  void* (*create)(const void* local);
  // Returns a heap copy of `value`; may throw. Null when T is not copyable.
  void* (*copy)(const void* value);
  // Deletes `value`; may throw (a destructor declared noexcept(false)).
  void (*destroy)(void* value);
};

// One fiber's values: a header followed by `size` value pointers, null where
// the fiber has no value. Owned by the registry; freed when the fiber's
// values are released.
struct FiberStorage : fibers_internal::LocalStorageHeader {
  // `size` (the header's) is the number of value pointers.
  // The registry's list of every live storage.
  FiberStorage* prev;
  FiberStorage* next;

  void** values() { return reinterpret_cast<void**>(this + 1); }
};
static_assert(sizeof(FiberStorage) % alignof(void*) == 0,
              "the value array follows the header");

// Slots read without a bounds check (see the file comment); slot 0 is one
// of them, reserved and always null.
inline constexpr uint32_t kFastSlots = 16;
static_assert(sizeof(FiberStorage) + kFastSlots * sizeof(void*) <=
                  sizeof(fibers_internal::NoLocalStorage),
              "kNoLocalStorage's zero words cover the fast slots");

// The byte offset, from a fiber's storage header, that FindFast reads for
// slot `index`: its own entry for a fast slot, the reserved entry 0 (always
// null) otherwise.
constexpr uint32_t FastOffset(uint32_t index) {
  return static_cast<uint32_t>(
      sizeof(FiberStorage) + (index < kFastSlots ? index : 0) * sizeof(void*));
}

// Reserves a slot for a new FiberLocal (reusing the index of a destroyed one)
// and installs the //fibers hooks on first use. `ops` must outlive the slot.
// Thread-safe. Aborts if `inherit` is set and ops->copy is null.
uint32_t AllocateSlot(const ValueOps* ops, bool inherit);

// Destroys the slot's value in every fiber of every thread (on the calling
// thread), waits for values of the slot that fiber ends on other threads are
// destroying, then frees the index. Thread-safe, but no fiber may use the
// slot concurrently or afterwards.
void FreeSlot(uint32_t index);

// Get()'s slow path: returns the current fiber's value, creating it with
// ops->create(local) if there is none. Rethrows what create throws (and then
// stores nothing). Aborts if the slot is being destroyed.
void* GetOrCreate(uint32_t index, const void* local);

// Destroys the current fiber's value, if any.
void Reset(uint32_t index);

// The number of slot indices ever handed out (live or free), the reserved
// slot 0 included: for tests that check reuse.
size_t SlotCountForTesting();

// The current fiber's value of a fast slot, given its FastOffset; null when
// the fiber has none, and always null for other slots (use Find). Lock-free,
// no call, no bounds check: one initial-exec TLS load and one load.
inline void* FindFast(uint32_t offset) {
  char* storage = reinterpret_cast<char*>(fibers_internal::tls_local_storage);
  return *reinterpret_cast<void**>(storage + offset);
}

// The current fiber's value, or null. Lock-free, and no call: one
// initial-exec TLS load (the current fiber's storage, never null; size 0
// when the fiber has none), the bounds check, the entry.
inline void* Find(uint32_t index) {
  fibers_internal::LocalStorageHeader* storage =
      fibers_internal::tls_local_storage;
  if (ABSL_PREDICT_FALSE(index >= storage->size)) return nullptr;
  return static_cast<FiberStorage*>(storage)->values()[index];
}

}  // namespace local_storage_internal
}  // namespace evergreen

#endif  // EVERGREEN_LOCAL_STORAGE_INTERNAL_STORAGE_H_
