// Fiber stacks: mmap'd, each with a guard region below it, pooled for reuse
// with the guard kept in place.
//
// Stacks are carved out of large mappings ("chunks"). On Linux 6.13 and later
// each guard is installed with madvise(MADV_GUARD_INSTALL), which costs no
// extra memory mapping; elsewhere with mprotect(PROT_NONE), which splits the
// mapping and so counts against vm.max_map_count. When the kernel refuses a
// guard, allocation fails with an error: a stack is never handed out
// unguarded.
//
// A thread keeps a small cache of free stacks per size; releasing past it
// returns the stack's memory to the kernel (MADV_DONTNEED, which keeps the
// guard) and hands the stack to a process-wide free list.
#ifndef EVERGREEN_FIBERS_INTERNAL_STACK_POOL_H_
#define EVERGREEN_FIBERS_INTERNAL_STACK_POOL_H_

#include <cstddef>

#include "absl/status/statusor.h"

namespace evergreen {
namespace fibers_internal {

// A usable stack [base, base + size) with a guard region of `guard_size`
// bytes directly below `base`.
struct Stack {
  char* base = nullptr;
  size_t size = 0;
  size_t guard_size = 0;

  char* top() const { return base + size; }
};

enum class GuardMode {
  kMadviseGuard,  // MADV_GUARD_INSTALL: no extra mapping per stack
  kMprotect,      // PROT_NONE page(s): two mappings per stack
};

// The guard size every stack gets, in bytes (a multiple of the page size).
size_t GuardSize();

// How guards are installed in this process (decided on the first chunk).
GuardMode CurrentGuardMode();

// Returns a stack of at least `size` usable bytes (rounded up to whole
// pages, at least kMinStackSize) with its guard installed. Fails with
// RESOURCE_EXHAUSTED when memory or the mapping limit runs out. Thread-safe.
absl::StatusOr<Stack> AllocateStack(size_t size);

// Returns a stack from AllocateStack to the pool. Thread-safe; the stack may
// be released on any thread.
void ReleaseStack(const Stack& stack);

// True if the `guard_size` bytes below `stack.base` cannot be read (probed
// without faulting: write(2) of it to a pipe fails with EFAULT). For tests and
// benchmarks.
bool StackGuardIsIntact(const Stack& stack);

inline constexpr size_t kMinStackSize = 16 * 1024;

}  // namespace fibers_internal
}  // namespace evergreen

#endif  // EVERGREEN_FIBERS_INTERNAL_STACK_POOL_H_
