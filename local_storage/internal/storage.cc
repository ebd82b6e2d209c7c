#include "local_storage/internal/storage.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/internal/raw_logging.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"

namespace evergreen {
namespace local_storage_internal {
namespace {

using fibers_internal::LocalStorageAccess;

// Release rounds for one fiber: a value's destructor may create values of
// other FiberLocals in the dying fiber, which the next round destroys.
constexpr int kMaxReleaseRounds = 16;

enum class SlotState : uint8_t { kFree, kLive, kDying };

struct SlotInfo {
  const ValueOps* ops = nullptr;
  bool inherit = false;
  SlotState state = SlotState::kFree;
  // Bumped on every allocation, so that a copy made outside the lock is not
  // stored into a slot that was freed and reused meanwhile.
  uint64_t generation = 0;
  // Values of this slot taken out of a storage (or copied from one) by a
  // fiber's release or creation and not yet destroyed (copied): FreeSlot
  // waits for them.
  int pending = 0;
};

struct Registry {
  std::mutex mu;
  std::condition_variable pending_done;
  std::vector<SlotInfo> slots ABSL_GUARDED_BY(mu);
  std::vector<uint32_t> free_slots ABSL_GUARDED_BY(mu);
  // Every live FiberStorage, doubly linked.
  FiberStorage* storages ABSL_GUARDED_BY(mu) = nullptr;
  // Values that kept being re-created while their fiber was released: never
  // destroyed, kept reachable here.
  std::vector<void*> abandoned ABSL_GUARDED_BY(mu);
};

// Leaked: FiberLocals with static storage duration may die after any
// function-local static would.
Registry& GetRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

// The number of live slots with inheritance on; the creation hook does
// nothing while it is zero.
std::atomic<int> inheriting_slots{0};

void Report(const std::string& message) {
  ABSL_RAW_LOG(ERROR, "evergreen: %s", message.c_str());
}

// The message of the exception being handled; call inside a catch block.
std::string CurrentExceptionMessage() {
  try {
    throw;
  } catch (const std::exception& e) {
    return absl::StrCat("std::exception: ", e.what());
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

// Destroys `value`; reports an exception from its destructor, naming `when`
// it happened (and `fiber`, when given), and swallows it.
void DestroyValue(const ValueOps* ops, void* value, const char* when,
                  const Fiber* fiber = nullptr) {
  try {
    ops->destroy(value);
  } catch (...) {
    Report(absl::StrCat("a FiberLocal value's destructor threw (",
                        CurrentExceptionMessage(), ") ", when,
                        fiber != nullptr ? fiber->DebugName() : "",
                        "; the exception is ignored"));
  }
}

FiberStorage* NewStorage(size_t size) {
  void* memory = ::operator new(sizeof(FiberStorage) + size * sizeof(void*));
  FiberStorage* storage = ::new (memory) FiberStorage{{size}, nullptr, nullptr};
  void** values = storage->values();
  for (size_t i = 0; i < size; ++i) {
    ::new (static_cast<void*>(values + i)) void*(nullptr);
  }
  return storage;
}

void Link(Registry& r, FiberStorage* storage)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  storage->prev = nullptr;
  storage->next = r.storages;
  if (r.storages != nullptr) r.storages->prev = storage;
  r.storages = storage;
}

// Unlinks and frees `storage`.
void Delete(Registry& r, FiberStorage* storage)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  if (storage->prev != nullptr) {
    storage->prev->next = storage->next;
  } else {
    r.storages = storage->next;
  }
  if (storage->next != nullptr) storage->next->prev = storage->prev;
  storage->~FiberStorage();
  ::operator delete(storage);
}

FiberStorage* StorageOf(Fiber* fiber) {
  return static_cast<FiberStorage*>(LocalStorageAccess::Get(*fiber));
}

// `fiber`'s storage, created or grown so that it has an entry for `index`.
// Throws std::bad_alloc (then nothing changed).
FiberStorage* StorageWithRoom(Registry& r, Fiber* fiber, uint32_t index)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  FiberStorage* old = StorageOf(fiber);
  if (old != nullptr && index < old->size) return old;
  size_t size = kFastSlots;  // at least: the fast path reads them unchecked
  while (size <= index || size < r.slots.size()) size *= 2;
  FiberStorage* storage = NewStorage(size);
  if (old != nullptr) {
    std::copy(old->values(), old->values() + old->size, storage->values());
    Delete(r, old);
  }
  Link(r, storage);
  LocalStorageAccess::Set(*fiber, storage);
  return storage;
}

// The fiber whose values FiberLocal accesses on this thread reach.
Fiber* CurrentFiber() {
  Fiber* fiber = LocalStorageAccess::CurrentOrNull();
  if (fiber != nullptr) return fiber;
  return Fiber::Current();
}

// The `created` hook: copies the creator's values of inheriting slots.
void CopyInherited(Fiber* fiber, Fiber* creator) {
  if (inheriting_slots.load(std::memory_order_acquire) == 0) return;
  FiberStorage* from = StorageOf(creator);
  if (from == nullptr) return;
  struct Source {
    uint32_t index;
    uint64_t generation;
    const ValueOps* ops;
    const void* value;
  };
  std::vector<Source> sources;
  Registry& r = GetRegistry();
  try {
    sources.reserve(from->size);
  } catch (const std::bad_alloc&) {
    Report("out of memory while copying inherited FiberLocal values");
    return;
  }
  {
    std::lock_guard<std::mutex> lock(r.mu);
    size_t n = std::min(from->size, r.slots.size());
    for (uint32_t i = 0; i < n; ++i) {
      const void* value = from->values()[i];
      SlotInfo& info = r.slots[i];
      if (value == nullptr || !info.inherit || info.state != SlotState::kLive) {
        continue;
      }
      ++info.pending;  // FreeSlot keeps the source alive while we copy it
      sources.push_back({i, info.generation, info.ops, value});
    }
  }
  for (const Source& source : sources) {
    void* copy = nullptr;
    try {
      copy = source.ops->copy(source.value);
    } catch (...) {
      Report(absl::StrCat("copying an inherited FiberLocal value for ",
                          fiber->DebugName(), " threw (",
                          CurrentExceptionMessage(),
                          "); the fiber starts without it"));
    }
    bool stored = false;
    {
      std::lock_guard<std::mutex> lock(r.mu);
      SlotInfo& info = r.slots[source.index];
      if (copy != nullptr && info.state == SlotState::kLive &&
          info.generation == source.generation) {
        try {
          StorageWithRoom(r, fiber, source.index)->values()[source.index] =
              copy;
          stored = true;
        } catch (const std::bad_alloc&) {
          Report("out of memory while copying inherited FiberLocal values");
        }
      }
      if (--info.pending == 0) r.pending_done.notify_all();
    }
    if (copy != nullptr && !stored) {
      DestroyValue(source.ops, copy, "while its inherited copy was dropped");
    }
  }
}

// The `release` hook: destroys the fiber's values, one at a time and without
// the lock (a destructor may use other FiberLocals), in rounds until the
// storage stays empty.
void ReleaseFiber(Fiber* fiber) {
  Registry& r = GetRegistry();
  std::vector<uint32_t> indices;
  for (int round = 0;; ++round) {
    size_t abandoned = 0;
    indices.clear();
    {
      std::lock_guard<std::mutex> lock(r.mu);
      FiberStorage* storage = StorageOf(fiber);
      if (storage == nullptr) break;
      for (size_t i = storage->size; i-- > 0;) {
        void*& value = storage->values()[i];
        if (value == nullptr) continue;
        if (round == kMaxReleaseRounds) {
          r.abandoned.push_back(value);
          value = nullptr;
          ++abandoned;
        } else {
          indices.push_back(static_cast<uint32_t>(i));
        }
      }
      if (indices.empty()) {
        Delete(r, storage);
        LocalStorageAccess::Set(*fiber, nullptr);
      }
    }
    if (abandoned > 0) {
      Report(absl::StrCat(
          "releasing the FiberLocal values of ", fiber->DebugName(),
          " did not converge: value destructors kept creating values for "
          "it after ",
          kMaxReleaseRounds, " rounds; ", abandoned,
          " values are abandoned (never destroyed)"));
    }
    if (indices.empty()) break;
    for (uint32_t index : indices) {
      void* value;
      const ValueOps* ops;
      {
        std::lock_guard<std::mutex> lock(r.mu);
        FiberStorage* storage = StorageOf(fiber);
        if (storage == nullptr || index >= storage->size) continue;
        value = storage->values()[index];
        if (value == nullptr) continue;  // reset or its FiberLocal died
        storage->values()[index] = nullptr;
        ops = r.slots[index].ops;
        ++r.slots[index].pending;
      }
      DestroyValue(ops, value, "while releasing the values of ", fiber);
      std::lock_guard<std::mutex> lock(r.mu);
      if (--r.slots[index].pending == 0) r.pending_done.notify_all();
    }
  }
}

const fibers_internal::LocalStorageHooks kHooks = {&CopyInherited,
                                                   &ReleaseFiber};

}  // namespace

uint32_t AllocateSlot(const ValueOps* ops, bool inherit) {
  static std::once_flag hooks_installed;
  std::call_once(hooks_installed,
                 [] { fibers_internal::InstallLocalStorageHooks(&kHooks); });
  if (inherit && ops->copy == nullptr) {
    ABSL_RAW_LOG(FATAL,
                 "evergreen: FiberLocal: inheritance needs a copyable type");
  }
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  // Slot 0 is reserved (always null: the fast path of slots beyond the
  // fast ones reads it); it stays kFree and never enters free_slots.
  if (r.slots.empty()) r.slots.emplace_back();
  uint32_t index;
  if (!r.free_slots.empty()) {
    index = r.free_slots.back();
    r.free_slots.pop_back();
  } else {
    index = static_cast<uint32_t>(r.slots.size());
    r.slots.emplace_back();
  }
  SlotInfo& info = r.slots[index];
  info.ops = ops;
  info.inherit = inherit;
  info.state = SlotState::kLive;
  ++info.generation;
  if (inherit) inheriting_slots.fetch_add(1, std::memory_order_release);
  return index;
}

void FreeSlot(uint32_t index) {
  Registry& r = GetRegistry();
  std::vector<void*> values;
  const ValueOps* ops;
  {
    std::unique_lock<std::mutex> lock(r.mu);
    SlotInfo& info = r.slots[index];
    info.state = SlotState::kDying;
    ops = info.ops;
    for (FiberStorage* s = r.storages; s != nullptr; s = s->next) {
      if (index < s->size && s->values()[index] != nullptr) {
        values.push_back(s->values()[index]);
        s->values()[index] = nullptr;
      }
    }
    // Values that fiber ends are destroying, and sources of inherited
    // copies in progress.
    r.pending_done.wait(lock, [&] { return r.slots[index].pending == 0; });
  }
  for (void* value : values) {
    DestroyValue(ops, value, "while its FiberLocal was destroyed");
  }
  std::lock_guard<std::mutex> lock(r.mu);
  SlotInfo& info = r.slots[index];
  if (info.inherit) {
    inheriting_slots.fetch_sub(1, std::memory_order_relaxed);
  }
  info.ops = nullptr;
  info.inherit = false;
  info.state = SlotState::kFree;
  r.free_slots.push_back(index);
}

void* GetOrCreate(uint32_t index, const void* local) {
  Registry& r = GetRegistry();
  Fiber* fiber = CurrentFiber();
  const ValueOps* ops;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    const SlotInfo& info = r.slots[index];
    if (info.state != SlotState::kLive) {
      ABSL_RAW_LOG(FATAL,
                   "evergreen: a FiberLocal was used while (or after) it was "
                   "destroyed, from %s",
                   fiber->DebugName().c_str());
    }
    ops = info.ops;
    FiberStorage* storage = StorageOf(fiber);
    if (storage != nullptr && index < storage->size &&
        storage->values()[index] != nullptr) {
      return storage->values()[index];
    }
  }
  void* value = ops->create(local);
  void* existing;
  {
    std::unique_lock<std::mutex> lock(r.mu);
    FiberStorage* storage;
    try {
      storage = StorageWithRoom(r, fiber, index);
    } catch (...) {
      lock.unlock();
      DestroyValue(ops, value, "after running out of memory");
      throw;
    }
    void*& entry = storage->values()[index];
    if (entry == nullptr) {
      entry = value;
      return value;
    }
    existing = entry;
  }
  // The initializer itself used this FiberLocal, which made a value first.
  DestroyValue(ops, value, "as a duplicate made by a recursive initializer");
  return existing;
}

void Reset(uint32_t index) {
  Fiber* fiber = LocalStorageAccess::CurrentOrNull();
  if (fiber == nullptr) return;
  Registry& r = GetRegistry();
  void* value;
  const ValueOps* ops;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    FiberStorage* storage = StorageOf(fiber);
    if (storage == nullptr || index >= storage->size) return;
    value = storage->values()[index];
    if (value == nullptr) return;
    storage->values()[index] = nullptr;
    ops = r.slots[index].ops;
  }
  DestroyValue(ops, value, "in Reset()");
}

size_t SlotCountForTesting() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.slots.size();
}

}  // namespace local_storage_internal
}  // namespace evergreen
