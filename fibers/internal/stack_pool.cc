#include "fibers/internal/stack_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/const_init.h"
#include "absl/base/internal/raw_logging.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define EVERGREEN_HAVE_VALGRIND 1
#endif

namespace evergreen {
namespace fibers_internal {
namespace {

constexpr int kMadvGuardInstall = 102;  // MADV_GUARD_INSTALL, Linux 6.13+
constexpr size_t kGuardSize = 64 * 1024;
constexpr size_t kFirstChunkSlots = 8;
constexpr size_t kMaxChunkBytes = size_t{256} << 20;
// Per thread and size: how many free stacks stay resident, and how many move
// between the thread and the process-wide list at once.
constexpr int kThreadCacheLimit = 32;
constexpr int kBatch = 16;
constexpr int kSizeClasses = 4;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

std::string ErrnoName(int err) {
  return absl::StrCat(strerrorname_np(err) ? strerrorname_np(err) : "errno",
                      " (", strerror(err), ")");
}

// True if the byte at `p` can be read. Probed by handing it to write(2) on a
// pipe: the kernel reports EFAULT instead of faulting. (Under qemu-user,
// which may ignore madvise advice it does not know, this sees the host's
// real protection.)
bool IsReadable(const void* p) {
  static std::mutex mu;
  static int fds[2] = {-1, -1};
  std::lock_guard<std::mutex> lock(mu);
  if (fds[0] < 0 && pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return true;
#ifdef EVERGREEN_HAVE_VALGRIND
  // Probing a guard is the point; memcheck would report it.
  VALGRIND_DISABLE_ERROR_REPORTING;
#endif
  ssize_t n = write(fds[1], p, 1);
  int err = errno;
#ifdef EVERGREEN_HAVE_VALGRIND
  VALGRIND_ENABLE_ERROR_REPORTING;
#endif
  if (n == 1) {
    char drain;
    (void)!read(fds[0], &drain, 1);
    return true;
  }
  return err != EFAULT;
}

int ReadMaxMapCount() {
  int fd_value = -1;
  if (FILE* f = fopen("/proc/sys/vm/max_map_count", "r")) {
    if (fscanf(f, "%d", &fd_value) != 1) fd_value = -1;
    fclose(f);
  }
  return fd_value;
}

// The process-wide free lists and the chunk growth policy.
class GlobalPool {
 public:
  // Moves up to `want` free stacks of `size` into `out`, carving a new chunk
  // when there are none.
  absl::Status Take(size_t size, int want, std::vector<Stack>* out) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Stack>& free = free_[size];
    if (free.empty()) {
      absl::Status status = CarveChunk(size, &free);
      if (!status.ok()) return status;
    }
    while (want-- > 0 && !free.empty()) {
      out->push_back(free.back());
      free.pop_back();
    }
    return absl::OkStatus();
  }

  void Give(const Stack& stack) {
    // Give the memory back to the kernel; the guard stays installed
    // (MADV_GUARD_INSTALL guards survive MADV_DONTNEED, PROT_NONE pages are
    // untouched by it).
    madvise(stack.base, stack.size, MADV_DONTNEED);
    std::lock_guard<std::mutex> lock(mu_);
    free_[stack.size].push_back(stack);
  }

  GuardMode mode() {
    std::lock_guard<std::mutex> lock(mu_);
    return mode_;
  }

 private:
  absl::Status CarveChunk(size_t size, std::vector<Stack>* free)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t slot = kGuardSize + size;
    size_t& slots = next_slots_[size];
    if (slots == 0) slots = kFirstChunkSlots;
    size_t count = std::max<size_t>(1, std::min(slots, kMaxChunkBytes / slot));
    slots = std::min(slots * 2, std::max<size_t>(1, kMaxChunkBytes / slot));

    void* mem =
        mmap(nullptr, count * slot, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) {
      int err = errno;
      return absl::ResourceExhaustedError(
          absl::StrCat("fiber stack: mmap of ", count * slot,
                       " bytes failed: ", ErrnoName(err)));
    }
    char* chunk = static_cast<char*>(mem);
    for (size_t i = 0; i < count; ++i) {
      char* guard = chunk + i * slot;
      absl::Status status = InstallGuard(guard);
      if (!status.ok()) {
        // Nothing of this chunk is handed out; unmapping it also drops the
        // mappings the guards already made.
        munmap(chunk, count * slot);
        return status;
      }
    }
    for (size_t i = count; i-- > 0;) {
      Stack stack;
      stack.base = chunk + i * slot + kGuardSize;
      stack.size = size;
      stack.guard_size = kGuardSize;
#ifdef EVERGREEN_HAVE_VALGRIND
      VALGRIND_STACK_REGISTER(stack.base, stack.top());
      // Keeps memcheck's leak scan out of the guard (it would fault on
      // every page of it).
      VALGRIND_MAKE_MEM_NOACCESS(stack.base - kGuardSize, kGuardSize);
#endif
      free->push_back(stack);
    }
    return absl::OkStatus();
  }

