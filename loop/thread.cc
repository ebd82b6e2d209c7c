#include "loop/thread.h"

#include <semaphore.h>

#include <cstdint>
#include <exception>

#include "absl/base/internal/raw_logging.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Mutex::Mutex(Kind kind) {
  int rc = kind == kRecursive ? uv_mutex_init_recursive(&mutex_)
                              : uv_mutex_init(&mutex_);
  ABSL_RAW_CHECK(rc == 0, "uv_mutex_init failed");
}

Mutex::~Mutex() { uv_mutex_destroy(&mutex_); }

void Mutex::Lock() { uv_mutex_lock(&mutex_); }

bool Mutex::TryLock() { return uv_mutex_trylock(&mutex_) == 0; }

void Mutex::Unlock() { uv_mutex_unlock(&mutex_); }

RWLock::RWLock() {
  int rc = uv_rwlock_init(&rwlock_);
  ABSL_RAW_CHECK(rc == 0, "uv_rwlock_init failed");
}

RWLock::~RWLock() { uv_rwlock_destroy(&rwlock_); }

void RWLock::ReadLock() { uv_rwlock_rdlock(&rwlock_); }

bool RWLock::TryReadLock() { return uv_rwlock_tryrdlock(&rwlock_) == 0; }

void RWLock::ReadUnlock() { uv_rwlock_rdunlock(&rwlock_); }

void RWLock::WriteLock() { uv_rwlock_wrlock(&rwlock_); }

bool RWLock::TryWriteLock() { return uv_rwlock_trywrlock(&rwlock_) == 0; }

void RWLock::WriteUnlock() { uv_rwlock_wrunlock(&rwlock_); }

Condition::Condition() {
  int rc = uv_cond_init(&cond_);
  ABSL_RAW_CHECK(rc == 0, "uv_cond_init failed");
}

Condition::~Condition() { uv_cond_destroy(&cond_); }

void Condition::Wait(Mutex& mu) { uv_cond_wait(&cond_, mu.raw()); }

bool Condition::WaitFor(Mutex& mu, std::chrono::nanoseconds timeout) {
  // libuv adds the timeout to the monotonic clock in a uint64_t: bound it so
  // that "practically forever" does not wrap around into the past.
  constexpr int64_t kMaxNs = int64_t{1} << 62;  // about 146 years
  int64_t ns = timeout.count();
  if (ns < 0) ns = 0;
  if (ns > kMaxNs) ns = kMaxNs;
  return uv_cond_timedwait(&cond_, mu.raw(), static_cast<uint64_t>(ns)) == 0;
}

void Condition::Signal() { uv_cond_signal(&cond_); }

void Condition::Broadcast() { uv_cond_broadcast(&cond_); }

absl::StatusOr<std::unique_ptr<Semaphore>> Semaphore::Create(
    unsigned int initial) {
  // Checked here: libuv's fallback semaphore (old glibc) would accept it.
  if (initial > static_cast<unsigned int>(SEM_VALUE_MAX)) {
    return UvStatus(UV_EINVAL, "semaphore init");
  }
  std::unique_ptr<Semaphore> sem(new Semaphore());
  int rc = uv_sem_init(&sem->sem_, initial);
  if (rc != 0) return UvStatus(rc, "semaphore init");
  sem->initialized_ = true;
  return sem;
}

Semaphore::~Semaphore() {
  if (initialized_) uv_sem_destroy(&sem_);
}

void Semaphore::Post() { uv_sem_post(&sem_); }

void Semaphore::Wait() { uv_sem_wait(&sem_); }

bool Semaphore::TryWait() { return uv_sem_trywait(&sem_) == 0; }

absl::StatusOr<std::unique_ptr<Barrier>> Barrier::Create(unsigned int count) {
  if (count == 0) return UvStatus(UV_EINVAL, "barrier init");
  std::unique_ptr<Barrier> barrier(new Barrier());
  int rc = uv_barrier_init(&barrier->barrier_, count);
  if (rc != 0) return UvStatus(rc, "barrier init");
  barrier->initialized_ = true;
  return barrier;
}

Barrier::~Barrier() {
  if (initialized_) uv_barrier_destroy(&barrier_);
}

bool Barrier::Wait() { return uv_barrier_wait(&barrier_) > 0; }

namespace {

// uv_once takes a plain function: the callable travels through a
// thread-local, since uv_once runs it on the calling thread.
struct OnceCall {
  const std::function<void()>* fn;
  std::exception_ptr error;
};

thread_local OnceCall* current_once = nullptr;

void RunCurrentOnce() {
  OnceCall* call = current_once;
  // An exception must not unwind through pthread_once's C frames.
  try {
    if (*call->fn) (*call->fn)();
  } catch (...) {
    call->error = std::current_exception();
  }
}

}  // namespace

void Once::Call(const std::function<void()>& fn) {
  OnceCall call{&fn, nullptr};
  // Saved and restored: `fn` may itself call another Once.
  OnceCall* previous = current_once;
  current_once = &call;
  uv_once(&once_, &RunCurrentOnce);
  current_once = previous;
  if (call.error) std::rethrow_exception(call.error);
}

}  // namespace loop
}  // namespace evergreen