  absl::Status InstallGuard(char* guard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (mode_ == GuardMode::kMadviseGuard) {
      if (madvise(guard, kGuardSize, kMadvGuardInstall) == 0) {
        if (madvise_worked_) return absl::OkStatus();
        // The first time, check that the guard is real: an emulator may
        // accept advice it does not implement.
        if (!IsReadable(guard) && !IsReadable(guard + kGuardSize - 1)) {
          madvise_worked_ = true;
          return absl::OkStatus();
        }
        mode_ = GuardMode::kMprotect;
        return InstallGuard(guard);
      }
      int err = errno;
      if (err != EINVAL || madvise_worked_) {
        return absl::ResourceExhaustedError(
            absl::StrCat("fiber stack: madvise(MADV_GUARD_INSTALL) failed: ",
                         ErrnoName(err)));
      }
      // A kernel older than 6.13: mprotect for the rest of the process.
      mode_ = GuardMode::kMprotect;
    }
    if (mprotect(guard, kGuardSize, PROT_NONE) == 0) return absl::OkStatus();
    int err = errno;
    if (err == ENOMEM) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "fiber stack: cannot install the guard page of a new stack: "
          "mprotect: ",
          ErrnoName(err),
          "; the process has probably reached vm.max_map_count (",
          ReadMaxMapCount(),
          " mappings): each guarded stack costs two mappings on kernels "
          "without MADV_GUARD_INSTALL (Linux 6.13+)"));
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "fiber stack: mprotect of the guard page failed: ", ErrnoName(err)));
  }

  // std::mutex, not absl::Mutex: Debian's abseil is not built with TSan's
  // annotations, so TSan could not see absl::Mutex synchronize.
  std::mutex mu_;
  absl::flat_hash_map<size_t, std::vector<Stack>> free_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<size_t, size_t> next_slots_ ABSL_GUARDED_BY(mu_);
  GuardMode mode_ ABSL_GUARDED_BY(mu_) = GuardMode::kMadviseGuard;
  bool madvise_worked_ ABSL_GUARDED_BY(mu_) = false;
};

GlobalPool& Global() {
  static GlobalPool* pool = new GlobalPool();  // never destroyed
  return *pool;
}

// Per-thread cache: fixed arrays, so the fast path is a few loads.
struct SizeClassCache {
  size_t size = 0;
  int count = 0;
  Stack free[kThreadCacheLimit];
};

struct ThreadCache;
ABSL_CONST_INIT thread_local ThreadCache* tls_cache
    __attribute__((tls_model("initial-exec"))) = nullptr;
ABSL_CONST_INIT thread_local bool tls_cache_destroyed
    __attribute__((tls_model("initial-exec"))) = false;

struct ThreadCache {
  SizeClassCache classes[kSizeClasses];

  ~ThreadCache() {
    // Stacks released later in this thread's exit go to the global pool.
    tls_cache = nullptr;
    tls_cache_destroyed = true;
    for (SizeClassCache& c : classes) {
      while (c.count > 0) Global().Give(c.free[--c.count]);
    }
  }
};

// The cache is reached through a pointer in initial-exec TLS (cheap, and
// small enough for a dlopen'ed extension module); the cache itself is a
// thread_local object whose destructor hands the stacks back at thread exit.
ThreadCache* GetThreadCache() {
  ThreadCache* cache = tls_cache;
  if (ABSL_PREDICT_TRUE(cache != nullptr)) return cache;
  if (tls_cache_destroyed) return nullptr;
  // On the heap: a thread_local object would sit in this module's TLS
  // block, all of which is static TLS once anything in it is initial-exec,
  // and a dlopen'ed module (a Python extension) gets little of that.
  static thread_local std::unique_ptr<ThreadCache> owned;
  owned = std::make_unique<ThreadCache>();
  tls_cache = owned.get();
  return tls_cache;
}

SizeClassCache* FindClass(ThreadCache* cache, size_t size) {
  if (cache == nullptr) return nullptr;
  for (SizeClassCache& c : cache->classes) {
    if (c.size == size) return &c;
  }
  for (SizeClassCache& c : cache->classes) {
    if (c.count == 0) {
      c.size = size;
      return &c;
    }
  }
  return nullptr;  // all classes busy with other sizes: go to the global pool
}

}  // namespace

size_t GuardSize() { return kGuardSize; }

GuardMode CurrentGuardMode() { return Global().mode(); }

absl::StatusOr<Stack> AllocateStack(size_t size) {
  size = RoundUp(std::max(size, kMinStackSize), PageSize());
  SizeClassCache* c = FindClass(GetThreadCache(), size);
  if (ABSL_PREDICT_TRUE(c != nullptr && c->count > 0)) {
    return c->free[--c->count];
  }
  std::vector<Stack> batch;
  absl::Status status = Global().Take(size, c != nullptr ? kBatch : 1, &batch);
  if (!status.ok()) return status;
  Stack result = batch.back();
  batch.pop_back();
  for (const Stack& s : batch) {
    if (c != nullptr && c->count < kThreadCacheLimit) {
      c->free[c->count++] = s;
    } else {
      Global().Give(s);
    }
  }
  return result;
}

void ReleaseStack(const Stack& stack) {
  SizeClassCache* c = FindClass(GetThreadCache(), stack.size);
  if (ABSL_PREDICT_TRUE(c != nullptr && c->count < kThreadCacheLimit)) {
    c->free[c->count++] = stack;
    return;
  }
  Global().Give(stack);
}

bool StackGuardIsIntact(const Stack& stack) {
  const size_t page = PageSize();
  char* guard = stack.base - stack.guard_size;
  // Both ends of the guard region (installed in one call, it is all or
  // nothing).
  if (IsReadable(guard) || IsReadable(stack.base - page)) return false;
  // The page just above the guard must be usable.
  return IsReadable(stack.base);
}

}  // namespace fibers_internal
}  // namespace evergreen
